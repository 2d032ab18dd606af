// `synod restore --snapshot FILE FLAGS` (issue 21): seeds the data directory
// of one member of a NEW cluster from a backup file
// (lockservice/backup_file.h), then exits. Run it once per member, with the
// flags that member will start with (--id, --peers, --data-dir, ...).
//
// What a restored member holds:
//   - the backup's state as the snapshot at the backup's slot, so the new
//     cluster's log continues after it and revisions and fencing tokens keep
//     rising across the restore;
//   - the promise (0, self), as a member of a new cluster has once its first
//     repair found nothing to wait for (paxos/replica.cpp, finish_repair);
//   - a new cluster id, derived from the cluster name, the members' ids and
//     the backup's checksum, so every member restored from the same file
//     with the same flags derives the same id without talking, and none of
//     them can ever join the old cluster or be joined by it (the handshake
//     compares ids).
// Sessions keep their ids and their locks: the new cluster's first leader
// takes them over with a full TTL of credit (lockservice/session_keeper.h),
// so a session whose client never reaches the new cluster expires one TTL
// after that leader is elected, and its locks are released then.
//
// Nothing is written unless the file is whole (magic, versions, length,
// checksum) and its image restores; the data directory must be empty or
// missing. Runs on the main thread, before and instead of a node.
#pragma once

#include <string>

#include "server/config.h"

namespace synod::server {

// Restores and prints what it did; the process's exit status (0, or 2 with a
// sentence on stderr).
int run_restore(const std::string& snapshot_path, const Config& config);

// The id a cluster restored from a backup with `checksum` takes.
uint64_t restored_cluster_id(const Config& config, uint32_t checksum);

}  // namespace synod::server
