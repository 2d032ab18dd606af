// StateMachine: the lock service applied from the chosen log (DESIGN §4).
//
// It owns sessions, locks (exclusive, shared, semaphores), elections, the key
// space, the ZooKeeper namespace of znodes (znodes.cpp), the window of watch
// events and the exactly-once table. It is pure
// and deterministic: its only inputs are the log entries handed to apply(),
// in log order, each with its slot, batch index, client id, sequence and
// payload. Time is the log time inside the commands (types.h). It reads no
// clock, does no I/O, starts no thread, keeps no global state, and nothing it
// returns or snapshots depends on the order of an unordered container. Two
// replicas that applied the same entries hold the same state, answer every
// query alike and produce byte-identical snapshots.
//
// HOW A DRIVER USES IT
//   - For every chosen slot, in order, for every command i of its batch:
//         Result r = machine.apply({slot, i, client_id, seq, payload});
//     No-op slots carry no commands and are skipped. A payload that does not
//     decode still takes its revision and answers invalid_argument.
//   - The proposer of the command answers its client with r. A queued
//     acquire or campaign answers `queued`; when it is later granted, timed
//     out or cancelled, the exactly-once record of its (client_id, seq) is
//     updated (recorded()) and an event is appended (granted / timed_out /
//     cancelled, or leader for elections), which is how a long-polling HTTP
//     request learns its fate.
//   - Reads: the query functions below answer from the applied state. They
//     are linearizable when called after the read index the Paxos core grants
//     has been applied (DESIGN §3). revision() is the index a reply reflects.
//   - Snapshots: snapshot() at any point between two apply() calls; restore()
//     replaces the whole state (and refuses malformed bytes, leaving the
//     state unchanged). The storage layer wraps the bytes with its checksum.
//   - The leader's SessionKeeper (session_keeper.h) reads sessions through
//     lease() and leases_by_deadline().
//
// TIMERS run at the start of every apply, once log time has advanced: waiters
// whose deadline has passed are removed (timed_out), locks whose lock-delay
// has ended grant to their queue. Log time only moves with commands; the
// keeper's checkpoints, proposed every checkpoint interval while any session
// exists, bound how late a timer can fire.
//
// Owned by one thread: the driver's owner loop (or the simulator).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "lockservice/command.h"
#include "lockservice/types.h"

