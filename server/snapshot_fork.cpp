#include "server/snapshot_fork.h"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "server/clock.h"

namespace synod::server {

namespace asio = boost::asio;

namespace {
// A sanity bound on the length the child announces; the store refuses an
// image above its snapshot_bytes_max anyway.
constexpr uint64_t kImageBytesMax = uint64_t{1} << 36;
// Images at least this large are freed gradually (release()).
constexpr size_t kGradualReleaseBytes = size_t{16} << 20;
constexpr uintptr_t kReleaseStepBytes = uintptr_t{8} << 20;
}  // namespace

SnapshotFork::SnapshotFork(asio::io_context& io, Log& log, NodeMetrics& metrics,
                           std::function<void(paxos::Slot)> on_saved)
    : io_(io), log_(log), metrics_(metrics), on_saved_(std::move(on_saved)) {}

// SNAPSHOTS OFF THE OWNER THREAD. Serializing the state machine costs time in
// proportion to its size (about 0.4 s for 65 MB, docs/lockservice.md §10),
// and the owner loop is what sends heartbeats: serialized inline, a state of
// millions of keys stalled it for seconds and cost elections. So a forked
// child serializes the state as it was at the fork (the pages are shared
// copy-on-write) and writes it to a pipe, which a thread of its own reads, so
// the owner loop pays only for fork() itself. The child touches nothing but
// the state machine, malloc (glibc makes it safe across fork) and the pipe:
// it closes every other descriptor first, so it holds no socket or file of
// the parent's open, takes no lock, writes no log, runs at nice 19 so that
// it never takes a core from a serving thread, and _exits. It writes the
// image's length before the image (read_snapshot_image says why), and a
// child that dies midway is a short read, never a truncated snapshot: the
// image counts only with all its bytes, the end of the pipe and exit status
// 0. If fork fails, the owner thread serializes inline.
void SnapshotFork::maybe_snapshot(const lockservice::StateMachine& machine, paxos::Slot slot,
                                  std::vector<paxos::NodeId> members, StorageThread& storage) {
  if (running_ || slot == paxos::kNoSlot) return;
  running_ = true;
  storage_ = &storage;
  persistence::Snapshot snapshot;
  snapshot.slot = slot;
  snapshot.members = std::move(members);
  const auto started = steady_us();
  int fds[2] = {-1, -1};
  pid_t child = -1;
  if (::pipe2(fds, O_CLOEXEC) == 0) {
    // Room for the image as it was last time, and a quarter more: see
    // serialize_in_child.
    const uint64_t reserve = std::min<uint64_t>(last_image_bytes_ + last_image_bytes_ / 4 + (uint64_t{16} << 20),
                                                kImageBytesMax);
    child = ::fork();
    if (child == 0) serialize_in_child(machine, fds, static_cast<size_t>(reserve));  // never returns
  }
  if (child < 0) {
    const int error = errno;
    for (const int fd : fds) {
      if (fd >= 0) ::close(fd);
    }
    log_.write(Level::warn, "snapshot_fork_failed", {{"errno", static_cast<int64_t>(error)}});
    snapshot.bytes = machine.snapshot();
    return save_snapshot(std::move(snapshot), started, steady_us() - started, steady_us() - started);
  }
  const int64_t fork_us = steady_us() - started;
  ::close(fds[1]);
  read_snapshot_image(fds[0], child, started, fork_us, std::move(snapshot));
}

// A thread of its own reads the image, because allocating and filling
// hundreds of MB held the owner loop back: zeroing and faulting in a 300 MB
// buffer took over 300 ms, at the same moment on every node (they snapshot at
// the same slot), and cost leader changes in the growing-state run (issue
// 18). The child sends the image's length first, then the image, so the
// reader allocates the image once at its exact size. Reading it into a buffer
// that grows by doubling left a trail of freed blocks of 64 KiB to 16 MiB
// behind every snapshot, and once glibc had raised its mmap threshold (it
// does after the first large block is freed) those holes stayed in the heap:
// a node's RSS rose by 26 MiB in one step after 25 minutes (issue 23). The
// image counts only with all its bytes, the end of the pipe and exit status 0.
void SnapshotFork::read_snapshot_image(int fd, pid_t child, int64_t started, int64_t fork_us,
                                       persistence::Snapshot snapshot) {
  if (reader_.joinable()) reader_.join();  // the previous one posted its result already
  child_ = child;
  reader_ = std::thread([this, fd, child, started, fork_us, snapshot = std::move(snapshot)]() mutable {
    std::string error = read_image(fd, snapshot.bytes);
    ::close(fd);
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (error.empty() && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
      error = "exit status " + std::to_string(status);
    }
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

// Blocking reads on the reader thread: the length, the image, then the end of
// the pipe. An empty string, or what went wrong.
std::string SnapshotFork::read_image(int fd, std::string& image) {
  auto read_exactly = [fd](char* data, size_t size) -> std::string {
    while (size > 0) {
      const ssize_t got = ::read(fd, data, size);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) return std::string("read: ") + std::strerror(errno);
      if (got == 0) return "the pipe ended early";
      data += got;
      size -= static_cast<size_t>(got);
    }
    return {};
  };
  uint64_t length = 0;
  if (auto error = read_exactly(reinterpret_cast<char*>(&length), sizeof length); !error.empty()) return error;
  if (length > kImageBytesMax) return "the image is " + std::to_string(length) + " bytes, too many";
  image.resize(length);  // one allocation, at the exact size
  if (auto error = read_exactly(image.data(), image.size()); !error.empty()) return error;
  char extra = 0;
  if (read_exactly(&extra, 1) != "the pipe ended early") return "more bytes than the image's length";
  return {};
}

SnapshotFork::~SnapshotFork() {
  // Stopping: a child still serializing is killed, so the reader sees the
  // pipe end and stops; its result is posted to an io_context that no
  // longer runs, and dropped with it.
  if (releaser_.joinable()) releaser_.join();
  if (!reader_.joinable()) return;
  if (child_ > 0) ::kill(child_, SIGKILL);
  reader_.join();
}

// The child reserves its image's room once, from the last image's size.
// Grown by doubling, each step mapped a new block and unmapped the old one,
// and those change the child's memory map under the anon_vma lock it shares
// with the parent (a forked child's mappings hang off the parent's). In the
// growing-state run the parent's owner thread waited 349-410 ms for that
// lock in brk (state D, sampled from /proc every 10 ms), sent no heartbeats,
// and a follower took over. The reserve alone did not stop that wait; the
// heap's 64 MiB growth step (configure_allocator) did (docs/ARCHITECTURE.md,
// "The lock the child shares").
[[noreturn]] void SnapshotFork::serialize_in_child(const lockservice::StateMachine& machine, const int fds[2],
                                                   size_t reserve_bytes) {
  const int out = fds[1];
  // The child competes for the same cores as the serving threads of this
  // process (and, on one machine, of the other nodes): it yields to them.
  [[maybe_unused]] const int niceness = ::nice(19);  // best effort: a failure only costs priority
  if (fds[0] < out) ::close(fds[0]);
  if (out > 3) ::close_range(3, static_cast<unsigned>(out - 1), 0);
  ::close_range(static_cast<unsigned>(out + 1), ~0U, 0);
  try {
    const std::string bytes = machine.snapshot(reserve_bytes);
    const uint64_t length = bytes.size();  // first, so the parent allocates the image once
    auto write_all = [out](const char* data, size_t size) {
      while (size > 0) {
        const ssize_t written = ::write(out, data, size);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) ::_exit(1);
        data += written;
        size -= static_cast<size_t>(written);
      }
    };
    write_all(reinterpret_cast<const char*>(&length), sizeof length);
    write_all(bytes.data(), bytes.size());
  } catch (...) {
    ::_exit(1);
  }
  ::_exit(0);
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
