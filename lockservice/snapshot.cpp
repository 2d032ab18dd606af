// Snapshot and restore.
//
// SNAPSHOT FORMAT (version 1), built on base/codec.h; every section in a
// fixed order and every collection in its key order, so that two replicas
// that applied the same entries write the same bytes:
//   8 bytes  magic "SYNODLS\0"     u8 format version
//   revision, log time
//   sessions    ascending id:   id, ttl, lock-delay, behavior, created, renewed, losses
//   locks       ascending name: kind, limit, holders, waiters (FIFO), lock-delay end,
//                               newest released token, deferred grant, value, changed, announced
//   elections   as locks
//   keys        ascending name: value, create and modify index, version, lock generation, owner
//   events      compacted revision, then the window, oldest first
//   exactly-once table, oldest first (its eviction order)
// Only primary state is written. The indexes (session deadlines, each
// session's locks and keys, timers, byte counts) are rebuilt on restore,
// which also checks every invariant of machine.h: a snapshot that decodes but
// breaks one is refused like a malformed one, so a restored machine never
// trips an assertion later. The storage layer adds the checksum.
#include <algorithm>

#include "lockservice/machine.h"
#include "base/assert.h"
#include "base/codec.h"

namespace synod::lockservice::detail {
namespace {

constexpr std::string_view kMagic{"SYNODLS\0", 8};
constexpr uint8_t kSnapshotFormatVersion = 1;

void put_stat(Writer& w, const KeyStat& stat) {
  w.varint(stat.create_index);
  w.varint(stat.modify_index);
  w.varint(stat.version);
  w.varint(stat.lock_generation);
  w.varint(stat.owner);
}

void put_result(Writer& w, const Result& r) {
  w.u8(static_cast<uint8_t>(r.status));
  w.varint(r.revision);
  w.varint(r.session);
  w.varint(r.token);
  w.svarint(r.valid_for_ms);
  w.varint(r.position);
  w.svarint(r.until_ms);
  w.varint(r.count);
  w.bytes(r.key);
  put_stat(w, r.stat);
  w.varint(r.failed_guard);
  w.varint(r.ops.size());
  for (const TxnOpResult& op : r.ops) {
    w.u8(static_cast<uint8_t>(op.status));
    w.bytes(op.key);
    put_stat(w, op.stat);
    w.varint(op.deleted);
  }
  w.bytes(r.message);
}

void put_lock(Writer& w, const Lock& lock) {
  w.u8(static_cast<uint8_t>(lock.kind));
  w.varint(lock.limit);
  w.varint(lock.holders.size());
  for (const Holder& h : lock.holders) {
    w.varint(h.session);
    w.varint(h.token);
    w.u8(static_cast<uint8_t>(h.access));
    w.svarint(h.granted_log_ms);
  }
  w.varint(lock.waiters.size());
  for (const Waiter& waiter : lock.waiters) {
    w.varint(waiter.session);
    w.u8(static_cast<uint8_t>(waiter.access));
    w.varint(waiter.enqueued);
    w.svarint(waiter.deadline_log_ms);
    w.varint(waiter.client_id);
    w.varint(waiter.seq);
    w.bytes(waiter.value);
  }
  w.svarint(lock.delay_until_log_ms);
  w.varint(lock.released_token_max);
  w.boolean(lock.regrant_pending);
  w.bytes(lock.value);
  w.varint(lock.changed);
  w.varint(lock.announced);
}

}  // namespace

// Reading: a Reader plus the checks of meaning. Every get leaves the reader
// failed on bad input; the caller checks ok() where it matters.
class SnapshotInput {
 public:
  explicit SnapshotInput(std::string_view bytes) : r(bytes) {}
  Reader r;

