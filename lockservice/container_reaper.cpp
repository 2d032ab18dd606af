// The leader's container reaper (see container_reaper.h).
#include "lockservice/container_reaper.h"

#include <algorithm>

#include "base/assert.h"

namespace synod::lockservice {

std::string validate(const ReaperConfig& config) {
  if (config.check_interval_ms <= 0) return "check_interval_ms must be positive";
  if (config.reaps_per_check_max == 0 || config.reaps_per_tick_max == 0)
    return "reaps_per_check_max and reaps_per_tick_max must be >= 1";
  if (config.retry_ms <= 0) return "retry_ms must be positive";
  return {};
}

ContainerReaper::ContainerReaper(ReaperConfig config) : config_(config) {
  const std::string problem = validate(config_);
  SYNOD_ASSERT_MSG(problem.empty(), problem.c_str());
}

// As ZooKeeper's timer (scheduleAtFixedRate(task, interval, interval)): the
// first check one interval after the leader starts.
void ContainerReaper::lead(int64_t mono_now_ms) {
  follow();
  leading_ = true;
  next_check_ms_ = mono_now_ms + config_.check_interval_ms;
}

void ContainerReaper::follow() {
  leading_ = false;
  budget_ = 0;
  in_flight_.clear();
}

// A reap that applied deleted its container; one that found nothing to do,
// or never applied, is let go after retry_ms.
void ContainerReaper::forget_applied(const StateMachine& machine, int64_t now_ms) {
  for (auto it = in_flight_.begin(); it != in_flight_.end();) {
    if (!machine.znode_stat(it->first) || now_ms - it->second >= config_.retry_ms) {
      it = in_flight_.erase(it);
    } else {
      ++it;
    }
  }
}

std::vector<ZnodeReapContainer> ContainerReaper::tick(const StateMachine& machine, int64_t mono_now_ms) {
  std::vector<ZnodeReapContainer> out;
  if (!leading_) return out;
  forget_applied(machine, mono_now_ms);
  if (budget_ == 0) {
    if (mono_now_ms < next_check_ms_) return out;
    budget_ = config_.reaps_per_check_max;
    next_check_ms_ = mono_now_ms + config_.check_interval_ms;
  }
  const size_t want = std::min(budget_, config_.reaps_per_tick_max);
  for (std::string& path : machine.reapable_containers(in_flight_.size() + want)) {
    if (out.size() == want) break;
    if (in_flight_.count(path) == 0) out.push_back(ZnodeReapContainer{std::move(path)});
  }
  if (out.empty()) budget_ = 0;  // nothing left to reap: the check is over
  return out;
}

void ContainerReaper::proposed(const std::string& path, int64_t mono_now_ms) {
  SYNOD_ASSERT_MSG(leading_ && budget_ > 0, "a reap is proposed only from an open check");
  in_flight_[path] = mono_now_ms;
  --budget_;
}

}  // namespace synod::lockservice
