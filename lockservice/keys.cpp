// The key space (ZooKeeper-style names, etcd-style flat storage), multi-op
// transactions, and the key and event queries.
//
// Names are hierarchical ("/app/config/db") but parents need not exist: a
// prefix listing, watch or recursive delete is what the hierarchy is for,
// and no create has to wait for, or keep alive, a parent node.
#include <algorithm>
#include <cstdio>

#include "lockservice/machine.h"
#include "base/assert.h"

namespace synod::lockservice::detail {
namespace {

bool name_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '-': case '.': case '_': case '~': case ':': case '@': case '+': case '=': case ',': return true;
    default: return false;
  }
}

bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

// The suffix of a sequential key: the put's revision, zero-padded to the 20
// digits of the largest uint64, so byte order is numeric order. Revisions
// rise along the log, so suffixes rise per parent without a counter to keep
// (and it survives the parent's children all being deleted).
std::string sequence_suffix(Revision revision) {
  char digits[24];
  std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(revision));
  return digits;
}

}  // namespace

// ---- names ----
Status Machine::check_key(std::string_view key, std::string& message) const {
  if (key.size() > limits().key_bytes_max) {
    message = "the key is longer than " + std::to_string(limits().key_bytes_max) + " bytes";
    return Status::too_large;
  }
  if (key.size() < 2 || key.front() != '/' || key.back() == '/') {
    message = "a key is '/' then segments separated by '/', without a trailing '/'";
    return Status::invalid_argument;
  }
  size_t start = 1;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string_view::npos) end = key.size();
    const std::string_view segment = key.substr(start, end - start);
    if (segment.empty() || segment == "." || segment == "..") {
      message = "a key segment is empty, '.' or '..'";
      return Status::invalid_argument;
    }
    if (!std::all_of(segment.begin(), segment.end(), name_char)) {
      message = "a key may hold only letters, digits and - . _ ~ : @ + = ,";
      return Status::invalid_argument;
    }
    start = end + 1;
  }
  return Status::ok;
}

Status Machine::check_name(std::string_view name, std::string& message) const {
  if (name.size() > limits().name_bytes_max) {
    message = "the name is longer than " + std::to_string(limits().name_bytes_max) + " bytes";
    return Status::too_large;
  }
  if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) { return c == '/' || name_char(c); })) {
    message = "a name is letters, digits and - . _ ~ : @ + = , /";
    return Status::invalid_argument;
  }
  return Status::ok;
}

// ---- fences and guards ----
Status Machine::check_fence(const Fence& fence, const KeyRecord* record, std::string& message) const {
  if (fence.lock.empty()) return Status::ok;
  if (!validate_token(fence.lock, fence.token)) {
    message = "the fencing token is not a current grant of " + fence.lock;
    return Status::stale_token;
  }
  if (record != nullptr && fence.token < record->stat.lock_generation) {
    message = "the fencing token is older than the key's lock generation";
    return Status::stale_token;
  }
  return Status::ok;
}

bool Machine::guard_holds(const Guard& guard) const {
  auto key = keys_.find(guard.name);
  const bool exists = key != keys_.end();
  switch (guard.kind) {
    case GuardKind::version_equals: return exists && key->second.stat.version == guard.number;
    case GuardKind::modify_index_equals:
      return guard.number == 0 ? !exists : exists && key->second.stat.modify_index == guard.number;
    case GuardKind::exists: return exists;
    case GuardKind::missing: return !exists;
    case GuardKind::holder: {
      auto lock = locks_.find(guard.name);
      if (lock == locks_.end()) return false;
      const auto& holders = lock->second.holders;
      return std::any_of(holders.begin(), holders.end(), [&](const Holder& h) { return h.session == guard.session; });
    }
    case GuardKind::session_alive: return find_session(guard.session) != nullptr;
    case GuardKind::token_current: return validate_token(guard.name, guard.number);
  }
  return false;
}

// ---- writes ----
void Machine::set_key(const std::string& name, std::optional<KeyRecord> record) {
  auto it = keys_.lower_bound(name);  // one descent serves the lookup and the insert
  const bool exists = it != keys_.end() && it->first == name;
  if (undo_ != nullptr) undo_->emplace_back(name, exists ? std::optional(it->second) : std::nullopt);
  if (exists) {
    store_bytes_ -= name.size() + it->second.value.size();
    if (it->second.stat.owner != kNoSession) sessions_.at(it->second.stat.owner).keys.erase(name);
    if (!record) keys_.erase(it);
  }
  if (!record) return;
  store_bytes_ += name.size() + record->value.size();
  if (record->stat.owner != kNoSession) sessions_.at(record->stat.owner).keys.insert(name);
  if (exists) {
    it->second = std::move(*record);
  } else {
    keys_.emplace_hint(it, name, std::move(*record));
  }
}