  template <typename Enum>
  Enum get_enum(uint8_t max) {
    const uint8_t raw = r.u8();
    if (raw > max) r.fail();
    return static_cast<Enum>(raw > max ? 0 : raw);
  }
  // A count of elements of at least one byte each, and at most `max`.
  size_t count(size_t max) {
    const uint64_t n = r.varint();
    if (n > r.remaining() || n > max) {
      r.fail();
      return 0;
    }
    return static_cast<size_t>(n);
  }
  std::string string(size_t max) {
    const std::string_view bytes = r.bytes();
    if (bytes.size() > max) r.fail();
    return r.ok() ? std::string(bytes) : std::string();
  }
  KeyStat stat() {
    KeyStat stat;
    stat.create_index = r.varint();
    stat.modify_index = r.varint();
    stat.version = r.varint();
    stat.lock_generation = r.varint();
    stat.owner = r.varint();
    return stat;
  }
  void check(bool condition) {
    if (!condition) r.fail();
  }
};

static Result get_result(SnapshotInput& in, const Limits& limits) {
  Result r;
  r.status = in.get_enum<Status>(kStatusMax);
  r.revision = in.r.varint();
  r.session = in.r.varint();
  r.token = in.r.varint();
  r.valid_for_ms = in.r.svarint();
  r.position = in.r.varint();
  r.until_ms = in.r.svarint();
  r.count = in.r.varint();
  r.key = in.string(limits.key_bytes_max + 32);
  r.stat = in.stat();
  r.failed_guard = in.r.varint();
  const size_t ops = in.count(limits.txn_ops_max);
  for (size_t i = 0; i < ops && in.r.ok(); ++i) {
    TxnOpResult op;
    op.status = in.get_enum<Status>(kStatusMax);
    op.key = in.string(limits.key_bytes_max + 32);
    op.stat = in.stat();
    op.deleted = in.r.varint();
    r.ops.push_back(std::move(op));
  }
  r.message = in.string(4096);
  return r;
}

std::string Machine::snapshot() const {
  std::string out;
  Writer w(out);
  out.append(kMagic);
  w.u8(kSnapshotFormatVersion);
  w.varint(revision_);
  w.svarint(log_time_ms_);

  w.varint(sessions_.size());
  for (const auto& [id, s] : sessions_) {
    w.varint(id);
    w.svarint(s.ttl_ms);
    w.svarint(s.lock_delay_ms);
    w.u8(static_cast<uint8_t>(s.behavior));
    w.svarint(s.created_log_ms);
    w.svarint(s.renewed_log_ms);
    w.varint(s.losses.size());
    for (const LockLoss& loss : s.losses) {
      w.u8(static_cast<uint8_t>(loss.space));
      w.bytes(loss.name);
      w.varint(loss.token);
      w.varint(loss.revision);
      w.bytes(loss.reason);
    }
  }
  for (const LockTable* t : {&locks_, &elections_}) {
    w.varint(t->size());
    for (const auto& [name, lock] : *t) {
      w.bytes(name);
      put_lock(w, lock);
    }
  }
  w.varint(keys_.size());
  for (const auto& [name, record] : keys_) {
    w.bytes(name);
    w.bytes(record.value);
    put_stat(w, record.stat);
  }
  w.varint(compacted_revision_);
  w.varint(events_.size());
  for (const Event& e : events_) {
    w.varint(e.revision);
    w.u8(static_cast<uint8_t>(e.type));
    w.u8(static_cast<uint8_t>(e.space));
    w.bytes(e.name);
    w.bytes(e.value);
    w.varint(e.session);
    w.varint(e.token);
  }
  w.varint(dedup_order_.size());
  for (const DedupKey& key : dedup_order_) {
    w.varint(key.client_id);
    w.varint(key.seq);
    put_result(w, dedup_.at(key));
  }
  return out;
}

// Reads one snapshot into a fresh machine, section by section, rebuilding
// the indexes and checking the invariants as it goes. Every method leaves
// the Input failed on the first problem.
class SnapshotReader {
 public:
  SnapshotReader(Machine& m, std::string_view bytes) : m_(m), limits_(m.config_.limits), in_(bytes) {}

  bool read() {
    if (in_.r.u8() != kSnapshotFormatVersion) return false;
    m_.revision_ = in_.r.varint();
    m_.log_time_ms_ = in_.r.svarint();
    in_.check(m_.log_time_ms_ >= 0 && m_.log_time_ms_ <= kLogTimeMsMax);
    sessions();
    size_t locks = 0;
    for (const Space space : {Space::lock, Space::election}) locks += lock_table(space);
    in_.check(locks <= limits_.locks_max);
    keys();
    for (const auto& [id, s] : m_.sessions_) in_.check(s.locks.size() <= limits_.locks_per_session_max);
    events();
    dedup();
    return in_.r.done();
  }

