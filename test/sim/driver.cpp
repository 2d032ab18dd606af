// Each simulated node runs the server's own driving code, server::Driver
// (server/driver.h): the simulator is its host, as server/node.cpp is in the
// real process. This file is the adapter between the two:
//   - what the driver asks of its host: persist batches on the node's
//     simulated disk, messages on the simulated network, answers to clients;
//   - what the checks watch of it, through its observer: the exactly-once
//     model, the replicas' results, validity of applied commands, lease
//     reads, elections, and (through the first replica to apply each slot)
//     the lock oracle.
#include <algorithm>

#include "sim/simulation.h"

namespace synod::sim::detail {

namespace {

uint64_t mix(uint64_t digest, uint64_t word) { return (digest ^ word) * 1099511628211ULL; }

// What replicas must agree on for every command: its result.
uint64_t result_digest(uint64_t digest, ls::Revision revision, const ls::Result& result) {
  digest = mix(digest, revision);
  digest = mix(digest, static_cast<uint64_t>(result.status));
  digest = mix(digest, result.revision);
  digest = mix(digest, result.session);
  digest = mix(digest, result.token);
  digest = mix(digest, static_cast<uint64_t>(result.valid_for_ms));
  digest = mix(digest, result.position);
  digest = mix(digest, result.stat.modify_index);
  return mix(digest, result.stat.version);
}

}  // namespace

// The driver's observer for one node: forwards to the simulation's checks.
class NodeObserver final : public server::DriverObserver {
 public:
  NodeObserver(Simulation& sim, Node& node) : sim_(sim), node_(node) {}

  void entry_applying(const ChosenEntry& entry) override { sim_.entry_applying(node_, entry); }
  void command_applying(const ChosenEntry& entry, size_t index) override {
    sim_.command_applying(node_, entry, index);
  }
  void command_applied(const ChosenEntry& entry, size_t index, const ls::Result& result) override {
    sim_.command_applied(node_, entry, index, result);
  }
  void entry_applied(const ChosenEntry& entry) override { sim_.entry_applied(node_, entry); }
  void read_granted(const paxos::ReadGrant& grant) override {
    sim_.trace("n%u grants read #%lu at index %lu%s", node_.id, static_cast<unsigned long>(grant.read_id),
               static_cast<unsigned long>(grant.index), grant.under_lease ? " on its lease" : " after a quorum round");
    if (grant.under_lease) sim_.check_lease_read(node_);
    if (node_.applied() < grant.index) {
      sim_.violation("n" + std::to_string(node_.id) + " granted a read at index " + std::to_string(grant.index) +
                     " above what it applied");
    }
  }
  void soft_state_changing(const paxos::SoftState& /*previous*/, const paxos::SoftState& next) override {
    sim_.soft_state_changing(node_, next);
  }
  void keeper_leads(int64_t takeover_log_ms, bool /*with_credit*/) override {
    if (node_.machine().counts().sessions > 0) ++sim_.result_.keeper_takeovers;
    sim_.trace("n%u's keeper leads from log time %ld", node_.id, static_cast<long>(takeover_log_ms));
  }
  void keeper_proposing(const ls::Command& command, const std::string& payload, int64_t stamp_ms) override {
    if (sim_.config_.trace) {
      std::string what = ls::command_name(command);
      if (const auto* renew = std::get_if<ls::RenewSessions>(&command)) {
        for (ls::SessionId id : renew->sessions) what += " " + std::to_string(id);
      } else if (const auto* expire = std::get_if<ls::ExpireSession>(&command)) {
        what += " " + std::to_string(expire->session);
      }
      sim_.trace("n%u's keeper proposes %s at log time %ld", node_.id, what.c_str(), static_cast<long>(stamp_ms));
    }
    sim_.keeper_proposals_.try_emplace(payload, KeeperProposal{sim_.now_, false});
  }
  void released(const Envelope& envelope) override {
    if (const auto* accepted = std::get_if<paxos::Accepted>(&envelope.message)) sim_.record_vote(node_, *accepted);
  }

