#include "server/node.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <span>
#include <tuple>
#include <unordered_map>
#include <variant>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http/api.h"
#include "http/node_api.h"
#include "http/observability.h"
#include "http/server.h"
#include "lockservice/session_keeper.h"
#include "lockservice/state_machine.h"
#include "paxos/codec.h"
#include "paxos/crc32c.h"
#include "paxos/replica.h"
#include "paxos/transport/peer_transport.h"
#include "persistence/lmdb_storage.h"
#include "server/log.h"
#include "server/memory.h"
#include "server/metrics.h"
#include "server/storage_thread.h"

namespace synod::server {

namespace asio = boost::asio;
using paxos::NodeId;
using paxos::Slot;

namespace {

constexpr int64_t kTickMs = 2;
// How long a proposal or read may wait for its answer before the client is
// told "unknown outcome".
constexpr int64_t kRequestMsMax = 10'000;
// How long a leader that hands over on SIGTERM waits to see the successor.
constexpr int64_t kHandoverMsMax = 1'000;
// Proposals that arrive between winning an election and serving wait here.
constexpr size_t kWaitingProposalsMax = 1 << 16;

int64_t steady_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

uint64_t hash_cluster_id(const std::string& name) {
  uint64_t hash = 1469598103934665603ULL;  // FNV-1a
  for (char c : name) hash = (hash ^ static_cast<uint8_t>(c)) * 1099511628211ULL;
  return hash;
}

struct ProposalKey {
  lockservice::ClientId client_id;
  uint64_t seq;
  bool operator==(const ProposalKey&) const = default;
};
struct ProposalKeyHash {
  size_t operator()(const ProposalKey& k) const { return std::hash<uint64_t>()(k.client_id * 31 + k.seq); }
};

int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

double seconds_between(int64_t from_us, int64_t to_us) { return static_cast<double>(to_us - from_us) / 1e6; }

// The wire tag of a lock-service command (its index in the Command variant,
// lockservice/command.h), so apply() can spot the rare commands it reports
// on without decoding every payload.
template <class T, class... Ts>
constexpr uint8_t tag_in(const std::variant<Ts...>*) {
  constexpr bool same[] = {std::is_same_v<T, Ts>...};
  for (uint8_t i = 0; i < sizeof...(Ts); ++i) {
    if (same[i]) return i;
  }
  return 0xff;
}
constexpr uint8_t kExpireSessionTag =
    tag_in<lockservice::ExpireSession>(static_cast<const lockservice::Command*>(nullptr));
constexpr uint8_t kForceReleaseTag = tag_in<lockservice::ForceRelease>(static_cast<const lockservice::Command*>(nullptr));
static_assert(kExpireSessionTag != 0xff && kForceReleaseTag != 0xff);

uint8_t command_tag(const std::string& payload) {
  if (payload.size() <= lockservice::kCommandHeaderBytes || payload[0] != lockservice::kCommandFormatVersion) return 0xff;
  return static_cast<uint8_t>(payload[lockservice::kCommandHeaderBytes]);
}

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

// The election-duration buckets: dense (25 ms) where failovers land with the
// default timings, scaled for slower configured timeouts.
metrics::Layout election_layout(const paxos::Timing& timing) {
  const double scale = std::max<double>(1.0, std::ceil(static_cast<double>(timing.election_timeout_max_ms) / 500.0));
  return metrics::Layout::seconds_dense(0.1 * scale, std::min(1.5 * scale, 9.0), 0.025 * scale);
}

// The heartbeat-gap buckets: 1 ms apart from 10 ms below the configured
// interval to 30 ms above it, where jitter shows.
metrics::Layout heartbeat_layout(int64_t heartbeat_ms) {
  const double configured = static_cast<double>(heartbeat_ms) / 1000.0;
  return metrics::Layout::seconds_dense(std::max(0.001, configured - 0.010), std::min(configured + 0.030, 9.0), 0.001);
}

// Every series the node exports (docs/observability.md). The first five
// names are pinned by DESIGN §7.
struct NodeMetrics {
  explicit NodeMetrics(const Config& config)
      : election_duration(registry
                              .histogram("synod_election_duration_seconds",
                                         "Seconds this node was without a leader: from its last contact with the "
                                         "previous leader (its start, for the first election) to a new leader "
                                         "known, or serving when the new leader is this node.",
                                         election_layout(config.timing))
                              .only()),
        commit_latency(registry
                           .histogram("synod_commit_latency_seconds",
                                      "Seconds from proposal to chosen, per command, on the leader.",
                                      metrics::Layout::seconds())
                           .only()),
        heartbeat_interval(registry
                               .histogram("synod_heartbeat_interval_seconds",
                                          "Seconds between consecutive heartbeats received from the same leader "
                                          "and ballot (followers).",
                                          heartbeat_layout(config.timing.heartbeat_ms))
                               .only()),
        quorum_health(registry
                          .gauge("synod_quorum_health_ratio",
                                 "On the leader, the fraction of voting members (itself included) heard from "
                                 "within the lease. Followers report 0, so max() over the nodes is the cluster's.")
                          .only()),
        leader_changes(registry
                           .counter("synod_leader_changes_total",
                                    "New leaders this node learned of after a time without one (each is one "
                                    "synod_election_duration_seconds observation).")
                           .only()),
        has_leader(registry
                       .gauge("synod_has_leader",
                              "1 if this node serves as leader, or heard from its leader within the election "
                              "timeout.")
                       .only()),
        role(registry.gauge("synod_role", "1 for this node's role (follower, candidate, leader), 0 for the others.",
                            {"role"}, 3)),
        ballot_round(registry.gauge("synod_ballot_round", "The round of the highest ballot this node promised or led.")
                         .only()),
        voting(registry.gauge("synod_voting", "0 while this node repairs after a lost or corrupt disk.").only()),
        lease_valid(registry.gauge("synod_lease_valid", "1 while this node leads with a valid lease.").only()),
        commit_index(registry.gauge("synod_commit_index", "Slots chosen and known here.").only()),
        applied_revision(registry.gauge("synod_applied_revision", "The revision of the last applied command.").only()),
        elections_started(registry
                              .counter("synod_elections_started_total",
                                       "Candidacies this node started (a pre-prepare probe after an election "
                                       "timeout, or a prepare after a nomination).")
                              .only()),
        elections_won(registry.counter("synod_elections_won_total", "Candidacies this node won.").only()),
        elections_lost(registry.counter("synod_elections_lost_total", "Candidacies this node lost or gave up.").only()),
        heartbeat_configured(registry
                                 .gauge("synod_heartbeat_interval_configured_seconds",
                                        "The configured heartbeat interval (--heartbeat-ms).")
                                 .only()),
        heartbeat_sent_interval(registry
                                    .histogram("synod_heartbeat_send_interval_seconds",
                                               "Seconds between consecutive heartbeat rounds this node sent as "
                                               "leader (the sender's side of the jitter).",
                                               heartbeat_layout(config.timing.heartbeat_ms))
                                    .only()),
        peer_up(registry.gauge("synod_peer_up", "1 while this node's link to the peer is up.", {"peer"})),
        peer_lag(registry.gauge("synod_peer_lag_slots",
                                "The leader's view: its commit index minus the peer's chosen-through. Only the "
                                "leader exports it.",
                                {"peer"})),
        peer_last_contact(registry.gauge("synod_peer_last_contact_seconds",
                                         "Seconds since the last message from the peer arrived.", {"peer"})),
        rejects_received(registry.counter("synod_paxos_rejects_received_total",
                                          "Refusals (Reject) this node received from peers, by what was refused "
                                          "and why.",
                                          {"refused", "reason"}, 16)),
        transport_refused(registry
                              .counter("synod_transport_inbound_refused_total",
                                       "Inbound peer connections refused (garbage, another cluster, unknown node, "
                                       "timeout, limit).")
                              .only()),
        proposals_pending(registry.gauge("synod_proposals_pending", "Client proposals waiting to be chosen here.")
                              .only()),
        http_duration(registry.histogram("synod_http_request_duration_seconds",
                                         "Seconds from an HTTP request's arrival at the handler to its response, "
                                         "by route pattern and status.",
                                         metrics::Layout::seconds_coarse(), {"route", "status"}, 128)),
        watchers(registry.gauge("synod_service_watchers", "Open watch, observe and session-event streams.").only()),
        sync_duration(registry
                          .histogram("synod_storage_sync_duration_seconds",
                                     "Seconds one group commit (one LMDB transaction and sync) took.",
                                     metrics::Layout::seconds())
                          .only()),
        sync_readies(registry
                         .histogram("synod_storage_sync_readies", "Readies one group commit wrote.",
                                    metrics::Layout::counts())
                         .only()),
        batch_commands(registry
                           .histogram("synod_batch_commands", "Commands per chosen slot (the leader's batching).",
                                      metrics::Layout::counts())
                           .only()),
        log_slots_since_snapshot(registry
                                     .gauge("synod_log_slots_since_snapshot",
                                            "Chosen slots stored above the latest snapshot (what a restart "
                                            "replays).")
                                     .only()),
        log_bytes_since_snapshot(registry
                                     .gauge("synod_log_bytes_since_snapshot",
                                            "Record bytes of the chosen slots above the latest snapshot.")
                                     .only()),
        snapshots(registry.counter("synod_snapshots_total", "Snapshots this node took and saved.").only()),
        snapshot_duration(registry
                              .histogram("synod_snapshot_duration_seconds",
                                         "Seconds to serialize, save and compact behind one snapshot.",
                                         metrics::Layout::seconds())
                              .only()),
        snapshot_bytes(registry.gauge("synod_snapshot_bytes", "Size of the latest snapshot this node took.").only()),
        snapshots_installed(registry
                                .counter("synod_snapshots_installed_total",
                                         "Snapshots fetched from a peer and installed (catch-up).")
                                .only()),
        corruption_events(registry
                              .counter("synod_corruption_events_total",
                                       "Checksum failures: a corrupt store at start, a damaged snapshot chunk or "
                                       "image from a peer.")
                              .only()),
        sessions(registry.gauge("synod_service_sessions", "Lock-service sessions.").only()),
        locks(registry.gauge("synod_service_locks", "Locks and semaphores held, waited for or in lock-delay.")
                  .only()),
        waiters(registry.gauge("synod_service_waiters", "Sessions queued for a lock or an election.").only()),
        keys(registry.gauge("synod_service_keys", "Keys in the key space.").only()),
        service_elections(registry.gauge("synod_service_elections", "Lock-service elections with a leader or candidates.")
                              .only()),
        session_expiries(registry
                             .counter("synod_session_expiries_total",
                                      "Sessions expired by the log (no keep-alive reached the leader in time).")
                             .only()),
        lock_delay_hits(registry
                            .counter("synod_lock_delay_hits_total",
                                     "Acquires refused because the lock was in lock-delay after an expiry.")
                            .only()),
        forced_releases(registry
                            .counter("synod_forced_releases_total", "Holders evicted by an administrator's release.")
                            .only()),
        metrics_enabled(registry
                            .gauge("synod_metrics_enabled",
                                   "1 if the hot-path metrics are recorded (--metrics), 0 if they are off.")
                            .only()),
        start_time(registry.gauge("process_start_time_seconds", "Start time of the process, in Unix seconds.").only()) {
    heartbeat_configured.set(static_cast<double>(config.timing.heartbeat_ms) / 1000.0);
    metrics_enabled.set(config.metrics ? 1 : 0);
    start_time.set(static_cast<double>(unix_ms()) / 1000.0);
    for (const char* name : {"follower", "candidate", "leader"}) role.with({name}).set(0);
    for (const auto& m : config.members) {
      if (m.id == config.id) continue;
      const std::string peer = std::to_string(m.id);
      peer_up.with({peer}).set(0);
      peer_last_contact.with({peer}).hide();
      peer_lag.with({peer}).hide();
    }
  }

