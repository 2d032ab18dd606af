// Commands: what a client (or the leader's session keeper) asks the lock
// service to do, and their encoding into the payload bytes of one log entry.
//
// PAYLOAD FORMAT (version 2), built on base/codec.h:
//   u8       format version (kCommandFormatVersion)
//   fixed64  time_ms: the proposing leader's log clock, in [0, kLogTimeMsMax],
//            at a fixed offset so
//            the leader can stamp a command forwarded to it without decoding
//            it (stamp_time)
//   u8       credential kind (auth.h: none, token, certificate), then, unless
//            none, its value as bytes: the request's credential, judged when
//            the command is applied
//   u8       tag: the index of the alternative in Command
//   ...      the fields of that alternative, in declaration order: integers
//            as varints (signed ones zigzag), strings as length-prefixed
//            bytes, optionals as a presence byte then the value, vectors as a
//            count then elements, a variant as its index then its fields.
//            The znode commands (tags 19-25, issue 22) are encoded in
//            znode_command.cpp, the same way; a multi's ops without their
//            session. New alternatives need no new format version, but an
//            older build answers their tags invalid_argument: a member on it
//            would apply them differently, so whatever first proposes them
//            (the listener) must keep such members out (the peer protocol).
// Version 1 (before issue 19) has no credential: it decodes as none.
// Decoding checks every byte: an unknown version or tag, an enum out of
// range, a count larger than the bytes left, a negative time or trailing
// bytes make it fail with a message. It never allocates more than the
// payload's own size and never crashes. Meaning (names, TTL bounds, limits)
// is checked later, when the command is applied, because the answer to bad
// meaning is a Result with a status that every replica must agree on.
//
// Pure functions; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "lockservice/auth.h"
#include "lockservice/types.h"

