// Replica's membership changes (replica.h, MEMBERSHIP; configuration.h):
// which configurations decide the slots this node may propose in, phase 1
// extended to their voters, proposals gated on knowing a slot's
// configuration, one change at a time, automatic promotion and the
// hand-over of a leader whose removal is chosen. Split from replica.cpp,
// which keeps elections, phase 2, repair, leases and output.
//
// Owned by the Replica's thread.
#include <algorithm>

#include "base/assert.h"
#include "paxos/replica.h"

namespace synod::paxos {

// -------------------------------------------------------------- membership

Slot Replica::alpha() const { return kConfigAlphaSlots; }

// Looks at the chosen values that became contiguous since the last call: a
// configuration value chosen at i governs from i + α.
void Replica::observe_configurations() {
  const Slot through = learner_.chosen_through();
  const Slot effect_after = options_.mutants.config_without_alpha ? 1 : kConfigAlphaSlots;
  for (Slot slot = std::max(configs_seen_through_ + 1, learner_.first_retained()); slot <= through; ++slot) {
    const ValuePtr value = learner_.value_at(slot);
    if (!value || value->kind != Value::Kind::configuration) continue;
    configs_.chosen(slot, *value->configuration, effect_after);
    if (proposed_config_ && *proposed_config_ == *value->configuration) {
      proposed_config_.reset();
      proposed_quorum_.reset();
    }
  }
  configs_seen_through_ = std::max(configs_seen_through_, through);
}

// The quorums of every configuration that governs a slot this node may yet
// propose in: the one of its first unchosen slot, those chosen and not yet
// in effect, and a change it proposed that is not chosen yet.
std::vector<const Quorum*> Replica::deciding_quorums() const {
  std::vector<const Quorum*> quorums;
  for (const ConfigEntry* entry : configs_.from(learner_.chosen_through() + 1)) quorums.push_back(entry->quorum.get());
  if (proposed_quorum_) quorums.push_back(proposed_quorum_.get());
  return quorums;
}

bool Replica::reached_all(const Votes& votes) const {
  for (const Quorum* quorum : deciding_quorums()) {
    if (!votes.reached(*quorum)) return false;
  }
  return true;
}

bool Replica::prepared_all() const {
  if (options_.mutants.config_skips_phase1) return proposer_.promises().reached(*deciding_quorums().front());
  return reached_all(proposer_.promises());
}

bool Replica::may_propose(Slot slot) const { return slot <= learner_.chosen_through() + alpha() && prepared_all(); }

// Everyone this node talks to: the members of every configuration in play.
std::vector<NodeId> Replica::peers() const {
  std::vector<NodeId> out;
  const auto add = [&](const Configuration& c) {
    for (NodeId id : c.members()) {
      if (id != options_.self && std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
    }
  };
  for (const ConfigEntry* entry : configs_.from(learner_.chosen_through() + 1)) add(entry->configuration);
  if (proposed_config_) add(*proposed_config_);
  if (waiting_change_) add(*waiting_change_);
  return out;
}

// Phase 1 again, same ballot, for the voters that have not promised yet.
void Replica::extend_phase1() {
  if (role_ != Role::leader) return;
  const Prepare prepare{proposer_.ballot(), proposer_.first_slot(), Ballot{}};
  for (NodeId member : peers()) {
    if (!proposer_.promises().has(member)) send(member, prepare);
  }
}

bool Replica::can_advance() const {
  if (role_ != Role::leader) return false;
  if (proposer_.takeover_pending()) return may_propose(proposer_.takeover_next());
  // The cheap questions first: this runs after every input.
  if (!proposer_.window_open()) return false;
  if (proposer_.pending() == 0 && configs_.latest().from <= proposer_.next_slot()) return false;
  return may_propose(proposer_.next_slot());
}

// Proposes what may be proposed now, in slot order: the takeover's
// re-proposals, then queued values and batches, then no-ops that bring a
// chosen configuration into effect when there is nothing else to propose.
void Replica::advance_proposals() {
  while (role_ == Role::leader && can_advance()) {
    if (proposer_.takeover_pending()) {
      const Slot slot = proposer_.takeover_next();
      if (ValuePtr value = proposer_.next_takeover()) propose_value(slot, std::move(value));
      continue;
    }
    ValuePtr value = proposer_.cut_batch();
    if (!value) value = make_noop();
    propose_value(proposer_.next_slot(), std::move(value));
  }
}

Replica::ChangeStatus Replica::propose_configuration(const Configuration& next, TimeUs now, std::string* why) {
  SYNOD_ASSERT(now >= now_);
  now_ = now;
  const auto refuse = [&](ChangeStatus status, std::string reason) {
    if (why != nullptr) *why = std::move(reason);
    return status;
  };
  if (role_ != Role::leader || !serving_)
    return refuse(ChangeStatus::not_leader, "this node is not the serving leader");
  if (change_in_progress() && !options_.mutants.two_changes_in_flight) {
    return refuse(ChangeStatus::busy, "another membership change is in progress");
  }
  const Configuration& base = newest_configuration();
  if (std::string problem = check_change(base, next); !problem.empty()) {
    return refuse(ChangeStatus::invalid, std::move(problem));
  }
  // A learner becomes a voter only once it acknowledges heartbeats (it does
  // after its repair) and is within α slots of the leader, as etcd promotes
  // only a learner in sync. A voter that cannot vote yet would count in the
  // new majority and could leave no leader electable: its repair waits for
  // a serving leader (seed 18 of all,member with two changes in flight).
  for (NodeId id : next.voters) {
    if (base.is_voter(id)) continue;
    const PeerProgress progress = peer(id);
    if (progress.last_ack == 0 || now_ - progress.last_ack > ms(options_.timing.lease_ms) ||
        progress.chosen_through + alpha() < commit_index()) {
      return refuse(ChangeStatus::busy, "learner " + std::to_string(id) +
                                            " is not caught up yet (it must acknowledge the leader and be within " +
                                            std::to_string(alpha()) + " slots of it)");
    }
  }
  // Its voters promise first (phase 1 extended to them), then its value is
  // proposed: until then commits go on under the configurations in play.
  waiting_change_ = next;
  waiting_quorum_ = ConfigHistory::quorum_of(next, options_.mutants);
  extend_phase1();
  release_waiting_change();
  return ChangeStatus::queued;
}

void Replica::release_waiting_change() {
  if (!waiting_change_ || role_ != Role::leader) return;
  if (!options_.mutants.config_skips_phase1 && !proposer_.promises().reached(*waiting_quorum_)) return;
  proposed_config_ = *waiting_change_;
  proposed_quorum_ = std::move(waiting_quorum_);
  waiting_change_.reset();
  // A lease from rounds the new voters did not acknowledge says nothing of
  // the slots they will decide.
  leader_lease_.revoke();
  proposer_.enqueue_value(make_configuration_value(*proposed_config_));
}

bool Replica::change_in_progress() const {
  return waiting_change_.has_value() || proposed_config_.has_value() || proposer_.configuration_in_flight() ||
         configs_.pending_after(learner_.chosen_through() + 1);
}

void Replica::auto_promote() {
  const size_t within = options_.limits.auto_promote_within_slots;
  const Configuration& current = configuration();
  if (within == 0 || !serving_ || current.learners.empty() || current.voters.size() % 2 != 0 ||
      current.voters.size() >= kVotersMax || change_in_progress()) {
    return;
  }
  for (NodeId learner : current.learners) {
    const PeerProgress progress = peer(learner);
    if (progress.last_ack == 0 || now_ - progress.last_ack > ms(options_.timing.lease_ms) ||
        progress.chosen_through + within < commit_index()) {
      continue;
    }
    Configuration next = current;
    std::erase(next.learners, learner);
    next.voters.insert(std::upper_bound(next.voters.begin(), next.voters.end(), learner), learner);
    if (propose_configuration(next, now_) == ChangeStatus::queued) return;
  }
}

// A leader whose removal is chosen hands leadership to the most caught-up
// voter, over the transfer path (Nominate), and never campaigns again.
void Replica::hand_over_if_removed() {
  if (role_ != Role::leader || !serving_ || configuration().is_voter(options_.self)) return;
  NodeId successor = kNoNode;
  Slot best = 0;
  for (NodeId voter : configuration().voters) {
    const Slot through = peer(voter).chosen_through;
    if (successor == kNoNode || through > best) {
      successor = voter;
      best = through;
    }
  }
  if (successor != kNoNode) transfer_leadership(successor, now_);
}

}  // namespace synod::paxos
