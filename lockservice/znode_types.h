// The vocabulary of the ZooKeeper namespace (issue 22): error codes, create
// modes, ACL entries, the Stat of a znode, the watch events a change fires,
// the views the reads return, and the namespace's bounds.
//
// The numbers of ZkError, ZnodeMode and ZnodeEventType are ZooKeeper's own
// (KeeperException.Code, CreateMode, Watcher.Event.EventType), so a listener
// puts them on the wire as they are; test_znodes.cpp checks them against
// zookeeper/records.h, which lockservice/ may not include (layering).
//
// Revisions and session ids are uint64_t here, as in types.h (which includes
// this file before it defines its aliases).
//
// Plain data, no thread affinity.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace synod::lockservice {

// KeeperException.Code: the ones the namespace answers.
enum class ZkError : int32_t {
  ok = 0,
  runtime_inconsistency = -2,  // a multi's op after the one that failed
  bad_arguments = -8,          // a bad path, data or ACL too large, a special node deleted
  no_node = -101,
  no_auth = -102,  // the znode's ACL does not allow the op to the request's ids
  bad_version = -103,
  no_children_for_ephemerals = -108,
  node_exists = -110,
  not_empty = -111,
  session_expired = -112,  // the request's session is not live (or an ephemeral without one)
  invalid_acl = -114,      // an empty ACL, an unknown scheme, a bad id, or "auth" with no ids to give
  quota_exceeded = -125,   // a count or byte bound of the namespace (ZnodeLimits)
};
// ZooKeeper's name in lower camel case ("noNode"); "unknown" otherwise.
const char* zk_error_name(ZkError error);
// Whether `number` is one of the ZkError values above.
bool is_zk_error(int32_t number);

// CreateMode, without the TTL modes (5 and 6): ZooKeeper refuses those
// unless extended types are enabled, and so does the listener (unimplemented).
enum class ZnodeMode : uint8_t {
  persistent = 0,
  ephemeral = 1,
  persistent_sequential = 2,
  ephemeral_sequential = 3,
  container = 4,
};
inline constexpr uint8_t kZnodeModeMax = 4;
constexpr bool is_ephemeral(ZnodeMode mode) {
  return mode == ZnodeMode::ephemeral || mode == ZnodeMode::ephemeral_sequential;
}
constexpr bool is_sequential(ZnodeMode mode) {
  return mode == ZnodeMode::persistent_sequential || mode == ZnodeMode::ephemeral_sequential;
}

// ZooDefs.Perms: the bits of an ACL entry's perms.
inline constexpr int32_t kZnodePermRead = 1 << 0;    // getData, getChildren, getACL (or admin), check
inline constexpr int32_t kZnodePermWrite = 1 << 1;   // setData
inline constexpr int32_t kZnodePermCreate = 1 << 2;  // create a child
inline constexpr int32_t kZnodePermDelete = 1 << 3;  // delete a child
inline constexpr int32_t kZnodePermAdmin = 1 << 4;   // setACL
inline constexpr int32_t kZnodePermAll = 31;

// One ACL entry, as the znode keeps it: after the "auth" scheme is
// expanded (znode_acl.cpp).
struct ZnodeAcl {
  int32_t perms = 0;   // ZooDefs.Perms bits
  std::string scheme;  // "world", "digest", ...
  std::string id;
  bool operator==(const ZnodeAcl&) const = default;
};
inline constexpr size_t kZnodeAclEntriesMax = 64;
inline constexpr size_t kZnodeAclTextBytesMax = 1024;  // a scheme and an id together

// Who a ZooKeeper request acts as: its connection's identities, such as
// ("ip", "127.0.0.1") and, after addauth digest, ("digest",
// "user:base64(sha1(user:password))"). Every znode command carries them, so
// that the ACL is judged where the command applies, the same on every
// replica. world:anyone needs none.
struct ZnodeId {
  std::string scheme;
  std::string id;
  bool operator==(const ZnodeId&) const = default;
};
using ZnodeIds = std::vector<ZnodeId>;
inline constexpr size_t kZnodeIdsMax = 16;

