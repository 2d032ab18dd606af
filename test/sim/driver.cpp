// The lock service on each simulated node, driven the way server/node.cpp
// drives it, so that the simulator tests that driving logic too:
//   - every chosen entry is applied to the node's StateMachine in log order;
//   - a leader stamps every command it proposes, a client's or its keeper's,
//     with keeper.log_now_ms() just before proposing it;
//   - the keeper leads once the node serves (its takeover slots chosen and
//     applied; the credit only for a leader that waited out its
//     predecessor's lease) and follows as soon as the node stops leading;
//   - keeper.tick() runs on every tick of a leader, and what it returns is
//     proposed with client id 0;
//   - keep-alives are answered from the keeper's memory, only by a leader
//     whose lease is valid.
// It also feeds the checks: the exactly-once model, the replicas' results,
// and (through the first replica to apply each slot) the lock oracle.
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

void Simulation::apply_entries(Node& node, const std::vector<ChosenEntry>& entries) {
  for (const auto& entry : entries) {
    if (entry.slot != node.applied + 1) {
      violation("n" + std::to_string(node.id) + " applied slot " + std::to_string(entry.slot) + " after " +
                std::to_string(node.applied));
    }
    node.applied = entry.slot;
    check_applied(node, entry.slot, entry.value);
    // The first replica to apply a slot tells the lock oracle what it did;
    // every other replica must compute the same results.
    const bool oracle = entry.slot > oracle_through_;
    for (size_t i = 0; i < entry.value->commands.size(); ++i) {
      apply_command(node, entry.slot, i, entry.value->commands[i], oracle);
    }
    if (oracle) {
      oracle_through_ = entry.slot;
      result_digests_[entry.slot] = node.result_digest;
    } else if (auto it = result_digests_.find(entry.slot);
               it != result_digests_.end() && it->second != node.result_digest) {
      violation("n" + std::to_string(node.id) + " computed other results than the first replica up to slot " +
                std::to_string(entry.slot));
      result_digests_.erase(it);  // reported once
    }
  }
}

// Exactly once: the first revision that carries (client id, seq) is where
// the command takes effect; at any later one the state machine must find it
// in its exactly-once table and change nothing.
void Simulation::apply_command(Node& node, Slot slot, size_t index, const paxos::Command& command, bool oracle) {
  const ls::Revision revision = ls::make_revision(slot, index);
  const auto key = std::make_pair(command.client_id, command.seq);
  if (command.client_id != 0) {
    const bool recorded_before = node.machine.recorded(command.client_id, command.seq) != nullptr;
    const auto [first, inserted] = effect_revision_.emplace(key, revision);
    const bool fresh = inserted || first->second == revision;
    if (!fresh && oracle) ++result_.commands_deduplicated;
    if (fresh && recorded_before) {
      violation("n" + std::to_string(node.id) + " answered command " + std::to_string(key.first) + "." +
                std::to_string(key.second) + " at its first revision " + std::to_string(revision) + " as a retry");
    } else if (!fresh && !recorded_before) {
      violation("n" + std::to_string(node.id) + " applied command " + std::to_string(key.first) + "." +
                std::to_string(key.second) + " twice: at revisions " + std::to_string(first->second) + " and " +
                std::to_string(revision));
    }
  }
  const ls::ClientId client_id = config_.driver_mutants.apply_without_client_id ? 0 : command.client_id;
  const ls::Result result = node.machine.apply(ls::LogEntry{slot, index, client_id, command.seq, command.payload});
  node.result_digest = result_digest(node.result_digest, revision, result);
  if (oracle) oracle_command(node, command, revision);
  if (command.client_id == 0) return;
  auto waiting = node.writes.find(key);
  if (waiting == node.writes.end()) return;
  const size_t client = waiting->second.client;
  node.writes.erase(waiting);
  const auto& c = clients_[client];
  if (c.state == Client::State::writing && c.seq == command.seq) {
    complete_command(client, ls::revision_slot(effect_revision_.at(key)), result);
  }
}

void Simulation::on_soft_state(Node& node, const paxos::SoftState& soft) {
  if (soft.role == Role::leader && soft.serving && !node.keeper.leading()) {
    // Everything chosen before is applied (this Ready's entries came first).
    // The credit is real time that provably passed since the last chosen
    // entry; only a leader that waited out its predecessor's lease has it.
    const bool credit = soft.lease_waited || config_.driver_mutants.credit_without_lease_wait;
    node.keeper.lead(node.machine, mono_ms(node), credit ? takeover_credit_ms_ : 0);
    if (node.machine.counts().sessions > 0) ++result_.keeper_takeovers;
    trace("n%u's keeper leads from log time %ld", node.id, static_cast<long>(node.keeper.takeover_log_ms()));
  }
  if (soft.role != Role::leader && node.keeper.leading() && !config_.driver_mutants.keepalive_after_step_down) {
    node.keeper.follow();
  }
}

