// witness.cpp — replaying a path's linearization. See witness.h.
#include "tools/lincheck/witness.h"

#include <algorithm>

namespace synod::lincheck {

std::int64_t latest_effect_time(const Operation& operation) {
  return operation.status == Status::info ? time_open : operation.complete_time;
}

namespace {

bool covers_known_outcomes(const History& history, const Partition& partition,
                           const std::vector<std::size_t>& sequence) {
  std::vector<bool> seen(partition.operations.size(), false);
  for (std::size_t position : sequence) {
    if (position >= seen.size() || seen[position]) return false;
    seen[position] = true;
  }
  for (std::size_t position = 0; position < seen.size(); ++position) {
    const Operation& operation = history.operations[partition.operations[position]];
    if (!seen[position] && operation.status != Status::info) return false;
  }
  return true;
}

// Operation b may follow a unless b completed before a was invoked.
bool respects_real_time(const History& history, const Partition& partition,
                        const std::vector<std::size_t>& sequence) {
  std::int64_t later_complete_min = time_open;
  for (auto position = sequence.rbegin(); position != sequence.rend(); ++position) {
    const Operation& operation = history.operations[partition.operations[*position]];
    if (later_complete_min < operation.invoke_time) return false;
    later_complete_min = std::min(later_complete_min, latest_effect_time(operation));
  }
  return true;
}

}  // namespace

bool witness_holds(const History& history, const Partition& partition, const std::vector<std::size_t>& sequence) {
  if (!partition.object) return false;
  if (!covers_known_outcomes(history, partition, sequence)) return false;
  if (!respects_real_time(history, partition, sequence)) return false;
  StateId state = partition.object->initial();
  for (std::size_t position : sequence) {
    std::optional<StateId> next = partition.object->step(state, position);
    if (!next) return false;
    state = *next;
  }
  return true;
}

}  // namespace synod::lincheck
