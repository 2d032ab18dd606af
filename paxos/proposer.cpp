#include "paxos/proposer.h"

#include <algorithm>

#include "base/assert.h"

namespace synod::paxos {

Proposer::Proposer(NodeId self, const Quorum& quorum, const Limits& limits)
    : self_(self), quorum_(quorum), limits_(limits) {}

void Proposer::begin_prepare(const Ballot& ballot, Slot first_slot) {
  SYNOD_ASSERT(ballot.node == self_ && ballot > ballot_);
  SYNOD_ASSERT(first_slot != kNoSlot);
  phase_ = Phase::preparing;
  ballot_ = ballot;
  first_slot_ = first_slot;
  promises_.clear();
  votes_seen_.clear();
  chosen_elsewhere_ = kNoSlot;
  chosen_elsewhere_at_ = kNoNode;
  in_flight_.clear();
}

bool Proposer::on_promise(NodeId from, const Promise& promise) {
  if (phase_ != Phase::preparing || promise.ballot != ballot_) return false;
  if (!quorum_.contains(from) || !promises_.add(from)) return false;
  for (const auto& vote : promise.accepted) {
    SYNOD_ASSERT(vote.slot >= first_slot_ && vote.ballot < ballot_);
    auto [it, inserted] = votes_seen_.emplace(vote.slot, vote);
    if (!inserted && vote.ballot > it->second.ballot) it->second = vote;
    if (!inserted && vote.ballot == it->second.ballot) {
      SYNOD_ASSERT_MSG(same_value(vote.value, it->second.value), "two values for one slot in one ballot");
    }
  }
  if (promise.chosen_through > chosen_elsewhere_) {
    chosen_elsewhere_ = promise.chosen_through;
    chosen_elsewhere_at_ = from;
  }
  return promises_.reached(quorum_);
}

Proposer::Takeover Proposer::become_leader(Slot own_chosen_through, bool fill_holes_with_noops) {
  SYNOD_ASSERT(phase_ == Phase::preparing && promises_.reached(quorum_));
  phase_ = Phase::leading;
  Takeover takeover;
  // Slots up to `known` are chosen (here or at some acceptor of the quorum).
  // Their votes may be missing from the promises, so they must be learned,
  // never re-proposed.
  const Slot known = std::max(own_chosen_through, chosen_elsewhere_);
  if (chosen_elsewhere_ > own_chosen_through) {
    takeover.chosen_elsewhere = chosen_elsewhere_;
    takeover.learn_from = chosen_elsewhere_at_;
  }
  Slot highest = known;
  if (!votes_seen_.empty()) highest = std::max(highest, votes_seen_.rbegin()->first);
  for (Slot slot = known + 1; slot <= highest; ++slot) {
    auto it = votes_seen_.find(slot);
    if (it != votes_seen_.end()) {
      takeover.proposals.push_back(ChosenEntry{slot, it->second.value});
    } else if (fill_holes_with_noops) {
      takeover.proposals.push_back(ChosenEntry{slot, make_noop()});
    }
  }
  votes_seen_.clear();
  next_slot_ = highest + 1;
  takeover.serve_after = highest;
  return takeover;
}

Accept Proposer::propose_at(Slot slot, ValuePtr value, Slot commit_index, TimeUs now) {
  SYNOD_ASSERT(phase_ == Phase::leading && slot != kNoSlot && value);
  auto [it, inserted] = in_flight_.emplace(slot, InFlight{value, Votes{}, now});
  SYNOD_ASSERT_MSG(inserted, "a slot proposed twice in one ballot");
  if (slot >= next_slot_) next_slot_ = slot + 1;
  return Accept{ballot_, slot, std::move(value), commit_index};
}

ValuePtr Proposer::cut_batch() {
  if (phase_ != Phase::leading || pending_.empty() || !window_open()) return nullptr;
  std::vector<Command> batch;
  size_t bytes = 0;
  while (!pending_.empty() && batch.size() < limits_.batch_commands_max) {
    const size_t next_bytes = pending_.front().payload.size();
    if (!batch.empty() && bytes + next_bytes > limits_.batch_bytes_max) break;
    bytes += next_bytes;
    batch.push_back(std::move(pending_.front()));
    pending_.pop_front();
  }
  return make_batch(std::move(batch));
}

std::optional<ChosenEntry> Proposer::on_accepted(NodeId from, const Accepted& accepted) {
  if (phase_ != Phase::leading || accepted.ballot != ballot_) return std::nullopt;
  auto it = in_flight_.find(accepted.slot);
  if (it == in_flight_.end() || !quorum_.contains(from)) return std::nullopt;
  it->second.votes.add(from);
  if (!it->second.votes.reached(quorum_)) return std::nullopt;
  ChosenEntry chosen{accepted.slot, std::move(it->second.value)};
  in_flight_.erase(it);
  return chosen;
}

std::vector<Proposer::Resend> Proposer::due_resends(TimeUs now, int64_t retransmit_us, Slot commit_index,
                                                    size_t max) {
  std::vector<Resend> resends;
  for (auto& [slot, flight] : in_flight_) {
    if (resends.size() >= max) break;
    if (now - flight.sent_at < retransmit_us) continue;
    flight.sent_at = now;
    for (NodeId peer : quorum_.members()) {
      if (peer == self_ || flight.votes.has(peer)) continue;
      resends.push_back(Resend{peer, Accept{ballot_, slot, flight.value, commit_index}});
    }
  }
  return resends;
}

bool Proposer::enqueue(Command command) {
  if (pending_.size() >= limits_.pending_commands_max) return false;
  pending_.push_back(std::move(command));
  return true;
}

std::vector<Command> Proposer::stop() {
  phase_ = Phase::idle;
  in_flight_.clear();
  promises_.clear();
  votes_seen_.clear();
  std::vector<Command> dropped(std::make_move_iterator(pending_.begin()), std::make_move_iterator(pending_.end()));
  pending_.clear();
  return dropped;
}

}  // namespace synod::paxos
