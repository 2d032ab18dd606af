// RecordStorage: the Storage logic, written once over a table backend.
//
// It owns what a store means: which records a persist batch becomes, how
// load() checks a store (every checksum, the contiguity of the chosen log,
// the counts in the state record, the snapshot's chunks and whole-image
// checksum), and the in-memory picture of the disk it needs to do that
// without reading (the state record, the slots holding votes, the sizes of
// the log above the snapshot). The record format is records.h's.
//
// A backend (LmdbStorage, MemoryStorage) supplies the two transactions and
// the commit log's device. The picture changes only after a write transaction
// committed, so a failed or retried transaction leaves it as it was.
//
// THE LOG (issue 18, record_log.cpp). A group commit is one frame written to
// the log and one sync. The record logic (write_group) runs at once, into
// RecordedWrites (recorded_writes.h) instead of a transaction, so the picture
// always describes the log's state; the recorded writes wait in `pending_`
// until a checkpoint replays them into the tables, a bounded step at a time.
// Each group's writes end with the state record, naming the log position
// after its frame, so the tables' state record always says which frame they
// need next. load() replays the frames from there before it reads the
// tables, so what it returns is the log's state: the promised ballot is the
// larger of the tables' and the log's, because a replayed promise can only
// raise it. Invariants:
//   - a frame's receipt is handed out only after its sync;
//   - the tables are written only from frames that were synced, in order;
//   - the ring wraps (a new epoch at offset 0) only after every frame is in
//     the tables and the state record naming the new epoch is synced, so no
//     frame is overwritten that the tables lack;
//   - frames older than the state record's position are never read again;
//   - save_snapshot, compact and reset write the tables directly, so they
//     first checkpoint every pending frame (flush_log): a pending state
//     record replayed after them would undo them.
//
// SNAPSHOTS (record_snapshot.cpp). A chunk's key begins with its snapshot's
// slot, so a new snapshot is written in steps (save_snapshot_step) beside the
// latest one, which stays the latest until the step that writes the new
// snapshot's record and the state record naming it, in one transaction.
// Invariants:
//   - the state record names a snapshot only once all its chunks are stored;
//   - the latest snapshot's chunks are never erased or overwritten (a step
//     must be for a newer slot), so a peer's transfer and load() read it
//     whole whatever step a restart cut;
//   - chunks of any other slot are garbage: load() skips them and compact()
//     erases them, a bounded number per call.
//
// Owned by one thread at a time (the server's storage thread, or the
// simulator).
#pragma once

#include <algorithm>
#include <deque>
#include <functional>
#include <optional>
#include <set>
#include <string>

#include "persistence/log_device.h"
#include "persistence/recorded_writes.h"
#include "persistence/records.h"
#include "persistence/storage.h"
#include "persistence/tables.h"

namespace synod::persistence {

class RecordStorage : public Storage {
 public:
  LoadResult load() override;
  PersistResult persist(const paxos::PersistBatch& batch) override;
  PersistResult persist_group(std::span<const paxos::PersistBatch* const> batches) override;
  Status save_snapshot(const Snapshot& snapshot) override;
  SnapshotStep save_snapshot_step(const Snapshot& snapshot) override;
  CompactResult compact(paxos::Slot through) override;
  ChunkResult read_snapshot_chunk(paxos::Slot slot, uint64_t offset, uint64_t length_max) override;
  std::optional<SnapshotInfo> snapshot_info() const override;
  LogStats log_stats() const override;
  bool snapshot_due() const override;
  bool checkpoint_due() const override;
  Status checkpoint() override;
  Status reset() override;

  const StorageOptions& options() const { return options_; }
  bool loaded() const { return loaded_; }
  // Bytes of log frames the tables do not hold yet, and where the next goes.
  uint64_t log_pending_bytes() const { return pending_bytes_; }
  const LogPosition& log_head() const { return log_head_; }
  // Non-ok once a write failed: every later write gets Code::refused.
  const Status& write_failure() const { return write_failure_; }

 protected:
  // `log` must outlive this object; it is not used before load().
  RecordStorage(StorageOptions options, LogDevice& log);

  using ReadBody = std::function<Status(TableReader&)>;
  using WriteBody = std::function<Status(TableWriter&)>;
  // One read transaction around `body`.
  virtual Status run_read(const ReadBody& body) = 0;
  // One write transaction around `body`, committed with one sync, all or
  // nothing; ok only once the sync returned. A backend may run `body` again
  // after an abort (LMDB, after growing its map), so a body starts from the
  // committed picture every time and changes nothing outside its arguments.
  virtual Status run_write(const WriteBody& body) = 0;

  // For a backend whose process "restarted" (the twin's crash): everything
  // loaded is forgotten, and so is an earlier write failure.
  void forget_loaded();
  // The ready id of the last batch written, 0 if none since load.
  uint64_t last_ready_id() const { return last_ready_id_; }

 private:
  // What one run of a persist transaction computed, committed after the sync.
  struct GroupOutcome {
    StateRecord state;
    std::set<paxos::Slot> vote_slots;
    paxos::Slot chosen_first = paxos::kNoSlot;
    std::vector<uint32_t> chosen_record_bytes;
  };
  struct CompactOutcome {
    uint64_t chunks_erased = 0;
    bool stale_chunks_left = false;
    uint64_t chosen_erased = 0;
    uint64_t votes_erased = 0;
    paxos::Slot chosen_first = paxos::kNoSlot;
    bool more = false;
  };

