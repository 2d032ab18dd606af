// The lock service's internal state and the Machine that changes it.
// Private to lockservice/: StateMachine (state_machine.h) is the interface.
//
// Layout:
//   machine.cpp   apply loop, timers, sessions, events, exactly-once table
//   locks.cpp     locks, semaphores, readers/writer locks and elections
//   keys.cpp      keys, transactions, key and event queries
//   znodes.cpp    the ZooKeeper namespace: znodes, multi, their reads
//   znode_containers.cpp  the containers the leader may reap, and the reap
//   snapshot.cpp  snapshot and restore
//
// Every container that is iterated is ordered (std::map/std::set/vector/
// deque); the one hash map (the exactly-once table) is only looked up, and
// its iteration order for snapshots comes from its FIFO deque.
//
// Invariants (asserted where they change; checked in full on restore):
//   - A session appears at most once per lock, as a holder or as a waiter,
//     and Session::locks lists exactly the locks it appears in.
//   - A lock's holders are compatible: one writer, or readers, or at most
//     `limit` semaphore holders. A lock with no holder, no waiter, no pending
//     lock-delay and no deferred grant does not exist.
//   - Every waiter with a deadline has exactly one entry in waiter_timers_,
//     every lock in lock-delay one in delay_timers_.
//   - Each session has one entry in deadlines_: (renewed + ttl, id).
//   - store_bytes_ is the sum of key and value sizes; event_bytes_ likewise.
//   - The znodes: "/", "/zookeeper", "/zookeeper/quota" and
//     "/zookeeper/config" always exist; every other znode's parent exists and
//     is not ephemeral, and lists it in its children; ephemerals_ lists
//     exactly the ephemeral znodes, each under its live owner session;
//     znode_bytes_ is the sum of znode_bytes() over the znodes;
//     reapable_ lists exactly the containers with no children and creates
//     above 0 (znode_containers.cpp).
// Owned by the StateMachine's thread.
#pragma once

#include <compare>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "lockservice/auth.h"
#include "lockservice/exactly_once.h"
#include "lockservice/state_machine.h"

namespace synod::lockservice::detail {

// A lock or an election, by name.
struct LockRef {
  Space space = Space::lock;
  std::string name;
  auto operator<=>(const LockRef&) const = default;
};

struct Holder {
  SessionId session = kNoSession;
  FencingToken token = 0;
  Access access = Access::write;
  int64_t granted_log_ms = 0;
};

struct Waiter {
  SessionId session = kNoSession;
  Access access = Access::write;
  Revision enqueued = kNoRevision;
  int64_t deadline_log_ms = kNoDeadline;
  // The request that queued it, so its exactly-once record can be updated.
  ClientId client_id = 0;
  uint64_t seq = 0;
  std::string value;  // a campaign's value
};

struct Lock {
  LockKind kind = LockKind::exclusive;
  uint32_t limit = 1;
  std::vector<Holder> holders;
  std::vector<Waiter> waiters;  // FIFO; bounded by waiters_per_lock_max
  int64_t delay_until_log_ms = 0;
  // The newest token released. A grant needs a token above it, so the tokens
  // of successive holders strictly rise even when one command releases a
  // grant made at its own revision; such a grant waits for the next command.
  FencingToken released_token_max = 0;
  bool regrant_pending = false;
  // Elections only.
  std::string value;
  Revision changed = kNoRevision;
  SessionId announced = kNoSession;  // the leader observers were last told of
};

struct Session {
  int64_t ttl_ms = 0;
  int64_t lock_delay_ms = 0;
  Behavior behavior = Behavior::release;
  int64_t created_log_ms = 0;
  int64_t renewed_log_ms = 0;
  std::vector<LockLoss> losses;
  // Derived (rebuilt on restore).
  std::set<LockRef> locks;     // held or waited for
  std::set<std::string> keys;  // ephemeral keys it owns
  uint32_t waits = 0;          // how many of `locks` it waits for