  metrics::Registry registry;
  metrics::Histogram& election_duration;
  metrics::Histogram& commit_latency;
  metrics::Histogram& heartbeat_interval;
  metrics::Gauge& quorum_health;
  metrics::Counter& leader_changes;
  metrics::Gauge& has_leader;
  metrics::Family<metrics::Gauge>& role;
  metrics::Gauge& ballot_round;
  metrics::Gauge& voting;
  metrics::Gauge& lease_valid;
  metrics::Gauge& commit_index;
  metrics::Gauge& applied_revision;
  metrics::Counter& elections_started;
  metrics::Counter& elections_won;
  metrics::Counter& elections_lost;
  metrics::Gauge& heartbeat_configured;
  metrics::Histogram& heartbeat_sent_interval;
  metrics::Family<metrics::Gauge>& peer_up;
  metrics::Family<metrics::Gauge>& peer_lag;
  metrics::Family<metrics::Gauge>& peer_last_contact;
  metrics::Family<metrics::Counter>& rejects_received;
  metrics::Counter& transport_refused;
  metrics::Gauge& proposals_pending;
  metrics::Family<metrics::Histogram>& http_duration;
  metrics::Gauge& watchers;
  metrics::Histogram& sync_duration;
  metrics::Histogram& sync_readies;
  metrics::Histogram& batch_commands;
  metrics::Gauge& log_slots_since_snapshot;
  metrics::Gauge& log_bytes_since_snapshot;
  metrics::Counter& snapshots;
  metrics::Histogram& snapshot_duration;
  metrics::Gauge& snapshot_bytes;
  metrics::Counter& snapshots_installed;
  metrics::Counter& corruption_events;
  metrics::Gauge& sessions;
  metrics::Gauge& locks;
  metrics::Gauge& waiters;
  metrics::Gauge& keys;
  metrics::Gauge& service_elections;
  metrics::Counter& session_expiries;
  metrics::Counter& lock_delay_hits;
  metrics::Counter& forced_releases;
  metrics::Gauge& metrics_enabled;
  metrics::Gauge& start_time;
  MemoryGauges memory{registry};
};

// The store as the storage thread sees it: the node's LMDB store, with each
// group commit timed and the log's size above the snapshot published after
// it. The storage thread owns the store after start, so this is where both
// are read without a lock; the node's owner thread never calls it.
class MeteredStorage final : public persistence::Storage {
 public:
  MeteredStorage(persistence::Storage& inner, NodeMetrics& metrics, bool record)
      : inner_(inner), metrics_(metrics), record_(record) {}

  persistence::LoadResult load() override { return inner_.load(); }
  persistence::PersistResult persist(const paxos::PersistBatch& batch) override {
    if (!record_) return inner_.persist(batch);
    const int64_t started = steady_us();
    auto result = inner_.persist(batch);
    metrics_.sync_duration.observe(seconds_between(started, steady_us()));
    metrics_.sync_readies.observe(1);
    publish_log_size();
    return result;
  }
  persistence::PersistResult persist_group(std::span<const paxos::PersistBatch* const> batches) override {
    if (!record_) return inner_.persist_group(batches);
    const int64_t started = steady_us();
    auto result = inner_.persist_group(batches);
    metrics_.sync_duration.observe(seconds_between(started, steady_us()));
    metrics_.sync_readies.observe(static_cast<double>(batches.size()));
    publish_log_size();
    return result;
  }
  persistence::Status save_snapshot(const persistence::Snapshot& snapshot) override {
    auto status = inner_.save_snapshot(snapshot);
    publish_log_size();
    return status;
  }
  persistence::CompactResult compact(paxos::Slot through) override {
    auto result = inner_.compact(through);
    publish_log_size();
    return result;
  }
  persistence::ChunkResult read_snapshot_chunk(paxos::Slot slot, uint64_t offset, uint64_t length_max) override {
    return inner_.read_snapshot_chunk(slot, offset, length_max);
  }
  std::optional<persistence::SnapshotInfo> snapshot_info() const override { return inner_.snapshot_info(); }
  persistence::LogStats log_stats() const override { return inner_.log_stats(); }
  bool snapshot_due() const override { return inner_.snapshot_due(); }
  persistence::Status reset() override { return inner_.reset(); }

  void publish_log_size() {
    const auto stats = inner_.log_stats();
    metrics_.log_slots_since_snapshot.set(static_cast<double>(stats.slots_since_snapshot));
    metrics_.log_bytes_since_snapshot.set(static_cast<double>(stats.bytes_since_snapshot));
  }

 private:
  persistence::Storage& inner_;
  NodeMetrics& metrics_;
  const bool record_;
};

}  // namespace

struct Node::Impl final : http::NodeApi, http::ObservabilityApi {
  explicit Impl(Config c)
      : config(std::move(c)),
        log(config.log_format, Log::parse_level(config.log_level), config.id),
        tick_timer(io),
        signals(io, SIGTERM, SIGINT),
        boot_nonce(static_cast<uint64_t>(steady_us()) & 0xffffff),
        machine(config.service),
        keeper(lockservice::KeeperConfig{.drift_bound_percent = config.timing.drift_bound_percent}),
        metrics(config),
        recording(config.metrics),
        started_us(steady_us()),
        started_unix_ms(unix_ms()),
        commit_windows(metrics.commit_latency, 1),
        heartbeat_windows(metrics.heartbeat_interval, 1),
        heartbeat_sent_windows(metrics.heartbeat_sent_interval, 1) {
    watch.lost_at_us = started_us;
    window_end_us = started_us + kWindowMs * 1000;
  }

  // ---------------------------------------------------------------- state
  Config config;
  Log log;
  asio::io_context io;
  asio::steady_timer tick_timer;
  asio::signal_set signals;
  const uint64_t boot_nonce;
  std::atomic<uint64_t> client_counter{0};

  std::unique_ptr<persistence::LmdbStorage> storage;
  std::unique_ptr<StorageThread> storage_thread;
  std::unique_ptr<paxos::Replica> replica;
  std::unique_ptr<transport::PeerTransport> transport;
  lockservice::StateMachine machine;
  lockservice::SessionKeeper keeper;
  std::unique_ptr<http::Api> api;
  std::unique_ptr<http::Server> http_server;

  // owner thread only
  bool flush_posted = false;
  std::deque<uint64_t> persist_in_flight;  // ready ids at the storage thread, in order
  std::map<uint64_t, paxos::AfterSync> after_sync;
  Slot applied_slot = paxos::kNoSlot;
  paxos::SoftState soft;
  struct Waiter {
    std::function<void(http::Outcome)> done;
    int64_t deadline_us;
    int64_t proposed_us;  // for the commit latency
  };
  std::unordered_map<ProposalKey, std::vector<Waiter>, ProposalKeyHash> proposals;
  // Commands and keep-alives a follower forwarded to the leader over the
  // peer link, waiting for the leader's ForwardReply (see forward_*).
  struct Forwarded {
    NodeId to;
    std::function<void(http::Outcome)> proposed;           // set for a command
    std::function<void(http::KeepAliveOutcome)> renewed;   // set for a keep-alive
    int64_t deadline_us;
  };
  std::map<uint64_t, Forwarded> forwarded;
  uint64_t next_forward_id = 0;
  static constexpr size_t kForwardedMax = 1 << 16;
  struct WaitingProposal {
    lockservice::Command command;
    ProposalKey key;
    std::function<void(http::Outcome)> done;
  };
  std::deque<WaitingProposal> waiting_for_serving;
  uint64_t next_read_id = 0;
  struct PendingRead {
    std::function<void(const http::ReadContext&)> read;
    int64_t deadline_us;
  };
  std::map<uint64_t, PendingRead> reads;
  // Long-polls waiting for the applied revision to pass a mark.
  std::multimap<uint64_t, PendingRead> revision_waits;  // by the revision they wait to pass
  static constexpr size_t kRevisionWaitsMax = 1 << 16;
  bool snapshot_running = false;
  // Fetching a snapshot from a peer (Ready::snapshot_from), chunk by chunk.
  struct SnapshotFetch {
    bool active = false;
    NodeId from = paxos::kNoNode;
    Slot slot = paxos::kNoSlot;  // kNoSlot until the first chunk names it
    std::vector<NodeId> members;
    std::string bytes;
    uint64_t total_bytes = 0;
    uint32_t total_crc32c = 0;
    int64_t deadline_us = 0;
    int64_t started_us = 0;
  };
  SnapshotFetch fetch;
  bool start_repairing = false;
  bool stopping = false;
  int64_t stop_deadline_us = 0;
  int exit_code = 0;

  // any thread
  mutable std::mutex view_mutex;
  http::ClusterView view;

  // -------------------------------------------------------- observability
  // (docs/observability.md). The registry is updated from the owner thread,
  // the storage thread (MeteredStorage) and the HTTP thread (observe_http);
  // everything else in this section is the owner thread's.
  NodeMetrics metrics;
  const bool recording;  // config.metrics: take the hot-path measurements
  const int64_t started_us;
  const int64_t started_unix_ms;
  std::unique_ptr<MeteredStorage> metered_storage;
  std::atomic<int64_t> watchers_reported{-1};

  // Leadership as this node sees it: election durations and their logs.
  struct ElectionWatch {
    NodeId effective_leader = paxos::kNoNode;  // the leader followed, or this node once it serves
    bool without_leader = true;                // since start
    int64_t lost_at_us = 0;                    // when the leaderless time began, as this node sees it
    NodeId lost_leader = paxos::kNoNode;       // kNoNode: none since start
    std::string loss_reason = "process start";
    bool saw_phase1 = false;                   // a Prepare since start: an election, not a discovery
    NodeId handover_from = paxos::kNoNode;     // a Nominate arrived from this leader
    // This node's own candidacy.
    bool campaigning = false;
    int64_t campaign_started_us = 0;
    NodeId campaign_leader_before = paxos::kNoNode;
    std::string campaign_reason;
    std::string refusals;  // what peers refused meanwhile, for the "lost" line; bounded
    NodeId nominated_by = paxos::kNoNode;
    int64_t led_since_us = 0;
  };
  static constexpr size_t kRefusalsBytesMax = 400;
  ElectionWatch watch;
  std::map<NodeId, int64_t> leader_message_at_us;  // the last Heartbeat or Accept from each node
  static constexpr size_t kElectionLogMax = 50;
  std::deque<http::ElectionRecord> election_log;
  // Heartbeat gaps: the last heartbeat received (from whom, at which ballot)
  // and the last round sent.
  NodeId heartbeat_from = paxos::kNoNode;
  paxos::Ballot heartbeat_ballot;
  int64_t heartbeat_at_us = 0;
  paxos::Ballot heartbeat_sent_ballot;
  uint64_t heartbeat_sent_seq = 0;
  int64_t heartbeat_sent_at_us = 0;
  int64_t heartbeat_gap_max_us = -1;  // in the open window
  // The status page's history: one summary per window, 10 minutes of them.
  static constexpr int64_t kWindowMs = 10'000;
  static constexpr size_t kWindowsMax = 60;
  metrics::HistogramWindows commit_windows;
  metrics::HistogramWindows heartbeat_windows;
  metrics::HistogramWindows heartbeat_sent_windows;
  std::deque<http::LatencyWindow> windows;
  int64_t window_end_us = 0;
  // The status page's tables show this many rows at most.
  static constexpr size_t kStatusRowsMax = 100;
  // Peer refusals are logged once per (peer, refused, reason) per second.
  struct RefusalLog {
    int64_t logged_at_us = 0;
    uint64_t suppressed = 0;
  };
  std::map<std::tuple<NodeId, uint8_t, uint8_t>, RefusalLog> refusal_logs;
  static constexpr int64_t kRefusalLogIntervalUs = 1'000'000;
  static constexpr size_t kRefusalLogsMax = 256;
  uint64_t snapshot_slot = 0;
  int64_t repair_started_us = 0;
  std::string repair_reason;

  // What a command the node reports on (an expiry, a forced release) looked
  // like before it applied.
  struct Reported {
    uint8_t tag = 0xff;
    lockservice::Decoded decoded;
    std::optional<lockservice::SessionView> session;
    std::optional<lockservice::LockView> lock;
    std::optional<lockservice::ElectionView> election;
  };

  // ------------------------------------------------------------- opening
  std::string open();
  std::string open_storage();
  std::string open_transport();
  std::string open_http();

