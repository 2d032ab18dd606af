// Backups: GET /v1/snapshot (issue 21). The state machine as of one
// revision, serialized by a forked child (fork_image.h) into a backup file
// (lockservice/backup_file.h), while the node keeps serving: the owner loop
// pays for fork() alone, as it does for the node's own snapshots.
//
// One backup at a time per node: each holds a whole copy of the state in the
// child and then in this process until it is sent, so a second request while
// one runs is refused (busy) instead of doubling that.
//
// Owner thread: take (the fork is the instant the backup holds). Reader
// thread: collects the child's file and runs `done`. The destructor kills a
// child still running and joins the reader.
#pragma once

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include <sys/types.h>

#include "http/node_api.h"
#include "lockservice/backup_file.h"
#include "lockservice/state_machine.h"

namespace synod::server {

class Backups {
 public:
  Backups() = default;
  ~Backups();
  Backups(const Backups&) = delete;
  Backups& operator=(const Backups&) = delete;

  // Starts a backup of `machine` as it is now, with `header`'s cluster id,
  // slot, revision and times. `done` runs on the reader thread with the file,
  // or at once with busy or failed.
  void take(const lockservice::StateMachine& machine, const lockservice::BackupHeader& header,
            std::function<void(http::BackupOutcome)> done);

 private:
  std::atomic<bool> running_{false};
  std::thread reader_;
  std::atomic<pid_t> child_{-1};
};

}  // namespace synod::server
