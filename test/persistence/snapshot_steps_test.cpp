// Snapshots saved in steps (Storage::save_snapshot_step, issue 18), against
// both implementations: the latest snapshot stays whole and readable until
// the last step, a restart at any step loses nothing, leftovers are erased by
// compaction, and a version 2 store's chunks are re-keyed on its first load.
#include <catch2/catch.hpp>

#include <functional>

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
  const Snapshot first{5, testing::voters({1, 2, 3}), image_of(2500)};  // three chunks
  REQUIRE(store.save_snapshot(first).ok());

  // Nine chunks of slot 12, in steps of two: until the last step, the
  // snapshot at 5 is the latest, whole to a peer and to a restart.
  const Snapshot second{12, testing::voters({1, 2, 3}), image_of(8500)};
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
  const Snapshot cut{8, testing::voters({1, 2, 3}), image_of(9000)};
  REQUIRE(store.save_snapshot_step(cut).more);
  REQUIRE(store.save_snapshot_step(cut).more);
  backend.restart();
  LoadResult loaded = reload(store);
  CHECK_FALSE(loaded.snapshot);

  const Snapshot saved{10, testing::voters({1, 2, 3}), image_of(1500)};
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
  const Snapshot longer{8, testing::voters({1, 2, 3}), image_of(9000)};
  for (int step = 0; step < 3; ++step) REQUIRE(store.save_snapshot_step(longer).more);
  backend.restart();
  reload(store);
  const Snapshot shorter{8, testing::voters({1, 2, 3}), std::string(2500, 'x')};
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
  const Snapshot own{8, testing::voters({1, 2, 3}), image_of(9000)};
  REQUIRE(store.save_snapshot_step(own).more);
  // A peer's snapshot, above the log, is saved whole (Node::install_snapshot).
  const Snapshot peer{30, testing::voters({1, 2, 3}), image_of(3000)};
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
// the checksums that cover those keys), writing its snapshot record with
// member ids and version 2 in its format record; version 2 lived on main only
// between two sessions of issue 18.
TEST_CASE("lmdb: a version 2 store's snapshot chunks are re-keyed on its first load",
          "[storage][snapshot][migration]") {
  testing::TempDir dir;
  LmdbOptions options = testing::lmdb_options(dir.sub("data"));
  options.storage = step_options();
  const Snapshot snapshot{6, testing::voters({1, 2, 3}), image_of(3500)};
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
    // And the snapshot record in the layout of versions 1 to 3: member ids.
    SnapshotRecord record;
    REQUIRE(decode_snapshot(*raw.get(Table::meta, kSnapshotKey), kFormatVersion, record).empty());
    raw.put(Table::meta, kSnapshotKey,
            testing::sealed_record(kSnapshotKey, RecordTag::snapshot, testing::snapshot_body_v3(record, {1, 2, 3})));
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

// A version 3 store's snapshot record named the members in force (issue 20
// made it keep configurations). Such a store is made here from a current one
// by rewriting its snapshot record in version 3's layout, with the checksum
// that covers it, and writing version 3 in its format record.
TEST_CASE("lmdb: a version 3 store's snapshot members become a bootstrap configuration on its first load",
          "[storage][snapshot][migration][config]") {
  testing::TempDir dir;
  LmdbOptions options = testing::lmdb_options(dir.sub("data"));
  options.storage = step_options();
  const Snapshot snapshot{6, testing::grown_history(), image_of(3500)};
  {
    auto store = testing::open_ok(options);
    REQUIRE(store->load().status.code == Code::fresh);
    persist_ok(*store, chosen_batch(1, 1, 9));
    REQUIRE(store->save_snapshot(snapshot).ok());
  }
  {
    testing::RawLmdb raw(options.data_dir);
    SnapshotRecord record;
    REQUIRE(decode_snapshot(*raw.get(Table::meta, kSnapshotKey), kFormatVersion, record).empty());
    raw.put(Table::meta, kSnapshotKey,
            testing::sealed_record(kSnapshotKey, RecordTag::snapshot, testing::snapshot_body_v3(record, {5, 2, 3})));
    std::string format;
    encode_format(FormatRecord{3, 1}, format);
    raw.put(Table::meta, kFormatKey, format);
  }
  const std::vector<paxos::ConfigEntry> bootstrap{
      paxos::ConfigEntry{1, paxos::kNoSlot, paxos::Configuration::of_voters({2, 3, 5}), nullptr}};
  REQUIRE(bootstrap[0].configuration.next_id == 6);
  auto store = testing::open_ok(options);
  LoadResult first = store->load();
  INFO(first.status.to_string());
  REQUIRE(first.status.ok());
  CHECK(first.migrated_from_version == 3);
  REQUIRE(first.snapshot);
  CHECK(first.snapshot->bytes == snapshot.bytes);
  CHECK(first.snapshot->configurations == bootstrap);
  CHECK(first.durable.configurations == bootstrap);
  CHECK(first.durable.chosen.size() == 3);
  CHECK(store->snapshot_info()->configurations == bootstrap);
  CHECK(read_whole(*store, 6) == snapshot.bytes);  // the chunks, already keyed by slot, were left alone
  LoadResult second = store->load();
  INFO(second.status.to_string());
  REQUIRE(second.status.ok());
  CHECK(second.migrated_from_version == 0);
  CHECK(second.durable.configurations == bootstrap);
  store.reset();
  // The record on disk is version 4's now.
  testing::RawLmdb raw(options.data_dir);
  SnapshotRecord record;
  REQUIRE(decode_snapshot(*raw.get(Table::meta, kSnapshotKey), kFormatVersion, record).empty());
  CHECK(record.configurations == bootstrap);
  FormatRecord format;
  REQUIRE(decode_format(*raw.get(Table::meta, kFormatKey), format).empty());
  CHECK(format.version == kFormatVersion);
}

// A configuration that is wrong behind a valid checksum (a bug, or damage
// the checksum missed) is corruption, never a configuration to run with.
TEST_CASE("lmdb: a snapshot record with a malformed configuration is refused as corrupt",
          "[storage][snapshot][corruption][config]") {
  testing::TempDir dir;
  LmdbOptions options = testing::lmdb_options(dir.sub("data"));
  options.storage = step_options();
  {
    auto store = testing::open_ok(options);
    REQUIRE(store->load().status.code == Code::fresh);
    persist_ok(*store, chosen_batch(1, 1, 9));
    REQUIRE(store->save_snapshot(Snapshot{6, testing::grown_history(), image_of(1500)}).ok());
  }
  SnapshotRecord record;
  {
    testing::RawLmdb raw(options.data_dir);
    REQUIRE(decode_snapshot(*raw.get(Table::meta, kSnapshotKey), kFormatVersion, record).empty());
  }
  const auto load_with = [&](uint64_t count, const std::function<void(Writer&)>& entries) {
    {
      testing::RawLmdb raw(options.data_dir);
      raw.put(Table::meta, kSnapshotKey,
              testing::sealed_record(kSnapshotKey, RecordTag::snapshot,
                                     testing::snapshot_body_v4(record, count, entries)));
    }
    auto store = testing::open_ok(options);
    return store->load().status;
  };
  // voters {1, 2, 3}, learners, next_id, no addresses.
  const auto entry = [](Writer& w, uint64_t from, uint64_t chosen_at, std::vector<uint64_t> learners,
                        uint64_t next_id) {
    w.varint(from), w.varint(chosen_at), w.varint(3), w.varint(1), w.varint(2), w.varint(3);
    w.varint(learners.size());
    for (uint64_t id : learners) w.varint(id);
    w.varint(next_id), w.varint(0);
  };
  // The hand-built record loads when its configuration is right.
  const Status good = load_with(1, [&](Writer& w) { entry(w, 1, 0, {4}, 5); });
  INFO(good.to_string());
  REQUIRE(good.ok());
  // Learner 4 at next_id 4: an id that was never given out.
  const Status bad_id = load_with(1, [&](Writer& w) { entry(w, 1, 0, {4}, 4); });
  CHECK(bad_id.code == Code::corrupt);
  CHECK(bad_id.message.find("snapshot record: malformed configuration") != std::string::npos);
  // A learner that is also a voter.
  CHECK(load_with(1, [&](Writer& w) { entry(w, 1, 0, {3}, 5); }).code == Code::corrupt);
  // No configuration at all.
  const Status none = load_with(0, [](Writer&) {});
  CHECK(none.code == Code::corrupt);
  CHECK(none.message.find("no configuration") != std::string::npos);
  // Two out of slot order.
  CHECK(load_with(2, [&](Writer& w) {
          entry(w, 46, 30, {}, 5);
          entry(w, 20, 4, {}, 5);
        }).code == Code::corrupt);
}
