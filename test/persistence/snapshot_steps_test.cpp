// Snapshots saved in steps (Storage::save_snapshot_step, issue 18), against
// both implementations: the latest snapshot stays whole and readable until
// the last step, a restart at any step loses nothing, leftovers are erased by
// compaction, and a version 2 store's chunks are re-keyed on its first load.
#include <catch2/catch.hpp>

#include "backends.h"
#include "base/crc32c.h"

using namespace synod;
using namespace synod::persistence;
using synod::persistence::testing::chosen_batch;

namespace {

using testing::default_options;
using testing::image_of;
using testing::LmdbBackend;
using testing::MemoryBackend;
using testing::persist_ok;
using testing::reload;
using testing::require_fresh_then_loaded;

// Chunks of 1,000 bytes, two per step.
StorageOptions step_options() {
  StorageOptions options = default_options();
  options.snapshot_chunk_bytes = 1000;
  options.snapshot_step_bytes = 2000;
  options.compact_records_max = 4;
  return options;
}

// A fresh store with chosen slots 1..20.
Storage& with_chosen_log(Storage& store) {
  require_fresh_then_loaded(store);
  persist_ok(store, chosen_batch(1, 1, 20));
  return store;
}

// Steps `snapshot` until it is the latest; returns how many steps it took.
int save_in_steps(Storage& store, const Snapshot& snapshot) {
  int steps = 0;
  for (SnapshotStep step{Status{}, true}; step.more; ++steps) {
    REQUIRE(steps < 1000);
    step = store.save_snapshot_step(snapshot);
    INFO(step.status.to_string());
    REQUIRE(step.status.ok());
  }
  return steps;
}

// Compacts through `slot` until nothing is left; returns the records erased.
uint64_t compact_all(Storage& store, paxos::Slot slot) {
  uint64_t erased = 0;
  int calls = 0;
  for (CompactResult result{Status{}, 0, true}; result.more; ++calls) {
    REQUIRE(calls < 1000);
    result = store.compact(slot);
    INFO(result.status.to_string());
    REQUIRE(result.status.ok());
    erased += result.records_erased;
  }
  return erased;
}

std::string read_whole(Storage& store, paxos::Slot slot) {
  std::string bytes;
  for (;;) {
    ChunkResult result = store.read_snapshot_chunk(slot, bytes.size(), 1 << 20);
    INFO(result.status.to_string());
    REQUIRE(result.status.ok());
    bytes += result.chunk.bytes;
    if (result.chunk.last) return bytes;
  }
}

}  // namespace

TEMPLATE_TEST_CASE("a snapshot saved in steps becomes the latest only at its last step", "[storage][snapshot]",
                   LmdbBackend, MemoryBackend) {
  TestType backend(step_options());
  Storage& store = with_chosen_log(backend.store());
  const Snapshot first{5, {1, 2, 3}, image_of(2500)};  // three chunks
  REQUIRE(store.save_snapshot(first).ok());

  // Nine chunks of slot 12, in steps of two: until the last step, the
  // snapshot at 5 is the latest, whole to a peer and to a restart.
  const Snapshot second{12, {1, 2, 3}, image_of(8500)};
  for (int step = 0; step < 4; ++step) {
    const SnapshotStep result = store.save_snapshot_step(second);
    REQUIRE(result.status.ok());
    REQUIRE(result.more);
    CHECK(store.snapshot_info()->slot == 5);
    CHECK(read_whole(store, 5) == first.bytes);
  }
  backend.restart();
  LoadResult loaded = reload(store);
  REQUIRE(loaded.snapshot);
  CHECK(*loaded.snapshot == first);
  CHECK(loaded.durable.snapshot_slot == 5);

  // After the restart the steps start over, and the fifth is the last.
  CHECK(save_in_steps(store, second) == 5);
  CHECK(store.snapshot_info()->slot == 12);
  CHECK(read_whole(store, 12) == second.bytes);
  CHECK(store.read_snapshot_chunk(5, 0, 10).status.code == Code::snapshot_changed);
  CHECK(store.log_stats().slots_since_snapshot == 8);

  // Compaction erases the old snapshot's three chunks and slots 1..12.
  CHECK(compact_all(store, 12) == 3 + 12);
  CHECK(compact_all(store, 12) == 0);
  backend.restart();
  loaded = reload(store);
  REQUIRE(loaded.snapshot);
  CHECK(*loaded.snapshot == second);
  CHECK(loaded.durable.chosen.size() == 8);
}

