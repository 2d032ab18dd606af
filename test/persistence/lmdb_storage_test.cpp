// LmdbStorage on a real directory: damage below our checks (records edited
// through LMDB, bytes flipped in data.mdb), versions and node ids, the lock
// file, map growth and its limit, and write failures.
#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <csignal>
#include <fstream>

#include "persistence/lmdb_storage.h"
#include "support.h"

using namespace synod;
using namespace synod::persistence;
using synod::persistence::testing::batch_value;
using synod::persistence::testing::chosen_batch;
using synod::persistence::testing::lmdb_options;
using synod::persistence::testing::open_ok;
using synod::persistence::testing::RawLmdb;
using synod::persistence::testing::TempDir;
using synod::persistence::testing::vote_batch;

namespace {

const paxos::Ballot kBallot{8, 1};
constexpr std::string_view kMarker = "MARKER-payload-0123456789";

LoadResult load_after_reopen(const LmdbOptions& options) {
  auto store = open_ok(options);
  return store->load();
}

// A store with every record kind: votes at 11 and 12, chosen 1..10 with a
// snapshot at 4 (so chosen records on both sides of it), a three-chunk
// snapshot, and one chosen value carrying kMarker.
void fill(const LmdbOptions& options) {
  auto store = open_ok(options);
  REQUIRE(store->load().status.code == Code::fresh);
  REQUIRE(store->persist(chosen_batch(1, 1, 9)).status.ok());
  paxos::PersistBatch marked;
  marked.ready_id = 2;
  marked.chosen.push_back(paxos::ChosenEntry{10, paxos::make_batch({paxos::Command{1, 1, std::string(kMarker)}})});
  REQUIRE(store->persist(marked).status.ok());
  REQUIRE(store->persist(vote_batch(3, kBallot, 11)).status.ok());
  REQUIRE(store->persist(vote_batch(4, kBallot, 12)).status.ok());
  // Into the tables, where these tests damage them, before the snapshot (a
  // checkpoint after it would skip the slots it covers).
  while (store->log_pending_bytes() > 0) REQUIRE(store->checkpoint().ok());
  REQUIRE(store->save_snapshot(Snapshot{4, testing::voters({1, 2, 3}), std::string(2500, 's')}).ok());
}

LmdbOptions small_chunk_options(const std::string& dir) {
  LmdbOptions options = lmdb_options(dir);
  options.storage.snapshot_chunk_bytes = 1000;
  return options;
}

void flip_byte(std::string& value, size_t at) { value[at] = static_cast<char>(value[at] ^ 0x10); }

}  // namespace

TEST_CASE("lmdb: a flipped byte in any record is reported as corrupt, naming the record", "[lmdb][corruption]") {
  TempDir dir;
  const LmdbOptions options = small_chunk_options(dir.sub("data"));
  fill(options);
  struct Target {
    Table table;
    std::string key;
    std::string named;
  };
  const std::vector<Target> targets = {
      {Table::meta, std::string(kFormatKey), "format record"},
      {Table::meta, std::string(kStateKey), "state record"},
      {Table::meta, std::string(kSnapshotKey), "snapshot record"},
      {Table::accepted, slot_key(11), "vote record at slot 11"},
      {Table::chosen, slot_key(2), "chosen record at slot 2"},  // under the snapshot: checked, not returned
      {Table::chosen, slot_key(7), "chosen record at slot 7"},
      {Table::snapshot_chunks, chunk_key(4, 1), "snapshot chunk 1 of slot 4"},
  };
  for (const Target& target : targets) {
    const size_t size = RawLmdb(options.data_dir).get(target.table, target.key)->size();
    for (size_t at : {size_t{0}, size_t{5}, size_t{9}, size / 2, size - 1}) {
      RawLmdb(options.data_dir).edit(target.table, target.key, [&](std::string& value) { flip_byte(value, at); });
      LoadResult loaded = load_after_reopen(options);
      INFO(target.named << " byte " << at << ": " << loaded.status.to_string());
      CHECK(loaded.status.code == Code::corrupt);
      CHECK(loaded.status.message.find(target.named) != std::string::npos);
      CHECK(loaded.durable.chosen.empty());
      RawLmdb(options.data_dir).edit(target.table, target.key, [&](std::string& value) { flip_byte(value, at); });
    }
  }
  CHECK(load_after_reopen(options).status.ok());
}

