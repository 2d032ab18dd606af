#include "zkserver/convert.h"

namespace synod::zkserver {

namespace ls = lockservice;
using zookeeper::Error;

zookeeper::Stat to_wire(const ls::ZnodeStat& s) {
  return zookeeper::Stat{static_cast<int64_t>(s.czxid),
                         static_cast<int64_t>(s.mzxid),
                         s.ctime_ms,
                         s.mtime_ms,
                         s.version,
                         s.cversion,
                         s.aversion,
                         static_cast<int64_t>(s.ephemeral_owner),
                         s.data_length,
                         s.num_children,
                         static_cast<int64_t>(s.pzxid)};
}

zookeeper::Acls to_wire(const std::vector<ls::ZnodeAcl>& acl) {
  std::vector<zookeeper::Acl> out;
  out.reserve(acl.size());
  for (const auto& entry : acl) out.push_back(zookeeper::Acl{entry.perms, zookeeper::Id{entry.scheme, entry.id}});
  return out;
}

std::vector<ls::ZnodeAcl> from_wire(const zookeeper::Acls& acl) {
  std::vector<ls::ZnodeAcl> out;
  if (!acl) return out;
  for (const auto& entry : *acl) {
    out.push_back(ls::ZnodeAcl{entry.perms, entry.id.scheme.value_or(""), entry.id.id.value_or("")});
  }
  return out;
}

Error error_of(ls::ZkError error) { return static_cast<Error>(static_cast<int32_t>(error)); }

Error error_of(const ls::Result& result) {
  if (result.zk_error != ls::ZkError::ok) return error_of(result.zk_error);
  switch (result.status) {
    case ls::Status::ok:
      return Error::ok;
    case ls::Status::unauthenticated:
    case ls::Status::permission_denied:
      return Error::no_auth;
    case ls::Status::session_expired:
      return Error::session_expired;
    case ls::Status::limit_exceeded:
    case ls::Status::too_large:
      return Error::quota_exceeded;
    case ls::Status::invalid_argument:
      return Error::bad_arguments;
    default:
      return Error::system_error;
  }
}

std::optional<ls::ZnodeMode> create_mode(zookeeper::OpCode op, int32_t flags, bool* ttl) {
  *ttl = false;
  using zookeeper::CreateMode;
  switch (static_cast<CreateMode>(flags)) {
    case CreateMode::persistent:
    case CreateMode::ephemeral:
    case CreateMode::persistent_sequential:
    case CreateMode::ephemeral_sequential:
      // createContainer is its own op; its flags must say container.
      if (op == zookeeper::OpCode::create_container) return std::nullopt;
      return static_cast<ls::ZnodeMode>(flags);
    case CreateMode::container:
      return ls::ZnodeMode::container;
    case CreateMode::persistent_with_ttl:
    case CreateMode::persistent_sequential_with_ttl:
      *ttl = true;
      return std::nullopt;
  }
  return std::nullopt;
}

ls::ZnodeDelete command_of(const zookeeper::DeleteRequest& r, ls::SessionId session, ls::ZnodeIds ids) {
  return ls::ZnodeDelete{r.path.value_or(""), r.version, session, std::move(ids)};
}

ls::ZnodeSetData command_of(const zookeeper::SetDataRequest& r, ls::SessionId session, ls::ZnodeIds ids) {
  return ls::ZnodeSetData{r.path.value_or(""), r.data.value_or(""), r.version, session, std::move(ids)};
}

ls::ZnodeCheck command_of(const zookeeper::CheckVersionRequest& r, ls::SessionId session, ls::ZnodeIds ids) {
  return ls::ZnodeCheck{r.path.value_or(""), r.version, session, std::move(ids)};
}

}  // namespace synod::zkserver
