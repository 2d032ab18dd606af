#include "server/storage_thread.h"

namespace synod::server {

StorageThread::StorageThread(persistence::Storage& storage, OnSynced on_synced, size_t group_batches_max)
    : storage_(storage), on_synced_(std::move(on_synced)), group_batches_max_(group_batches_max) {
  thread_ = std::thread([this] { loop(); });
}

StorageThread::~StorageThread() { drain_and_stop(); }

void StorageThread::submit(paxos::PersistBatch batch) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.emplace_back(std::move(batch));
  }
  wake_.notify_one();
}

void StorageThread::run_task(Task task) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.emplace_back(std::move(task));
  }
  wake_.notify_one();
}

void StorageThread::drain_and_stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

size_t StorageThread::queued() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.size();
}

void StorageThread::loop() {
  for (;;) {
    std::vector<paxos::PersistBatch> group;
    Task task;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything is done
      // Take consecutive batches (up to the group bound), or one task.
      while (!queue_.empty() && group.size() < group_batches_max_ &&
             std::holds_alternative<paxos::PersistBatch>(queue_.front())) {
        group.push_back(std::move(std::get<paxos::PersistBatch>(queue_.front())));
        queue_.pop_front();
      }
      if (group.empty()) {
        task = std::move(std::get<Task>(queue_.front()));
        queue_.pop_front();
      }
    }
    if (!group.empty()) {
      std::vector<const paxos::PersistBatch*> pointers;
      pointers.reserve(group.size());
      for (const auto& batch : group) pointers.push_back(&batch);
      on_synced_(storage_.persist_group(pointers), group.size());
    } else {
      task(storage_);
    }
    // One bounded checkpoint step after each group or task, once the log
    // holds enough that the tables lack, so that no step holds the next group
    // back for long. A failed step fails the store's writes, and the next
    // group reports it.
    if (storage_.checkpoint_due()) (void)storage_.checkpoint();
  }
}

}  // namespace synod::server