TEST_CASE("lmdb: a torn record is reported as corrupt", "[lmdb][corruption]") {
  TempDir dir;
  const LmdbOptions options = small_chunk_options(dir.sub("data"));
  fill(options);
  RawLmdb(options.data_dir).edit(Table::chosen, slot_key(8), [](std::string& value) { value.resize(value.size() - 3); });
  LoadResult loaded = load_after_reopen(options);
  CHECK(loaded.status.code == Code::corrupt);
  CHECK(loaded.status.message.find("chosen record at slot 8") != std::string::npos);
}

TEST_CASE("lmdb: a missing record is reported as corrupt, not read as a shorter log", "[lmdb][corruption]") {
  TempDir dir;
  const LmdbOptions options = small_chunk_options(dir.sub("data"));
  fill(options);
  struct Missing {
    Table table;
    std::string key;
    std::string says;
  };
  const std::vector<Missing> cases = {
      {Table::chosen, slot_key(7), "gap"},
      {Table::chosen, slot_key(10), "ends at slot 9"},
      {Table::accepted, slot_key(12), "counts 2 vote records but 1"},
      {Table::meta, std::string(kStateKey), "state record is missing"},
      {Table::meta, std::string(kSnapshotKey), "snapshot record is missing"},
      {Table::meta, std::string(kFormatKey), "format record is missing"},
      {Table::snapshot_chunks, chunk_key(4, 1), "chunk 1 is missing"},
  };
  for (const Missing& missing : cases) {
    const std::string saved = *RawLmdb(options.data_dir).get(missing.table, missing.key);
    RawLmdb(options.data_dir).erase(missing.table, missing.key);
    LoadResult loaded = load_after_reopen(options);
    INFO(loaded.status.to_string());
    CHECK(loaded.status.code == Code::corrupt);
    CHECK(loaded.status.message.find(missing.says) != std::string::npos);
    RawLmdb(options.data_dir).put(missing.table, missing.key, saved);
  }
  CHECK(load_after_reopen(options).status.ok());
}

TEST_CASE("lmdb: a flipped bit in the data file is caught by the record checksum", "[lmdb][corruption]") {
  TempDir dir;
  const LmdbOptions options = small_chunk_options(dir.sub("data"));
  fill(options);
  const std::string file = options.data_dir + "/data.mdb";
  struct stat info {};
  REQUIRE(stat(file.c_str(), &info) == 0);
  std::string bytes(static_cast<size_t>(info.st_size), '\0');
  {
    std::ifstream in(file, std::ios::binary);
    in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    REQUIRE(in.gcount() == static_cast<std::streamsize>(bytes.size()));
  }
  // Copy-on-write leaves stale copies of a page in free space, so the marker
  // may appear more than once; flip it everywhere, the live copy included.
  size_t flipped_copies = 0;
  {
    std::fstream out(file, std::ios::binary | std::ios::in | std::ios::out);
    for (size_t at = bytes.find(kMarker); at != std::string::npos; at = bytes.find(kMarker, at + 1)) {
      out.seekp(static_cast<std::streamoff>(at + 3));
      const char flipped = static_cast<char>(bytes[at + 3] ^ 0x01);
      out.write(&flipped, 1);
      ++flipped_copies;
    }
  }
  REQUIRE(flipped_copies >= 1);
  LoadResult loaded = load_after_reopen(options);
  CHECK(loaded.status.code == Code::corrupt);
  CHECK(loaded.status.message.find("chosen record at slot 10: checksum mismatch") != std::string::npos);
}

TEST_CASE("lmdb: a store of an unknown format version is refused", "[lmdb]") {
  TempDir dir;
  const LmdbOptions options = small_chunk_options(dir.sub("data"));
  fill(options);
  std::string future;
  encode_format(FormatRecord{kFormatVersion + 1, 1}, future);
  RawLmdb(options.data_dir).put(Table::meta, kFormatKey, future);
  LoadResult loaded = load_after_reopen(options);
  CHECK(loaded.status.code == Code::unknown_format_version);
  CHECK(loaded.status.message.find("format version " + std::to_string(kFormatVersion + 1)) != std::string::npos);
  CHECK(loaded.durable.chosen.empty());
}

