// The commit log (issue 18): its frame format and the scan that finds where
// it ends (log_format.h), and LmdbStorage over a real `wal` file: commits
// that only the log holds survive a reopen, a torn tail is cut and nothing
// synced is lost, damage before the tail is corruption, the ring wraps, and a
// version 1 data directory is migrated.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "persistence/log_file.h"
#include "persistence/log_format.h"
#include "support.h"

using namespace synod;
using namespace synod::persistence;
using synod::persistence::testing::chosen_batch;
using synod::persistence::testing::lmdb_options;
using synod::persistence::testing::open_ok;
using synod::persistence::testing::promise_batch;
using synod::persistence::testing::TempDir;
using synod::persistence::testing::vote_batch;

namespace {

const paxos::Ballot kBallot{6, 2};

// `count` frames of one chosen slot each, from slot 1, starting at `from`.
std::string frames(const LogPosition& from, int count) {
  std::string bytes;
  LogPosition at = from;
  for (int i = 0; i < count; ++i) {
    const paxos::PersistBatch batch = chosen_batch(0, at.seq, at.seq);
    const size_t before = bytes.size();
    encode_frame(at, {&batch}, bytes);
    at = LogPosition{at.epoch, at.offset + (bytes.size() - before), at.seq + 1};
  }
  return bytes;
}

// Plain POSIX I/O: the files are a few MiB at most.
std::string read_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  struct stat info {};
  REQUIRE(::fstat(fd, &info) == 0);
  std::string bytes(static_cast<size_t>(info.st_size), '\0');
  REQUIRE(::pread(fd, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size()));
  ::close(fd);
  return bytes;
}

void write_file_at(const std::string& path, uint64_t offset, std::string_view bytes) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  REQUIRE(::pwrite(fd, bytes.data(), bytes.size(), static_cast<off_t>(offset)) == static_cast<ssize_t>(bytes.size()));
  ::close(fd);
}

}  // namespace

TEST_CASE("log frames round-trip, and the scan stops cleanly at zeros and at the ring's past", "[log]") {
  const std::string bytes = frames(LogPosition{3, 0, 10}, 5);
  std::string ring = bytes + std::string(4096, '\0');
  LogScan scan = scan_log(ring, LogPosition{3, 0, 10});
  CHECK(scan.end == LogScan::End::clean);
  REQUIRE(scan.frames.size() == 5);
  CHECK(scan.frames[4].batches[0].chosen[0].slot == 14);
  CHECK(*scan.frames[4].batches[0].chosen[0].value == *testing::value_for(14));
  CHECK(scan.next == LogPosition{3, bytes.size(), 15});

  // The ring's past (epoch 2) after the end is not read as frames.
  ring.replace(bytes.size(), 2048, frames(LogPosition{2, bytes.size(), 3}, 40).substr(0, 2048));
  scan = scan_log(ring, LogPosition{3, 0, 10});
  CHECK(scan.end == LogScan::End::clean);
  CHECK(scan.frames.size() == 5);
}

TEST_CASE("every truncation of the last frame is a torn tail; damage before it is corruption", "[log]") {
  const std::string four = frames(LogPosition{1, 0, 1}, 4);
  const std::string five = frames(LogPosition{1, 0, 1}, 5);
  const size_t last_bytes = five.size() - four.size();
  for (size_t kept = 0; kept < last_bytes; ++kept) {
    std::string ring = five;
    std::fill(ring.begin() + static_cast<std::ptrdiff_t>(four.size() + kept), ring.end(), '\0');
    ring += std::string(1024, '\0');
    const LogScan scan = scan_log(ring, LogPosition{1, 0, 1});
    INFO("kept " << kept << " of " << last_bytes << ": " << scan.problem);
    // A prefix that is all the frame's nonzero bytes is the frame itself.
    if (ring.substr(0, five.size()) == five) continue;
    CHECK(scan.frames.size() == 4);
    CHECK((scan.end == LogScan::End::torn || (kept == 0 && scan.end == LogScan::End::clean)));
    CHECK(scan.next.offset == four.size());
  }
  // A flipped bit in any frame but the last: corruption, named.
  for (size_t at = 0; at < four.size(); at += 7) {
    std::string ring = five + std::string(1024, '\0');
    ring[at] = static_cast<char>(ring[at] ^ 0x04);
    const LogScan scan = scan_log(ring, LogPosition{1, 0, 1});
    INFO("byte " << at);
    if (scan.end == LogScan::End::clean && scan.frames.size() == 5) continue;  // the padding: outside the checksum
    CHECK(scan.end == LogScan::End::corrupt);
    CHECK(scan.problem.find("follows it intact") != std::string::npos);
  }
  // A frame zeroed whole, with the last one after it: corruption, not an end.
  std::string ring = five + std::string(1024, '\0');
  const size_t second = frames(LogPosition{1, 0, 1}, 1).size();
  std::fill(ring.begin() + static_cast<std::ptrdiff_t>(second), ring.begin() + static_cast<std::ptrdiff_t>(2 * second),
            '\0');
  CHECK(scan_log(ring, LogPosition{1, 0, 1}).end == LogScan::End::corrupt);
}

