// lincheck.cpp — one check: prepare, search every partition, combine the verdicts.
#include "tools/lincheck/lincheck.h"

#include <algorithm>
#include <chrono>
#include <limits>

#include "tools/lincheck/unique_tokens.h"
#include "tools/lincheck/unique_values.h"

namespace synod::lincheck {
namespace {

using Clock = std::chrono::steady_clock;

// Partitions are independent, and one violation decides the verdict, so the cheapest proof should
// win. Searched one after another, one hard object would hold up the answer: in kv-append's
// c50-bad, key "0" takes minutes while key "1" is refuted in 40,000 steps. So each round gives
// every undecided partition a step allowance that grows fourfold per round. On one core this does
// what porcupine does by racing partitions on many, and redoes at most a third of the work.
constexpr std::uint64_t first_round_steps = std::uint64_t{1} << 15;
constexpr std::uint64_t round_growth = 4;

std::uint64_t next_allowance(std::uint64_t steps) {
  constexpr std::uint64_t steps_max = std::numeric_limits<std::uint64_t>::max();
  return steps > steps_max / round_growth ? steps_max : steps * round_growth;
}

std::vector<Interval> intervals_of(const History& history, const Partition& partition) {
  std::vector<Interval> intervals;
  intervals.reserve(partition.operations.size());
  for (std::size_t index : partition.operations) {
    const Operation& operation = history.operations[index];
    intervals.push_back({operation.invoke_time, operation.complete_time, operation.status == Status::info});
  }
  return intervals;
}

std::string object_name(const Partition& partition) {
  return partition.key.empty() ? std::string("the object") : "key \"" + partition.key + "\"";
}

std::string explain_violation(const History& history, const Partition& partition, const SearchResult& found) {
  return object_name(partition) + " is not linearizable: the search linearized at most " +
         std::to_string(found.linearized_max) + " of its " + std::to_string(partition.operations.size()) +
         " operations, and could not linearize " +
         describe(history, partition.operations[found.blocking_operation]) + " before it completed";
}

std::string explain_unknown(const Partition& partition, const SearchResult& found, const Budget& budget) {
  std::string limit = found.stop == Stop::memory ? "memory budget (" + std::to_string(budget.memory_bytes_max) + " bytes)"
                                          : "time budget (" + std::to_string(budget.time_ms_max) + " ms)";
  return object_name(partition) + ": the search reached its " + limit + " after " + std::to_string(found.steps) +
         " steps and " + std::to_string(found.memo_entries) + " configurations";
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// The budget less what the other undecided partitions' objects still hold between rounds.
std::size_t memory_left(const Budget& budget, const std::vector<Partition*>& undecided, const Partition* searching) {
  std::size_t held_bytes = 0;
  for (const Partition* partition : undecided) {
    if (partition != searching && partition->object) held_bytes += partition->object->memory_bytes();
  }
  return held_bytes >= budget.memory_bytes_max ? 0 : budget.memory_bytes_max - held_bytes;
}

// Searches one partition within this round's limits and folds the answer into result. Returns
// false when the round's step allowance ran out first, so the partition goes on to the next round.
bool decide(const History& history, Partition& partition, const SearchLimits& limits, const Budget& budget,
            CheckResult& result) {
  SearchResult found = search(intervals_of(history, partition), *partition.object, limits);
  if (found.stop == Stop::steps) return false;
  if (found.verdict == Verdict::not_linearizable) {
    result.verdict = Verdict::not_linearizable;
    result.path = Path::search;
    result.explanation = explain_violation(history, partition, found);
  } else if (found.verdict == Verdict::unknown && result.verdict == Verdict::linearizable) {
    result.verdict = Verdict::unknown;
    result.explanation = explain_unknown(partition, found, budget);
  }
  partition.object.reset();  // decided: free its states
  return true;
}

// Decides what it can without a search; returns the partitions left for the search.
std::vector<Partition*> decide_by_unique_values(const History& history, ModelKind model,
                                                std::vector<Partition>& partitions, CheckResult& result) {
  std::vector<Partition*> undecided;
  for (Partition& partition : partitions) {
    PathDecision decision = decide_without_search(history, partition, model);
    if (decision.verdict == Verdict::unknown) {
      undecided.push_back(&partition);
      continue;
    }
    ++result.partitions_unique_values;
    partition.object.reset();  // decided: free its states
    if (decision.verdict == Verdict::not_linearizable) {
      result.verdict = Verdict::not_linearizable;
      result.path = Path::unique_values;
      result.explanation = decision.explanation;
      return {};
    }
  }
  return undecided;
}

Path path_of(const CheckResult& result) {
  if (result.verdict == Verdict::unknown) return result.partitions_searched > 0 ? Path::search : Path::none;
  if (result.partitions_searched == 0) return result.partitions_unique_values == 0 ? Path::none : Path::unique_values;
  return result.partitions_unique_values == 0 ? Path::search : Path::mixed;
}

}  // namespace

const char* path_name(Path path) {
  switch (path) {
    case Path::none:
      return "none";
    case Path::unique_values:
      return "unique-values";
    case Path::search:
      return "search";
    case Path::mixed:
      return "mixed";
  }
  return "?";
}

PathDecision decide_without_search(const History& history, const Partition& partition, ModelKind model) {
  switch (model) {
    case ModelKind::cas_register:
    case ModelKind::keys:
      return decide_unique_values(history, partition);
    case ModelKind::lock:
      return decide_unique_tokens(history, partition);
    case ModelKind::kv:
      return PathDecision{};
  }
  return PathDecision{};
}

CheckResult check(const History& history, ModelKind model, const Budget& budget) {
  Clock::time_point start = Clock::now();
  CheckResult result;
  result.operations = history.operations.size();
  Prepared prepared = prepare(history, model);
  result.error = prepared.error;
  result.verdict = result.error.empty() ? Verdict::linearizable : Verdict::unknown;
  std::vector<Partition*> undecided = decide_by_unique_values(history, model, prepared.partitions, result);
  result.partitions_searched = undecided.size();
  std::int64_t time_ms = std::clamp<std::int64_t>(budget.time_ms_max, 0, budget_time_ms_limit);
  SearchLimits limits{start + std::chrono::milliseconds(time_ms), 0, first_round_steps};
  while (!undecided.empty() && result.verdict != Verdict::not_linearizable) {
    std::vector<Partition*> next_round;
    for (Partition* partition : undecided) {
      limits.memory_bytes_max = memory_left(budget, undecided, partition);
      if (!decide(history, *partition, limits, budget, result)) next_round.push_back(partition);
      if (result.verdict == Verdict::not_linearizable) break;
    }
    undecided = std::move(next_round);
    limits.steps_max = next_allowance(limits.steps_max);
  }
  if (result.verdict != Verdict::not_linearizable) result.path = path_of(result);
  result.seconds = seconds_since(start);
  return result;
}

}  // namespace synod::lincheck
