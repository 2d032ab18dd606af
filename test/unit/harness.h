// A hand-driven cluster for scenario tests: the test decides which messages
// are delivered, dropped or held back, and when time moves, so a test reads
// like the protocol transcript it checks (after etcd-io/raft's interaction
// tests).
//
// Every Ready is synced at once (the harness's disk is always durable), so
// after-sync messages join the network right after the Ready is taken. A
// crashed node keeps only what it synced.
#pragma once

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "paxos/replica.h"

namespace synod::test {

using namespace synod::paxos;

class Harness {
 public:
  // `repairing`: every node starts as if its disk were empty and unknown (a
  // brand-new cluster started by the server).
  explicit Harness(int replicas, std::function<void(Options&)> tweak = {}, bool repairing = false)
      : tweak_(std::move(tweak)) {
    for (int i = 1; i <= replicas; ++i) members_.push_back(static_cast<NodeId>(i));
    for (NodeId id : members_) start(id, repairing);
  }

  Replica& node(NodeId id) { return *nodes_.at(id).replica; }
  // A node not started yet (one a change added before it joins) is down too.
  bool up(NodeId id) const {
    auto it = nodes_.find(id);
    return it != nodes_.end() && it->second.replica != nullptr;
  }
  TimeUs now() const { return now_; }

  // Moves time forward for every running node and ticks them every millisecond.
  void advance_ms(int64_t ms) {
    for (int64_t i = 0; i < ms; ++i) {
      now_ += 1000;
      for (NodeId id : members_) {
        if (!up(id)) continue;
        node(id).tick(now_);
        collect(id);
      }
    }
  }

  // Delivers every message in flight (and those they cause) until none is
  // left, except messages the filter rejects, which are dropped. Returns the
  // transcript of what was delivered, one line each: "1->2 Prepare b=(1,1) ...".
  std::string stabilize(const std::function<bool(const Envelope&)>& allow = {}) {
    std::string transcript;
    while (!network_.empty()) {
      Envelope envelope = network_.front();
      network_.erase(network_.begin());
      if (!up(envelope.to) || cut_.count({envelope.from, envelope.to}) || (allow && !allow(envelope))) continue;
      transcript += line(envelope);
      node(envelope.to).step(envelope, now_);
      collect(envelope.to);
    }
    return transcript;
  }

  // Delivers only the messages in flight that match, once; the rest stay.
  std::string deliver_only(const std::function<bool(const Envelope&)>& match) {
    std::string transcript;
    std::vector<Envelope> held;
    auto batch = std::move(network_);
    network_.clear();
    for (auto& envelope : batch) {
      if (!match(envelope)) {
        held.push_back(std::move(envelope));
        continue;
      }
      if (!up(envelope.to) || cut_.count({envelope.from, envelope.to})) continue;
      transcript += line(envelope);
      node(envelope.to).step(envelope, now_);
      collect(envelope.to);
    }
    held.insert(held.end(), network_.begin(), network_.end());
    network_ = std::move(held);
    return transcript;
  }

  void drop_all() { network_.clear(); }
  // The whole machine was busy: time passes and nobody runs or reads.
  void starve_all_ms(int64_t ms) { now_ += ms * 1000; }
  // Takes whatever the node has ready (after calling it directly).
  void flush(NodeId id) { collect(id); }
  bool transfer(NodeId from, NodeId to) {
    const bool ok = node(from).transfer_leadership(to, now_);
    collect(from);
    return ok;
  }
  Replica::ReadStatus read(NodeId id, uint64_t read_id) {
    auto status = node(id).read(read_id, now_);
    collect(id);
    return status;
  }
  const std::vector<Envelope>& in_flight() const { return network_; }

  void cut(NodeId a, NodeId b) {
    cut_.insert({a, b});
    cut_.insert({b, a});
  }
  void heal() { cut_.clear(); }

  void crash(NodeId id) {
    nodes_.at(id).replica.reset();
    network_.erase(std::remove_if(network_.begin(), network_.end(),
                                  [&](const Envelope& e) { return e.from == id || e.to == id; }),
                   network_.end());
  }
  void restart(NodeId id) { start(id); }
  // A new node joins: it knows the newest configuration of `from` and names
  // itself a learner in it, as synod --join does; then it is ticked too.
  void join(NodeId id, NodeId from) {
    const Configuration& known = node(from).configuration();
    joined_[id] = {known.voters, known.learners};
    if (!known.is_learner(id)) joined_[id].second.push_back(id);  // it may join before or after the change
    joined_at_[id] = {node(from).configuration_chosen_at(), known.next_id};
    members_.push_back(id);
    start(id);
  }
  Replica::ChangeStatus change(NodeId leader, const Configuration& next, std::string* why = nullptr) {
    auto status = node(leader).propose_configuration(next, now_, why);
    collect(leader);
    return status;
  }
  // The node's disk is gone: it restarts empty, and knows it must repair.
  void lose_disk(NodeId id) {
    crash(id);
    nodes_.at(id).disk = DurableState{};
    start(id, true);
  }
  NodeId snapshot_wanted(NodeId id) const { return nodes_.at(id).snapshot_from; }
  // Installs a snapshot the test pretends to have fetched: every slot up to
  // `slot` counts as applied.
  void install_snapshot(NodeId id, Slot slot) {
    node(id).install_snapshot(slot, now_);
    nodes_.at(id).snapshot_from = kNoNode;
    collect(id);
  }

