// Membership changes under faults (FaultMix::member): the leader adds a
// new node as a learner, promotes a learner, or removes a learner or a voter
// (itself too), one change at a time, interleaved with every other fault.
// A node added boots with an empty disk and the configuration it was added
// to, as `synod --join` does; a removed node is stopped for good once its
// removal is in effect. The oracle judges each slot by a majority of its own
// configuration's voters (oracle_voters), from the values it saw chosen, so
// a quorum counted wrongly by a replica is caught as a value applied that no
// majority accepted.
#include <algorithm>

#include "sim/simulation.h"

namespace synod::sim::detail {

namespace {

void insert_sorted(std::vector<NodeId>& ids, NodeId id) {
  ids.insert(std::upper_bound(ids.begin(), ids.end(), id), id);
}

}  // namespace

size_t Simulation::pick_target() {
  // Without membership changes every node is a candidate and the draw is
  // the one it always was, so the seeds of the other mixes replay unchanged.
  std::vector<size_t> candidates;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    if (!nodes_[i].retired) candidates.push_back(i);
  }
  return candidates[static_cast<size_t>(random_.uniform(0, static_cast<int64_t>(candidates.size()) - 1))];
}

const std::vector<NodeId>& Simulation::oracle_voters(Slot slot) const {
  if (slot > paxos::kConfigAlphaSlots) {
    // The configuration chosen last at or before slot - α.
    auto it = oracle_configs_.upper_bound(slot - paxos::kConfigAlphaSlots);
    if (it != oracle_configs_.begin()) return std::prev(it)->second;
  }
  return initial_voters_;
}

bool Simulation::final_member(NodeId id) const {
  const Node* newest = nullptr;
  for (const auto& node : nodes_) {
    if (node.up && (newest == nullptr || node.replica().commit_index() > newest->replica().commit_index())) {
      newest = &node;
    }
  }
  return newest == nullptr || newest->replica().configuration().is_member(id);
}

void Simulation::retire_removed(const Replica& leader) {
  const paxos::Configuration& in_effect = leader.configuration_in_effect();
  for (auto& node : nodes_) {
    if (node.retired || !in_effect.removed(node.id) || leader.configuration().is_member(node.id)) continue;
    trace("n%u was removed and stops for good", node.id);
    if (node.up) crash(node);
    node.retired = true;
  }
}

NodeId Simulation::add_node() {
  SYNOD_ASSERT(nodes_.size() < nodes_.capacity());
  nodes_.emplace_back();
  Node& node = nodes_.back();
  node.id = static_cast<NodeId>(nodes_.size());
  node.disk.open(node.id);
  if (config_.faults.drift) node.clock_rate = 1.0 + random_.unit() * 0.0999;
  node.clock_offset = random_.uniform(0, 1'000'000) * kMs;
  for (auto& row : cut_count_) row.push_back(0);
  cut_count_.emplace_back(nodes_.size(), 0);
  return node.id;
}

void Simulation::change_membership() {
  propose_change();
  // The two_changes_in_flight mutant gets a second change on the heels of
  // the first, so that two are in flight at once.
  if (config_.mutants.two_changes_in_flight) propose_change();
}

void Simulation::propose_change() {
  const auto leader_index = current_leader();
  if (!leader_index || nodes_[*leader_index].paused) return;
  Node& leader = nodes_[*leader_index];
  Replica& replica = leader.replica();
  retire_removed(replica);
  if (!replica.serving()) return;
  // The two_changes_in_flight mutant is asked for a second change anyway.
  if (replica.change_in_progress() && !config_.mutants.two_changes_in_flight) return;
  // The newest configuration: the one a change in flight proposes, if any
  // (only the two_changes_in_flight mutant gets here with one).
  const paxos::Configuration current = replica.newest_configuration();
  paxos::Configuration next = current;
  NodeId subject = kNoNode;
  const char* what = nullptr;
  if (!current.learners.empty()) {
    subject =
        current.learners[static_cast<size_t>(random_.uniform(0, static_cast<int64_t>(current.learners.size()) - 1))];
    std::erase(next.learners, subject);
    if (current.voters.size() < paxos::kVotersMax && random_.chance(3, 4)) {
      insert_sorted(next.voters, subject);
      what = "promote";
    } else {
      what = "remove learner";
    }
  } else if ((current.voters.size() <= 3 || random_.chance(1, 2)) && current.voters.size() < paxos::kVotersMax &&
             nodes_.size() < nodes_.capacity()) {
    what = "add";
  } else if (current.voters.size() > 3) {
    subject = current.voters[static_cast<size_t>(random_.uniform(0, static_cast<int64_t>(current.voters.size()) - 1))];
    std::erase(next.voters, subject);
    what = "remove voter";
  } else {
    return;
  }
  if (std::string_view(what) == "add") {
    subject = add_node();
    Node& joiner = nodes_.back();
    joiner.joined_as.voters = current.voters;
    joiner.joined_as.learners = current.learners;
    insert_sorted(joiner.joined_as.learners, subject);
    insert_sorted(next.learners, subject);
    next.next_id = subject + 1;
    boot(joiner);
  }
  std::string why;
  const auto status = replica.propose_configuration(next, local(leader), &why);
  trace("membership: n%u proposes to %s n%u: %s", leader.id, what, subject,
        status == Replica::ChangeStatus::queued ? "queued" : why.c_str());
  if (status == Replica::ChangeStatus::queued) {
    if (std::string_view(what) == "add") ++result_.members_added;
    if (std::string_view(what) == "promote") ++result_.members_promoted;
    if (std::string_view(what).starts_with("remove")) ++result_.members_removed;
  }
  flush(leader);
}

}  // namespace synod::sim::detail
