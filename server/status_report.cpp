#include "server/status_report.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>

#include "server/clock.h"
#include "server/limits.h"
#include "server/memory.h"
#include "server/version.h"

namespace synod::server {

StatusReport::StatusReport(const Config& config, NodeMetrics& metrics, ElectionWatch& election, bool recording,
                           int64_t started_us, int64_t started_unix_ms)
    : config_(config),
      metrics_(metrics),
      election_(election),
      recording_(recording),
      started_unix_ms_(started_unix_ms),
      commit_windows_(metrics.commit_latency, kHistogramWindowsKept),
      heartbeat_windows_(metrics.heartbeat_interval, kHistogramWindowsKept),
      heartbeat_sent_windows_(metrics.heartbeat_sent_interval, kHistogramWindowsKept),
      window_end_us_(started_us + kWindowMs * 1000) {}

void StatusReport::set_watchers(uint64_t open) {
  metrics_.watchers.set(static_cast<double>(open));
  watchers_reported_.store(static_cast<int64_t>(open), std::memory_order_relaxed);
}

http::ClusterView StatusReport::build_view(const NodeReading& node, int64_t now) const {
  http::ClusterView next;
  next.self = config_.id;
  next.version = versions();
  next.role = node.replica.role() == paxos::Role::leader      ? http::Role::leader
              : node.replica.role() == paxos::Role::candidate ? http::Role::candidate
                                                              : http::Role::follower;
  next.leader = node.replica.leader();
  next.ballot_round = node.soft.ballot.round;
  next.ballot_node = node.soft.ballot.node;
  next.commit_index = node.replica.commit_index();
  next.applied_revision = node.machine.revision();
  next.leader_commit_index = node.replica.leader_commit_index();
  next.serving = node.replica.serving();
  next.voting = node.replica.voting();
  next.lease_valid = node.replica.lease_valid(now);
  if (auto contact = node.replica.last_leader_contact()) next.last_leader_contact_ms = (now - *contact) / 1000;
  next.sees_quorum = node.replica.role() == paxos::Role::leader
                         ? next.lease_valid
                         : next.last_leader_contact_ms >= 0 &&
                               next.last_leader_contact_ms <= config_.timing.election_timeout_max_ms;
  const auto stats = node.transport.stats();
  for (const auto& m : config_.members) {
    http::MemberView member;
    member.id = m.id;
    member.peer_addr = m.peer.to_string();
    member.client_addr = m.client.to_string();
    member.self = m.id == config_.id;
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
    if (member.self) member.chosen_through = node.replica.commit_index();
    else if (node.replica.role() == paxos::Role::leader) member.chosen_through = node.replica.peer(m.id).chosen_through;
    else if (m.id == node.replica.leader()) member.chosen_through = node.replica.leader_commit_index();
    next.members.push_back(std::move(member));
  }
  return next;
}

http::LatencyWindow StatusReport::window_summary(bool open, int64_t end_unix_ms) const {
  const auto ms_or_none = [](double seconds) { return std::isnan(seconds) ? -1.0 : seconds * 1000.0; };
  const auto commit = open ? commit_windows_.open(end_unix_ms) : commit_windows_.closed().back();
  const auto received = open ? heartbeat_windows_.open(end_unix_ms) : heartbeat_windows_.closed().back();
  const auto sent = open ? heartbeat_sent_windows_.open(end_unix_ms) : heartbeat_sent_windows_.closed().back();
  http::LatencyWindow w;
  w.end_unix_ms = end_unix_ms;
  w.open = open;
  w.commits = commit.count;
  w.commit_p50_ms = ms_or_none(commit.p50);
  w.commit_p99_ms = ms_or_none(commit.p99);
  w.heartbeats_received = received.count;
  w.heartbeat_p50_ms = ms_or_none(received.p50);
  w.heartbeat_p99_ms = ms_or_none(received.p99);
  w.heartbeat_max_ms = election_.heartbeat_gap_max_us() < 0 ? -1.0 : static_cast<double>(election_.heartbeat_gap_max_us()) / 1000.0;
  w.heartbeats_sent = sent.count;
  w.heartbeat_sent_p99_ms = ms_or_none(sent.p99);
  return w;
}

void StatusReport::close_windows(int64_t now) {
  const int64_t end_unix_ms = unix_ms() - (steady_us() - now) / 1000;
  commit_windows_.close(end_unix_ms);
  heartbeat_windows_.close(end_unix_ms);
  heartbeat_sent_windows_.close(end_unix_ms);
  windows_.push_back(window_summary(false, end_unix_ms));
  while (windows_.size() > kWindowsMax) windows_.pop_front();
  election_.reset_heartbeat_gap_max();
  window_end_us_ += kWindowMs * 1000;
  if (window_end_us_ <= now) window_end_us_ = now + kWindowMs * 1000;  // the loop stalled: skip, don't catch up
}

std::vector<http::PeerHealth> StatusReport::peer_health(const NodeReading& node, int64_t now) const {
  std::vector<http::PeerHealth> peers;
  const auto stats = node.transport.stats();
  const bool leading = node.replica.role() == paxos::Role::leader;
  const int64_t lease_us = config_.timing.lease_ms * 1000;
  for (const auto& m : config_.members) {
    http::PeerHealth peer;
    peer.id = m.id;
    peer.self = m.id == config_.id;
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
      const auto progress = node.replica.peer(m.id);
      peer.heard_within_lease = progress.last_ack != 0 && now - progress.last_ack <= lease_us;
      peer.lag_slots = static_cast<int64_t>(node.replica.commit_index() - std::min(node.replica.commit_index(), progress.chosen_through));
    } else {
      peer.heard_within_lease = peer.last_contact_ms >= 0 && peer.last_contact_ms * 1000 <= lease_us;
    }
    peers.push_back(peer);
  }
  return peers;
}