TEMPLATE_TEST_CASE("the steps of a snapshot that a restart cut short are erased by compaction", "[storage][snapshot]",
                   LmdbBackend, MemoryBackend) {
  TestType backend(step_options());
  Storage& store = with_chosen_log(backend.store());
  // Two steps (four chunks) of a first snapshot at 8, then a restart: there
  // is no snapshot, and the four chunks are garbage.
  const Snapshot cut{8, {1, 2, 3}, image_of(9000)};
  REQUIRE(store.save_snapshot_step(cut).more);
  REQUIRE(store.save_snapshot_step(cut).more);
  backend.restart();
  LoadResult loaded = reload(store);
  CHECK_FALSE(loaded.snapshot);

  const Snapshot saved{10, {1, 2, 3}, image_of(1500)};
  CHECK(save_in_steps(store, saved) == 1);
  CHECK(compact_all(store, 10) == 4 + 10);
  backend.restart();
  CHECK(reload(store).snapshot == std::optional<Snapshot>(saved));
}

TEMPLATE_TEST_CASE("a restart's shorter image of the same slot leaves no chunk past its end", "[storage][snapshot]",
                   LmdbBackend, MemoryBackend) {
  TestType backend(step_options());
  Storage& store = with_chosen_log(backend.store());
  // Six chunks of a 9,000-byte image at slot 8, then a restart, then a
  // 2,500-byte image at the same slot: chunks 3..5 of the first must go, or
  // the next load would count more chunks than the snapshot record says.
  const Snapshot longer{8, {1, 2, 3}, image_of(9000)};
  for (int step = 0; step < 3; ++step) REQUIRE(store.save_snapshot_step(longer).more);
  backend.restart();
  reload(store);
  const Snapshot shorter{8, {1, 2, 3}, std::string(2500, 'x')};
  CHECK(save_in_steps(store, shorter) == 2);
  backend.restart();
  LoadResult loaded = reload(store);
  REQUIRE(loaded.snapshot);
  CHECK(*loaded.snapshot == shorter);
}

TEMPLATE_TEST_CASE("a snapshot saved whole meanwhile makes the steps of an older one moot", "[storage][snapshot]",
                   LmdbBackend, MemoryBackend) {
  TestType backend(step_options());
  Storage& store = with_chosen_log(backend.store());
  const Snapshot own{8, {1, 2, 3}, image_of(9000)};
  REQUIRE(store.save_snapshot_step(own).more);
  // A peer's snapshot, above the log, is saved whole (Node::install_snapshot).
  const Snapshot peer{30, {1, 2, 3}, image_of(3000)};
  REQUIRE(store.save_snapshot(peer).ok());
  const SnapshotStep moot = store.save_snapshot_step(own);
  CHECK(moot.status.code == Code::snapshot_changed);
  CHECK_FALSE(moot.more);
  CHECK(store.snapshot_info()->slot == 30);
  backend.restart();
  LoadResult loaded = reload(store);
  REQUIRE(loaded.snapshot);
  CHECK(*loaded.snapshot == peer);
}

// A version 2 store keyed each chunk by its index alone. Such a store is made
// here from a current one by moving its chunks back under 8-byte keys (with
// the checksums that cover those keys) and writing version 2 in its format
// record; version 2 lived on main only between two sessions of issue 18.
TEST_CASE("lmdb: a version 2 store's snapshot chunks are re-keyed on its first load",
          "[storage][snapshot][migration]") {
  testing::TempDir dir;
  LmdbOptions options = testing::lmdb_options(dir.sub("data"));
  options.storage = step_options();
  const Snapshot snapshot{6, {1, 2, 3}, image_of(3500)};
  {
    auto store = testing::open_ok(options);
    REQUIRE(store->load().status.code == Code::fresh);
    persist_ok(*store, chosen_batch(1, 1, 9));
    REQUIRE(store->save_snapshot(snapshot).ok());
  }
  {
    testing::RawLmdb raw(options.data_dir);
    for (uint64_t index = 0; index < 4; ++index) {
      const std::string key = chunk_key(6, index);
      std::string value = *raw.get(Table::snapshot_chunks, key);
      const std::string old_key = slot_key(index);
      const uint32_t crc = crc32c(std::string_view(value).substr(4), crc32c(old_key));
      for (size_t i = 0; i < 4; ++i) value[i] = static_cast<char>((crc >> (8 * i)) & 0xff);
      raw.erase(Table::snapshot_chunks, key);
      raw.put(Table::snapshot_chunks, old_key, value);
    }
    std::string format;
    encode_format(FormatRecord{2, 1}, format);
    raw.put(Table::meta, kFormatKey, format);
  }
  auto store = testing::open_ok(options);
  LoadResult first = store->load();
  INFO(first.status.to_string());
  REQUIRE(first.status.ok());
  CHECK(first.migrated_from_version == 2);
  REQUIRE(first.snapshot);
  CHECK(*first.snapshot == snapshot);
  CHECK(first.durable.chosen.size() == 3);
  CHECK(read_whole(*store, 6) == snapshot.bytes);
  LoadResult second = store->load();
  CHECK(second.migrated_from_version == 0);
  REQUIRE(second.snapshot);
  CHECK(*second.snapshot == snapshot);
}
