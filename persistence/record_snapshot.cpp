// RecordStorage's snapshots: reading the latest at load, saving one whole or
// in steps, serving its chunks to peers, and compaction below it.
// record_storage.h ("SNAPSHOTS") states the invariants.
#include <algorithm>

#include "base/assert.h"
#include "base/crc32c.h"
#include "persistence/record_storage.h"

namespace synod::persistence {

namespace {

Status corrupt(const std::string& what) { return Status::error(Code::corrupt, what); }

uint64_t chunk_count_for(uint64_t size_bytes, uint64_t chunk_bytes) {
  return (size_bytes + chunk_bytes - 1) / chunk_bytes;
}

std::string describe_chunk_key(std::string_view key) {
  if (auto parsed = parse_chunk_key(key)) {
    return std::to_string(parsed->index) + " of slot " + std::to_string(parsed->snapshot_slot);
  }
  return "(malformed key of " + std::to_string(key.size()) + " bytes)";
}

}  // namespace

// ------------------------------------------------------------------ load

Status RecordStorage::read_snapshot(TableReader& reader, std::optional<Snapshot>& snapshot) {
  std::optional<std::string_view> value;
  if (Status status = reader.get(Table::meta, kSnapshotKey, value); !status.ok()) return status;
  if (state_.snapshot_slot == paxos::kNoSlot) {
    if (value) return corrupt("a snapshot record is stored but the state record names no snapshot");
    std::string none;
    return read_chunks(reader, nullptr, none);  // only the steps of a first snapshot, cut short
  }
  if (!value) return corrupt("the snapshot record is missing");
  SnapshotRecord record;
  if (auto problem = decode_snapshot(*value, store_version_, record); !problem.empty()) {
    return corrupt("snapshot record: " + problem);
  }
  if (record.slot != state_.snapshot_slot) {
    return corrupt("the snapshot record is for slot " + std::to_string(record.slot) + " but the state record says " +
                   std::to_string(state_.snapshot_slot));
  }
  if (record.size_bytes > options_.snapshot_bytes_max) {
    return Status::error(Code::invalid_argument, "the stored snapshot has " + std::to_string(record.size_bytes) +
                                                     " bytes, above snapshot_bytes_max; raise it to load this store");
  }
  if (record.chunk_bytes == 0 || record.chunk_count != chunk_count_for(record.size_bytes, record.chunk_bytes)) {
    return corrupt("the snapshot record's chunk count does not match its size");
  }
  Snapshot loaded{record.slot, record.configurations, {}};
  if (Status status = read_chunks(reader, &record, loaded.bytes); !status.ok()) return status;
  snapshot_ = std::move(record);
  snapshot = std::move(loaded);
  return Status::success();
}

// Reads the chunks of `record` (none if null) into `bytes`. Chunks of any
// other snapshot (an older one not erased yet, or the steps of a newer one
// that a restart cut short) are left for compact() to erase.
Status RecordStorage::read_chunks(TableReader& reader, const SnapshotRecord* record, std::string& bytes) {
  if (record) bytes.reserve(record->size_bytes);
  uint64_t index = 0;
  Status problem;
  Status status = reader.scan(Table::snapshot_chunks, {}, [&](std::string_view key, std::string_view value) {
    const auto parsed = parse_chunk_key(key);
    if (parsed && (!record || parsed->snapshot_slot != record->slot)) {
      stale_chunks_ = true;
      return true;
    }
    ChunkRecord chunk;
    std::string what = parsed ? decode_chunk(key, value, chunk) : "malformed key";
    if (what.empty() && parsed->index != index) what = "chunk " + std::to_string(index) + " is missing";
    if (what.empty() && index >= record->chunk_count) what = "more chunks than the snapshot record counts";
    if (what.empty() && chunk.bytes.size() != std::min(record->chunk_bytes, record->size_bytes - bytes.size())) {
      what = "wrong length";
    }
    if (!what.empty()) {
      problem = corrupt("snapshot chunk " + describe_chunk_key(key) + ": " + what);
      return false;
    }
    bytes.append(chunk.bytes);
    ++index;
    return true;
  });
  if (!status.ok()) return status;
  if (!problem.ok() || !record) return problem;
  if (index != record->chunk_count) {
    return corrupt("the snapshot has " + std::to_string(index) + " of its " + std::to_string(record->chunk_count) +
                   " chunks");
  }
  if (crc32c(bytes) != record->crc32c) return corrupt("the snapshot image fails its whole-image checksum");
  return Status::success();
}

// ------------------------------------------------------------------ saving

Status RecordStorage::check_snapshot(const Snapshot& snapshot) const {
  SYNOD_ASSERT_MSG(loaded_, "saving a snapshot before load() succeeded");
  SYNOD_ASSERT(snapshot.slot != paxos::kNoSlot);
  SYNOD_ASSERT_MSG(paxos::check_config_entries(snapshot.configurations).empty(),
                   "a snapshot needs the configurations that govern the slots after it");
  SYNOD_ASSERT_MSG(snapshot.slot >= state_.snapshot_slot, "a snapshot older than the stored one");
  if (!write_failure_.ok()) return refuse();
  if (snapshot.bytes.size() > options_.snapshot_bytes_max) {
    return Status::error(Code::invalid_argument, "a snapshot of " + std::to_string(snapshot.bytes.size()) +
                                                     " bytes is above snapshot_bytes_max");
  }
  return Status::success();
}

SnapshotRecord RecordStorage::snapshot_record(const Snapshot& snapshot, uint32_t crc) const {
  return SnapshotRecord{snapshot.slot,
                        snapshot.configurations,
                        snapshot.bytes.size(),
                        crc,
                        options_.snapshot_chunk_bytes,
                        chunk_count_for(snapshot.bytes.size(), options_.snapshot_chunk_bytes)};
}

Status RecordStorage::save_snapshot(const Snapshot& snapshot) {
  if (Status checked = check_snapshot(snapshot); !checked.ok()) return checked;
  const SnapshotRecord record = snapshot_record(snapshot, crc32c(snapshot.bytes));
  if (Status flushed = flush_log(); !flushed.ok()) return flushed;
  StateRecord state = state_;
  state.snapshot_slot = snapshot.slot;
  Status status = run_write([&](TableWriter& writer) {
    if (Status cleared = writer.clear(Table::snapshot_chunks); !cleared.ok()) return cleared;
    if (Status written = write_chunks(writer, snapshot, 0, record.chunk_count); !written.ok()) return written;
    return write_snapshot_record(writer, record, state);
  });
  if (!status.ok()) return fail_writes(status);
  staged_ = StagedSnapshot{};
  stale_chunks_ = false;
  commit_snapshot(record, state);
  return Status::success();
}

SnapshotStep RecordStorage::save_snapshot_step(const Snapshot& snapshot) {
  SnapshotStep result;
  if (loaded_ && snapshot.slot <= state_.snapshot_slot) {
    // A snapshot saved whole meanwhile (one installed from a peer) is as new.
    result.status = Status::error(Code::snapshot_changed,
                                  "a snapshot at slot " + std::to_string(state_.snapshot_slot) + " is stored already");
    return result;
  }
  result.status = check_snapshot(snapshot);
  if (!result.status.ok()) return result;
  if (staged_.slot != snapshot.slot || staged_.size_bytes != snapshot.bytes.size()) {
    if (staged_.chunks > 0) stale_chunks_ = true;  // another snapshot's steps: garbage now
    staged_ = StagedSnapshot{snapshot.slot, snapshot.bytes.size(), 0, 0};
  }
  const uint64_t count = chunk_count_for(snapshot.bytes.size(), options_.snapshot_chunk_bytes);
  const uint64_t per_step = chunks_per_step();
  const uint64_t end = std::min(count, staged_.chunks + per_step);
  uint32_t crc = staged_.crc32c;
  for (uint64_t index = staged_.chunks; index < end; ++index) crc = crc32c(chunk_of(snapshot, index), crc);
  const bool last = end == count;
  StateRecord state = state_;
  state.snapshot_slot = snapshot.slot;
  const SnapshotRecord record = snapshot_record(snapshot, crc);
  // The last step writes the state record, so the log's pending frames go
  // first (record_storage.h, THE LOG); the earlier steps touch only chunks.
  if (last) result.status = flush_log();
  if (!result.status.ok()) return result;
  result.status = run_write([&](TableWriter& writer) {
    if (Status written = write_chunks(writer, snapshot, staged_.chunks, end); !written.ok()) return written;
    if (!last) return Status::success();
    // Chunks of this slot past its end: a restart's earlier, longer image.
    std::vector<std::string> beyond;
    Status scanned = writer.scan(Table::snapshot_chunks, chunk_key(snapshot.slot, count),
                                 [&](std::string_view key, std::string_view) {
                                   const auto parsed = parse_chunk_key(key);
                                   if (!parsed || parsed->snapshot_slot != snapshot.slot) return false;
                                   beyond.emplace_back(key);
                                   return true;
                                 });
    if (!scanned.ok()) return scanned;
    for (const std::string& key : beyond) {
      if (Status erased = writer.erase(Table::snapshot_chunks, key); !erased.ok()) return erased;
    }
    return write_snapshot_record(writer, record, state);
  });
  if (!result.status.ok()) {
    result.status = fail_writes(result.status);
    return result;
  }
  staged_.chunks = end;
  staged_.crc32c = crc;
  result.more = !last;
  if (!last) return result;
  if (snapshot_) stale_chunks_ = true;  // the previous snapshot's chunks
  staged_ = StagedSnapshot{};
  commit_snapshot(record, state);
  return result;
}

std::string_view RecordStorage::chunk_of(const Snapshot& snapshot, uint64_t index) const {
  const uint64_t chunk_bytes = options_.snapshot_chunk_bytes;
  return std::string_view(snapshot.bytes).substr(index * chunk_bytes, chunk_bytes);
}

Status RecordStorage::write_chunks(TableWriter& writer, const Snapshot& snapshot, uint64_t first, uint64_t end) {
  for (uint64_t index = first; index < end; ++index) {
    encode_chunk(index, snapshot.slot, chunk_of(snapshot, index), scratch_);
    if (Status status = writer.put(Table::snapshot_chunks, chunk_key(snapshot.slot, index), scratch_); !status.ok()) {
      return status;
    }
  }
  return Status::success();
}

Status RecordStorage::write_snapshot_record(TableWriter& writer, const SnapshotRecord& record,
                                            const StateRecord& state) {
  encode_snapshot(record, scratch_);
  if (Status status = writer.put(Table::meta, kSnapshotKey, scratch_); !status.ok()) return status;
  encode_state(state, scratch_);
  return writer.put(Table::meta, kStateKey, scratch_);
}

// The picture after a snapshot's record was committed.
void RecordStorage::commit_snapshot(const SnapshotRecord& record, const StateRecord& state) {
  const uint64_t covered = std::min<uint64_t>(log_record_bytes_.size(), record.slot - state_.snapshot_slot);
  for (uint64_t i = 0; i < covered; ++i) {
    log_bytes_ -= log_record_bytes_.front();
    log_record_bytes_.pop_front();
  }
  state_ = state;
  snapshot_ = record;
}

// ------------------------------------------------------------------ serving chunks

ChunkResult RecordStorage::read_snapshot_chunk(paxos::Slot slot, uint64_t offset, uint64_t length_max) {
  SYNOD_ASSERT_MSG(loaded_, "read_snapshot_chunk before load() succeeded");
  SYNOD_ASSERT(length_max > 0);
  ChunkResult result;
  if (!snapshot_ || snapshot_->slot != slot) {
    result.status = Status::error(Code::snapshot_changed, "no snapshot at slot " + std::to_string(slot) +
                                                              " is stored; the latest is at slot " +
                                                              std::to_string(state_.snapshot_slot));
    return result;
  }
  if (offset > snapshot_->size_bytes) {
    result.status = Status::error(Code::invalid_argument, "offset " + std::to_string(offset) +
                                                              " is past the snapshot's " +
                                                              std::to_string(snapshot_->size_bytes) + " bytes");
    return result;
  }
  const uint64_t length = std::min({length_max, options_.transfer_chunk_bytes_max, snapshot_->size_bytes - offset});
  SnapshotChunk& chunk = result.chunk;
  result.status = run_read([&](TableReader& reader) { return read_chunk_range(reader, offset, length, chunk.bytes); });
  if (!result.status.ok()) {
    chunk.bytes.clear();
    return result;
  }
  chunk.slot = slot;
  chunk.offset = offset;
  chunk.crc32c = crc32c(chunk.bytes);
  chunk.snapshot_bytes = snapshot_->size_bytes;
  chunk.snapshot_crc32c = snapshot_->crc32c;
  chunk.last = offset + length == snapshot_->size_bytes;
  return result;
}

Status RecordStorage::read_chunk_range(TableReader& reader, uint64_t offset, uint64_t length, std::string& out) {
  const SnapshotRecord& record = *snapshot_;
  out.clear();
  out.reserve(length);
  uint64_t position = offset;
  while (out.size() < length) {
    const uint64_t index = position / record.chunk_bytes;
    const std::string key = chunk_key(record.slot, index);
    std::optional<std::string_view> value;
    if (Status status = reader.get(Table::snapshot_chunks, key, value); !status.ok()) return status;
    ChunkRecord chunk;
    std::string what = value ? decode_chunk(key, *value, chunk) : "missing";
    const uint64_t within = position - index * record.chunk_bytes;
    if (what.empty() && within >= chunk.bytes.size()) what = "shorter than the snapshot record says";
    if (!what.empty()) return corrupt("snapshot chunk " + describe_chunk_key(key) + ": " + what);
    const uint64_t take = std::min<uint64_t>(chunk.bytes.size() - within, length - out.size());
    out.append(chunk.bytes.substr(within, take));
    position += take;
  }
  return Status::success();
}

std::optional<SnapshotInfo> RecordStorage::snapshot_info() const {
  if (!snapshot_) return std::nullopt;
  return SnapshotInfo{snapshot_->slot, snapshot_->configurations, snapshot_->size_bytes, snapshot_->crc32c};
}

// ------------------------------------------------------------------ compaction

CompactResult RecordStorage::compact(paxos::Slot through) {
  SYNOD_ASSERT_MSG(loaded_, "compact before load() succeeded");
  SYNOD_ASSERT_MSG(through <= state_.snapshot_slot, "compacting past the snapshot would lose chosen values");
  CompactResult result;
  if (!write_failure_.ok()) {
    result.status = refuse();
    return result;
  }
  if (Status flushed = flush_log(); !flushed.ok()) {
    result.status = flushed;
    return result;
  }
  CompactOutcome outcome;
  Status status = run_write([&](TableWriter& writer) {
    outcome = CompactOutcome{};
    if (Status erased = erase_stale_chunks(writer, outcome); !erased.ok()) return erased;
    return write_compaction(writer, through, outcome);
  });
  if (!status.ok()) {
    result.status = fail_writes(status);
    return result;
  }
  for (uint64_t i = 0; i < outcome.votes_erased; ++i) {
    SYNOD_ASSERT(!vote_slots_.empty() && *vote_slots_.begin() <= through);
    vote_slots_.erase(vote_slots_.begin());
  }
  state_.votes -= outcome.votes_erased;
  chosen_first_ = outcome.chosen_first;
  stale_chunks_ = outcome.stale_chunks_left;
  result.records_erased = outcome.chunks_erased + outcome.chosen_erased + outcome.votes_erased;
  result.more = outcome.more || outcome.stale_chunks_left;
  return result;
}

// Erases chunks of snapshots that are neither the latest nor being saved in
// steps, at most as many per call as a save step writes.
Status RecordStorage::erase_stale_chunks(TableWriter& writer, CompactOutcome& outcome) {
  if (!stale_chunks_) return Status::success();
  const uint64_t budget = chunks_per_step();
  std::vector<std::string> stale;
  Status status = writer.scan(Table::snapshot_chunks, {}, [&](std::string_view key, std::string_view) {
    const auto parsed = parse_chunk_key(key);
    const paxos::Slot slot = parsed ? parsed->snapshot_slot : paxos::kNoSlot;
    if ((snapshot_ && slot == snapshot_->slot) || (staged_.chunks > 0 && slot == staged_.slot)) return true;
    if (stale.size() == budget) {
      outcome.stale_chunks_left = true;
      return false;
    }
    stale.emplace_back(key);
    return true;
  });
  if (!status.ok()) return status;
  for (const std::string& key : stale) {
    if (Status erased = writer.erase(Table::snapshot_chunks, key); !erased.ok()) return erased;
  }
  outcome.chunks_erased = stale.size();
  return Status::success();
}

Status RecordStorage::write_compaction(TableWriter& writer, paxos::Slot through, CompactOutcome& outcome) {
  const std::string last_key = slot_key(through);
  const uint64_t budget = options_.compact_records_max;
  Status status = writer.erase_through(Table::chosen, last_key, budget, outcome.chosen_erased);
  if (!status.ok()) return status;
  status = writer.erase_through(Table::accepted, last_key, budget - outcome.chosen_erased, outcome.votes_erased);
  if (!status.ok()) return status;
  // What is left decides chosen_first and whether another call is needed.
  status = writer.scan(Table::chosen, {}, [&](std::string_view key, std::string_view) {
    outcome.chosen_first = parse_slot_key(key).value_or(paxos::kNoSlot);
    outcome.more = key <= std::string_view(last_key);
    return false;
  });
  if (!status.ok()) return status;
  bool votes_left = false;
  status = writer.scan(Table::accepted, {}, [&](std::string_view key, std::string_view) {
    votes_left = key <= std::string_view(last_key);
    return false;
  });
  if (!status.ok()) return status;
  outcome.more = outcome.more || votes_left;
  if (outcome.votes_erased == 0) return Status::success();
  StateRecord state = state_;
  state.votes -= outcome.votes_erased;
  encode_state(state, scratch_);
  return writer.put(Table::meta, kStateKey, scratch_);
}

}  // namespace synod::persistence