  // Makes `id` campaign now: advances its clock past its election timeout.
  // Other nodes do not tick meanwhile.
  void campaign(NodeId id) {
    for (int i = 0; i < 2000 && node(id).role() == Role::follower; ++i) {
      now_ += 1000;
      node(id).tick(now_);
      collect(id);
    }
  }

  // Elects `id` and lets the cluster settle.
  void elect(NodeId id) {
    campaign(id);
    stabilize();
    advance_ms(1);
    stabilize();
  }

  Replica::ProposeStatus propose(NodeId id, const std::string& payload) {
    auto status = node(id).propose(Command{7, ++seq_, payload}, now_);
    collect(id);
    return status;
  }

  const std::vector<ChosenEntry>& applied(NodeId id) const { return nodes_.at(id).applied; }
  std::vector<ReadGrant>& reads(NodeId id) { return nodes_.at(id).reads; }
  const DurableState& disk(NodeId id) const { return nodes_.at(id).disk; }

  static std::string value_text(const ValuePtr& value) {
    if (value->kind == Value::Kind::noop) return "noop";
    if (value->kind == Value::Kind::configuration) return "config";
    std::string text;
    for (const auto& c : value->commands) text += (text.empty() ? "" : ",") + c.payload;
    return text;
  }
  std::string log(NodeId id) const {
    std::string text;
    for (const auto& entry : applied(id)) text += std::to_string(entry.slot) + ":" + value_text(entry.value) + " ";
    return text;
  }

 private:
  struct Node {
    std::unique_ptr<Replica> replica;
    DurableState disk;
    std::vector<ChosenEntry> applied;
    std::vector<ReadGrant> reads;
    NodeId snapshot_from = kNoNode;
  };

  static std::string line(const Envelope& envelope) {
    return std::to_string(envelope.from) + "->" + std::to_string(envelope.to) + " " + describe(envelope.message) +
           "\n";
  }

  void start(NodeId id, bool repairing = false) {
    Options options;
    options.self = id;
    options.members = members_;
    if (auto it = joined_.find(id); it != joined_.end()) {
      options.members = it->second.first;
      options.learners = it->second.second;
      options.bootstrap_chosen_at = joined_at_[id].first;
      options.bootstrap_next_id = joined_at_[id].second;
    }
    options.random_seed = id;
    options.start_repairing = repairing;
    if (tweak_) tweak_(options);
    auto& n = nodes_[id];
    n.applied.clear();
    n.reads.clear();
    n.replica = std::make_unique<Replica>(options, n.disk, now_);
    collect(id);
  }

  void collect(NodeId id) {
    auto& n = nodes_.at(id);
    while (n.replica->has_ready()) {
      Ready ready = n.replica->take_ready();
      if (ready.persist.promised) n.disk.promised = *ready.persist.promised;
      for (const auto& vote : ready.persist.accepted) {
        auto it = std::find_if(n.disk.accepted.begin(), n.disk.accepted.end(),
                               [&](const AcceptedEntry& e) { return e.slot == vote.slot; });
        if (it != n.disk.accepted.end()) *it = vote; else n.disk.accepted.push_back(vote);
      }
      std::sort(n.disk.accepted.begin(), n.disk.accepted.end(),
                [](const AcceptedEntry& a, const AcceptedEntry& b) { return a.slot < b.slot; });
      for (const auto& entry : ready.persist.chosen) n.disk.chosen.push_back(entry);
      for (auto& envelope : ready.messages) network_.push_back(std::move(envelope));
      for (auto& envelope : std::move(ready.messages_after_sync).release(SyncReceipt(ready.id))) {
        network_.push_back(std::move(envelope));
      }
      for (auto& entry : ready.apply) n.applied.push_back(entry);
      if (ready.snapshot_from != kNoNode) n.snapshot_from = ready.snapshot_from;
      for (auto& grant : ready.reads) n.reads.push_back(grant);
    }
  }

  std::function<void(Options&)> tweak_;
  std::vector<NodeId> members_;                                                   // every node the harness runs
  std::map<NodeId, std::pair<std::vector<NodeId>, std::vector<NodeId>>> joined_;  // voters, learners at join
  std::map<NodeId, std::pair<Slot, NodeId>> joined_at_;  // the slot that chose them, and next_id
  std::map<NodeId, Node> nodes_;
  std::vector<Envelope> network_;
  std::set<std::pair<NodeId, NodeId>> cut_;
  TimeUs now_ = 1'000'000;
  uint64_t seq_ = 0;
};

}  // namespace synod::test