 private:
  Simulation& sim_;
  Node& node_;
};

server::DriverOptions Simulation::driver_options() const {
  server::DriverOptions options;
  options.service = service_config_;
  options.limits = driver_limits_;
  options.mutants = config_.driver_mutants;  // the driver's own (sim.h: DriverMutants)
  return options;
}

// ------------------------------------------------------------ the host side

// Drains the driver and carries out its effects, as server/node.cpp does.
// An answer the driver calls back may bring a client's next request to the
// same node at once; that request is proposed inside the running flush,
// whose loop takes its Ready (a flush never runs inside another).
void Simulation::flush(Node& node) {
  if (node.flushing) return;
  node.flushing = true;
  while (node.up && !node.paused && node.driver->has_ready()) {
    auto effects = node.driver->flush(local(node));
    for (auto& batch : effects.persist) on_persist(node, std::move(batch));
    for (const auto& envelope : effects.messages) send(envelope);
    // The simulator's nodes never compact their logs, so no peer lacks slots.
    SYNOD_ASSERT(effects.snapshot_from == kNoNode);
  }
  node.flushing = false;
  note_leaderless();  // a step-down or a handover ends serving at once, not at the next tick
}

// Syncs complete in order, each after a short random latency. A batch with
// nothing to write (it carries only after-sync messages) behind no other is
// durable at once.
void Simulation::on_persist(Node& node, PersistBatch batch) {
  const uint64_t ready_id = batch.ready_id;
  if (batch.empty() && node.unsynced.empty()) {
    release(node, ready_id);
    return;
  }
  const int64_t done_at = std::max(node.last_sync_at, now_) + random_.uniform(30, 400);
  node.last_sync_at = done_at;
  node.unsynced.emplace(ready_id, std::move(batch));
  schedule(done_at, EventKind::sync_done, index_of(node.id), ready_id, node.incarnation);
}

// A client command arrives at a node: the driver stamps and proposes it, or
// answers at once; the client retries what was not proposed.
void Simulation::propose_client_command(Node& node, size_t index) {
  const auto& client = clients_[index];
  const uint64_t seq = client.seq;
  const NodeId at = node.id;
  auto done = [this, index, seq, at](http::Outcome outcome) {
    const auto& c = clients_[index];
    if (c.state != Client::State::writing || c.seq != seq) return;  // answered already, or gave up
    switch (outcome.kind) {
      case http::Outcome::Kind::applied:
        complete_command(index, ls::revision_slot(effect_revision_.at({c.id, seq})), outcome.result);
        return;
      case http::Outcome::Kind::not_leader:
        client_retry(index, outcome.leader, random_.uniform(1 * kMs, 3 * kMs));
        return;
      case http::Outcome::Kind::busy:
        client_retry(index, at, random_.uniform(5 * kMs, 20 * kMs));
        return;
      case http::Outcome::Kind::timeout:
      case http::Outcome::Kind::stopping:
        // The outcome is unknown: retry with the same seq (at most once).
        client_retry(index, kNoNode, random_.uniform(1 * kMs, 5 * kMs));
        return;
    }
  };
  node.driver->propose(paxos::Command{client.id, client.seq, client.payload}, std::move(done), local(node));
}

void Simulation::read_client(Node& node, size_t index) {
  const uint64_t read_id = clients_[index].read_id;
  Node* at = &node;
  node.driver->read(
      false,
      [this, index, read_id, at](const http::ReadContext& context) {
        auto& c = clients_[index];
        if (c.state != Client::State::reading || c.read_id != read_id) return;
        if (context.ok) {
          complete_read(index, *at);
        } else {
          client_retry(index, context.leader, random_.uniform(1 * kMs, 3 * kMs));
        }
      },
      local(node));
}

void Simulation::answer_keepalive(Node& node, const KeepAlive& request) {
  const auto answer = node.driver->keep_alive(request.session, {}, local(node));
  if (config_.trace) {
    const auto lease_view = node.machine().lease(request.session);
    trace("n%u: keep-alive of session %lu: %s, valid for %ldms (logged deadline %ld)", node.id,
          static_cast<unsigned long>(request.session),
          answer.kind == http::KeepAliveOutcome::Kind::ok        ? "ok"
          : answer.kind == http::KeepAliveOutcome::Kind::expired ? "expired"
                                                                 : "not leader",
          static_cast<long>(answer.valid_for_ms), static_cast<long>(lease_view ? lease_view->deadline_log_ms : -1));
  }
  switch (answer.kind) {
    case http::KeepAliveOutcome::Kind::not_leader:
      keepalive_answered(request.client, request.keepalive_id, KeepAliveReply::not_leader, 0, answer.leader);
      return;
    case http::KeepAliveOutcome::Kind::expired:
      keepalive_answered(request.client, request.keepalive_id, KeepAliveReply::expired, 0, node.id);
      return;
    case http::KeepAliveOutcome::Kind::unauthenticated:
    case http::KeepAliveOutcome::Kind::permission_denied:
      // The simulator runs with auth off: a refusal here is a bug.
      SYNOD_ASSERT_MSG(false, "a keep-alive refused by auth in the simulator, where auth is off");
      return;
    case http::KeepAliveOutcome::Kind::ok:
      break;
  }
  ++result_.keepalives_answered;
  // The keeper renewed it in memory, whether or not the client still listens.
  if (auto session = sessions_.find(request.session); session != sessions_.end()) {
    session->second.answered.push_back(now_);
  }
  keepalive_answered(request.client, request.keepalive_id, KeepAliveReply::ok, answer.valid_for_ms, node.id);
}

bool Simulation::serving_leader(const Node& node) const {
  return node.up && !node.paused && node.replica().serving() && node.keeper().leading() &&
         node.replica().lease_valid(local(node));
}

// ------------------------------------------------------------ the checks

void Simulation::entry_applying(Node& node, const ChosenEntry& entry) {
  if (entry.slot != node.applied() + 1) {
    violation("n" + std::to_string(node.id) + " applied slot " + std::to_string(entry.slot) + " after " +
              std::to_string(node.applied()));
  }
  check_applied(node, entry.slot, entry.value);
  // The first replica to apply a slot tells the lock oracle what it did;
  // every other replica must compute the same results.
  applying_as_oracle_ = entry.slot > oracle_through_;
}

// Exactly once: the first revision that carries (client id, seq) is where
// the command takes effect; at any later one the state machine must find it
// in its exactly-once table and change nothing.
void Simulation::command_applying(Node& node, const ChosenEntry& entry, size_t index) {
  const auto& command = entry.value->commands[index];
  if (command.client_id == 0) return;
  const ls::Revision revision = ls::make_revision(entry.slot, index);
  const auto key = std::make_pair(command.client_id, command.seq);
  const bool recorded_before = node.machine().recorded(command.client_id, command.seq) != nullptr;
  const auto [first, inserted] = effect_revision_.emplace(key, revision);
  const bool fresh = inserted || first->second == revision;
  if (!fresh && applying_as_oracle_) ++result_.commands_deduplicated;
  if (fresh && recorded_before) {
    violation("n" + std::to_string(node.id) + " answered command " + std::to_string(key.first) + "." +
              std::to_string(key.second) + " at its first revision " + std::to_string(revision) + " as a retry");
  } else if (!fresh && !recorded_before) {
    violation("n" + std::to_string(node.id) + " applied command " + std::to_string(key.first) + "." +
              std::to_string(key.second) + " twice: at revisions " + std::to_string(first->second) + " and " +
              std::to_string(revision));
  }
}

void Simulation::command_applied(Node& node, const ChosenEntry& entry, size_t index, const ls::Result& result) {
  const ls::Revision revision = ls::make_revision(entry.slot, index);
  node.result_digest = result_digest(node.result_digest, revision, result);
  if (applying_as_oracle_) oracle_command(node, entry.value->commands[index], revision);
}

void Simulation::entry_applied(Node& node, const ChosenEntry& entry) {
  if (applying_as_oracle_) {
    oracle_through_ = entry.slot;
    result_digests_[entry.slot] = node.result_digest;
  } else if (auto it = result_digests_.find(entry.slot);
             it != result_digests_.end() && it->second != node.result_digest) {
    violation("n" + std::to_string(node.id) + " computed other results than the first replica up to slot " +
              std::to_string(entry.slot));
    result_digests_.erase(it);  // reported once
  }
}

void Simulation::soft_state_changing(Node& node, const paxos::SoftState& soft) {
  trace("n%u is %s, leader n%u, ballot %s%s", node.id, role_name(soft.role), soft.leader,
        to_string(soft.ballot).c_str(), soft.serving ? ", serving" : "");
  if (soft.role == Role::leader && led_[node.id] != soft.ballot) {
    led_[node.id] = soft.ballot;
    elected_at_.emplace(soft.ballot, now_);
    ++result_.elections;
    check_no_other_lease(node, soft.ballot);
  }
  if (soft.voting && node.repairing_after_fault) {
    node.repairing_after_fault = false;
    ++result_.repairs_completed;
    trace("n%u votes again after its repair", node.id);
  }
}

std::unique_ptr<server::DriverObserver> make_observer(Simulation& sim, Node& node) {
  return std::make_unique<NodeObserver>(sim, node);
}

}  // namespace synod::sim::detail