bool StatusReport::has_leader(int64_t now) const {
  const paxos::NodeId leader = election_.effective_leader();
  if (leader == paxos::kNoNode) return false;
  if (leader == config_.id) return true;
  const auto contact = election_.leader_message_at_us(leader);
  return contact && now - *contact <= config_.timing.election_timeout_max_ms * 1000;
}

double StatusReport::quorum_health(const NodeReading& node, int64_t now) const {
  // Only the leader hears from every member (followers hear the leader
  // alone), so only its view is the quorum's health; followers report 0.
  // The voters of the newest configuration: learners count in no quorum.
  const auto& voters = node.replica.configuration().voters;
  if (node.replica.role() != paxos::Role::leader || voters.empty()) return 0;
  size_t heard = 0;
  for (const paxos::NodeId id : voters) {
    if (id == config_.id) {
      ++heard;
      continue;
    }
    const auto progress = node.replica.peer(id);
    if (progress.last_ack != 0 && now - progress.last_ack <= config_.timing.lease_ms * 1000) ++heard;
  }
  return static_cast<double>(heard) / static_cast<double>(voters.size());
}

http::MemoryUse StatusReport::refresh_gauges(const NodeReading& node, int64_t now) {
  const auto role = node.replica.role();
  metrics_.role.with({"follower"}).set(role == paxos::Role::follower ? 1 : 0);
  metrics_.role.with({"candidate"}).set(role == paxos::Role::candidate ? 1 : 0);
  metrics_.role.with({"leader"}).set(role == paxos::Role::leader ? 1 : 0);
  metrics_.ballot_round.set(static_cast<double>(node.soft.ballot.round));
  metrics_.voting.set(node.replica.voting() ? 1 : 0);
  metrics_.lease_valid.set(node.replica.lease_valid(now) ? 1 : 0);
  metrics_.commit_index.set(static_cast<double>(node.replica.commit_index()));
  metrics_.applied_revision.set(static_cast<double>(node.machine.revision()));
  metrics_.proposals_pending.set(static_cast<double>(node.proposals_waiting));
  metrics_.has_leader.set(has_leader(now) ? 1 : 0);
  metrics_.quorum_health.set(quorum_health(node, now));
  for (const auto& peer : peer_health(node, now)) {
    if (peer.self) continue;
    const std::string id = std::to_string(peer.id);
    metrics_.peer_up.with({id}).set(peer.up ? 1 : 0);
    auto& contact = metrics_.peer_last_contact.with({id});
    if (peer.last_contact_ms >= 0) contact.set(static_cast<double>(peer.last_contact_ms) / 1000.0);
    else contact.hide();
    auto& lag = metrics_.peer_lag.with({id});
    if (peer.lag_slots >= 0) lag.set(static_cast<double>(peer.lag_slots));
    else lag.hide();
  }
  metrics_.transport_refused.raise_to(node.transport.stats().inbound_refused);
  const auto counts = node.machine.counts();
  metrics_.sessions.set(static_cast<double>(counts.sessions));
  metrics_.locks.set(static_cast<double>(counts.locks));
  metrics_.waiters.set(static_cast<double>(counts.waiters));
  metrics_.keys.set(static_cast<double>(counts.keys));
  metrics_.service_elections.set(static_cast<double>(counts.elections));
  const http::MemoryUse memory = memory_use(node);  // mallinfo2 walks every arena: once per refresh
  metrics_.memory.publish(memory);
  return memory;
}

