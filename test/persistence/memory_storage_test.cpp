// The in-memory twin's disk model and fault hooks (memory_storage.h): a crash
// loses exactly what was not synced, and every torn or flipped record is
// reported by load() as corrupt, never served.
#include <catch2/catch.hpp>

#include "base/random.h"
#include "persistence/memory_storage.h"
#include "support.h"

using namespace synod;
using namespace synod::persistence;
using synod::persistence::testing::chosen_batch;
using synod::persistence::testing::promise_batch;
using synod::persistence::testing::vote_batch;

namespace {

const paxos::Ballot kBallot{5, 3};

StorageOptions small_chunks() {
  StorageOptions options;
  options.node_id = 3;
  options.snapshot_chunk_bytes = 16;
  return options;
}

// A store with a record of every kind: format, state, snapshot, votes (one
// under the snapshot, one above), chosen slots on both sides of the
// snapshot, and several snapshot chunks, all in the tables (the snapshot
// checkpointed the log); then two log frames the tables do not hold yet
// (chosen 6..7, a vote for 8). Ready ids 1 to 6. 13 records: 12 in the
// tables and the first frame (the last frame's damage is a torn tail).
void fill(MemoryStorage& store) {
  REQUIRE(store.load().status.code == Code::fresh);
  REQUIRE(store.persist(vote_batch(1, kBallot, 1)).status.ok());
  REQUIRE(store.persist(chosen_batch(2, 1, 4)).status.ok());
  REQUIRE(store.persist(vote_batch(3, kBallot, 5)).status.ok());
  REQUIRE(store.persist(vote_batch(4, kBallot, 6)).status.ok());
  REQUIRE(store.save_snapshot(Snapshot{5, testing::voters({1, 2, 3}), "snapshot image of forty bytes, or so..."}).ok());
  REQUIRE(store.persist(chosen_batch(5, 6, 7)).status.ok());
  REQUIRE(store.persist(vote_batch(6, kBallot, 8)).status.ok());
  REQUIRE(store.record_count() == 13);
  REQUIRE(store.record(12).log_frame);
}

}  // namespace

TEST_CASE("a crash loses the writes that were not synced, and only those", "[memory]") {
  MemoryStorage store(small_chunks());
  REQUIRE(store.load().status.code == Code::fresh);
  REQUIRE(store.persist(vote_batch(1, kBallot, 1)).status.ok());
  REQUIRE(store.write_unsynced(vote_batch(2, kBallot, 2)).ok());
  REQUIRE(store.write_unsynced(vote_batch(3, kBallot, 3)).ok());
  CHECK(store.unsynced_writes() == 2);

  SECTION("everything unsynced is lost") {
    store.crash();
    LoadResult loaded = store.load();
    REQUIRE(loaded.status.ok());
    REQUIRE(loaded.durable.accepted.size() == 1);
    CHECK(loaded.durable.accepted[0].slot == 1);
  }
  SECTION("a prefix of whole transactions may survive") {
    store.crash(1);
    LoadResult loaded = store.load();
    REQUIRE(loaded.status.ok());
    CHECK(loaded.durable.accepted.size() == 2);
  }
  SECTION("sync makes them durable and hands out the last receipt") {
    auto receipt = store.sync();
    REQUIRE(receipt);
    CHECK(receipt->ready_id() == 3);
    store.crash();
    CHECK(store.load().durable.accepted.size() == 3);
  }
  SECTION("a persist syncs what was written before it") {
    REQUIRE(store.persist(paxos::PersistBatch{4, {}, {}, {}}).status.ok());
    CHECK(store.unsynced_writes() == 0);
    store.crash();
    CHECK(store.load().durable.accepted.size() == 3);
  }
}

TEST_CASE("every bit flip in every record is detected by load", "[memory][faults]") {
  MemoryStorage store(small_chunks());
  fill(store);
  store.crash();
  REQUIRE(store.load().status.ok());
  const size_t records = store.record_count();
  REQUIRE(records == 14);  // the load replayed the log into the tables
  size_t flips = 0;
  for (size_t index = 0; index < records; ++index) {
    const auto record = store.record(index);
    for (uint64_t bit = 0; bit < 8 * record.value_bytes; ++bit) {
      store.flip_bit(index, bit);
      store.crash();
      LoadResult loaded = store.load();
      INFO(table_name(record.table) << " record " << index << " bit " << bit << ": " << loaded.status.to_string());
      REQUIRE(loaded.status.code == Code::corrupt);
      CHECK(loaded.durable.chosen.empty());
      CHECK_FALSE(loaded.snapshot);
      store.flip_bit(index, bit);  // flipping again restores it
      ++flips;
    }
  }
  store.crash();
  CHECK(store.load().status.ok());
  CHECK(flips > 1000);
}

