// StatusReport: what the node tells its operators about itself: the cluster
// view (/v1/cluster, /readyz), the sampled gauges of /metrics, and the status
// page's snapshot (/v1/status) with its 10 minutes of latency windows, peer
// health, election log, tables and memory use (docs/observability.md).
//
// It owns the latency windows and the watcher count; it reads the rest of the
// node from a NodeReading taken for each call, and the leadership history
// from the ElectionWatch.
//
// Owner thread, except set_watchers (the HTTP thread).
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <vector>

#include "http/node_api.h"
#include "http/observability.h"
#include "lockservice/state_machine.h"
#include "paxos/replica.h"
#include "transport/peer_transport.h"
#include "server/config.h"
#include "server/election_watch.h"
#include "server/node_metrics.h"

namespace synod::server {

// The node's parts as of one owner-thread turn.
struct NodeReading {
  const paxos::Replica& replica;
  const transport::PeerTransport& transport;
  const lockservice::StateMachine& machine;
  const paxos::SoftState& soft;
  size_t proposals_waiting;  // proposed and not chosen, or waiting for this leader to serve
  size_t forwards_waiting;   // forwarded to the leader, unanswered
  size_t reads_waiting;      // linearizable reads and long-polls
  paxos::Slot snapshot_slot;  // of the latest snapshot taken or installed
  paxos::Slot applied_slot;
};

class StatusReport {
 public:
  // recording: the hot-path metrics are on (--metrics).
  StatusReport(const Config& config, NodeMetrics& metrics, ElectionWatch& election, bool recording,
               int64_t started_us, int64_t started_unix_ms);

  http::ClusterView build_view(const NodeReading& node, int64_t now_us) const;
  // Refreshes the sampled gauges of /metrics; returns what it published of memory.
  http::MemoryUse refresh_gauges(const NodeReading& node, int64_t now_us);
  http::StatusSnapshot take_status(const NodeReading& node);

  // The latency windows close every kWindowMs, on a tick.
  bool window_due(int64_t now_us) const { return now_us >= window_end_us_; }
  void close_windows(int64_t now_us);

  void set_watchers(uint64_t open);  // any thread

 private:
  http::LatencyWindow window_summary(bool open, int64_t end_unix_ms) const;
  std::vector<http::PeerHealth> peer_health(const NodeReading& node, int64_t now_us) const;
  bool has_leader(int64_t now_us) const;
  double quorum_health(const NodeReading& node, int64_t now_us) const;
  http::MemoryUse memory_use(const NodeReading& node) const;

  const Config& config_;
  NodeMetrics& metrics_;
  ElectionWatch& election_;
  const bool recording_;
  const int64_t started_unix_ms_;
  std::atomic<int64_t> watchers_reported_{-1};

  // The status page's history: one summary per kWindowMs, kWindowsMax of them.
  metrics::HistogramWindows commit_windows_;
  metrics::HistogramWindows heartbeat_windows_;
  metrics::HistogramWindows heartbeat_sent_windows_;
  std::deque<http::LatencyWindow> windows_;
  int64_t window_end_us_ = 0;
};

}  // namespace synod::server