TEST_CASE("lmdb: commits only the log holds survive a reopen, the promise the larger of the two", "[log][lmdb]") {
  TempDir dir;
  const LmdbOptions options = lmdb_options(dir.sub("data"));
  {
    auto store = open_ok(options);
    REQUIRE(store->load().status.code == Code::fresh);
    REQUIRE(store->persist(chosen_batch(1, 1, 5)).status.ok());
    while (store->log_pending_bytes() > 0) REQUIRE(store->checkpoint().ok());  // into LMDB
    REQUIRE(store->persist(promise_batch(2, kBallot)).status.ok());            // the log only, from here
    REQUIRE(store->persist(vote_batch(3, kBallot, 6)).status.ok());
    REQUIRE(store->persist(chosen_batch(4, 6, 8)).status.ok());
    CHECK(store->log_pending_bytes() > 0);
  }
  auto store = open_ok(options);
  const LoadResult loaded = store->load();
  REQUIRE(loaded.status.ok());
  CHECK(loaded.durable.promised == kBallot);
  CHECK(loaded.durable.chosen.size() == 8);
  CHECK(loaded.durable.accepted.empty());  // slot 6's vote went with its chosen record
  CHECK(loaded.log_tail_cut.empty());
  CHECK(store->log_pending_bytes() == 0);  // the load checkpointed the log
  REQUIRE(store->persist(chosen_batch(1, 9, 9)).status.ok());
}

TEST_CASE("lmdb: a torn tail in the wal is cut, nothing synced is lost, and the log goes on", "[log][lmdb]") {
  TempDir dir;
  const LmdbOptions options = lmdb_options(dir.sub("data"));
  const std::string wal = options.data_dir + "/" + kLogFileName;
  LogPosition head;
  {
    auto store = open_ok(options);
    REQUIRE(store->load().status.code == Code::fresh);
    REQUIRE(store->persist(chosen_batch(1, 1, 3)).status.ok());
    head = store->log_head();
  }
  // A write in flight at the crash: part of the next frame reached the disk.
  const paxos::PersistBatch lost = chosen_batch(0, 4, 4);
  std::string frame;
  encode_frame(head, {&lost}, frame);
  write_file_at(wal, head.offset, frame.substr(0, frame.size() / 2));
  {
    auto store = open_ok(options);
    const LoadResult loaded = store->load();
    REQUIRE(loaded.status.ok());
    CHECK(loaded.durable.chosen.size() == 3);
    CHECK(loaded.log_tail_cut.find("torn") != std::string::npos);
    // The remnant is zeroed, and the next frame goes where the torn one was.
    CHECK(read_file(wal).substr(head.offset, frame.size()) == std::string(frame.size(), '\0'));
    CHECK(store->log_head() == head);
    REQUIRE(store->persist(chosen_batch(1, 4, 5)).status.ok());
  }
  auto store = open_ok(options);
  const LoadResult loaded = store->load();
  REQUIRE(loaded.status.ok());
  CHECK(loaded.durable.chosen.size() == 5);
  CHECK(loaded.log_tail_cut.empty());
}

