// The request channel every simulated client uses, and the key clients.
//
// A client has at most one command or read outstanding. It sends it to the
// node it believes leads, follows not-leader hints, and after a timeout tries
// another node with the same (client id, seq), which must take effect at
// most once. Key clients give up on an operation after 1-3 s; its outcome is
// then unknown (`info` in the history) and it may still take effect later.
//
// Key clients put, read (through Replica::read and its ReadGrant, then the
// node's state machine), compare-and-set on the modify index and delete a
// few keys, and record each operation in synod's history format
// (docs/history-format.md). Every value written is unique, so a modify index
// names exactly one value and a compare-and-set on it is a cas on that value
// in the keys model. At the end each key's history goes to the
// linearizability checker, with a step budget so that a seed replays.
#include <algorithm>
#include <chrono>

#include "sim/simulation.h"
#include "tools/lincheck/formats.h"
#include "tools/lincheck/lincheck.h"

namespace synod::sim::detail {

namespace {

constexpr int kKeys = 5;
constexpr int kDeletableKeysFrom = 3;  // deletes only on the last keys
constexpr size_t kLincheckMemoryBytesMax = size_t{256} << 20;

const char* function_name(KeyOp::F f) {
  switch (f) {
    case KeyOp::F::read: return "read";
    case KeyOp::F::write: return "write";
    case KeyOp::F::cas: return "cas";
    case KeyOp::F::erase: return "delete";
  }
  return "?";
}

}  // namespace

void Simulation::start_clients() {
  const int keys = config_.key_clients > 0 ? config_.key_clients : static_cast<int>(random_.uniform(3, 5));
  const int locks = config_.lock_clients > 0 ? config_.lock_clients : static_cast<int>(random_.uniform(3, 5));
  clients_.resize(static_cast<size_t>(keys + locks));
  for (size_t i = 0; i < clients_.size(); ++i) {
    auto& client = clients_[i];
    client.id = 1000 + i;
    client.kind = i < static_cast<size_t>(keys) ? Client::Kind::key : Client::Kind::lock;
    client.target = pick_target();
    if (config_.faults.drift) client.clock_rate = 1.0 + random_.unit() * 0.0999;
    client.clock_offset = random_.uniform(0, 1'000'000) * kMs;
    if (client.kind == Client::Kind::key) {
      // (clients start staggered)
      schedule(random_.uniform(0, 10 * kMs), EventKind::client_step, 0, i);
      continue;
    }
    auto& lock = client.lock;
    lock.ttl_ms = random_.uniform(kLockTtlMsMin, kLockTtlMsMax);
    lock.lock_delay_ms = random_.uniform(0, kLockDelayMsMax);
    // Every other lock client may freeze; the others never do, and the
    // checks hold them to what the service promised them.
    lock.may_pause = (i - static_cast<size_t>(keys)) % 2 == 0;
    lock.keepalive_target = client.target;
    lock_schedule(i, random_.uniform(0, 20 * kMs));
  }
}

// attempt 0 starts a new key operation; otherwise it is a due retry of attempt.
void Simulation::client_step(size_t index, uint64_t attempt) {
  auto& client = clients_[index];
  if (attempt != 0) {
    if (client.attempt == attempt && client.state != Client::State::idle) client_submit(index);
    return;
  }
  if (client.state != Client::State::idle || now_ >= quiet_at_) return;
  key_client_start(index);
}

void Simulation::client_submit(size_t index) {
  auto& client = clients_[index];
  if (now_ >= client.give_up_at) {
    give_up(index);
    return;
  }
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
  client.target = hint != kNoNode ? index_of(hint) : pick_target();
  ++client.attempt;
  schedule(now_ + after_us, EventKind::client_step, 0, index, client.attempt);
}

// No answer in time: the node may be dead, frozen or cut off. Try another
// (the same seq, for a command: it must take effect at most once).
void Simulation::client_timeout(size_t index, uint64_t attempt) {
  auto& client = clients_[index];
  if (client.attempt != attempt || client.state == Client::State::idle) return;
  client.target = pick_target();
  client_submit(index);
}

void Simulation::start_command(size_t index, const ls::Command& command) {
  auto& client = clients_[index];
  client.state = Client::State::writing;
  ++client.seq;
  client.payload = ls::encode(command, 0);
  submitted_[{client.id, client.seq}] = client.payload;
  ++result_.commands;
  client.invoked_at = now_;
  client.first_sent_local_ms = client_local_ms(client);
  client.must_see = newest_completed_;
  if (client.kind == Client::Kind::key) {
    // Some clients are patient: still waiting when a frozen leader wakes up.
    client.timeout_us = random_.chance(1, 2) ? 300 * kMs : random_.uniform(300 * kMs, 2000 * kMs);
  } else {
    client.timeout_us = random_.uniform(150 * kMs, 400 * kMs);
  }
  client_submit(index);
}

// `slot` is where the command took effect (for a retry, the first time).
void Simulation::complete_command(size_t index, Slot slot, const ls::Result& result) {
  auto& client = clients_[index];
  acked_[{client.id, client.seq}] = slot;
  newest_completed_ = std::max(newest_completed_, slot);
  max_acked_slot_ = std::max(max_acked_slot_, slot);
  if (healed_ && client.invoked_at >= heal_at_ && !first_ack_after_heal_) first_ack_after_heal_ = now_;
  client.state = Client::State::idle;
  ++client.attempt;
  if (client.kind == Client::Kind::key) {
    key_client_done(index, result);
  } else {
    lock_client_done(index, result);
  }
}

void Simulation::complete_read(size_t index, Node& node) {
  auto& client = clients_[index];
  if (node.applied() < client.must_see) {
    violation("stale read at n" + std::to_string(node.id) + ": state of index " + std::to_string(node.applied()) +
              ", but index " + std::to_string(client.must_see) + " completed before the read began");
  }
  newest_completed_ = std::max(newest_completed_, node.applied());
  ++result_.reads;
  client.state = Client::State::idle;
  ++client.attempt;
  key_read_done(index, node);
}

// The client stops waiting; whether the operation took effect is unknown.
void Simulation::give_up(size_t index) {
  auto& client = clients_[index];
  record_event(client, lincheck::EventType::info, nullptr);
  client.state = Client::State::idle;
  client.give_up_at = kNever;
  ++client.attempt;
  schedule(now_ + think_time(), EventKind::client_step, 0, index);
}

// ------------------------------------------------------------ key clients

void Simulation::key_client_start(size_t index) {
  auto& client = clients_[index];
  const int key = static_cast<int>(random_.uniform(0, kKeys - 1));
  const int64_t roll = random_.uniform(0, 99);
  KeyOp op;
  op.key = "/k" + std::to_string(key);
  op.f = roll < 30 ? KeyOp::F::read : roll < 65 ? KeyOp::F::write : roll < 85 ? KeyOp::F::cas : KeyOp::F::erase;
  if (op.f == KeyOp::F::erase && key < kDeletableKeysFrom) op.f = KeyOp::F::write;
  op.value = std::to_string(client.id) + "." + std::to_string(client.seq + 1);
  lincheck::Value input;
  if (op.f == KeyOp::F::write) input = op.value;
  if (op.f == KeyOp::F::cas) {
    auto seen = client.seen.find(op.key);
    op.cas = seen == client.seen.end() ? 0 : seen->second.modify_index;
    op.expected = *op.cas == 0 ? lincheck::Value() : lincheck::Value(seen->second.value);
    input = lincheck::Value::list({op.expected, op.value});
  }
  client.op = op;
  client.give_up_at = now_ + random_.uniform(1000 * kMs, 3000 * kMs);
  record_event(client, lincheck::EventType::invoke, input);
  if (op.f == KeyOp::F::read) {
    client.state = Client::State::reading;
    client.invoked_at = now_;
    client.timeout_us = random_.chance(1, 2) ? 300 * kMs : random_.uniform(300 * kMs, 2000 * kMs);
    client.must_see = newest_completed_;
    client_submit(index);
    return;
  }
  if (op.f == KeyOp::F::erase) {
    ls::DeleteKey erase;
    erase.key = op.key;
    start_command(index, erase);
    return;
  }
  ls::Put put;
  put.key = op.key;
  put.value = op.value;
  put.cas = op.cas;
  start_command(index, put);
}

void Simulation::key_client_done(size_t index, const ls::Result& result) {
  auto& client = clients_[index];
  const KeyOp& op = client.op;
  client.give_up_at = kNever;
  const bool ok = result.status == ls::Status::ok;
  // A failed put or delete did not take effect: a cas whose index differed,
  // a delete of a key that was not there.
  record_event(client, ok ? lincheck::EventType::ok : lincheck::EventType::fail, nullptr);
  if (ok && op.f != KeyOp::F::erase) client.seen[op.key] = KeySeen{op.value, result.stat.modify_index};
  if (ok && op.f == KeyOp::F::erase) client.seen[op.key] = KeySeen{};
  if (!ok) client.seen.erase(op.key);
  if (!ok && op.f != KeyOp::F::cas && result.status != ls::Status::not_found) {
    violation(client_name(index) + "'s " + function_name(op.f) + " of " + op.key + " failed: " +
              ls::status_name(result.status) + " " + result.message);
  }
  schedule(now_ + think_time(), EventKind::client_step, 0, index);
}

void Simulation::key_read_done(size_t index, const Node& node) {
  auto& client = clients_[index];
  client.give_up_at = kNever;
  const auto found = node.machine().get(client.op.key);
  record_event(client, lincheck::EventType::ok, found ? lincheck::Value(found->value) : lincheck::Value());
  client.seen[client.op.key] = found ? KeySeen{found->value, found->stat.modify_index} : KeySeen{};
  schedule(now_ + think_time(), EventKind::client_step, 0, index);
}

void Simulation::record_event(const Client& client, lincheck::EventType type, lincheck::Value value) {
  if (++history_events_ > kHistoryEventsMax) return;
  lincheck::Event event;
  event.process = static_cast<int64_t>(client.id);
  event.type = type;
  event.f = function_name(client.op.f);
  event.key = client.op.key;
  event.value = std::move(value);
  event.time = now_;
  if (std::string error = history_.add(std::move(event)); !error.empty()) {
    violation("the key history is malformed: " + error);
  }
}

// Each key's history must be linearizable under the keys model. The unique-values path
// (tools/lincheck/unique_values.h) decides most keys; the rest are searched within a step budget.
// A search that runs out of steps answers unknown: a failure of the seed unless allowed.
void Simulation::check_key_histories() {
  const auto started = std::chrono::steady_clock::now();
  if (history_events_ > kHistoryEventsMax) violation("the key history outgrew its bound");
  const lincheck::History history = std::move(history_).finish();
  result_.history_operations = history.operations.size();
  if (keep_history_) result_.history_jsonl = lincheck::write_jsonl(history);
  lincheck::Prepared prepared = lincheck::prepare(history, lincheck::ModelKind::keys);
  if (!prepared.error.empty()) violation("the key history does not fit the keys model: " + prepared.error);
  for (auto& partition : prepared.partitions) {
    ++result_.lincheck_keys;
    const lincheck::PathDecision decided =
        lincheck::decide_without_search(history, partition, lincheck::ModelKind::keys);
    if (decided.verdict != lincheck::Verdict::unknown) {
      ++result_.lincheck_unique_values;
      if (decided.verdict == lincheck::Verdict::not_linearizable) violation(decided.explanation);
      continue;
    }
    search_key_history(history, partition);
  }
  result_.lincheck_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

void Simulation::search_key_history(const lincheck::History& history, lincheck::Partition& partition) {
  std::vector<lincheck::Interval> intervals;
  intervals.reserve(partition.operations.size());
  for (size_t op : partition.operations) {
    const auto& operation = history.operations[op];
    intervals.push_back({operation.invoke_time, operation.complete_time, operation.status == lincheck::Status::info});
  }
  const lincheck::SearchLimits limits{std::chrono::steady_clock::time_point::max(), kLincheckMemoryBytesMax,
                                      config_.lincheck_steps_max};
  const lincheck::SearchResult found = lincheck::search(intervals, *partition.object, limits);
  ++result_.lincheck_searched;
  result_.lincheck_steps += found.steps;
  if (found.verdict == lincheck::Verdict::unknown) {
    ++result_.lincheck_unknown;
    if (!config_.allow_unknown) {
      violation("key " + partition.key + " is undecided: the search ran out of its " +
                std::to_string(config_.lincheck_steps_max) + " steps (--allow-unknown to accept)");
    }
  }
  if (found.verdict != lincheck::Verdict::not_linearizable) return;
  const auto& blocking = history.operations[partition.operations[found.blocking_operation]];
  violation("key " + partition.key + " is not linearizable: " + std::to_string(found.linearized_max) + " of " +
            std::to_string(partition.operations.size()) + " operations linearized, stuck at client " +
            std::to_string(blocking.process) + "'s " + blocking.f + " " + lincheck::to_string(blocking.input) +
            (blocking.status == lincheck::Status::ok ? " -> " + lincheck::to_string(blocking.output) : "") +
            " invoked at " + std::to_string(blocking.invoke_time / kMs) + "ms");
}

}  // namespace synod::sim::detail