namespace synod::lockservice {

namespace detail {
class Machine;
}

// What the log carries for one command.
struct LogEntry {
  uint64_t slot = 0;   // >= 1
  uint64_t index = 0;  // within the slot's batch, < kBatchCommandsMax
  ClientId client_id = 0;  // 0: no exactly-once record (the keeper's commands)
  uint64_t seq = 0;
  std::string_view payload;
};

// ---- views returned by queries ----
struct LockLoss {
  Space space = Space::lock;
  std::string name;
  FencingToken token = 0;
  Revision revision = kNoRevision;  // when it was lost
  std::string reason;
  bool operator==(const LockLoss&) const = default;
};

struct SessionView {
  SessionId id = kNoSession;
  int64_t ttl_ms = 0;
  int64_t lock_delay_ms = 0;
  Behavior behavior = Behavior::release;
  int64_t created_log_ms = 0;
  int64_t renewed_log_ms = 0;   // the last renewal the log knows of
  int64_t deadline_log_ms = 0;  // renewed + ttl: no EXPIRE applies before
  int64_t valid_for_ms = 0;     // conservative remaining validity at the current log time
  std::vector<std::string> locks;      // held locks, by name
  std::vector<std::string> elections;  // elections it leads
  size_t waits = 0;                    // locks and elections it queues for
  size_t ephemeral_keys = 0;
  std::vector<LockLoss> losses;        // forced releases, oldest first
};

struct HolderView {
  SessionId session = kNoSession;
  FencingToken token = 0;
  Access access = Access::write;
  int64_t granted_log_ms = 0;
};
struct WaiterView {
  SessionId session = kNoSession;
  Access access = Access::write;
  Revision enqueued = kNoRevision;
  int64_t deadline_log_ms = kNoDeadline;
};
struct LockView {
  std::string name;
  LockKind kind = LockKind::exclusive;
  uint32_t limit = 1;
  std::vector<HolderView> holders;  // in grant order
  std::vector<WaiterView> waiters;  // in FIFO order: the first is next
  int64_t delay_until_log_ms = 0;   // no grant before this log time
};
struct ElectionView {
  std::string name;
  SessionId leader = kNoSession;  // kNoSession: no leader
  FencingToken token = 0;
  std::string value;
  Revision changed = kNoRevision;   // the revision of the latest leader or value change
  std::vector<WaiterView> candidates;
  int64_t delay_until_log_ms = 0;
};
struct KeyView {
  std::string key;
  std::string value;
  KeyStat stat;
};
struct KeyList {
  std::vector<KeyView> keys;
  bool more = false;  // the page was full; ask again after the last key
};

// ---- watch events ----
// The meaning of a type depends on its space:
//   key:      put; deleted (by a delete, or its session was deleted);
//             expired (its owner session expired); released (its owner
//             session ended with behavior release: the key stays, unowned)
//   lock:     granted; released (clean release, or the holder's session was
//             deleted); expired (the holder's session expired); forced (by an
//             administrator; value = reason); timed_out and cancelled (a
//             waiter left the queue; token = 0)
//   election: leader (a new leader; value, token); proclaimed (new value);
//             no_leader; timed_out/cancelled as for locks
//   session:  created, deleted, expired
enum class EventType : uint8_t {
  put = 0,
  deleted = 1,
  expired = 2,
  released = 3,
  granted = 4,
  forced = 5,
  timed_out = 6,
  cancelled = 7,
  leader = 8,
  proclaimed = 9,
  no_leader = 10,
  created = 11,
};
inline constexpr uint8_t kEventTypeMax = 11;
const char* event_type_name(EventType type);

struct Event {
  Revision revision = kNoRevision;  // events of one command share its revision
  EventType type = EventType::put;
  Space space = Space::key;
  std::string name;  // key, lock or election name; empty for sessions
  std::string value;
  SessionId session = kNoSession;
  FencingToken token = 0;
  bool operator==(const Event&) const = default;
};

// Prefixes match whole path segments, everywhere (watches, listings,
// recursive deletes): "/app" matches "/app" and "/app/...", never "/apple";
// a prefix that ends in '/' ("/app/") matches only what is under it; ""
// matches every name. One rule for keys, locks and elections alike.
bool within_prefix(std::string_view name, std::string_view prefix);

struct EventFilter {
  std::optional<Space> space;  // nullopt: every space
  std::string prefix;          // names within it (within_prefix)
};

struct Events {
  // ok, or compacted: events after `after` were dropped from the window. The
  // watcher re-reads the state (which reflects next_index) and resumes from
  // next_index. Never a silent gap.
  Status status = Status::ok;
  Revision compacted_revision = kNoRevision;  // every event up to this one is gone
  // Ask again with after = next_index. Whole revisions only: a page never
  // splits the events of one command.
  Revision next_index = kNoRevision;
  std::vector<Event> events;
};

// What the session keeper needs to know of one session.
struct SessionLease {
  SessionId session = kNoSession;
  int64_t ttl_ms = 0;
  int64_t renewed_log_ms = 0;
  int64_t deadline_log_ms = 0;  // renewed + ttl
};

// What an id names, for a client that asks about a session (a session's id
// is the revision of the command that created it).
enum class SessionHistory : uint8_t {
  live,     // a session now
  ended,    // a session once: it expired or was deleted
  never,    // never a session: not a revision yet, a revision before the
            // first slot, or one inside the event window without a `created`
  unknown,  // older than the event window: ended, or never a session
};

// The snapshot image's format (snapshot.cpp): this build writes the newest
// and reads every version from the oldest on. A backup file names it
// (backup_file.h), and `synod --version` reports it.
inline constexpr uint8_t kSnapshotFormatVersion = 4;
inline constexpr uint8_t kSnapshotFormatVersionOldest = 1;
// The format version an image names (its ninth byte), or 0 if it is too
// short to name one.
uint8_t snapshot_format_of(std::string_view image);

struct Counts {
  size_t sessions = 0, locks = 0, elections = 0, keys = 0, store_bytes = 0, events = 0, event_bytes = 0,
         dedup_entries = 0, waiters = 0, znodes = 0, znode_bytes = 0;
};

// A Result in bytes and back, for a leader that answers a command a follower
// forwarded to it over the peer links (the server's node). Decoding refuses
// malformed bytes (nullopt) and never crashes.
std::string encode_result(const Result& result);
std::optional<Result> decode_result(std::string_view bytes);

// An event in bytes (without its revision) and back, for the watch history
// on disk (persistence/history_store.h). Decoding refuses malformed bytes and
// names or values over `limits`.
std::string encode_event(const Event& event);
std::optional<Event> decode_event(Revision revision, std::string_view bytes, const Limits& limits);

class StateMachine {
 public:
  // Asserts that validate(config) is empty.
  explicit StateMachine(Config config = {});
  ~StateMachine();
  StateMachine(StateMachine&&) noexcept;
  StateMachine& operator=(StateMachine&&) noexcept;
  StateMachine(const StateMachine&) = delete;
  StateMachine& operator=(const StateMachine&) = delete;

