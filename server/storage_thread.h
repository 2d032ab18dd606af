// StorageThread: the one thread that touches the node's Storage after start.
//
// The owner loop hands it every Ready's persist batch (even an empty one when
// the Ready has after-sync messages, so that every receipt comes from the
// storage). It writes whatever has queued up in ONE transaction with ONE
// sync (persist_group: group commit), then reports the receipt of the last
// batch to the owner loop. Syncs complete in submission order.
//
// Other work (a snapshot, a compaction step) goes through the same queue, in
// order with the batches. After each group or task it runs one checkpoint
// step (storage.h) if the store says one is due.
//
// Threads: submit() and run_task() from the owner thread; the completion
// callbacks are posted to the owner's io_context by the caller's callback.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <variant>

#include "paxos/ready.h"
#include "persistence/storage.h"

namespace synod::server {

class StorageThread {
 public:
  // `on_synced` runs on the storage thread with the receipt (or the error) of
  // each group; the caller posts it to its own thread.
  using OnSynced = std::function<void(persistence::PersistResult result, size_t batches)>;
  using Task = std::function<void(persistence::Storage&)>;

  StorageThread(persistence::Storage& storage, OnSynced on_synced, size_t group_batches_max);
  ~StorageThread();
  StorageThread(const StorageThread&) = delete;
  StorageThread& operator=(const StorageThread&) = delete;

  void submit(paxos::PersistBatch batch);
  // Runs `task` on the storage thread after everything submitted before it.
  void run_task(Task task);
  // Finishes everything queued, then stops the thread.
  void drain_and_stop();

  size_t queued() const;

 private:
  void loop();

  persistence::Storage& storage_;
  OnSynced on_synced_;
  size_t group_batches_max_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::variant<paxos::PersistBatch, Task>> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace synod::server
