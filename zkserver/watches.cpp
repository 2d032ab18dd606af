#include "zkserver/watches.h"

namespace synod::zkserver {

using lockservice::ZnodeEventType;

void WatchTable::add(WatchKind kind, const std::string& path, uint64_t connection) {
  std::lock_guard lock(mutex_);
  Key key{kind, path};
  if (watchers_[key].insert(connection).second) {
    by_connection_[connection].insert(std::move(key));
    ++count_;
  }
}

void WatchTable::fire_kind(WatchKind kind, const lockservice::ZnodeEvent& event, std::set<uint64_t>& fired,
                           std::vector<Firing>& out) {
  auto it = watchers_.find(Key{kind, event.path});
  if (it == watchers_.end()) return;
  for (uint64_t connection : it->second) {
    auto& mine = by_connection_[connection];
    mine.erase(it->first);
    if (mine.empty()) by_connection_.erase(connection);
    --count_;
    if (fired.insert(connection).second) out.push_back(Firing{connection, event});
  }
  watchers_.erase(it);
}

std::vector<Firing> WatchTable::fire(const lockservice::ZnodeEvents& events) {
  std::vector<Firing> out;
  std::lock_guard lock(mutex_);
  if (count_ == 0) return out;
  for (const auto& event : events) {
    std::set<uint64_t> fired;
    switch (event.type) {
      case ZnodeEventType::node_created:
      case ZnodeEventType::node_data_changed:
        fire_kind(WatchKind::data, event, fired, out);
        fire_kind(WatchKind::exist, event, fired, out);
        break;
      case ZnodeEventType::node_deleted:
        fire_kind(WatchKind::data, event, fired, out);
        fire_kind(WatchKind::exist, event, fired, out);
        fire_kind(WatchKind::child, event, fired, out);
        break;
      case ZnodeEventType::node_children_changed:
        fire_kind(WatchKind::child, event, fired, out);
        break;
    }
  }
  return out;
}

void WatchTable::forget(uint64_t connection) {
  std::lock_guard lock(mutex_);
  auto it = by_connection_.find(connection);
  if (it == by_connection_.end()) return;
  for (const auto& key : it->second) {
    auto watcher = watchers_.find(key);
    if (watcher == watchers_.end()) continue;
    watcher->second.erase(connection);
    if (watcher->second.empty()) watchers_.erase(watcher);
    --count_;
  }
  by_connection_.erase(it);
}

size_t WatchTable::count() const {
  std::lock_guard lock(mutex_);
  return count_;
}

}  // namespace synod::zkserver
