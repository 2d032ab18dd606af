#include "paxos/quorum.h"

#include <algorithm>

#include "base/assert.h"

namespace synod::paxos {

Quorum::Quorum(std::vector<NodeId> members, size_t threshold_override, std::vector<NodeId> learners, Counting counting)
    : members_(std::move(members)),
      learners_(std::move(learners)),
      threshold_(threshold_override != 0 ? threshold_override : members_.size() / 2 + 1),
      counting_(counting) {
  std::sort(learners_.begin(), learners_.end());
  SYNOD_ASSERT(!members_.empty());
  SYNOD_ASSERT_MSG(members_.size() <= kVotersMax, "more voting members than kVotersMax");
  std::sort(members_.begin(), members_.end());
  SYNOD_ASSERT_MSG(std::adjacent_find(members_.begin(), members_.end()) == members_.end(),
                   "duplicate member id");
  SYNOD_ASSERT(std::find(members_.begin(), members_.end(), kNoNode) == members_.end());
  SYNOD_ASSERT(threshold_ >= 1 && threshold_ <= members_.size());
}

bool Quorum::contains(NodeId node) const {
  return std::binary_search(members_.begin(), members_.end(), node);
}

bool Quorum::counts(NodeId node) const {
  switch (counting_) {
    case Counting::voters:
      return contains(node);
    case Counting::voters_and_learners:
      return contains(node) || std::binary_search(learners_.begin(), learners_.end(), node);
    case Counting::all_but_learners:
      return node != kNoNode && !std::binary_search(learners_.begin(), learners_.end(), node);
  }
  return false;
}

size_t Votes::count_for(const Quorum& quorum) const {
  size_t count = 0;
  for (NodeId node : voters_) {
    if (quorum.counts(node)) ++count;
  }
  return count;
}

bool Votes::add(NodeId node) {
  if (has(node)) return false;
  voters_.push_back(node);
  return true;
}

bool Votes::has(NodeId node) const {
  return std::find(voters_.begin(), voters_.end(), node) != voters_.end();
}

}  // namespace synod::paxos
