#include "paxos/acceptor.h"

#include "base/assert.h"

namespace synod::paxos {

Acceptor::Acceptor(Ballot promised, const std::vector<AcceptedEntry>& accepted) : promised_(promised) {
  for (const auto& entry : accepted) {
    SYNOD_ASSERT(entry.slot != kNoSlot && entry.value);
    SYNOD_ASSERT_MSG(entry.ballot <= promised_, "recovered a vote above the recovered promise");
    accepted_[entry.slot] = entry;
  }
}

bool Acceptor::prepare(const Ballot& ballot) {
  SYNOD_ASSERT(!ballot.is_zero());
  if (ballot < promised_) return false;
  if (ballot > promised_) {
    promised_ = ballot;
    promised_dirty_ = true;
  }
  return true;
}

std::vector<AcceptedEntry> Acceptor::accepted_from(Slot first_slot, Slot chosen_through) const {
  const Slot from = std::max(first_slot, chosen_through + 1);
  std::vector<AcceptedEntry> votes;
  for (auto it = accepted_.lower_bound(from); it != accepted_.end(); ++it) votes.push_back(it->second);
  return votes;
}

bool Acceptor::accept(const Ballot& ballot, Slot slot, const ValuePtr& value) {
  SYNOD_ASSERT(!ballot.is_zero() && slot != kNoSlot && value);
  if (ballot < promised_) return false;
  observe(ballot);
  auto& entry = accepted_[slot];
  if (entry.value && entry.ballot == ballot) {
    // A retransmitted Accept. One proposer proposes one value per slot in one ballot.
    SYNOD_ASSERT_MSG(same_value(entry.value, value), "two values for one slot in one ballot");
    return true;
  }
  SYNOD_ASSERT(entry.ballot < ballot || !entry.value);
  entry = AcceptedEntry{slot, ballot, value};
  accepted_dirty_.push_back(entry);
  return true;
}

void Acceptor::observe(const Ballot& ballot) {
  if (ballot > promised_) {
    promised_ = ballot;
    promised_dirty_ = true;
  }
}

const AcceptedEntry* Acceptor::accepted_at(Slot slot) const {
  auto it = accepted_.find(slot);
  return it == accepted_.end() ? nullptr : &it->second;
}

void Acceptor::forget_through(Slot slot) {
  accepted_.erase(accepted_.begin(), accepted_.upper_bound(slot));
}

std::optional<Ballot> Acceptor::take_promised_change() {
  if (!promised_dirty_) return std::nullopt;
  promised_dirty_ = false;
  return promised_;
}

std::vector<AcceptedEntry> Acceptor::take_accepted_changes() {
  std::vector<AcceptedEntry> changes;
  changes.swap(accepted_dirty_);
  return changes;
}

}  // namespace synod::paxos