  int64_t deadline_log_ms() const { return renewed_log_ms + ttl_ms; }
};

struct KeyRecord {
  std::string value;
  KeyStat stat;
};

// What a znode is beside its mode's sequential flag.
enum class ZnodeKind : uint8_t { persistent = 0, ephemeral = 1, container = 2 };
inline constexpr uint8_t kZnodeKindMax = 2;

// A znode as stored: ZooKeeper's StatPersisted, plus its children's names.
// `creates` is what ZooKeeper persists as the cversion: children created
// under it (int arithmetic, wrapping), which names sequential children; the
// Stat reports 2 * creates - children, the creates and the deletes.
struct Znode {
  std::string data;
  std::vector<ZnodeAcl> acl;
  Revision czxid = kNoRevision;
  Revision mzxid = kNoRevision;
  Revision pzxid = kNoRevision;
  int64_t ctime_ms = 0;
  int64_t mtime_ms = 0;
  int32_t version = 0;
  int32_t creates = 0;
  int32_t aversion = 0;
  ZnodeKind kind = ZnodeKind::persistent;
  SessionId owner = kNoSession;  // ephemerals only
  // Derived (rebuilt on restore).
  std::set<std::string, std::less<>> children;
};

// How one znode op ended, before it becomes a Result.
struct ZnodeOutcome {
  ZnodeOpResult result;
  Status status = Status::ok;
  std::string message;
};

// Inside a multi: how to put back one change, newest last.
struct ZnodeUndo {
  enum class Kind : uint8_t { created, deleted, data_set, parent_changed } kind = Kind::created;
  std::string path;
  std::optional<Znode> node;  // deleted: the znode as it was (it had no children)
  std::string data;           // data_set: the data and stat before
  Revision mzxid = kNoRevision;
  int64_t mtime_ms = 0;
  int32_t version = 0;
  int32_t creates = 0;  // parent_changed: the parent's before
  Revision pzxid = kNoRevision;
};

struct WaiterTimer {
  int64_t at = 0;
  Revision enqueued = kNoRevision;
  SessionId session = kNoSession;
  LockRef ref;
  auto operator<=>(const WaiterTimer&) const = default;
};

using LockTable = std::map<std::string, Lock, std::less<>>;

// A lock's limit follows from its kind: 1 for exclusive, the readers bound
// for shared, the requested permits for a semaphore.
inline uint32_t lock_limit_for(const Limits& limits, LockKind kind, uint32_t requested) {
  switch (kind) {
    case LockKind::exclusive: return 1;
    case LockKind::shared: return static_cast<uint32_t>(limits.holders_per_lock_max);
    case LockKind::semaphore: return requested >= 1 && requested <= limits.holders_per_lock_max ? requested : 0;
  }
  return 0;
}

// Why a holder or waiter leaves a lock.
enum class Departure : uint8_t {
  released,       // a clean release, or the holder's session was deleted
  expired,        // the holder's session expired
  forced,         // an administrator's ForceRelease
  timed_out,      // a waiter's deadline passed
  cancelled,      // a waiter withdrew (Release, Resign)
  session_ended,  // a waiter's session ended
};

class Machine {
 public:
  explicit Machine(const Config& config) : config_(config) { init_znodes(); }
  Machine(const Machine&) = delete;
  Machine& operator=(const Machine&) = delete;

  // Appends the znode events the entry fires to `fired`, if given.
  Result apply(const LogEntry& entry, ZnodeEvents* fired);

  // ---- queries (machine.cpp, locks.cpp, keys.cpp) ----
  std::optional<SessionView> session_view(SessionId id) const;
  std::vector<SessionView> session_views(SessionId after, size_t limit) const;
  std::optional<LockView> lock_view(std::string_view name) const;
  std::vector<std::string> lock_names(std::string_view after, size_t limit) const;
  bool validate_token(std::string_view name, FencingToken token) const;
  std::optional<ElectionView> election_view(std::string_view name) const;
  std::optional<KeyView> key_view(std::string_view key) const;
  KeyList key_list(std::string_view prefix, std::string_view after, size_t limit) const;
  Events events_since(Revision after, const EventFilter& filter, size_t limit) const;
  std::optional<ZnodeView> znode_view(std::string_view path) const;
  std::optional<ZnodeStat> znode_stat(std::string_view path) const;
  std::optional<ZnodeChildren> znode_children(std::string_view path) const;
  std::vector<std::string> session_znodes(SessionId session, std::string_view prefix) const;
  std::optional<size_t> znode_descendants(std::string_view path) const;
  const Result* recorded(ClientId client_id, uint64_t seq) const;
  Counts counts() const;
  std::optional<SessionLease> lease(SessionId id) const;
  SessionHistory session_history(SessionId id) const;
  std::vector<SessionLease> leases_by_deadline(int64_t after_deadline_ms, SessionId after_session,
                                               size_t limit) const;
  bool needs_time() const { return !sessions_.empty() || !waiter_timers_.empty() || !delay_timers_.empty(); }
  // The first `limit` reapable containers, in path order (znode_containers.cpp).
  std::vector<std::string> reapable_containers(size_t limit) const;

