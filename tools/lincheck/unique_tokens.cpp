// unique_tokens.cpp — grants in token order, and the releases between them. See unique_tokens.h.
#include "tools/lincheck/unique_tokens.h"

#include <algorithm>
#include <limits>
#include <unordered_map>

namespace synod::lincheck {
namespace {

constexpr std::size_t none = std::numeric_limits<std::size_t>::max();

struct Grant {
  std::int64_t token = 0;
  std::size_t position = 0;  // in the partition
};

// A process's releases in its own order, and by invocation time with the latest completion among
// the first i. The two orders can differ: a recorder may stamp a release with an invocation time
// before the completion of the acquire it follows (the chaos suite's late campaign wins).
struct Releases {
  std::vector<std::size_t> positions;
  std::vector<std::size_t> by_invoke;
  std::vector<std::int64_t> latest_prefix_max;
};

struct LockOps {
  std::vector<Grant> grants;  // in token order
  std::unordered_map<std::int64_t, Releases> releases;
  bool all_tokens_known = true;
};

const Operation& at(const History& history, const Partition& partition, std::size_t position) {
  return history.operations[partition.operations[position]];
}

LockOps classify(const History& history, const Partition& partition) {
  LockOps lock;
  for (std::size_t position = 0; position < partition.operations.size(); ++position) {
    const Operation& operation = at(history, partition, position);
    if (operation.f == "release") {
      lock.releases[operation.process].positions.push_back(position);
    } else if (operation.status == Status::ok) {
      if (operation.output.kind != Value::Kind::integer) lock.all_tokens_known = false;
      lock.grants.push_back({operation.output.integer, position});
    }
  }
  std::sort(lock.grants.begin(), lock.grants.end(), [](const Grant& a, const Grant& b) { return a.token < b.token; });
  for (auto& [process, releases] : lock.releases) {
    releases.by_invoke = releases.positions;
    std::sort(releases.by_invoke.begin(), releases.by_invoke.end(), [&](std::size_t a, std::size_t b) {
      return at(history, partition, a).invoke_time < at(history, partition, b).invoke_time;
    });
    std::int64_t latest = std::numeric_limits<std::int64_t>::min();
    for (std::size_t position : releases.by_invoke) {
      latest = std::max(latest, latest_effect_time(at(history, partition, position)));
      releases.latest_prefix_max.push_back(latest);
    }
  }
  return lock;
}

std::string lock_name(const Partition& partition) {
  return partition.key.empty() ? std::string("the lock") : "lock \"" + partition.key + "\"";
}

PathDecision refuted(const Partition& partition, const std::string& why) {
  return PathDecision{Verdict::not_linearizable, lock_name(partition) + " is not linearizable: " + why};
}

std::string duplicate_token(const History& history, const Partition& partition, const LockOps& lock) {
  for (std::size_t i = 1; i < lock.grants.size(); ++i) {
    if (lock.grants[i].token == lock.grants[i - 1].token) {
      return describe(history, partition.operations[lock.grants[i - 1].position]) + " and " +
             describe(history, partition.operations[lock.grants[i].position]) +
             " were granted the same token, but tokens rise with every grant";
    }
  }
  return "";
}

std::string token_against_real_time(const History& history, const Partition& partition, const LockOps& lock) {
  std::size_t earliest_later = none;  // among grants with higher tokens: the first to complete
  for (std::size_t i = lock.grants.size(); i-- > 0;) {
    const Operation& grant = at(history, partition, lock.grants[i].position);
    if (earliest_later != none) {
      const Operation& later = at(history, partition, lock.grants[earliest_later].position);
      if (later.complete_time < grant.invoke_time) {
        return describe(history, partition.operations[lock.grants[earliest_later].position]) +
               " completed before " + describe(history, partition.operations[lock.grants[i].position]) +
               " was invoked, yet holds a higher token";
      }
    }
    if (earliest_later == none || grant.complete_time < at(history, partition, lock.grants[earliest_later].position).complete_time) {
      earliest_later = i;
    }
  }
  return "";
}

// Whether some release of `process` can be linearized after an operation invoked at `from_invoke`
// and before one that completed at `to_complete`. Equal times leave two operations concurrent.
bool release_fits(const LockOps& lock, const History& history, const Partition& partition, std::int64_t process,
                  std::int64_t from_invoke, std::int64_t to_complete) {
  auto found = lock.releases.find(process);
  if (found == lock.releases.end()) return false;
  const Releases& releases = found->second;
  auto invoked_before = std::partition_point(releases.by_invoke.begin(), releases.by_invoke.end(), [&](std::size_t p) {
    return at(history, partition, p).invoke_time <= to_complete;
  });
  std::size_t count = static_cast<std::size_t>(invoked_before - releases.by_invoke.begin());
  return count > 0 && releases.latest_prefix_max[count - 1] >= from_invoke;
}

std::string held_twice(const History& history, const Partition& partition, const LockOps& lock) {
  for (std::size_t i = 1; i < lock.grants.size(); ++i) {
    const Operation& holder = at(history, partition, lock.grants[i - 1].position);
    const Operation& next = at(history, partition, lock.grants[i].position);
    if (!release_fits(lock, history, partition, holder.process, holder.invoke_time, next.complete_time)) {
      return describe(history, partition.operations[lock.grants[i].position]) + " was granted while " +
             describe(history, partition.operations[lock.grants[i - 1].position]) +
             " held the lock (the next lower token): no release by process " + std::to_string(holder.process) +
             " could take effect between the two grants";
    }
  }
  return "";
}

// Each grant, then the next release of its process. A process runs one operation at a time, so
// its operations' positions in the partition are its own order.
std::vector<std::size_t> suggested_order(const History& history, const Partition& partition, const LockOps& lock) {
  std::vector<std::size_t> sequence;
  for (const Grant& grant : lock.grants) {
    sequence.push_back(grant.position);
    auto found = lock.releases.find(at(history, partition, grant.position).process);
    if (found == lock.releases.end()) continue;
    const std::vector<std::size_t>& positions = found->second.positions;
    auto after = std::upper_bound(positions.begin(), positions.end(), grant.position);
    if (after != positions.end()) sequence.push_back(*after);
  }
  return sequence;
}

}  // namespace

PathDecision decide_unique_tokens(const History& history, const Partition& partition) {
  LockOps lock = classify(history, partition);
  if (!lock.all_tokens_known) return PathDecision{};
  for (auto check : {duplicate_token, token_against_real_time, held_twice}) {
    if (std::string why = check(history, partition, lock); !why.empty()) return refuted(partition, why);
  }
  if (!witness_holds(history, partition, suggested_order(history, partition, lock))) return PathDecision{};
  return PathDecision{Verdict::linearizable, ""};
}

}  // namespace synod::lincheck
