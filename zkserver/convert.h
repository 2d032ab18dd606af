// Internal to zkserver/: between the records on ZooKeeper's wire
// (zookeeper/records.h) and the znode vocabulary of the state machine
// (lockservice/znode_types.h). Their numbers are the same by design.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "lockservice/command.h"
#include "lockservice/state_machine.h"
#include "lockservice/znode_types.h"
#include "zookeeper/records.h"

namespace synod::zkserver {

zookeeper::Stat to_wire(const lockservice::ZnodeStat& stat);
zookeeper::Acls to_wire(const std::vector<lockservice::ZnodeAcl>& acl);
std::vector<lockservice::ZnodeAcl> from_wire(const zookeeper::Acls& acl);
// The reply's error for a znode command's result: ZooKeeper's own code, or
// for a refusal by synod (auth, bounds), the nearest of ZooKeeper's.
zookeeper::Error error_of(const lockservice::Result& result);
zookeeper::Error error_of(lockservice::ZkError error);
// A create request's mode for op `op` (create, create2, createContainer), or
// nullopt if ZooKeeper would refuse the flags; `ttl` marks the TTL modes,
// which are not supported.
std::optional<lockservice::ZnodeMode> create_mode(zookeeper::OpCode op, int32_t flags, bool* ttl);

// A request's znode command, acting for `session` as `ids` (a multi's ops
// act for the multi's: none of their own).
lockservice::ZnodeDelete command_of(const zookeeper::DeleteRequest& r, lockservice::SessionId session,
                                    lockservice::ZnodeIds ids);
lockservice::ZnodeSetData command_of(const zookeeper::SetDataRequest& r, lockservice::SessionId session,
                                     lockservice::ZnodeIds ids);
lockservice::ZnodeCheck command_of(const zookeeper::CheckVersionRequest& r, lockservice::SessionId session,
                                   lockservice::ZnodeIds ids);

// Decodes the rest of a request as one Record, to its last byte.
template <typename Record>
bool decode_whole(zookeeper::JuteReader& reader, Record& record) {
  record.decode(reader);
  return zookeeper::check_whole(reader, nullptr);
}

}  // namespace synod::zkserver
