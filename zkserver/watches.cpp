#include "zkserver/watches.h"

namespace synod::zkserver {

using lockservice::ZnodeEventType;

namespace {

bool one_shot(WatchKind kind) {
  return kind == WatchKind::data || kind == WatchKind::exist || kind == WatchKind::child;
}

// The kinds a removeWatches or checkWatches of `type` names.
std::vector<WatchKind> kinds_of(WatcherType type) {
  switch (type) {
    case WatcherType::children:
      return {WatchKind::child, WatchKind::persistent_child};
    case WatcherType::data:
      return {WatchKind::data, WatchKind::exist, WatchKind::persistent, WatchKind::persistent_recursive};
    case WatcherType::any:
      return {WatchKind::data,
              WatchKind::exist,
              WatchKind::child,
              WatchKind::persistent,
              WatchKind::persistent_child,
              WatchKind::persistent_recursive};
  }
  return {};
}

std::string parent_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

void WatchTable::add(WatchKind kind, const std::string& path, uint64_t connection) {
  std::lock_guard lock(mutex_);
  Key key{kind, path};
  if (watchers_[key].insert(connection).second) {
    by_connection_[connection].insert(std::move(key));
    ++count_;
    if (kind == WatchKind::persistent_recursive) ++recursive_;
  }
}

void WatchTable::erase(const Key& key, uint64_t connection) {
  auto watcher = watchers_.find(key);
  if (watcher == watchers_.end() || watcher->second.erase(connection) == 0) return;
  if (watcher->second.empty()) watchers_.erase(watcher);
  auto mine = by_connection_.find(connection);
  if (mine != by_connection_.end()) {
    mine->second.erase(key);
    if (mine->second.empty()) by_connection_.erase(mine);
  }
  --count_;
  if (key.first == WatchKind::persistent_recursive) --recursive_;
}

void WatchTable::fire_kind(WatchKind kind, const std::string& path, const lockservice::ZnodeEvent& event,
                           std::set<uint64_t>& fired, std::vector<Firing>& out) {
  auto it = watchers_.find(Key{kind, path});
  if (it == watchers_.end()) return;
  const std::set<uint64_t> connections = it->second;
  for (uint64_t connection : connections) {
    if (one_shot(kind)) erase(Key{kind, path}, connection);
    if (fired.insert(connection).second) out.push_back(Firing{connection, event});
  }
}

std::vector<Firing> WatchTable::fire(const lockservice::ZnodeEvents& events) {
  std::vector<Firing> out;
  std::lock_guard lock(mutex_);
  if (count_ == 0) return out;
  for (const auto& event : events) {
    std::set<uint64_t> fired;
    const std::string& path = event.path;
    const bool data_table = event.type != ZnodeEventType::node_children_changed;
    const bool child_table = event.type == ZnodeEventType::node_children_changed ||
                             event.type == ZnodeEventType::node_deleted;
    if (data_table) {
      fire_kind(WatchKind::data, path, event, fired, out);
      fire_kind(WatchKind::exist, path, event, fired, out);
      fire_kind(WatchKind::persistent, path, event, fired, out);
    }
    if (child_table) {
      fire_kind(WatchKind::child, path, event, fired, out);
      fire_kind(WatchKind::persistent_child, path, event, fired, out);
    }
    if (recursive_ == 0 || !data_table) continue;
    for (std::string at = path;; at = parent_of(at)) {
      fire_kind(WatchKind::persistent_recursive, at, event, fired, out);
      if (at == "/") break;
    }
  }
  return out;
}

bool WatchTable::remove(WatcherType type, const std::string& path, uint64_t connection) {
  std::lock_guard lock(mutex_);
  const size_t before = count_;
  for (WatchKind kind : kinds_of(type)) erase(Key{kind, path}, connection);
  return count_ < before;
}

bool WatchTable::holds(WatcherType type, const std::string& path, uint64_t connection) const {
  std::lock_guard lock(mutex_);
  for (WatchKind kind : kinds_of(type)) {
    auto it = watchers_.find(Key{kind, path});
    if (it != watchers_.end() && it->second.count(connection) != 0) return true;
  }
  return false;
}

void WatchTable::forget(uint64_t connection) {
  std::lock_guard lock(mutex_);
  auto it = by_connection_.find(connection);
  if (it == by_connection_.end()) return;
  const std::set<Key> keys = it->second;
  for (const auto& key : keys) erase(key, connection);
}

bool WatchTable::holds_any(uint64_t connection) const {
  std::lock_guard lock(mutex_);
  return by_connection_.count(connection) != 0;
}

size_t WatchTable::count() const {
  std::lock_guard lock(mutex_);
  return count_;
}

}  // namespace synod::zkserver
