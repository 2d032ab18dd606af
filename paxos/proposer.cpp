#include "paxos/proposer.h"

#include <algorithm>

#include "base/assert.h"

namespace synod::paxos {

Proposer::Proposer(NodeId self, const Limits& limits) : self_(self), limits_(limits) {}

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
  pending_values_.clear();
  takeover_next_ = 1;
  takeover_through_ = kNoSlot;
}

void Proposer::on_promise(NodeId from, const Promise& promise) {
  if (phase_ == Phase::idle || promise.ballot != ballot_) return;
  if (!promises_.add(from)) return;
  for (const auto& vote : promise.accepted) {
    SYNOD_ASSERT(vote.slot >= first_slot_ && vote.ballot <= ballot_);
    // A vote of our own ballot is one of our own proposals (a learner
    // promising late accepted them already).
    if (vote.ballot == ballot_) continue;
    if (phase_ == Phase::leading) {
      // Slots proposed already were decided on the promises of the quorum
      // that governs them; a later promise changes nothing there.
      const bool in_takeover = takeover_pending() && vote.slot >= takeover_next_;
      if (!in_takeover && vote.slot < next_slot_) continue;
      if (vote.slot >= next_slot_) {
        if (!takeover_pending()) takeover_next_ = next_slot_;
        takeover_through_ = vote.slot;
        next_slot_ = vote.slot + 1;
      }
    }
    auto [it, inserted] = votes_seen_.emplace(vote.slot, vote);
    if (!inserted && vote.ballot > it->second.ballot) it->second = vote;
    if (!inserted && vote.ballot == it->second.ballot) {
      SYNOD_ASSERT_MSG(same_value(vote.value, it->second.value), "two values for one slot in one ballot");
    }
  }
  if (phase_ == Phase::preparing && promise.chosen_through > chosen_elsewhere_) {
    chosen_elsewhere_ = promise.chosen_through;
    chosen_elsewhere_at_ = from;
  }
}

Proposer::Takeover Proposer::become_leader(Slot own_chosen_through, bool fill_holes_with_noops) {
  SYNOD_ASSERT(phase_ == Phase::preparing);
  phase_ = Phase::leading;
  fill_holes_ = fill_holes_with_noops;
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
  votes_seen_.erase(votes_seen_.begin(), votes_seen_.upper_bound(known));
  takeover_next_ = known + 1;
  takeover_through_ = highest;
  next_slot_ = highest + 1;
  takeover.serve_after = highest;
  return takeover;
}

ValuePtr Proposer::next_takeover() {
  SYNOD_ASSERT(takeover_pending());
  const Slot slot = takeover_next_++;
  auto it = votes_seen_.find(slot);
  if (it == votes_seen_.end()) return fill_holes_ ? make_noop() : nullptr;
  ValuePtr value = std::move(it->second.value);
  votes_seen_.erase(it);
  return value;
}

bool Proposer::configuration_in_flight() const {
  if (!pending_values_.empty()) return true;
  for (const auto& [slot, flight] : in_flight_) {
    if (flight.value->kind == Value::Kind::configuration) return true;
  }
  return false;
}

Accept Proposer::propose_at(Slot slot, ValuePtr value, std::shared_ptr<const Quorum> quorum, Slot commit_index,
                            TimeUs now) {
  SYNOD_ASSERT(phase_ == Phase::leading && slot != kNoSlot && value && quorum);
  auto [it, inserted] = in_flight_.emplace(slot, InFlight{value, std::move(quorum), Votes{}, now});
  SYNOD_ASSERT_MSG(inserted, "a slot proposed twice in one ballot");
  if (slot >= next_slot_) next_slot_ = slot + 1;
  return Accept{ballot_, slot, std::move(value), commit_index};
}

ValuePtr Proposer::cut_batch() {
  if (phase_ != Phase::leading || takeover_pending() || !window_open()) return nullptr;
  if (!pending_values_.empty()) {
    ValuePtr value = std::move(pending_values_.front());
    pending_values_.pop_front();
    return value;
  }
  if (pending_.empty()) return nullptr;
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
  if (it == in_flight_.end()) return std::nullopt;
  it->second.votes.add(from);
  if (!it->second.votes.reached(*it->second.quorum)) return std::nullopt;
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
    for (NodeId peer : flight.quorum->members()) {
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
  pending_values_.clear();
  takeover_next_ = 1;
  takeover_through_ = kNoSlot;
  std::vector<Command> dropped(std::make_move_iterator(pending_.begin()), std::make_move_iterator(pending_.end()));
  pending_.clear();
  return dropped;
}

}  // namespace synod::paxos
