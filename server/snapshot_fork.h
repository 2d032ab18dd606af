// SnapshotFork: the node's own snapshots, taken off the owner thread by a
// forked child (snapshot_fork.cpp says why and how), then saved and the log
// compacted below them on the storage thread, in bounded steps.
//
// Owner thread: maybe_snapshot, and every completion, which comes back to the
// owner thread's io_context. Reader thread: collect_image. Releaser thread: a
// saved image's memory. Storage thread: save_step. The child process
// (fork_image.h) serializes the state machine and nothing else.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <sys/types.h>

#include "lockservice/state_machine.h"
#include "persistence/storage.h"
#include "server/fork_image.h"
#include "server/log.h"
#include "server/node_metrics.h"
#include "server/storage_thread.h"

namespace boost::asio {
class io_context;
}

namespace synod::server {

class SnapshotFork {
 public:
  // on_saved(slot) runs on the owner thread once a snapshot is saved.
  SnapshotFork(boost::asio::io_context& io, Log& log, NodeMetrics& metrics,
               std::function<void(paxos::Slot)> on_saved);
  ~SnapshotFork();
  SnapshotFork(const SnapshotFork&) = delete;
  SnapshotFork& operator=(const SnapshotFork&) = delete;

  // Snapshots `machine` as of `slot` (its applied slot), unless a snapshot is
  // already running or nothing is applied yet; `storage` saves it, with
  // `configurations` (Replica::configurations_after(slot)).
  void maybe_snapshot(const lockservice::StateMachine& machine, paxos::Slot slot,
                      std::vector<paxos::ConfigEntry> configurations, StorageThread& storage);

 private:
  void read_snapshot_image(ForkedImage forked, int64_t started, int64_t fork_us, persistence::Snapshot snapshot);
  struct Saving;
  void save_snapshot(persistence::Snapshot snapshot, int64_t started, int64_t serialize_us, int64_t owner_us);
  // Storage thread: one step of saving or compacting, then the next queued.
  void save_step(persistence::Storage& store, const std::shared_ptr<Saving>& saving);
  void finish(Saving& saving);
  void release(std::string bytes);

  boost::asio::io_context& io_;
  Log& log_;
  NodeMetrics& metrics_;
  std::function<void(paxos::Slot)> on_saved_;
  StorageThread* storage_ = nullptr;  // the node's, from the first maybe_snapshot on
  bool running_ = false;
  uint64_t last_image_bytes_ = 0;  // owner thread: the newest image's size, for the next child's reserve
  // The thread reading the child's image (read_snapshot_image), and the
  // child, while one runs: the destructor kills the child and joins it.
  std::thread reader_;
  pid_t child_ = -1;
  std::thread releaser_;  // gives a saved image's pages back (release)
};

}  // namespace synod::server