  // ----------------------------------------------------------- the loop
  void schedule_flush() {
    if (flush_posted) return;
    flush_posted = true;
    asio::post(io, [this] { flush(); });
  }
  void flush();
  void handle(paxos::Ready ready);
  void on_synced(persistence::PersistResult result, bool snapshot_due);
  void release_durable(const paxos::SyncReceipt& receipt);
  void apply(const std::vector<paxos::ChosenEntry>& entries);
  void grant_reads(const paxos::Ready& ready);
  void on_soft_state(const paxos::SoftState& next);
  void start_ticks();
  void on_tick();
  void expire_requests(int64_t now);
  void propose_now(lockservice::Command command, ProposalKey key, std::function<void(http::Outcome)> done);
  void maybe_snapshot();
  [[noreturn]] void serialize_in_child(const int fds[2]);
  void read_snapshot_image(std::shared_ptr<asio::posix::stream_descriptor> pipe, pid_t child, int64_t started,
                           int64_t fork_us, persistence::Snapshot snapshot);
  void save_snapshot(persistence::Snapshot snapshot, int64_t started, int64_t serialize_us, int64_t owner_us);
  void propose_waiting();
  void on_peer_message(paxos::Envelope envelope);
  bool forward_to_leader(paxos::ForwardRequest request, Forwarded pending);
  void on_forward_request(NodeId from, paxos::ForwardRequest request);
  void on_forward_reply(const paxos::ForwardReply& reply);
  void fail_forwarded(bool only_to_lost_leader);
  void serve_snapshot_chunk(NodeId to, const paxos::SnapshotRequest& request);
  void request_snapshot_chunk();
  void on_snapshot_chunk(NodeId from, paxos::SnapshotChunk chunk);
  void install_fetched_snapshot();
  void publish_view();
  http::ClusterView build_view(int64_t now);
  void begin_stop();
  void finish_stop();
  int64_t mono_ms() const { return steady_us() / 1000; }
  int64_t takeover_credit_ms() const {
    return config.timing.lease_ms * 100 / (100 + config.timing.drift_bound_percent);
  }

  // -------------------------------------------------------- observability
  void note_peer_message(const paxos::Envelope& envelope, int64_t now);
  void note_heartbeats_sent(const std::vector<paxos::Envelope>& messages);
  void note_reject(NodeId from, const paxos::Reject& reject, int64_t now);
  void note_refusal(const std::string& what);
  void watch_candidacy(const paxos::SoftState& previous, const paxos::SoftState& next, int64_t now);
  std::string campaign_reason(const paxos::SoftState& previous, int64_t now);
  void watch_leader(const paxos::SoftState& previous, const paxos::SoftState& next, int64_t now);
  std::string step_down_reason(const paxos::SoftState& next) const;
  void leader_found(NodeId leader, const paxos::SoftState& next, int64_t now);
  void record_election(http::ElectionRecord record);
  int64_t unix_at(int64_t steady) const { return unix_ms() - (steady_us() - steady) / 1000; }
  Reported look_before(const std::string& payload, uint8_t tag) const;
  void report_applied(const Reported& before, const lockservice::Result& result);
  void report_expiry(const Reported& before);
  void report_forced_release(const Reported& before);
  void close_windows(int64_t now);
  http::LatencyWindow window_summary(bool open, int64_t end_unix_ms) const;
  std::vector<http::PeerHealth> peer_health(int64_t now);
  bool has_leader(int64_t now) const;
  double quorum_health(int64_t now) const;
  http::MemoryUse refresh_gauges(int64_t now);  // returns what it published of memory
  http::MemoryUse memory_use() const;
  http::StatusSnapshot take_status();

  // ---------------------------------------------------- ObservabilityApi
  void observe_http(std::string_view route, int status, double seconds) override {
    if (!recording) return;
    char code[12];
    const auto written = std::to_chars(code, code + sizeof code, status);
    metrics.http_duration.with({route, std::string_view(code, static_cast<size_t>(written.ptr - code))}).observe(seconds);
  }
  void set_watchers(uint64_t open) override {
    metrics.watchers.set(static_cast<double>(open));
    watchers_reported.store(static_cast<int64_t>(open), std::memory_order_relaxed);
  }
  void metrics_text(std::function<void(std::string)> done) override {
    // The sampled gauges are the owner thread's state: refresh them there.
    asio::post(io, [this, done = std::move(done)] {
      refresh_gauges(steady_us());
      done(metrics.registry.render());
    });
  }
  void status(std::function<void(const http::StatusSnapshot&)> done) override {
    asio::post(io, [this, done = std::move(done)] { done(take_status()); });
  }

  // ------------------------------------------------------------ NodeApi
  http::ClusterView cluster() const override {
    std::lock_guard<std::mutex> lock(view_mutex);
    return view;
  }
  void propose(lockservice::Command command, lockservice::ClientId client_id, uint64_t seq,
               std::function<void(http::Outcome)> done) override {
    asio::post(io, [this, command = std::move(command), client_id, seq, done = std::move(done)]() mutable {
      propose_now(std::move(command), ProposalKey{client_id, seq}, std::move(done));
    });
  }
  void read(bool stale, std::function<void(const http::ReadContext&)> fn) override;
  void wait_for(uint64_t after_revision, int64_t timeout_ms, std::function<void(const http::ReadContext&)> fn) override;
  void wake_revision_waits();
  void keep_alive(lockservice::SessionId session, std::function<void(http::KeepAliveOutcome)> done) override;
  lockservice::ClientId new_client_id() override {
    // node id | boot nonce | counter: unique across nodes and restarts.
    return (static_cast<uint64_t>(config.id) << 56) | (boot_nonce << 32) | (++client_counter & 0xffffffff);
  }
};

// ---------------------------------------------------------------- opening

std::string Node::Impl::open() {
  if (auto error = open_storage(); !error.empty()) return error;
  if (auto error = open_transport(); !error.empty()) return error;
  return open_http();
}

std::string Node::Impl::open_storage() {
  persistence::LmdbOptions options;
  options.data_dir = config.data_dir;
  options.storage.node_id = config.id;
  options.storage.log_slots_max = config.snapshot_after_slots;
  options.unsafe_no_sync_for_benchmarks = config.unsafe_no_sync_for_benchmarks;
  auto opened = persistence::LmdbStorage::open(options);
  if (!opened.status.ok()) return "data directory " + config.data_dir + ": " + opened.status.message;
  storage = std::move(opened.storage);
  const auto load_started = steady_us();
  auto loaded = storage->load();
  repair_started_us = load_started;
  if (loaded.status.code == persistence::Code::corrupt) {
    // Never serve what failed its check, and never answer Prepare as if it
    // had promised nothing (DESIGN §3): wipe the store and repair from the
    // peers as a non-voter.
    metrics.corruption_events.inc();
    log.write(Level::error, "corruption_detected",
              {{"reason", loaded.status.message}, {"action", "repair"},
               {"duration_ms", (steady_us() - load_started) / 1000}});
    repair_reason = "corrupt store: " + loaded.status.message;
    if (auto reset = storage->reset(); !reset.ok()) return "data directory " + config.data_dir + ": " + reset.message;
    loaded = persistence::LoadResult{};
    start_repairing = true;
  } else if (loaded.status.code == persistence::Code::fresh) {
    // An empty directory: a brand-new cluster, or a member whose disk was
    // lost. The replica asks its peers which (paxos/replica.h: REPAIR).
    start_repairing = true;
    repair_reason = "empty data directory";
  } else if (!loaded.status.ok()) {
    log.write(Level::error, "storage_refused", {{"reason", loaded.status.message}});
    return "data directory " + config.data_dir + ": " + loaded.status.message;
  } else if (loaded.durable.promised == paxos::Ballot{}) {
    // No promise at all on disk: it never finished a repair (a finished one
    // leaves at least the promise (0, self)), and may have crashed in the
    // middle of one, having learned the log before it could vote. Repair
    // again; never vote as if it had promised nothing.
    start_repairing = true;
    repair_reason = "a repair that did not finish";
  }
  if (loaded.snapshot) {
    if (!machine.restore(loaded.snapshot->bytes)) {
      return "data directory " + config.data_dir + ": the snapshot at slot " +
             std::to_string(loaded.snapshot->slot) + " does not restore";
    }
    applied_slot = loaded.snapshot->slot;
  }
  snapshot_slot = loaded.durable.snapshot_slot;
  log.write(Level::info, "storage_loaded",
            {{"status", start_repairing ? "repairing" : "ok"},
             {"duration_ms", (steady_us() - load_started) / 1000},
             {"promised_round", loaded.durable.promised.round},
             {"snapshot_slot", loaded.durable.snapshot_slot},
             {"chosen_entries", static_cast<uint64_t>(loaded.durable.chosen.size())},
             {"votes", static_cast<uint64_t>(loaded.durable.accepted.size())}});
  const uint64_t seed = static_cast<uint64_t>(steady_us()) ^ (static_cast<uint64_t>(config.id) << 40);
  auto paxos_options = config.paxos_options(seed);
  paxos_options.start_repairing = start_repairing;
  replica = std::make_unique<paxos::Replica>(paxos_options, loaded.durable, steady_us());
  soft.voting = replica->voting();
  // Replay the chosen log above the snapshot now, so the node is ready when
  // it opens its ports.
  const auto replay_started = steady_us();
  while (replica->has_ready()) {
    auto ready = replica->take_ready();
    // A new replica has nothing to write or send yet, only the log to replay.
    SYNOD_ASSERT(ready.persist.empty() && ready.messages.empty() && ready.messages_after_sync.empty());
    apply(ready.apply);
    if (ready.soft_state) soft = *ready.soft_state;
  }
  log.write(Level::info, "recovered",
            {{"applied_slot", applied_slot},
             {"replay_ms", (steady_us() - replay_started) / 1000},
             {"total_ms", (steady_us() - load_started) / 1000}});
  return {};
}

std::string Node::Impl::open_transport() {
  transport::TransportOptions options;
  options.self = config.id;
  options.cluster_id = hash_cluster_id(config.cluster_id);
  options.config_digest = lockservice::config_digest(machine.config());
  for (const auto& m : config.members) {
    transport::PeerAddress address{m.peer.host, m.peer.port};
    if (m.id == config.id) address = transport::PeerAddress{config.peer_listen.host, config.peer_listen.port};
    options.members.push_back(transport::Member{m.id, address});
  }
  options.random_seed = static_cast<uint64_t>(steady_us());
  if (auto problem = transport::validate(options); !problem.empty()) return "peer transport: " + problem;
  transport = std::make_unique<transport::PeerTransport>(
      io, options,
      [this](paxos::Envelope envelope) { on_peer_message(std::move(envelope)); },
      [this](std::string_view level, std::string_view message) {
        log.write(level == "error" ? Level::error : level == "warn" ? Level::warn : Level::info, "peer",
                  {{"message", message}});
      });
  return transport->listen();
}

std::string Node::Impl::open_http() {
  // Decoding refuses what the lock service would refuse, at its configured
  // limits (a raised --value-bytes-max must reach the API too).
  http::ApiOptions api_options;
  const auto& service = config.service.limits;
  api_options.decode.key_bytes_max = service.key_bytes_max;
  api_options.decode.name_bytes_max = service.name_bytes_max;
  api_options.decode.value_bytes_max = service.value_bytes_max;
  api_options.decode.txn_ops_max = service.txn_ops_max;
  api_options.decode.txn_guards_max = service.txn_guards_max;
  api = std::make_unique<http::Api>(*this, api_options);
  http_server = std::make_unique<http::Server>(
      config.http_limits,
      [this](http::Request&& request, http::Responder respond) {
        // GET /, /metrics and /v1/status (http/observability.h); the rest is the client API.
        if (http::serve_observability(request, respond, *this)) return;
        api->handle(std::move(request), std::move(respond));
      },
      api->error_body(),
      [this](std::string_view level, std::string_view event, std::string_view detail) {
        log.write(level == "warn" ? Level::warn : Level::info, event, {{"detail", detail}});
      });
  return http_server->listen(config.client_listen.host, config.client_listen.port);
}

// ------------------------------------------------------------------ loop

void Node::Impl::flush() {
  flush_posted = false;
  while (replica->has_ready()) handle(replica->take_ready());
  propose_waiting();
  publish_view();
}

// Proposals that waited for the takeover to finish or for the lease go out
// once both hold.
void Node::Impl::propose_waiting() {
  if (waiting_for_serving.empty() || !keeper.leading() || !replica->lease_valid(steady_us())) return;
  auto waiting = std::move(waiting_for_serving);
  waiting_for_serving.clear();
  for (auto& w : waiting) propose_now(std::move(w.command), w.key, std::move(w.done));
  while (replica->has_ready()) handle(replica->take_ready());
}

void Node::Impl::handle(paxos::Ready ready) {
  // Every Ready with after-sync messages goes to storage, even with nothing
  // to write, so that its receipt, like every receipt, comes from storage.
  if (!ready.persist.empty() || !ready.messages_after_sync.empty()) {
    persist_in_flight.push_back(ready.id);
    if (!ready.messages_after_sync.empty()) after_sync.emplace(ready.id, std::move(ready.messages_after_sync));
    storage_thread->submit(std::move(ready.persist));
  }
  if (recording) note_heartbeats_sent(ready.messages);
  for (const auto& envelope : ready.messages) transport->send(envelope);
  apply(ready.apply);
  grant_reads(ready);
  if (!ready.apply.empty()) wake_revision_waits();
  for (const auto& command : ready.dropped) {
    auto it = proposals.find(ProposalKey{command.client_id, command.seq});
    if (it == proposals.end()) continue;
    for (auto& waiter : it->second) waiter.done(http::Outcome{http::Outcome::Kind::not_leader, replica->leader(), {}, 0});
    proposals.erase(it);
  }
  if (ready.soft_state) on_soft_state(*ready.soft_state);
  if (ready.snapshot_from != paxos::kNoNode && !fetch.active) {
    fetch = SnapshotFetch{};
    fetch.active = true;
    fetch.from = ready.snapshot_from;
    fetch.started_us = steady_us();
    log.write(Level::info, "snapshot_fetch", {{"from", ready.snapshot_from}, {"applied_slot", applied_slot}});
    request_snapshot_chunk();
  }
}

void Node::Impl::on_synced(persistence::PersistResult result, bool snapshot_due) {
  if (!result.status.ok()) {
    // The store refuses every write from now on (storage.h). Stop voting:
    // answering from memory what the disk does not hold would break Paxos.
    log.write(Level::error, "storage_failed", {{"reason", result.status.message}});
    exit_code = 1;
    begin_stop();
    return;
  }
  release_durable(*result.receipt);
  if (snapshot_due) maybe_snapshot();
  flush();
}

void Node::Impl::release_durable(const paxos::SyncReceipt& receipt) {
  while (!persist_in_flight.empty() && persist_in_flight.front() <= receipt.ready_id()) persist_in_flight.pop_front();
  while (!after_sync.empty() && after_sync.begin()->first <= receipt.ready_id()) {
    auto messages = std::move(after_sync.begin()->second).release(receipt);
    after_sync.erase(after_sync.begin());
    for (auto& envelope : messages) {
      if (envelope.to == config.id) {
        replica->step(envelope, steady_us());
      } else {
        transport->send(envelope);
      }
    }
  }
}

void Node::Impl::apply(const std::vector<paxos::ChosenEntry>& entries) {
  // One clock read per turn gives every command this node proposed its
  // commit latency: these entries were chosen in this turn.
  const bool timing = recording && !entries.empty() && !proposals.empty();
  const int64_t chosen_us = timing ? steady_us() : 0;
  for (const auto& entry : entries) {
    SYNOD_ASSERT(entry.slot == applied_slot + 1);
    applied_slot = entry.slot;
    const auto& commands = entry.value->commands;
    if (recording && !commands.empty()) metrics.batch_commands.observe(static_cast<double>(commands.size()));
    for (size_t i = 0; i < commands.size(); ++i) {
      const auto& command = commands[i];
      // Expiries and forced releases are rare and logged with what they
      // ended; every other command costs one tag compare here.
      const uint8_t tag = command_tag(command.payload);
      std::optional<Reported> before;
      if (tag == kExpireSessionTag || tag == kForceReleaseTag) before = look_before(command.payload, tag);
      auto result = machine.apply(lockservice::LogEntry{entry.slot, i, command.client_id, command.seq, command.payload});
      if (result.status == lockservice::Status::lock_delay) metrics.lock_delay_hits.inc();
      if (before) report_applied(*before, result);
      auto it = proposals.find(ProposalKey{command.client_id, command.seq});
      if (it == proposals.end()) continue;
      if (timing) metrics.commit_latency.observe(seconds_between(it->second.front().proposed_us, chosen_us));
      for (auto& waiter : it->second) {
        waiter.done(http::Outcome{http::Outcome::Kind::applied, config.id, result, machine.revision()});
      }
      proposals.erase(it);
    }
  }
}

void Node::Impl::grant_reads(const paxos::Ready& ready) {
  for (const auto& grant : ready.reads) {
    auto it = reads.find(grant.read_id);
    if (it == reads.end()) continue;
    SYNOD_ASSERT(applied_slot >= grant.index);
    it->second.read(http::ReadContext{true, config.id, machine.revision(), &machine});
    reads.erase(it);
  }
  for (uint64_t read_id : ready.reads_failed) {
    auto it = reads.find(read_id);
    if (it == reads.end()) continue;
    it->second.read(http::ReadContext{false, replica->leader(), machine.revision(), nullptr});
    reads.erase(it);
  }
}

void Node::Impl::on_soft_state(const paxos::SoftState& next) {
  const auto previous = soft;
  soft = next;
  const int64_t now = steady_us();
  watch_candidacy(previous, next, now);
  watch_leader(previous, next, now);
  if (!previous.voting && next.voting) {
    log.write(Level::info, "repair_complete",
              {{"ballot_round", next.ballot.round}, {"reason", repair_reason},
               {"duration_ms", (now - repair_started_us) / 1000}});
  }
  if (next.role == paxos::Role::leader && next.serving && !keeper.leading()) {
    // Everything chosen before is applied (this Ready's entries came first).
    // The credit is real time that provably passed since the last chosen
    // entry; only a leader that waited out its predecessor's lease has it.
    keeper.lead(machine, mono_ms(), next.lease_waited ? takeover_credit_ms() : 0);
    log.write(Level::info, "leading", {{"ballot_round", next.ballot.round}, {"applied_slot", applied_slot}});
    auto waiting = std::move(waiting_for_serving);
    waiting_for_serving.clear();
    for (auto& w : waiting) propose_now(std::move(w.command), w.key, std::move(w.done));
  }
  if (next.role != paxos::Role::leader && keeper.leading()) keeper.follow();  // watch_leader logged why
  if (next.role != paxos::Role::leader) {
    for (auto& w : waiting_for_serving) w.done(http::Outcome{http::Outcome::Kind::not_leader, next.leader, {}, 0});
    waiting_for_serving.clear();
  }
}

void Node::Impl::start_ticks() {
  tick_timer.expires_after(std::chrono::milliseconds(kTickMs));
  tick_timer.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    on_tick();
    start_ticks();
  });
}

