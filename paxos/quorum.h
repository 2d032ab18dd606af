// Quorum math, kept in one unit so that a different quorum system (Flexible
// Paxos, weighted votes) is a change to this file alone.
//
// Owned by whoever holds it; no threads, no I/O.
#pragma once

#include <cstddef>
#include <vector>

#include "paxos/types.h"

namespace synod::paxos {

// A configuration has at most this many voting members (learners, which do
// not vote, are not counted). Votes keeps its voters in a small vector for
// it, and paxos::validate (options.h) and the server's configuration refuse
// more, so a Quorum never holds more.
inline constexpr size_t kVotersMax = 7;

// The voting members of one configuration.
class Quorum {
 public:
  // Whose votes count. Only `voters` is correct; the others are the
  // simulator's mutants (options.h), which count a learner, or any node
  // that is not a learner (so a removed member too).
  enum class Counting : uint8_t { voters, voters_and_learners, all_but_learners };

  // `threshold_override` is for the simulator's "quorum of N/2" mutant only;
  // 0 means a true majority.
  explicit Quorum(std::vector<NodeId> members, size_t threshold_override = 0, std::vector<NodeId> learners = {},
                  Counting counting = Counting::voters);

  const std::vector<NodeId>& members() const { return members_; }
  size_t size() const { return members_.size(); }
  bool contains(NodeId node) const;
  // Is a vote of `node` counted toward this quorum?
  bool counts(NodeId node) const;
  // Votes needed for phase 1 and phase 2: floor(n/2)+1, so any two quorums
  // intersect in at least one acceptor.
  size_t threshold() const { return threshold_; }

 private:
  std::vector<NodeId> members_;
  std::vector<NodeId> learners_;  // ascending; counted only by a mutant
  size_t threshold_;
  Counting counting_;
};

// Distinct voters for one question (one ballot's promises, one slot's accepts,
// one heartbeat's acks). A node may vote on behalf of several configurations
// at once (during a change), so the votes are kept per node and counted per
// quorum: only the votes of that quorum's voters count. Clusters have at most
// kVotersMax voting members per configuration, so a small vector beats a set.
class Votes {
 public:
  // Returns true if `node` had not voted yet.
  bool add(NodeId node);
  bool has(NodeId node) const;
  size_t count() const { return voters_.size(); }
  size_t count_for(const Quorum& quorum) const;
  bool reached(const Quorum& quorum) const { return count_for(quorum) >= quorum.threshold(); }
  void clear() { voters_.clear(); }

 private:
  std::vector<NodeId> voters_;
};

}  // namespace synod::paxos