http::MemoryUse StatusReport::memory_use(const NodeReading& node) const {
  http::MemoryUse use;
  read_heap(use);
  use.log_cache_slots = node.replica.retained_log_slots();
  use.log_cache_bytes = node.replica.retained_log_bytes();
  const auto counts = node.machine.counts();
  use.dedup_entries = counts.dedup_entries;
  use.watch_events = counts.events;
  use.watch_event_bytes = counts.event_bytes;
  use.store_bytes = counts.store_bytes;
  use.sessions = counts.sessions;
  use.lock_waiters = counts.waiters;
  use.proposals_waiting = node.proposals_waiting;
  use.forwards_waiting = node.forwards_waiting;
  use.reads_waiting = node.reads_waiting;
  return use;
}

http::StatusSnapshot StatusReport::take_status(const NodeReading& node) {
  const int64_t now = steady_us();
  const http::MemoryUse memory = refresh_gauges(node, now);
  http::StatusSnapshot s;
  s.cluster = build_view(node, now);
  s.peers = peer_health(node, now);
  s.has_leader = has_leader(now);
  s.quorum_health_ratio = quorum_health(node, now);
  s.now_unix_ms = unix_ms();
  s.started_unix_ms = started_unix_ms_;
  s.heartbeat_ms = config_.timing.heartbeat_ms;
  s.lease_ms = config_.timing.lease_ms;
  s.election_timeout_min_ms = config_.timing.election_timeout_min_ms;
  s.election_timeout_max_ms = config_.timing.election_timeout_max_ms;
  s.metrics_enabled = recording_;
  s.window_seconds = kWindowMs / 1000;
  s.windows.assign(windows_.begin(), windows_.end());
  s.windows.push_back(window_summary(true, s.now_unix_ms));
  s.elections.assign(election_.elections().begin(), election_.elections().end());
  s.elections_started = metrics_.elections_started.value();
  s.leader_changes = metrics_.leader_changes.value();
  s.counts = node.machine.counts();
  s.sessions = node.machine.sessions(lockservice::kNoSession, kStatusRowsMax);
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
    if (auto lock = node.machine.lock(name)) s.locks.push_back(std::move(*lock));
  }
  for (const auto& name : election_names) {
    if (auto election = node.machine.election(name)) s.service_elections.push_back(std::move(*election));
  }
  s.tables_truncated = s.counts.sessions > s.sessions.size() || s.counts.locks > s.locks.size() ||
                       s.counts.elections > s.service_elections.size();
  s.watchers = watchers_reported_.load(std::memory_order_relaxed);
  s.snapshot_slot = node.snapshot_slot;
  s.log_slots_since_snapshot = node.applied_slot > node.snapshot_slot ? node.applied_slot - node.snapshot_slot : 0;
  s.memory = memory;
  s.tls = config_.tls();
  if (!config_.tls() && config_.listens_off_loopback()) {
    s.warnings
        .push_back("insecure: this node serves clients or peers off loopback in plain text (--insecure-plaintext)");
  }
  return s;
}

}  // namespace synod::server