void Node::Impl::on_tick() {
  const int64_t now = steady_us();
  replica->tick(now);
  if (keeper.leading() && !stopping && replica->lease_valid(now)) {
    for (auto& command : keeper.tick(machine, now / 1000)) {
      const auto payload = lockservice::encode(command, keeper.log_now_ms(machine, now / 1000));
      replica->propose(paxos::Command{0, 0, payload}, now);
    }
  }
  expire_requests(now);
  if (!forwarded.empty()) fail_forwarded(true);
  if (now >= window_end_us) close_windows(now);
  if (fetch.active && now >= fetch.deadline_us) request_snapshot_chunk();  // resume from what we hold
  if (stopping && (now >= stop_deadline_us || (soft.leader != config.id && soft.leader != paxos::kNoNode))) {
    finish_stop();
    return;
  }
  flush();
}

void Node::Impl::expire_requests(int64_t now) {
  for (auto it = proposals.begin(); it != proposals.end();) {
    auto& waiters = it->second;
    for (auto w = waiters.begin(); w != waiters.end();) {
      if (w->deadline_us > now) {
        ++w;
        continue;
      }
      w->done(http::Outcome{http::Outcome::Kind::timeout, soft.leader, {}, 0});
      w = waiters.erase(w);
    }
    it = waiters.empty() ? proposals.erase(it) : std::next(it);
  }
  for (auto it = reads.begin(); it != reads.end();) {
    if (it->second.deadline_us > now) {
      ++it;
      continue;
    }
    it->second.read(http::ReadContext{false, soft.leader, machine.revision(), nullptr});
    it = reads.erase(it);
  }
  for (auto it = revision_waits.begin(); it != revision_waits.end();) {
    if (it->second.deadline_us > now) {
      ++it;
      continue;
    }
    it->second.read(http::ReadContext{false, soft.leader, machine.revision(), &machine});
    it = revision_waits.erase(it);
  }
}

void Node::Impl::wake_revision_waits() {
  const uint64_t revision = machine.revision();
  while (!revision_waits.empty() && revision_waits.begin()->first < revision) {
    auto waiter = std::move(revision_waits.begin()->second);
    revision_waits.erase(revision_waits.begin());
    waiter.read(http::ReadContext{true, soft.leader, revision, &machine});
  }
}

void Node::Impl::wait_for(uint64_t after_revision, int64_t timeout_ms,
                          std::function<void(const http::ReadContext&)> fn) {
  asio::post(io, [this, after_revision, timeout_ms, fn = std::move(fn)]() mutable {
    if (machine.revision() > after_revision) {
      return fn(http::ReadContext{true, soft.leader, machine.revision(), &machine});
    }
    if (revision_waits.size() >= kRevisionWaitsMax) {
      return fn(http::ReadContext{false, soft.leader, machine.revision(), &machine});
    }
    revision_waits.emplace(after_revision, PendingRead{std::move(fn), steady_us() + timeout_ms * 1000});
  });
}

void Node::Impl::propose_now(lockservice::Command command, ProposalKey key, std::function<void(http::Outcome)> done) {
  if (stopping) return done(http::Outcome{http::Outcome::Kind::stopping, soft.leader, {}, 0});
  if (replica->role() != paxos::Role::leader) {
    // A follower hands the command to the leader it knows over the peer link;
    // the leader stamps its own time on it.
    paxos::ForwardRequest request{0, paxos::ForwardRequest::Kind::propose, key.client_id, key.seq,
                                  lockservice::encode(command, 0)};
    if (forward_to_leader(std::move(request), Forwarded{paxos::kNoNode, done, nullptr, 0})) return;
    return done(http::Outcome{http::Outcome::Kind::not_leader, replica->leader(), {}, 0});
  }
  if (!keeper.leading() || !replica->lease_valid(steady_us())) {
    // Elected, but the takeover slots are not all chosen yet, or no lease:
    // the log clock may only be read under a lease (a deposed leader that
    // does not know it yet has a clock that ran on without it).
    if (waiting_for_serving.size() >= kWaitingProposalsMax) {
      return done(http::Outcome{http::Outcome::Kind::busy, config.id, {}, 0});
    }
    waiting_for_serving.push_back(WaitingProposal{std::move(command), key, std::move(done)});
    return;
  }
  const int64_t now = steady_us();
  auto payload = lockservice::encode(command, keeper.log_now_ms(machine, now / 1000));
  auto existing = proposals.find(key);
  if (existing != proposals.end()) {
    // The same (client, seq) is already on its way: one answer for both.
    existing->second.push_back(Waiter{std::move(done), now + kRequestMsMax * 1000, now});
    return;
  }
  switch (replica->propose(paxos::Command{key.client_id, key.seq, std::move(payload)}, now)) {
    case paxos::Replica::ProposeStatus::queued:
      proposals[key].push_back(Waiter{std::move(done), now + kRequestMsMax * 1000, now});
      schedule_flush();
      return;
    case paxos::Replica::ProposeStatus::busy:
      return done(http::Outcome{http::Outcome::Kind::busy, config.id, {}, 0});
    case paxos::Replica::ProposeStatus::not_leader:
      return done(http::Outcome{http::Outcome::Kind::not_leader, replica->leader(), {}, 0});
  }
}