 private:
  void sessions() {
    const size_t count = in_.count(limits_.sessions_max);
    SessionId previous = 0;
    for (size_t i = 0; i < count && in_.r.ok(); ++i) {
      const SessionId id = in_.r.varint();
      Session s;
      s.ttl_ms = in_.r.svarint();
      s.lock_delay_ms = in_.r.svarint();
      s.behavior = in_.get_enum<Behavior>(kBehaviorMax);
      s.created_log_ms = in_.r.svarint();
      s.renewed_log_ms = in_.r.svarint();
      in_.check(id > previous && id <= m_.revision_);
      in_.check(s.ttl_ms >= kTtlMsMin && s.ttl_ms <= kTtlMsMax);
      in_.check(s.lock_delay_ms >= 0 && s.lock_delay_ms <= kLockDelayMsMax);
      in_.check(s.created_log_ms >= 0 && s.created_log_ms <= s.renewed_log_ms && s.renewed_log_ms <= m_.log_time_ms_);
      const size_t losses = in_.count(limits_.losses_per_session_max);
      for (size_t j = 0; j < losses && in_.r.ok(); ++j) {
        LockLoss loss;
        loss.space = in_.get_enum<Space>(kSpaceMax);
        loss.name = in_.string(limits_.name_bytes_max);
        loss.token = in_.r.varint();
        loss.revision = in_.r.varint();
        loss.reason = in_.string(limits_.reason_bytes_max);
        s.losses.push_back(std::move(loss));
      }
      if (!in_.r.ok()) return;
      previous = id;
      m_.deadlines_.emplace(s.deadline_log_ms(), id);
      m_.sessions_.emplace_hint(m_.sessions_.end(), id, std::move(s));
    }
  }

  size_t lock_table(Space space) {
    const size_t count = in_.count(limits_.locks_max);
    std::string previous;
    for (size_t i = 0; i < count && in_.r.ok(); ++i) {
      std::string name = in_.string(limits_.name_bytes_max);
      std::string message;
      in_.check((i == 0 || name > previous) && m_.check_name(name, message) == Status::ok);
      const LockRef ref{space, name};
      Lock lock = one_lock(ref);
      if (!in_.r.ok()) return 0;
      if (lock.regrant_pending) m_.regrants_.insert(ref);
      if (lock.delay_until_log_ms > m_.log_time_ms_) m_.delay_timers_.insert({lock.delay_until_log_ms, ref});
      m_.table(space).emplace_hint(m_.table(space).end(), name, std::move(lock));
      previous = std::move(name);
    }
    return count;
  }

  Lock one_lock(const LockRef& ref) {
    Lock lock;
    lock.kind = in_.get_enum<LockKind>(kLockKindMax);
    lock.limit = static_cast<uint32_t>(std::min<uint64_t>(in_.r.varint(), UINT32_MAX));
    in_.check(ref.space == Space::lock || lock.kind == LockKind::exclusive);
    in_.check(lock.limit == lock_limit_for(limits_, lock.kind, lock.limit));
    holders(ref, lock);
    waiters(ref, lock);
    lock.delay_until_log_ms = in_.r.svarint();
    lock.released_token_max = in_.r.varint();
    lock.regrant_pending = in_.r.boolean();
    lock.value = in_.string(limits_.value_bytes_max);
    lock.changed = in_.r.varint();
    lock.announced = in_.r.varint();
    in_.check(lock.released_token_max <= m_.revision_ && lock.changed <= m_.revision_);
    // A lock with nothing left does not exist (Machine::settle).
    in_.check(!lock.holders.empty() || !lock.waiters.empty() || lock.regrant_pending ||
              lock.delay_until_log_ms > m_.log_time_ms_);
    const SessionId leader = lock.holders.empty() ? kNoSession : lock.holders.front().session;
    in_.check(ref.space == Space::election ? lock.announced == leader
                                           : lock.announced == kNoSession && lock.value.empty());
    return lock;
  }

  void holders(const LockRef& ref, Lock& lock) {
    const size_t count = in_.count(lock.limit);
    for (size_t j = 0; j < count && in_.r.ok(); ++j) {
      Holder h;
      h.session = in_.r.varint();
      h.token = in_.r.varint();
      h.access = in_.get_enum<Access>(kAccessMax);
      h.granted_log_ms = in_.r.svarint();
      Session* s = m_.find_session(h.session);
      in_.check(s != nullptr && h.token != 0 && h.token <= m_.revision_);
      in_.check(lock.kind == LockKind::shared || h.access == Access::write);
      in_.check(m_.compatible(lock, h.access));
      if (!in_.r.ok()) return;
      in_.check(s->locks.insert(ref).second);  // at most once per lock
      lock.holders.push_back(h);
    }
  }