TEST_CASE("every torn record is detected by load", "[memory][faults]") {
  MemoryStorage probe(small_chunks());
  fill(probe);
  const size_t records = probe.record_count();
  for (size_t index = 0; index < records; ++index) {
    const size_t size = probe.record(index).value_bytes;
    for (size_t kept = 0; kept < size; ++kept) {
      MemoryStorage store(small_chunks());
      fill(store);
      store.tear_record(index, kept);
      store.crash();
      LoadResult loaded = store.load();
      INFO("record " << index << " kept " << kept << " of " << size << ": " << loaded.status.to_string());
      REQUIRE(loaded.status.code == Code::corrupt);
    }
  }
}

TEST_CASE("a damaged snapshot chunk is refused when read for a transfer", "[memory][faults]") {
  MemoryStorage store(small_chunks());
  fill(store);
  size_t chunk_index = store.record_count();
  for (size_t index = 0; index < store.record_count(); ++index) {
    if (store.record(index).table == Table::snapshot_chunks) chunk_index = index;
  }
  REQUIRE(chunk_index < store.record_count());
  store.flip_bit(chunk_index, 70);
  bool refused = false;
  for (uint64_t offset = 0; offset < 40; offset += 16) {
    refused = refused || store.read_snapshot_chunk(5, offset, 16).status.code == Code::corrupt;
  }
  CHECK(refused);
}

TEST_CASE("a lost disk loads as fresh", "[memory][faults]") {
  MemoryStorage store(small_chunks());
  fill(store);
  store.lose_disk();
  LoadResult loaded = store.load();
  CHECK(loaded.status.code == Code::fresh);
  CHECK(loaded.durable.chosen.empty());
}

TEST_CASE("a failing disk fails the write, and the store refuses writes until restarted", "[memory][faults]") {
  MemoryStorage store(small_chunks());
  fill(store);
  store.fail_writes(Code::no_space);
  PersistResult failed = store.persist(vote_batch(7, kBallot, 9));
  CHECK(failed.status.code == Code::no_space);
  CHECK_FALSE(failed.receipt);
  store.fail_writes(Code::ok);
  CHECK(store.persist(vote_batch(8, kBallot, 9)).status.code == Code::refused);
  CHECK(store.save_snapshot(Snapshot{5, testing::voters({1}), "x"}).code == Code::refused);
  CHECK(store.compact(1).status.code == Code::refused);
  store.crash();
  LoadResult loaded = store.load();
  REQUIRE(loaded.status.ok());
  for (const auto& vote : loaded.durable.accepted) CHECK(vote.slot != 9);
  CHECK(store.persist(vote_batch(1, kBallot, 9)).status.ok());
}

TEST_CASE("after a corrupt load, reset leaves an empty store for this node", "[memory][faults]") {
  MemoryStorage store(small_chunks());
  fill(store);
  store.flip_bit(0, 3);
  store.crash();
  REQUIRE(store.load().status.code == Code::corrupt);
  REQUIRE(store.reset().ok());
  CHECK(store.persist(promise_batch(1, kBallot)).status.ok());
  store.crash();
  LoadResult loaded = store.load();
  REQUIRE(loaded.status.ok());
  CHECK(loaded.durable.promised == kBallot);
  CHECK(loaded.durable.chosen.empty());
  CHECK_FALSE(loaded.snapshot);
}

TEST_CASE("the same seed drives the twin to the same disk", "[memory]") {
  auto run = [](uint64_t seed) {
    Random random(seed);
    MemoryStorage store(small_chunks());
    REQUIRE(store.load().status.code == Code::fresh);
    uint64_t ready_id = 0;
    paxos::Slot chosen = 0;
    for (int step = 0; step < 200; ++step) {
      if (random.chance(1, 3)) {
        const auto next = chosen + 1 + static_cast<paxos::Slot>(random.uniform(0, 3));
        REQUIRE(store.persist(chosen_batch(++ready_id, chosen + 1, next)).status.ok());
        chosen = next;
      } else if (random.chance(1, 10)) {
        store.crash(static_cast<size_t>(random.uniform(0, static_cast<int64_t>(store.unsynced_writes()))));
        ready_id = 0;
        LoadResult loaded = store.load();
        REQUIRE(loaded.status.ok());
        chosen = loaded.durable.chosen.empty() ? 0 : loaded.durable.chosen.back().slot;
      } else {
        const auto slot = chosen + 1 + static_cast<paxos::Slot>(random.uniform(0, 5));
        REQUIRE(store.write_unsynced(vote_batch(++ready_id, kBallot, slot)).ok());
      }
    }
    store.sync();
    return store.disk_crc32c();
  };
  CHECK(run(42) == run(42));
  CHECK(run(42) != run(43));
}