void Node::Impl::read(bool stale, std::function<void(const http::ReadContext&)> fn) {
  asio::post(io, [this, stale, fn = std::move(fn)]() mutable {
    if (stale) return fn(http::ReadContext{true, soft.leader, machine.revision(), &machine});
    const uint64_t read_id = ++next_read_id;
    const int64_t now = steady_us();
    switch (replica->read(read_id, now)) {
      case paxos::Replica::ReadStatus::queued:
        reads.emplace(read_id, PendingRead{std::move(fn), now + kRequestMsMax * 1000});
        flush();
        return;
      case paxos::Replica::ReadStatus::not_leader:
      case paxos::Replica::ReadStatus::busy:
        return fn(http::ReadContext{false, replica->leader(), machine.revision(), nullptr});
    }
  });
}

void Node::Impl::keep_alive(lockservice::SessionId session, std::function<void(http::KeepAliveOutcome)> done) {
  asio::post(io, [this, session, done = std::move(done)] {
    const int64_t now = steady_us();
    if (replica->role() != paxos::Role::leader && !stopping) {
      std::string payload;
      Writer(payload).varint(session);
      paxos::ForwardRequest request{0, paxos::ForwardRequest::Kind::keep_alive, 0, 0, std::move(payload)};
      if (forward_to_leader(std::move(request), Forwarded{paxos::kNoNode, nullptr, done, 0})) return;
    }
    if (!keeper.leading() || !replica->lease_valid(now)) {
      return done(http::KeepAliveOutcome{http::KeepAliveOutcome::Kind::not_leader, soft.leader, 0});
    }
    const auto answer = keeper.keep_alive(machine, session, now / 1000);
    if (answer.status != lockservice::Status::ok) {
      return done(http::KeepAliveOutcome{http::KeepAliveOutcome::Kind::expired, config.id, 0});
    }
    done(http::KeepAliveOutcome{http::KeepAliveOutcome::Kind::ok, config.id, answer.valid_for_ms});
  });
}

// SNAPSHOTS OFF THE OWNER THREAD. Serializing the state machine costs time in
// proportion to its size (about 0.4 s for 65 MB, docs/lockservice.md §10),
// and the owner loop is what sends heartbeats: serialized inline, a state of
// millions of keys stalled it for seconds and cost elections. So a forked
// child serializes the state as it was at the fork (the pages are shared
// copy-on-write) and writes it to a pipe, and the owner loop reads the pipe
// asynchronously, paying only for fork() itself. The child touches nothing
// but the state machine, malloc (glibc makes it safe across fork) and the
// pipe: it closes every other descriptor first, so it holds no socket or
// file of the parent's open, takes no lock, writes no log, runs at nice 19
// so that it never takes a core from a serving thread, and _exits. It
// writes the image's length before the image (read_snapshot_image says why),
// and a child that dies midway is a short read, never a truncated snapshot:
// the owner loop takes the image only with all its bytes, the end of the pipe
// and exit status 0. If fork fails, the owner thread serializes inline.
void Node::Impl::maybe_snapshot() {
  if (snapshot_running || applied_slot == paxos::kNoSlot) return;
  snapshot_running = true;
  persistence::Snapshot snapshot;
  snapshot.slot = applied_slot;
  for (const auto& m : config.members) snapshot.members.push_back(m.id);
  const auto started = steady_us();
  int fds[2] = {-1, -1};
  pid_t child = -1;
  if (::pipe2(fds, O_CLOEXEC) == 0) {
    child = ::fork();
    if (child == 0) serialize_in_child(fds);  // never returns
  }
  if (child < 0) {
    const int error = errno;
    for (const int fd : fds) {
      if (fd >= 0) ::close(fd);
    }
    log.write(Level::warn, "snapshot_fork_failed", {{"errno", static_cast<int64_t>(error)}});
    snapshot.bytes = machine.snapshot();
    return save_snapshot(std::move(snapshot), started, steady_us() - started, steady_us() - started);
  }
  const int64_t fork_us = steady_us() - started;
  ::close(fds[1]);
  read_snapshot_image(std::make_shared<asio::posix::stream_descriptor>(io, fds[0]), child, started, fork_us,
                      std::move(snapshot));
}

// The child sends the image's length first, then the image, so the owner
// loop allocates the image once at its exact size. Reading it into a buffer
// that grows by doubling left a trail of freed blocks of 64 KiB to 16 MiB
// behind every snapshot, and once glibc had raised its mmap threshold (it
// does after the first large block is freed) those holes stayed in the heap:
// a node's RSS rose by 26 MiB in one step after 25 minutes (issue 23).
void Node::Impl::read_snapshot_image(std::shared_ptr<asio::posix::stream_descriptor> pipe, pid_t child,
                                     int64_t started, int64_t fork_us, persistence::Snapshot snapshot) {
  auto length = std::make_shared<uint64_t>(0);
  auto image = std::make_shared<std::string>();
  auto finish = [this, pipe, image, child, snapshot = std::move(snapshot), started, fork_us](
                    const boost::system::error_code& ec) mutable {
    int status = 0;
    while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
    }
    if (ec || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      snapshot_running = false;
      log.write(Level::error, "snapshot",
                {{"slot", snapshot.slot},
                 {"status", "the serializing child failed: " +
                                (ec ? ec.message() : "exit status " + std::to_string(status))}});
      return;
    }
    snapshot.bytes = std::move(*image);
    save_snapshot(std::move(snapshot), started, steady_us() - started, fork_us);
  };
  asio::async_read(*pipe, asio::buffer(length.get(), sizeof *length),
                   [pipe, length, image, finish = std::move(finish)](const boost::system::error_code& ec,
                                                                     size_t) mutable {
                     if (ec) return finish(ec);
                     image->resize(*length);  // one allocation, at the exact size
                     asio::async_read(
                         *pipe, asio::buffer(image->data(), image->size()),
                         [pipe, finish = std::move(finish)](const boost::system::error_code& read_ec, size_t) mutable {
                           if (read_ec) return finish(read_ec);
                           // Then the end of the pipe, which the kernel signals once the child is
                           // gone, so that waitpid does not hold the owner loop while a nice-19
                           // child tears its copy of the address space down.
                           auto extra = std::make_shared<char>(0);
                           asio::async_read(*pipe, asio::buffer(extra.get(), 1),
                                            [pipe, extra, finish = std::move(finish)](
                                                const boost::system::error_code& end_ec, size_t) mutable {
                                              finish(end_ec == asio::error::eof
                                                         ? boost::system::error_code{}
                                                         : end_ec ? end_ec
                                                                  : make_error_code(asio::error::message_size));
                                            });
                         });
                   });
}

[[noreturn]] void Node::Impl::serialize_in_child(const int fds[2]) {
  const int out = fds[1];
  // The child competes for the same cores as the serving threads of this
  // process (and, on one machine, of the other nodes): it yields to them.
  [[maybe_unused]] const int niceness = ::nice(19);  // best effort: a failure only costs priority
  if (fds[0] < out) ::close(fds[0]);
  if (out > 3) ::close_range(3, static_cast<unsigned>(out - 1), 0);
  ::close_range(static_cast<unsigned>(out + 1), ~0U, 0);
  try {
    const std::string bytes = machine.snapshot();
    const uint64_t length = bytes.size();  // first, so the parent allocates the image once
    auto write_all = [out](const char* data, size_t size) {
      while (size > 0) {
        const ssize_t written = ::write(out, data, size);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) ::_exit(1);
        data += written;
        size -= static_cast<size_t>(written);
      }
    };
    write_all(reinterpret_cast<const char*>(&length), sizeof length);
    write_all(bytes.data(), bytes.size());
  } catch (...) {
    ::_exit(1);
  }
  ::_exit(0);
}

// serialize_us: from the start to the image in hand; owner_us: how long the
// owner thread was held (fork alone, or the whole inline serialization).
void Node::Impl::save_snapshot(persistence::Snapshot snapshot, int64_t started, int64_t serialize_us,
                               int64_t owner_us) {
  storage_thread->run_task([this, snapshot = std::move(snapshot), started, serialize_us,
                            owner_us](persistence::Storage& store) {
    const int64_t store_started = steady_us();
    auto status = store.save_snapshot(snapshot);
    uint64_t erased = 0;
    for (bool more = status.ok(); more;) {
      auto compacted = store.compact(snapshot.slot);
      erased += compacted.records_erased;
      more = compacted.status.ok() && compacted.more;
      if (!compacted.status.ok()) status = compacted.status;
    }
    const int64_t store_us = steady_us() - store_started;
    asio::post(io, [this, status, erased, slot = snapshot.slot, bytes = snapshot.bytes.size(), started, serialize_us,
                    owner_us, store_us] {
      snapshot_running = false;
      if (status.ok()) {
        // The work itself (serialize, save, compact), not its wait in the
        // storage queue behind group commits.
        metrics.snapshots.inc();
        metrics.snapshot_duration.observe(static_cast<double>(serialize_us + store_us) / 1e6);
        metrics.snapshot_bytes.set(static_cast<double>(bytes));
        snapshot_slot = slot;
      }
      log.write(status.ok() ? Level::info : Level::error, "snapshot",
                {{"slot", slot}, {"bytes", static_cast<uint64_t>(bytes)}, {"records_erased", erased},
                 {"duration_ms", (steady_us() - started) / 1000}, {"serialize_ms", serialize_us / 1000},
                 {"owner_thread_ms", owner_us / 1000}, {"store_ms", store_us / 1000}, {"status", status.message}});
    });
  });
}

// ------------------------------------------------------ snapshot transfer
//
// A replica that needs slots its peers compacted away (Ready::snapshot_from)
// fetches the peer's latest snapshot in chunks of at most 1 MiB, each checked
// against its CRC32C, resuming from the last offset it holds after a timeout.
// The whole image is checked against its CRC32C, restored into the state
// machine, saved to storage, and then handed to the replica.

void Node::Impl::on_peer_message(paxos::Envelope envelope) {
  if (const auto* request = std::get_if<paxos::SnapshotRequest>(&envelope.message)) {
    serve_snapshot_chunk(envelope.from, *request);
    return;
  }
  if (auto* chunk = std::get_if<paxos::SnapshotChunk>(&envelope.message)) {
    on_snapshot_chunk(envelope.from, std::move(*chunk));
    return;
  }
  if (auto* forward = std::get_if<paxos::ForwardRequest>(&envelope.message)) {
    on_forward_request(envelope.from, std::move(*forward));
    return;
  }
  if (const auto* reply = std::get_if<paxos::ForwardReply>(&envelope.message)) {
    on_forward_reply(*reply);
    return;
  }
  const int64_t now = steady_us();
  note_peer_message(envelope, now);
  replica->step(envelope, now);
  schedule_flush();
}

// ---------------------------------------------------------- forwarding
//
// A follower forwards a client's command or keep-alive to the leader over
// the peer link rather than as HTTP: the leader then parses no HTTP and no
// JSON, and the follower answers its client itself. If the leader changes
// or the answer does not come in time, the client is told the outcome is
// unknown (504: retry with the same Idempotency-Key).

bool Node::Impl::forward_to_leader(paxos::ForwardRequest request, Forwarded pending) {
  const NodeId leader = replica->leader();
  if (leader == paxos::kNoNode || leader == config.id || forwarded.size() >= kForwardedMax) return false;
  request.request_id = ++next_forward_id;
  pending.to = leader;
  pending.deadline_us = steady_us() + kRequestMsMax * 1000;
  if (!transport->send(paxos::Envelope{config.id, leader, request})) return false;
  forwarded.emplace(request.request_id, std::move(pending));
  return true;
}

