// The event loop, the nodes and their disks, the network, the faults and the
// consensus checks (see simulation.h for the other files of a run).
#include <algorithm>
#include <cstdarg>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <sstream>

#include "sim/simulation.h"

namespace synod::sim {

// ------------------------------------------------------------------ FaultMix

FaultMix FaultMix::all() {
  FaultMix mix;
  mix.drop = mix.duplicate = mix.delay = mix.partition = mix.oneway = mix.isolate = mix.crash = mix.pause =
      mix.drift = mix.disk = true;
  return mix;
}

namespace {

struct FaultName {
  const char* name;
  bool FaultMix::*flag;
};

constexpr FaultName kFaultNames[] = {
    {"drop", &FaultMix::drop},           {"duplicate", &FaultMix::duplicate}, {"delay", &FaultMix::delay},
    {"partition", &FaultMix::partition}, {"oneway", &FaultMix::oneway},       {"isolate", &FaultMix::isolate},
    {"crash", &FaultMix::crash},         {"pause", &FaultMix::pause},         {"drift", &FaultMix::drift},
    {"disk", &FaultMix::disk},           {"member", &FaultMix::member},
};

}  // namespace

bool FaultMix::parse(const std::string& text, FaultMix& out, std::string& error) {
  if (text == "all") {
    out = all();
    return true;
  }
  out = none();
  if (text == "none") return true;
  std::stringstream stream(text);
  std::string name;
  while (std::getline(stream, name, ',')) {
    if (name == "reorder") name = "delay";  // uneven delays are what reorders
    if (name == "all") {
      const bool member = out.member;
      out = all();
      out.member = member;
      continue;
    }
    bool found = false;
    for (const auto& entry : kFaultNames) {
      if (name == entry.name) {
        out.*(entry.flag) = true;
        found = true;
      }
    }
    if (!found) {
      error = "unknown fault '" + name +
              "' (known: all, none, drop, duplicate, delay, reorder, partition, oneway, "
              "isolate, crash, pause, drift, disk, member)";
      return false;
    }
  }
  return true;
}

std::string FaultMix::to_string() const {
  std::string text;
  for (const auto& entry : kFaultNames) {
    if (this->*(entry.flag)) text += (text.empty() ? "" : ",") + std::string(entry.name);
  }
  return text.empty() ? "none" : text;
}

bool FaultMix::any() const { return to_string() != "none"; }

int mix_replicas(uint64_t seed) {
  static constexpr int kSizes[] = {3, 5, 7};
  return kSizes[seed % 3];
}

namespace detail {

// ------------------------------------------------------------ the sim's disk

void Disk::open(NodeId node) {
  persistence::StorageOptions options;
  options.node_id = node;
  // The simulator replays the whole log at every boot and never snapshots.
  options.log_slots_max = uint64_t{1} << 40;
  options.log_bytes_max = uint64_t{1} << 50;
  // A small ring and frequent checkpoints, so that runs wrap the ring and
  // crash between checkpoints.
  options.log_capacity_bytes = 1ULL << 20;
  options.checkpoint_bytes = 16ULL << 10;
  options.checkpoint_records_max = 64;
  store = std::make_unique<persistence::MemoryStorage>(options);
}

void Disk::write(const PersistBatch& batch) {
  const auto result = store->persist(batch);
  SYNOD_ASSERT_MSG(result.status.ok(), result.status.message.c_str());
  // One checkpoint step per write once due, as the server's storage thread does.
  if (store->checkpoint_due()) {
    const auto status = store->checkpoint();
    SYNOD_ASSERT_MSG(status.ok(), status.message.c_str());
  }
  for (const auto& vote : batch.accepted) durable_votes[{vote.slot, vote.ballot}] = vote.value;
}

// ------------------------------------------------------------------ set-up

Simulation::Simulation(const SimConfig& config, bool keep_history)
    : config_(config),
      keep_history_(keep_history),
      random_(config.seed * 0x9e3779b97f4a7c15ULL + 17),
      resource_(config.driver_mutants.resource_unfenced) {
  result_.seed = config.seed;
  result_.replicas = config.replicas;
  if (config.buggify) draw_timing_and_limits();
  // The lock service's drift bound is the cluster's (server/config.cpp).
  service_config_.drift_bound_percent = timing_.drift_bound_percent;
  keeper_config_.drift_bound_percent = timing_.drift_bound_percent;
}

// BUGGIFY: this run's timing and limits, each within its valid range
// (paxos::validate) and within what the checks assume: the drift bound stays
// the clients' (their clocks drift by less than 10%), the log is retained in
// full (the simulator never snapshots), and elections stay short enough for
// the liveness bound after the heal.
void Simulation::draw_timing_and_limits() {
  Random draw(config_.seed * 0x2545f4914f6cdd1dULL + 0xb0661f7);
  auto log_uniform = [&](size_t low, size_t high) {
    // As likely 1-10 as 1000-10000: small limits are where the edges are.
    const double x = std::log(static_cast<double>(low)) +
                     draw.unit() * (std::log(static_cast<double>(high)) - std::log(static_cast<double>(low)));
    return std::clamp(static_cast<size_t>(std::exp(x)), low, high);
  };
  timing_.heartbeat_ms = draw.uniform(10, 80);
  timing_.lease_ms = draw.uniform(std::max<int64_t>(timing_.heartbeat_ms * 2, 100), 500);
  timing_.election_timeout_min_ms = draw.uniform(timing_.lease_ms, timing_.lease_ms + 200);
  timing_.election_timeout_max_ms = timing_.election_timeout_min_ms + draw.uniform(20, 300);
  timing_.accept_retransmit_ms = draw.uniform(5, 60);
  timing_.catchup_retry_ms = draw.uniform(10, 120);
  limits_.pipeline_window_slots = log_uniform(1, 64);
  limits_.batch_commands_max = log_uniform(1, 4096);
  limits_.batch_bytes_max = log_uniform(4096, 1 << 20);
  limits_.pending_commands_max = log_uniform(1, 1 << 18);
  limits_.pending_reads_max = log_uniform(1, 1 << 16);
  limits_.catchup_entries_max = log_uniform(1, 512);
  limits_.catchup_bytes_max = log_uniform(4096, 4 << 20);
  limits_.retransmits_per_tick_max = log_uniform(1, 64);
  limits_.repair_query_ms = draw.uniform(20, 200);
  driver_limits_.request_ms_max = draw.uniform(200, 10'000);
  driver_limits_.waiting_proposals_max = log_uniform(1, 1 << 16);
  driver_limits_.revision_waits_max = log_uniform(1, 1 << 16);
  paxos::Options check;
  check.self = 1;
  check.members = {1};
  check.timing = timing_;
  check.limits = limits_;
  const std::string problem = paxos::validate(check);
  SYNOD_ASSERT_MSG(problem.empty(), problem.c_str());
  char text[512];
  std::snprintf(text, sizeof text,
                "heartbeat_ms=%ld lease_ms=%ld election_timeout_ms=%ld-%ld accept_retransmit_ms=%ld "
                "catchup_retry_ms=%ld pipeline_window_slots=%zu batch_commands_max=%zu batch_bytes_max=%zu "
                "pending_commands_max=%zu pending_reads_max=%zu catchup_entries_max=%zu catchup_bytes_max=%zu "
                "retransmits_per_tick_max=%zu repair_query_ms=%ld request_ms_max=%ld waiting_proposals_max=%zu "
                "revision_waits_max=%zu",
                static_cast<long>(timing_.heartbeat_ms), static_cast<long>(timing_.lease_ms),
                static_cast<long>(timing_.election_timeout_min_ms), static_cast<long>(timing_.election_timeout_max_ms),
                static_cast<long>(timing_.accept_retransmit_ms), static_cast<long>(timing_.catchup_retry_ms),
                limits_.pipeline_window_slots, limits_.batch_commands_max, limits_.batch_bytes_max,
                limits_.pending_commands_max, limits_.pending_reads_max, limits_.catchup_entries_max,
                limits_.catchup_bytes_max, limits_.retransmits_per_tick_max,
                static_cast<long>(limits_.repair_query_ms), static_cast<long>(driver_limits_.request_ms_max),
                driver_limits_.waiting_proposals_max, driver_limits_.revision_waits_max);
  result_.drawn = text;
}

void Simulation::trace(const char* format, ...) {
  if (!config_.trace) return;
  std::fprintf(stderr, "%10.3fms ", static_cast<double>(now_) / kMs);
  va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
  std::fputc('\n', stderr);
}

void Simulation::violation(const std::string& what) {
  if (result_.violations.size() < kViolationsMax) {
    result_.violations.push_back("t=" + std::to_string(now_ / kMs) + "ms " + what);
  }
  trace("VIOLATION %s", what.c_str());
}

Options Simulation::options_for(const Node& node) const {
  Options options;
  options.self = node.id;
  if (node.joined_as.voters.empty()) {
    for (size_t i = 0; i < static_cast<size_t>(config_.replicas); ++i) options.members.push_back(nodes_[i].id);
  } else {
    // A node that joined knows the configuration it was added to, as
    // synod --join learns it from a member.
    options.members = node.joined_as.voters;
    options.learners = node.joined_as.learners;
  }
  options.timing = timing_;
  options.limits = limits_;
  // With membership changes, leaders also promote caught-up learners on
  // their own when the voters are even in number.
  if (config_.faults.member) options.limits.auto_promote_within_slots = 64;
  options.random_seed = config_.seed * 1000003ULL + node.id * 7919ULL + node.incarnation;
  options.mutants = config_.mutants;
  return options;
}


void Simulation::boot(Node& node) {
  if (node.retired) return;  // removed from the cluster and stopped for good
  if (node.incarnation != 0) reconnect_links(node);
  node.up = true;
  node.paused = false;
  ++node.incarnation;
  node.unsynced.clear();
  node.inbox.clear();
  // Restored from nothing: the replica replays the durable chosen log.
  node.observer = make_observer(*this, node);
  node.driver = std::make_unique<server::Driver>(driver_options(), node.observer.get());
  node.result_digest = 0;
  // What the disk holds, checked as the server checks it: a store that
  // fails its checks is wiped and the replica repairs as a non-voter; an
  // empty one (a new cluster, or a lost disk) also starts by repairing.
  auto& store = *node.disk.store;
  store.crash(0);
  auto loaded = store.load();
  bool repairing = loaded.status.code == persistence::Code::fresh;
  if (loaded.status.code == persistence::Code::corrupt) {
    if (node.disk.damaged) ++result_.disk_corruptions_detected;
    // A torn tail or a crash is not corruption: calling it so would send
    // sound replicas (all of them, after a shared power loss) into repair.
    if (!node.disk.damaged) {
      violation("n" + std::to_string(node.id) +
                " found corruption on a disk with none injected: " + loaded.status.message);
    }
    trace("n%u finds its disk corrupt (%s) and repairs", node.id, loaded.status.message.c_str());
    SYNOD_ASSERT(store.reset().ok());
    loaded = persistence::LoadResult{};
    repairing = true;
  } else if (!loaded.status.usable()) {
    violation("n" + std::to_string(node.id) + "'s disk does not load: " + loaded.status.message);
  } else if (node.disk.damaged) {
    violation("n" + std::to_string(node.id) + " loaded a disk with an injected corruption as sound");
  }
  node.disk.damaged = false;
  node.disk.promised = loaded.durable.promised;
  // A disk with no promise at all never finished a repair: its replica may
  // have crashed in the middle of one (it learns the log before it votes),
  // so it repairs again rather than vote as if it had promised nothing
  // (seed 210). A finished repair leaves at least the promise (0, self).
  if (loaded.durable.promised == paxos::Ballot{}) repairing = true;
  if (config_.driver_mutants.damaged_disk_votes) repairing = false;
  auto options = options_for(node);
  options.start_repairing = repairing;
  node.driver->start(options, loaded.durable, local(node));
  trace("n%u boots (incarnation %lu)", node.id, static_cast<unsigned long>(node.incarnation));
  flush(node);
}

// A restarted process has no peer connections: each link to and from it
// comes back after its own reconnect delay (the transport's backoff), so for a
// while a restarted node hears some peers and not others.
void Simulation::reconnect_links(const Node& node) {
  const size_t self = index_of(node.id);
  for (size_t other = 0; other < nodes_.size(); ++other) {
    if (other == self) continue;
    for (auto [from, to] : {std::pair{self, other}, std::pair{other, self}}) {
      const int64_t delay = random_.uniform(0, 250 * kMs);
      if (delay < 5 * kMs) continue;
      const uint64_t id = ++next_fault_id_;
      cuts_.push_back(Cut{id, {{from, to}}});
      ++cut_count_[from][to];
      schedule(now_ + delay, EventKind::heal, 0, id);
    }
  }
}

void Simulation::crash(Node& node) {
  trace("n%u crashes, losing %zu unsynced batches", node.id, node.unsynced.size());
  // A write in flight may reach the disk in part: a torn log tail, which the
  // next load must cut without calling it corruption and without losing a
  // synced frame. Drawn from a stream of its own (seed, node, incarnation),
  // so that the main stream, and every seed's schedule, stay as they were.
  if (!node.unsynced.empty() && node.disk.store) {
    Random tail(config_.seed * 0x9e3779b97f4a7c15ULL ^ (uint64_t{node.id} << 32) ^ node.incarnation);
    if (tail.chance(1, 2)) {
      const auto bytes = static_cast<int64_t>(node.disk.store->tail_frame_bytes());
      node.disk.store->tear_tail(static_cast<size_t>(tail.uniform(1, bytes - 1)));
      ++result_.log_tails_torn;
      trace("n%u's write in flight reaches its log in part (a torn tail)", node.id);
    }
  }
  node.up = false;
  node.paused = false;
  // The process dies with its driver: waiting requests get no answer.
  node.driver.reset();
  node.unsynced.clear();
  node.inbox.clear();
  note_leaderless();
}

// -------------------------------------------------------------- node driving

void Simulation::on_sync_done(Node& node, uint64_t ready_id, uint64_t incarnation) {
  if (!node.up || node.incarnation != incarnation) return;  // the write died with the process
  auto it = node.unsynced.find(ready_id);
  SYNOD_ASSERT(it != node.unsynced.end() && it == node.unsynced.begin());
  PersistBatch& batch = it->second;
  if (batch.promised && *batch.promised < node.disk.promised) {
    violation("n" + std::to_string(node.id) + " wrote promise " + to_string(*batch.promised) + " below its promise " +
              to_string(node.disk.promised) + ": a promise went down");
    batch.promised.reset();
  }
  if (batch.promised) node.disk.promised = *batch.promised;
  node.disk.write(batch);
  node.unsynced.erase(it);
  if (node.paused) {
    node.inbox.push_back(SyncRelease{ready_id});
    return;
  }
  release(node, ready_id);
  flush(node);
}

// Hands the driver the receipt of a sync: syncs complete in order, so
// everything through `ready_id` is on disk.
void Simulation::release(Node& node, uint64_t ready_id) {
  for (const auto& envelope : node.driver->synced(paxos::SyncReceipt(ready_id), local(node))) send(envelope);
}

void Simulation::deliver(Node& node, const InboxItem& item) {
  if (const auto* envelope = std::get_if<Envelope>(&item)) {
    if (node.paused_inbox_replay) {
      trace("n%u <- n%u %s (queued while paused)", envelope->to, envelope->from, describe(envelope->message).c_str());
    }
    node.driver->step(*envelope, local(node));
  } else if (const auto* write = std::get_if<ClientWrite>(&item)) {
    const auto& client = clients_[write->client];
    if (client.state != Client::State::writing || client.seq != write->seq) return;  // gave up already
    propose_client_command(node, write->client);
  } else if (const auto* read = std::get_if<ClientRead>(&item)) {
    auto& client = clients_[read->client];
    if (client.state != Client::State::reading || client.read_id != read->read_id) return;
    trace("n%u <- client %lu read #%lu", node.id, static_cast<unsigned long>(client.id),
          static_cast<unsigned long>(read->read_id));
    read_client(node, read->client);
  } else if (const auto* keepalive = std::get_if<KeepAlive>(&item)) {
    answer_keepalive(node, *keepalive);
  } else if (const auto* release_item = std::get_if<SyncRelease>(&item)) {
    release(node, release_item->ready_id);
  }
  flush(node);
}

// ----------------------------------------------------------------- network

void Simulation::send(const Envelope& envelope) {
  const size_t from = index_of(envelope.from);
  const size_t to = index_of(envelope.to);
  if (cut_count_[from][to] > 0) return;
  double drop = 0, duplicate = 0;
  int64_t delay_max = 0;
  for (const auto& d : degradations_) {
    drop = std::max(drop, d.drop);
    duplicate = std::max(duplicate, d.duplicate);
    delay_max = std::max(delay_max, d.delay_us_max);
  }
  if (drop > 0 && random_.unit() < drop) return;
  auto shared = std::make_shared<const Envelope>(envelope);
  const int copies = (duplicate > 0 && random_.unit() < duplicate) ? 2 : 1;
  for (int i = 0; i < copies; ++i) {
    int64_t delay = random_.uniform(20, 200);
    if (delay_max > 0) delay += random_.uniform(0, delay_max);
    schedule(now_ + delay, EventKind::deliver, to, 0, 0, shared);
  }
}

// ------------------------------------------------------------------ faults

std::optional<size_t> Simulation::current_leader() const {
  std::optional<size_t> leader;
  Ballot best;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const auto& node = nodes_[i];
    if (!node.up || node.replica().role() != Role::leader) continue;
    if (!leader || node.replica().promised() > best) {
      leader = i;
      best = node.replica().promised();
    }
  }
  return leader;
}

void Simulation::plan_faults() {
  const int count = config_.fault_events_min + static_cast<int>(random_.uniform(0, 8));
  for (int i = 0; i < count; ++i) {
    schedule(random_.uniform(200 * kMs, config_.fault_phase_ms * kMs), EventKind::fault);
  }
}

void Simulation::inject_fault() {
  const auto& mix = config_.faults;
  std::vector<int> kinds;
  if (mix.drop) kinds.push_back(0);
  if (mix.duplicate) kinds.push_back(1);
  if (mix.delay) kinds.push_back(2);
  if (mix.partition) kinds.push_back(3);
  if (mix.oneway) kinds.push_back(4);
  if (mix.isolate) kinds.push_back(5);
  if (mix.crash) kinds.insert(kinds.end(), {6, 6});  // crashes twice as often
  if (mix.pause) kinds.push_back(7);
  if (mix.crash && (mix.partition || mix.oneway)) kinds.push_back(8);
  if (mix.crash) kinds.push_back(9);
  if (mix.disk) kinds.push_back(10);
  if (mix.member) kinds.insert(kinds.end(), {11, 11});
  if (kinds.empty()) return;
  const int kind = kinds[static_cast<size_t>(random_.uniform(0, static_cast<int64_t>(kinds.size()) - 1))];
  const uint64_t id = ++next_fault_id_;
  const int64_t duration = random_.chance(1, 2) ? random_.uniform(20 * kMs, 400 * kMs)
                                                : random_.uniform(400 * kMs, 2000 * kMs);
  if (kind == 11) {
    ++result_.faults;
    change_membership();
    return;
  }
  const size_t n = nodes_.size();
  auto pick = [&]() { return static_cast<size_t>(random_.uniform(0, static_cast<int64_t>(n) - 1)); };
  ++result_.faults;
  switch (kind) {
    case 0:
    case 1:
    case 2: {
      Degradation d{id};
      if (kind == 0) d.drop = 0.05 + random_.unit() * 0.35;
      if (kind == 1) d.duplicate = 0.05 + random_.unit() * 0.3;
      if (kind == 2) d.delay_us_max = random_.uniform(2 * kMs, 120 * kMs);
      trace("fault %lu: network drop %.2f duplicate %.2f delay<=%ldms for %ldms", static_cast<unsigned long>(id),
            d.drop, d.duplicate, static_cast<long>(d.delay_us_max / kMs), static_cast<long>(duration / kMs));
      degradations_.push_back(d);
      break;
    }
    case 3:
    case 4:
    case 5: {
      Cut cut{id, {}};
      if (kind == 3 && random_.chance(1, 2)) {
        // Split off a random minority (or, sometimes, just under half).
        std::vector<size_t> order(n);
        for (size_t i = 0; i < n; ++i) order[i] = i;
        for (size_t i = n - 1; i > 0; --i) std::swap(order[i], order[static_cast<size_t>(random_.uniform(0, static_cast<int64_t>(i)))]);
        const size_t side = static_cast<size_t>(random_.uniform(1, static_cast<int64_t>(n / 2)));
        for (size_t i = 0; i < side; ++i) {
          for (size_t j = side; j < n; ++j) {
            cut.links.push_back({order[i], order[j]});
            cut.links.push_back({order[j], order[i]});
          }
        }
        trace("fault %lu: partition of %zu nodes for %ldms", static_cast<unsigned long>(id), side,
              static_cast<long>(duration / kMs));
      } else if (kind == 3) {
        // A partial partition: some links cut and others not, so that
        // connectivity is not transitive (a bridge node, a ring).
        for (size_t i = 0; i < n; ++i) {
          for (size_t j = i + 1; j < n; ++j) {
            if (!random_.chance(1, 3)) continue;
            cut.links.push_back({i, j});
            cut.links.push_back({j, i});
          }
        }
        trace("fault %lu: %zu of %zu links cut for %ldms", static_cast<unsigned long>(id), cut.links.size() / 2,
              n * (n - 1) / 2, static_cast<long>(duration / kMs));
      } else if (kind == 4) {
        const size_t from = pick();
        size_t to = pick();
        if (to == from) to = (from + 1) % n;
        cut.links.push_back({from, to});
        trace("fault %lu: link n%zu->n%zu cut for %ldms", static_cast<unsigned long>(id), from + 1, to + 1,
              static_cast<long>(duration / kMs));
      } else {
        const size_t target = current_leader().value_or(pick());
        for (size_t j = 0; j < n; ++j) {
          if (j == target) continue;
          cut.links.push_back({target, j});
          cut.links.push_back({j, target});
        }
        trace("fault %lu: n%zu isolated for %ldms", static_cast<unsigned long>(id), target + 1,
              static_cast<long>(duration / kMs));
      }
      for (auto [from, to] : cut.links) ++cut_count_[from][to];
      cuts_.push_back(std::move(cut));
      break;
    }
    case 6: {
      // Prefer the leader a third of the time: that is where crashes hurt.
      size_t target = pick();
      if (random_.chance(1, 3)) target = current_leader().value_or(target);
      Node& node = nodes_[target];
      if (!node.up) break;
      // Short outages too: an acceptor back within a lease must still refuse Prepare.
      const int64_t down = random_.chance(1, 2) ? random_.uniform(1 * kMs, 150 * kMs) : duration;
      crash(node);
      schedule(now_ + down, EventKind::restart, target, node.incarnation);
      break;
    }
    case 7: {
      size_t target = pick();
      if (random_.chance(1, 2)) target = current_leader().value_or(target);
      Node& node = nodes_[target];
      if (!node.up || node.paused) break;
      node.paused = true;
      note_leaderless();
      trace("n%zu paused for %ldms", target + 1, static_cast<long>(duration / kMs));
      schedule(now_ + duration, EventKind::resume, target, node.incarnation);
      return;
    }
    case 8: {
      // The shape restart guards exist for: some followers stop hearing the
      // leader (one way) while the rest still do, and one of the rest, an
      // acceptor in the leader's lease quorum, restarts at once. If it
      // forgot that it had promised the leader a lease, the cut-off
      // followers could elect a second leader inside that lease.
      const auto leader = current_leader();
      if (!leader) break;
      std::vector<size_t> followers;
      for (size_t i = 0; i < n; ++i) {
        if (i != *leader && nodes_[i].up) followers.push_back(i);
      }
      if (followers.size() < n / 2 + 1) break;
      for (size_t i = followers.size() - 1; i > 0; --i) {
        std::swap(followers[i], followers[static_cast<size_t>(random_.uniform(0, static_cast<int64_t>(i)))]);
      }
      Cut cut{id, {}};
      for (size_t i = 0; i < n / 2; ++i) cut.links.push_back({*leader, followers[i]});
      for (auto [from, to] : cut.links) ++cut_count_[from][to];
      cuts_.push_back(std::move(cut));
      const size_t restarted = followers[n / 2];
      trace("fault %lu: n%zu no longer heard by %zu followers; n%zu restarts soon", static_cast<unsigned long>(id),
            *leader + 1, n / 2, restarted + 1);
      schedule(now_ + random_.uniform(150 * kMs, 350 * kMs), EventKind::fault_restart, restarted,
               static_cast<uint64_t>(random_.uniform(2 * kMs, 60 * kMs)));
      schedule(now_ + random_.uniform(500 * kMs, 1200 * kMs), EventKind::heal, 0, id);
      return;
    }
    case 9: {
      // A graceful restart, as synod does on SIGTERM: the leader hands over
      // to its most caught-up peer, stops soon after and comes back. The
      // successor wins without waiting out a lease, so its keeper starts
      // with no takeover credit.
      const auto leader = current_leader();
      if (!leader || nodes_[*leader].paused) break;
      Node& node = nodes_[*leader];
      const NodeId successor = node.driver->hand_over(local(node));
      if (successor == kNoNode) break;
      trace("fault %lu: n%u hands over to n%u and stops", static_cast<unsigned long>(id), node.id, successor);
      flush(node);
      schedule(now_ + random_.uniform(20 * kMs, 300 * kMs), EventKind::fault_restart, *leader,
               static_cast<uint64_t>(random_.uniform(1 * kMs, 400 * kMs)));
      return;
    }
    case 10: {
      // A disk fault on one replica at a time (all the others vote): it
      // crashes, and its disk comes back with a torn record, a flipped
      // bit, or not at all. The storage's checks must find every
      // corruption at the next start; the replica then repairs.
      const size_t target = pick();
      Node& node = nodes_[target];
      bool others_sound = true;
      for (const auto& other : nodes_) {
        if (&other != &node && !other.retired &&
            (!other.up || !other.replica().voting() || other.repairing_after_fault)) {
          others_sound = false;
        }
      }
      if (!node.up || !others_sound) break;
      crash(node);
      auto& store = *node.disk.store;
      const int64_t what = random_.uniform(0, 2);
      if (what == 2 || store.record_count() == 0) {
        store.lose_disk();
        ++result_.disks_lost;
        trace("fault %lu: n%zu loses its disk", static_cast<unsigned long>(id), target + 1);
      } else {
        const auto index = static_cast<size_t>(random_.uniform(0, static_cast<int64_t>(store.record_count()) - 1));
        const auto bytes = static_cast<int64_t>(store.record(index).value_bytes);
        if (what == 0 && bytes > 1) {
          store.tear_record(index, static_cast<size_t>(random_.uniform(0, bytes - 1)));
          trace("fault %lu: a record of n%zu's disk is torn", static_cast<unsigned long>(id), target + 1);
        } else {
          store.flip_bit(index, static_cast<uint64_t>(random_.uniform(0, 8 * bytes - 1)));
          trace("fault %lu: a bit flips on n%zu's disk", static_cast<unsigned long>(id), target + 1);
        }
        node.disk.damaged = true;
        ++result_.disk_corruptions;
      }
      node.repairing_after_fault = true;
      schedule(now_ + random_.uniform(10 * kMs, 300 * kMs), EventKind::restart, target, node.incarnation);
      break;
    }
    default:
      break;
  }
  if (kind <= 5) schedule(now_ + duration, EventKind::heal, 0, id);
}

void Simulation::heal(uint64_t fault_id) {
  degradations_.erase(std::remove_if(degradations_.begin(), degradations_.end(),
                                     [&](const Degradation& d) { return d.id == fault_id; }),
                      degradations_.end());
  for (auto it = cuts_.begin(); it != cuts_.end(); ++it) {
    if (it->id != fault_id) continue;
    for (auto [from, to] : it->links) --cut_count_[from][to];
    cuts_.erase(it);
    break;
  }
  trace("fault %lu healed", static_cast<unsigned long>(fault_id));
}

void Simulation::heal_all() {
  trace("heal everything");
  healed_ = true;
  heal_at_ = now_;
  degradations_.clear();
  cuts_.clear();
  for (auto& row : cut_count_) std::fill(row.begin(), row.end(), 0);
  for (auto& node : nodes_) {
    if (!node.up) {
      boot(node);
    } else if (node.paused) {
      schedule(now_, EventKind::resume, index_of(node.id), node.incarnation);
    }
  }
}

// ------------------------------------------------------------------ checks

void Simulation::record_vote(const Node& node, const paxos::Accepted& accepted) {
  auto it = node.disk.durable_votes.find({accepted.slot, accepted.ballot});
  if (it == node.disk.durable_votes.end()) {
    violation("n" + std::to_string(node.id) + " sent Accepted for slot " + std::to_string(accepted.slot) +
              " before its vote was durable");
    return;
  }
  auto& slot = votes_[accepted.slot];
  auto& [value, voters] = slot.by_ballot[accepted.ballot];
  if (!value) value = it->second;
  if (!same_value(value, it->second)) {
    violation("two values for slot " + std::to_string(accepted.slot) + " in ballot " + to_string(accepted.ballot));
  }
  voters.insert(node.id);
  // A majority of the voters of the slot's own configuration (the one
  // chosen at or before slot - α), judged by the oracle's chosen values.
  const auto& deciding = oracle_voters(accepted.slot);
  size_t counted = 0;
  for (NodeId voter : voters) counted += std::count(deciding.begin(), deciding.end(), voter) != 0 ? 1U : 0U;
  if (counted < deciding.size() / 2 + 1) return;
  if (!slot.chosen) {
    slot.chosen = value;
    if (value->kind == paxos::Value::Kind::configuration) oracle_configs_[accepted.slot] = value->configuration->voters;
  } else if (!same_value(slot.chosen, value)) {
    violation("agreement: two different values chosen for slot " + std::to_string(accepted.slot));
  }
}

// Validity: a client command must be what the client submitted, bytes for
// bytes but for the log time a leader stamped in its header; a command with
// client id 0 must be one a keeper proposed, exactly.
void Simulation::check_applied(const Node& node, Slot slot, const ValuePtr& value) {
  const auto vote = votes_.find(slot);
  if (vote == votes_.end() || !vote->second.chosen) {
    violation("n" + std::to_string(node.id) + " applied slot " + std::to_string(slot) +
              " which no majority accepted");
  } else if (!same_value(vote->second.chosen, value)) {
    violation("n" + std::to_string(node.id) + " applied a value for slot " + std::to_string(slot) +
              " other than the chosen one");
  }
  auto [it, inserted] = applied_log_.emplace(slot, value);
  if (!inserted && !same_value(it->second, value)) {
    violation("replicas applied different values at slot " + std::to_string(slot));
  }
  if (!inserted || value->kind == paxos::Value::Kind::noop) return;
  for (const auto& command : value->commands) {
    bool valid = false;
    if (command.client_id == 0) {
      valid = keeper_proposals_.count(command.payload) != 0;
    } else {
      auto submitted = submitted_.find({command.client_id, command.seq});
      const std::string& payload = command.payload;
      valid = submitted != submitted_.end() && submitted->second.size() == payload.size() &&
              payload.size() >= ls::kCommandHeaderBytes && payload[0] == submitted->second[0] &&
              payload.compare(ls::kCommandHeaderBytes, std::string::npos, submitted->second,
                              ls::kCommandHeaderBytes, std::string::npos) == 0;
    }
    if (!valid) {
      violation("validity: slot " + std::to_string(slot) + " holds a command nobody submitted (client " +
                std::to_string(command.client_id) + "." + std::to_string(command.seq) + ")");
    }
  }
}

void Simulation::check_lease_read(const Node& node) {
  // The ballot it leads with: a leader that is repairing promised nothing itself.
  const Ballot ballot = std::max(node.replica().promised(), led_.count(node.id) ? led_.at(node.id) : Ballot{});
  auto newer = elected_at_.upper_bound(ballot);
  if (newer == elected_at_.end()) return;
  violation("n" + std::to_string(node.id) + " granted a read on the lease of ballot " + to_string(ballot) +
            ", but ballot " + to_string(newer->first) + " was elected at t=" + std::to_string(newer->second / kMs) +
            "ms");
}

// The lease invariant itself: no leader is elected while another node still
// holds a lease it could serve reads on.
void Simulation::check_no_other_lease(const Node& elected, const Ballot& ballot) {
  for (const auto& other : nodes_) {
    if (&other == &elected || !other.up || other.replica().role() != Role::leader) continue;
    if (other.replica().promised() < ballot && other.replica().lease_valid(local(other))) {
      violation("n" + std::to_string(elected.id) + " was elected with ballot " + to_string(ballot) + " while n" +
                std::to_string(other.id) + " held a valid lease for ballot " + to_string(other.replica().promised()));
    }
  }
}

void Simulation::final_checks() {
  for (const auto& [key, slot] : acked_) {
    auto effect = effect_revision_.find(key);
    if (effect == effect_revision_.end() || ls::revision_slot(effect->second) != slot) {
      violation("acknowledged command " + std::to_string(key.first) + "." + std::to_string(key.second) + " lost");
    }
  }
  bool caught_up = true;
  for (const auto& node : nodes_) {
    // A member removed from the cluster need not catch up (it may be stopped).
    if (node.retired || !final_member(node.id)) continue;
    if (!node.up || node.applied() < max_acked_slot_) caught_up = false;
    trace("end: n%u %s%s applied %lu (acked up to %lu), %s", node.id, node.up ? "up" : "down",
          node.paused ? " paused" : "", static_cast<unsigned long>(node.up ? node.applied() : 0),
          static_cast<unsigned long>(max_acked_slot_), node.up ? role_name(node.replica().role()) : "-");
  }
  result_.live_after_heal = first_ack_after_heal_.has_value() &&
                            *first_ack_after_heal_ - heal_at_ <= config_.liveness_bound_ms * kMs && caught_up;
  if (first_ack_after_heal_) result_.heal_to_commit_ms = (*first_ack_after_heal_ - heal_at_) / kMs;
  check_sessions_expire();
  resource_checks();
  result_.fenced_writes = resource_.accepted();
  result_.fenced_refusals = resource_.refused();
  check_key_histories();
  uint64_t digest = 1469598103934665603ULL;
  for (const auto& [slot, value] : applied_log_) {
    digest = (digest ^ slot) * 1099511628211ULL;
    for (const auto& command : value->commands) {
      for (char c : command.payload) digest = (digest ^ static_cast<uint8_t>(c)) * 1099511628211ULL;
    }
  }
  result_.digest = digest;
}

// ------------------------------------------------------------------- run

void Simulation::tick_nodes() {
  for (auto& node : nodes_) {
    if (!node.up || node.paused) continue;
    node.driver->tick(local(node));
    flush(node);
  }
  note_leaderless();
  if (now_ >= next_session_check_at_) {
    next_session_check_at_ = now_ + 10 * kMs;
    check_sessions_expire();
  }
}

void Simulation::handle(const Event& event) {
  switch (event.kind) {
    case EventKind::deliver: {
      Node& node = nodes_[event.node];
      if (!node.up) return;
      if (node.paused) {
        node.inbox.push_back(*event.envelope);
        return;
      }
      if (config_.trace) {
        trace("n%u <- n%u %s", event.envelope->to, event.envelope->from, describe(event.envelope->message).c_str());
      }
      deliver(node, *event.envelope);
      return;
    }
    case EventKind::sync_done:
      on_sync_done(nodes_[event.node], event.a, event.b);
      return;
    case EventKind::tick:
      tick_nodes();
      schedule(now_ + kTickUs, EventKind::tick);
      return;
    case EventKind::client_step:
      client_step(event.a, event.b);
      return;
    case EventKind::client_timeout:
      client_timeout(event.a, event.b);
      return;
    case EventKind::lock_step:
      lock_client_step(event.a, event.b);
      return;
    case EventKind::keepalive_step:
      keepalive_step(event.a, event.b);
      return;
    case EventKind::keepalive_timeout:
      keepalive_timeout(event.a, event.b);
      return;
    case EventKind::fault:
      if (!healed_) inject_fault();
      return;
    case EventKind::heal:
      heal(event.a);
      return;
    case EventKind::restart: {
      Node& node = nodes_[event.node];
      if (!node.up && node.incarnation == event.a) boot(node);
      return;
    }
    case EventKind::resume: {
      Node& node = nodes_[event.node];
      if (!node.up || !node.paused || node.incarnation != event.a) return;
      node.paused = false;
      trace("n%u resumes with %zu queued inputs", node.id, node.inbox.size());
      // What queued up while frozen is handled before the next tick, as a
      // process that wakes from SIGSTOP reads its sockets before its timers.
      auto inbox = std::move(node.inbox);
      node.inbox.clear();
      node.paused_inbox_replay = true;
      for (const auto& item : inbox) {
        if (!node.up || node.paused) break;
        deliver(node, item);
      }
      node.paused_inbox_replay = false;
      return;
    }
    case EventKind::fault_restart: {
      // A crash with a quick restart, as part of a compound fault.
      Node& node = nodes_[event.node];
      if (healed_ || !node.up) return;
      crash(node);
      schedule(now_ + static_cast<int64_t>(event.a), EventKind::restart, event.node, node.incarnation);
      return;
    }
    case EventKind::heal_all:
      heal_all();
      return;
    case EventKind::end:
      return;
  }
}

SimResult Simulation::run() {
  const size_t n = static_cast<size_t>(config_.replicas);
  cut_count_.assign(n, std::vector<int>(n, 0));
  // Observers hold references to their Node: the vector never reallocates.
  nodes_.reserve(n + kJoinersMax);
  nodes_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    auto& node = nodes_[i];
    node.id = static_cast<NodeId>(i + 1);
    initial_voters_.push_back(node.id);
    node.disk.open(node.id);
    if (config_.faults.drift) {
      // Rates in [1, 1 + drift): no two clocks differ by more than the bound.
      node.clock_rate = 1.0 + random_.unit() * 0.0999;
    }
    node.clock_offset = random_.uniform(0, 1'000'000) * kMs;
  }
  for (auto& node : nodes_) boot(node);
  start_clients();
  schedule(kTickUs, EventKind::tick);
  plan_faults();
  schedule(config_.fault_phase_ms * kMs, EventKind::heal_all);
  int64_t end_at = config_.fault_phase_ms * kMs + config_.liveness_bound_ms * kMs;
  while (!events_.empty()) {
    Event event = events_.top();
    if (event.at > end_at - kSettle && quiet_at_ > end_at) {
      if (result_.commands < config_.commands_min && end_at < (config_.fault_phase_ms + 60'000) * kMs) {
        end_at += 1000 * kMs;  // keep going until enough commands were submitted
        continue;
      }
      quiet_at_ = end_at - kSettle;
    }
    if (event.at > end_at) break;
    events_.pop();
    SYNOD_ASSERT(event.at >= now_);
    now_ = event.at;
    handle(event);
  }
  result_.simulated_ms = now_ / kMs;
  for (const auto& [slot, voters] : oracle_configs_) {
    if (slot + paxos::kConfigAlphaSlots <= max_acked_slot_) ++result_.changes_in_effect;
  }
  final_checks();
  return result_;
}

}  // namespace detail

SimResult run_simulation(const SimConfig& config, bool keep_history) {
  detail::Simulation simulation(config, keep_history);
  return simulation.run();
}

}  // namespace synod::sim
