// witness.h — what a polynomial path decides about one partition, and the replay that backs
// every `linearizable` it answers.
//
// Owns PathDecision and witness_holds(). A path that claims a partition linearizable must hand over
// its linearization, and witness_holds() replays it against the partition's own sequential object
// (models.h) and against real time. So a flaw in a path's reasoning can cost a search, never a
// wrong `linearizable`. A path's `not-linearizable` rests on its own argument, written in its
// header.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "tools/lincheck/history.h"
#include "tools/lincheck/models.h"
#include "tools/lincheck/search.h"

namespace synod::lincheck {

struct PathDecision {
  // linearizable or not_linearizable when the path decided; unknown when it did not, and the
  // partition goes to the search.
  Verdict verdict = Verdict::unknown;
  std::string explanation;  // for a violation: the operations that cannot be ordered, and why
};

// The completion time that bounds an operation: its completion, or time_open for one whose
// outcome is unknown (it may take effect at any time after its invocation).
std::int64_t latest_effect_time(const Operation& operation);

// True when `sequence` (positions in partition.operations, each at most once) is a linearization:
// it holds every operation whose outcome is known, no operation in it completed before an earlier
// one was invoked, and the partition's object accepts every step in this order. Operations of
// unknown outcome left out of it are taken never to have happened.
bool witness_holds(const History& history, const Partition& partition, const std::vector<std::size_t>& sequence);

}  // namespace synod::lincheck
