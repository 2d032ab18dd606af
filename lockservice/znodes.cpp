// The ZooKeeper namespace (issue 22): znodes with ZooKeeper's rules, Stats
// and watch events, applied from the log like everything else here.
//
// The rules are ZooKeeper's PrepRequestProcessor and DataTree (read at
// 53a78e36, 3.10.0-SNAPSHOT):
//   - "/" and "/zookeeper", "/zookeeper/quota", "/zookeeper/config" exist from
//     the start, with zeroed Stats and empty data (ZooKeeper's DataTree
//     constructor; config with aversion -1 and a read-only ACL); none of the
//     four may be deleted (bad_arguments).
//   - A create needs its parent (no_node), a free name (node_exists) and a
//     parent that is not ephemeral (no_children_for_ephemerals); it raises
//     the parent's persisted cversion (the creates under it) and sets its
//     pzxid. A sequential create appends that persisted cversion, before the
//     raise, as "%010d". The Stat reports cversion as 2 * creates - children
//     (DataNode.copyStat): every child that is not there was deleted.
//   - A delete needs the znode (no_node), the version (-1: any; bad_version)
//     and no children (not_empty); it sets the parent's pzxid.
//   - setData raises the version (past INT_MAX it wraps, and -1 becomes 0:
//     ZOOKEEPER-4743) and sets mzxid and mtime.
//   - A multi applies its ops in order; the first that fails undoes the ones
//     before it, and the results are: ok for the ops before it, its error,
//     runtime_inconsistency for the ops after it (DataTree.processTxn).
// Where this differs: a path is checked whole first (ZooKeeper's client does
// that before it sends; its server checks parts, and may answer no_node for
// "/a//b"); bounds (ZnodeLimits) answer bad_arguments for sizes and
// quota_exceeded for counts and bytes, where ZooKeeper has only
// jute.maxbuffer and closes the connection; ctime and mtime are log time.
// Containers are kept as containers (ephemeralOwner reads 0, as ZooKeeper
// reports); the leader reaps them (znode_containers.cpp).
#include <algorithm>
#include <cstdio>
#include <type_traits>

#include "base/assert.h"
#include "lockservice/machine.h"

