// lincheck.h — the checker's entry point: a history and a model in, a verdict out.
//
// Owns Budget, Path and check(). check() prepares the history for the model (models.h), and
// decides each partition by one of two paths:
//   unique-values  polynomial, for registers whose written values are unique (unique_values.h) and
//                  locks whose grants carry tokens (unique_tokens.h); tried first, on every partition;
//   search         the general search (search.h), under one budget shared by the partitions the
//                  first path left open.
// It combines the answers: not-linearizable if any object is not, else unknown if any search ran
// out of budget, else linearizable. Include this header, not the others, to use the checker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "tools/lincheck/history.h"
#include "tools/lincheck/models.h"
#include "tools/lincheck/search.h"
#include "tools/lincheck/witness.h"

namespace synod::lincheck {

inline constexpr std::int64_t budget_time_ms_limit = std::int64_t{7} * 24 * 3600 * 1000;

// Limits on one check, shared by all its partitions.
struct Budget {
  std::int64_t time_ms_max = 60'000;                     // clamped to [0, budget_time_ms_limit]
  std::size_t memory_bytes_max = std::size_t{1} << 30;  // memo and model states
};

// Which path decided a verdict. `mixed`: a linearizable history some of whose partitions each path
// decided. `none`: nothing was decided (an empty history, bad input).
enum class Path : std::uint8_t { none, unique_values, search, mixed };

const char* path_name(Path path);  // "none", "unique-values", "search", "mixed"

struct CheckResult {
  Verdict verdict = Verdict::unknown;
  Path path = Path::none;
  std::size_t partitions_unique_values = 0;  // partitions decided without a search
  std::size_t partitions_searched = 0;
  std::size_t operations = 0;  // every operation of the history, failed and open ones included
  double seconds = 0;          // wall time of preparation and search
  std::string error;           // set when the history does not fit the model; the verdict is unknown
  std::string explanation;     // for people: where a violation is, or which limit stopped the search
};

CheckResult check(const History& history, ModelKind model, const Budget& budget = {});

// The unique-values path on one prepared partition of `model` (the simulator calls it before its
// own step-bounded search). Unknown when the partition is not for this path.
PathDecision decide_without_search(const History& history, const Partition& partition, ModelKind model);

}  // namespace synod::lincheck