TEST_CASE("lmdb: a damaged frame before the tail is reported as corrupt", "[log][lmdb]") {
  TempDir dir;
  const LmdbOptions options = lmdb_options(dir.sub("data"));
  const std::string wal = options.data_dir + "/" + kLogFileName;
  {
    auto store = open_ok(options);
    REQUIRE(store->load().status.code == Code::fresh);
    for (uint64_t id = 1; id <= 3; ++id) REQUIRE(store->persist(chosen_batch(id, id, id)).status.ok());
  }
  write_file_at(wal, 40, "\x55");  // inside the first frame's body
  auto store = open_ok(options);
  const LoadResult loaded = store->load();
  CHECK(loaded.status.code == Code::corrupt);
  CHECK(loaded.status.message.find("log frame 1 at offset 0 is damaged") != std::string::npos);
  CHECK(loaded.durable.chosen.empty());
  // The repair path: an empty store, whose log epoch is above every frame in
  // the ring, so none of them is replayed into it.
  REQUIRE(store->reset().ok());
  REQUIRE(store->persist(promise_batch(1, kBallot)).status.ok());
  store.reset();
  store = open_ok(options);
  const LoadResult repaired = store->load();
  REQUIRE(repaired.status.ok());
  CHECK(repaired.durable.chosen.empty());
  CHECK(repaired.durable.promised == kBallot);
}

TEST_CASE("lmdb: the ring wraps many times, checkpointing first, and loses nothing", "[log][lmdb]") {
  TempDir dir;
  LmdbOptions options = lmdb_options(dir.sub("data"));
  options.storage.log_capacity_bytes = 64 << 10;
  options.storage.checkpoint_bytes = 8 << 10;
  options.storage.log_slots_max = 1 << 20;
  paxos::Slot slot = 0;
  uint64_t epoch = 0;
  for (int life = 0; life < 4; ++life) {
    auto store = open_ok(options);
    const LoadResult loaded = store->load();
    REQUIRE(loaded.status.usable());
    REQUIRE(loaded.durable.chosen.size() == slot);
    for (uint64_t id = 1; id <= 300; ++id) {
      paxos::PersistBatch batch;
      batch.ready_id = id;
      ++slot;
      batch.chosen.push_back(paxos::ChosenEntry{slot, testing::batch_value(1, slot, 2, 200)});
      REQUIRE(store->persist(batch).status.ok());
      if (id % 3 == 0 && store->checkpoint_due()) REQUIRE(store->checkpoint().ok());
    }
    CHECK(store->log_head().epoch > epoch);
    epoch = store->log_head().epoch;
  }
  CHECK(epoch >= 4);
  CHECK(read_file(options.data_dir + "/" + kLogFileName).size() == 64 << 10);
}

// test/data/store-v1 holds the data directories of a 3-node cluster written by
// format version 1 (commit 34907d7, before the log): five keys put and one
// lock taken, then stopped with SIGTERM (test/data/store-v1/README.md).
TEST_CASE("lmdb: a version 1 data directory is migrated on its first load", "[log][lmdb][migration]") {
  TempDir dir;
  const std::string data = dir.sub("data");
  REQUIRE(::mkdir(data.c_str(), 0755) == 0);
  const std::string fixture = SYNOD_TEST_DATA_DIR "/store-v1/node1/data.mdb";
  write_file_at(data + "/data.mdb", 0, read_file(fixture));
  const LmdbOptions options = lmdb_options(data, 1);
  LoadResult first;
  {
    auto store = open_ok(options);
    first = store->load();
    INFO(first.status.to_string());
    REQUIRE(first.status.ok());
    CHECK(first.migrated_from_version == 1);
    REQUIRE(!first.durable.chosen.empty());
    CHECK(first.durable.promised.round > 0);
    bool found = false;  // the last key put, in the chosen log
    for (const auto& entry : first.durable.chosen) {
      for (const auto& command : entry.value->commands)
        found = found || command.payload.find("value-5") != std::string::npos;
    }
    CHECK(found);
    REQUIRE(store->persist(promise_batch(1, paxos::Ballot{first.durable.promised.round + 1, 1})).status.ok());
  }
  auto store = open_ok(options);
  const LoadResult second = store->load();
  REQUIRE(second.status.ok());
  CHECK(second.migrated_from_version == 0);
  CHECK(second.durable.chosen.size() == first.durable.chosen.size());
  CHECK(second.durable.promised.round == first.durable.promised.round + 1);
}
