#include "lockservice/exactly_once.h"

#include "base/assert.h"
#include "lockservice/snapshot_io.h"

namespace synod::lockservice::detail {

const Result* ExactlyOnce::find(const DedupKey& key) const {
  const Entry* entry = table_.find(key);
  return entry == nullptr ? nullptr : &entry->result;
}

void ExactlyOnce::record(const DedupKey& key, const Result& result, SessionId owner, int64_t now_ms) {
  insert(key, result, owner);
  if (owner == kNoSession) return release(key, now_ms);
  std::deque<DedupKey>& mine = owned_[owner];
  mine.push_back(key);
  if (mine.size() > limits_.records_per_session_max) {
    const DedupKey oldest = mine.front();
    mine.pop_front();
    table_.at(oldest).owner = kNoSession;
    release(oldest, now_ms);
  }
}

void ExactlyOnce::update(const DedupKey& key, const Result& result) {
  if (Entry* entry = table_.find(key)) entry->result = result;
}

void ExactlyOnce::session_ended(SessionId owner, int64_t now_ms) {
  auto it = owned_.find(owner);
  if (it == owned_.end()) return;
  const std::deque<DedupKey> keys = std::move(it->second);
  owned_.erase(it);
  for (const DedupKey& key : keys) {
    table_.at(key).owner = kNoSession;
    release(key, now_ms);
  }
}

void ExactlyOnce::expire(int64_t now_ms) {
  while (!keyed_.empty() && keyed_.front().first <= now_ms) {
    erase(keyed_.front().second);
    keyed_.pop_front();
  }
}

void ExactlyOnce::release(const DedupKey& key, int64_t now_ms) {
  if (key.client_id & kKeyedClientBit) {
    keyed_.emplace_back(now_ms + limits_.idempotency_retention_ms, key);
    if (keyed_.size() > limits_.idempotency_entries_max) {
      erase(keyed_.front().second);
      keyed_.pop_front();
    }
  } else {
    anonymous_.push_back(key);
    if (anonymous_.size() > limits_.dedup_entries_max) {
      erase(anonymous_.front());
      anonymous_.pop_front();
    }
  }
}

void ExactlyOnce::insert(const DedupKey& key, Result result, SessionId owner) {
  SYNOD_ASSERT(key.client_id != 0);
  const bool inserted = table_.emplace(key, Entry{std::move(result), owner});
  SYNOD_ASSERT_MSG(inserted, "a (client id, seq) is recorded once");
}

void ExactlyOnce::erase(const DedupKey& key) {
  const size_t erased = table_.erase(key);
  SYNOD_ASSERT(erased == 1);
}

// ---- snapshots: owned (by session, ascending), keyed (with expiry), anonymous

void ExactlyOnce::write(Writer& w) const {
  auto put_key = [&](const DedupKey& key) {
    w.varint(key.client_id);
    w.varint(key.seq);
    put_result(w, table_.at(key).result);
  };
  w.varint(owned_.size());
  for (const auto& [owner, keys] : owned_) {
    w.varint(owner);
    w.varint(keys.size());
    for (const DedupKey& key : keys) put_key(key);
  }
  w.varint(keyed_.size());
  for (const auto& [expires_ms, key] : keyed_) {
    w.svarint(expires_ms);
    put_key(key);
  }
  w.varint(anonymous_.size());
  for (const DedupKey& key : anonymous_) put_key(key);
}

namespace {

DedupKey get_key(SnapshotInput& in) {
  DedupKey key{in.r.varint(), in.r.varint()};
  in.check(key.client_id != 0);
  return key;
}

}  // namespace

void ExactlyOnce::read(SnapshotInput& in, const std::function<bool(SessionId)>& live, int64_t now_ms) {
  const Limits& limits = limits_;
  auto add = [&](const DedupKey& key, SessionId owner) {
    Result result = get_result(in, limits);
    if (!in.r.ok()) return false;
    in.check(table_.emplace(key, Entry{std::move(result), owner}));
    return in.r.ok();
  };
  const size_t sessions = in.count(limits.sessions_max);
  SessionId previous = kNoSession;
  for (size_t i = 0; i < sessions && in.r.ok(); ++i) {
    const SessionId owner = in.r.varint();
    in.check(owner > previous && live(owner));
    previous = owner;
    const size_t count = in.count(limits.records_per_session_max);
    in.check(count > 0);
    std::deque<DedupKey>& mine = owned_[owner];
    for (size_t j = 0; j < count && in.r.ok(); ++j) {
      const DedupKey key = get_key(in);
      if (add(key, owner)) mine.push_back(key);
    }
  }
  const size_t keyed = in.count(limits.idempotency_entries_max);
  int64_t expires_previous = 0;
  for (size_t i = 0; i < keyed && in.r.ok(); ++i) {
    const int64_t expires_ms = in.r.svarint();
    const DedupKey key = get_key(in);
    in.check((key.client_id & kKeyedClientBit) && expires_ms > now_ms && expires_ms >= expires_previous &&
             expires_ms <= now_ms + limits.idempotency_retention_ms);
    expires_previous = expires_ms;
    if (add(key, kNoSession)) keyed_.emplace_back(expires_ms, key);
  }
  const size_t anonymous = in.count(limits.dedup_entries_max);
  for (size_t i = 0; i < anonymous && in.r.ok(); ++i) {
    const DedupKey key = get_key(in);
    in.check(!(key.client_id & kKeyedClientBit));
    if (add(key, kNoSession)) anonymous_.push_back(key);
  }
}

void ExactlyOnce::read_v1(SnapshotInput& in, int64_t now_ms) {
  const size_t count = in.count(limits_.dedup_entries_max);
  for (size_t i = 0; i < count && in.r.ok(); ++i) {
    const DedupKey key = get_key(in);
    Result result = get_result(in, limits_);
    if (!in.r.ok()) return;
    in.check(table_.emplace(key, Entry{std::move(result), kNoSession}));
    if (in.r.ok()) release(key, now_ms);
  }
}

}  // namespace synod::lockservice::detail
