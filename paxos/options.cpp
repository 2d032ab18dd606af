#include "paxos/options.h"

#include <algorithm>

#include "paxos/quorum.h"

namespace synod::paxos {

std::string validate(const Options& options) {
  const auto& t = options.timing;
  const auto& l = options.limits;
  if (options.self == kNoNode) return "node id must be at least 1";
  if (options.members.empty()) return "the member list is empty";
  if (options.members.size() > kVotersMax) {
    return "the member list names " + std::to_string(options.members.size()) + " voting members; at most " +
           std::to_string(kVotersMax) + " may vote";
  }
  const auto named = [&](const std::vector<NodeId>& ids) {
    return std::find(ids.begin(), ids.end(), options.self) != ids.end();
  };
  if (!named(options.members) && !named(options.learners)) return "this node's id is not in the member list";
  auto sorted = options.members;
  sorted.insert(sorted.end(), options.learners.begin(), options.learners.end());
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) return "a member id appears twice";
  if (std::find(sorted.begin(), sorted.end(), kNoNode) != sorted.end()) return "member id 0 is reserved";
  if (t.heartbeat_ms < 1) return "heartbeat must be at least 1 ms";
  if (t.lease_ms <= t.heartbeat_ms) return "the lease must be longer than the heartbeat interval";
  if (t.drift_bound_percent < 0 || t.drift_bound_percent > 100) return "the drift bound must be 0-100%";
  if (t.election_timeout_min_ms < t.lease_ms) {
    return "the election timeout must be at least the lease, or followers would campaign under a valid lease";
  }
  if (t.election_timeout_max_ms < t.election_timeout_min_ms) return "election timeout max is below its min";
  if (t.accept_retransmit_ms < 1 || t.catchup_retry_ms < 1) return "retransmit intervals must be at least 1 ms";
  if (l.pipeline_window_slots < 1 || l.batch_commands_max < 1 || l.batch_bytes_max < 1) {
    return "pipeline window and batch limits must be at least 1";
  }
  if (l.pending_commands_max < 1 || l.pending_reads_max < 1) return "queue limits must be at least 1";
  if (l.catchup_entries_max < 1 || l.catchup_bytes_max < 1) return "catch-up limits must be at least 1";
  if (l.log_retention_slots < l.pipeline_window_slots) {
    return "log retention must hold at least one pipeline window";
  }
  if (l.log_retention_bytes_max < l.batch_bytes_max) {
    return "log retention bytes must be at least batch_bytes_max";
  }
  return {};
}

}  // namespace synod::paxos