void Node::Impl::on_forward_request(NodeId from, paxos::ForwardRequest request) {
  const uint64_t id = request.request_id;
  auto reply = [this, from, id](uint8_t outcome, NodeId leader, uint64_t revision, std::string payload) {
    transport->send(paxos::Envelope{config.id, from, paxos::ForwardReply{id, outcome, leader, revision, std::move(payload)}});
  };
  if (request.kind == paxos::ForwardRequest::Kind::keep_alive) {
    Reader in(request.payload);
    const lockservice::SessionId session = in.varint();
    if (!in.done()) return;  // a malformed forward from a peer: drop it
    // Answered locally (never forwarded again: no leader here means not_leader).
    keep_alive(session, [reply](http::KeepAliveOutcome outcome) {
      std::string payload;
      Writer w(payload);
      w.svarint(outcome.valid_for_ms);
      reply(static_cast<uint8_t>(outcome.kind), outcome.leader, 0, std::move(payload));
    });
    return;
  }
  auto decoded = lockservice::decode(request.payload);
  if (!decoded.ok) return;
  if (replica->role() != paxos::Role::leader) {
    return reply(static_cast<uint8_t>(http::Outcome::Kind::not_leader), replica->leader(), 0, {});
  }
  propose_now(std::move(decoded.command), ProposalKey{request.client_id, request.seq},
              [reply](http::Outcome outcome) {
                reply(static_cast<uint8_t>(outcome.kind), outcome.leader, outcome.revision,
                      outcome.kind == http::Outcome::Kind::applied ? lockservice::encode_result(outcome.result)
                                                                    : std::string());
              });
}

void Node::Impl::on_forward_reply(const paxos::ForwardReply& reply) {
  auto it = forwarded.find(reply.request_id);
  if (it == forwarded.end()) return;
  auto pending = std::move(it->second);
  forwarded.erase(it);
  if (pending.renewed) {
    Reader in(reply.payload);
    const int64_t valid_for_ms = in.svarint();
    const auto kind = reply.outcome <= static_cast<uint8_t>(http::KeepAliveOutcome::Kind::expired)
                          ? static_cast<http::KeepAliveOutcome::Kind>(reply.outcome)
                          : http::KeepAliveOutcome::Kind::not_leader;
    return pending.renewed(http::KeepAliveOutcome{kind, reply.leader, in.ok() ? valid_for_ms : 0});
  }
  http::Outcome outcome{http::Outcome::Kind::timeout, reply.leader, {}, reply.revision};
  if (reply.outcome <= static_cast<uint8_t>(http::Outcome::Kind::stopping)) {
    outcome.kind = static_cast<http::Outcome::Kind>(reply.outcome);
  }
  if (outcome.kind == http::Outcome::Kind::applied) {
    auto result = lockservice::decode_result(reply.payload);
    if (!result) outcome.kind = http::Outcome::Kind::timeout;  // unreadable: the outcome is unknown to us
    else outcome.result = std::move(*result);
  }
  pending.proposed(std::move(outcome));
}

// Forwards whose answer can no longer come (the leader changed, the node
// stops, or they timed out) end as "unknown outcome".
void Node::Impl::fail_forwarded(bool only_to_lost_leader) {
  const int64_t now = steady_us();
  for (auto it = forwarded.begin(); it != forwarded.end();) {
    const bool lost = it->second.to != replica->leader();
    if ((only_to_lost_leader && !lost && now < it->second.deadline_us)) {
      ++it;
      continue;
    }
    if (it->second.proposed) {
      it->second.proposed(http::Outcome{http::Outcome::Kind::timeout, replica->leader(), {}, 0});
    } else {
      it->second.renewed(http::KeepAliveOutcome{http::KeepAliveOutcome::Kind::not_leader, replica->leader(), 0});
    }
    it = forwarded.erase(it);
  }
}

void Node::Impl::serve_snapshot_chunk(NodeId to, const paxos::SnapshotRequest& request) {
  constexpr uint64_t kChunkBytesMax = 1 << 20;
  storage_thread->run_task([this, to, request](persistence::Storage& store) {
    paxos::SnapshotChunk reply;
    const auto info = store.snapshot_info();
    if (info) {
      // A request for a snapshot we no longer hold restarts at our latest.
      const bool same = request.slot == paxos::kNoSlot || request.slot == info->slot;
      auto read = store.read_snapshot_chunk(info->slot, same ? request.offset : 0, kChunkBytesMax);
      if (read.status.ok()) {
        reply = paxos::SnapshotChunk{read.chunk.slot,     info->members,         read.chunk.offset,
                                     std::move(read.chunk.bytes), read.chunk.crc32c, read.chunk.snapshot_bytes,
                                     read.chunk.snapshot_crc32c,  read.chunk.last};
      }
    }
    asio::post(io, [this, to, reply = std::move(reply)]() mutable {
      transport->send(paxos::Envelope{config.id, to, std::move(reply)});
    });
  });
}

void Node::Impl::request_snapshot_chunk() {
  fetch.deadline_us = steady_us() + 2'000'000;
  transport->send(paxos::Envelope{config.id, fetch.from, paxos::SnapshotRequest{fetch.slot, fetch.bytes.size()}});
}

void Node::Impl::on_snapshot_chunk(NodeId from, paxos::SnapshotChunk chunk) {
  if (!fetch.active || from != fetch.from) return;
  if (chunk.slot == paxos::kNoSlot) {
    // The peer has no snapshot (yet): let the replica ask again later.
    log.write(Level::warn, "snapshot_fetch_failed", {{"from", from}, {"reason", "the peer has no snapshot"}});
    fetch.active = false;
    return;
  }
  if (chunk.slot != fetch.slot) {
    // A newer snapshot than the one we were fetching: start it over.
    if (chunk.offset != 0) return;
    fetch.slot = chunk.slot;
    fetch.bytes.clear();
  }
  if (chunk.offset != fetch.bytes.size() || crc32c(chunk.bytes) != chunk.crc32c) {
    if (chunk.offset == fetch.bytes.size()) {
      metrics.corruption_events.inc();
      log.write(Level::warn, "snapshot_chunk_damaged",
                {{"from", from}, {"slot", chunk.slot}, {"offset", chunk.offset}, {"reason", "chunk checksum"}});
    }
    request_snapshot_chunk();  // a duplicate, a gap or a damaged chunk: ask for what we need
    return;
  }
  fetch.members = chunk.members;
  fetch.total_bytes = chunk.total_bytes;
  fetch.total_crc32c = chunk.total_crc32c;
  fetch.bytes += chunk.bytes;
  if (!chunk.last) {
    request_snapshot_chunk();
    return;
  }
  install_fetched_snapshot();
}

void Node::Impl::install_fetched_snapshot() {
  fetch.active = false;
  if (fetch.bytes.size() != fetch.total_bytes || crc32c(fetch.bytes) != fetch.total_crc32c) {
    metrics.corruption_events.inc();
    log.write(Level::error, "snapshot_fetch_failed",
              {{"from", fetch.from}, {"reason", "checksum of the whole image"},
               {"duration_ms", (steady_us() - fetch.started_us) / 1000}});
    return;
  }
  if (fetch.slot <= applied_slot) return;  // we caught up meanwhile
  lockservice::StateMachine restored(machine.config());
  if (!restored.restore(fetch.bytes)) {
    log.write(Level::error, "snapshot_fetch_failed", {{"from", fetch.from}, {"reason", "the image does not restore"}});
    return;
  }
  machine = std::move(restored);
  applied_slot = fetch.slot;
  persistence::Snapshot snapshot{fetch.slot, fetch.members, std::move(fetch.bytes)};
  // Saved before any later chosen entry: tasks and batches run in order.
  storage_thread->run_task([this, snapshot = std::move(snapshot)](persistence::Storage& store) {
    const auto status = store.save_snapshot(snapshot);
    if (!status.ok()) {
      asio::post(io, [this, status] {
        log.write(Level::error, "storage_failed", {{"reason", status.message}});
        exit_code = 1;
        begin_stop();
      });
    }
  });
  replica->install_snapshot(applied_slot, steady_us());
  metrics.snapshots_installed.inc();
  snapshot_slot = applied_slot;
  log.write(Level::info, "snapshot_installed",
            {{"slot", applied_slot}, {"from", fetch.from}, {"bytes", fetch.total_bytes},
             {"duration_ms", (steady_us() - fetch.started_us) / 1000}});
  wake_revision_waits();
  flush();
}

void Node::Impl::publish_view() {
  auto next = build_view(steady_us());
  std::lock_guard<std::mutex> lock(view_mutex);
  view = std::move(next);
}

http::ClusterView Node::Impl::build_view(int64_t now) {
  http::ClusterView next;
  next.self = config.id;
  next.role = replica->role() == paxos::Role::leader      ? http::Role::leader
              : replica->role() == paxos::Role::candidate ? http::Role::candidate
                                                          : http::Role::follower;
  next.leader = replica->leader();
  next.ballot_round = soft.ballot.round;
  next.ballot_node = soft.ballot.node;
  next.commit_index = replica->commit_index();
  next.applied_revision = machine.revision();
  next.leader_commit_index = replica->leader_commit_index();
  next.serving = replica->serving();
  next.voting = replica->voting();
  next.lease_valid = replica->lease_valid(now);
  if (auto contact = replica->last_leader_contact()) next.last_leader_contact_ms = (now - *contact) / 1000;
  next.sees_quorum = replica->role() == paxos::Role::leader
                         ? next.lease_valid
                         : next.last_leader_contact_ms >= 0 &&
                               next.last_leader_contact_ms <= config.timing.election_timeout_max_ms;
  const auto stats = transport->stats();
  for (const auto& m : config.members) {
    http::MemberView member;
    member.id = m.id;
    member.peer_addr = m.peer.to_string();
    member.client_addr = m.client.to_string();
    member.self = m.id == config.id;
    member.connected = member.self;
    for (const auto& peer : stats.peers) {
      if (peer.node != m.id) continue;
      member.connected = peer.connected;
      if (peer.last_received.time_since_epoch().count() != 0) {
        member.last_contact_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now() - peer.last_received)
                                     .count();
      }
    }
    // Only a leader tracks every member's progress. A follower knows its own
    // and the leader's commit index as last heard; the rest stay 0, unknown.
    if (member.self) member.chosen_through = replica->commit_index();
    else if (replica->role() == paxos::Role::leader) member.chosen_through = replica->peer(m.id).chosen_through;
    else if (m.id == replica->leader()) member.chosen_through = replica->leader_commit_index();
    next.members.push_back(std::move(member));
  }
  return next;
}

// -------------------------------------------------------------- stopping

void Node::Impl::begin_stop() {
  if (stopping) return;
  stopping = true;
  stop_deadline_us = steady_us() + kHandoverMsMax * 1000;
  if (replica->role() == paxos::Role::leader) {
    // Hand over to the peer that is most caught up and most recently heard.
    NodeId successor = paxos::kNoNode;
    paxos::Replica::PeerProgress best;
    for (const auto& m : config.members) {
      if (m.id == config.id) continue;
      const auto progress = replica->peer(m.id);
      if (successor == paxos::kNoNode || progress.chosen_through > best.chosen_through ||
          (progress.chosen_through == best.chosen_through && progress.last_ack > best.last_ack)) {
        successor = m.id;
        best = progress;
      }
    }
    if (successor != paxos::kNoNode && replica->transfer_leadership(successor, steady_us())) {
      log.write(Level::info, "handing_over", {{"successor", successor}, {"successor_chosen_through", best.chosen_through},
                                              {"commit_index", replica->commit_index()}});
      flush();
      return;  // on_tick finishes once the successor leads or the deadline passes
    }
  }
  stop_deadline_us = 0;
}

void Node::Impl::finish_stop() {
  log.write(Level::info, "stopping", {{"leader", soft.leader}});
  fail_forwarded(false);
  for (auto& [key, waiters] : proposals) {
    for (auto& w : waiters) w.done(http::Outcome{http::Outcome::Kind::stopping, soft.leader, {}, 0});
  }
  proposals.clear();
  tick_timer.cancel();
  signals.cancel();
  http_server->stop();
  // In-flight syncs finish; their messages are not sent any more.
  storage_thread->drain_and_stop();
  transport->stop();
  io.stop();
}

// --------------------------------------------------------- observability
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

