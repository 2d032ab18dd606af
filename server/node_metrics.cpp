#include "server/node_metrics.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "server/clock.h"

namespace synod::server {

namespace {

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

}  // namespace

NodeMetrics::NodeMetrics(const Config& config)
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
                                   "Seconds one group commit (one log frame and sync) took.",
                                   metrics::Layout::seconds())
                        .only()),
      checkpoint_duration(registry
                              .histogram("synod_storage_checkpoint_duration_seconds",
                                         "Seconds one checkpoint step (log frames into LMDB, one transaction) took.",
                                         metrics::Layout::seconds())
                              .only()),
      snapshot_step_duration(registry
                                 .histogram("synod_storage_snapshot_step_duration_seconds",
                                            "Seconds one step of saving a snapshot (its chunks, one transaction) held "
                                            "the storage thread.",
                                            metrics::Layout::seconds())
                                 .only()),
      compaction_step_duration(registry
                                   .histogram("synod_storage_compaction_step_duration_seconds",
                                              "Seconds one compaction step (records below the snapshot, one "
                                              "transaction) held the "
                                              "storage thread.",
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
      watch_history_bytes(registry
                              .gauge("synod_watch_history_bytes",
                                     "Bytes of the pages the watch history on disk uses (--history-bytes-max).")
                              .only()),
      watch_history_compacted_revision(registry
                                           .gauge("synod_watch_history_compacted_revision",
                                                  "Every event up to this revision is gone from the watch history: "
                                                  "a watch from an older index is answered compacted.")
                                           .only()),
      watch_history_restarts(registry
                                 .counter("synod_watch_history_restarts_total",
                                          "Times the watch history started again after a gap (a snapshot from a "
                                          "peer, a restart past what it kept, a damaged record).")
                                 .only()),
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
      locks(registry.gauge("synod_service_locks", "Locks and semaphores held, waited for or in lock-delay.").only()),
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
      forced_releases(registry.counter("synod_forced_releases_total", "Holders evicted by an administrator's release.")
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

persistence::PersistResult MeteredStorage::persist(const paxos::PersistBatch& batch) {
  if (!record_) return inner_.persist(batch);
  const int64_t started = steady_us();
  auto result = inner_.persist(batch);
  metrics_.sync_duration.observe(seconds_between(started, steady_us()));
  metrics_.sync_readies.observe(1);
  publish_log_size();
  return result;
}

persistence::PersistResult MeteredStorage::persist_group(std::span<const paxos::PersistBatch* const> batches) {
  if (!record_) return inner_.persist_group(batches);
  const int64_t started = steady_us();
  auto result = inner_.persist_group(batches);
  metrics_.sync_duration.observe(seconds_between(started, steady_us()));
  metrics_.sync_readies.observe(static_cast<double>(batches.size()));
  publish_log_size();
  return result;
}

persistence::Status MeteredStorage::checkpoint() {
  if (!record_) return inner_.checkpoint();
  const int64_t started = steady_us();
  auto status = inner_.checkpoint();
  metrics_.checkpoint_duration.observe(seconds_between(started, steady_us()));
  publish_log_size();
  return status;
}

persistence::Status MeteredStorage::save_snapshot(const persistence::Snapshot& snapshot) {
  const int64_t started = steady_us();
  auto status = inner_.save_snapshot(snapshot);
  if (record_) metrics_.snapshot_step_duration.observe(seconds_between(started, steady_us()));
  publish_log_size();
  return status;
}

persistence::SnapshotStep MeteredStorage::save_snapshot_step(const persistence::Snapshot& snapshot) {
  const int64_t started = steady_us();
  auto step = inner_.save_snapshot_step(snapshot);
  if (record_) metrics_.snapshot_step_duration.observe(seconds_between(started, steady_us()));
  if (!step.more) publish_log_size();
  return step;
}

persistence::CompactResult MeteredStorage::compact(paxos::Slot through) {
  const int64_t started = steady_us();
  auto result = inner_.compact(through);
  if (record_) metrics_.compaction_step_duration.observe(seconds_between(started, steady_us()));
  publish_log_size();
  return result;
}

void MeteredStorage::publish_log_size() {
  const auto stats = inner_.log_stats();
  metrics_.log_slots_since_snapshot.set(static_cast<double>(stats.slots_since_snapshot));
  metrics_.log_bytes_since_snapshot.set(static_cast<double>(stats.bytes_since_snapshot));
}

}  // namespace synod::server
