#include "sim/sim.h"

#include <algorithm>
#include <cstdarg>
#include <limits>
#include <cstdio>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <sstream>
#include <variant>

#include "paxos/random.h"
#include "paxos/replica.h"

namespace synod::sim {

using namespace paxos;

// ------------------------------------------------------------------ FaultMix

FaultMix FaultMix::all() {
  FaultMix mix;
  mix.drop = mix.duplicate = mix.delay = mix.partition = mix.oneway = mix.isolate = mix.crash = mix.pause =
      mix.drift = true;
  return mix;
}

namespace {

struct FaultName {
  const char* name;
  bool FaultMix::*flag;
};

constexpr FaultName kFaultNames[] = {
    {"drop", &FaultMix::drop},         {"duplicate", &FaultMix::duplicate}, {"delay", &FaultMix::delay},
    {"partition", &FaultMix::partition}, {"oneway", &FaultMix::oneway},     {"isolate", &FaultMix::isolate},
    {"crash", &FaultMix::crash},       {"pause", &FaultMix::pause},         {"drift", &FaultMix::drift},
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
    bool found = false;
    for (const auto& entry : kFaultNames) {
      if (name == entry.name) {
        out.*(entry.flag) = true;
        found = true;
      }
    }
    if (!found) {
      error = "unknown fault '" + name + "' (known: all, none, drop, duplicate, delay, reorder, partition, oneway, "
              "isolate, crash, pause, drift)";
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

namespace {

constexpr int64_t kMs = 1000;  // simulated time is in microseconds
// Before the final check, clients stop and the cluster gets this long to settle.
constexpr int64_t kSettle = 500 * kMs;

// ------------------------------------------------------------ the sim's disk

// What a replica has synced. Writes reach it only when their sync completes,
// so a crash loses exactly what was not synced.
struct Disk {
  Ballot promised;
  std::map<Slot, AcceptedEntry> accepted;
  std::vector<ChosenEntry> chosen;
  // Every vote that was ever durable here, for the oracle: an Accepted may
  // leave after a later vote for the same slot overwrote this one (a paused
  // node releases several synced Readies at once).
  std::map<std::pair<Slot, Ballot>, ValuePtr> durable_votes;

  void write(const PersistBatch& batch) {
    // No monotonicity assert here: a mutant that forgot its promise writes a
    // lower one, and it is the simulator's checks that must catch it.
    if (batch.promised) promised = *batch.promised;
    for (const auto& vote : batch.accepted) {
      accepted[vote.slot] = vote;
      durable_votes[{vote.slot, vote.ballot}] = vote.value;
    }
    for (const auto& entry : batch.chosen) {
      SYNOD_ASSERT(entry.slot == chosen.size() + 1);
      chosen.push_back(entry);
    }
  }

  DurableState recovered() const {
    DurableState state;
    state.promised = promised;
    for (const auto& [slot, vote] : accepted) state.accepted.push_back(vote);
    state.chosen = chosen;
    return state;
  }
};

// ------------------------------------------------------ the test application

// A small key-value map whose commands are "key=value", applied at most once
// per (client id, seq): the sim's clients have one command outstanding at a
// time, so remembering the last seq per client is enough.
class KvApp {
 public:
  struct Outcome {
    bool fresh = false;
    Slot first_slot = kNoSlot;  // where the latest command of the client took effect
  };

  // A client moves to seq + 1 only after seq was acknowledged, so any seq at
  // or below the last applied one is a duplicate: a retry, or an old
  // proposal that a later leader found in some acceptor and re-proposed.
  Outcome apply(Slot slot, const Command& command) {
    auto& last = last_[command.client_id];
    if (command.seq <= last.first) return Outcome{false, last.second};
    last = {command.seq, slot};
    const auto equals = command.payload.find('=');
    SYNOD_ASSERT(equals != std::string::npos);
    values_[command.payload.substr(0, equals)] = command.payload.substr(equals + 1);
    return Outcome{true, slot};
  }

  std::string get(const std::string& key) const {
    auto it = values_.find(key);
    return it == values_.end() ? std::string() : it->second;
  }

  Slot applied = kNoSlot;

 private:
  std::map<std::string, std::string> values_;
  std::map<uint64_t, std::pair<uint64_t, Slot>> last_;
};

// ------------------------------------------------------------------- events

struct ClientWrite {
  size_t client;
  uint64_t seq;
};
struct ClientRead {
  size_t client;
  uint64_t read_id;
};
struct SyncRelease {
  uint64_t ready_id;
};
// What a paused replica finds waiting when it resumes.
using InboxItem = std::variant<Envelope, ClientWrite, ClientRead, SyncRelease>;

enum class EventKind : uint8_t { deliver, sync_done, tick, client_step, client_timeout, fault, heal, restart, resume,
                                 fault_restart, heal_all, end };

struct Event {
  int64_t at = 0;
  uint64_t seq = 0;
  EventKind kind = EventKind::tick;
  size_t node = 0;       // index, for node events
  uint64_t a = 0;        // kind-specific
  uint64_t b = 0;
  std::shared_ptr<const Envelope> envelope;

  bool operator>(const Event& other) const { return at != other.at ? at > other.at : seq > other.seq; }
};

struct Node {
  NodeId id = kNoNode;
  double clock_rate = 1.0;
  int64_t clock_offset = 0;
  bool up = true;
  bool paused = false;
  uint64_t incarnation = 0;
  std::unique_ptr<Replica> replica;
  Disk disk;
  std::map<uint64_t, PersistBatch> unsynced;   // by ready id
  std::map<uint64_t, AfterSync> after_sync;    // by ready id
  int64_t last_sync_at = 0;
  KvApp app;
  std::deque<InboxItem> inbox;
  bool paused_inbox_replay = false;
  std::map<uint64_t, size_t> reads;                     // read id -> client
  std::map<std::pair<uint64_t, uint64_t>, size_t> writes;  // (client id, seq) -> client
};

struct Client {
  uint64_t id = 0;
  uint64_t seq = 0;
  enum class State : uint8_t { idle, writing, reading } state = State::idle;
  size_t target = 0;
  uint64_t attempt = 0;  // invalidates stale timeouts
  std::string payload;
  std::string key;
  int64_t invoked_at = 0;
  int64_t timeout_us = 0;
  Slot must_see = kNoSlot;  // reads: newest completed index when invoked
  uint64_t read_id = 0;
};

// One network-wide degradation (drop, duplicate or delay) while it lasts.
struct Degradation {
  uint64_t id;
  double drop = 0;
  double duplicate = 0;
  int64_t delay_us_max = 0;
};

// A cut set of directed links, undone when the fault heals.
struct Cut {
  uint64_t id;
  std::vector<std::pair<size_t, size_t>> links;
};

class Simulation {
 public:
  explicit Simulation(const SimConfig& config) : config_(config), random_(config.seed * 0x9e3779b97f4a7c15ULL + 17) {
    result_.seed = config.seed;
    result_.replicas = config.replicas;
  }

  SimResult run();

 private:
  // --- scheduling
  void schedule(int64_t at, EventKind kind, size_t node = 0, uint64_t a = 0, uint64_t b = 0,
                std::shared_ptr<const Envelope> envelope = nullptr) {
    events_.push(Event{at, ++event_seq_, kind, node, a, b, std::move(envelope)});
  }
  void handle(const Event& event);
  TimeUs local(const Node& node) const {
    return node.clock_offset + static_cast<TimeUs>(static_cast<double>(now_) * node.clock_rate);
  }
  void trace(const char* format, ...) __attribute__((format(printf, 2, 3)));

  // --- nodes
  Options options_for(const Node& node) const;
  void boot(Node& node);
  void drain(Node& node);
  void deliver(Node& node, const InboxItem& item);
  void on_sync_done(Node& node, uint64_t ready_id, uint64_t incarnation);
  void release(Node& node);
  void apply_entries(Node& node, const std::vector<ChosenEntry>& entries);
  void serve_reads(Node& node, const Ready& ready);
  void crash(Node& node);
  void reconnect_links(const Node& node);
  size_t index_of(NodeId id) const { return id - 1; }

  // --- network
  void send(const Envelope& envelope);

  // --- clients
  void client_step(size_t client, uint64_t attempt);
  void client_submit(size_t client);
  void client_retry(size_t client, NodeId hint, int64_t after_us);
  void client_timeout(size_t client, uint64_t attempt);
  void complete_write(size_t client, Slot slot);
  void complete_read(size_t client, Node& node);

  int64_t think_time() { return random_.uniform(10 * kMs, 60 * kMs); }

  // --- faults
  void plan_faults();
  void inject_fault();
  void heal(uint64_t fault_id);
  void heal_all();
  std::optional<size_t> current_leader() const;

  // --- checks
  void violation(const std::string& what);
  void record_vote(const Node& node, const Accepted& accepted);
  void check_applied(const Node& node, Slot slot, const ValuePtr& value);
  void check_lease_read(const Node& node);
  void check_no_other_lease(const Node& elected, const Ballot& ballot);
  void final_checks();

  SimConfig config_;
  Random random_;
  SimResult result_;
  int64_t now_ = 0;
  uint64_t event_seq_ = 0;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events_;
  std::vector<Node> nodes_;
  std::vector<Client> clients_;

  // network state
  std::vector<std::vector<int>> cut_count_;  // [from][to]: how many faults cut this link
  std::vector<Degradation> degradations_;
  std::vector<Cut> cuts_;
  uint64_t next_fault_id_ = 0;
  int64_t heal_at_ = 0;
  bool healed_ = false;
  // Clients start no new operation from here on, so that the final check
  // sees a cluster at rest.
  int64_t quiet_at_ = std::numeric_limits<int64_t>::max();

  // oracle and history
  struct SlotVotes {
    std::map<Ballot, std::pair<ValuePtr, std::set<NodeId>>> by_ballot;
    ValuePtr chosen;
  };
  std::map<Slot, SlotVotes> votes_;
  std::map<Slot, ValuePtr> applied_log_;  // the first value any learner applied per slot
  std::map<std::pair<uint64_t, uint64_t>, std::string> submitted_;
  std::map<std::pair<uint64_t, uint64_t>, Slot> effect_slot_;  // where each command took effect
  std::map<std::pair<uint64_t, uint64_t>, Slot> acked_;
  Slot newest_completed_ = kNoSlot;  // newest index any completed operation reflected
  Slot max_acked_slot_ = kNoSlot;
  uint64_t next_read_id_ = 0;
  std::optional<int64_t> first_ack_after_heal_;
  std::map<NodeId, Ballot> led_;  // newest ballot each node led with, to count elections
  std::map<Ballot, int64_t> elected_at_;  // when each ballot's phase 1 completed
};

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
  if (result_.violations.size() < 20) {
    result_.violations.push_back("t=" + std::to_string(now_ / kMs) + "ms " + what);
  }
  trace("VIOLATION %s", what.c_str());
}

Options Simulation::options_for(const Node& node) const {
  Options options;
  options.self = node.id;
  for (const auto& other : nodes_) options.members.push_back(other.id);
  options.random_seed = config_.seed * 1000003ULL + node.id * 7919ULL + node.incarnation;
  options.mutants = config_.mutants;
  return options;
}

void Simulation::boot(Node& node) {
  if (node.incarnation != 0) reconnect_links(node);
  node.up = true;
  node.paused = false;
  ++node.incarnation;
  node.unsynced.clear();
  node.after_sync.clear();
  node.inbox.clear();
  node.reads.clear();
  node.writes.clear();
  node.app = KvApp{};
  node.replica = std::make_unique<Replica>(options_for(node), node.disk.recovered(), local(node));
  trace("n%u boots (incarnation %lu)", node.id, static_cast<unsigned long>(node.incarnation));
  drain(node);
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
  node.up = false;
  node.paused = false;
  node.replica.reset();
  node.unsynced.clear();
  node.after_sync.clear();
  node.inbox.clear();
  node.reads.clear();
  node.writes.clear();
}

// -------------------------------------------------------------- node driving

void Simulation::drain(Node& node) {
  while (node.up && !node.paused && node.replica->has_ready()) {
    Ready ready = node.replica->take_ready();
    if (!ready.persist.empty()) {
      // Syncs complete in order, each after a short random latency.
      const int64_t done_at = std::max(node.last_sync_at, now_) + random_.uniform(30, 400);
      node.last_sync_at = done_at;
      node.unsynced.emplace(ready.id, ready.persist);
      schedule(done_at, EventKind::sync_done, index_of(node.id), ready.id, node.incarnation);
    }
    if (!ready.messages_after_sync.empty()) {
      node.after_sync.emplace(ready.id, std::move(ready.messages_after_sync));
      // Released now if no sync is under way; otherwise when the syncs
      // before it complete (storage completes syncs in order).
      if (node.unsynced.empty()) release(node);
    }
    for (const auto& envelope : ready.messages) send(envelope);
    apply_entries(node, ready.apply);
    serve_reads(node, ready);
    for (const auto& command : ready.dropped) {
      auto it = node.writes.find({command.client_id, command.seq});
      if (it == node.writes.end()) continue;
      const size_t client = it->second;
      node.writes.erase(it);
      if (clients_[client].state == Client::State::writing && clients_[client].seq == command.seq) {
        client_retry(client, kNoNode, random_.uniform(1 * kMs, 5 * kMs));
      }
    }
    if (ready.soft_state) {
      const auto& soft = *ready.soft_state;
      trace("n%u is %s, leader n%u, ballot %s%s", node.id, role_name(soft.role), soft.leader,
            to_string(soft.ballot).c_str(), soft.serving ? ", serving" : "");
      if (soft.role == Role::leader && led_[node.id] != soft.ballot) {
        led_[node.id] = soft.ballot;
        elected_at_.emplace(soft.ballot, now_);
        ++result_.elections;
        check_no_other_lease(node, soft.ballot);
      }
    }
  }
}

void Simulation::on_sync_done(Node& node, uint64_t ready_id, uint64_t incarnation) {
  if (!node.up || node.incarnation != incarnation) return;  // the write died with the process
  auto it = node.unsynced.find(ready_id);
  SYNOD_ASSERT(it != node.unsynced.end() && it == node.unsynced.begin());
  node.disk.write(it->second);
  node.unsynced.erase(it);
  if (node.paused) {
    node.inbox.push_back(SyncRelease{ready_id});
    return;
  }
  release(node);
  drain(node);
}

// Sends every after-sync message whose state is now durable: syncs complete
// in order, so everything below the oldest unsynced Ready is on disk.
void Simulation::release(Node& node) {
  const uint64_t durable_through =
      node.unsynced.empty() ? std::numeric_limits<uint64_t>::max() : node.unsynced.begin()->first - 1;
  while (!node.after_sync.empty() && node.after_sync.begin()->first <= durable_through) {
    const uint64_t ready_id = node.after_sync.begin()->first;
    AfterSync batch = std::move(node.after_sync.begin()->second);
    node.after_sync.erase(node.after_sync.begin());
    for (auto& envelope : std::move(batch).release(SyncReceipt(ready_id))) {
      if (const auto* accepted = std::get_if<Accepted>(&envelope.message)) record_vote(node, *accepted);
      if (envelope.to == node.id) {
        node.replica->step(envelope, local(node));
      } else {
        send(envelope);
      }
    }
  }
}

void Simulation::deliver(Node& node, const InboxItem& item) {
  if (const auto* envelope = std::get_if<Envelope>(&item)) {
    if (node.paused_inbox_replay) {
      trace("n%u <- n%u %s (queued while paused)", envelope->to, envelope->from, describe(envelope->message).c_str());
    }
    node.replica->step(*envelope, local(node));
  } else if (const auto* write = std::get_if<ClientWrite>(&item)) {
    auto& client = clients_[write->client];
    if (client.state != Client::State::writing || client.seq != write->seq) return;  // gave up already
    Command command{client.id, client.seq, client.payload};
    switch (node.replica->propose(command, local(node))) {
      case Replica::ProposeStatus::queued:
        node.writes[{client.id, client.seq}] = write->client;
        break;
      case Replica::ProposeStatus::not_leader:
        client_retry(write->client, node.replica->leader(), random_.uniform(1 * kMs, 3 * kMs));
        break;
      case Replica::ProposeStatus::busy:
        client_retry(write->client, node.id, random_.uniform(5 * kMs, 20 * kMs));
        break;
    }
  } else if (const auto* read = std::get_if<ClientRead>(&item)) {
    auto& client = clients_[read->client];
    if (client.state != Client::State::reading || client.read_id != read->read_id) return;
    trace("n%u <- client %lu read #%lu", node.id, static_cast<unsigned long>(client.id),
          static_cast<unsigned long>(read->read_id));
    switch (node.replica->read(read->read_id, local(node))) {
      case Replica::ReadStatus::queued:
        node.reads[read->read_id] = read->client;
        break;
      case Replica::ReadStatus::not_leader:
        client_retry(read->client, node.replica->leader(), random_.uniform(1 * kMs, 3 * kMs));
        break;
      case Replica::ReadStatus::busy:
        client_retry(read->client, node.id, random_.uniform(5 * kMs, 20 * kMs));
        break;
    }
  } else if (std::holds_alternative<SyncRelease>(item)) {
    release(node);
  }
  drain(node);
}

void Simulation::apply_entries(Node& node, const std::vector<ChosenEntry>& entries) {
  for (const auto& entry : entries) {
    if (entry.slot != node.app.applied + 1) {
      violation("n" + std::to_string(node.id) + " applied slot " + std::to_string(entry.slot) + " after " +
                std::to_string(node.app.applied));
    }
    node.app.applied = entry.slot;
    check_applied(node, entry.slot, entry.value);
    for (const auto& command : entry.value->commands) {
      const auto outcome = node.app.apply(entry.slot, command);
      const auto key = std::make_pair(command.client_id, command.seq);
      if (outcome.fresh) {
        auto [it, inserted] = effect_slot_.emplace(key, entry.slot);
        if (!inserted && it->second != entry.slot) {
          violation("command " + std::to_string(command.client_id) + "." + std::to_string(command.seq) +
                    " took effect at slots " + std::to_string(it->second) + " and " + std::to_string(entry.slot));
        }
      }
      auto waiting = node.writes.find(key);
      if (waiting != node.writes.end()) {
        const size_t client = waiting->second;
        node.writes.erase(waiting);
        auto& c = clients_[client];
        if (c.state == Client::State::writing && c.seq == command.seq) complete_write(client, outcome.first_slot);
      }
    }
  }
}

void Simulation::serve_reads(Node& node, const Ready& ready) {
  for (const auto& grant : ready.reads) {
    trace("n%u grants read #%lu at index %lu%s", node.id, static_cast<unsigned long>(grant.read_id),
          static_cast<unsigned long>(grant.index), grant.under_lease ? " on its lease" : " after a quorum round");
    if (grant.under_lease) check_lease_read(node);
    auto it = node.reads.find(grant.read_id);
    if (it == node.reads.end()) continue;
    const size_t client = it->second;
    node.reads.erase(it);
    if (node.app.applied < grant.index) {
      violation("n" + std::to_string(node.id) + " granted a read at index " + std::to_string(grant.index) +
                " above what it applied");
    }
    auto& c = clients_[client];
    if (c.state == Client::State::reading && c.read_id == grant.read_id) complete_read(client, node);
  }
  for (uint64_t read_id : ready.reads_failed) {
    auto it = node.reads.find(read_id);
    if (it == node.reads.end()) continue;
    const size_t client = it->second;
    node.reads.erase(it);
    auto& c = clients_[client];
    if (c.state == Client::State::reading && c.read_id == read_id) client_retry(client, kNoNode, 2 * kMs);
  }
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

// ----------------------------------------------------------------- clients

// attempt 0 starts a new operation; otherwise it is a due retry of attempt.
void Simulation::client_step(size_t index, uint64_t attempt) {
  auto& client = clients_[index];
  if (attempt != 0) {
    if (client.attempt == attempt && client.state != Client::State::idle) client_submit(index);
    return;
  }
  if (client.state != Client::State::idle || now_ >= quiet_at_) return;
  const bool write = random_.chance(7, 10);
  client.key = "k" + std::to_string(random_.uniform(0, 4));
  client.invoked_at = now_;
  // Some clients are patient: still waiting when a frozen leader wakes up.
  client.timeout_us = random_.chance(1, 2) ? 300 * kMs : random_.uniform(300 * kMs, 2000 * kMs);
  client.must_see = newest_completed_;
  if (write) {
    client.state = Client::State::writing;
    ++client.seq;
    client.payload = client.key + "=" + std::to_string(client.id) + "." + std::to_string(client.seq);
    submitted_[{client.id, client.seq}] = client.payload;
    ++result_.commands;
  } else {
    client.state = Client::State::reading;
  }
  client_submit(index);
}

void Simulation::client_submit(size_t index) {
  auto& client = clients_[index];
  ++client.attempt;
  schedule(now_ + client.timeout_us, EventKind::client_timeout, 0, index, client.attempt);
  Node& node = nodes_[client.target];
  if (!node.up) {
    client_retry(index, kNoNode, random_.uniform(1 * kMs, 5 * kMs));
    return;
  }
  InboxItem item;
  if (client.state == Client::State::writing) {
    item = ClientWrite{index, client.seq};
  } else {
    client.read_id = ++next_read_id_;
    item = ClientRead{index, client.read_id};
  }
  if (node.paused) {
    node.inbox.push_back(item);
    return;
  }
  deliver(node, item);
}

void Simulation::client_retry(size_t index, NodeId hint, int64_t after_us) {
  auto& client = clients_[index];
  client.target = hint != kNoNode ? index_of(hint) : static_cast<size_t>(random_.uniform(0, config_.replicas - 1));
  ++client.attempt;
  schedule(now_ + after_us, EventKind::client_step, 0, index, client.attempt);
}

// No answer in time: the node may be dead, frozen or cut off. Try another
// (the same seq, for a write: it must take effect at most once).
void Simulation::client_timeout(size_t index, uint64_t attempt) {
  auto& client = clients_[index];
  if (client.attempt != attempt || client.state == Client::State::idle) return;
  client.target = static_cast<size_t>(random_.uniform(0, config_.replicas - 1));
  client_submit(index);
}

void Simulation::complete_write(size_t index, Slot slot) {
  auto& client = clients_[index];
  acked_[{client.id, client.seq}] = slot;
  newest_completed_ = std::max(newest_completed_, slot);
  max_acked_slot_ = std::max(max_acked_slot_, slot);
  if (healed_ && client.invoked_at >= heal_at_ && !first_ack_after_heal_) first_ack_after_heal_ = now_;
  client.state = Client::State::idle;
  ++client.attempt;
  schedule(now_ + think_time(), EventKind::client_step, 0, index);
}

void Simulation::complete_read(size_t index, Node& node) {
  auto& client = clients_[index];
  if (node.app.applied < client.must_see) {
    violation("stale read at n" + std::to_string(node.id) + ": state of index " + std::to_string(node.app.applied) +
              ", but index " + std::to_string(client.must_see) + " completed before the read began");
  }
  newest_completed_ = std::max(newest_completed_, node.app.applied);
  ++result_.reads;
  client.state = Client::State::idle;
  ++client.attempt;
  schedule(now_ + think_time(), EventKind::client_step, 0, index);
}

// ------------------------------------------------------------------ faults

std::optional<size_t> Simulation::current_leader() const {
  std::optional<size_t> leader;
  Ballot best;
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const auto& node = nodes_[i];
    if (!node.up || node.replica->role() != Role::leader) continue;
    if (!leader || node.replica->promised() > best) {
      leader = i;
      best = node.replica->promised();
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
  if (kinds.empty()) return;
  const int kind = kinds[static_cast<size_t>(random_.uniform(0, static_cast<int64_t>(kinds.size()) - 1))];
  const uint64_t id = ++next_fault_id_;
  const int64_t duration = random_.chance(1, 2) ? random_.uniform(20 * kMs, 400 * kMs)
                                                : random_.uniform(400 * kMs, 2000 * kMs);
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

void Simulation::record_vote(const Node& node, const Accepted& accepted) {
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
  if (voters.size() < nodes_.size() / 2 + 1) return;
  if (!slot.chosen) {
    slot.chosen = value;
  } else if (!same_value(slot.chosen, value)) {
    violation("agreement: two different values chosen for slot " + std::to_string(accepted.slot));
  }
}

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
  if (value->kind == Value::Kind::noop) return;
  for (const auto& command : value->commands) {
    auto proposed = submitted_.find({command.client_id, command.seq});
    if (proposed == submitted_.end() || proposed->second != command.payload) {
      violation("validity: slot " + std::to_string(slot) + " holds a command no client submitted");
    }
  }
}

void Simulation::check_lease_read(const Node& node) {
  const Ballot ballot = node.replica->promised();
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
    if (&other == &elected || !other.up || other.replica->role() != Role::leader) continue;
    if (other.replica->promised() < ballot && other.replica->lease_valid(local(other))) {
      violation("n" + std::to_string(elected.id) + " was elected with ballot " + to_string(ballot) + " while n" +
                std::to_string(other.id) + " held a valid lease for ballot " + to_string(other.replica->promised()));
    }
  }
}

void Simulation::final_checks() {
  for (const auto& [key, slot] : acked_) {
    auto effect = effect_slot_.find(key);
    if (effect == effect_slot_.end() || effect->second != slot) {
      violation("acknowledged write " + std::to_string(key.first) + "." + std::to_string(key.second) + " lost");
    }
  }
  bool caught_up = true;
  for (const auto& node : nodes_) {
    if (!node.up || node.app.applied < max_acked_slot_) caught_up = false;
    trace("end: n%u %s%s applied %lu (acked up to %lu), %s", node.id, node.up ? "up" : "down",
          node.paused ? " paused" : "", static_cast<unsigned long>(node.app.applied),
          static_cast<unsigned long>(max_acked_slot_), node.up ? role_name(node.replica->role()) : "-");
  }
  result_.live_after_heal = first_ack_after_heal_.has_value() &&
                            *first_ack_after_heal_ - heal_at_ <= config_.liveness_bound_ms * kMs && caught_up;
  if (first_ack_after_heal_) result_.heal_to_commit_ms = (*first_ack_after_heal_ - heal_at_) / kMs;
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
      for (auto& node : nodes_) {
        if (!node.up || node.paused) continue;
        node.replica->tick(local(node));
        drain(node);
      }
      schedule(now_ + 1 * kMs, EventKind::tick);
      return;
    case EventKind::client_step:
      client_step(event.a, event.b);
      return;
    case EventKind::client_timeout:
      client_timeout(event.a, event.b);
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
  nodes_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    auto& node = nodes_[i];
    node.id = static_cast<NodeId>(i + 1);
    if (config_.faults.drift) {
      // Rates in [1, 1 + drift): no two clocks differ by more than the bound.
      node.clock_rate = 1.0 + random_.unit() * 0.0999;
    }
    node.clock_offset = random_.uniform(0, 1'000'000) * kMs;
  }
  for (auto& node : nodes_) boot(node);
  clients_.resize(static_cast<size_t>(config_.clients));
  // (clients start staggered)
  for (size_t i = 0; i < clients_.size(); ++i) {
    clients_[i].id = 1000 + i;
    clients_[i].target = static_cast<size_t>(random_.uniform(0, config_.replicas - 1));
    schedule(random_.uniform(0, 10 * kMs), EventKind::client_step, 0, i);
  }
  schedule(1 * kMs, EventKind::tick);
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
  final_checks();
  return result_;
}

}  // namespace

SimResult run_simulation(const SimConfig& config) {
  Simulation simulation(config);
  return simulation.run();
}

}  // namespace synod::sim
