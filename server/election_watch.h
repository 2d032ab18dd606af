// ElectionWatch: leadership as this node sees it, for people. It watches the
// replica's soft state and the peer messages that go past, and from them it
// logs every candidacy, election, step-down, leader change and peer refusal
// with its reason, observes the election-duration, heartbeat-gap and refusal
// series, and keeps the status page's election log (docs/observability.md).
// It decides nothing: the replica runs the elections.
//
// ELECTION DURATION, as this node sees it (synod_election_duration_seconds):
// from its last contact (a Heartbeat or an Accept) with the leader it lost,
// to the moment it knows a new one: a follower when the new leader's first
// message arrives, the new leader itself only once it SERVES (its takeover
// slots are chosen), because only then can a client commit. A node that led
// and stepped down counts from its step-down. The first election counts from
// the process start, but only if this node saw it happen (a Prepare, or its
// own candidacy): a node that restarts into a running cluster merely
// discovers the leader, and that is not an election. The replica keeps
// naming the leader it lost until it hears of another, so the loss is dated
// after the fact, from the contact times kept here.
//
// Pure: no Asio, no clock, no thread. Every time comes in as a parameter and
// every log line leaves through the LogSink, so tests drive it directly
// (test/server/election_watch_tests.cpp).
//
// Owned by the node's owner thread.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "http/observability.h"
#include "paxos/messages.h"
#include "paxos/ready.h"
#include "server/log.h"
#include "server/node_metrics.h"

namespace synod::server {

// One reading of both clocks, taken together.
struct Instant {
  int64_t steady_us = 0;
  int64_t unix_ms = 0;
  // The wall-clock time of an earlier steady time, as of this reading.
  int64_t unix_ms_at(int64_t steady) const { return unix_ms - (steady_us - steady) / 1000; }
};

// Where log lines go: Log::write in the node, a recorder in tests.
using LogSink = std::function<void(Level level, std::string_view event, std::initializer_list<Field> fields)>;

class ElectionWatch {
 public:
  // recording: observe the hot-path series (--metrics); the heartbeat gaps
  // are one of them. started_us: the process start, when the first
  // leaderless time began.
  ElectionWatch(paxos::NodeId self, NodeMetrics& metrics, bool recording, int64_t started_us, LogSink log);

  // ---- inputs ----
  // Every peer message the replica steps (before it does).
  void note_peer_message(const paxos::Envelope& envelope, int64_t now_us);
  // A Ready's plain messages, as they leave: the heartbeat rounds sent.
  void note_heartbeats_sent(const std::vector<paxos::Envelope>& messages, int64_t now_us);
  // Each soft-state change, in this order: candidacy first, then leadership.
  // last_leader_contact_us: the replica's (Replica::last_leader_contact).
  void watch_candidacy(const paxos::SoftState& previous, const paxos::SoftState& next, const Instant& now,
                       std::optional<int64_t> last_leader_contact_us);
  // stopping: the node is shutting down (a step-down is its handover).
  void watch_leader(const paxos::SoftState& previous, const paxos::SoftState& next, const Instant& now,
                    bool stopping);

  // ---- queries ----
  // The leader this node follows, or itself once it serves; kNoNode if none.
  paxos::NodeId effective_leader() const { return watch_.effective_leader; }
  // When the last Heartbeat or Accept from `node` arrived.
  std::optional<int64_t> leader_message_at_us(paxos::NodeId node) const;
  bool campaigning() const { return watch_.campaigning; }
  // What peers refused during the current (or last) candidacy.
  const std::string& refusals() const { return watch_.refusals; }
  // The last kElectionLogMax candidacies and leader changes, oldest first.
  const std::deque<http::ElectionRecord>& elections() const { return election_log_; }
  // The largest gap between two heartbeats of one leader and ballot since
  // the last reset; -1 if none.
  int64_t heartbeat_gap_max_us() const { return heartbeat_gap_max_us_; }
  void reset_heartbeat_gap_max() { heartbeat_gap_max_us_ = -1; }

 private:
  void note_reject(paxos::NodeId from, const paxos::Reject& reject, int64_t now_us);
  void note_refusal(const std::string& what);
  std::string campaign_reason(const paxos::SoftState& previous, int64_t now_us,
                              std::optional<int64_t> last_leader_contact_us);
  std::string step_down_reason(const paxos::SoftState& next, bool stopping) const;
  void leader_found(paxos::NodeId leader, const paxos::SoftState& next, const Instant& now);
  void record_election(http::ElectionRecord record);

  const paxos::NodeId self_;
  NodeMetrics& metrics_;
  const bool recording_;
  const int64_t started_us_;
  LogSink log_;

  struct Watch {
    paxos::NodeId effective_leader = paxos::kNoNode;  // the leader followed, or this node once it serves
    bool without_leader = true;                       // since start
    int64_t lost_at_us = 0;                           // when the leaderless time began, as this node sees it
    paxos::NodeId lost_leader = paxos::kNoNode;       // kNoNode: none since start
    std::string loss_reason = "process start";
    bool saw_phase1 = false;                          // a Prepare since start: an election, not a discovery
    paxos::NodeId handover_from = paxos::kNoNode;     // a Nominate arrived from this leader
    // This node's own candidacy.
    bool campaigning = false;
    int64_t campaign_started_us = 0;
    paxos::NodeId campaign_leader_before = paxos::kNoNode;
    std::string campaign_reason;
    std::string refusals;  // what peers refused meanwhile, for the "lost" line; at most kRefusalsBytesMax
    paxos::NodeId nominated_by = paxos::kNoNode;
    int64_t led_since_us = 0;
  };
  Watch watch_;
  std::map<paxos::NodeId, int64_t> leader_message_at_us_;  // the last Heartbeat or Accept from each node
  std::deque<http::ElectionRecord> election_log_;          // at most kElectionLogMax

  // Heartbeat gaps: the last heartbeat received (from whom, at which ballot)
  // and the last round sent.
  paxos::NodeId heartbeat_from_ = paxos::kNoNode;
  paxos::Ballot heartbeat_ballot_;
  int64_t heartbeat_at_us_ = 0;
  paxos::Ballot heartbeat_sent_ballot_;
  uint64_t heartbeat_sent_seq_ = 0;
  int64_t heartbeat_sent_at_us_ = 0;
  int64_t heartbeat_gap_max_us_ = -1;  // since the last reset (the status page's open window)

  // Peer refusals are logged once per (peer, refused, reason) per
  // kRefusalLogIntervalUs; at most kRefusalLogsMax keys.
  struct RefusalLog {
    int64_t logged_at_us = 0;
    uint64_t suppressed = 0;
  };
  std::map<std::tuple<paxos::NodeId, uint8_t, uint8_t>, RefusalLog> refusal_logs_;
};

}  // namespace synod::server