namespace synod::lockservice {

inline constexpr uint8_t kCommandFormatVersion = 2;
inline constexpr uint8_t kCommandFormatVersionOldest = 1;
inline constexpr size_t kCommandHeaderBytes = 1 + 8;  // version + time_ms; the tag follows

// ---- sessions ----
struct CreateSession {
  int64_t ttl_ms = 0;         // [kTtlMsMin, kTtlMsMax]
  int64_t lock_delay_ms = 0;  // [0, kLockDelayMsMax]
  Behavior behavior = Behavior::release;
  bool operator==(const CreateSession&) const = default;
};
// A clean close: locks released without lock-delay, keys per the behavior.
struct DeleteSession {
  SessionId session = kNoSession;
  bool operator==(const DeleteSession&) const = default;
};
// The keeper's renewal checkpoint: the sessions that sent a keep-alive to the
// leader since its previous checkpoint. Each listed session's renewal is
// recorded at the checkpoint's log time. Ascending, no duplicates (encoded as
// deltas, so 10,000 renewals take about 20-30 KB).
struct RenewSessions {
  std::vector<SessionId> sessions;
  bool operator==(const RenewSessions&) const = default;
};
// The keeper's expiry. Refused (too_early) unless log time has reached the
// session's logged renewal + TTL.
struct ExpireSession {
  SessionId session = kNoSession;
  bool operator==(const ExpireSession&) const = default;
};

// ---- locks ----
struct Acquire {
  std::string lock;
  SessionId session = kNoSession;
  LockKind kind = LockKind::exclusive;  // must match the lock's kind if it exists
  Access access = Access::write;        // read: a reader of a shared lock
  uint32_t limit = 1;                   // semaphore permits; must match if the lock exists
  WaitMode wait = WaitMode::try_once;
  int64_t wait_ms = 0;                  // WaitMode::timeout: (0, kWaitMsMax]
  bool operator==(const Acquire&) const = default;
};
// Gives up a grant, or withdraws from the queue.
struct Release {
  std::string lock;
  SessionId session = kNoSession;
  bool operator==(const Release&) const = default;
};

enum class Space : uint8_t { key = 0, lock = 1, election = 2, session = 3 };
inline constexpr uint8_t kSpaceMax = 3;

// An administrator's release of a lock or an election's leadership. The
// holder's session records the loss with the reason. Unless skip_lock_delay,
// the holder's lock-delay applies: the loss is involuntary for the holder.
struct ForceRelease {
  Space space = Space::lock;  // lock or election
  std::string name;
  SessionId session = kNoSession;  // the holder to evict; kNoSession evicts every holder
  std::string reason;
  bool skip_lock_delay = false;
  bool operator==(const ForceRelease&) const = default;
};

// ---- elections ----
// Queues (FIFO) until the session leads; the leader's value is `value`.
struct Campaign {
  std::string election;
  SessionId session = kNoSession;
  std::string value;
  bool operator==(const Campaign&) const = default;
};
// A new value from the leader, guarded by the leader's token.
struct Proclaim {
  std::string election;
  FencingToken token = 0;
  std::string value;
  bool operator==(const Proclaim&) const = default;
};
// Leader steps down (the next candidate leads), or a candidate withdraws.
struct Resign {
  std::string election;
  SessionId session = kNoSession;
  bool operator==(const Resign&) const = default;
};

// ---- keys ----
// A write guard: `token` must be the current grant of `lock` and no older
// than the key's lock generation. An empty lock name means no fence.
struct Fence {
  std::string lock;
  FencingToken token = 0;
  bool operator==(const Fence&) const = default;
};
struct Put {
  std::string key;
  std::string value;
  SessionId session = kNoSession;  // ephemeral: owned by this session
  bool sequential = false;         // append a 20-digit zero-padded suffix (the put's revision)
  // Compare-and-set on the modify index: nullopt = unconditional, 0 = create
  // only, M = the key's modify index must be M.
  std::optional<Revision> cas;
  Fence fence;
  bool operator==(const Put&) const = default;
};
struct DeleteKey {
  std::string key;
  bool prefix = false;  // also every key under key + "/"
  std::optional<Revision> cas;  // as Put; with prefix, applies to `key` itself
  Fence fence;
  bool operator==(const DeleteKey&) const = default;
};

enum class GuardKind : uint8_t {
  version_equals = 0,      // key `name` exists with version `number`
  modify_index_equals = 1, // key `name` has modify index `number` (0: does not exist)
  exists = 2,              // key `name` exists
  missing = 3,             // key `name` does not exist
  holder = 4,              // `session` holds lock `name`
  session_alive = 5,       // `session` is alive
  token_current = 6,       // `number` is a current grant of lock `name`
};
inline constexpr uint8_t kGuardKindMax = 6;

struct Guard {
  GuardKind kind = GuardKind::exists;
  std::string name;
  uint64_t number = 0;
  SessionId session = kNoSession;
  bool operator==(const Guard&) const = default;
};
using TxnOp = std::variant<Put, DeleteKey>;
// All guards hold and every operation succeeds, or nothing changes.
struct Txn {
  std::vector<Guard> guards;
  std::vector<TxnOp> ops;
  bool operator==(const Txn&) const = default;
};

// One log entry that creates a session and, in it, acquires a lock or
// campaigns, so that one request takes a fenced lock (DESIGN §5:
// `POST /v1/locks/{name}?ttl=15s`) with one exactly-once record. The inner
// command's session field is ignored: the new session is used. All or
// nothing: if the acquire is neither granted nor queued (held, lock-delay,
// bad arguments, a limit), the session is ended again in the same command
// (a `created` then a `deleted` session event) and the result is the
// acquire's refusal. A granted or queued result names the new session.
struct CreateSessionAnd {
  CreateSession create;
  std::variant<Acquire, Campaign> then;
  bool operator==(const CreateSessionAnd&) const = default;
};

// ---- auth (auth.h); every one needs admin on the cluster space ----
// Turns auth on or off. On needs a root token to exist.
struct SetAuth {
  bool enabled = false;
  bool operator==(const SetAuth&) const = default;
};
// A token whose secret only its creator saw: the log holds its SHA-256. A
// root token is made only by the node itself (client id 0), and only while
// no root token exists: the first leader's bootstrap token.
struct CreateToken {
  std::string hash;
  std::string principal;
  std::vector<std::string> roles;
  bool root = false;
  bool operator==(const CreateToken&) const = default;
};
struct RevokeToken {
  uint64_t id = 0;
  bool operator==(const RevokeToken&) const = default;
};
struct PutRule {
  std::string subject;  // user:NAME or role:NAME
  AclSpace space = AclSpace::keys;
  std::string prefix;
  Permission permission = Permission::read;
  bool operator==(const PutRule&) const = default;
};
struct DeleteRule {
  uint64_t id = 0;
  bool operator==(const DeleteRule&) const = default;
};

// ---- the ZooKeeper namespace (znodes.cpp, znode_types.h; issue 22) ----
// Each acts for `session`, the synod session a ZooKeeper session maps to:
// if it is not kNoSession it must be live (else session_expired), and an
// ephemeral needs one. Versions are ZooKeeper's: -1 matches any.
struct ZnodeCreate {
  std::string path;  // a sequential create appends the parent's cversion, "%010d"
  std::string data;
  std::vector<ZnodeAcl> acl;  // as sent; fixed up (znode_fix_acl) when applied
  ZnodeMode mode = ZnodeMode::persistent;
  SessionId session = kNoSession;
  ZnodeIds ids;  // who the request acts as (znode_types.h)
  bool operator==(const ZnodeCreate&) const = default;
};
struct ZnodeDelete {
  std::string path;
  int32_t version = -1;
  SessionId session = kNoSession;
  ZnodeIds ids;
  bool operator==(const ZnodeDelete&) const = default;
};
struct ZnodeSetData {
  std::string path;
  std::string data;
  int32_t version = -1;
  SessionId session = kNoSession;
  ZnodeIds ids;
  bool operator==(const ZnodeSetData&) const = default;
};
// Changes nothing: the znode exists with `version` (-1: any).
struct ZnodeCheck {
  std::string path;
  int32_t version = -1;
  SessionId session = kNoSession;
  ZnodeIds ids;
  bool operator==(const ZnodeCheck&) const = default;
};
// Inside a multi an op's own session and ids are not encoded: the multi's
// act for every op. Tags of the ops on the wire: their index here.
using ZnodeOp = std::variant<ZnodeCreate, ZnodeDelete, ZnodeSetData, ZnodeCheck>;
// All ops apply, in order and at one revision, or none does (ZooKeeper's
// multi): the result has one ZnodeOpResult per op.
struct ZnodeMulti {
  std::vector<ZnodeOp> ops;
  SessionId session = kNoSession;
  ZnodeIds ids;
  bool operator==(const ZnodeMulti&) const = default;
};
// setACL: replaces the ACL if `version` (-1: any) is the aversion, and
// raises the aversion. Fires no watch, as ZooKeeper's does not.
struct ZnodeSetAcl {
  std::string path;
  std::vector<ZnodeAcl> acl;
  int32_t version = -1;
  SessionId session = kNoSession;
  ZnodeIds ids;
  bool operator==(const ZnodeSetAcl&) const = default;
};

// The cluster's own housekeeping, never a client's: the leader's container
// reaper (container_reaper.h) proposes it, as ZooKeeper's ContainerManager
// proposes deleteContainer. Deletes `path` only if it is still a container
// with no children that once had one (its creates are above 0), as a delete
// does (its events, the parent's pzxid); otherwise it changes nothing and
// answers why (no_node, not_empty, bad_arguments). No session and no ACL are
// judged. Neither the REST API nor the ZooKeeper listener builds it, and the
// state machine refuses it from a client (client id not 0).
struct ZnodeReapContainer {
  std::string path;
  bool operator==(const ZnodeReapContainer&) const = default;
};

// Tags are the index in this list and are on the wire: append only.
using Command =
    std::variant<CreateSession, DeleteSession, RenewSessions, ExpireSession, Acquire, Release, ForceRelease, Campaign,
                 Proclaim, Resign, Put, DeleteKey, Txn, CreateSessionAnd, SetAuth, CreateToken, RevokeToken, PutRule,
                 DeleteRule, ZnodeCreate, ZnodeDelete, ZnodeSetData, ZnodeCheck, ZnodeMulti, ZnodeSetAcl,
                 ZnodeReapContainer>;

// Encodes `command` with `time_ms` and the request's credential in the header.
std::string encode(const Command& command, int64_t time_ms, const Credential& credential = {});

// Overwrites the time in an encoded payload: the leader stamps a command
// just before it proposes it. Asserts that `payload` has a command header.
void stamp_time(std::string& payload, int64_t time_ms);

struct Decoded {
  bool ok = false;
  const char* error = "";  // a static string when !ok
  int64_t time_ms = 0;
  Credential credential;
  Command command;
};
Decoded decode(std::string_view payload);

const char* command_name(const Command& command);

// The tag of an encoded command (its index in Command) without decoding it,
// or 0xff if the header is malformed: the node spots the rare commands it
// reports on with it.
uint8_t command_tag(std::string_view payload);

}  // namespace synod::lockservice
