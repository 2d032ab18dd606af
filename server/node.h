// Node: one synod server process. It wires the modules (DESIGN §2) and runs
// the owner loop:
//
//   owner thread   the Replica, the lock-service StateMachine and its
//                  SessionKeeper, the peer transport, and the ticks, all on
//                  one io_context. Each turn drains whatever arrived (peer
//                  messages, client commands, reads, ticks) and then emits
//                  ONE Ready: its persist batch goes to the storage thread,
//                  its plain messages to the peers at once (the leader's
//                  Accepts leave while its own vote is being written), and
//                  its Promises and Accepteds only when the storage thread
//                  hands back the receipt for that Ready.
//   storage thread one LMDB transaction and one sync per group of queued
//                  Readies (storage_thread.h).
//   http thread    the Beast server; requests reach the owner thread by
//                  posting (http/node_api.h).
//
// node.cpp holds the wiring and the owner loop; the node's parts each have
// their own file, whose header says what the part owns and which thread runs
// it: limits.h (every bound and period), node_metrics (the series),
// election_watch (elections as this node sees them: pure, unit-tested),
// status_report (the cluster view, the gauges, the status page),
// snapshot_fork (snapshots serialized by a child process), peer_services
// (forwarding to the leader, snapshot transfer), command_reports (expiries
// and forced releases) and module_options (each module's options from
// Config).
//
// Lifecycle: open() loads the data directory and binds both ports (any
// failure is a clear sentence and exit code 2); run() serves until SIGTERM
// or SIGINT. On SIGTERM a leader first hands leadership to a caught-up peer,
// so a rolling restart costs no election timeout; then the node finishes its
// in-flight syncs, closes its connections and run() returns 0. After SIGKILL
// the next start recovers from the data directory.
#pragma once

#include <memory>
#include <string>

#include "server/config.h"

namespace synod::server {

class Node {
 public:
  explicit Node(Config config);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // Returns "" or why the node cannot start.
  std::string open();
  // Serves until stopped; returns the process exit code.
  int run();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace synod::server
