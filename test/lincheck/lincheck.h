// lincheck.h — the checker's entry point: a history and a model in, a verdict out.
//
// Owns Budget and check(). check() prepares the history for the model (models.h), searches each
// partition (search.h) under one shared budget, and combines the answers: not-linearizable if any
// object is not, else unknown if any search ran out of budget, else linearizable. Include this
// header, not the others, to use the checker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "test/lincheck/history.h"
#include "test/lincheck/models.h"
#include "test/lincheck/search.h"

namespace synod::lincheck {

inline constexpr std::int64_t budget_time_ms_limit = std::int64_t{7} * 24 * 3600 * 1000;

// Limits on one check, shared by all its partitions.
struct Budget {
  std::int64_t time_ms_max = 60'000;                     // clamped to [0, budget_time_ms_limit]
  std::size_t memory_bytes_max = std::size_t{1} << 30;  // memo and model states
};

struct CheckResult {
  Verdict verdict = Verdict::unknown;
  std::size_t operations = 0;  // every operation of the history, failed and open ones included
  double seconds = 0;          // wall time of preparation and search
  std::string error;           // set when the history does not fit the model; the verdict is unknown
  std::string explanation;     // for people: where a violation is, or which limit stopped the search
};

CheckResult check(const History& history, ModelKind model, const Budget& budget = {});

}  // namespace synod::lincheck
