// Observability over HTTP (issue #7): GET /metrics (Prometheus text),
// GET / (the status page: one self-contained HTML document, inline CSS and
// JS, no CDN, no fetch but this node's own /v1/status) and GET /v1/status
// (the JSON the page polls). docs/observability.md describes all three.
//
// The HTTP layer holds no consensus state (DESIGN §2): the node implements
// ObservabilityApi (server/node.cpp) and hands back a rendered exposition or
// a StatusSnapshot taken on its owner thread; this file only routes and
// renders. It also declares HttpObserver, what the HTTP layer calls to
// report each request's latency and the number of open watch streams.
//
// Threads: serve_observability runs on an HTTP thread and answers through
// the Responder from whichever thread the node calls back on. HttpObserver
// methods may be called from any thread and must be cheap.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "http/node_api.h"
#include "http/server.h"
#include "lockservice/auth.h"
#include "lockservice/state_machine.h"

namespace synod::http {

// What the HTTP layer reports. Implemented by the node (metrics), so the
// HTTP layer never sees the metrics registry.
class HttpObserver {
 public:
  virtual ~HttpObserver() = default;
  // One request answered. `route` is the route PATTERN the request matched
  // ("/v1/locks/{name}"), or "unmatched": never the raw path, which would
  // let clients create metric series at will (the metric side caps label
  // sets anyway, into an "overflow" series). `seconds` runs from when the
  // handler received the request to when the response was handed to the
  // server. Lock-free once the (route, status) pair has been seen.
  virtual void observe_http(std::string_view route, int status, double seconds) = 0;
  // The number of open watch, observe and session-event streams now.
  virtual void set_watchers(uint64_t open) = 0;
};

// One leader change or candidacy as this node saw it (newest last).
struct ElectionRecord {
  // "leader_change": this node was without a (serving) leader from
  // started_unix_ms (its last contact with the previous leader, or its
  // start) to ended_unix_ms (a new leader known; serving, if it is this
  // node). "candidacy": this node campaigned; outcome "won" or "lost".
  std::string kind;
  std::string outcome;  // leader_change: "new_leader"; candidacy: "won" or "lost"
  int64_t started_unix_ms = 0;
  int64_t ended_unix_ms = 0;
  double duration_ms = 0;
  uint32_t leader_before = 0;  // 0: none (the node's start)
  uint32_t leader_after = 0;   // 0: none (a lost candidacy with no leader known)
  uint64_t ballot_round = 0;
  std::string reason;
};

// What one window (window_seconds) of the node's histograms held. Values
// in milliseconds; negative when the window observed nothing.
struct LatencyWindow {
  int64_t end_unix_ms = 0;
  bool open = false;  // the current window, so far
  uint64_t commits = 0;
  double commit_p50_ms = -1, commit_p99_ms = -1;
  uint64_t heartbeats_received = 0;
  double heartbeat_p50_ms = -1, heartbeat_p99_ms = -1, heartbeat_max_ms = -1;  // gaps between received ones
  uint64_t heartbeats_sent = 0;
  double heartbeat_sent_p99_ms = -1;  // intervals between sent ones (the leader's side)
};

struct PeerHealth {
  uint32_t id = 0;
  bool self = false;
  bool up = false;                  // our link to it is up (self: true)
  bool heard_within_lease = false;  // a message from it arrived within the lease (self: true)
  int64_t last_contact_ms = -1;     // since its last message; -1: never
  int64_t lag_slots = -1;           // the leader's view: commit index - its chosen-through; -1 unknown
};

// What this node's memory holds (issue 23): the heap as the allocator sees
// it, and the size of every in-memory structure that can grow with load.
// server/memory.cpp fills it; /metrics and the status page show it.
struct MemoryUse {
  uint64_t heap_live_bytes = 0;     // allocated and not freed (mallinfo2 uordblks + hblkhd)
  uint64_t heap_free_bytes = 0;     // freed but kept by the allocator (fordblks)
  uint64_t log_cache_slots = 0;     // chosen values held for catch-up
  uint64_t log_cache_bytes = 0;
  uint64_t dedup_entries = 0;       // the exactly-once table
  uint64_t watch_events = 0;        // the watch window
  uint64_t watch_event_bytes = 0;
  uint64_t store_bytes = 0;         // key names and values
  uint64_t sessions = 0;
  uint64_t lock_waiters = 0;
  uint64_t proposals_waiting = 0;   // client requests waiting for their slot to be chosen
  uint64_t forwards_waiting = 0;    // requests forwarded to the leader, waiting for its reply
  uint64_t reads_waiting = 0;       // linearizable reads and long-polls waiting
};

struct StatusSnapshot {
  ClusterView cluster;
  std::vector<PeerHealth> peers;  // in member order
  bool has_leader = false;
  double quorum_health_ratio = 0;  // the leader's measure; 0 on followers (docs/observability.md)
  int64_t now_unix_ms = 0;
  int64_t started_unix_ms = 0;
  int64_t heartbeat_ms = 0, lease_ms = 0, election_timeout_min_ms = 0, election_timeout_max_ms = 0;
  bool metrics_enabled = true;
  int64_t window_seconds = 0;
  std::vector<LatencyWindow> windows;  // oldest first; the last one is open
  std::vector<ElectionRecord> elections;  // oldest first
  uint64_t elections_started = 0;
  uint64_t leader_changes = 0;
  // The lock service: counts, and the first rows of each table (bounded).
  lockservice::Counts counts;
  std::vector<lockservice::SessionView> sessions;
  std::vector<lockservice::LockView> locks;
  std::vector<lockservice::ElectionView> service_elections;
  bool tables_truncated = false;
  int64_t watchers = -1;  // open streams, as the HTTP layer last reported; -1: never reported
  // Storage.
  uint64_t snapshot_slot = 0;
  uint64_t log_slots_since_snapshot = 0;
  MemoryUse memory;
  // Security: whether the listeners speak TLS, and what an operator must
  // see at once (a listener off loopback in plain text).
  bool tls = false;
  std::vector<std::string> warnings;
};

// Why a status request is refused: 401 or 403, and a sentence.
struct StatusDenial {
  int status = 403;
  std::string code;
  std::string why;
};

class ObservabilityApi : public HttpObserver {
 public:
  // Calls `done` once, on any thread, with the Prometheus exposition.
  virtual void metrics_text(std::function<void(std::string)> done) = 0;
  // Calls `done` once, on any thread, with the node's status, or with a
  // refusal: with auth on, the status names sessions, locks, tokens and
  // election values, so it needs read on the cluster space (docs/security.md).
  virtual void status(lockservice::Credential credential,
                      std::function<void(const StatusSnapshot*, const StatusDenial*)> done) = 0;
};

// Answers GET /metrics, GET / and GET /v1/status (405 for another method on
// those paths) and returns true; returns false, leaving `respond` alone, for
// any other path.
bool serve_observability(const Request& request, Responder& respond, ObservabilityApi& node);

// The pieces, for tests and for whoever serves them elsewhere.
std::string status_json(const StatusSnapshot& status);
std::string_view status_page_html();
inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace synod::http
