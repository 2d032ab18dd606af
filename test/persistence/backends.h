// The two Storage implementations as the tests that run against both see
// them (TEMPLATE_TEST_CASE over LmdbBackend and MemoryBackend): a store, and
// a restart that closes and reopens the LMDB store or crashes the twin (which
// loses nothing synced). Plus the helpers those tests share.
#pragma once

#include <catch2/catch.hpp>

#include <memory>

#include "persistence/lmdb_storage.h"
#include "persistence/memory_storage.h"
#include "support.h"

namespace synod::persistence::testing {

inline StorageOptions default_options() {
  StorageOptions options;
  options.node_id = 1;
  return options;
}

// Forwards to whichever store is open now, so that a test's Storage& stays
// valid across a restart that replaces the LmdbStorage object.
class ForwardingStorage final : public Storage {
 public:
  std::unique_ptr<LmdbStorage> target;

  LoadResult load() override { return target->load(); }
  PersistResult persist(const paxos::PersistBatch& batch) override { return target->persist(batch); }
  PersistResult persist_group(std::span<const paxos::PersistBatch* const> batches) override {
    return target->persist_group(batches);
  }
  Status save_snapshot(const Snapshot& snapshot) override { return target->save_snapshot(snapshot); }
  SnapshotStep save_snapshot_step(const Snapshot& snapshot) override { return target->save_snapshot_step(snapshot); }
  CompactResult compact(paxos::Slot through) override { return target->compact(through); }
  ChunkResult read_snapshot_chunk(paxos::Slot slot, uint64_t offset, uint64_t length_max) override {
    return target->read_snapshot_chunk(slot, offset, length_max);
  }
  std::optional<SnapshotInfo> snapshot_info() const override { return target->snapshot_info(); }
  LogStats log_stats() const override { return target->log_stats(); }
  bool snapshot_due() const override { return target->snapshot_due(); }
  bool checkpoint_due() const override { return target->checkpoint_due(); }
  Status checkpoint() override { return target->checkpoint(); }
  Status reset() override { return target->reset(); }
};

class LmdbBackend {
 public:
  explicit LmdbBackend(StorageOptions options = default_options()) : options_(std::move(options)) { open(); }
  Storage& store() { return store_; }
  void restart() {
    store_.target.reset();
    open();
  }

 private:
  void open() {
    LmdbOptions options = lmdb_options(dir_.sub("data"));
    options.storage = options_;
    auto opened = LmdbStorage::open(options);
    INFO(opened.status.to_string());
    REQUIRE(opened.status.ok());
    store_.target = std::move(opened.storage);
  }

  testing::TempDir dir_;
  StorageOptions options_;
  ForwardingStorage store_;
};

class MemoryBackend {
 public:
  explicit MemoryBackend(StorageOptions options = default_options()) : storage_(std::move(options)) {}
  Storage& store() { return storage_; }
  void restart() { storage_.crash(0); }

 private:
  MemoryStorage storage_;
};

inline void require_fresh_then_loaded(Storage& store) {
  LoadResult loaded = store.load();
  INFO(loaded.status.to_string());
  REQUIRE(loaded.status.usable());
}

inline uint64_t persist_ok(Storage& store, const paxos::PersistBatch& batch) {
  PersistResult result = store.persist(batch);
  INFO(result.status.to_string());
  REQUIRE(result.status.ok());
  REQUIRE(result.receipt);
  return result.receipt->ready_id();
}

inline LoadResult reload(Storage& store) {
  LoadResult loaded = store.load();
  INFO(loaded.status.to_string());
  REQUIRE(loaded.status.ok());
  return loaded;
}

inline std::string image_of(size_t bytes) {
  std::string image(bytes, '\0');
  uint32_t x = 12345;
  for (char& c : image) {
    x = x * 1103515245 + 12345;
    c = static_cast<char>(x >> 16);
  }
  return image;
}

}  // namespace synod::persistence::testing
