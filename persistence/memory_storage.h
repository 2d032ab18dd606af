// MemoryStorage: the in-memory twin of LmdbStorage, for tests and the
// deterministic simulator.
//
// It runs the same record logic (record_storage.h) and keeps the same records
// (records.h: encoded, with their CRC32C) in ordered maps, one per table, and
// the commit log's ring as a byte string (log_format.h's frames), so that
// faults injected here hit the bytes load() really checks.
//
// It models a disk with a volatile write cache. Every write (a table
// transaction, or a write to the log) is first "written": applied to the
// current image, which reads see. It becomes durable when "synced", in
// order. persist() writes a frame and syncs, like LmdbStorage; a test may
// instead call write_unsynced() and sync() at separate times, and crash() in
// between.
//
// Disk faults (DESIGN §6), each a method the seeded simulator calls with the
// choices it drew, because this class has no randomness of its own:
//   - crash(kept): a power loss. Writes not synced are lost, except the first
//     `kept` whole transactions, which may have reached the disk anyway.
//   - tear_record(i, n): record i keeps only its first n bytes (a torn write).
//   - flip_bit(i, b): bit b of record i's value flips (bit rot).
//   - tear_tail(n): a frame being written when the power went reached the
//     disk as its first n bytes. Never acknowledged, so not corruption: load()
//     cuts it and loses nothing that was synced.
//   - lose_disk(): the disk is replaced by an empty one.
//   - fail_writes(code): every write fails (a full or failing disk).
// load() reports every torn or flipped record as Code::corrupt; none is
// served. Records are numbered in (table, key) order over the durable image,
// then the log frames that the tables do not hold yet, in log order, but for
// the last: damage to the last frame is a torn tail (log_format.h), which
// load() cannot tell from a crash mid-write and cuts.
//
// Owned by one thread at a time (the simulator's).
#pragma once

#include <array>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "persistence/record_storage.h"

namespace synod::persistence {

class MemoryStorage final : public RecordStorage {
 public:
  explicit MemoryStorage(StorageOptions options);
  ~MemoryStorage() override;

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
    std::string key;  // for a log frame: empty
    size_t value_bytes = 0;
    bool log_frame = false;
  };
  size_t record_count() const;
  RecordRef record(size_t index) const;
  // Requires bytes_kept < the record's size, and bit < 8 * its size.
  void tear_record(size_t index, size_t bytes_kept);
  void flip_bit(size_t index, uint64_t bit);
  // The first `bytes_kept` bytes of a frame (bytes_kept < its size) land at
  // the log's head, durably, as a write cut short by a power loss.
  void tear_tail(size_t bytes_kept);
  // The size of the frame tear_tail writes.
  size_t tail_frame_bytes() const;

  // A fingerprint of the durable image, to check that two runs of one seed
  // left identical disks.
  uint32_t disk_crc32c() const;

 protected:
  Status run_read(const ReadBody& body) override;
  Status run_write(const WriteBody& body) override;

 public:
  using TableMap = std::map<std::string, std::string, std::less<>>;
  struct Image {
    std::array<TableMap, kTableCount> tables;
    std::string log;  // the ring's bytes up to the furthest write; zeros beyond

    TableMap& operator[](size_t t) { return tables[t]; }
    const TableMap& operator[](size_t t) const { return tables[t]; }
  };
  struct Op {
    Table table = Table::meta;
    std::string key;
    std::optional<std::string> value;  // nullopt: erase
    // A write to the log instead: `value` at this offset (nullopt: clear the ring).
    std::optional<uint64_t> log_offset;
  };
  using Transaction = std::vector<Op>;

 private:
  class Log;
  friend class Log;
  MemoryStorage(StorageOptions options, std::unique_ptr<Log> log);
  // One write to the log, unsynced (Log::write and Log::clear).
  Status write_log(Op op);

  static void apply(const Transaction& transaction, Image& image);
  // The log frames that load() would replay from the durable image, as
  // (offset, bytes), and where the next one goes.
  std::vector<std::pair<uint64_t, uint64_t>> live_frames(LogPosition* next = nullptr) const;
  // The durable record at `index`, as (table, iterator).
  // The durable table record at `index`, as (table, iterator); nullopt if
  // `index` names a log frame.
  std::optional<std::pair<Table, TableMap::iterator>> locate(size_t index);
  // Applies `change` to a durable record and, where reads still see the same
  // bytes, to the current image too.
  template <typename Change>
  void damage(size_t index, Change change);

  std::unique_ptr<Log> log_device_;
  Image durable_;
  Image current_;
  std::deque<Transaction> unsynced_;
  bool defer_sync_ = false;
  Code failing_ = Code::ok;
};

}  // namespace synod::persistence
