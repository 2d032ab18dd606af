#include "paxos/learner.h"

#include "base/assert.h"

namespace synod::paxos {

Learner::Learner(Slot snapshot_slot, const std::vector<ChosenEntry>& recovered, size_t retention_slots,
                 size_t retention_bytes)
    : log_base_(snapshot_slot),
      handed_out_(snapshot_slot),
      retention_slots_(retention_slots),
      retention_bytes_(retention_bytes) {
  SYNOD_ASSERT(retention_slots_ >= 1 && retention_bytes_ >= 1);
  for (const auto& entry : recovered) {
    SYNOD_ASSERT_MSG(entry.slot == chosen_through() + 1, "recovered chosen log has a gap");
    SYNOD_ASSERT(entry.value);
    append(entry.value);
  }
}

size_t Learner::retained_bytes_of(const Value& value) {
  // A heap block costs its size plus about 16 bytes of malloc's header and
  // rounding; the shared Value block carries the control block too.
  constexpr size_t kBlockOverheadBytes = 16;
  constexpr size_t kSharedBlockBytes = sizeof(Value) + 16 + kBlockOverheadBytes;
  size_t bytes = kSharedBlockBytes;
  if (value.commands.capacity() > 0) bytes += value.commands.capacity() * sizeof(Command) + kBlockOverheadBytes;
  for (const auto& command : value.commands) {
    // std::string keeps up to 15 bytes inline; a longer payload is a block.
    if (command.payload.capacity() > 15) bytes += command.payload.capacity() + 1 + kBlockOverheadBytes;
  }
  return bytes;
}

void Learner::append(ValuePtr value) {
  retained_bytes_ += retained_bytes_of(*value);
  log_.push_back(std::move(value));
}

Slot Learner::highest_chosen() const {
  return ahead_.empty() ? chosen_through() : ahead_.rbegin()->first;
}

ValuePtr Learner::value_at(Slot slot) const {
  if (slot <= log_base_ || slot > chosen_through()) return nullptr;
  return log_[slot - log_base_ - 1];
}

bool Learner::knows(Slot slot) const { return slot <= chosen_through() || ahead_.count(slot) != 0; }

void Learner::learn(Slot slot, const ValuePtr& value) {
  SYNOD_ASSERT(slot != kNoSlot && value);
  if (slot <= chosen_through()) {
    if (slot > log_base_) {
      SYNOD_ASSERT_MSG(same_value(log_[slot - log_base_ - 1], value), "two values chosen for one slot");
    }
    return;
  }
  auto [it, inserted] = ahead_.emplace(slot, value);
  if (!inserted) {
    SYNOD_ASSERT_MSG(same_value(it->second, value), "two values chosen for one slot");
    return;
  }
  while (!ahead_.empty() && ahead_.begin()->first == chosen_through() + 1) {
    append(std::move(ahead_.begin()->second));
    ahead_.erase(ahead_.begin());
  }
}

void Learner::jump_to(Slot slot) {
  if (slot <= chosen_through()) return;
  log_.clear();
  retained_bytes_ = 0;
  log_base_ = slot;
  handed_out_ = slot;
  ahead_.erase(ahead_.begin(), ahead_.upper_bound(slot));
  while (!ahead_.empty() && ahead_.begin()->first == chosen_through() + 1) {
    append(std::move(ahead_.begin()->second));
    ahead_.erase(ahead_.begin());
  }
}

std::vector<ChosenEntry> Learner::take_newly_chosen() {
  std::vector<ChosenEntry> entries;
  SYNOD_ASSERT(handed_out_ >= log_base_);
  for (Slot slot = handed_out_ + 1; slot <= chosen_through(); ++slot) {
    entries.push_back(ChosenEntry{slot, log_[slot - log_base_ - 1]});
  }
  handed_out_ = chosen_through();
  trim();
  return entries;
}

std::vector<ChosenEntry> Learner::entries_from(Slot from, size_t entries_max, size_t bytes_max) const {
  std::vector<ChosenEntry> entries;
  if (from <= log_base_) return entries;
  size_t bytes = 0;
  for (Slot slot = from; slot <= chosen_through() && entries.size() < entries_max; ++slot) {
    const auto& value = log_[slot - log_base_ - 1];
    bytes += value->payload_bytes();
    if (!entries.empty() && bytes > bytes_max) break;
    entries.push_back(ChosenEntry{slot, value});
  }
  return entries;
}

void Learner::trim() {
  // Only values already handed out may go; the rest are still owed to the caller.
  while ((log_.size() > retention_slots_ || retained_bytes_ > retention_bytes_) && log_base_ < handed_out_) {
    const size_t bytes = retained_bytes_of(*log_.front());
    SYNOD_ASSERT(bytes <= retained_bytes_);
    retained_bytes_ -= bytes;
    log_.pop_front();
    ++log_base_;
  }
}

}  // namespace synod::paxos
