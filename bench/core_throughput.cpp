// core_throughput: how many commands per second the Paxos core itself
// sustains through a 3-replica cluster on one core, with no faults.
//
// The driver is deliberately minimal (messages move between in-process
// queues, "disks" are synced at once, time advances 50 µs per turn) so that
// what is measured is the core: proposing, batching, accepting, choosing,
// learning and handing out, on all three replicas. Commands carry 16-byte
// payloads. Issue #2 asks for at least 500,000 commands per second.
//
//   core_throughput [seconds] [commands_per_turn]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "paxos/replica.h"

using namespace synod::paxos;

namespace {

struct Node {
  std::unique_ptr<Replica> replica;
  uint64_t applied_commands = 0;
  Slot applied_slot = 0;
};

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 3.0;
  const int per_turn = argc > 2 ? std::atoi(argv[2]) : 1024;
  const std::vector<NodeId> members{1, 2, 3};
  std::vector<Node> nodes(3);
  TimeUs now = 1'000'000;
  for (NodeId id : members) {
    Options options;
    options.self = id;
    options.members = members;
    options.random_seed = id;
    nodes[id - 1].replica = std::make_unique<Replica>(options, DurableState{}, now);
  }
  std::deque<Envelope> network;
  auto pump = [&](NodeId id) {
    Node& node = nodes[id - 1];
    while (node.replica->has_ready()) {
      Ready ready = node.replica->take_ready();
      for (auto& e : ready.messages) network.push_back(std::move(e));
      for (auto& e : std::move(ready.messages_after_sync).release(SyncReceipt(ready.id))) network.push_back(std::move(e));
      for (const auto& entry : ready.apply) {
        node.applied_commands += entry.value->commands.size();
        node.applied_slot = entry.slot;
      }
    }
  };
  auto deliver_all = [&]() {
    while (!network.empty()) {
      Envelope e = std::move(network.front());
      network.pop_front();
      nodes[e.to - 1].replica->step(e, now);
      pump(e.to);
    }
  };
  // Elect node 1: tick until it leads.
  while (nodes[0].replica->role() != Role::leader) {
    now += 1000;
    for (NodeId id : members) {
      nodes[id - 1].replica->tick(now);
      pump(id);
    }
    deliver_all();
    for (NodeId id : {2u, 3u}) {
      if (nodes[id - 1].replica->role() == Role::leader) {
        std::fprintf(stderr, "node %u was elected first; rerun\n", id);
        return 1;
      }
    }
  }
  Replica& leader = *nodes[0].replica;
  uint64_t seq = 0;
  const std::string payload(16, 'x');
  const auto started = std::chrono::steady_clock::now();
  const uint64_t applied_before = nodes[0].applied_commands;
  TimeUs next_tick = now;
  double elapsed = 0;
  while (elapsed < seconds) {
    for (int i = 0; i < per_turn; ++i) {
      if (leader.propose(Command{1, ++seq, payload}, now) != Replica::ProposeStatus::queued) {
        std::fprintf(stderr, "proposal refused\n");
        return 1;
      }
    }
    pump(1);
    deliver_all();
    now += 50;
    if (now >= next_tick) {
      next_tick = now + 1000;
      for (NodeId id : members) {
        nodes[id - 1].replica->tick(now);
        pump(id);
      }
      deliver_all();
    }
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  }
  // Let the followers learn the last commit index.
  for (int i = 0; i < 60; ++i) {
    now += 1000;
    for (NodeId id : members) {
      nodes[id - 1].replica->tick(now);
      pump(id);
    }
    deliver_all();
  }
  const uint64_t committed = nodes[0].applied_commands - applied_before;
  std::printf(
      "{\"benchmark\":\"core_throughput\",\"replicas\":3,\"commands_per_turn\":%d,\"seconds\":%.2f,"
      "\"commands\":%lu,\"commands_per_s\":%.0f,\"slots\":%lu,\"followers_applied\":[%lu,%lu]}\n",
      per_turn, elapsed, static_cast<unsigned long>(committed), static_cast<double>(committed) / elapsed,
      static_cast<unsigned long>(nodes[0].applied_slot), static_cast<unsigned long>(nodes[1].applied_commands),
      static_cast<unsigned long>(nodes[2].applied_commands));
  return nodes[1].applied_commands == nodes[0].applied_commands &&
                 nodes[2].applied_commands == nodes[0].applied_commands
             ? 0
             : 1;
}
