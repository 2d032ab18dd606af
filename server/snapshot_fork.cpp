#include "server/snapshot_fork.h"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <memory>
#include <string>
#include <utility>

#include <sys/mman.h>
#include <unistd.h>

#include "server/clock.h"

namespace synod::server {

namespace asio = boost::asio;

namespace {
// Images at least this large are freed gradually (release()).
constexpr size_t kGradualReleaseBytes = size_t{16} << 20;
constexpr uintptr_t kReleaseStepBytes = uintptr_t{8} << 20;
}  // namespace

SnapshotFork::SnapshotFork(asio::io_context& io, Log& log, NodeMetrics& metrics,
                           std::function<void(paxos::Slot)> on_saved)
    : io_(io), log_(log), metrics_(metrics), on_saved_(std::move(on_saved)) {}

// SNAPSHOTS OFF THE OWNER THREAD: a forked child serializes the state as it
// was at the fork (fork_image.h says why), so the owner loop pays only for
// fork() itself. If fork fails, the owner thread serializes inline.
//
// The child reserves its image's room once, from the last image's size.
// Grown by doubling, each step mapped a new block and unmapped the old one,
// and those change the child's memory map under the anon_vma lock it shares
// with the parent (a forked child's mappings hang off the parent's). In the
// growing-state run the parent's owner thread waited 349-410 ms for that
// lock in brk (state D, sampled from /proc every 10 ms), sent no heartbeats,
// and a follower took over. The reserve alone did not stop that wait; the
// heap's 64 MiB growth step (configure_allocator) did (docs/ARCHITECTURE.md,
// "The lock the child shares").
void SnapshotFork::maybe_snapshot(const lockservice::StateMachine& machine, paxos::Slot slot,
                                  std::vector<paxos::ConfigEntry> configurations, StorageThread& storage) {
  if (running_ || slot == paxos::kNoSlot) return;
  running_ = true;
  storage_ = &storage;
  persistence::Snapshot snapshot;
  snapshot.slot = slot;
  snapshot.configurations = std::move(configurations);
  const auto started = steady_us();
  // Room for the image as it was last time, and a quarter more.
  const auto reserve = static_cast<size_t>(std::min<uint64_t>(last_image_bytes_ + last_image_bytes_ / 4 +
                                                                  (uint64_t{16} << 20),
                                                              kForkedImageBytesMax));
  const ForkedImage forked = fork_image([&machine, reserve] { return machine.snapshot(reserve); });
  if (!forked.ok()) {
    log_.write(Level::warn, "snapshot_fork_failed", {{"errno", static_cast<int64_t>(forked.error)}});
    snapshot.bytes = machine.snapshot();
    return save_snapshot(std::move(snapshot), started, steady_us() - started, steady_us() - started);
  }
  read_snapshot_image(forked, started, steady_us() - started, std::move(snapshot));
}

// A thread of its own reads the image, because allocating and filling
// hundreds of MB held the owner loop back: zeroing and faulting in a 300 MB
// buffer took over 300 ms, at the same moment on every node (they snapshot at
// the same slot), and cost leader changes in the growing-state run (issue
// 18).
void SnapshotFork::read_snapshot_image(ForkedImage forked, int64_t started, int64_t fork_us,
                                       persistence::Snapshot snapshot) {
  if (reader_.joinable()) reader_.join();  // the previous one posted its result already
  child_ = forked.child;
  reader_ = std::thread([this, forked, started, fork_us, snapshot = std::move(snapshot)]() mutable {
    std::string error = collect_image(forked, snapshot.bytes);
    asio::post(io_, [this, error = std::move(error), snapshot = std::move(snapshot), started, fork_us]() mutable {
      child_ = -1;
      if (!error.empty()) {
        running_ = false;
        log_.write(Level::error, "snapshot",
                   {{"slot", snapshot.slot}, {"status", "the serializing child failed: " + error}});
        return;
      }
      last_image_bytes_ = snapshot.bytes.size();
      save_snapshot(std::move(snapshot), started, steady_us() - started, fork_us);
    });
  });
}

SnapshotFork::~SnapshotFork() {
  // Stopping: a child still serializing is killed, so the reader sees the
  // pipe end and stops; its result is posted to an io_context that no
  // longer runs, and dropped with it.
  if (releaser_.joinable()) releaser_.join();
  if (!reader_.joinable()) return;
  kill_image_child(child_);
  reader_.join();
}

// What saving one snapshot has done so far, carried from step to step.
struct SnapshotFork::Saving {
  persistence::Snapshot snapshot;
  uint64_t bytes = 0;
  int64_t started = 0;
  int64_t serialize_us = 0;  // from the start to the image in hand
  int64_t owner_us = 0;      // how long the owner thread was held (fork alone, or the whole inline serialization)
  int64_t store_us = 0;      // the steps' sum
  int64_t step_us_max = 0;
  uint64_t steps = 0;
  uint64_t erased = 0;
  bool saved = false;  // the snapshot is the latest; compaction steps follow
  persistence::Status status;
};

void SnapshotFork::save_snapshot(persistence::Snapshot snapshot, int64_t started, int64_t serialize_us,
                                 int64_t owner_us) {
  auto saving = std::make_shared<Saving>();
  saving->bytes = snapshot.bytes.size();
  saving->snapshot = std::move(snapshot);
  saving->started = started;
  saving->serialize_us = serialize_us;
  saving->owner_us = owner_us;
  storage_->run_task([this, saving](persistence::Storage& store) { save_step(store, saving); });
}

// SAVED IN STEPS. Group commits wait behind every storage-thread task, so a
// snapshot of hundreds of MB saved in one transaction, then its compaction,
// held commits back for seconds and cost leader changes (issue 18). Each
// step is one bounded transaction (storage.h: snapshot_step_bytes,
// compact_records_max), and the next step queues behind whatever the owner
// loop submitted meanwhile, so a commit waits for at most one step.
void SnapshotFork::save_step(persistence::Storage& store, const std::shared_ptr<Saving>& saving) {
  const int64_t step_started = steady_us();
  bool more = false;
  if (!saving->saved) {
    const auto step = store.save_snapshot_step(saving->snapshot);
    saving->status = step.status;
    saving->saved = step.status.ok() && !step.more;
    more = step.status.ok();  // more chunks, or the compaction after them
    // The image goes back to the kernel on a thread of its own (finish).
  } else {
    const auto compacted = store.compact(saving->snapshot.slot);
    saving->status = compacted.status;
    saving->erased += compacted.records_erased;
    more = compacted.status.ok() && compacted.more;
  }
  const int64_t step_us = steady_us() - step_started;
  saving->store_us += step_us;
  saving->step_us_max = std::max(saving->step_us_max, step_us);
  ++saving->steps;
  if (more) {
    storage_->run_task([this, saving](persistence::Storage& next) { save_step(next, saving); });
    return;
  }
  asio::post(io_, [this, saving] { finish(*saving); });
}

// FREEING A LARGE IMAGE. munmap of hundreds of MB tears its pages down with
// the process's mmap lock held, and every thread that maps, unmaps or grows
// the heap meanwhile waits: the owner loop was seen blocked 231 ms in
// vma_prepare while a 365 MB image was freed (issue 18's growing-state run,
// /proc sampling). So a thread of its own gives the pages back 8 MiB at a
// time with madvise(MADV_DONTNEED), each call short, before the now empty
// mapping is unmapped.
void SnapshotFork::release(std::string bytes) {
  if (releaser_.joinable()) releaser_.join();
  if (bytes.size() < kGradualReleaseBytes) return;
  releaser_ = std::thread([bytes = std::move(bytes)]() mutable {
    const auto page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto begin = (reinterpret_cast<uintptr_t>(bytes.data()) + page - 1) & ~(page - 1);
    const auto end = (reinterpret_cast<uintptr_t>(bytes.data()) + bytes.size()) & ~(page - 1);
    for (uintptr_t at = begin; at < end; at += kReleaseStepBytes) {
      ::madvise(reinterpret_cast<void*>(at), std::min<uintptr_t>(kReleaseStepBytes, end - at), MADV_DONTNEED);
    }
  });
}

void SnapshotFork::finish(Saving& saving) {
  running_ = false;
  release(std::move(saving.snapshot.bytes));
  const persistence::Status& status = saving.status;
  const paxos::Slot slot = saving.snapshot.slot;
  // A snapshot installed from a peer meanwhile is newer: this one is moot.
  const bool superseded = status.code == persistence::Code::snapshot_changed;
  if (status.ok()) {
    // The work itself (serialize, save, compact), not its wait in the
    // storage queue behind group commits.
    metrics_.snapshots.inc();
    metrics_.snapshot_duration.observe(static_cast<double>(saving.serialize_us + saving.store_us) / 1e6);
    metrics_.snapshot_bytes.set(static_cast<double>(saving.bytes));
    on_saved_(slot);
  }
  log_.write(status.ok() || superseded ? Level::info : Level::error, superseded ? "snapshot_superseded" : "snapshot",
             {{"slot", slot},
              {"bytes", saving.bytes},
              {"records_erased", saving.erased},
              {"duration_ms", (steady_us() - saving.started) / 1000},
              {"serialize_ms", saving.serialize_us / 1000},
              {"owner_thread_ms", saving.owner_us / 1000},
              {"store_ms", saving.store_us / 1000},
              {"store_steps", saving.steps},
              {"store_step_ms_max", saving.step_us_max / 1000},
              {"status", status.message}});
}

}  // namespace synod::server
