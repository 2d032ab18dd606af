// The Storage contract (storage.h), run against both implementations: LMDB
// on a temporary directory, and the in-memory twin. A "restart" closes and
// reopens the LMDB store, and crashes the twin (which loses nothing synced).
#include <catch2/catch.hpp>

#include <memory>

#include "backends.h"

using namespace synod;
using namespace synod::persistence;
using synod::persistence::testing::chosen_batch;
using synod::persistence::testing::promise_batch;
using synod::persistence::testing::value_for;
using synod::persistence::testing::vote_batch;

namespace {

using testing::default_options;
using testing::image_of;
using testing::LmdbBackend;
using testing::MemoryBackend;
using testing::persist_ok;
using testing::reload;
using testing::require_fresh_then_loaded;

const paxos::Ballot kBallot{3, 2};
const paxos::Ballot kHigher{4, 1};

std::vector<paxos::Slot> slots_of(const std::vector<paxos::ChosenEntry>& entries) {
  std::vector<paxos::Slot> slots;
  for (const auto& entry : entries) slots.push_back(entry.slot);
  return slots;
}

std::vector<paxos::Slot> slots_of(const std::vector<paxos::AcceptedEntry>& entries) {
  std::vector<paxos::Slot> slots;
  for (const auto& entry : entries) slots.push_back(entry.slot);
  return slots;
}

}  // namespace

TEMPLATE_TEST_CASE("a fresh store loads as fresh, then as empty", "[storage]", LmdbBackend, MemoryBackend) {
  TestType backend;
  LoadResult first = backend.store().load();
  CHECK(first.status.code == Code::fresh);
  CHECK(first.durable.promised.is_zero());
  CHECK_FALSE(first.snapshot);
  backend.restart();
  LoadResult second = reload(backend.store());
  CHECK(second.durable.promised.is_zero());
  CHECK(second.durable.accepted.empty());
  CHECK(second.durable.chosen.empty());
  CHECK(second.durable.snapshot_slot == paxos::kNoSlot);
  CHECK_FALSE(second.snapshot);
}

TEMPLATE_TEST_CASE("everything persisted comes back after a restart", "[storage]", LmdbBackend, MemoryBackend) {
  TestType backend;
  Storage& store = backend.store();
  require_fresh_then_loaded(store);
  CHECK(persist_ok(store, promise_batch(1, kBallot)) == 1);
  for (paxos::Slot slot = 1; slot <= 5; ++slot) persist_ok(store, vote_batch(1 + slot, kBallot, slot));
  CHECK(persist_ok(store, chosen_batch(7, 1, 3)) == 7);

  backend.restart();
  LoadResult loaded = reload(store);
  CHECK(loaded.durable.promised == kBallot);
  // Votes of chosen slots went with the chosen records: the log answers for them.
  CHECK(slots_of(loaded.durable.accepted) == std::vector<paxos::Slot>{4, 5});
  for (const auto& vote : loaded.durable.accepted) {
    CHECK(vote.ballot == kBallot);
    CHECK(*vote.value == *value_for(vote.slot));
  }
  CHECK(slots_of(loaded.durable.chosen) == std::vector<paxos::Slot>{1, 2, 3});
  for (const auto& entry : loaded.durable.chosen) CHECK(*entry.value == *value_for(entry.slot));
  const LogStats stats = store.log_stats();
  CHECK(stats.chosen_first == 1);
  CHECK(stats.chosen_last == 3);
  CHECK(stats.votes == 2);
  CHECK(stats.slots_since_snapshot == 3);
}

TEMPLATE_TEST_CASE("a higher ballot's vote replaces the lower one", "[storage]", LmdbBackend, MemoryBackend) {
  TestType backend;
  Storage& store = backend.store();
  require_fresh_then_loaded(store);
  persist_ok(store, vote_batch(1, kBallot, 9));
  paxos::PersistBatch replace;
  replace.ready_id = 2;
  replace.promised = kHigher;
  replace.accepted.push_back(paxos::AcceptedEntry{9, kHigher, paxos::make_noop()});
  persist_ok(store, replace);
  backend.restart();
  LoadResult loaded = reload(store);
  REQUIRE(loaded.durable.accepted.size() == 1);
  CHECK(loaded.durable.accepted[0].ballot == kHigher);
  CHECK(loaded.durable.accepted[0].value->kind == paxos::Value::Kind::noop);
  CHECK(store.log_stats().votes == 1);
}

