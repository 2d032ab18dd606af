// NodeMetrics: every series the node exports (docs/observability.md), in one
// Registry; the first five names are pinned by DESIGN §7. MeteredStorage: the
// node's store as the storage thread sees it, timing each group commit.
//
// Threads: the Registry and its series may be updated from any thread
// (metrics.h). The owner thread updates most series; the storage thread
// updates the sync and log-size series through MeteredStorage; the HTTP thread
// updates the request durations and the watcher count.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "persistence/storage.h"
#include "server/config.h"
#include "server/memory.h"
#include "server/metrics.h"

namespace synod::server {

struct NodeMetrics {
  explicit NodeMetrics(const Config& config);

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
  metrics::Histogram& checkpoint_duration;
  metrics::Histogram& snapshot_step_duration;  // saving a snapshot in steps
  metrics::Histogram& compaction_step_duration;
  metrics::Histogram& sync_readies;
  metrics::Histogram& batch_commands;
  metrics::Gauge& log_slots_since_snapshot;
  metrics::Gauge& log_bytes_since_snapshot;
  metrics::Counter& snapshots;
  metrics::Histogram& snapshot_duration;
  metrics::Gauge& snapshot_bytes;
  metrics::Gauge& watch_history_bytes;
  metrics::Gauge& watch_history_compacted_revision;
  metrics::Counter& watch_history_restarts;
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
// are read without a lock; the node's owner thread never calls it (except
// publish_log_size, once, before the storage thread starts).
class MeteredStorage final : public persistence::Storage {
 public:
  // record: take the timings (--metrics); the log size is published always.
  MeteredStorage(persistence::Storage& inner, NodeMetrics& metrics, bool record)
      : inner_(inner), metrics_(metrics), record_(record) {}

  persistence::LoadResult load() override { return inner_.load(); }
  persistence::PersistResult persist(const paxos::PersistBatch& batch) override;
  persistence::PersistResult persist_group(std::span<const paxos::PersistBatch* const> batches) override;
  persistence::Status save_snapshot(const persistence::Snapshot& snapshot) override;
  persistence::SnapshotStep save_snapshot_step(const persistence::Snapshot& snapshot) override;
  persistence::CompactResult compact(paxos::Slot through) override;
  persistence::ChunkResult read_snapshot_chunk(paxos::Slot slot, uint64_t offset, uint64_t length_max) override {
    return inner_.read_snapshot_chunk(slot, offset, length_max);
  }
  std::optional<persistence::SnapshotInfo> snapshot_info() const override { return inner_.snapshot_info(); }
  persistence::LogStats log_stats() const override { return inner_.log_stats(); }
  bool snapshot_due() const override { return inner_.snapshot_due(); }
  bool checkpoint_due() const override { return inner_.checkpoint_due(); }
  persistence::Status checkpoint() override;
  persistence::Status reset() override { return inner_.reset(); }

  void publish_log_size();

 private:
  persistence::Storage& inner_;
  NodeMetrics& metrics_;
  const bool record_;
};

}  // namespace synod::server
