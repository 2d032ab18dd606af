// unique_values.h — the polynomial path for registers whose written values are unique.
//
// Owns decide_unique_values(). When no two writes (or compare-and-sets) of a key write the same
// value, each read names the write it observed, and linearizability is no longer a search over
// orders of operations (Gibbons and Korach, "Testing shared memories", 1997):
//   - A write and the reads of its value form a block: nothing else can be linearized inside it,
//     because any other write would hide the value for good. A compare-and-set from a to b ends
//     a's block and begins b's, so the blocks joined by compare-and-sets form one chain.
//   - A write of unknown outcome whose value nobody observed is dropped: with it or without it
//     the same orders fit. One whose value was observed took effect.
//   - Inside a chain the order is fixed (write, its reads, the next compare-and-set, ...); across
//     chains, block_order.h decides. Both steps are exact, so a key with no deletes is decided
//     either way, in O(n log n).
// Deletes, and writes of nil, write a value (nil) that is not unique: a read of a missing key does
// not say which delete it saw. For such keys every step above still holds for the non-nil chains,
// so it can still refute; nil_periods.h then looks for a linearization greedily, and a key it
// cannot settle goes to the search (search.h).
#pragma once

#include "tools/lincheck/history.h"
#include "tools/lincheck/models.h"
#include "tools/lincheck/witness.h"

namespace synod::lincheck {

// Unknown (go search) when the partition's written values are not unique, or when deletes leave
// the question open.
PathDecision decide_unique_values(const History& history, const Partition& partition);

}  // namespace synod::lincheck
