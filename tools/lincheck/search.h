// search.h — the search for a linearization of one partition.
//
// Owns the algorithm: Wing & Gong's backtracking search, in Lowe's formulation ("Testing for
// linearizability", 2017) over a doubly linked list of call and return entries, with the memo of
// porcupine (Athalye): a configuration (set of operations linearized, state of the object) that was
// reached once leads to the same outcome the second time, so it is explored once.
//
// A memo entry is the set's bitset, compressed to the span between its leading all-ones words and
// its trailing zero words (the search works roughly in invocation order), plus a 4-byte state id:
// tens of bytes even for histories of 10^5 operations on one key. Time, memory and steps are
// capped by the caller; a search that hits a cap answers `unknown`, never a guess.
// Single-threaded; the caller owns the object.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "tools/lincheck/models.h"

namespace synod::lincheck {

enum class Verdict : std::uint8_t { linearizable, not_linearizable, unknown };

const char* verdict_name(Verdict verdict);  // "linearizable", "not-linearizable", "unknown"

// The real-time interval of one operation. An `optional` operation (outcome unknown) may take
// effect at any time after its invocation, or never; its complete_time is not used.
struct Interval {
  std::int64_t invoke_time = 0;
  std::int64_t complete_time = 0;
  bool optional = false;
};

struct SearchLimits {
  std::chrono::steady_clock::time_point deadline;
  std::size_t memory_bytes_max = 0;  // the memo plus the object's interned states
  std::uint64_t steps_max = std::numeric_limits<std::uint64_t>::max();
};

// Why a search answered unknown.
enum class Stop : std::uint8_t { none, steps, time, memory };

struct SearchResult {
  Verdict verdict = Verdict::unknown;
  std::size_t linearized_max = 0;  // the most operations the search linearized at once
  // When not linearizable: an operation whose completion the search could not get past, at the
  // deepest point it reached. The first place to look in the history.
  std::size_t blocking_operation = 0;
  std::uint64_t steps = 0;
  std::size_t memo_entries = 0;
  Stop stop = Stop::none;  // the limit that ended an unknown search
};

// intervals[i] belongs to the object's operation i. Two operations are concurrent unless one
// completes strictly before the other is invoked: at equal times, invocations come first.
SearchResult search(const std::vector<Interval>& intervals, SequentialObject& object, const SearchLimits& limits);

}  // namespace synod::lincheck