  // ---- snapshots (snapshot.cpp) ----
  std::string snapshot(size_t reserve_bytes) const;
  static std::unique_ptr<Machine> restore(const Config& config, std::string_view bytes);

  const Config& config() const { return config_; }
  const Auth& auth() const { return auth_; }
  Revision revision() const { return revision_; }
  int64_t log_time_ms() const { return log_time_ms_; }

 private:
  // ---- apply loop (machine.cpp) ----
  Result dispatch(const Command& command, ClientId client_id, uint64_t seq);
  // ---- who may (access.cpp) ----
  // Resolves the command's credential, judges the command (auth.h), and
  // dispatches it if allowed; records the owner of a session it created.
  Result judge_and_dispatch(const Decoded& decoded, ClientId client_id, uint64_t seq);
  Result check_access(const Command& command, const Principal& principal, ClientId client_id) const;
  Result set_auth(const SetAuth& command);
  Result create_token(const CreateToken& command);
  Result revoke_token(const RevokeToken& command);
  Result put_rule(const PutRule& command);
  Result delete_rule(const DeleteRule& command);
  void advance_time(int64_t time_ms);
  void run_timers();
  SessionId owner_of(const Command& command, const Result& result) const;
  void update_record(ClientId client_id, uint64_t seq, const Result& result);
  Result fail(Status status, std::string message) const;

  // ---- sessions (machine.cpp) ----
  Result create_session(const CreateSession& command);
  Result create_session_and(const CreateSessionAnd& command, ClientId client_id, uint64_t seq);
  Result delete_session(const DeleteSession& command);
  Result renew_sessions(const RenewSessions& command);
  Result expire_session(const ExpireSession& command);
  void end_session(SessionId id, Departure cause);
  Session* find_session(SessionId id);
  const Session* find_session(SessionId id) const;
  int64_t validity_ms(const Session& session) const { return session.deadline_log_ms() - log_time_ms_; }
  SessionView make_session_view(SessionId id, const Session& session) const;

  // ---- events (machine.cpp) ----
  void emit(EventType type, Space space, std::string_view name, std::string_view value, SessionId session,
            FencingToken token);
  void trim_events();
  void emit_restored(Event event);

  // ---- locks and elections (locks.cpp) ----
  Result acquire(const Acquire& command, ClientId client_id, uint64_t seq);
  Result release(const Release& command);
  Result force_release(const ForceRelease& command);
  Result campaign(const Campaign& command, ClientId client_id, uint64_t seq);
  Result proclaim(const Proclaim& command);
  Result resign(const Resign& command);
  struct AcquireRequest {
    LockRef ref;
    SessionId session = kNoSession;
    LockKind kind = LockKind::exclusive;
    Access access = Access::write;
    uint32_t limit = 1;
    WaitMode wait = WaitMode::try_once;
    int64_t wait_ms = 0;
    std::string_view value;
    ClientId client_id = 0;
    uint64_t seq = 0;
  };
  Result acquire_in(const AcquireRequest& request);
  Result try_fails(const Lock& lock, const Session& session, Access access) const;
  Result enqueue(Lock& lock, Session& session, const AcquireRequest& request);
  Result leave(Space space, std::string_view name, SessionId session);
  LockTable& table(Space space) { return space == Space::election ? elections_ : locks_; }
  const LockTable& table(Space space) const { return space == Space::election ? elections_ : locks_; }
  bool can_grant_now(const Lock& lock, Access access) const;
  bool compatible(const Lock& lock, Access access) const;
  Result grant(const LockRef& ref, Lock& lock, SessionId id, Session& session, Access access, std::string_view value);
  Result grant_result(const Holder& holder, const Session& session) const;
  void grant_waiters(const LockRef& ref, Lock& lock);
  void remove_holder(const LockRef& ref, Lock& lock, size_t index, Departure cause, std::string_view reason);
  void remove_waiter(const LockRef& ref, Lock& lock, size_t index, Departure cause);
  void settle(const LockRef& ref);
  void announce(const LockRef& ref, Lock& lock);
  void start_lock_delay(const LockRef& ref, Lock& lock, int64_t delay_ms);

