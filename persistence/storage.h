// Storage: what the driver asks of the disk.
//
// It keeps a replica's durable state (DESIGN §2, §3):
//   - the acceptor's promised ballot and its accepted (ballot, value) per slot,
//   - the chosen log, contiguous, from right after the latest snapshot,
//   - the latest snapshot of the state machine, with its slot and the
//     configurations that govern the slots after it (issue 20): once the
//     log below a snapshot is compacted, they are the only record of the
//     configurations chosen there, and a restart restores them from here
//     (LoadResult::durable.configurations), never from the flags.
//
// THE DURABILITY CONTRACT (paxos/ready.h) is kept here: persist() returns a
// SyncReceipt only after everything in the batch is on stable storage, and
// returns receipts in the order of ready ids. The driver releases a Ready's
// Promises and Accepteds with that receipt and with nothing else.
//
// The life of a store: open it (LmdbStorage::open, or construct a
// MemoryStorage), load() it once, then persist, snapshot and compact. load()
// is the only way to learn what is on disk, and nothing is written before it
// succeeded (a programmer error, asserted). Corruption is never returned as
// data: load() says which record failed its check.
//
// Group commit. One persist() is one frame appended to the commit log and
// one sync, whatever the batch holds; persist_group() writes several queued
// batches in one frame and one sync, so a storage thread that fell behind
// catches up with one sync instead of one per Ready (STYLE §9).
//
// Checkpoints (issue 18). The log (log_format.h) is the only thing a commit
// waits for. The tables (LMDB's B+trees, records.h) catch up with it at
// checkpoints: checkpoint() moves a bounded step of the log into them, in one
// transaction, and the owner calls it while checkpoint_due(), between
// commits. load() replays what the tables lack from the log.
//
// Operating errors (a full disk or map, an unwritable directory, a failed
// sync) come back as a Status; nothing is half-written: a frame that did not
// sync is a torn tail to the next load, and a checkpoint is one transaction. After a failed write the store refuses
// every later write with Code::refused until it is reopened: a failed sync leaves the kernel's page cache in a state we
// cannot vouch for, so going on could report a vote as durable that is not.
//
// Implementations: LmdbStorage (lmdb_storage.h), the real one, and
// MemoryStorage (memory_storage.h), its in-memory twin with the same record
// format and with fault hooks for the simulator. Both are record_storage.h
// over a different table backend.
//
// Thread: a Storage object is used by one thread at a time (the server's
// storage thread, or the simulator). It has no locks of its own.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "paxos/ready.h"
#include "paxos/types.h"
#include "persistence/status.h"

namespace synod::persistence {

// A snapshot of the state machine: its image after applying every chosen
// slot up to and including `slot`.
struct Snapshot {
  paxos::Slot slot = paxos::kNoSlot;
  // The configurations that govern the slots after `slot`, oldest first:
  // Replica::configurations_after(slot). Never empty.
  std::vector<paxos::ConfigEntry> configurations;
  std::string bytes;  // the state machine's image, opaque here