namespace synod::lockservice {

const char* zk_error_name(ZkError error) {
  switch (error) {
    case ZkError::ok:
      return "ok";
    case ZkError::runtime_inconsistency:
      return "runtimeInconsistency";
    case ZkError::bad_arguments:
      return "badArguments";
    case ZkError::no_node:
      return "noNode";
    case ZkError::bad_version:
      return "badVersion";
    case ZkError::no_children_for_ephemerals:
      return "noChildrenForEphemerals";
    case ZkError::node_exists:
      return "nodeExists";
    case ZkError::not_empty:
      return "notEmpty";
    case ZkError::session_expired:
      return "sessionExpired";
    case ZkError::no_auth:
      return "noAuth";
    case ZkError::invalid_acl:
      return "invalidACL";
    case ZkError::quota_exceeded:
      return "quotaExceeded";
  }
  return "unknown";
}

bool is_zk_error(int32_t number) { return std::string_view(zk_error_name(static_cast<ZkError>(number))) != "unknown"; }

const char* znode_event_type_name(ZnodeEventType type) {
  switch (type) {
    case ZnodeEventType::node_created:
      return "NodeCreated";
    case ZnodeEventType::node_deleted:
      return "NodeDeleted";
    case ZnodeEventType::node_data_changed:
      return "NodeDataChanged";
    case ZnodeEventType::node_children_changed:
      return "NodeChildrenChanged";
  }
  return "unknown";
}

namespace {

// The code point at `at` of strict UTF-8 (no overlong form, no surrogate,
// nothing past U+10FFFF), and its length; length 0 if the bytes are not.
struct CodePoint {
  uint32_t value = 0;
  size_t length = 0;
};
CodePoint decode_utf8(std::string_view text, size_t at) {
  const auto byte = [&](size_t i) { return static_cast<uint8_t>(text[i]); };
  const uint8_t lead = byte(at);
  if (lead < 0x80) return {lead, 1};
  size_t length = 0;
  uint32_t value = 0;
  uint32_t least = 0;
  if ((lead & 0xe0) == 0xc0) {
    length = 2, value = lead & 0x1f, least = 0x80;
  } else if ((lead & 0xf0) == 0xe0) {
    length = 3, value = lead & 0x0f, least = 0x800;
  } else if ((lead & 0xf8) == 0xf0) {
    length = 4, value = lead & 0x07, least = 0x10000;
  } else {
    return {};
  }
  if (at + length > text.size()) return {};
  for (size_t i = 1; i < length; ++i) {
    if ((byte(at + i) & 0xc0) != 0x80) return {};
    value = value << 6 | (byte(at + i) & 0x3f);
  }
  if (value < least || value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff)) return {};
  return {value, length};
}

// The characters PathUtils.validatePath refuses (Java chars: a code point
// above U+FFFF is a surrogate pair there).
bool refused_character(uint32_t c) {
  return (c >= 0x01 && c <= 0x1f) || (c >= 0x7f && c <= 0x9f) || (c >= 0xd800 && c <= 0xf8ff) ||
         (c >= 0xfff0 && c <= 0xffff) || c > 0xffff;
}

bool special_path(std::string_view path) {
  return path == "/" || path == "/zookeeper" || path == "/zookeeper/quota" || path == "/zookeeper/config";
}

// "/a/b" -> "/a"; "/a" -> "/". The path has a '/' after its first byte or
// none; "/" has no parent.
std::string_view parent_of(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == 0 ? std::string_view("/") : path.substr(0, slash);
}
std::string_view name_of(std::string_view path) { return path.substr(path.rfind('/') + 1); }

// Java int arithmetic: wraps.
int32_t wrapping_add(int32_t a, int64_t b) { return static_cast<int32_t>(static_cast<uint32_t>(a + b)); }

// PrepRequestProcessor.checkAndIncVersion's new version.
int32_t next_version(int32_t version) {
  const int32_t next = wrapping_add(version, 1);
  return next == -1 ? 0 : next;
}

}  // namespace

std::string znode_path_problem(std::string_view path) {
  if (path.empty() || path.front() != '/') return "a znode path starts with '/'";
  if (path.size() == 1) return {};
  if (path.back() == '/') return "a znode path does not end with '/'";
  size_t start = 1;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    const std::string_view segment = path.substr(start, end - start);
    if (segment.empty()) return "a znode path has no empty segment";
    if (segment == "." || segment == "..") return "a znode path has no '.' or '..' segment";
    start = end + 1;
  }
  for (size_t at = 0; at < path.size();) {
    if (path[at] == '\0') return "a znode path has no null character";
    const CodePoint c = decode_utf8(path, at);
    if (c.length == 0) return "a znode path is UTF-8";
    if (refused_character(c.value)) return "a znode path has a character ZooKeeper refuses";
    at += c.length;
  }
  return {};
}