  // Applies one command. Revisions must strictly increase (asserted): the
  // driver hands entries in log order, each exactly once. A (client_id, seq)
  // already recorded answers the recorded result and changes nothing.
  Result apply(const LogEntry& entry);
  // The same, and appends to `fired` the ZooKeeper watch events the entry
  // fires (znode_types.h), in the order ZooKeeper fires them: what a listener
  // delivers to the one-shot watches it holds. Empty for a retry answered
  // from the exactly-once table: the first copy fired them.
  Result apply(const LogEntry& entry, ZnodeEvents& fired);

  const Config& config() const;
  Revision revision() const;   // of the last applied command
  int64_t log_time_ms() const;

  // ---- linearizable reads ----
  std::optional<SessionView> session(SessionId id) const;
  std::vector<SessionView> sessions(SessionId after, size_t limit) const;
  std::optional<LockView> lock(std::string_view name) const;
  // The names of the locks that exist (held, waited for, or in lock-delay),
  // in byte order, after `after` (exclusive): an administrator's listing.
  std::vector<std::string> lock_names(std::string_view after, size_t limit) const;
  // Is `token` a current grant of lock `name`?
  bool validate_token(std::string_view name, FencingToken token) const;
  // An election nobody leads or campaigns for reads as nullopt: no leader.
  std::optional<ElectionView> election(std::string_view name) const;
  std::optional<KeyView> get(std::string_view key) const;
  // Keys within `prefix` (within_prefix: whole segments), in byte order,
  // after `after` (exclusive).
  KeyList list(std::string_view prefix, std::string_view after, size_t limit) const;
  // ---- the ZooKeeper namespace (issue 22) ----
  // getData (and getACL): nullopt for no such znode. Paths are not checked:
  // a bad one names no znode (znode_path_problem says why).
  std::optional<ZnodeView> znode(std::string_view path) const;
  // exists: the Stat alone.
  std::optional<ZnodeStat> znode_stat(std::string_view path) const;
  // getChildren2: the children's names in byte order (ZooKeeper promises no
  // order), and the znode's Stat.
  std::optional<ZnodeChildren> znode_children(std::string_view path) const;
  // getEphemerals: the paths of `session`'s ephemeral znodes that start
  // with `prefix` (a string prefix, as ZooKeeper's), in path order.
  std::vector<std::string> session_znodes(SessionId session, std::string_view prefix) const;
  // getAllChildrenNumber: how many znodes are below `path`; nullopt if it
  // does not exist. O(that many).
  std::optional<size_t> znode_descendants(std::string_view path) const;
  // Events with revision > after that pass `filter`, at most about `limit`.
  Events events(Revision after, const EventFilter& filter, size_t limit) const;
  // The recorded result of (client_id, seq), if the table still holds it.
  const Result* recorded(ClientId client_id, uint64_t seq) const;
  Counts counts() const;

  // ---- auth (auth.h), as applied: for reads and keep-alives, which the
  // node serving them judges, and for the auth API's views ----
  bool auth_enabled() const;
  bool has_root_token() const;
  // The principal a credential names; nullopt for an unknown or revoked token.
  std::optional<Principal> authenticate(const Credential& credential) const;
  // ok if auth is off or the credential names a principal; else
  // unauthenticated with `why`.
  Status authenticated(const Credential& credential, std::string& why) const;
  // ok, or unauthenticated / permission_denied with `why`.
  Status authorize(const Credential& credential, AclSpace space, std::string_view name, Permission permission,
                   std::string& why) const;
  // ok if the credential may act for `session` (its owner, or an admin of sessions).
  Status authorize_session(const Credential& credential, SessionId session, std::string& why) const;
  std::vector<TokenView> tokens() const;
  std::vector<Rule> rules() const;
  std::string session_owner(SessionId session) const;

  // ---- for the session keeper ----
  std::optional<SessionLease> lease(SessionId id) const;
  SessionHistory session_history(SessionId id) const;
  // Sessions in ascending (deadline, id) order, strictly after the given pair.
  std::vector<SessionLease> leases_by_deadline(int64_t after_deadline_ms, SessionId after_session,
                                               size_t limit) const;
  // True while log time must keep moving: sessions exist or timers are set.
  bool needs_time() const;

  // ---- for the container reaper (container_reaper.h) ----
  // The first `limit` containers a ZnodeReapContainer would delete now
  // (no children, and creates above 0), in path order.
  std::vector<std::string> reapable_containers(size_t limit) const;

  // ---- snapshots ----
  // The image (format kSnapshotFormatVersion, snapshot.cpp); `reserve_bytes` is room to reserve first (a guess at its
  // size), so a large image is not grown by doubling.
  std::string snapshot(size_t reserve_bytes = 0) const;
  bool restore(std::string_view bytes);

 private:
  std::unique_ptr<detail::Machine> machine_;
};

}  // namespace synod::lockservice