int64_t Simulation::stamp_ms(const Node& node) const {
  const int64_t log_now = node.keeper.log_now_ms(node.machine, mono_ms(node));
  if (config_.driver_mutants.stamp_ahead) return log_now + 1'000;
  if (config_.driver_mutants.stamp_behind) return std::max<int64_t>(log_now - 3'000, 0);
  return log_now;
}

void Simulation::keeper_tick(Node& node) {
  if (!node.keeper.leading() || !node.replica->lease_valid(local(node))) return;
  for (const auto& command : node.keeper.tick(node.machine, mono_ms(node))) {
    std::string payload = ls::encode(command, stamp_ms(node));
    if (config_.trace) {
      std::string what = ls::command_name(command);
      if (const auto* renew = std::get_if<ls::RenewSessions>(&command)) {
        for (ls::SessionId id : renew->sessions) what += " " + std::to_string(id);
      } else if (const auto* expire = std::get_if<ls::ExpireSession>(&command)) {
        what += " " + std::to_string(expire->session);
      }
      trace("n%u's keeper proposes %s at log time %ld", node.id, what.c_str(), static_cast<long>(stamp_ms(node)));
    }
    keeper_proposals_.try_emplace(payload, KeeperProposal{now_, false});
    node.replica->propose(paxos::Command{0, 0, std::move(payload)}, local(node));
  }
}

// A client command arrives at a node. Only a leader whose keeper leads can
// stamp it; an elected leader that does not serve yet sends the client back
// for a moment (the server queues it instead: the effect is the same).
void Simulation::propose_client_command(Node& node, size_t index) {
  const auto& client = clients_[index];
  if (node.replica->role() != Role::leader) {
    client_retry(index, node.replica->leader(), random_.uniform(1 * kMs, 3 * kMs));
    return;
  }
  // Stamped only under a valid lease: a deposed leader that does not know it
  // yet would stamp with a clock that ran on without it (seed 25818).
  if (!node.keeper.leading() || !node.replica->lease_valid(local(node))) {
    client_retry(index, node.id, random_.uniform(2 * kMs, 10 * kMs));
    return;
  }
  const auto key = std::make_pair(client.id, client.seq);
  auto pending = node.writes.find(key);
  // The same (client, seq) already on its way here gets one answer for both
  // (as the server does); one proposed long ago may have died in a lost slot.
  if (pending != node.writes.end() && now_ - pending->second.proposed_at < 300 * kMs) {
    pending->second.client = index;
    return;
  }
  std::string payload = client.payload;
  ls::stamp_time(payload, stamp_ms(node));
  switch (node.replica->propose(paxos::Command{client.id, client.seq, std::move(payload)}, local(node))) {
    case Replica::ProposeStatus::queued:
      node.writes[key] = Node::PendingWrite{index, now_};
      break;
    case Replica::ProposeStatus::not_leader:
      client_retry(index, node.replica->leader(), random_.uniform(1 * kMs, 3 * kMs));
      break;
    case Replica::ProposeStatus::busy:
      client_retry(index, node.id, random_.uniform(5 * kMs, 20 * kMs));
      break;
  }
}

void Simulation::answer_keepalive(Node& node, const KeepAlive& request) {
  const bool lease = node.replica->lease_valid(local(node)) || config_.driver_mutants.keepalive_after_step_down;
  if (!node.keeper.leading() || !lease) {
    trace("n%u: keep-alive of session %lu: not leader (hint n%u)", node.id, static_cast<unsigned long>(request.session),
          node.replica->leader());
    keepalive_answered(request.client, request.keepalive_id, KeepAliveReply::not_leader, 0, node.replica->leader());
    return;
  }
  const auto answer = node.keeper.keep_alive(node.machine, request.session, mono_ms(node));
  if (config_.trace) {
    const auto lease_view = node.machine.lease(request.session);
    trace("n%u: keep-alive of session %lu at log time %ld: %s, valid for %ldms (logged deadline %ld)", node.id,
          static_cast<unsigned long>(request.session), static_cast<long>(node.keeper.log_now_ms(node.machine, mono_ms(node))),
          ls::status_name(answer.status), static_cast<long>(answer.valid_for_ms),
          static_cast<long>(lease_view ? lease_view->deadline_log_ms : -1));
  }
  if (answer.status != ls::Status::ok) {
    keepalive_answered(request.client, request.keepalive_id, KeepAliveReply::expired, 0, node.id);
    return;
  }
  ++result_.keepalives_answered;
  // The keeper renewed it in memory, whether or not the client still listens.
  if (auto session = sessions_.find(request.session); session != sessions_.end()) {
    session->second.answered.push_back(now_);
  }
  keepalive_answered(request.client, request.keepalive_id, KeepAliveReply::ok, answer.valid_for_ms, node.id);
}

bool Simulation::serving_leader(const Node& node) const {
  return node.up && !node.paused && node.replica->serving() && node.keeper.leading() &&
         node.replica->lease_valid(local(node));
}

}  // namespace synod::sim::detail
