// Internal to zkserver/: between the records on ZooKeeper's wire
// (zookeeper/records.h) and the znode vocabulary of the state machine
// (lockservice/znode_types.h). Their numbers are the same by design.
#pragma once

#include <optional>
#include <string>
#include <vector>

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

}  // namespace synod::zkserver