// ZooKeeper's checkACL: whether an entry of `acl` grants any bit of `perms`
// to `ids` (world:anyone, an equal digest id, an ip id whose address or
// network holds the request's ip). An empty ACL allows everything.
bool znode_acl_allows(const std::vector<ZnodeAcl>& acl, const ZnodeIds& ids, int32_t perms);
// ZooKeeper's fixupACL: refuses an empty ACL, an unknown scheme (world,
// digest and ip are known) or a bad id, expands each "auth" entry into one
// per digest id of `ids` (none: refused), and drops duplicates. Empty if
// valid, else why (invalid_acl).
std::string znode_fix_acl(std::vector<ZnodeAcl>& acl, const ZnodeIds& ids);

// ZooKeeper's Stat, field for field and in its order. The zxids are synod
// revisions (types.h): the revision of the command that made the change.
// Times are log time (types.h), in ms: the stamped time of that command,
// which is not a wall clock.
struct ZnodeStat {
  uint64_t czxid = 0;  // created
  uint64_t mzxid = 0;  // data last set
  int64_t ctime_ms = 0;
  int64_t mtime_ms = 0;
  int32_t version = 0;           // of the data
  int32_t cversion = 0;          // changes to the children (creates and deletes)
  int32_t aversion = 0;          // of the ACL
  uint64_t ephemeral_owner = 0;  // the owning session of an ephemeral, else 0 (containers too)
  int32_t data_length = 0;
  int32_t num_children = 0;
  uint64_t pzxid = 0;  // children last changed
  bool operator==(const ZnodeStat&) const = default;
};

// One op's result: a single command's, or one of a multi's.
struct ZnodeOpResult {
  ZkError error = ZkError::ok;
  std::string path;  // create: the znode created (with its sequence suffix)
  ZnodeStat stat;    // create and set_data: the znode's Stat after the op
  bool operator==(const ZnodeOpResult&) const = default;
};

// Watcher.Event.EventType, the four a change fires.
enum class ZnodeEventType : int32_t {
  node_created = 1,
  node_deleted = 2,
  node_data_changed = 3,
  node_children_changed = 4,
};
const char* znode_event_type_name(ZnodeEventType type);

// A change to the namespace, as ZooKeeper's DataTree triggers watches: a
// create fires node_created (path) then node_children_changed (parent); a
// delete node_deleted (path) then node_children_changed (parent); a set_data
// node_data_changed (path). A multi fires its ops' events in op order, and
// only if it succeeds.
struct ZnodeEvent {
  ZnodeEventType type = ZnodeEventType::node_created;
  std::string path;
  uint64_t revision = 0;  // the command's: the zxid of the change
  bool operator==(const ZnodeEvent&) const = default;
};
using ZnodeEvents = std::vector<ZnodeEvent>;

// ---- reads ----
struct ZnodeView {
  std::string path;
  std::string data;
  std::vector<ZnodeAcl> acl;
  ZnodeStat stat;
};
struct ZnodeChildren {
  std::vector<std::string> children;  // names, not paths, in byte order
  ZnodeStat stat;                     // the parent's
  std::vector<ZnodeAcl> acl;          // the parent's, for the reader's READ check
};

// ---- bounds (STYLE §7) ----
// They decide results, so they are part of Config and of its digest. The
// server sets no flag for them yet: every member runs these defaults.
struct ZnodeLimits {
  size_t znodes_max = size_t{1} << 22;            // znodes, the four ZooKeeper starts with included
  size_t path_bytes_max = 4096;                   // a znode's path, with its sequence suffix
  size_t data_bytes_max = (size_t{1} << 20) - 1;  // ZooKeeper's jute.maxbuffer default; also a multi's total
  size_t children_max = size_t{1} << 20;          // children of one znode
  size_t store_bytes_max = size_t{1} << 30;       // every path, data and ACL together
  size_t multi_ops_max = 1024;                    // ops in one multi
};

// The sequence suffix's width: ZooKeeper's "%010d" of the parent's cversion.
inline constexpr size_t kZnodeSequenceDigits = 10;

// ZooKeeper's PathUtils.validatePath on a path's bytes (UTF-8): it starts
// with '/', is "/" or has no trailing '/', no empty segment, no "." or ".."
// segment, no '\0' and no character ZooKeeper refuses (U+0001-U+001F,
// U+007F-U+009F, U+D800-U+F8FF, U+FFF0-U+FFFF, and any above U+FFFF, which
// Java holds as surrogates); bytes that are not UTF-8 are refused too. The
// length is a limit, checked apart. Empty if valid, else why.
std::string znode_path_problem(std::string_view path);

}  // namespace synod::lockservice