namespace detail {
namespace {

size_t acl_bytes(const std::vector<ZnodeAcl>& acl) {
  size_t bytes = 0;
  for (const ZnodeAcl& entry : acl) bytes += sizeof(entry.perms) + entry.scheme.size() + entry.id.size();
  return bytes;
}
size_t znode_bytes(std::string_view path, const Znode& node) {
  return path.size() + node.data.size() + acl_bytes(node.acl);
}

Status status_of(ZkError error) {
  switch (error) {
    case ZkError::ok:
      return Status::ok;
    case ZkError::no_node:
      return Status::not_found;
    case ZkError::node_exists:
    case ZkError::not_empty:
    case ZkError::no_children_for_ephemerals:
      return Status::conflict;
    case ZkError::bad_version:
      return Status::guard_failed;
    case ZkError::session_expired:
      return Status::session_expired;
    case ZkError::no_auth:
      return Status::permission_denied;
    case ZkError::quota_exceeded:
      return Status::limit_exceeded;
    case ZkError::runtime_inconsistency:
    case ZkError::bad_arguments:
    case ZkError::invalid_acl:
      return Status::invalid_argument;
  }
  return Status::invalid_argument;
}

ZnodeOutcome refused(ZkError error, std::string message, Status status = Status::ok) {
  ZnodeOutcome outcome;
  outcome.result.error = error;
  outcome.status = status == Status::ok ? status_of(error) : status;
  outcome.message = std::move(message);
  return outcome;
}

std::string version_message(std::string_view path, int32_t expected, int32_t actual) {
  return "znode " + std::string(path) + " has version " + std::to_string(actual) + ", not " + std::to_string(expected);
}

ZnodeUndo undo_of(ZnodeUndo::Kind kind, const std::string& path) {
  ZnodeUndo undo;
  undo.kind = kind;
  undo.path = path;
  return undo;
}

}  // namespace

// ---- the tree ----
void Machine::init_znodes() {
  znodes_.clear();
  ephemerals_.clear();
  reapable_.clear();
  znode_bytes_ = 0;
  const std::vector<ZnodeAcl> open{ZnodeAcl{31, "world", "anyone"}};  // ZooDefs.Ids.OPEN_ACL_UNSAFE
  Znode root;
  root.acl = open;
  insert_znode("/", root);
  insert_znode("/zookeeper", root);
  insert_znode("/zookeeper/quota", root);
  Znode config;
  config.acl = {ZnodeAcl{1, "world", "anyone"}};  // READ_ACL_UNSAFE, set with version -1
  config.aversion = -1;
  insert_znode("/zookeeper/config", config);
}

void Machine::insert_znode(const std::string& path, Znode node) {
  SYNOD_ASSERT(node.children.empty());
  znode_bytes_ += znode_bytes(path, node);
  if (node.kind == ZnodeKind::ephemeral) ephemerals_[node.owner].insert(path);
  const auto [it, inserted] = znodes_.emplace(path, std::move(node));
  SYNOD_ASSERT_MSG(inserted, "a znode is created once");
  note_container(path, it->second);  // a multi's undo puts back a reapable one
  if (path == "/") return;
  auto parent = znodes_.find(parent_of(path));
  SYNOD_ASSERT_MSG(parent != znodes_.end(), "a znode's parent exists");
  parent->second.children.emplace(name_of(path));
  note_container(parent->first, parent->second);
}

Znode Machine::erase_znode(const std::string& path) {
  auto it = znodes_.find(path);
  SYNOD_ASSERT(it != znodes_.end() && it->second.children.empty() && path != "/");
  Znode node = std::move(it->second);
  znodes_.erase(it);
  znode_bytes_ -= znode_bytes(path, node);
  if (node.kind == ZnodeKind::ephemeral) {
    auto owned = ephemerals_.find(node.owner);
    SYNOD_ASSERT(owned != ephemerals_.end());
    owned->second.erase(path);
    if (owned->second.empty()) ephemerals_.erase(owned);
  }
  if (node.kind == ZnodeKind::container) reapable_.erase(path);
  auto parent = znodes_.find(parent_of(path));
  parent->second.children.erase(std::string(name_of(path)));
  note_container(parent->first, parent->second);
  return node;
}

void Machine::note_undo(ZnodeUndo undo) {
  if (znode_undo_ != nullptr) znode_undo_->push_back(std::move(undo));
}

void Machine::fire(ZnodeEventType type, std::string_view path) {
  if (fired_ != nullptr) fired_->push_back(ZnodeEvent{type, std::string(path), revision_});
}

ZnodeStat Machine::znode_stat_of(const Znode& node) const {
  ZnodeStat stat;
  stat.czxid = node.czxid;
  stat.mzxid = node.mzxid;
  stat.ctime_ms = node.ctime_ms;
  stat.mtime_ms = node.mtime_ms;
  stat.version = node.version;
  const auto children = static_cast<int64_t>(node.children.size());
  stat.cversion = wrapping_add(node.creates, int64_t{node.creates} - children);
  stat.aversion = node.aversion;
  stat.ephemeral_owner = node.kind == ZnodeKind::ephemeral ? node.owner : kNoSession;
  stat.data_length = static_cast<int32_t>(node.data.size());
  stat.num_children = static_cast<int32_t>(children);
  stat.pzxid = node.pzxid;
  return stat;
}

// ZooKeeper checks the session of every request; an ephemeral needs one.
ZnodeOutcome Machine::znode_session_problem(SessionId session, bool ephemeral) const {
  if (session == kNoSession && ephemeral)
    return refused(ZkError::session_expired, "an ephemeral znode needs a session");
  if (session != kNoSession && find_session(session) == nullptr)
    return refused(ZkError::session_expired, "no such session (expired or deleted)");
  return {};
}

// ---- the ops ----
ZnodeOutcome Machine::create_op(const ZnodeCreate& c, SessionId session, const ZnodeIds& ids) {
  const ZnodeLimits& z = config_.znodes;
  if (ZnodeOutcome o = znode_session_problem(session, is_ephemeral(c.mode)); o.result.error != ZkError::ok) return o;
  const bool sequential = is_sequential(c.mode);
  // PathUtils.validatePath(path, sequential): the suffix is digits.
  if (const std::string why = znode_path_problem(sequential ? c.path + "0" : c.path); !why.empty())
    return refused(ZkError::bad_arguments, why);
  if (c.data.size() > z.data_bytes_max)
    return refused(ZkError::bad_arguments, "znode data is larger than " + std::to_string(z.data_bytes_max) + " bytes",
                   Status::too_large);
  if (c.acl.size() > kZnodeAclEntriesMax)
    return refused(ZkError::bad_arguments, "an ACL has at most " + std::to_string(kZnodeAclEntriesMax) + " entries",
                   Status::too_large);
  for (const ZnodeAcl& entry : c.acl) {
    if (entry.scheme.size() + entry.id.size() > kZnodeAclTextBytesMax)
      return refused(ZkError::bad_arguments, "an ACL entry is too long", Status::too_large);
  }
  if (c.path == "/" && !sequential) return refused(ZkError::node_exists, "znode / exists");
  std::vector<ZnodeAcl> acl = c.acl;
  if (const std::string why = znode_fix_acl(acl, ids); !why.empty()) return refused(ZkError::invalid_acl, why);
  // The parent of "/a/" (sequential) is "/a".
  const size_t slash = c.path.rfind('/');
  const std::string parent_path = slash == 0 ? "/" : c.path.substr(0, slash);
  auto parent = znodes_.find(parent_path);
  if (parent == znodes_.end()) return refused(ZkError::no_node, "no znode " + parent_path + " to create under");
  if (!znode_acl_allows(parent->second.acl, ids, kZnodePermCreate))
    return refused(ZkError::no_auth, "the ACL of " + parent_path + " does not allow create");
  std::string path = c.path;
  if (sequential) {
    char suffix[16];
    std::snprintf(suffix, sizeof suffix, "%010d", parent->second.creates);
    path += suffix;
  }
  if (path.size() > z.path_bytes_max)
    return refused(ZkError::bad_arguments, "a znode path is longer than " + std::to_string(z.path_bytes_max) + " bytes",
                   Status::too_large);
  if (znodes_.count(path) != 0) return refused(ZkError::node_exists, "znode " + path + " exists");
  if (parent->second.kind == ZnodeKind::ephemeral)
    return refused(ZkError::no_children_for_ephemerals, "znode " + parent_path + " is ephemeral");
  if (znodes_.size() >= z.znodes_max) return refused(ZkError::quota_exceeded, "too many znodes");
  if (parent->second.children.size() >= z.children_max)
    return refused(ZkError::quota_exceeded, "znode " + parent_path + " has too many children");
  Znode node;
  node.data = c.data;
  node.acl = std::move(acl);
  node.czxid = node.mzxid = node.pzxid = revision_;
  node.ctime_ms = node.mtime_ms = log_time_ms_;
  node.kind = is_ephemeral(c.mode)             ? ZnodeKind::ephemeral
              : c.mode == ZnodeMode::container ? ZnodeKind::container
                                               : ZnodeKind::persistent;
  node.owner = node.kind == ZnodeKind::ephemeral ? session : kNoSession;
  if (znode_bytes_ + znode_bytes(path, node) > z.store_bytes_max)
    return refused(ZkError::quota_exceeded, "the znode space is full");

  ZnodeUndo undo = undo_of(ZnodeUndo::Kind::parent_changed, parent_path);
  undo.creates = parent->second.creates;
  undo.pzxid = parent->second.pzxid;
  note_undo(std::move(undo));
  parent->second.creates = wrapping_add(parent->second.creates, 1);
  parent->second.pzxid = revision_;
  insert_znode(path, std::move(node));
  note_undo(undo_of(ZnodeUndo::Kind::created, path));
  fire(ZnodeEventType::node_created, path);
  fire(ZnodeEventType::node_children_changed, parent_path);
  ZnodeOutcome outcome;
  outcome.result.stat = znode_stat_of(znodes_.at(path));
  outcome.result.path = std::move(path);
  return outcome;
}

ZnodeOutcome Machine::delete_op(const ZnodeDelete& c, SessionId session, const ZnodeIds& ids) {
  if (ZnodeOutcome o = znode_session_problem(session, false); o.result.error != ZkError::ok) return o;
  if (const std::string why = znode_path_problem(c.path); !why.empty()) return refused(ZkError::bad_arguments, why);
  if (special_path(c.path)) return refused(ZkError::bad_arguments, "znode " + c.path + " is ZooKeeper's own");
  // ZooKeeper judges the parent's ACL before it looks for the znode.
  if (auto up = znodes_.find(parent_of(c.path)); up != znodes_.end()) {
    if (!znode_acl_allows(up->second.acl, ids, kZnodePermDelete))
      return refused(ZkError::no_auth, "the ACL of " + up->first + " does not allow delete");
  }
  auto it = znodes_.find(c.path);
  if (it == znodes_.end()) return refused(ZkError::no_node, "no znode " + c.path);
  const Znode& node = it->second;
  if (c.version != -1 && c.version != node.version)
    return refused(ZkError::bad_version, version_message(c.path, c.version, node.version));
  if (!node.children.empty()) return refused(ZkError::not_empty, "znode " + c.path + " has children");
  const std::string parent_path(parent_of(c.path));
  Znode& parent = znodes_.at(parent_path);
  ZnodeUndo undo = undo_of(ZnodeUndo::Kind::parent_changed, parent_path);
  undo.creates = parent.creates;
  undo.pzxid = parent.pzxid;
  note_undo(std::move(undo));
  parent.pzxid = revision_;
  Znode gone = erase_znode(c.path);
  if (znode_undo_ != nullptr) {
    ZnodeUndo deleted = undo_of(ZnodeUndo::Kind::deleted, c.path);
    deleted.node = std::move(gone);
    note_undo(std::move(deleted));
  }
  fire(ZnodeEventType::node_deleted, c.path);
  fire(ZnodeEventType::node_children_changed, parent_path);
  return {};
}

ZnodeOutcome Machine::set_data_op(const ZnodeSetData& c, SessionId session, const ZnodeIds& ids) {
  const ZnodeLimits& z = config_.znodes;
  if (ZnodeOutcome o = znode_session_problem(session, false); o.result.error != ZkError::ok) return o;
  if (const std::string why = znode_path_problem(c.path); !why.empty()) return refused(ZkError::bad_arguments, why);
  if (c.data.size() > z.data_bytes_max)
    return refused(ZkError::bad_arguments, "znode data is larger than " + std::to_string(z.data_bytes_max) + " bytes",
                   Status::too_large);
  auto it = znodes_.find(c.path);
  if (it == znodes_.end()) return refused(ZkError::no_node, "no znode " + c.path);
  Znode& node = it->second;
  if (!znode_acl_allows(node.acl, ids, kZnodePermWrite))
    return refused(ZkError::no_auth, "the ACL of " + c.path + " does not allow setData");
  if (c.version != -1 && c.version != node.version)
    return refused(ZkError::bad_version, version_message(c.path, c.version, node.version));
  if (znode_bytes_ - node.data.size() + c.data.size() > z.store_bytes_max)
    return refused(ZkError::quota_exceeded, "the znode space is full");
  if (znode_undo_ != nullptr) {
    ZnodeUndo undo = undo_of(ZnodeUndo::Kind::data_set, c.path);
    undo.data = node.data;
    undo.mzxid = node.mzxid;
    undo.mtime_ms = node.mtime_ms;
    undo.version = node.version;
    note_undo(std::move(undo));
  }
  znode_bytes_ = znode_bytes_ - node.data.size() + c.data.size();
  node.data = c.data;
  node.mzxid = revision_;
  node.mtime_ms = log_time_ms_;
  node.version = next_version(node.version);
  fire(ZnodeEventType::node_data_changed, c.path);
  ZnodeOutcome outcome;
  outcome.result.stat = znode_stat_of(node);
  return outcome;
}

ZnodeOutcome Machine::check_op(const ZnodeCheck& c, SessionId session, const ZnodeIds& ids) {
  if (ZnodeOutcome o = znode_session_problem(session, false); o.result.error != ZkError::ok) return o;
  if (const std::string why = znode_path_problem(c.path); !why.empty()) return refused(ZkError::bad_arguments, why);
  auto it = znodes_.find(c.path);
  if (it == znodes_.end()) return refused(ZkError::no_node, "no znode " + c.path);
  if (!znode_acl_allows(it->second.acl, ids, kZnodePermRead))
    return refused(ZkError::no_auth, "the ACL of " + c.path + " does not allow read");
  if (c.version != -1 && c.version != it->second.version)
    return refused(ZkError::bad_version, version_message(c.path, c.version, it->second.version));
  return {};
}

// PrepRequestProcessor's setACL: the ACL fixed up first, then the znode,
// its ADMIN permission and the aversion. No watch fires and mzxid stays.
ZnodeOutcome Machine::set_acl_op(const ZnodeSetAcl& c) {
  if (ZnodeOutcome o = znode_session_problem(c.session, false); o.result.error != ZkError::ok) return o;
  if (const std::string why = znode_path_problem(c.path); !why.empty()) return refused(ZkError::bad_arguments, why);
  if (c.acl.size() > kZnodeAclEntriesMax)
    return refused(ZkError::bad_arguments, "an ACL has at most " + std::to_string(kZnodeAclEntriesMax) + " entries",
                   Status::too_large);
  for (const ZnodeAcl& entry : c.acl) {
    if (entry.scheme.size() + entry.id.size() > kZnodeAclTextBytesMax)
      return refused(ZkError::bad_arguments, "an ACL entry is too long", Status::too_large);
  }
  std::vector<ZnodeAcl> acl = c.acl;
  if (const std::string why = znode_fix_acl(acl, c.ids); !why.empty()) return refused(ZkError::invalid_acl, why);
  auto it = znodes_.find(c.path);
  if (it == znodes_.end()) return refused(ZkError::no_node, "no znode " + c.path);
  Znode& node = it->second;
  if (!znode_acl_allows(node.acl, c.ids, kZnodePermAdmin))
    return refused(ZkError::no_auth, "the ACL of " + c.path + " does not allow setACL");
  if (c.version != -1 && c.version != node.aversion)
    return refused(ZkError::bad_version, "znode " + c.path + " has ACL version " + std::to_string(node.aversion) +
                                             ", not " + std::to_string(c.version));
  const size_t before = znode_bytes(it->first, node);
  std::swap(node.acl, acl);
  const size_t after = znode_bytes(it->first, node);
  if (znode_bytes_ - before + after > config_.znodes.store_bytes_max) {
    std::swap(node.acl, acl);  // the old one back
    return refused(ZkError::quota_exceeded, "the znode space is full");
  }
  znode_bytes_ = znode_bytes_ - before + after;
  node.aversion = next_version(node.aversion);
  ZnodeOutcome outcome;
  outcome.result.stat = znode_stat_of(node);
  return outcome;
}

// ---- the commands ----
namespace {
Result result_of(ZnodeOutcome outcome) {
  Result result;
  result.status = outcome.status;
  result.message = std::move(outcome.message);
  result.zk_error = outcome.result.error;
  result.znodes.push_back(std::move(outcome.result));
  return result;
}
}  // namespace

Result Machine::znode_create(const ZnodeCreate& c) { return result_of(create_op(c, c.session, c.ids)); }
Result Machine::znode_delete(const ZnodeDelete& c) { return result_of(delete_op(c, c.session, c.ids)); }
Result Machine::znode_set_data(const ZnodeSetData& c) { return result_of(set_data_op(c, c.session, c.ids)); }
Result Machine::znode_check(const ZnodeCheck& c) { return result_of(check_op(c, c.session, c.ids)); }
Result Machine::znode_set_acl(const ZnodeSetAcl& c) { return result_of(set_acl_op(c)); }

Result Machine::znode_multi(const ZnodeMulti& c) {
  const ZnodeLimits& z = config_.znodes;
  Result result;
  // Refused whole, like a ZooKeeper request past jute.maxbuffer.
  size_t data_bytes = 0;
  for (const ZnodeOp& op : c.ops) {
    if (const auto* create = std::get_if<ZnodeCreate>(&op)) data_bytes += create->data.size();
    if (const auto* set = std::get_if<ZnodeSetData>(&op)) data_bytes += set->data.size();
  }
  if (c.ops.size() > z.multi_ops_max || data_bytes > z.data_bytes_max) {
    result = fail(Status::too_large, "a multi has at most " + std::to_string(z.multi_ops_max) + " ops and " +
                                         std::to_string(z.data_bytes_max) + " bytes of data");
    result.zk_error = ZkError::bad_arguments;
    return result;
  }
  SYNOD_ASSERT(znode_undo_ == nullptr);
  std::vector<ZnodeUndo> undo;
  znode_undo_ = &undo;
  const size_t fired_mark = fired_ == nullptr ? 0 : fired_->size();
  for (size_t i = 0; i < c.ops.size(); ++i) {
    ZnodeOutcome one = std::visit(
        [&](const auto& op) {
          using T = std::decay_t<decltype(op)>;
          if constexpr (std::is_same_v<T, ZnodeCreate>) {
            return create_op(op, c.session, c.ids);
          } else if constexpr (std::is_same_v<T, ZnodeDelete>) {
            return delete_op(op, c.session, c.ids);
          } else if constexpr (std::is_same_v<T, ZnodeSetData>) {
            return set_data_op(op, c.session, c.ids);
          } else {
            static_assert(std::is_same_v<T, ZnodeCheck>, "every op of a multi is applied");
            return check_op(op, c.session, c.ids);
          }
        },
        c.ops[i]);
    if (one.result.error == ZkError::ok) {
      result.znodes.push_back(std::move(one.result));
      continue;
    }
    // All or nothing: put back every change, newest first, and fire nothing.
    znode_undo_ = nullptr;
    for (auto entry = undo.rbegin(); entry != undo.rend(); ++entry) {
      switch (entry->kind) {
        case ZnodeUndo::Kind::created:
          erase_znode(entry->path);
          break;
        case ZnodeUndo::Kind::deleted:
          insert_znode(entry->path, std::move(*entry->node));
          break;
        case ZnodeUndo::Kind::data_set: {
          Znode& node = znodes_.at(entry->path);
          znode_bytes_ = znode_bytes_ - node.data.size() + entry->data.size();
          node.data = std::move(entry->data);
          node.mzxid = entry->mzxid;
          node.mtime_ms = entry->mtime_ms;
          node.version = entry->version;
          break;
        }
        case ZnodeUndo::Kind::parent_changed: {
          Znode& node = znodes_.at(entry->path);
          node.creates = entry->creates;
          node.pzxid = entry->pzxid;
          note_container(entry->path, node);
          break;
        }
      }
    }
    if (fired_ != nullptr) fired_->resize(fired_mark);
    // DataTree.processTxn: ok before the failed op, its error, then
    // runtime_inconsistency.
    result.znodes.assign(i, ZnodeOpResult{});
    result.znodes.push_back(ZnodeOpResult{one.result.error, {}, {}});
    result.znodes.resize(c.ops.size(), ZnodeOpResult{ZkError::runtime_inconsistency, {}, {}});
    result.status = one.status;
    result.zk_error = one.result.error;
    result.message = "op " + std::to_string(i + 1) + ": " + one.message;
    return result;
  }
  znode_undo_ = nullptr;
  return result;
}

// ZooKeeper's closeSession (an expiry is one too): the session's ephemerals
// go in the same command, each as a delete fires.
void Machine::end_session_znodes(SessionId id) {
  auto owned = ephemerals_.find(id);
  if (owned == ephemerals_.end()) return;
  const std::vector<std::string> paths(owned->second.begin(), owned->second.end());
  for (const std::string& path : paths) {
    const std::string parent_path(parent_of(path));
    znodes_.at(parent_path).pzxid = revision_;
    erase_znode(path);
    fire(ZnodeEventType::node_deleted, path);
    fire(ZnodeEventType::node_children_changed, parent_path);
  }
  SYNOD_ASSERT(ephemerals_.count(id) == 0);
}

// ---- reads ----
std::optional<ZnodeView> Machine::znode_view(std::string_view path) const {
  auto it = znodes_.find(path);
  if (it == znodes_.end()) return std::nullopt;
  return ZnodeView{it->first, it->second.data, it->second.acl, znode_stat_of(it->second)};
}

std::optional<ZnodeStat> Machine::znode_stat(std::string_view path) const {
  auto it = znodes_.find(path);
  if (it == znodes_.end()) return std::nullopt;
  return znode_stat_of(it->second);
}

std::optional<ZnodeChildren> Machine::znode_children(std::string_view path) const {
  auto it = znodes_.find(path);
  if (it == znodes_.end()) return std::nullopt;
  ZnodeChildren out;
  out.children.assign(it->second.children.begin(), it->second.children.end());
  out.stat = znode_stat_of(it->second);
  out.acl = it->second.acl;
  return out;
}

std::vector<std::string> Machine::session_znodes(SessionId session, std::string_view prefix) const {
  std::vector<std::string> out;
  auto owned = ephemerals_.find(session);
  if (owned == ephemerals_.end()) return out;
  for (const std::string& path : owned->second) {
    if (path.compare(0, prefix.size(), prefix) == 0) out.push_back(path);
  }
  return out;
}

// The znodes below a path are those in ("path/", "path0"): '0' follows '/'.
std::optional<size_t> Machine::znode_descendants(std::string_view path) const {
  if (znodes_.find(path) == znodes_.end()) return std::nullopt;
  const std::string base = path == "/" ? "" : std::string(path);
  auto begin = znodes_.lower_bound(base + "/");
  auto end = znodes_.lower_bound(base + "0");
  size_t count = static_cast<size_t>(std::distance(begin, end));
  if (path == "/") --count;  // "/" itself sorts inside ("/", "0")
  return count;
}

}  // namespace detail
}  // namespace synod::lockservice