TEST_CASE("lmdb: another node's store is refused", "[lmdb]") {
  TempDir dir;
  const LmdbOptions options = small_chunk_options(dir.sub("data"));
  fill(options);
  LmdbOptions other = options;
  other.storage.node_id = 2;
  auto store = open_ok(other);
  LoadResult loaded = store->load();
  CHECK(loaded.status.code == Code::node_id_mismatch);
  CHECK(loaded.status.message == "the store belongs to node 1, not to node 2");
}

TEST_CASE("lmdb: a data file that is not LMDB is refused", "[lmdb]") {
  TempDir dir;
  const std::string data = dir.sub("data");
  REQUIRE(mkdir(data.c_str(), 0755) == 0);
  {
    std::ofstream out(data + "/data.mdb", std::ios::binary);
    out << std::string(16384, 'z');
  }
  auto opened = LmdbStorage::open(lmdb_options(data));
  CHECK_FALSE(opened.status.ok());
  CHECK(opened.status.code == Code::corrupt);
  CHECK(opened.status.message.find(data) != std::string::npos);
}

TEST_CASE("lmdb: after a corrupt load, reset repairs to an empty store", "[lmdb][corruption]") {
  TempDir dir;
  const LmdbOptions options = small_chunk_options(dir.sub("data"));
  fill(options);
  RawLmdb(options.data_dir).edit(Table::chosen, slot_key(5), [](std::string& value) { flip_byte(value, 12); });
  {
    auto store = open_ok(options);
    REQUIRE(store->load().status.code == Code::corrupt);
    REQUIRE(store->reset().ok());
    REQUIRE(store->persist(vote_batch(1, kBallot, 1)).status.ok());
  }
  LoadResult loaded = load_after_reopen(options);
  REQUIRE(loaded.status.ok());
  CHECK(loaded.durable.chosen.empty());
  CHECK(loaded.durable.accepted.size() == 1);
  CHECK_FALSE(loaded.snapshot);
}

TEST_CASE("lmdb: a second open of one data directory is refused by the lock file", "[lmdb][lock]") {
  TempDir dir;
  const LmdbOptions options = lmdb_options(dir.sub("data"));
  auto first = open_ok(options);
  REQUIRE(first->load().status.code == Code::fresh);

  SECTION("in the same process") {
    auto second = LmdbStorage::open(options);
    CHECK(second.status.code == Code::locked);
    CHECK(second.status.message.find("in use by process " + std::to_string(getpid())) != std::string::npos);
    CHECK_FALSE(second.storage);
    first.reset();
    CHECK(LmdbStorage::open(options).status.ok());
  }
  SECTION("from another process") {
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      auto opened = LmdbStorage::open(options);
      _exit(opened.status.code == Code::locked ? 0 : 1);
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
  }
}

TEST_CASE("lmdb: a full map grows and the transaction runs again", "[lmdb][map]") {
  TempDir dir;
  LmdbOptions options = lmdb_options(dir.sub("data"));
  options.map_bytes_initial = 64 << 10;
  options.map_bytes_max = 64 << 20;
  uint64_t initial = 0;
  {
    auto store = open_ok(options);
    initial = store->map_bytes();
    REQUIRE(store->load().status.code == Code::fresh);
    for (uint64_t id = 1; id <= 100; ++id) {
      paxos::PersistBatch batch;
      batch.ready_id = id;
      batch.chosen.push_back(paxos::ChosenEntry{id, batch_value(1, id, 8, 256)});
      REQUIRE(store->persist(batch).status.ok());
    }
    while (store->log_pending_bytes() > 0) REQUIRE(store->checkpoint().ok());
    CHECK(store->map_bytes() > initial);
  }
  LoadResult loaded = load_after_reopen(options);
  REQUIRE(loaded.status.ok());
  CHECK(loaded.durable.chosen.size() == 100);
  CHECK(*loaded.durable.chosen[99].value == *batch_value(1, 100, 8, 256));
}