TEMPLATE_TEST_CASE("group commit writes several batches and returns the last receipt", "[storage]", LmdbBackend,
                   MemoryBackend) {
  TestType backend;
  Storage& store = backend.store();
  require_fresh_then_loaded(store);
  const std::vector<paxos::PersistBatch> batches = {vote_batch(1, kBallot, 1), vote_batch(2, kBallot, 2),
                                                    chosen_batch(3, 1, 1), vote_batch(4, kHigher, 3),
                                                    paxos::PersistBatch{5, {}, {}, {}}};
  std::vector<const paxos::PersistBatch*> group;
  for (const auto& batch : batches) group.push_back(&batch);
  PersistResult result = store.persist_group(group);
  REQUIRE(result.status.ok());
  CHECK(result.receipt->ready_id() == 5);
  CHECK(persist_ok(store, chosen_batch(6, 2, 2)) == 6);

  backend.restart();
  LoadResult loaded = reload(store);
  CHECK(loaded.durable.promised == kHigher);
  CHECK(slots_of(loaded.durable.accepted) == std::vector<paxos::Slot>{3});
  CHECK(slots_of(loaded.durable.chosen) == std::vector<paxos::Slot>{1, 2});
}

TEMPLATE_TEST_CASE("chosen entries already durable are skipped, not written twice", "[storage]", LmdbBackend,
                   MemoryBackend) {
  TestType backend;
  Storage& store = backend.store();
  require_fresh_then_loaded(store);
  persist_ok(store, chosen_batch(1, 1, 5));
  // A restart replays slots 1..5 and a peer's snapshot overtakes slots up to 8.
  persist_ok(store, chosen_batch(2, 3, 6));
  REQUIRE(store.save_snapshot(Snapshot{8, testing::voters({1, 2, 3}), "image"}).ok());
  persist_ok(store, chosen_batch(3, 7, 9));
  CHECK(store.log_stats().chosen_last == 9);
  backend.restart();
  LoadResult loaded = reload(store);
  CHECK(slots_of(loaded.durable.chosen) == std::vector<paxos::Slot>{9});
  CHECK(store.log_stats().chosen_first == 1);
}

TEMPLATE_TEST_CASE("an empty batch is acknowledged and changes nothing", "[storage]", LmdbBackend, MemoryBackend) {
  TestType backend;
  Storage& store = backend.store();
  require_fresh_then_loaded(store);
  persist_ok(store, vote_batch(1, kBallot, 1));
  CHECK(persist_ok(store, paxos::PersistBatch{2, {}, {}, {}}) == 2);
  backend.restart();
  LoadResult loaded = reload(store);
  CHECK(slots_of(loaded.durable.accepted) == std::vector<paxos::Slot>{1});
}

TEMPLATE_TEST_CASE("a snapshot truncates what a restart replays, and compaction erases what it covers",
                   "[storage]", LmdbBackend, MemoryBackend) {
  StorageOptions options = default_options();
  options.compact_records_max = 3;
  TestType backend(options);
  Storage& store = backend.store();
  require_fresh_then_loaded(store);
  persist_ok(store, chosen_batch(1, 1, 20));
  persist_ok(store, vote_batch(2, kBallot, 21));
  persist_ok(store, vote_batch(3, kBallot, 22));
  const Snapshot snapshot{10, testing::voters({1, 2, 3}), image_of(5000)};
  REQUIRE(store.save_snapshot(snapshot).ok());
  CHECK(store.log_stats().slots_since_snapshot == 10);

  backend.restart();
  LoadResult loaded = reload(store);
  CHECK(loaded.durable.snapshot_slot == 10);
  REQUIRE(loaded.snapshot);
  CHECK(*loaded.snapshot == snapshot);
  CHECK(slots_of(loaded.durable.chosen) == std::vector<paxos::Slot>{11, 12, 13, 14, 15, 16, 17, 18, 19, 20});
  CHECK(slots_of(loaded.durable.accepted) == std::vector<paxos::Slot>{21, 22});
  CHECK(store.log_stats().chosen_first == 1);

  uint64_t erased = 0;
  int calls = 0;
  for (CompactResult result{Status{}, 0, true}; result.more; ++calls) {
    REQUIRE(calls < 10);
    result = store.compact(10);
    REQUIRE(result.status.ok());
    CHECK(result.records_erased <= 3);
    erased += result.records_erased;
  }
  CHECK(erased == 10);
  CHECK(calls == 4);
  CHECK(store.log_stats().chosen_first == 11);

  backend.restart();
  loaded = reload(store);
  CHECK(loaded.durable.chosen.size() == 10);
  CHECK(store.log_stats().chosen_first == 11);
}