  bool operator==(const Snapshot&) const = default;
};

// What a snapshot sender announces before the first chunk.
struct SnapshotInfo {
  paxos::Slot slot = paxos::kNoSlot;
  std::vector<paxos::ConfigEntry> configurations;  // as in Snapshot
  uint64_t size_bytes = 0;
  uint32_t crc32c = 0;  // of the whole image, for the receiver's final check
};

// One piece of a snapshot on its way to a lagging peer. Chunks are bounded
// (StorageOptions::transfer_chunk_bytes_max) and named by their offset, so a
// transfer that broke resumes from the last offset the receiver holds.
struct SnapshotChunk {
  paxos::Slot slot = paxos::kNoSlot;  // which snapshot this is a piece of
  uint64_t offset = 0;
  std::string bytes;
  uint32_t crc32c = 0;          // of `bytes`; the receiver checks it (chunk_intact)
  uint64_t snapshot_bytes = 0;  // size of the whole image
  uint32_t snapshot_crc32c = 0;
  bool last = false;  // offset + bytes.size() == snapshot_bytes
};

// True if the chunk's bytes match its checksum.
bool chunk_intact(const SnapshotChunk& chunk);

struct LoadResult {
  // ok: `durable` and `snapshot` hold what is on disk. fresh: the directory
  // was empty and now holds an empty store. Anything else: nothing below is
  // valid and the store takes no writes (reset() after corrupt).
  Status status;
  // durable.configurations are the snapshot's (empty without a snapshot:
  // the log then starts at slot 1, under the bootstrap configuration).
  paxos::DurableState durable;
  std::optional<Snapshot> snapshot;  // the latest; its slot is durable.snapshot_slot
  uint32_t migrated_from_version = 0;  // set if load() migrated an older format
  std::string log_tail_cut;            // set if load() cut a torn log tail: what it found
};

struct PersistResult {
  Status status;
  std::optional<paxos::SyncReceipt> receipt;  // set exactly when status is ok
};

struct CompactResult {
  Status status;
  uint64_t records_erased = 0;
  bool more = false;  // compact_records_max was reached; call again
};

struct SnapshotStep {
  Status status;
  bool more = false;  // the snapshot is not the latest yet: call again with it
};

struct ChunkResult {
  Status status;
  SnapshotChunk chunk;
};

// Sizes of the stored log, for the driver's snapshot and compaction policy.
struct LogStats {
  paxos::Slot snapshot_slot = paxos::kNoSlot;
  paxos::Slot chosen_first = paxos::kNoSlot;  // lowest chosen slot stored (may be <= snapshot_slot)
  paxos::Slot chosen_last = paxos::kNoSlot;   // highest chosen slot ever stored
  uint64_t slots_since_snapshot = 0;          // chosen slots above snapshot_slot: what a restart replays
  uint64_t bytes_since_snapshot = 0;          // their record bytes
  uint64_t votes = 0;                         // accepted records stored
};

// Limits and policy shared by every implementation (STYLE §7).
struct StorageOptions {
  paxos::NodeId node_id = paxos::kNoNode;  // the store belongs to this node; load() refuses another's
  // snapshot_due() once the log above the snapshot passes either bound. They
  // bound what a restart replays, hence the restart time (issue 3: 1,000,000
  // entries load in well under 2 s, see the benchmark).
  uint64_t log_slots_max = 100'000;
  uint64_t log_bytes_max = 64ULL << 20;
  // Larger images are refused. Above the image of a state at the lock
  // service's limits (store_bytes_max 1 GiB of names and values, plus each
  // key's stat and the event window), or a node at its limits could never
  // snapshot again (issue 18).
  uint64_t snapshot_bytes_max = 2ULL << 30;
  uint64_t snapshot_chunk_bytes = 1ULL << 20;       // the stored chunk size
  uint64_t transfer_chunk_bytes_max = 1ULL << 20;   // the longest chunk read_snapshot_chunk returns
  // Records one compact() call erases, and chunks of snapshots no longer
  // the latest: each call is one step of the storage thread, which group
  // commits wait behind (issue 18: no step above 20 ms).
  uint64_t compact_records_max = 4096;
  // Chunk bytes one save_snapshot_step() writes (at least one chunk), for
  // the same reason.
  uint64_t snapshot_step_bytes = 1ULL << 20;
  size_t group_batches_max = 1024;                  // batches one persist_group() takes
  // The commit log's ring (log_format.h). A frame larger than half of it is
  // a bug (asserted); the core's limits keep a Ready's batch far below.
  uint64_t log_capacity_bytes = 64ULL << 20;
  // checkpoint_due() once the log holds this many bytes the tables do not.
  uint64_t checkpoint_bytes = 1ULL << 20;
  // Records one checkpoint() writes at most (whole frames; at least one),
  // which bounds how long it holds the storage thread.
  uint64_t checkpoint_records_max = 4096;
};

// Empty if usable, else a sentence saying what is wrong.
std::string validate(const StorageOptions& options);

class Storage {
 public:
  Storage() = default;
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
  virtual ~Storage() = default;