// Commits go to the log, so it is a checkpoint that finds the map full. What
// was acknowledged stays in the log, and a reopened store with a larger map
// replays it all.
TEST_CASE("lmdb: past map_bytes_max writes are refused with a clear error, and nothing is half-written",
          "[lmdb][map]") {
  TempDir dir;
  LmdbOptions options = lmdb_options(dir.sub("data"));
  options.map_bytes_initial = 64 << 10;
  options.map_bytes_max = 1 << 20;
  uint64_t acknowledged = 0;
  {
    auto store = open_ok(options);
    REQUIRE(store->load().status.code == Code::fresh);
    Status result;
    for (uint64_t id = 1; id <= 1000; ++id) {
      paxos::PersistBatch batch;
      batch.ready_id = id;
      batch.chosen.push_back(paxos::ChosenEntry{id, batch_value(1, id, 4, 1000)});
      REQUIRE(store->persist(batch).status.ok());
      acknowledged = id;
      while (result.ok() && store->log_pending_bytes() > 0) result = store->checkpoint();
      if (!result.ok()) break;
    }
    INFO(result.to_string());
    CHECK(result.code == Code::no_space);
    CHECK(result.message.find("map_bytes_max") != std::string::npos);
    CHECK(acknowledged > 10);
    CHECK(store->map_bytes() == options.map_bytes_max);
    CHECK(store->persist(chosen_batch(acknowledged + 100, acknowledged + 1, acknowledged + 1)).status.code ==
          Code::refused);
    CHECK(store->save_snapshot(Snapshot{1, testing::voters({1}), "s"}).code == Code::refused);
  }
  options.map_bytes_max = 64 << 20;
  LoadResult loaded = load_after_reopen(options);
  REQUIRE(loaded.status.ok());
  CHECK(loaded.durable.chosen.size() == acknowledged);
}

TEST_CASE("lmdb: a data directory that cannot be created gives a clear error", "[lmdb][errors]") {
  TempDir dir;
  const std::string file = dir.sub("plain-file");
  { std::ofstream(file) << "not a directory"; }

  auto under_file = LmdbStorage::open(lmdb_options(file + "/data"));
  CHECK(under_file.status.code == Code::io_error);
  CHECK(under_file.status.message.find("cannot create data directory " + file + "/data") != std::string::npos);

  auto is_file = LmdbStorage::open(lmdb_options(file));
  CHECK(is_file.status.code == Code::io_error);
  CHECK(is_file.status.message.find("is not a directory") != std::string::npos);

  if (geteuid() != 0) {  // root writes through permission bits
    const std::string locked_down = dir.sub("read-only");
    REQUIRE(mkdir(locked_down.c_str(), 0500) == 0);
    auto unwritable = LmdbStorage::open(lmdb_options(locked_down));
    CHECK(unwritable.status.code == Code::io_error);
    CHECK(unwritable.status.message.find("is the data directory writable") != std::string::npos);
  }
}

TEST_CASE("lmdb: a write the disk refuses fails cleanly, and the store refuses writes until reopened",
          "[lmdb][errors]") {
  // The file-size limit makes the log's next write past it fail with EFBIG, as
  // a full disk fails it with ENOSPC; the torn frame is cut at the next load. It runs in a child, so the limit and the
  // ignored SIGXFSZ do not reach the test runner.
  TempDir dir;
  const LmdbOptions options = lmdb_options(dir.sub("data"));
  {
    auto store = open_ok(options);
    REQUIRE(store->load().status.code == Code::fresh);
    REQUIRE(store->persist(chosen_batch(1, 1, 3)).status.ok());
  }
  const pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    auto opened = LmdbStorage::open(options);
    if (!opened.status.ok() || !opened.storage->load().status.ok()) _exit(10);
    struct stat file {};
    if (stat((options.data_dir + "/data.mdb").c_str(), &file) != 0) _exit(11);
    std::signal(SIGXFSZ, SIG_IGN);
    const rlimit limit{static_cast<rlim_t>(file.st_size), static_cast<rlim_t>(file.st_size)};
    if (setrlimit(RLIMIT_FSIZE, &limit) != 0) _exit(12);
    paxos::PersistBatch big;
    big.ready_id = 1;
    for (paxos::Slot slot = 4; slot < 4 + 64; ++slot) big.chosen.push_back({slot, batch_value(2, slot, 8, 4096)});
    PersistResult failed = opened.storage->persist(big);
    if (failed.status.ok() || failed.receipt) _exit(13);
    if (failed.status.code != Code::no_space && failed.status.code != Code::io_error) _exit(14);
    if (failed.status.message.find("cannot write the log") == std::string::npos) _exit(15);
    if (opened.storage->persist(chosen_batch(2, 4, 4)).status.code != Code::refused) _exit(16);
    _exit(0);
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  LoadResult loaded = load_after_reopen(options);
  REQUIRE(loaded.status.ok());
  CHECK(loaded.durable.chosen.size() == 3);
}