  void waiters(const LockRef& ref, Lock& lock) {
    const size_t count = in_.count(limits_.waiters_per_lock_max);
    for (size_t j = 0; j < count && in_.r.ok(); ++j) {
      Waiter w;
      w.session = in_.r.varint();
      w.access = in_.get_enum<Access>(kAccessMax);
      w.enqueued = in_.r.varint();
      w.deadline_log_ms = in_.r.svarint();
      w.client_id = in_.r.varint();
      w.seq = in_.r.varint();
      w.value = in_.string(limits_.value_bytes_max);
      Session* s = m_.find_session(w.session);
      // Timers at or before the log time have fired.
      in_.check(s != nullptr && w.enqueued <= m_.revision_ && w.deadline_log_ms > m_.log_time_ms_);
      in_.check(lock.kind == LockKind::shared || w.access == Access::write);
      in_.check(ref.space == Space::election || w.value.empty());
      if (!in_.r.ok()) return;
      in_.check(s->locks.insert(ref).second);
      ++s->waits;
      if (w.deadline_log_ms != kNoDeadline)
        m_.waiter_timers_.insert(WaiterTimer{w.deadline_log_ms, w.enqueued, w.session, ref});
      lock.waiters.push_back(std::move(w));
    }
  }

  void keys() {
    const size_t count = in_.count(limits_.keys_max);
    std::string previous;
    for (size_t i = 0; i < count && in_.r.ok(); ++i) {
      std::string name = in_.string(limits_.key_bytes_max);
      KeyRecord record;
      record.value = in_.string(limits_.value_bytes_max);
      record.stat = in_.stat();
      std::string message;
      in_.check((i == 0 || name > previous) && m_.check_key(name, message) == Status::ok);
      const KeyStat& stat = record.stat;
      in_.check(stat.create_index != 0 && stat.create_index <= stat.modify_index && stat.modify_index <= m_.revision_ &&
                stat.version >= 1);
      const Session* owner = stat.owner == kNoSession ? nullptr : m_.find_session(stat.owner);
      in_.check(stat.owner == kNoSession || owner != nullptr);
      in_.check(owner == nullptr || owner->keys.size() < limits_.ephemeral_keys_per_session_max);
      if (!in_.r.ok()) return;
      m_.set_key(name, std::move(record));
      previous = std::move(name);
    }
    in_.check(m_.store_bytes_ <= limits_.store_bytes_max);
  }

  void events() {
    m_.compacted_revision_ = in_.r.varint();
    in_.check(m_.compacted_revision_ <= m_.revision_);
    const size_t count = in_.count(limits_.events_max);
    Revision previous = m_.compacted_revision_;
    for (size_t i = 0; i < count && in_.r.ok(); ++i) {
      Event e;
      e.revision = in_.r.varint();
      e.type = in_.get_enum<EventType>(kEventTypeMax);
      e.space = in_.get_enum<Space>(kSpaceMax);
      e.name = in_.string(std::max(limits_.key_bytes_max, limits_.name_bytes_max));
      e.value = in_.string(std::max(limits_.value_bytes_max, limits_.reason_bytes_max));
      e.session = in_.r.varint();
      e.token = in_.r.varint();
      in_.check(e.revision > m_.compacted_revision_ && e.revision >= previous && e.revision <= m_.revision_);
      if (!in_.r.ok()) return;
      previous = e.revision;
      m_.emit_restored(std::move(e));
    }
    in_.check(m_.event_bytes_ <= limits_.events_bytes_max);
  }

  void dedup() {
    const size_t count = in_.count(limits_.dedup_entries_max);
    for (size_t i = 0; i < count && in_.r.ok(); ++i) {
      const DedupKey key{in_.r.varint(), in_.r.varint()};
      Result result = get_result(in_, limits_);
      in_.check(key.client_id != 0);
      if (!in_.r.ok()) return;
      in_.check(m_.dedup_.emplace(key, std::move(result)).second);
      m_.dedup_order_.push_back(key);
    }
  }

  Machine& m_;
  const Limits& limits_;
  SnapshotInput in_;
};

// Restores into a fresh machine; nullptr if the bytes are malformed or break
// an invariant.
std::unique_ptr<Machine> Machine::restore(const Config& config, std::string_view bytes) {
  if (bytes.substr(0, kMagic.size()) != kMagic) return nullptr;
  auto m = std::make_unique<Machine>(config);
  SnapshotReader reader(*m, bytes.substr(kMagic.size()));
  if (!reader.read()) return nullptr;
  return m;
}

}  // namespace synod::lockservice::detail

namespace synod::lockservice {

std::string encode_result(const Result& result) {
  std::string out;
  Writer w(out);
  detail::put_result(w, result);
  return out;
}

std::optional<Result> decode_result(std::string_view bytes) {
  detail::SnapshotInput in(bytes);
  Result result = detail::get_result(in, Limits{});
  if (!in.r.done()) return std::nullopt;
  return result;
}

}  // namespace synod::lockservice
