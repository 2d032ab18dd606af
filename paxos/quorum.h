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
  // `threshold_override` is for the simulator's "quorum of N/2" mutant only;
  // 0 means a true majority.
  explicit Quorum(std::vector<NodeId> members, size_t threshold_override = 0);

  const std::vector<NodeId>& members() const { return members_; }
  size_t size() const { return members_.size(); }
  bool contains(NodeId node) const;
  // Votes needed for phase 1 and phase 2: floor(n/2)+1, so any two quorums
  // intersect in at least one acceptor.
  size_t threshold() const { return threshold_; }

 private:
  std::vector<NodeId> members_;
  size_t threshold_;
};

// Distinct voters for one question (one ballot's promises, one slot's accepts,
// one heartbeat's acks). Clusters have at most kVotersMax voting members, so a
// small vector beats a set.
class Votes {
 public:
  // Returns true if `node` had not voted yet.
  bool add(NodeId node);
  bool has(NodeId node) const;
  size_t count() const { return voters_.size(); }
  bool reached(const Quorum& quorum) const { return voters_.size() >= quorum.threshold(); }
  void clear() { voters_.clear(); }

 private:
  std::vector<NodeId> voters_;
};

}  // namespace synod::paxos