  // Reads and checks everything on disk. Every record's checksum is verified,
  // the chosen log must be contiguous above the snapshot, and the counts in
  // the state record must match what is stored. A fresh directory is
  // initialized for options.node_id and reported as Code::fresh.
  virtual LoadResult load() = 0;

  // Writes the batch as one log frame with one sync; the receipt means it
  // is durable. Ready ids must rise from call to call (asserted). Chosen
  // entries must continue the log without a gap (asserted); entries already
  // durable (in the log, or at or below the snapshot) are skipped, and so are
  // votes for such slots. Votes for a slot are erased in the same transaction
  // that writes the slot's chosen record: from then on the chosen log answers
  // for the slot, as it does in the Acceptor's memory (paxos/acceptor.h).
  virtual PersistResult persist(const paxos::PersistBatch& batch) = 0;

  // Several consecutive batches (ascending ready ids) in one frame and one
  // sync; the receipt is the last batch's, which covers them all.
  virtual PersistResult persist_group(std::span<const paxos::PersistBatch* const> batches) = 0;

  // Replaces the latest snapshot, in one transaction. `snapshot.slot` must be
  // at least the current snapshot's (asserted). It may lie above the chosen
  // log (a snapshot received from a peer); the log then continues at
  // snapshot.slot + 1. Nothing is truncated here: see compact().
  virtual Status save_snapshot(const Snapshot& snapshot) = 0;

  // save_snapshot in steps, for the node's own snapshots: each call writes
  // at most snapshot_step_bytes of the image's chunks in one transaction,
  // beside the latest snapshot's, which stays the latest (and readable)
  // until the call that writes the last chunk also writes the snapshot
  // record, in one transaction: that call returns more = false. Call again
  // with the same snapshot while `more`; a snapshot of another slot starts
  // over. snapshot_changed if a snapshot at or above `snapshot.slot` is
  // stored (one saved whole meanwhile). The chosen log must reach
  // `snapshot.slot`: a snapshot from a peer, above the log, is saved whole
  // (save_snapshot), because the batches after it continue the log from its
  // slot. Chunks left behind (the old snapshot's, a restart's half-written
  // ones) are erased by compact().
  virtual SnapshotStep save_snapshot_step(const Snapshot& snapshot) = 0;

  // Erases the chunks of snapshots other than the latest (as many per call
  // as a save step writes), then the chosen records and the votes at
  // or below `through`, lowest first, at most compact_records_max per call. `through` must not exceed
  // the snapshot's slot (asserted): what no snapshot covers is never erased.
  virtual CompactResult compact(paxos::Slot through) = 0;

  // Up to min(length_max, transfer_chunk_bytes_max) bytes of snapshot `slot`
  // from `offset`, each stored chunk checked on the way. snapshot_changed if
  // `slot` is no longer the latest snapshot; invalid_argument if offset is
  // past the end.
  virtual ChunkResult read_snapshot_chunk(paxos::Slot slot, uint64_t offset, uint64_t length_max) = 0;

  virtual std::optional<SnapshotInfo> snapshot_info() const = 0;
  virtual LogStats log_stats() const = 0;
  // True once the log above the snapshot passed log_slots_max or
  // log_bytes_max: the driver should snapshot the state machine, call
  // save_snapshot and then compact.
  virtual bool snapshot_due() const = 0;

  // True once the log holds checkpoint_bytes the tables do not.
  virtual bool checkpoint_due() const = 0;
  // Moves up to checkpoint_records_max records of the log into the tables,
  // in one transaction with its sync. ok with nothing to do.
  virtual Status checkpoint() = 0;

  // The repair path after load() said corrupt (DESIGN §3): erases every
  // record and leaves an empty store for this node, loaded. The caller then
  // rejoins as a non-voter; it must never act as if it had promised nothing.
  virtual Status reset() = 0;
};

}  // namespace synod::persistence