TEMPLATE_TEST_CASE("a snapshot from a peer may lie above the chosen log", "[storage]", LmdbBackend, MemoryBackend) {
  TestType backend;
  Storage& store = backend.store();
  require_fresh_then_loaded(store);
  persist_ok(store, chosen_batch(1, 1, 5));
  persist_ok(store, vote_batch(2, kBallot, 7));
  REQUIRE(store.save_snapshot(Snapshot{50, testing::voters({1, 2, 3}), "image"}).ok());
  persist_ok(store, chosen_batch(3, 51, 52));

  backend.restart();
  LoadResult loaded = reload(store);
  CHECK(loaded.durable.snapshot_slot == 50);
  CHECK(slots_of(loaded.durable.chosen) == std::vector<paxos::Slot>{51, 52});
  CHECK(loaded.durable.accepted.empty());  // slot 7 lies under the snapshot

  CompactResult compacted = store.compact(50);
  REQUIRE(compacted.status.ok());
  CHECK(compacted.records_erased == 6);  // chosen 1..5 and the vote at 7
  CHECK_FALSE(compacted.more);
  CHECK(store.log_stats().votes == 0);
  backend.restart();
  loaded = reload(store);
  CHECK(slots_of(loaded.durable.chosen) == std::vector<paxos::Slot>{51, 52});
  CHECK(store.log_stats().chosen_first == 51);
}

TEMPLATE_TEST_CASE("snapshot_due follows the slot and byte bounds", "[storage]", LmdbBackend, MemoryBackend) {
  StorageOptions options = default_options();
  options.log_slots_max = 5;
  TestType backend(options);
  Storage& store = backend.store();
  require_fresh_then_loaded(store);
  persist_ok(store, chosen_batch(1, 1, 5));
  CHECK_FALSE(store.snapshot_due());
  persist_ok(store, chosen_batch(2, 6, 6));
  CHECK(store.snapshot_due());
  REQUIRE(store.save_snapshot(Snapshot{6, testing::voters({1}), "s"}).ok());
  CHECK_FALSE(store.snapshot_due());
  CHECK(store.log_stats().bytes_since_snapshot == 0);
  persist_ok(store, chosen_batch(3, 7, 7));
  CHECK(store.log_stats().bytes_since_snapshot > 0);
  backend.restart();
  reload(store);
  CHECK(store.log_stats().slots_since_snapshot == 1);
}