  // A frame written and synced that the tables do not hold yet.
  struct PendingFrame {
    RecordedWrites writes;  // what write_group made of its batches
    LogPosition next;       // the position after it
    uint64_t bytes = 0;     // the frame's
  };

  // load()
  Status read_head(TableReader& reader, bool& empty_store);
  Status migrate(LoadResult& result);
  Status rekey_chunks(TableWriter& writer);
  Status rewrite_snapshot_record(TableWriter& writer);
  Status replay_log(LoadResult& result);
  Status cut_torn_tail(uint64_t offset, std::string_view scanned);
  Status read_store(TableReader& reader, LoadResult& result, bool& empty_store);
  Status read_format(TableReader& reader, bool& empty_store);
  Status read_state(TableReader& reader);
  Status read_votes(TableReader& reader, paxos::DurableState& durable);
  Status read_chosen(TableReader& reader, paxos::DurableState& durable);
  // Checks one chosen record and appends it to `durable` if it lies above the
  // snapshot; returns what is wrong with it, or an empty string.
  std::string read_chosen_record(std::string_view key, std::string_view value, paxos::DurableState& durable);
  Status read_snapshot(TableReader& reader, std::optional<Snapshot>& snapshot);
  Status read_chunks(TableReader& reader, const SnapshotRecord* record, std::string& bytes);
  Status initialize();

  // persist (record_log.cpp)
  void check_group(std::span<const paxos::PersistBatch* const> batches) const;
  Status append_frame(const std::vector<const paxos::PersistBatch*>& batches);
  void keep_pending(PendingFrame pending, GroupOutcome& outcome);
  Status write_checkpoint();
  Status flush_log();
  Status wrap_log();
  Status write_log_position(const LogPosition& position);
  uint64_t frame_bytes_max() const { return log_.capacity_bytes() / 2; }

  // checkpoints: the tables catch up with the log
  Status write_group(TableWriter& writer, std::span<const paxos::PersistBatch* const> batches,
                     const LogPosition& through, GroupOutcome& outcome);
  Status write_votes(TableWriter& writer, const paxos::PersistBatch& batch, GroupOutcome& outcome);
  Status write_chosen(TableWriter& writer, const paxos::PersistBatch& batch, GroupOutcome& outcome);
  void commit_group(GroupOutcome& outcome);

  // snapshots and compaction (record_snapshot.cpp)
  Status check_snapshot(const Snapshot& snapshot) const;
  SnapshotRecord snapshot_record(const Snapshot& snapshot, uint32_t crc) const;
  std::string_view chunk_of(const Snapshot& snapshot, uint64_t index) const;
  // Chunks one save step writes, and one compaction step erases (at least one).
  uint64_t chunks_per_step() const {
    return std::max<uint64_t>(1, options_.snapshot_step_bytes / options_.snapshot_chunk_bytes);
  }
  Status write_chunks(TableWriter& writer, const Snapshot& snapshot, uint64_t first, uint64_t end);
  Status write_snapshot_record(TableWriter& writer, const SnapshotRecord& record, const StateRecord& state);
  void commit_snapshot(const SnapshotRecord& record, const StateRecord& state);
  Status erase_stale_chunks(TableWriter& writer, CompactOutcome& outcome);
  Status write_compaction(TableWriter& writer, paxos::Slot through, CompactOutcome& outcome);
  Status read_chunk_range(TableReader& reader, uint64_t offset, uint64_t length, std::string& out);

  Status refuse() const;
  Status fail_writes(Status status);
  void clear_picture();

  const StorageOptions options_;
  LogDevice& log_;
  bool loaded_ = false;
  uint32_t store_version_ = kFormatVersion;  // the format record's, while loading
  Code last_load_ = Code::ok;
  Status write_failure_;
  uint64_t last_ready_id_ = 0;

  // The picture of the disk, as of the last committed transaction.
  StateRecord state_;
  std::set<paxos::Slot> vote_slots_;
  paxos::Slot chosen_first_ = paxos::kNoSlot;
  std::optional<SnapshotRecord> snapshot_;
  // A snapshot being saved in steps: its chunks [0, chunks) are committed.
  struct StagedSnapshot {
    paxos::Slot slot = paxos::kNoSlot;
    uint64_t size_bytes = 0;
    uint64_t chunks = 0;
    uint32_t crc32c = 0;  // of the committed chunks' bytes
  };
  StagedSnapshot staged_;
  bool stale_chunks_ = false;  // chunks of another snapshot may be stored: compact() erases them
  // Record sizes of the chosen slots above the snapshot: [0] is snapshot_slot + 1.
  std::deque<uint32_t> log_record_bytes_;
  uint64_t log_bytes_ = 0;

  // The log: where the next frame goes, and the frames the tables lack.
  LogPosition log_head_;
  std::deque<PendingFrame> pending_;
  uint64_t pending_bytes_ = 0;

  std::string scratch_;  // one record being encoded; reused to spare allocations
  std::string frame_;    // one frame being encoded; reused likewise
};

}  // namespace synod::persistence
