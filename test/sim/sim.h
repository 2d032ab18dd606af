// The deterministic simulator: whole clusters of the real Paxos core in one
// process, under a seeded schedule of faults.
//
// One run = one seed. Everything random (network delays, drops, duplicates,
// partitions, crashes, pauses, clock rates, client choices) is drawn from one
// generator seeded by the seed, and events run in (time, sequence) order, so
// a seed replays exactly.
//
// What a run checks, after every event (safety):
//   - agreement: at most one value is chosen per slot, where "chosen" is
//     judged by an oracle that counts the durable votes (Accepted messages
//     released after their sync) of distinct acceptors per (slot, ballot);
//   - every value a learner applies is the oracle's chosen value, so a learner
//     can never apply a value no majority accepted;
//   - validity: every command applied was submitted by a client, and a no-op
//     is the only other value;
//   - every replica applies the same sequence, strictly in slot order, and a
//     command is applied at most once however often it is retried;
//   - linearizable reads: a read returns state at least as new as every write
//     or read that completed before it was invoked;
// and at the end (after every fault healed):
//   - liveness: a leader serves and a new write commits within the bound;
//   - no acknowledged write is lost, and every replica caught up.
//
// Single-threaded; one run owns all its state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "paxos/options.h"

namespace synod::sim {

// Which faults a run may inject.
struct FaultMix {
  bool drop = false;       // lose messages
  bool duplicate = false;  // deliver messages twice
  bool delay = false;      // slow links (long, uneven delays also reorder)
  bool partition = false;  // symmetric splits of the cluster
  bool oneway = false;     // one direction of a link cut
  bool isolate = false;    // cut the current leader off from everyone
  bool crash = false;      // kill a replica; it restarts from its synced state
  bool pause = false;      // freeze a replica (SIGSTOP); its inbox fills up
  bool drift = false;      // clock rates differ within the drift bound

  static FaultMix all();
  static FaultMix none() { return {}; }
  // "all", "none", or a comma list of the names above. Returns false on an unknown name.
  static bool parse(const std::string& text, FaultMix& out, std::string& error);
  std::string to_string() const;
  bool any() const;
};

struct SimConfig {
  uint64_t seed = 1;
  int replicas = 3;
  FaultMix faults = FaultMix::all();
  paxos::Mutants mutants;
  // The fault phase; then everything heals and liveness is measured.
  int64_t fault_phase_ms = 8000;
  int fault_events_min = 20;
  uint64_t commands_min = 500;  // the fault phase is stretched until this many were submitted
  int64_t liveness_bound_ms = 4000;
  int clients = 6;
  bool trace = false;  // print every event to stderr
};

struct SimResult {
  uint64_t seed = 0;
  int replicas = 0;
  uint64_t commands = 0;  // distinct client write commands submitted
  uint64_t reads = 0;     // linearizable reads completed
  uint64_t faults = 0;    // fault events injected
  uint64_t elections = 0; // leaders elected
  std::vector<std::string> violations;
  bool live_after_heal = false;
  int64_t heal_to_commit_ms = -1;  // from the heal to the first new write committed
  uint64_t digest = 0;             // hash of the chosen log, for replay checks
  int64_t simulated_ms = 0;
};

SimResult run_simulation(const SimConfig& config);

// The replica count the CI mix uses for a seed: 3, 5 and 7 in turn.
int mix_replicas(uint64_t seed);

}  // namespace synod::sim