Result Machine::put(const Put& c) {
  if (c.value.size() > limits().value_bytes_max) return fail(Status::too_large, "the value is too large");
  if (c.sequential && c.cas) return fail(Status::invalid_argument, "a sequential put always creates");
  const std::string name = c.sequential ? c.key + sequence_suffix(revision_) : c.key;
  std::string message;
  if (const Status status = check_key(name, message); status != Status::ok) return fail(status, message);
  Session* owner = nullptr;
  if (c.session != kNoSession && (owner = find_session(c.session)) == nullptr)
    return fail(Status::session_expired, "no such session (expired or deleted)");
  auto it = keys_.find(name);
  const KeyRecord* existing = it == keys_.end() ? nullptr : &it->second;
  if (c.sequential && existing != nullptr)
    return fail(Status::conflict, "one sequential put per parent per command");
  if (c.cas && (*c.cas == 0 ? existing != nullptr : existing == nullptr || existing->stat.modify_index != *c.cas)) {
    Result result = fail(Status::guard_failed, *c.cas == 0 ? "the key exists" : "the modify index differs");
    if (existing != nullptr) result.stat = existing->stat;
    return result;
  }
  if (const Status status = check_fence(c.fence, existing, message); status != Status::ok) return fail(status, message);
  if (existing != nullptr && c.session != kNoSession && existing->stat.owner != c.session)
    return fail(Status::conflict, "the key exists and is not this session's ephemeral key");
  if (existing == nullptr && keys_.size() >= limits().keys_max) return fail(Status::limit_exceeded, "too many keys");
  if (existing == nullptr && owner != nullptr && owner->keys.size() >= limits().ephemeral_keys_per_session_max)
    return fail(Status::limit_exceeded, "the session owns too many ephemeral keys");
  const size_t old_bytes = existing == nullptr ? 0 : name.size() + existing->value.size();
  if (store_bytes_ - old_bytes + name.size() + c.value.size() > limits().store_bytes_max)
    return fail(Status::limit_exceeded, "the key space is full");

  KeyRecord record = existing != nullptr ? *existing : KeyRecord{};
  if (existing == nullptr) {
    record.stat.create_index = revision_;
    record.stat.owner = c.session;
  }
  record.value = c.value;
  record.stat.modify_index = revision_;
  ++record.stat.version;
  if (!c.fence.lock.empty()) record.stat.lock_generation = std::max(record.stat.lock_generation, c.fence.token);
  Result result;
  result.key = name;
  result.stat = record.stat;
  set_key(name, std::move(record));
  emit(EventType::put, Space::key, name, c.value, result.stat.owner, result.stat.lock_generation);
  return result;
}

Result Machine::delete_key(const DeleteKey& c) {
  std::string message;
  if (const Status status = check_key(c.key, message); status != Status::ok) return fail(status, message);
  auto it = keys_.find(c.key);
  const KeyRecord* existing = it == keys_.end() ? nullptr : &it->second;
  if (c.cas && (*c.cas == 0 ? existing != nullptr : existing == nullptr || existing->stat.modify_index != *c.cas)) {
    Result result = fail(Status::guard_failed, "the modify index differs");
    if (existing != nullptr) result.stat = existing->stat;
    return result;
  }
  std::vector<std::string> doomed;
  if (existing != nullptr) doomed.push_back(c.key);
  if (c.prefix) {
    const std::string under = c.key + "/";
    for (auto child = keys_.lower_bound(under); child != keys_.end() && starts_with(child->first, under); ++child) {
      if (doomed.size() >= limits().delete_prefix_keys_max)
        return fail(Status::limit_exceeded, "a recursive delete may remove at most " +
                                                std::to_string(limits().delete_prefix_keys_max) + " keys");
      doomed.push_back(child->first);
    }
  }
  if (doomed.empty() && !c.prefix) return fail(Status::not_found, "no such key");
  for (const std::string& name : doomed) {
    if (const Status status = check_fence(c.fence, &keys_.at(name), message); status != Status::ok)
      return fail(status, message);
  }
  Result result;
  result.key = c.key;
  if (existing != nullptr) result.stat = existing->stat;
  for (const std::string& name : doomed) {
    const SessionId owner = keys_.at(name).stat.owner;
    set_key(name, std::nullopt);
    emit(EventType::deleted, Space::key, name, {}, owner, 0);
  }
  result.count = doomed.size();
  return result;
}

