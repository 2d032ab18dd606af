// The vocabulary of the lock service: revisions, sessions, fencing tokens,
// statuses, limits and the Result of one applied command.
//
// A REVISION names one applied command: the slot that carried it and its
// index within the slot's batch, packed as slot << kBatchIndexBits | index.
// Revisions are unique and strictly increasing along the log, identical on
// every replica, and they are what the service hands out as:
//   - session ids (the revision of the CreateSession),
//   - fencing tokens (the revision of the grant),
//   - create and modify indexes of keys, and watch indexes.
// A bare slot number would not do: one slot carries a batch of commands.
//
// LOG TIME is the only time the state machine knows. Every command carries
// time_ms, stamped by the proposing leader's log clock (session_keeper.h
// says what that clock must be); applying a command sets
//     log_time = max(log_time, command.time_ms),
// so log time never goes backwards. Deadlines inside the state machine
// (session TTLs, lock-delays, waiter timeouts) are all in log time.
//
// Plain data, no thread affinity.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "lockservice/znode_types.h"

namespace synod::lockservice {

using Revision = uint64_t;
using SessionId = uint64_t;      // the revision of the session's creation
using FencingToken = uint64_t;   // the revision of the grant
using ClientId = uint64_t;

inline constexpr Revision kNoRevision = 0;
inline constexpr SessionId kNoSession = 0;
// A client id with this bit set stands for an Idempotency-Key, whose result
// is kept idempotency_retention_ms for the client's retries; ids without it
// are one request's (exactly_once.h).
inline constexpr ClientId kKeyedClientBit = ClientId{1} << 63;
inline constexpr int64_t kRetentionMsMax = 7LL * 24 * 3600 * 1000;

// ---- revisions ----
inline constexpr int kBatchIndexBits = 20;
// The most commands one slot may carry. The driver must cap its batches at
// this (paxos Limits::batch_commands_max is 4096, far below).
inline constexpr uint64_t kBatchCommandsMax = uint64_t{1} << kBatchIndexBits;
inline constexpr uint64_t kSlotMax = (uint64_t{1} << (64 - kBatchIndexBits)) - 1;
static_assert(kBatchCommandsMax - 1 == (~uint64_t{0} >> (64 - kBatchIndexBits)),
              "every batch index fits in the index bits");
static_assert(kSlotMax << kBatchIndexBits >> kBatchIndexBits == kSlotMax, "slots fit in the high bits");

constexpr Revision make_revision(uint64_t slot, uint64_t index) { return slot << kBatchIndexBits | index; }
constexpr uint64_t revision_slot(Revision revision) { return revision >> kBatchIndexBits; }
constexpr uint64_t revision_index(Revision revision) { return revision & (kBatchCommandsMax - 1); }

// ---- session bounds (documented in docs/lockservice.md) ----
// The shortest TTL must outlast a failover (election timeout 300-450 ms plus
// the 300 ms lease, DESIGN §3) with room for a keep-alive retry.
inline constexpr int64_t kTtlMsMin = 2'000;
inline constexpr int64_t kTtlMsMax = 86'400'000;  // one day, as Consul
inline constexpr int64_t kLockDelayMsMax = 60'000;
// A waiter may wait up to an hour; WaitMode::queue waits for as long as its
// session lives.
inline constexpr int64_t kWaitMsMax = 3'600'000;
// The keeper's default renewal checkpoint interval. The log must learn of
// renewals at least three times per minimum TTL (DESIGN §4).
inline constexpr int64_t kCheckpointIntervalMsDefault = 500;
static_assert(kCheckpointIntervalMsDefault * 3 <= kTtlMsMin, "at least three checkpoints per minimum TTL");
static_assert(kTtlMsMin < kTtlMsMax);

inline constexpr int64_t kNoDeadline = INT64_MAX;
// Log time is at most 2^62 ms (146 million years), so that a deadline, log
// time plus any duration above, never overflows.
inline constexpr int64_t kLogTimeMsMax = int64_t{1} << 62;
static_assert(kLogTimeMsMax + kTtlMsMax + kWaitMsMax + kLockDelayMsMax < kNoDeadline);

// ---- enumerations carried in commands and snapshots (values are on the wire) ----
// What happens to a session's ephemeral keys when the session ends. Its locks
// are always released: a lock never outlives its holder's session.
enum class Behavior : uint8_t {
  release = 0,      // the keys stay and lose their owner (they become persistent)
  delete_keys = 1,  // the keys are deleted
};
inline constexpr uint8_t kBehaviorMax = 1;

enum class LockKind : uint8_t {
  exclusive = 0,  // one holder
  shared = 1,     // readers/writer: many readers or one writer
  semaphore = 2,  // up to `limit` holders, one permit each
};
inline constexpr uint8_t kLockKindMax = 2;

enum class Access : uint8_t { write = 0, read = 1 };  // read only means something for LockKind::shared
inline constexpr uint8_t kAccessMax = 1;

enum class WaitMode : uint8_t {
  try_once = 0,  // answer at once: granted, or held (with the holder)
  timeout = 1,   // queue in FIFO order for at most wait_ms of log time
  queue = 2,     // queue in FIFO order for as long as the session lives
};
inline constexpr uint8_t kWaitModeMax = 2;

// ---- statuses ----
// Each maps to one HTTP status (docs/lockservice.md has the table).
enum class Status : uint8_t {
  ok = 0,
  queued = 1,           // 202: waiting in the lock's FIFO queue; `position` says where
  not_found = 2,        // 404: no such session, lock, election or key
  session_expired = 3,  // 404: the session is gone (expired or deleted)
  conflict = 4,    // 409: held by another (holder and token in the Result), kind mismatch, key owned by another session
  lock_delay = 5,  // 409, retryable: the lock is in lock-delay after an expiry until `until_ms`
  validity_low = 6,  // 409, retryable: the session has less than the minimum validity left; keep it alive first
  timed_out = 7,     // 408: a wait ended without a grant
  cancelled = 8,     // 409: the wait was withdrawn (release/resign while queued) or the lock forcibly released
  guard_failed = 9,  // 412: a compare-and-set or transaction guard did not hold
  stale_token =
      10,  // 412: the fencing token is not the lock's current grant, or is older than the key's lock generation
  limit_exceeded = 11,     // 429: a count limit (sessions, locks, keys, waiters, ...) was reached
  too_large = 12,          // 413: a value, name or transaction exceeds its size limit
  invalid_argument = 13,   // 400: malformed or out-of-range input
  too_early = 14,          // an EXPIRE the log refuses: the session was renewed (keeper-internal, no client sees it)
  compacted = 15,          // 410: a watch index older than the event window (Events says where to resume)
  unauthenticated = 16,    // 401: auth is on and the request names no principal, or an unknown or revoked token
  permission_denied = 17,  // 403: the principal may not do this (auth.h)
};
inline constexpr uint8_t kStatusMax = 17;

const char* status_name(Status status);
// Whether the same request may succeed later without the caller changing it.
bool retryable(Status status);

// ---- limits: a bound on everything (STYLE §7) ----
// Every replica must run with the same Config: limits decide results.
struct Limits {
  size_t sessions_max = size_t{1} << 20;
  size_t locks_max = size_t{1} << 20;               // locks and elections together
  size_t holders_per_lock_max = 1024;               // readers of a shared lock, semaphore permits
  size_t waiters_per_lock_max = 1024;
  size_t locks_per_session_max = 1024;              // held or waited for, elections included
  size_t keys_max = size_t{1} << 22;
  size_t ephemeral_keys_per_session_max = 4096;
  size_t key_bytes_max = 512;
  size_t name_bytes_max = 256;                      // lock and election names
  size_t value_bytes_max = size_t{64} << 10;        // a key's value, an election's value
  size_t store_bytes_max = size_t{1} << 30;         // all key names and values together
  size_t reason_bytes_max = 256;                    // a forced release's reason
  size_t losses_per_session_max = 8;                // lock losses a session remembers (newest kept)
  size_t txn_ops_max = 64;
  size_t txn_guards_max = 64;
  size_t delete_prefix_keys_max = 10'000;           // keys one recursive delete may remove
  size_t renewals_per_checkpoint_max = 16'384;      // sessions one checkpoint command lists
  size_t events_max = 65'536;                       // the watch window, in events
  size_t events_bytes_max = size_t{32} << 20;       // ... and in name and value bytes
  // The exactly-once table (exactly_once.h): anonymous results (re-proposals
  // only), keyed results (Idempotency-Key retries) and per-session results.
  size_t dedup_entries_max = 65'536;                // anonymous results remembered, newest kept
  size_t idempotency_entries_max = 262'144;         // keyed results remembered, newest kept
  int64_t idempotency_retention_ms = 300'000;       // how long (log time) a keyed result is kept
  size_t records_per_session_max = 1'024;           // results kept while their session lives
  size_t list_results_max = 10'000;                 // one page of a listing query
};

struct Config {
  Limits limits;
  // A grant is made only to a session with at least this much validity left
  // (log time), so a holder is never handed a lock it is about to lose.
  int64_t grant_validity_ms_min = 500;
  // The clock-drift bound (DESIGN §3): the validity the service reports is
  // divided by (1 + drift), so a client that counts it on its own clock from
  // when it SENT the request never believes in a session the log has expired.
  int64_t drift_bound_percent = 10;
  // The ZooKeeper namespace's bounds (znode_types.h).
  ZnodeLimits znodes;
};

// Returns an empty string if `config` is usable, or what is wrong.
std::string validate(const Config& config);
// A digest of everything in Config that decides results. Members whose
// digests differ would apply the same log differently, so the server's peer
// handshake refuses a member whose digest is not its own.
uint64_t config_digest(const Config& config);

// Remaining validity as the service reports it: log milliseconds divided by
// the drift factor, rounded down, never negative.
constexpr int64_t conservative_ms(int64_t log_ms, int64_t drift_bound_percent) {
  return log_ms <= 0 ? 0 : log_ms * 100 / (100 + drift_bound_percent);
}

// ---- results ----
struct KeyStat {
  Revision create_index = kNoRevision;
  Revision modify_index = kNoRevision;
  uint64_t version = 0;  // writes since creation, 1 after the create
  // The newest fencing token that wrote this key (0: never written under a
  // fence). A fenced write whose token is older is refused (stale_token), so
  // a deposed holder cannot overwrite what its successor wrote, even through
  // another lock. Reset when the key is deleted.
  FencingToken lock_generation = 0;
  SessionId owner = kNoSession;  // the session of an ephemeral key