void Node::Impl::note_peer_message(const paxos::Envelope& envelope, int64_t now) {
  const auto& message = envelope.message;
  if (const auto* heartbeat = std::get_if<paxos::Heartbeat>(&message)) {
    leader_message_at_us[envelope.from] = now;
    if (recording && envelope.from == heartbeat_from && heartbeat->ballot == heartbeat_ballot) {
      const int64_t gap_us = now - heartbeat_at_us;
      metrics.heartbeat_interval.observe(static_cast<double>(gap_us) / 1e6);
      heartbeat_gap_max_us = std::max(heartbeat_gap_max_us, gap_us);
    }
    heartbeat_from = envelope.from;
    heartbeat_ballot = heartbeat->ballot;
    heartbeat_at_us = now;
  } else if (std::holds_alternative<paxos::Accept>(message)) {
    leader_message_at_us[envelope.from] = now;
  } else if (const auto* reject = std::get_if<paxos::Reject>(&message)) {
    note_reject(envelope.from, *reject, now);
  } else if (const auto* reply = std::get_if<paxos::ProbeReply>(&message)) {
    if (watch.campaigning && !reply->granted) {
      note_refusal("node " + std::to_string(envelope.from) + " still hears a leader (probe not granted)");
    }
  } else if (std::holds_alternative<paxos::Prepare>(message)) {
    watch.saw_phase1 = true;
  } else if (const auto* nominate = std::get_if<paxos::Nominate>(&message)) {
    watch.handover_from = envelope.from;
    if (nominate->successor == config.id) watch.nominated_by = envelope.from;
  }
}

void Node::Impl::note_heartbeats_sent(const std::vector<paxos::Envelope>& messages) {
  for (const auto& envelope : messages) {
    const auto* heartbeat = std::get_if<paxos::Heartbeat>(&envelope.message);
    if (heartbeat == nullptr || heartbeat->seq == heartbeat_sent_seq) continue;  // one per round
    const int64_t now = steady_us();
    if (heartbeat->seq == heartbeat_sent_seq + 1 && heartbeat->ballot == heartbeat_sent_ballot) {
      metrics.heartbeat_sent_interval.observe(seconds_between(heartbeat_sent_at_us, now));
    }
    heartbeat_sent_seq = heartbeat->seq;
    heartbeat_sent_ballot = heartbeat->ballot;
    heartbeat_sent_at_us = now;
  }
}

void Node::Impl::note_reject(NodeId from, const paxos::Reject& reject, int64_t now) {
  const char* refused = refused_name(reject.refused);
  const char* reason = reject_reason_name(reject.reason);
  metrics.rejects_received.with({refused, reason}).inc();
  if (watch.campaigning) {
    note_refusal("node " + std::to_string(from) + " refused our " + refused + " (" + reason + ")");
  }
  // A deposed leader can be refused once per Accept: one line per second
  // per kind is plenty, with the count of the ones not logged.
  const auto key = std::make_tuple(from, static_cast<uint8_t>(reject.refused), static_cast<uint8_t>(reject.reason));
  auto it = refusal_logs.find(key);
  if (it == refusal_logs.end()) {
    if (refusal_logs.size() >= kRefusalLogsMax) refusal_logs.clear();
    it = refusal_logs.emplace(key, RefusalLog{}).first;
  } else if (now - it->second.logged_at_us < kRefusalLogIntervalUs) {
    ++it->second.suppressed;
    return;
  }
  log.write(Level::info, "peer_refused",
            {{"peer", from}, {"refused", refused}, {"reason", reason}, {"our_ballot_round", reject.ballot.round},
             {"their_promised_round", reject.promised.round}, {"suppressed_since_last", it->second.suppressed}});
  it->second = RefusalLog{now, 0};
}

void Node::Impl::note_refusal(const std::string& what) {
  if (watch.refusals.size() + what.size() + 2 > kRefusalsBytesMax) return;
  if (watch.refusals.find(what) != std::string::npos) return;
  if (!watch.refusals.empty()) watch.refusals += "; ";
  watch.refusals += what;
}

std::string Node::Impl::campaign_reason(const paxos::SoftState& previous, int64_t now) {
  if (watch.nominated_by != paxos::kNoNode) {
    const NodeId by = std::exchange(watch.nominated_by, paxos::kNoNode);
    return "nominated by node " + std::to_string(by) + " (leadership transfer)";
  }
  const auto contact = replica->last_leader_contact();
  if (!contact) return "no leader heard since start, " + std::to_string((now - started_us) / 1000) + " ms ago";
  const std::string who = previous.leader != paxos::kNoNode ? "node " + std::to_string(previous.leader) : "a leader";
  return "nothing from " + who + " for " + std::to_string((now - *contact) / 1000) + " ms (election timeout)";
}

void Node::Impl::watch_candidacy(const paxos::SoftState& previous, const paxos::SoftState& next, int64_t now) {
  const bool was = previous.role == paxos::Role::candidate;
  const bool is = next.role == paxos::Role::candidate;
  if (!was && is) {
    watch.campaigning = true;
    watch.saw_phase1 = true;
    watch.campaign_started_us = now;
    watch.campaign_leader_before = previous.leader;
    watch.campaign_reason = campaign_reason(previous, now);
    watch.refusals.clear();
    metrics.elections_started.inc();
    log.write(Level::info, "election_started",
              {{"reason", watch.campaign_reason}, {"ballot_round", next.ballot.round},
               {"last_leader", previous.leader}});
    return;
  }
  if (!was || is) return;
  watch.campaigning = false;
  const bool won = next.role == paxos::Role::leader;
  const int64_t duration_us = now - watch.campaign_started_us;
  std::string reason;
  if (won) {
    metrics.elections_won.inc();
    reason = "a majority promised ballot " + std::to_string(next.ballot.round);
  } else {
    metrics.elections_lost.inc();
    if (next.leader != paxos::kNoNode && next.leader != config.id) {
      reason = "node " + std::to_string(next.leader) + " leads";
    } else if (!watch.refusals.empty()) {
      reason = "refused: " + watch.refusals;
    } else {
      reason = "no majority answered before the candidacy deadline";
    }
  }
  log.write(Level::info, won ? "election_won" : "election_lost",
            {{"reason", reason}, {"started_because", watch.campaign_reason}, {"ballot_round", next.ballot.round},
             {"duration_ms", duration_us / 1000}});
  http::ElectionRecord record;
  record.kind = "candidacy";
  record.outcome = won ? "won" : "lost";
  record.started_unix_ms = unix_at(watch.campaign_started_us);
  record.ended_unix_ms = unix_at(now);
  record.duration_ms = static_cast<double>(duration_us) / 1000.0;
  record.leader_before = watch.campaign_leader_before;
  record.leader_after = won ? config.id : next.leader;
  record.ballot_round = next.ballot.round;
  record.reason = watch.campaign_reason + "; " + reason;
  record_election(std::move(record));
}

std::string Node::Impl::step_down_reason(const paxos::SoftState& next) const {
  if (stopping) return "handing over before stopping";
  if (next.leader != paxos::kNoNode && next.leader != config.id) {
    return "node " + std::to_string(next.leader) + " leads at a higher ballot";
  }
  return "heard from no majority within the lease (check-quorum)";
}

void Node::Impl::watch_leader(const paxos::SoftState& previous, const paxos::SoftState& next, int64_t now) {
  const bool stepped_down = previous.role == paxos::Role::leader && next.role != paxos::Role::leader;
  if (stepped_down) {
    log.write(Level::info, "stepped_down",
              {{"ballot_round", next.ballot.round}, {"reason", step_down_reason(next)},
               {"led_ms", (now - watch.led_since_us) / 1000}});
  }
  if (next.role == paxos::Role::leader && previous.role != paxos::Role::leader) watch.led_since_us = now;
  // The leader this node follows, or itself once it serves.
  const NodeId effective = next.leader == config.id
                               ? (next.role == paxos::Role::leader && next.serving ? config.id : paxos::kNoNode)
                               : next.leader;
  if (effective == watch.effective_leader) return;
  const NodeId lost = watch.effective_leader;
  if (lost != paxos::kNoNode) {
    watch.lost_leader = lost;
    watch.without_leader = true;
    if (lost == config.id) {
      watch.lost_at_us = now;
      watch.loss_reason = "this node stopped leading: " + step_down_reason(next);
    } else {
      const auto contact = leader_message_at_us.find(lost);
      watch.lost_at_us = contact != leader_message_at_us.end() ? std::min(contact->second, now) : now;
      watch.loss_reason = watch.handover_from == lost
                              ? "node " + std::to_string(lost) + " handed leadership over"
                              : "last heard from node " + std::to_string(lost) + " " +
                                    std::to_string((now - watch.lost_at_us) / 1000) + " ms before";
    }
    watch.handover_from = paxos::kNoNode;
  }
  watch.effective_leader = effective;
  if (effective != paxos::kNoNode && watch.without_leader) leader_found(effective, next, now);
}

void Node::Impl::leader_found(NodeId leader, const paxos::SoftState& next, int64_t now) {
  watch.without_leader = false;
  if (watch.lost_leader == paxos::kNoNode && !watch.saw_phase1) {
    log.write(Level::info, "leader_discovered",
              {{"leader", leader}, {"ballot_round", next.ballot.round}, {"after_start_ms", (now - started_us) / 1000}});
    return;
  }
  const int64_t duration_us = now - watch.lost_at_us;
  metrics.election_duration.observe(static_cast<double>(duration_us) / 1e6);
  metrics.leader_changes.inc();
  log.write(Level::info, "leader_changed",
            {{"leader", leader}, {"previous_leader", watch.lost_leader}, {"ballot_round", next.ballot.round},
             {"ballot_node", next.ballot.node}, {"duration_ms", duration_us / 1000}, {"reason", watch.loss_reason}});
  http::ElectionRecord record;
  record.kind = "leader_change";
  record.outcome = "new_leader";
  record.started_unix_ms = unix_at(watch.lost_at_us);
  record.ended_unix_ms = unix_at(now);
  record.duration_ms = static_cast<double>(duration_us) / 1000.0;
  record.leader_before = watch.lost_leader;
  record.leader_after = leader;
  record.ballot_round = next.ballot.round;
  record.reason = watch.loss_reason;
  record_election(std::move(record));
}

void Node::Impl::record_election(http::ElectionRecord record) {
  election_log.push_back(std::move(record));
  while (election_log.size() > kElectionLogMax) election_log.pop_front();
}

// ----------------------------------------------- expiries, forced releases

Node::Impl::Reported Node::Impl::look_before(const std::string& payload, uint8_t tag) const {
  Reported before;
  before.tag = tag;
  before.decoded = lockservice::decode(payload);
  if (!before.decoded.ok) return before;
  if (const auto* expire = std::get_if<lockservice::ExpireSession>(&before.decoded.command)) {
    before.session = machine.session(expire->session);
  } else if (const auto* force = std::get_if<lockservice::ForceRelease>(&before.decoded.command)) {
    if (force->space == lockservice::Space::election) before.election = machine.election(force->name);
    else before.lock = machine.lock(force->name);
  }
  return before;
}

void Node::Impl::report_applied(const Reported& before, const lockservice::Result& result) {
  if (!before.decoded.ok || result.status != lockservice::Status::ok) return;
  if (before.tag == kExpireSessionTag) report_expiry(before);
  else report_forced_release(before);
}

void Node::Impl::report_expiry(const Reported& before) {
  if (!before.session) return;
  const auto& session = *before.session;
  metrics.session_expiries.inc();
  std::string locks;
  for (const auto& name : session.locks) locks += (locks.empty() ? "" : ",") + name;
  for (const auto& name : session.elections) locks += (locks.empty() ? "election:" : ",election:") + name;
  const int64_t log_now = machine.log_time_ms();
  // Every replica applies it; the leader, which proposed it, says so at info.
  log.write(keeper.leading() ? Level::info : Level::debug, "session_expired",
            {{"session", session.id}, {"reason", "no keep-alive reached the leader within the TTL"},
             {"ttl_ms", session.ttl_ms}, {"silent_ms", log_now - session.renewed_log_ms},
             {"overdue_ms", log_now - session.deadline_log_ms}, {"lived_ms", log_now - session.created_log_ms},
             {"released", locks}, {"lock_delay_ms", session.lock_delay_ms},
             {"ephemeral_keys", static_cast<uint64_t>(session.ephemeral_keys)},
             // How long after its stamp the expiry was applied: the lock-delay
             // runs from the stamp, so a slow commit eats into it.
             {"applied_after_ms", keeper.leading() ? keeper.log_now_ms(machine, steady_us() / 1000) - log_now : 0}});
}

