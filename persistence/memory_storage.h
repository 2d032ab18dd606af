// MemoryStorage: the in-memory twin of LmdbStorage, for tests and the
// deterministic simulator.
//
// It runs the same record logic (record_storage.h) and keeps the same records
// (records.h: encoded, with their CRC32C) in ordered maps, one per table, so
// that faults injected here hit the bytes load() really checks.
//
// It models a disk with a volatile write cache. Every write transaction is
// first "written": applied to the current image, which reads see. It becomes
// durable when "synced". persist() writes and syncs, like LMDB; the
// simulator may instead call write_unsynced() and sync() at separate times,
// and crash() in between.
//
// Disk faults (DESIGN §6), each a method the seeded simulator calls with the
// choices it drew, because this class has no randomness of its own:
//   - crash(kept): a power loss. Writes not synced are lost, except the first
//     `kept` whole transactions, which may have reached the disk anyway.
//   - tear_record(i, n): record i keeps only its first n bytes (a torn write).
//   - flip_bit(i, b): bit b of record i's value flips (bit rot).
//   - lose_disk(): the disk is replaced by an empty one.
//   - fail_writes(code): every write fails (a full or failing disk).
// load() reports every torn or flipped record as Code::corrupt; none is
// served. Records are numbered in (table, key) order over the durable image.
//
// Owned by one thread at a time (the simulator's).
#pragma once

#include <array>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "persistence/record_storage.h"

namespace synod::persistence {

class MemoryStorage final : public RecordStorage {
 public:
  explicit MemoryStorage(StorageOptions options);

  // ---- persist in two steps, so that a crash can fall between them
  // Writes the batch as persist() would, without syncing it. No receipt:
  // nothing may be released on its account.
  Status write_unsynced(const paxos::PersistBatch& batch);
  // Syncs everything written; the receipt covers the last batch written
  // (nullopt if none was since load).
  std::optional<paxos::SyncReceipt> sync();
  size_t unsynced_writes() const { return unsynced_.size(); }

  // ---- disk faults
  // A power loss. Afterwards the store must be load()ed again, like a store
  // reopened after a restart.
  void crash(size_t unsynced_writes_kept = 0);
  void lose_disk();
  // Every later write transaction fails with `code` (no_space, io_error)
  // until fail_writes(Code::ok).
  void fail_writes(Code code);

  struct RecordRef {
    Table table = Table::meta;
    std::string key;
    size_t value_bytes = 0;
  };
  size_t record_count() const;
  RecordRef record(size_t index) const;
  // Requires bytes_kept < the record's size, and bit < 8 * its size.
  void tear_record(size_t index, size_t bytes_kept);
  void flip_bit(size_t index, uint64_t bit);

  // A fingerprint of the durable image, to check that two runs of one seed
  // left identical disks.
  uint32_t disk_crc32c() const;

 protected:
  Status run_read(const ReadBody& body) override;
  Status run_write(const WriteBody& body) override;

 public:
  using TableMap = std::map<std::string, std::string, std::less<>>;
  using Image = std::array<TableMap, kTableCount>;
  struct Op {
    Table table = Table::meta;
    std::string key;
    std::optional<std::string> value;  // nullopt: erase
  };
  using Transaction = std::vector<Op>;

 private:
  static void apply(const Transaction& transaction, Image& image);
  // The durable record at `index`, as (table, iterator).
  std::pair<Table, TableMap::iterator> locate(size_t index);
  // Applies `change` to a durable record and, where reads still see the same
  // bytes, to the current image too.
  template <typename Change>
  void damage(size_t index, Change change);

  Image durable_;
  Image current_;
  std::deque<Transaction> unsynced_;
  bool defer_sync_ = false;
  Code failing_ = Code::ok;
};

}  // namespace synod::persistence