  bool operator==(const KeyStat&) const = default;
};

struct TxnOpResult {
  Status status = Status::ok;
  std::string key;  // the key written or deleted (the final name of a sequential put)
  KeyStat stat;     // after a put; before a delete
  uint64_t deleted = 0;

  bool operator==(const TxnOpResult&) const = default;
};

// The answer to one applied command. Which fields mean something depends on
// the command and status (docs/lockservice.md lists them); the rest stay zero.
struct Result {
  Status status = Status::ok;
  // The revision at which this result became final: the command's own, or
  // for a queued acquire that was later resolved, the revision of the grant,
  // timeout or cancellation (the exactly-once table is updated then).
  Revision revision = kNoRevision;
  SessionId session = kNoSession;  // the session created; on conflict, a holder's session
  FencingToken token = 0;          // the grant; on conflict, a holder's token
  int64_t valid_for_ms = 0;        // the session's remaining validity (conservative, see Config)
  uint64_t position = 0;           // queued: 1 = next in line
  int64_t until_ms = 0;            // lock_delay: log time the delay ends
  uint64_t count = 0;              // holders on conflict; keys removed by a delete; renewals applied
  std::string key;                 // the key written (the final name of a sequential put)
  KeyStat stat;                    // the key's stat after a put, before a delete
  uint64_t failed_guard = 0;       // txn: 1-based index of the first guard that failed
  std::vector<TxnOpResult> ops;    // txn: one per operation
  std::string message;             // why, for errors
  // Znode commands (issue 22): ZooKeeper's error for the reply (a multi's:
  // its first failing op's), and one result per op (a multi's, in op order;
  // none when a multi is refused whole, as too large).
  ZkError zk_error = ZkError::ok;
  std::vector<ZnodeOpResult> znodes;

  bool operator==(const Result&) const = default;
};

}  // namespace synod::lockservice
