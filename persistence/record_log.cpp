// RecordStorage's commit log: group commits as log frames, checkpoints into
// the tables, replay at load, and migration of a version 1 store.
// record_storage.h ("THE LOG") states the invariants.
#include <algorithm>

#include "base/assert.h"
#include "persistence/record_storage.h"

namespace synod::persistence {

// ------------------------------------------------------------------ persist

PersistResult RecordStorage::persist(const paxos::PersistBatch& batch) {
  const paxos::PersistBatch* one[] = {&batch};
  return persist_group(one);
}

PersistResult RecordStorage::persist_group(std::span<const paxos::PersistBatch* const> batches) {
  check_group(batches);
  if (!write_failure_.ok()) return {refuse(), std::nullopt};
  // One frame for the group. Only a group too large for one frame (a storage
  // thread far behind, with catch-up batches) is split, each part synced
  // before the next is written, so that damage in any but the last write is
  // corruption, never a tear.
  std::vector<const paxos::PersistBatch*> frame;
  size_t frame_bound = 0;
  for (const paxos::PersistBatch* batch : batches) {
    if (batch->empty()) continue;  // a receipt only: every earlier frame is synced
    const size_t bound = batch_bytes_bound(*batch);
    if (!frame.empty() && frame_bound + bound > frame_bytes_max()) {
      if (Status status = append_frame(frame); !status.ok()) return {fail_writes(status), std::nullopt};
      frame.clear();
      frame_bound = 0;
    }
    frame.push_back(batch);
    frame_bound += bound;
  }
  if (!frame.empty()) {
    if (Status status = append_frame(frame); !status.ok()) return {fail_writes(status), std::nullopt};
  } else if (Status status = log_.sync(); !status.ok()) {
    // Nothing to write, but the receipt covers every earlier write: a device
    // syncs only what it has not synced yet, so this costs nothing after a
    // synced frame.
    return {fail_writes(status), std::nullopt};
  }
  last_ready_id_ = batches.back()->ready_id;
  return {Status::success(), paxos::SyncReceipt(last_ready_id_)};
}

void RecordStorage::check_group(std::span<const paxos::PersistBatch* const> batches) const {
  SYNOD_ASSERT_MSG(loaded_, "persist before load() succeeded");
  SYNOD_ASSERT(!batches.empty() && batches.size() <= options_.group_batches_max);
  uint64_t previous = last_ready_id_;
  for (const paxos::PersistBatch* batch : batches) {
    SYNOD_ASSERT(batch != nullptr);
    SYNOD_ASSERT_MSG(batch->ready_id > previous, "persist batches out of ready-id order");
    previous = batch->ready_id;
  }
}

// One frame: one write and one sync. The record logic runs first, into
// recorded writes, so that its checks fire before anything is written; the
// picture changes only once the sync returned.
Status RecordStorage::append_frame(const std::vector<const paxos::PersistBatch*>& batches) {
  frame_.clear();
  encode_frame(log_head_, batches, frame_);
  SYNOD_ASSERT_MSG(frame_.size() <= frame_bytes_max(), "a log frame larger than half the ring");
  if (log_head_.offset + frame_.size() > log_.capacity_bytes()) {
    if (Status status = wrap_log(); !status.ok()) return status;
    frame_.clear();
    encode_frame(log_head_, batches, frame_);
  }
  const LogPosition next{log_head_.epoch, log_head_.offset + frame_.size(), log_head_.seq + 1};
  GroupOutcome outcome;
  PendingFrame pending;
  (void)write_group(pending.writes, batches, next, outcome);  // recording cannot fail
  if (Status status = log_.write(log_head_.offset, frame_); !status.ok()) return status;
  if (Status status = log_.sync(); !status.ok()) return status;
  pending.next = next;
  pending.bytes = frame_.size();
  log_head_ = next;
  keep_pending(std::move(pending), outcome);
  return Status::success();
}

// A frame is durable: the picture takes its outcome, and its recorded writes
// wait for a checkpoint.
void RecordStorage::keep_pending(PendingFrame pending, GroupOutcome& outcome) {
  commit_group(outcome);
  pending_bytes_ += pending.bytes;
  pending_.push_back(std::move(pending));
}

Status RecordStorage::flush_log() {
  while (!pending_.empty()) {
    if (Status status = write_checkpoint(); !status.ok()) return status;
  }
  return Status::success();
}

// The ring is full: every frame into the tables, then the state record names
// the next epoch at offset 0, synced, before anything overwrites the ring.
Status RecordStorage::wrap_log() {
  if (Status status = flush_log(); !status.ok()) return status;
  return write_log_position(LogPosition{log_head_.epoch + 1, 0, log_head_.seq});
}

Status RecordStorage::write_log_position(const LogPosition& position) {
  StateRecord state = state_;
  state.log = position;
  Status status = run_write([&](TableWriter& writer) {
    encode_state(state, scratch_);
    return writer.put(Table::meta, kStateKey, scratch_);
  });
  if (!status.ok()) return status;
  state_ = state;
  log_head_ = position;
  return Status::success();
}

// ------------------------------------------------------------------ checkpoints

bool RecordStorage::checkpoint_due() const { return pending_bytes_ >= options_.checkpoint_bytes; }

Status RecordStorage::checkpoint() {
  SYNOD_ASSERT_MSG(loaded_, "checkpoint before load() succeeded");
  return write_checkpoint();
}

// One checkpoint step; also run by load() while it replays, before it is loaded.
Status RecordStorage::write_checkpoint() {
  if (pending_.empty()) return Status::success();
  if (!write_failure_.ok()) return refuse();
  size_t frames = 0;
  uint64_t records = 0;
  while (frames < pending_.size() &&
         (frames == 0 || records + pending_[frames].writes.count() <= options_.checkpoint_records_max)) {
    records += pending_[frames].writes.count();
    ++frames;
  }
  Status status = run_write([&](TableWriter& writer) {
    for (size_t i = 0; i < frames; ++i) {
      if (Status replayed = pending_[i].writes.replay(writer); !replayed.ok()) return replayed;
    }
    return Status::success();
  });
  if (!status.ok()) return fail_writes(status);
  for (size_t i = 0; i < frames; ++i) {
    pending_bytes_ -= pending_.front().bytes;
    pending_.pop_front();
  }
  return Status::success();
}

// ------------------------------------------------------------------ load

// What replaying the log into the tables needs: the format, the state record
// and the slots holding votes.
Status RecordStorage::read_head(TableReader& reader, bool& empty_store) {
  if (Status status = read_format(reader, empty_store); !status.ok() || empty_store) return status;
  if (Status status = read_state(reader); !status.ok()) return status;
  paxos::DurableState unused;
  return read_votes(reader, unused);
}

// An older store becomes a current one in one transaction, before its log is
// replayed (the log's format is version 2's).
//   - Version 1 had no log: its log starts empty. The ring is cleared first,
//     so that a crash in between leaves a version 1 store and an empty ring,
//     and the next load migrates again.
//   - Versions 1 and 2 keyed a chunk by its index alone: each is re-keyed
//     under its snapshot's slot (records.h, version 3).
//   - Versions 1 to 3 kept a snapshot's member ids: its record is rewritten
//     with their bootstrap configuration (records.h, version 4).
Status RecordStorage::migrate(LoadResult& result) {
  StateRecord state = state_;
  if (store_version_ < 2) {
    if (Status status = log_.clear(); !status.ok()) return status;
    state.log = LogPosition{};
  }
  Status status = run_write([&](TableWriter& writer) {
    encode_format(FormatRecord{kFormatVersion, options_.node_id}, scratch_);
    if (Status put = writer.put(Table::meta, kFormatKey, scratch_); !put.ok()) return put;
    encode_state(state, scratch_);
    if (Status put = writer.put(Table::meta, kStateKey, scratch_); !put.ok()) return put;
    if (store_version_ < 3) {
      if (Status rekeyed = rekey_chunks(writer); !rekeyed.ok()) return rekeyed;
    }
    return rewrite_snapshot_record(writer);
  });
  if (!status.ok()) return status;
  result.migrated_from_version = store_version_;
  store_version_ = kFormatVersion;
  state_ = state;
  return Status::success();
}

// A snapshot record of versions 1 to 3 in version 4's layout. Nothing to do
// without one (load() then checks that none is due); one that does not
// decode is corruption, as load() would find it.
Status RecordStorage::rewrite_snapshot_record(TableWriter& writer) {
  std::optional<std::string_view> value;
  if (Status status = writer.get(Table::meta, kSnapshotKey, value); !status.ok()) return status;
  if (!value) return Status::success();
  SnapshotRecord record;
  if (auto problem = decode_snapshot(*value, store_version_, record); !problem.empty()) {
    return Status::error(Code::corrupt,
                         "snapshot record of a version " + std::to_string(store_version_) + " store: " + problem);
  }
  encode_snapshot(record, scratch_);
  return writer.put(Table::meta, kSnapshotKey, scratch_);
}

Status RecordStorage::rekey_chunks(TableWriter& writer) {
  std::vector<std::pair<std::string, std::string>> chunks;  // old key, value
  Status status = writer.scan(Table::snapshot_chunks, {}, [&](std::string_view key, std::string_view value) {
    chunks.emplace_back(key, value);
    return true;
  });
  if (!status.ok()) return status;
  for (const auto& [key, value] : chunks) {
    ChunkRecord chunk;
    if (auto problem = decode_chunk_v2(key, value, chunk); !problem.empty()) {
      return Status::error(Code::corrupt,
                           "snapshot chunk of a version " + std::to_string(store_version_) + " store: " + problem);
    }
    if (Status erased = writer.erase(Table::snapshot_chunks, key); !erased.ok()) return erased;
    const uint64_t index = *parse_slot_key(key);
    encode_chunk(index, chunk.snapshot_slot, chunk.bytes, scratch_);
    if (Status put = writer.put(Table::snapshot_chunks, chunk_key(chunk.snapshot_slot, index), scratch_); !put.ok()) {
      return put;
    }
  }
  return Status::success();
}

// Reads the log from the state record's position, cuts a torn tail, and
// checkpoints every intact frame into the tables.
Status RecordStorage::replay_log(LoadResult& result) {
  const LogPosition from = state_.log;
  if (from.offset > log_.capacity_bytes()) {
    return Status::error(Code::corrupt, "the state record's log offset " + std::to_string(from.offset) +
                                            " lies past the end of the log's " + std::to_string(log_.capacity_bytes()) +
                                            " bytes");
  }
  std::string bytes;
  const uint64_t extent = std::max(from.offset, std::min(log_.extent_bytes(), log_.capacity_bytes()));
  if (Status status = log_.read(from.offset, extent - from.offset, bytes); !status.ok()) return status;
  LogScan scan = scan_log(bytes, from);
  if (scan.end == LogScan::End::corrupt) return Status::error(Code::corrupt, scan.problem);
  if (scan.end == LogScan::End::torn) {
    if (Status status = cut_torn_tail(scan.next.offset, std::string_view(bytes).substr(scan.next.offset - from.offset));
        !status.ok()) {
      return status;
    }
    result.log_tail_cut = scan.problem;
  }
  bytes = std::string();
  // The picture is the tables' (read_head); each frame's batches go through
  // the record logic as at their commit, and the checkpoints write them.
  Status status;
  for (LogFrame& frame : scan.frames) {
    std::vector<const paxos::PersistBatch*> batches;
    for (const auto& batch : frame.batches) batches.push_back(&batch);
    GroupOutcome outcome;
    PendingFrame pending;
    pending.next = LogPosition{frame.at.epoch, frame.end, frame.at.seq + 1};
    pending.bytes = frame.end - frame.at.offset;
    (void)write_group(pending.writes, batches, pending.next, outcome);
    keep_pending(std::move(pending), outcome);
    if (checkpoint_due()) status = flush_log();
    if (!status.ok()) break;
  }
  if (status.ok()) status = flush_log();
  log_head_ = scan.next;
  return status;
}

// Zeros what the torn write left, up to the last nonzero byte of the ring, so
// that no remnant of it is ever read as a frame.
Status RecordStorage::cut_torn_tail(uint64_t offset, std::string_view scanned) {
  const size_t last = scanned.find_last_not_of('\0');
  if (last == std::string_view::npos) return Status::success();
  const std::string zeros(last + 1, '\0');
  if (Status status = log_.write(offset, zeros); !status.ok()) return status;
  return log_.sync();
}

}  // namespace synod::persistence
