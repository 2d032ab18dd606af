#include "persistence/record_storage.h"

#include <algorithm>

#include "base/assert.h"

namespace synod::persistence {

namespace {

// Reserving for what a state record promises is bounded, so that a state
// record claiming an absurd log cannot make load() allocate it up front.
constexpr uint64_t kReserveEntriesMax = 1ULL << 22;

Status corrupt(const std::string& what) { return Status::error(Code::corrupt, what); }

std::string describe_key(std::string_view key) {
  if (auto slot = parse_slot_key(key)) return std::to_string(*slot);
  return "(malformed key of " + std::to_string(key.size()) + " bytes)";
}

paxos::Slot next_chosen_slot(const StateRecord& state) {
  return std::max(state.chosen_last, state.snapshot_slot) + 1;
}

}  // namespace

RecordStorage::RecordStorage(StorageOptions options, LogDevice& log) : options_(std::move(options)), log_(log) {
  const std::string problem = validate(options_);
  SYNOD_ASSERT_MSG(problem.empty(), problem.c_str());
}

// ------------------------------------------------------------------ load

LoadResult RecordStorage::load() {
  clear_picture();
  loaded_ = false;
  LoadResult result;
  bool empty_store = false;
  // First the head of the tables (what replaying the log needs), then the
  // log into the tables, then the tables in full.
  result.status = run_read([&](TableReader& reader) { return read_head(reader, empty_store); });
  if (result.status.ok() && empty_store) {
    result.status = initialize();
  } else if (result.status.ok()) {
    if (store_version_ < kFormatVersion) result.status = migrate(result);
    if (result.status.ok()) result.status = replay_log(result);
    if (result.status.ok()) {
      const LogPosition head = log_head_;
      clear_picture();
      log_head_ = head;
      result.status = run_read([&](TableReader& reader) { return read_store(reader, result, empty_store); });
    }
  }
  if (!result.status.usable()) {
    result.durable = {};
    result.snapshot.reset();
    clear_picture();
  } else {
    loaded_ = true;
  }
  last_load_ = result.status.code;
  return result;
}

Status RecordStorage::read_store(TableReader& reader, LoadResult& result, bool& empty_store) {
  if (Status status = read_format(reader, empty_store); !status.ok() || empty_store) return status;
  if (Status status = read_state(reader); !status.ok()) return status;
  if (Status status = read_votes(reader, result.durable); !status.ok()) return status;
  if (Status status = read_chosen(reader, result.durable); !status.ok()) return status;
  result.durable.promised = state_.promised;
  result.durable.snapshot_slot = state_.snapshot_slot;
  if (Status status = read_snapshot(reader, result.snapshot); !status.ok()) return status;
  // Below the snapshot the log may be gone: its configurations are the
  // snapshot's, not the flags' (issue 20).
  if (result.snapshot) result.durable.configurations = result.snapshot->configurations;
  return Status::success();
}

Status RecordStorage::read_format(TableReader& reader, bool& empty_store) {
  std::optional<std::string_view> value;
  if (Status status = reader.get(Table::meta, kFormatKey, value); !status.ok()) return status;
  if (!value) {
    // No format record: a fresh directory, unless records exist without it.
    for (size_t t = 0; t < kTableCount; ++t) {
      bool any = false;
      Status status = reader.scan(static_cast<Table>(t), {}, [&](std::string_view, std::string_view) {
        any = true;
        return false;
      });
      if (!status.ok()) return status;
      if (any) return corrupt(std::string("the format record is missing, yet table ") +
                              table_name(static_cast<Table>(t)) + " holds records");
    }
    empty_store = true;
    return Status::success();
  }
  FormatRecord format;
  if (auto problem = decode_format(*value, format); !problem.empty()) return corrupt("format record: " + problem);
  if (format.version < kFormatVersionOldest || format.version > kFormatVersion) {
    return Status::error(Code::unknown_format_version,
                         "the store was written in format version " + std::to_string(format.version) +
                             "; this build reads versions " + std::to_string(kFormatVersionOldest) + " to " +
                             std::to_string(kFormatVersion));
  }
  store_version_ = format.version;
  if (format.node_id != options_.node_id) {
    return Status::error(Code::node_id_mismatch, "the store belongs to node " + std::to_string(format.node_id) +
                                                     ", not to node " + std::to_string(options_.node_id));
  }
  return Status::success();
}

Status RecordStorage::read_state(TableReader& reader) {
  std::optional<std::string_view> value;
  if (Status status = reader.get(Table::meta, kStateKey, value); !status.ok()) return status;
  if (!value) return corrupt("the state record is missing");
  if (auto problem = decode_state(*value, store_version_, state_); !problem.empty()) {
    return corrupt("state record: " + problem);
  }
  return Status::success();
}

Status RecordStorage::read_votes(TableReader& reader, paxos::DurableState& durable) {
  Status problem;
  Status status = reader.scan(Table::accepted, {}, [&](std::string_view key, std::string_view value) {
    paxos::AcceptedEntry vote;
    if (auto what = decode_vote(key, value, vote); !what.empty()) {
      problem = corrupt("vote record at slot " + describe_key(key) + ": " + what);
      return false;
    }
    if (vote.ballot > state_.promised) {
      problem = corrupt("vote record at slot " + std::to_string(vote.slot) + " has ballot " +
                        paxos::to_string(vote.ballot) + " above the promised " + paxos::to_string(state_.promised));
      return false;
    }
    vote_slots_.insert(vote.slot);
    if (vote.slot > state_.snapshot_slot) durable.accepted.push_back(std::move(vote));
    return true;
  });
  if (!status.ok()) return status;
  if (!problem.ok()) return problem;
  if (vote_slots_.size() != state_.votes) {
    return corrupt("the state record counts " + std::to_string(state_.votes) + " vote records but " +
                   std::to_string(vote_slots_.size()) + " are stored");
  }
  return Status::success();
}

Status RecordStorage::read_chosen(TableReader& reader, paxos::DurableState& durable) {
  const paxos::Slot base = state_.snapshot_slot;
  if (state_.chosen_last > base) durable.chosen.reserve(std::min(state_.chosen_last - base, kReserveEntriesMax));
  Status problem;
  Status status = reader.scan(Table::chosen, {}, [&](std::string_view key, std::string_view value) {
    if (std::string what = read_chosen_record(key, value, durable); !what.empty()) {
      problem = corrupt("chosen record at slot " + describe_key(key) + ": " + what);
      return false;
    }
    return true;
  });
  if (!status.ok()) return status;
  if (!problem.ok()) return problem;
  const paxos::Slot expected_last = std::max(state_.chosen_last, base);
  if (base + durable.chosen.size() != expected_last) {
    return corrupt("the chosen log ends at slot " + std::to_string(base + durable.chosen.size()) +
                   " but the state record says " + std::to_string(expected_last));
  }
  return Status::success();
}

std::string RecordStorage::read_chosen_record(std::string_view key, std::string_view value,
                                              paxos::DurableState& durable) {
  const paxos::Slot base = state_.snapshot_slot;
  const auto slot = parse_slot_key(key);
  if (!slot || *slot == paxos::kNoSlot) return "key is not a slot";
  if (*slot > state_.chosen_last) {
    return "above the last chosen slot the state record names (" + std::to_string(state_.chosen_last) + ")";
  }
  if (chosen_first_ == paxos::kNoSlot) chosen_first_ = *slot;
  if (*slot <= base) {
    // Below the snapshot: not returned, but checked all the same.
    std::string_view body;
    return open_record(key, value, RecordTag::chosen, body);
  }
  if (*slot != base + 1 + durable.chosen.size()) {
    return "the chosen log has a gap: slot " + std::to_string(base + 1 + durable.chosen.size()) + " is missing";
  }
  paxos::ChosenEntry entry;
  if (std::string what = decode_chosen(key, value, entry); !what.empty()) return what;
  durable.chosen.push_back(std::move(entry));
  log_record_bytes_.push_back(static_cast<uint32_t>(value.size()));
  log_bytes_ += value.size();
  return {};
}

Status RecordStorage::initialize() {
  if (!write_failure_.ok()) return refuse();
  const StateRecord empty;
  // A log left beside an empty store belongs to another life of this
  // directory: cleared before the tables name position (1, 0, 1).
  if (Status cleared = log_.clear(); !cleared.ok()) return fail_writes(cleared);
  Status status = run_write([&](TableWriter& writer) {
    encode_format(FormatRecord{kFormatVersion, options_.node_id}, scratch_);
    if (Status put = writer.put(Table::meta, kFormatKey, scratch_); !put.ok()) return put;
    encode_state(empty, scratch_);
    return writer.put(Table::meta, kStateKey, scratch_);
  });
  if (!status.ok()) return fail_writes(status);
  state_ = empty;
  log_head_ = empty.log;
  return Status::error(Code::fresh, "the data directory held no store; it now holds an empty one for node " +
                                        std::to_string(options_.node_id));
}

// ------------------------------------------------------------------ persist

// ------------------------------------------------------------------ checkpoints

// The batches of synced log frames, into the tables: what a commit was
// before the log. `through` is the log position after the last of them.
Status RecordStorage::write_group(TableWriter& writer, std::span<const paxos::PersistBatch* const> batches,
                                  const LogPosition& through, GroupOutcome& outcome) {
  outcome = GroupOutcome{state_, vote_slots_, chosen_first_, {}};
  outcome.state.log = through;
  bool changed = !(through == state_.log);
  for (const paxos::PersistBatch* batch : batches) {
    if (batch->promised) {
      SYNOD_ASSERT_MSG(*batch->promised >= outcome.state.promised, "a promise went down");
      outcome.state.promised = *batch->promised;
    }
    if (Status status = write_votes(writer, *batch, outcome); !status.ok()) return status;
    if (Status status = write_chosen(writer, *batch, outcome); !status.ok()) return status;
    changed = changed || !batch->empty();
  }
  // No record at all if nothing changed: the transaction then commits
  // nothing and LMDB skips its sync.
  if (!changed) return Status::success();
  encode_state(outcome.state, scratch_);
  return writer.put(Table::meta, kStateKey, scratch_);
}

Status RecordStorage::write_votes(TableWriter& writer, const paxos::PersistBatch& batch, GroupOutcome& outcome) {
  for (const auto& vote : batch.accepted) {
    SYNOD_ASSERT(vote.slot != paxos::kNoSlot && vote.value);
    SYNOD_ASSERT_MSG(vote.ballot <= outcome.state.promised, "a vote above the promised ballot");
    // A slot already in the chosen log needs no vote: the chosen record
    // answers for it, with the same value (agreement).
    if (vote.slot < next_chosen_slot(outcome.state)) continue;
    encode_vote(vote, scratch_);
    if (Status status = writer.put(Table::accepted, slot_key(vote.slot), scratch_); !status.ok()) return status;
    if (outcome.vote_slots.insert(vote.slot).second) ++outcome.state.votes;
  }
  return Status::success();
}

Status RecordStorage::write_chosen(TableWriter& writer, const paxos::PersistBatch& batch, GroupOutcome& outcome) {
  for (const auto& entry : batch.chosen) {
    SYNOD_ASSERT(entry.value);
    // A slot already in the log, or covered by the snapshot, is durable
    // already (a replayed entry, or one learned before a snapshot from a peer
    // overtook it); by agreement its value is the same, so skip it.
    if (entry.slot < next_chosen_slot(outcome.state)) continue;
    SYNOD_ASSERT_MSG(entry.slot == next_chosen_slot(outcome.state), "chosen entries must extend the log without a gap");
    const std::string key = slot_key(entry.slot);
    encode_chosen(entry, scratch_);
    if (Status status = writer.put(Table::chosen, key, scratch_); !status.ok()) return status;
    outcome.chosen_record_bytes.push_back(static_cast<uint32_t>(scratch_.size()));
    outcome.state.chosen_last = entry.slot;
    if (outcome.chosen_first == paxos::kNoSlot) outcome.chosen_first = entry.slot;
    if (outcome.vote_slots.erase(entry.slot) != 0) {
      if (Status status = writer.erase(Table::accepted, key); !status.ok()) return status;
      --outcome.state.votes;
    }
  }
  return Status::success();
}

void RecordStorage::commit_group(GroupOutcome& outcome) {
  state_ = outcome.state;
  vote_slots_ = std::move(outcome.vote_slots);
  chosen_first_ = outcome.chosen_first;
  for (uint32_t bytes : outcome.chosen_record_bytes) {
    log_record_bytes_.push_back(bytes);
    log_bytes_ += bytes;
  }
}

LogStats RecordStorage::log_stats() const {
  LogStats stats;
  stats.snapshot_slot = state_.snapshot_slot;
  stats.chosen_first = chosen_first_;
  stats.chosen_last = state_.chosen_last;
  stats.slots_since_snapshot = log_record_bytes_.size();
  stats.bytes_since_snapshot = log_bytes_;
  stats.votes = state_.votes;
  return stats;
}

bool RecordStorage::snapshot_due() const {
  return log_record_bytes_.size() > options_.log_slots_max || log_bytes_ > options_.log_bytes_max;
}

// ------------------------------------------------------------------ repair and failures

Status RecordStorage::reset() {
  SYNOD_ASSERT_MSG(last_load_ == Code::corrupt, "reset() is only the repair path after load() found corruption");
  if (!write_failure_.ok()) return refuse();
  // The emptied tables name a log epoch above every frame in the ring, so
  // that none is replayed into them, whether or not the ring is cleared
  // after (a crash may fall in between).
  std::string ring;
  if (Status status = log_.read(0, std::min(log_.extent_bytes(), log_.capacity_bytes()), ring); !status.ok()) {
    return fail_writes(status);
  }
  StateRecord empty;
  empty.log.epoch = highest_epoch(ring) + 1;
  ring = std::string();
  Status status = run_write([&](TableWriter& writer) {
    for (size_t t = 0; t < kTableCount; ++t) {
      if (Status cleared = writer.clear(static_cast<Table>(t)); !cleared.ok()) return cleared;
    }
    encode_format(FormatRecord{kFormatVersion, options_.node_id}, scratch_);
    if (Status put = writer.put(Table::meta, kFormatKey, scratch_); !put.ok()) return put;
    encode_state(empty, scratch_);
    return writer.put(Table::meta, kStateKey, scratch_);
  });
  if (!status.ok()) return fail_writes(status);
  clear_picture();
  state_ = empty;
  log_head_ = empty.log;
  loaded_ = true;
  last_load_ = Code::fresh;
  return Status::success();
}

Status RecordStorage::refuse() const {
  return Status::error(Code::refused,
                       "the store takes no writes after an earlier failure (" + write_failure_.to_string() +
                           "); reopen it");
}

Status RecordStorage::fail_writes(Status status) {
  SYNOD_ASSERT(!status.ok());
  write_failure_ = status;
  return status;
}

void RecordStorage::forget_loaded() {
  clear_picture();
  loaded_ = false;
  write_failure_ = Status::success();
}

void RecordStorage::clear_picture() {
  state_ = StateRecord{};
  log_head_ = LogPosition{};
  pending_.clear();
  pending_bytes_ = 0;
  store_version_ = kFormatVersion;
  vote_slots_.clear();
  chosen_first_ = paxos::kNoSlot;
  snapshot_.reset();
  staged_ = StagedSnapshot{};
  stale_chunks_ = false;
  log_record_bytes_.clear();
  log_bytes_ = 0;
  last_ready_id_ = 0;
}

}  // namespace synod::persistence
