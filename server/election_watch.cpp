#include "server/election_watch.h"

#include <algorithm>
#include <utility>
#include <variant>

#include "server/limits.h"

namespace synod::server {

namespace {

const char* reject_reason_name(paxos::Reject::Reason reason) {
  switch (reason) {
    case paxos::Reject::Reason::stale_ballot: return "stale_ballot";
    case paxos::Reject::Reason::lease_held: return "lease_held";
    case paxos::Reject::Reason::restarting: return "restarting";
    case paxos::Reject::Reason::repairing: return "repairing";
  }
  return "unknown";
}

const char* refused_name(paxos::Reject::Refused refused) {
  switch (refused) {
    case paxos::Reject::Refused::prepare: return "prepare";
    case paxos::Reject::Refused::accept: return "accept";
    case paxos::Reject::Refused::heartbeat: return "heartbeat";
  }
  return "unknown";
}

}  // namespace

ElectionWatch::ElectionWatch(paxos::NodeId self, NodeMetrics& metrics, bool recording, int64_t started_us,
                             LogSink log)
    : self_(self), metrics_(metrics), recording_(recording), started_us_(started_us), log_(std::move(log)) {
  watch_.lost_at_us = started_us;
}

std::optional<int64_t> ElectionWatch::leader_message_at_us(paxos::NodeId node) const {
  const auto it = leader_message_at_us_.find(node);
  if (it == leader_message_at_us_.end()) return std::nullopt;
  return it->second;
}

void ElectionWatch::note_peer_message(const paxos::Envelope& envelope, int64_t now_us) {
  const auto& message = envelope.message;
  if (const auto* heartbeat = std::get_if<paxos::Heartbeat>(&message)) {
    leader_message_at_us_[envelope.from] = now_us;
    if (recording_ && envelope.from == heartbeat_from_ && heartbeat->ballot == heartbeat_ballot_) {
      const int64_t gap_us = now_us - heartbeat_at_us_;
      metrics_.heartbeat_interval.observe(static_cast<double>(gap_us) / 1e6);
      heartbeat_gap_max_us_ = std::max(heartbeat_gap_max_us_, gap_us);
    }
    heartbeat_from_ = envelope.from;
    heartbeat_ballot_ = heartbeat->ballot;
    heartbeat_at_us_ = now_us;
  } else if (std::holds_alternative<paxos::Accept>(message)) {
    leader_message_at_us_[envelope.from] = now_us;
  } else if (const auto* reject = std::get_if<paxos::Reject>(&message)) {
    note_reject(envelope.from, *reject, now_us);
  } else if (const auto* reply = std::get_if<paxos::ProbeReply>(&message)) {
    if (watch_.campaigning && !reply->granted) {
      note_refusal("node " + std::to_string(envelope.from) + " still hears a leader (probe not granted)");
    }
  } else if (std::holds_alternative<paxos::Prepare>(message)) {
    watch_.saw_phase1 = true;
  } else if (const auto* nominate = std::get_if<paxos::Nominate>(&message)) {
    watch_.handover_from = envelope.from;
    if (nominate->successor == self_) watch_.nominated_by = envelope.from;
  }
}

void ElectionWatch::note_heartbeats_sent(const std::vector<paxos::Envelope>& messages, int64_t now_us) {
  for (const auto& envelope : messages) {
    const auto* heartbeat = std::get_if<paxos::Heartbeat>(&envelope.message);
    if (heartbeat == nullptr || heartbeat->seq == heartbeat_sent_seq_) continue;  // one per round
    if (heartbeat->seq == heartbeat_sent_seq_ + 1 && heartbeat->ballot == heartbeat_sent_ballot_) {
      metrics_.heartbeat_sent_interval.observe(static_cast<double>(now_us - heartbeat_sent_at_us_) / 1e6);
    }
    heartbeat_sent_seq_ = heartbeat->seq;
    heartbeat_sent_ballot_ = heartbeat->ballot;
    heartbeat_sent_at_us_ = now_us;
  }
}

void ElectionWatch::note_reject(paxos::NodeId from, const paxos::Reject& reject, int64_t now_us) {
  const char* refused = refused_name(reject.refused);
  const char* reason = reject_reason_name(reject.reason);
  metrics_.rejects_received.with({refused, reason}).inc();
  if (watch_.campaigning) {
    note_refusal("node " + std::to_string(from) + " refused our " + refused + " (" + reason + ")");
  }
  // A deposed leader can be refused once per Accept: one line per second
  // per kind is plenty, with the count of the ones not logged.
  const auto key = std::make_tuple(from, static_cast<uint8_t>(reject.refused), static_cast<uint8_t>(reject.reason));
  auto it = refusal_logs_.find(key);
  if (it == refusal_logs_.end()) {
    if (refusal_logs_.size() >= kRefusalLogsMax) refusal_logs_.clear();
    it = refusal_logs_.emplace(key, RefusalLog{}).first;
  } else if (now_us - it->second.logged_at_us < kRefusalLogIntervalUs) {
    ++it->second.suppressed;
    return;
  }
  log_(Level::info, "peer_refused",
       {{"peer", from}, {"refused", refused}, {"reason", reason}, {"our_ballot_round", reject.ballot.round},
        {"their_promised_round", reject.promised.round}, {"suppressed_since_last", it->second.suppressed}});
  it->second = RefusalLog{now_us, 0};
}

void ElectionWatch::note_refusal(const std::string& what) {
  if (watch_.refusals.size() + what.size() + 2 > kRefusalsBytesMax) return;
  if (watch_.refusals.find(what) != std::string::npos) return;
  if (!watch_.refusals.empty()) watch_.refusals += "; ";
  watch_.refusals += what;
}

std::string ElectionWatch::campaign_reason(const paxos::SoftState& previous, int64_t now_us,
                                           std::optional<int64_t> last_leader_contact_us) {
  if (watch_.nominated_by != paxos::kNoNode) {
    const paxos::NodeId by = std::exchange(watch_.nominated_by, paxos::kNoNode);
    return "nominated by node " + std::to_string(by) + " (leadership transfer)";
  }
  if (!last_leader_contact_us) {
    return "no leader heard since start, " + std::to_string((now_us - started_us_) / 1000) + " ms ago";
  }
  const std::string who = previous.leader != paxos::kNoNode ? "node " + std::to_string(previous.leader) : "a leader";
  return "nothing from " + who + " for " + std::to_string((now_us - *last_leader_contact_us) / 1000) +
         " ms (election timeout)";
}

void ElectionWatch::watch_candidacy(const paxos::SoftState& previous, const paxos::SoftState& next,
                                    const Instant& now, std::optional<int64_t> last_leader_contact_us) {
  const bool was = previous.role == paxos::Role::candidate;
  const bool is = next.role == paxos::Role::candidate;
  if (!was && is) {
    watch_.campaigning = true;
    watch_.saw_phase1 = true;
    watch_.campaign_started_us = now.steady_us;
    watch_.campaign_leader_before = previous.leader;
    watch_.campaign_reason = campaign_reason(previous, now.steady_us, last_leader_contact_us);
    watch_.refusals.clear();
    metrics_.elections_started.inc();
    log_(Level::info, "election_started",
         {{"reason", watch_.campaign_reason}, {"ballot_round", next.ballot.round}, {"last_leader", previous.leader}});
    return;
  }
  if (!was || is) return;
  watch_.campaigning = false;
  const bool won = next.role == paxos::Role::leader;
  const int64_t duration_us = now.steady_us - watch_.campaign_started_us;
  std::string reason;
  if (won) {
    metrics_.elections_won.inc();
    reason = "a majority promised ballot " + std::to_string(next.ballot.round);
  } else {
    metrics_.elections_lost.inc();
    if (next.leader != paxos::kNoNode && next.leader != self_) {
      reason = "node " + std::to_string(next.leader) + " leads";
    } else if (!watch_.refusals.empty()) {
      reason = "refused: " + watch_.refusals;
    } else {
      reason = "no majority answered before the candidacy deadline";
    }
  }
  log_(Level::info, won ? "election_won" : "election_lost",
       {{"reason", reason}, {"started_because", watch_.campaign_reason}, {"ballot_round", next.ballot.round},
        {"duration_ms", duration_us / 1000}});
  http::ElectionRecord record;
  record.kind = "candidacy";
  record.outcome = won ? "won" : "lost";
  record.started_unix_ms = now.unix_ms_at(watch_.campaign_started_us);
  record.ended_unix_ms = now.unix_ms;
  record.duration_ms = static_cast<double>(duration_us) / 1000.0;
  record.leader_before = watch_.campaign_leader_before;
  record.leader_after = won ? self_ : next.leader;
  record.ballot_round = next.ballot.round;
  record.reason = watch_.campaign_reason + "; " + reason;
  record_election(std::move(record));
}

std::string ElectionWatch::step_down_reason(const paxos::SoftState& next, bool stopping) const {
  if (stopping) return "handing over before stopping";
  if (next.leader != paxos::kNoNode && next.leader != self_) {
    return "node " + std::to_string(next.leader) + " leads at a higher ballot";
  }
  return "heard from no majority within the lease (check-quorum)";
}

void ElectionWatch::watch_leader(const paxos::SoftState& previous, const paxos::SoftState& next, const Instant& now,
                                 bool stopping) {
  const int64_t now_us = now.steady_us;
  const bool stepped_down = previous.role == paxos::Role::leader && next.role != paxos::Role::leader;
  if (stepped_down) {
    log_(Level::info, "stepped_down",
         {{"ballot_round", next.ballot.round}, {"reason", step_down_reason(next, stopping)},
          {"led_ms", (now_us - watch_.led_since_us) / 1000}});
  }
  if (next.role == paxos::Role::leader && previous.role != paxos::Role::leader) watch_.led_since_us = now_us;
  // The leader this node follows, or itself once it serves.
  const paxos::NodeId effective =
      next.leader == self_ ? (next.role == paxos::Role::leader && next.serving ? self_ : paxos::kNoNode)
                           : next.leader;
  if (effective == watch_.effective_leader) return;
  const paxos::NodeId lost = watch_.effective_leader;
  if (lost != paxos::kNoNode) {
    watch_.lost_leader = lost;
    watch_.without_leader = true;
    if (lost == self_) {
      watch_.lost_at_us = now_us;
      watch_.loss_reason = "this node stopped leading: " + step_down_reason(next, stopping);
    } else {
      const auto contact = leader_message_at_us_.find(lost);
      watch_.lost_at_us = contact != leader_message_at_us_.end() ? std::min(contact->second, now_us) : now_us;
      watch_.loss_reason = watch_.handover_from == lost
                               ? "node " + std::to_string(lost) + " handed leadership over"
                               : "last heard from node " + std::to_string(lost) + " " +
                                     std::to_string((now_us - watch_.lost_at_us) / 1000) + " ms before";
    }
    watch_.handover_from = paxos::kNoNode;
  }
  watch_.effective_leader = effective;
  if (effective != paxos::kNoNode && watch_.without_leader) leader_found(effective, next, now);
}

void ElectionWatch::leader_found(paxos::NodeId leader, const paxos::SoftState& next, const Instant& now) {
  watch_.without_leader = false;
  if (watch_.lost_leader == paxos::kNoNode && !watch_.saw_phase1) {
    log_(Level::info, "leader_discovered",
         {{"leader", leader}, {"ballot_round", next.ballot.round},
          {"after_start_ms", (now.steady_us - started_us_) / 1000}});
    return;
  }
  const int64_t duration_us = now.steady_us - watch_.lost_at_us;
  metrics_.election_duration.observe(static_cast<double>(duration_us) / 1e6);
  metrics_.leader_changes.inc();
  log_(Level::info, "leader_changed",
       {{"leader", leader}, {"previous_leader", watch_.lost_leader}, {"ballot_round", next.ballot.round},
        {"ballot_node", next.ballot.node}, {"duration_ms", duration_us / 1000}, {"reason", watch_.loss_reason}});
  http::ElectionRecord record;
  record.kind = "leader_change";
  record.outcome = "new_leader";
  record.started_unix_ms = now.unix_ms_at(watch_.lost_at_us);
  record.ended_unix_ms = now.unix_ms;
  record.duration_ms = static_cast<double>(duration_us) / 1000.0;
  record.leader_before = watch_.lost_leader;
  record.leader_after = leader;
  record.ballot_round = next.ballot.round;
  record.reason = watch_.loss_reason;
  record_election(std::move(record));
}

void ElectionWatch::record_election(http::ElectionRecord record) {
  election_log_.push_back(std::move(record));
  while (election_log_.size() > kElectionLogMax) election_log_.pop_front();
}

}  // namespace synod::server
