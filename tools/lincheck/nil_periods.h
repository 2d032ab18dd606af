// nil_periods.h — a linearization for a register key with deletes, found greedily.
//
// Owns find_with_deletes(). A read of a missing key does not say which delete it saw, so deletes
// and reads of nil fall outside the exact argument of unique_values.h. The non-nil chains are
// still blocks; the deletes are blocks of one operation; the reads of nil float, and are placed
// into whichever nil period is open when nothing else must come before them (placing such a read
// at once never loses a linearization: it changes no state, and nothing remaining precedes it).
// The next block is the source (block_order.h) that must complete soonest, a compare-and-set from
// nil only while the key is missing. Deletes of unknown outcome that no period needs are left out.
//
// The greedy choice is not proven complete, so its answer is only a candidate: unique_values.cpp
// replays it (witness.h), and a key it fails on goes to the search.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "tools/lincheck/register_chains.h"

namespace synod::lincheck {

// A candidate linearization (positions in the partition), or nullopt when the greedy got stuck.
std::optional<std::vector<std::size_t>> find_with_deletes(const RegisterValues& values,
                                                          const std::vector<Chain>& chains,
                                                          const std::vector<bool>& from_nil);

}  // namespace synod::lincheck