void Node::Impl::report_forced_release(const Reported& before) {
  const auto& force = std::get<lockservice::ForceRelease>(before.decoded.command);
  const int64_t log_now = machine.log_time_ms();
  const Level level = keeper.leading() ? Level::info : Level::debug;
  if (before.election && before.election->leader != lockservice::kNoSession) {
    const auto after = machine.election(force.name);
    if (after && after->leader == before.election->leader) return;  // nothing was evicted
    metrics.forced_releases.inc();
    log.write(level, "forced_release",
              {{"space", "election"}, {"name", force.name}, {"session", before.election->leader},
               {"token", before.election->token}, {"reason", force.reason}});
    return;
  }
  if (!before.lock) return;
  const auto after = machine.lock(force.name);
  for (const auto& holder : before.lock->holders) {
    const bool kept = after && std::any_of(after->holders.begin(), after->holders.end(),
                                           [&](const auto& h) { return h.token == holder.token; });
    if (kept) continue;
    metrics.forced_releases.inc();
    log.write(level, "forced_release",
              {{"space", "lock"}, {"name", force.name}, {"session", holder.session}, {"token", holder.token},
               {"reason", force.reason}, {"held_ms", log_now - holder.granted_log_ms},
               {"lock_delay", !force.skip_lock_delay}});
  }
}

// --------------------------------------------------- windows and gauges

http::LatencyWindow Node::Impl::window_summary(bool open, int64_t end_unix_ms) const {
  const auto ms_or_none = [](double seconds) { return std::isnan(seconds) ? -1.0 : seconds * 1000.0; };
  const auto commit = open ? commit_windows.open(end_unix_ms) : commit_windows.closed().back();
  const auto received = open ? heartbeat_windows.open(end_unix_ms) : heartbeat_windows.closed().back();
  const auto sent = open ? heartbeat_sent_windows.open(end_unix_ms) : heartbeat_sent_windows.closed().back();
  http::LatencyWindow w;
  w.end_unix_ms = end_unix_ms;
  w.open = open;
  w.commits = commit.count;
  w.commit_p50_ms = ms_or_none(commit.p50);
  w.commit_p99_ms = ms_or_none(commit.p99);
  w.heartbeats_received = received.count;
  w.heartbeat_p50_ms = ms_or_none(received.p50);
  w.heartbeat_p99_ms = ms_or_none(received.p99);
  w.heartbeat_max_ms = heartbeat_gap_max_us < 0 ? -1.0 : static_cast<double>(heartbeat_gap_max_us) / 1000.0;
  w.heartbeats_sent = sent.count;
  w.heartbeat_sent_p99_ms = ms_or_none(sent.p99);
  return w;
}

void Node::Impl::close_windows(int64_t now) {
  const int64_t end_unix_ms = unix_at(now);
  commit_windows.close(end_unix_ms);
  heartbeat_windows.close(end_unix_ms);
  heartbeat_sent_windows.close(end_unix_ms);
  windows.push_back(window_summary(false, end_unix_ms));
  while (windows.size() > kWindowsMax) windows.pop_front();
  heartbeat_gap_max_us = -1;
  window_end_us += kWindowMs * 1000;
  if (window_end_us <= now) window_end_us = now + kWindowMs * 1000;  // the loop stalled: skip, don't catch up
}

std::vector<http::PeerHealth> Node::Impl::peer_health(int64_t now) {
  std::vector<http::PeerHealth> peers;
  const auto stats = transport->stats();
  const bool leading = replica->role() == paxos::Role::leader;
  const int64_t lease_us = config.timing.lease_ms * 1000;
  for (const auto& m : config.members) {
    http::PeerHealth peer;
    peer.id = m.id;
    peer.self = m.id == config.id;
    if (peer.self) {
      peer.up = peer.heard_within_lease = true;
      peer.last_contact_ms = 0;
      peer.lag_slots = leading ? 0 : -1;
      peers.push_back(peer);
      continue;
    }
    for (const auto& p : stats.peers) {
      if (p.node != m.id) continue;
      peer.up = p.connected;
      if (p.last_received.time_since_epoch().count() != 0) {
        peer.last_contact_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now() - p.last_received)
                                   .count();
      }
    }
    if (leading) {
      const auto progress = replica->peer(m.id);
      peer.heard_within_lease = progress.last_ack != 0 && now - progress.last_ack <= lease_us;
      peer.lag_slots = static_cast<int64_t>(replica->commit_index() - std::min(replica->commit_index(), progress.chosen_through));
    } else {
      peer.heard_within_lease = peer.last_contact_ms >= 0 && peer.last_contact_ms * 1000 <= lease_us;
    }
    peers.push_back(peer);
  }
  return peers;
}

bool Node::Impl::has_leader(int64_t now) const {
  if (watch.effective_leader == paxos::kNoNode) return false;
  if (watch.effective_leader == config.id) return true;
  const auto contact = leader_message_at_us.find(watch.effective_leader);
  return contact != leader_message_at_us.end() &&
         now - contact->second <= config.timing.election_timeout_max_ms * 1000;
}

double Node::Impl::quorum_health(int64_t now) const {
  // Only the leader hears from every member (followers hear the leader
  // alone), so only its view is the quorum's health; followers report 0.
  if (replica->role() != paxos::Role::leader || config.members.empty()) return 0;
  size_t heard = 0;
  for (const auto& m : config.members) {
    if (m.id == config.id) {
      ++heard;
      continue;
    }
    const auto progress = replica->peer(m.id);
    if (progress.last_ack != 0 && now - progress.last_ack <= config.timing.lease_ms * 1000) ++heard;
  }
  return static_cast<double>(heard) / static_cast<double>(config.members.size());
}

http::MemoryUse Node::Impl::refresh_gauges(int64_t now) {
  const auto role = replica->role();
  metrics.role.with({"follower"}).set(role == paxos::Role::follower ? 1 : 0);
  metrics.role.with({"candidate"}).set(role == paxos::Role::candidate ? 1 : 0);
  metrics.role.with({"leader"}).set(role == paxos::Role::leader ? 1 : 0);
  metrics.ballot_round.set(static_cast<double>(soft.ballot.round));
  metrics.voting.set(replica->voting() ? 1 : 0);
  metrics.lease_valid.set(replica->lease_valid(now) ? 1 : 0);
  metrics.commit_index.set(static_cast<double>(replica->commit_index()));
  metrics.applied_revision.set(static_cast<double>(machine.revision()));
  metrics.proposals_pending.set(static_cast<double>(proposals.size() + waiting_for_serving.size()));
  metrics.has_leader.set(has_leader(now) ? 1 : 0);
  metrics.quorum_health.set(quorum_health(now));
  for (const auto& peer : peer_health(now)) {
    if (peer.self) continue;
    const std::string id = std::to_string(peer.id);
    metrics.peer_up.with({id}).set(peer.up ? 1 : 0);
    auto& contact = metrics.peer_last_contact.with({id});
    if (peer.last_contact_ms >= 0) contact.set(static_cast<double>(peer.last_contact_ms) / 1000.0);
    else contact.hide();
    auto& lag = metrics.peer_lag.with({id});
    if (peer.lag_slots >= 0) lag.set(static_cast<double>(peer.lag_slots));
    else lag.hide();
  }
  metrics.transport_refused.raise_to(transport->stats().inbound_refused);
  const auto counts = machine.counts();
  metrics.sessions.set(static_cast<double>(counts.sessions));
  metrics.locks.set(static_cast<double>(counts.locks));
  metrics.waiters.set(static_cast<double>(counts.waiters));
  metrics.keys.set(static_cast<double>(counts.keys));
  metrics.service_elections.set(static_cast<double>(counts.elections));
  const http::MemoryUse memory = memory_use();  // mallinfo2 walks every arena: once per refresh
  metrics.memory.publish(memory);
  return memory;
}

http::MemoryUse Node::Impl::memory_use() const {
  http::MemoryUse use;
  read_heap(use);
  use.log_cache_slots = replica->retained_log_slots();
  use.log_cache_bytes = replica->retained_log_bytes();
  const auto counts = machine.counts();
  use.dedup_entries = counts.dedup_entries;
  use.watch_events = counts.events;
  use.watch_event_bytes = counts.event_bytes;
  use.store_bytes = counts.store_bytes;
  use.sessions = counts.sessions;
  use.lock_waiters = counts.waiters;
  use.proposals_waiting = proposals.size() + waiting_for_serving.size();
  use.forwards_waiting = forwarded.size();
  use.reads_waiting = reads.size() + revision_waits.size();
  return use;
}

http::StatusSnapshot Node::Impl::take_status() {
  const int64_t now = steady_us();
  const http::MemoryUse memory = refresh_gauges(now);
  http::StatusSnapshot s;
  s.cluster = build_view(now);
  s.peers = peer_health(now);
  s.has_leader = has_leader(now);
  s.quorum_health_ratio = quorum_health(now);
  s.now_unix_ms = unix_ms();
  s.started_unix_ms = started_unix_ms;
  s.heartbeat_ms = config.timing.heartbeat_ms;
  s.lease_ms = config.timing.lease_ms;
  s.election_timeout_min_ms = config.timing.election_timeout_min_ms;
  s.election_timeout_max_ms = config.timing.election_timeout_max_ms;
  s.metrics_enabled = recording;
  s.window_seconds = kWindowMs / 1000;
  s.windows.assign(windows.begin(), windows.end());
  s.windows.push_back(window_summary(true, s.now_unix_ms));
  s.elections.assign(election_log.begin(), election_log.end());
  s.elections_started = metrics.elections_started.value();
  s.leader_changes = metrics.leader_changes.value();
  s.counts = machine.counts();
  s.sessions = machine.sessions(lockservice::kNoSession, kStatusRowsMax);
  // Locks and service elections by name, from the sessions that hold them
  // (the state machine lists no locks on its own).
  std::vector<std::string> lock_names, election_names;
  for (const auto& session : s.sessions) {
    lock_names.insert(lock_names.end(), session.locks.begin(), session.locks.end());
    election_names.insert(election_names.end(), session.elections.begin(), session.elections.end());
  }
  for (auto* names : {&lock_names, &election_names}) {
    std::sort(names->begin(), names->end());
    names->erase(std::unique(names->begin(), names->end()), names->end());
    if (names->size() > kStatusRowsMax) names->resize(kStatusRowsMax);
  }
  for (const auto& name : lock_names) {
    if (auto lock = machine.lock(name)) s.locks.push_back(std::move(*lock));
  }
  for (const auto& name : election_names) {
    if (auto election = machine.election(name)) s.service_elections.push_back(std::move(*election));
  }
  s.tables_truncated = s.counts.sessions > s.sessions.size() || s.counts.locks > s.locks.size() ||
                       s.counts.elections > s.service_elections.size();
  s.watchers = watchers_reported.load(std::memory_order_relaxed);
  s.snapshot_slot = snapshot_slot;
  s.log_slots_since_snapshot = applied_slot > snapshot_slot ? applied_slot - snapshot_slot : 0;
  s.memory = memory;
  return s;
}

// ------------------------------------------------------------------- Node

Node::Node(Config config) : impl_(std::make_unique<Impl>(std::move(config))) {}
Node::~Node() = default;

std::string Node::open() { return impl_->open(); }

int Node::run() {
  auto& s = *impl_;
  s.metered_storage = std::make_unique<MeteredStorage>(*s.storage, s.metrics, s.recording);
  s.metered_storage->publish_log_size();  // before the storage thread owns the store
  s.storage_thread = std::make_unique<StorageThread>(
      *s.metered_storage,
      [&s](persistence::PersistResult result, size_t) {
        const bool due = result.status.ok() && s.storage->snapshot_due();
        asio::post(s.io, [&s, result = std::move(result), due]() mutable { s.on_synced(std::move(result), due); });
      },
      1024);
  s.signals.async_wait([&s](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    s.log.write(Level::info, "signal", {{"signal", signal}});
    s.begin_stop();
  });
  s.transport->start();
  s.http_server->start(1);
  s.log.write(Level::info, "started",
              {{"peer_addr", s.config.peer_listen.to_string()}, {"client_addr", s.config.client_listen.to_string()},
               {"members", static_cast<uint64_t>(s.config.members.size())}});
  s.start_ticks();
  s.flush();
  s.io.run();
  return s.exit_code;
}

}  // namespace synod::server
