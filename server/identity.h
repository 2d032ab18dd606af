// The node's cluster identity at start (persistence/cluster_identity.h): read
// from the data directory, made at the first start, checked against
// --cluster-id, and replaced by --force-new-cluster.
//
// DISASTER RECOVERY. After a majority of the members is lost for good, the
// survivors cannot choose anything. `synod --force-new-cluster` (named as
// etcd names it) starts one survivor as a one-member cluster from its own
// data: it keeps every slot its log holds as chosen and, as the new
// cluster's only acceptor, re-proposes what it had accepted past them, so
// what may be lost is exactly what the survivor never accepted. The data
// directory gets a new cluster id, random rather than derived from the name
// and the members, so the old members are refused at the handshake if they
// ever come back (they would otherwise rejoin a log that moved on without
// their votes). Growing back to three members is a new member's work
// (issue 20's membership changes); until then, start the others afresh as
// the new cluster's members only after their data directories are emptied.
//
// Owner thread, once, at start.
#pragma once

#include <cstdint>
#include <string>

#include "server/config.h"
#include "server/log.h"

namespace synod::server {

// Sets `cluster_id`; empty, or why the node must not start. `fresh_store`:
// the data directory held no store before this start.
std::string open_identity(const Config& config, bool fresh_store, Log& log, uint64_t& cluster_id);

}  // namespace synod::server
