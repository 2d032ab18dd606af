// Snapshot and restore.
//
// SNAPSHOT FORMAT (version 4), built on base/codec.h; every section in a
// fixed order and every collection in its key order, so that two replicas
// that applied the same entries write the same bytes:
//   8 bytes  magic "SYNODLS\0"     u8 format version
//   revision, log time
//   then numbered sections, ascending: u8 id, fixed64 body length, body
//   1 sessions    ascending id:   id, ttl, lock-delay, behavior, created, renewed, losses
//   2 locks       ascending name: kind, limit, holders, waiters (FIFO), lock-delay end,
//                                 newest released token, deferred grant, value, changed, announced
//   3 elections   as locks
//   4 keys        ascending name: value, create and modify index, version, lock generation, owner
//   5 events      compacted revision, then the window, oldest first
//   6 exactly-once (exactly_once.h): owned records by session, keyed records
//                 with their expiry, anonymous records, each class oldest first
//   7 auth        (auth.h, Auth::write): enabled, tokens, rules, session owners
//                 (version 3, issue 19; a version 2 image has no auth: off, empty)
//   8 znodes      (version 4, issue 22) ascending path, "/" first: data, ACL
//                 (perms, scheme, id), czxid, mzxid, pzxid, ctime, mtime,
//                 version, creates (ZooKeeper's persisted cversion), aversion,
//                 kind, owner. An older image has none: the namespace is the
//                 four znodes ZooKeeper starts with. An exactly-once record
//                 of a znode command carries a znode part (snapshot_io.h,
//                 kResultZnodeBit), which no older image holds.
// A reader refuses a section id it does not know, a section out of order or
// missing, and a body it does not read to its last byte: later issues add
// sections (and bump the version) rather than change one. Version 1 was the
// same sections without ids and lengths, and the exactly-once table as one
// list; it is still read (a store's snapshot from before issue 18).
// Only primary state is written. The indexes (session deadlines, each
// session's locks and keys, timers, byte counts) are rebuilt on restore,
// which also checks every invariant of machine.h: a snapshot that decodes but
// breaks one is refused like a malformed one, so a restored machine never
// trips an assertion later. The storage layer adds the checksum, and a
// backup file (backup_file.h) its own. The versions are in state_machine.h.
#include <algorithm>

#include "base/assert.h"
#include "base/codec.h"
#include "lockservice/machine.h"
#include "lockservice/snapshot_io.h"