TEMPLATE_TEST_CASE("snapshot chunks are bounded, checksummed and resumable", "[storage]", LmdbBackend,
                   MemoryBackend) {
  StorageOptions options = default_options();
  options.snapshot_chunk_bytes = 1000;
  options.transfer_chunk_bytes_max = 700;
  TestType backend(options);
  Storage& store = backend.store();
  require_fresh_then_loaded(store);
  const Snapshot snapshot{9, testing::voters({1, 2, 3}), image_of(10'000)};
  REQUIRE(store.save_snapshot(snapshot).ok());
  const auto info = store.snapshot_info();
  REQUIRE(info);
  CHECK(info->slot == 9);
  CHECK(info->size_bytes == 10'000);

  SECTION("a whole transfer") {
    std::string received;
    for (bool last = false; !last;) {
      ChunkResult result = store.read_snapshot_chunk(9, received.size(), 1 << 20);
      REQUIRE(result.status.ok());
      CHECK(result.chunk.bytes.size() <= 700);
      CHECK(chunk_intact(result.chunk));
      CHECK(result.chunk.offset == received.size());
      CHECK(result.chunk.snapshot_crc32c == info->crc32c);
      received += result.chunk.bytes;
      last = result.chunk.last;
    }
    CHECK(received == snapshot.bytes);
  }
  SECTION("resuming at any offset, across stored chunks, after a restart") {
    backend.restart();
    reload(store);
    for (uint64_t offset : {0ULL, 1ULL, 999ULL, 1000ULL, 3500ULL, 9999ULL}) {
      ChunkResult result = store.read_snapshot_chunk(9, offset, 1500);
      REQUIRE(result.status.ok());
      CHECK(result.chunk.bytes == snapshot.bytes.substr(offset, 700));
      CHECK(chunk_intact(result.chunk));
    }
    ChunkResult end = store.read_snapshot_chunk(9, 10'000, 10);
    REQUIRE(end.status.ok());
    CHECK(end.chunk.bytes.empty());
    CHECK(end.chunk.last);
  }
  SECTION("a tampered chunk fails the receiver's check") {
    ChunkResult result = store.read_snapshot_chunk(9, 0, 100);
    result.chunk.bytes[5] = static_cast<char>(result.chunk.bytes[5] ^ 1);
    CHECK_FALSE(chunk_intact(result.chunk));
  }
  SECTION("an offset past the end, and a replaced snapshot, are refused") {
    CHECK(store.read_snapshot_chunk(9, 10'001, 10).status.code == Code::invalid_argument);
    REQUIRE(store.save_snapshot(Snapshot{12, testing::voters({1, 2, 3}), "newer"}).ok());
    CHECK(store.read_snapshot_chunk(9, 0, 10).status.code == Code::snapshot_changed);
    ChunkResult newer = store.read_snapshot_chunk(12, 0, 10);
    REQUIRE(newer.status.ok());
    CHECK(newer.chunk.bytes == "newer");
  }
}

TEMPLATE_TEST_CASE("an empty snapshot image round trips", "[storage]", LmdbBackend, MemoryBackend) {
  TestType backend;
  Storage& store = backend.store();
  require_fresh_then_loaded(store);
  REQUIRE(store.save_snapshot(Snapshot{3, testing::voters({1, 2, 3}), ""}).ok());
  backend.restart();
  LoadResult loaded = reload(store);
  REQUIRE(loaded.snapshot);
  CHECK(loaded.snapshot->bytes.empty());
  CHECK(loaded.snapshot->configurations == testing::voters({1, 2, 3}));
}

// Issue 20: below a snapshot the log may be compacted away, so the snapshot
// keeps the configurations that govern the slots after it, and a restart
// takes them from there (DurableState::configurations), not from the flags.
TEMPLATE_TEST_CASE("a snapshot keeps the configurations after its slot, and load returns them", "[storage][config]",
                   LmdbBackend, MemoryBackend) {
  StorageOptions options = default_options();
  options.snapshot_chunk_bytes = 1000;
  options.snapshot_step_bytes = 1000;
  TestType backend(options);
  Storage& store = backend.store();
  require_fresh_then_loaded(store);
  persist_ok(store, chosen_batch(1, 1, 50));
  const std::vector<paxos::ConfigEntry> history = testing::grown_history();
  REQUIRE(history.size() == 2);
  // Before any snapshot: the log starts at slot 1, under the flags' configuration.
  CHECK(reload(store).durable.configurations.empty());

  SECTION("saved whole") {
    const Snapshot snapshot{40, history, image_of(2500)};
    REQUIRE(store.save_snapshot(snapshot).ok());
  }
  SECTION("saved in steps") {
    const Snapshot snapshot{40, history, image_of(2500)};
    int steps = 0;
    for (SnapshotStep step{Status{}, true}; step.more; ++steps) {
      REQUIRE(steps < 10);
      step = store.save_snapshot_step(snapshot);
      REQUIRE(step.status.ok());
    }
    CHECK(steps == 3);
  }
  REQUIRE(store.snapshot_info());
  CHECK(store.snapshot_info()->configurations == history);
  for (CompactResult result{Status{}, 0, true}; result.more;) {
    result = store.compact(40);
    REQUIRE(result.status.ok());
  }
  backend.restart();
  const LoadResult loaded = reload(store);
  REQUIRE(loaded.snapshot);
  CHECK(loaded.snapshot->slot == 40);
  CHECK(loaded.snapshot->configurations == history);
  CHECK(loaded.durable.configurations == history);
  REQUIRE(loaded.durable.configurations.size() == 2);
  CHECK(loaded.durable.configurations[0].configuration.addresses.at(4).client == "n4:7100");
  CHECK(loaded.durable.configurations[1].configuration.voters == std::vector<paxos::NodeId>{1, 2, 3, 4});
  CHECK(loaded.durable.chosen.size() == 10);
  REQUIRE(store.snapshot_info());
  CHECK(store.snapshot_info()->configurations == history);

  // A newer snapshot replaces them: the first change no longer governs.
  const std::vector<paxos::ConfigEntry> later{history[1]};
  REQUIRE(store.save_snapshot(Snapshot{50, later, "later"}).ok());
  backend.restart();
  CHECK(reload(store).durable.configurations == later);
}

TEMPLATE_TEST_CASE("a snapshot above snapshot_bytes_max is refused without failing the store", "[storage]",
                   LmdbBackend, MemoryBackend) {
  StorageOptions options = default_options();
  options.snapshot_bytes_max = 100;
  TestType backend(options);
  Storage& store = backend.store();
  require_fresh_then_loaded(store);
  CHECK(store.save_snapshot(Snapshot{3, testing::voters({1}), std::string(101, 'x')}).code == Code::invalid_argument);
  CHECK(store.save_snapshot(Snapshot{3, testing::voters({1}), std::string(100, 'x')}).ok());
  persist_ok(store, chosen_batch(1, 4, 4));
}