Result Machine::txn(const Txn& c) {
  if (c.guards.size() > limits().txn_guards_max || c.ops.size() > limits().txn_ops_max)
    return fail(Status::too_large, "too many guards or operations in one transaction");
  for (size_t i = 0; i < c.guards.size(); ++i) {
    if (guard_holds(c.guards[i])) continue;
    Result result = fail(Status::guard_failed, "guard " + std::to_string(i + 1) + " does not hold");
    result.failed_guard = i + 1;
    return result;
  }
  SYNOD_ASSERT(undo_ == nullptr);
  std::vector<std::pair<std::string, std::optional<KeyRecord>>> undo;
  undo_ = &undo;
  const size_t events_mark = events_.size();
  const size_t event_bytes_mark = event_bytes_;
  Result result;
  for (const TxnOp& op : c.ops) {
    Result one = std::holds_alternative<Put>(op) ? put(std::get<Put>(op)) : delete_key(std::get<DeleteKey>(op));
    result.ops.push_back(TxnOpResult{one.status, one.key, one.stat, one.count});
    if (one.status == Status::ok) continue;
    // All or nothing: put back every key this transaction touched.
    undo_ = nullptr;
    for (auto entry = undo.rbegin(); entry != undo.rend(); ++entry) set_key(entry->first, std::move(entry->second));
    events_.resize(events_mark);
    event_bytes_ = event_bytes_mark;
    result.status = one.status;
    result.message = "operation " + std::to_string(result.ops.size()) + ": " + one.message;
    return result;
  }
  undo_ = nullptr;
  return result;
}

void Machine::end_session_keys(SessionId id, Session& session, Departure cause) {
  const std::vector<std::string> owned(session.keys.begin(), session.keys.end());
  for (const std::string& name : owned) {
    KeyRecord record = keys_.at(name);
    if (session.behavior == Behavior::delete_keys) {
      set_key(name, std::nullopt);
      emit(cause == Departure::expired ? EventType::expired : EventType::deleted, Space::key, name, {}, id, 0);
    } else {
      // The key stays, persistent now; its modify index moves so that a
      // compare-and-set sees the change of ownership.
      record.stat.owner = kNoSession;
      record.stat.modify_index = revision_;
      const std::string value = record.value;
      set_key(name, std::move(record));
      emit(EventType::released, Space::key, name, value, id, 0);
    }
  }
  SYNOD_ASSERT(session.keys.empty());
}

// ---- queries ----
std::optional<KeyView> Machine::key_view(std::string_view key) const {
  auto it = keys_.find(key);
  if (it == keys_.end()) return std::nullopt;
  return KeyView{it->first, it->second.value, it->second.stat};
}

// Two ranges in byte order: the key `prefix` itself, then everything under
// prefix + "/" (names such as "/app-x" or "/apple" sort around the latter and
// are never looked at).
KeyList Machine::key_list(std::string_view prefix, std::string_view after, size_t limit) const {
  KeyList list;
  limit = std::min(limit, limits().list_results_max);
  auto add = [&](const auto& it) {
    if (list.keys.size() >= limit) {
      list.more = true;
      return false;
    }
    list.keys.push_back(KeyView{it->first, it->second.value, it->second.stat});
    return true;
  };
  const bool whole_name = !prefix.empty() && prefix.back() != '/';
  if (whole_name && (after.empty() || after < prefix)) {
    auto self = keys_.find(prefix);
    if (self != keys_.end() && !add(self)) return list;
  }
  const std::string under = whole_name ? std::string(prefix) + '/' : std::string(prefix);
  auto it = keys_.lower_bound(under);
  if (!after.empty() && after >= under) it = keys_.upper_bound(after);
  for (; it != keys_.end() && starts_with(it->first, under); ++it) {
    if (!add(it)) break;
  }
  return list;
}

Events Machine::events_since(Revision after, const EventFilter& filter, size_t limit) const {
  Events out;
  if (after < compacted_revision_) {
    out.status = Status::compacted;
    out.compacted_revision = compacted_revision_;
    out.next_index = revision_;
    return out;
  }
  limit = std::clamp<size_t>(limit, 1, limits().events_max);
  auto it = std::partition_point(events_.begin(), events_.end(), [after](const Event& e) { return e.revision <= after; });
  Revision current = kNoRevision;
  for (; it != events_.end(); ++it) {
    if (it->revision != current) {
      if (out.events.size() >= limit) {
        out.next_index = current;  // every event of `current` was looked at
        return out;
      }
      current = it->revision;
    }
    if (filter.space && *filter.space != it->space) continue;
    if (!within_prefix(it->name, filter.prefix)) continue;
    out.events.push_back(*it);
  }
  out.next_index = std::max(after, revision_);
  return out;
}

}  // namespace synod::lockservice::detail

namespace synod::lockservice {

bool within_prefix(std::string_view name, std::string_view prefix) {
  if (prefix.empty()) return true;
  if (name.substr(0, prefix.size()) != prefix) return false;
  return name.size() == prefix.size() || prefix.back() == '/' || name[prefix.size()] == '/';
}

}  // namespace synod::lockservice