namespace synod::lockservice::detail {
namespace {

constexpr std::string_view kMagic{"SYNODLS\0", 8};

enum class Section : uint8_t {
  sessions = 1,
  locks = 2,
  elections = 3,
  keys = 4,
  events = 5,
  exactly_once = 6,
  auth = 7,
  znodes = 8,
};
constexpr uint8_t kSectionMax = 8;
// The last section each version has.
constexpr uint8_t last_section(uint8_t version) { return version <= 2 ? 6 : version == 3 ? 7 : kSectionMax; }

// Writes one section: its id, then its body's length, patched once the body
// is written (no copy of a body that may be hundreds of MB).
template <typename Body>
void put_section(std::string& out, Section id, const Body& body) {
  Writer w(out);
  w.u8(static_cast<uint8_t>(id));
  const size_t at = out.size();
  w.fixed64(0);
  body(w);
  const uint64_t length = out.size() - at - 8;
  for (size_t i = 0; i < 8; ++i) out[at + i] = static_cast<char>((length >> (8 * i)) & 0xff);
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

std::string Machine::snapshot(size_t reserve_bytes) const {
  std::string out;
  out.reserve(reserve_bytes);
  Writer w(out);
  out.append(kMagic);
  w.u8(kSnapshotFormatVersion);
  w.varint(revision_);
  w.svarint(log_time_ms_);
  put_section(out, Section::sessions, [&](Writer& s) {
    s.varint(sessions_.size());
    for (const auto& [id, session] : sessions_) {
      s.varint(id);
      s.svarint(session.ttl_ms);
      s.svarint(session.lock_delay_ms);
      s.u8(static_cast<uint8_t>(session.behavior));
      s.svarint(session.created_log_ms);
      s.svarint(session.renewed_log_ms);
      s.varint(session.losses.size());
      for (const LockLoss& loss : session.losses) {
        s.u8(static_cast<uint8_t>(loss.space));
        s.bytes(loss.name);
        s.varint(loss.token);
        s.varint(loss.revision);
        s.bytes(loss.reason);
      }
    }
  });
  for (const Space space : {Space::lock, Space::election}) {
    put_section(out, space == Space::lock ? Section::locks : Section::elections, [&](Writer& s) {
      s.varint(table(space).size());
      for (const auto& [name, lock] : table(space)) {
        s.bytes(name);
        put_lock(s, lock);
      }
    });
  }
  put_section(out, Section::keys, [&](Writer& s) {
    s.varint(keys_.size());
    for (const auto& [name, record] : keys_) {
      s.bytes(name);
      s.bytes(record.value);
      put_stat(s, record.stat);
    }
  });
  put_section(out, Section::events, [&](Writer& s) {
    s.varint(compacted_revision_);
    s.varint(events_.size());
    for (const Event& e : events_) {
      s.varint(e.revision);
      put_event_body(s, e);
    }
  });
  put_section(out, Section::exactly_once, [&](Writer& s) { exactly_once_.write(s); });
  put_section(out, Section::auth, [&](Writer& s) { auth_.write(s); });
  put_section(out, Section::znodes, [&](Writer& s) {
    s.varint(znodes_.size());
    for (const auto& [path, node] : znodes_) {
      s.bytes(path);
      s.bytes(node.data);
      s.varint(node.acl.size());
      for (const ZnodeAcl& entry : node.acl) {
        s.svarint(entry.perms);
        s.bytes(entry.scheme);
        s.bytes(entry.id);
      }
      s.varint(node.czxid);
      s.varint(node.mzxid);
      s.varint(node.pzxid);
      s.svarint(node.ctime_ms);
      s.svarint(node.mtime_ms);
      s.svarint(node.version);
      s.svarint(node.creates);
      s.svarint(node.aversion);
      s.u8(static_cast<uint8_t>(node.kind));
      s.varint(node.owner);
    }
  });
  return out;
}

// Reads one snapshot into a fresh machine, section by section, rebuilding
// the indexes and checking the invariants as it goes. Every method leaves
// the Input failed on the first problem.
class SnapshotReader {
 public:
  SnapshotReader(Machine& m, std::string_view bytes) : m_(m), limits_(m.config_.limits), in_(bytes) {}

  bool read() {
    const uint8_t version = in_.r.u8();
    if (version < kSnapshotFormatVersionOldest || version > kSnapshotFormatVersion) return false;
    m_.revision_ = in_.r.varint();
    m_.log_time_ms_ = in_.r.svarint();
    in_.check(m_.log_time_ms_ >= 0 && m_.log_time_ms_ <= kLogTimeMsMax);
    if (version == 1) {
      for (uint8_t id = 1; id <= last_section(1) && in_.r.ok(); ++id) section(static_cast<Section>(id), 1);
      return in_.r.done();
    }
    uint8_t previous = 0;
    while (in_.r.ok() && !in_.r.done()) {
      const uint8_t id = in_.r.u8();
      const std::string_view body = in_.r.raw(in_.r.fixed64());
      // In order, each once, none unknown: nothing is skipped unread.
      in_.check(id == previous + 1 && id <= last_section(version));
      if (!in_.r.ok()) return false;
      previous = id;
      SnapshotInput outer = in_;
      in_ = SnapshotInput(body);
      section(static_cast<Section>(id), version);
      const bool whole = in_.r.done();
      in_ = outer;
      in_.check(whole);
    }
    return in_.r.done() && previous == last_section(version);
  }

 private:
  void section(Section id, uint8_t version) {
    switch (id) {
      case Section::sessions:
        return sessions();
      case Section::locks:
        locks_ = lock_table(Space::lock);
        return;
      case Section::elections:
        locks_ += lock_table(Space::election);
        in_.check(locks_ <= limits_.locks_max);
        return;
      case Section::keys:
        keys();
        for (const auto& [unused_id, s] : m_.sessions_) in_.check(s.locks.size() <= limits_.locks_per_session_max);
        return;
      case Section::events:
        return events();
      case Section::exactly_once:
        if (version == 1) return m_.exactly_once_.read_v1(in_, m_.log_time_ms_);
        return m_.exactly_once_.read(
            in_, [this](SessionId session) { return m_.find_session(session) != nullptr; }, m_.log_time_ms_);
      case Section::auth:
        in_.check(m_.auth_.read(in_.r));
        // Owners name live sessions only.
        in_.check(m_.auth_.owners_are_live([this](SessionId session) { return m_.find_session(session) != nullptr; }));
        return;
      case Section::znodes:
        return znodes();
    }
  }

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
      get_event_body(in_, limits_, e);
      in_.check(e.revision > m_.compacted_revision_ && e.revision >= previous && e.revision <= m_.revision_);
      if (!in_.r.ok()) return;
      previous = e.revision;
      m_.emit_restored(std::move(e));
    }
    in_.check(m_.event_bytes_ <= limits_.events_bytes_max);
  }