  // ---- keys (keys.cpp) ----
  Result put(const Put& command);
  Result delete_key(const DeleteKey& command);
  Result txn(const Txn& command);
  Status check_fence(const Fence& fence, const KeyRecord* record, std::string& message) const;
  bool guard_holds(const Guard& guard) const;
  // Every change to a key goes through here: it keeps the owner index, the
  // byte count and, inside a transaction, the undo log.
  void set_key(const std::string& name, std::optional<KeyRecord> record);
  void end_session_keys(SessionId id, Session& session, Departure cause);

  // ---- the ZooKeeper namespace (znodes.cpp) ----
  void init_znodes();
  Result znode_create(const ZnodeCreate& command);
  Result znode_delete(const ZnodeDelete& command);
  Result znode_set_data(const ZnodeSetData& command);
  Result znode_check(const ZnodeCheck& command);
  Result znode_multi(const ZnodeMulti& command);
  Result znode_set_acl(const ZnodeSetAcl& command);
  // A multi's ops act for its session and ids.
  ZnodeOutcome create_op(const ZnodeCreate& command, SessionId session, const ZnodeIds& ids);
  ZnodeOutcome delete_op(const ZnodeDelete& command, SessionId session, const ZnodeIds& ids);
  ZnodeOutcome set_data_op(const ZnodeSetData& command, SessionId session, const ZnodeIds& ids);
  ZnodeOutcome check_op(const ZnodeCheck& command, SessionId session, const ZnodeIds& ids);
  ZnodeOutcome set_acl_op(const ZnodeSetAcl& command);
  ZnodeOutcome znode_session_problem(SessionId session, bool ephemeral) const;
  ZnodeStat znode_stat_of(const Znode& node) const;
  // Every znode enters and leaves the tree through these two: they keep the
  // parent's children, ephemerals_ and znode_bytes_.
  void insert_znode(const std::string& path, Znode node);
  Znode erase_znode(const std::string& path);
  void note_undo(ZnodeUndo undo);
  void fire(ZnodeEventType type, std::string_view path);
  void end_session_znodes(SessionId id);
  // ---- containers (znode_containers.cpp) ----
  Result znode_reap_container(const ZnodeReapContainer& command, ClientId client_id);
  // Puts a container in reapable_ or takes it out, after its children or
  // creates changed; other kinds of znode never enter it.
  void note_container(const std::string& path, const Znode& node);

  // ---- name checks (keys.cpp) ----
  Status check_key(std::string_view key, std::string& message) const;
  Status check_name(std::string_view name, std::string& message) const;

  friend class SnapshotReader;  // snapshot.cpp: restores the private state

  const Limits& limits() const { return config_.limits; }

  Config config_;

  Revision revision_ = kNoRevision;
  int64_t log_time_ms_ = 0;

  std::map<SessionId, Session> sessions_;
  std::set<std::pair<int64_t, SessionId>> deadlines_;  // (renewed + ttl, id)
  LockTable locks_;
  LockTable elections_;
  std::map<std::string, KeyRecord, std::less<>> keys_;
  size_t store_bytes_ = 0;

  std::set<WaiterTimer> waiter_timers_;
  std::set<std::pair<int64_t, LockRef>> delay_timers_;
  std::set<LockRef> regrants_;  // locks whose grant waits for the next command

  std::deque<Event> events_;
  size_t event_bytes_ = 0;
  Revision compacted_revision_ = kNoRevision;

  ExactlyOnce exactly_once_{config_.limits};
  Auth auth_;  // tokens, rules, session owners (auth.h)

  // The ZooKeeper namespace, by path (znodes.cpp).
  std::map<std::string, Znode, std::less<>> znodes_;
  std::map<SessionId, std::set<std::string>> ephemerals_;  // by owner
  size_t znode_bytes_ = 0;
  // Derived (rebuilt on restore): what the leader's reaper may propose.
  std::set<std::string, std::less<>> reapable_;
  ZnodeEvents* fired_ = nullptr;                  // during apply: the caller's event list
  std::vector<ZnodeUndo>* znode_undo_ = nullptr;  // inside a multi

  // Inside a transaction: the keys' states before it, newest last.
  std::vector<std::pair<std::string, std::optional<KeyRecord>>>* undo_ = nullptr;
};

}  // namespace synod::lockservice::detail