  // Replaces the four first znodes. In path order a parent comes before its
  // children, so each znode's parent is already there to check.
  void znodes() {
    const ZnodeLimits& z = m_.config_.znodes;
    m_.znodes_.clear();
    m_.ephemerals_.clear();
    m_.reapable_.clear();  // derived: insert_znode notes each container
    m_.znode_bytes_ = 0;
    const size_t count = in_.count(z.znodes_max);
    std::string previous;
    for (size_t i = 0; i < count && in_.r.ok(); ++i) {
      std::string path = in_.string(z.path_bytes_max);
      Znode node;
      node.data = in_.string(z.data_bytes_max);
      const size_t acl = in_.count(kZnodeAclEntriesMax);
      for (size_t j = 0; j < acl && in_.r.ok(); ++j) {
        ZnodeAcl entry;
        entry.perms = in_.int32();
        entry.scheme = in_.string(kZnodeAclTextBytesMax);
        entry.id = in_.string(kZnodeAclTextBytesMax);
        in_.check(entry.scheme.size() + entry.id.size() <= kZnodeAclTextBytesMax);
        node.acl.push_back(std::move(entry));
      }
      node.czxid = in_.r.varint();
      node.mzxid = in_.r.varint();
      node.pzxid = in_.r.varint();
      node.ctime_ms = in_.r.svarint();
      node.mtime_ms = in_.r.svarint();
      node.version = in_.int32();
      node.creates = in_.int32();
      node.aversion = in_.int32();
      node.kind = in_.get_enum<ZnodeKind>(kZnodeKindMax);
      node.owner = in_.r.varint();
      in_.check(i == 0 ? path == "/" : path > previous && znode_path_problem(path).empty());
      in_.check(node.czxid <= node.mzxid && node.czxid <= node.pzxid && node.mzxid <= m_.revision_ &&
                node.pzxid <= m_.revision_);
      in_.check(node.ctime_ms >= 0 && node.ctime_ms <= node.mtime_ms && node.mtime_ms <= m_.log_time_ms_);
      in_.check((node.kind == ZnodeKind::ephemeral) == (node.owner != kNoSession));
      in_.check(node.owner == kNoSession || m_.find_session(node.owner) != nullptr);
      if (!in_.r.ok()) return;
      if (i > 0) {
        auto parent = m_.znodes_.find(path.substr(0, std::max<size_t>(path.rfind('/'), 1)));
        in_.check(parent != m_.znodes_.end() && parent->second.kind != ZnodeKind::ephemeral &&
                  parent->second.children.size() < z.children_max);
        if (!in_.r.ok()) return;
      }
      m_.insert_znode(path, std::move(node));
      previous = std::move(path);
    }
    in_.check(m_.znode_bytes_ <= z.store_bytes_max);
    for (const char* path : {"/zookeeper", "/zookeeper/quota", "/zookeeper/config"})
      in_.check(m_.znodes_.count(std::string_view(path)) == 1);
  }

  Machine& m_;
  const Limits& limits_;
  SnapshotInput in_;
  size_t locks_ = 0;  // locks and elections, against locks_max
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

uint8_t snapshot_format_of(std::string_view image) {
  if (image.size() <= detail::kMagic.size() || image.substr(0, detail::kMagic.size()) != detail::kMagic) return 0;
  return static_cast<uint8_t>(image[detail::kMagic.size()]);
}

std::string encode_result(const Result& result) {
  return encode_exact([&](Writer& w) { detail::put_result(w, result); });
}

std::string encode_event(const Event& event) {
  return encode_exact([&](Writer& w) { detail::put_event_body(w, event); });
}

std::optional<Event> decode_event(Revision revision, std::string_view bytes, const Limits& limits) {
  detail::SnapshotInput in(bytes);
  Event event;
  event.revision = revision;
  detail::get_event_body(in, limits, event);
  if (!in.r.done()) return std::nullopt;
  return event;
}

std::optional<Result> decode_result(std::string_view bytes) {
  detail::SnapshotInput in(bytes);
  Result result = detail::get_result(in, Limits{});
  if (!in.r.done()) return std::nullopt;
  return result;
}

}  // namespace synod::lockservice
