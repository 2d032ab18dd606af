// The deterministic simulator: whole clusters of the real Paxos core and the
// real lock service in one process, under a seeded schedule of faults.
//
// One run = one seed. Everything random (network delays, drops, duplicates,
// partitions, crashes, pauses, clock rates, client choices) is drawn from one
// generator seeded by the seed, and events run in (time, sequence) order, so
// a seed replays exactly.
//
// Every node runs the server's own server::Driver (server/driver.h): a
// paxos::Replica, a lockservice::StateMachine applied from its chosen log
// (rebuilt from nothing on restart by replaying the durable log) and a
// lockservice::SessionKeeper on its own drifting clock, driven by the code
// server/node.cpp runs. Two kinds of client use the service:
//   - key clients: put, get (a linearizable read through the Paxos read
//     path), compare-and-set on the modify index and delete, each recorded
//     in synod's history format (docs/history-format.md);
//   - lock clients: a session with keep-alives, exclusive locks acquired in
//     try, wait and queue modes, and, while they believe they hold a lock,
//     fenced reads and writes of a simulated resource. Some of them freeze
//     for longer than their TTL and then write with their old token.
//
// What a run checks, after every event (safety):
//   - agreement: at most one value is chosen per slot, where "chosen" is
//     judged by an oracle that counts the durable votes (Accepted messages
//     released after their sync) of distinct acceptors per (slot, ballot);
//   - every value a learner applies is the oracle's chosen value, so a learner
//     can never apply a value no majority accepted;
//   - validity: every command applied is one a client submitted, stamped by a
//     leader, or one a leader's session keeper proposed; a no-op is the only
//     other value;
//   - every replica applies the same sequence, strictly in slot order, gets
//     the same result for every command, and applies a command at most once
//     however often it is retried or duplicated (checked against the state
//     machine's exactly-once table);
//   - linearizable reads: a read returns state at least as new as every write
//     or read that completed before it was invoked;
//   - the lease invariant: no leader is elected while another holds a lease;
//   - locks: every grant's fencing token is its revision and strictly higher
//     than every earlier grant of the lock; no grant while another session
//     holds it; no grant within the lock-delay after an expiry, in log time
//     and in simulated time; no client that did not pause believes it holds
//     a lock another session was granted;
//   - the fenced resource accepts only rising tokens per lock, and no update
//     is lost;
//   - sessions: none expires while its client was promised validity; a
//     keep-alive answered while a leader served on long enough to log it
//     keeps its session for ttl / (1 + drift) (what lets a client that keeps
//     sending keep-alives survive failovers); and every session expires
//     within the bound of lockservice/session_keeper.h after its last
//     answered keep-alive;
// and at the end (after every fault healed):
//   - liveness: a leader serves and a new write commits within the bound;
//   - no acknowledged write is lost, and every replica caught up;
//   - the key histories are linearizable (synod_lincheck, keys model).
//
// Single-threaded; one run owns all its state.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "paxos/options.h"
#include "server/driver.h"

namespace synod::sim {

// Which faults a run may inject.
struct FaultMix {
  bool drop = false;       // lose messages
  bool duplicate = false;  // deliver messages twice
  bool delay = false;      // slow links (long, uneven delays also reorder)
  bool partition = false;  // symmetric splits of the cluster
  bool oneway = false;     // one direction of a link cut
  bool isolate = false;    // cut the current leader off from everyone
  bool crash = false;      // kill a replica, or stop the leader after a handover; it restarts from its synced state
  bool pause = false;      // freeze a replica (SIGSTOP); its inbox fills up
  bool drift = false;      // clock rates differ within the drift bound
  bool disk = false;       // one replica's disk at a time: a torn record, a flipped bit, or lost whole
  // Membership changes (not in all()): a new node joins as a learner, a
  // learner is promoted or removed, a voter (the leader too) is removed and
  // its process stopped for good. One change at a time, through the leader.
  bool member = false;

  static FaultMix all();
  static FaultMix none() { return {}; }
  // "all", "none", or a comma list of the names above ("all,member" adds
  // membership changes to every other fault). Returns false on an unknown name.
  static bool parse(const std::string& text, FaultMix& out, std::string& error);
  std::string to_string() const;
  bool any() const;
};

// Test-only mistakes. Those of the driver are server::DriverMutants (the
// server's own driving code, server/driver.h); these two are the clients'
// resource's and the simulated boot's. Each must be caught by the checks
// within a small seed range (sim_tests), which shows they can fail.
struct DriverMutants : server::DriverMutants {
  // The fenced resource accepts every token.
  bool resource_unfenced = false;
  // A replica whose disk was lost or found corrupt starts again as a voter
  // with empty acceptor state, instead of repairing first (issue 3's rule).
  bool damaged_disk_votes = false;
};

struct SimConfig {
  uint64_t seed = 1;
  int replicas = 3;
  FaultMix faults = FaultMix::all();
  paxos::Mutants mutants;
  DriverMutants driver_mutants;
  // The fault phase; then everything heals and liveness is measured.
  int64_t fault_phase_ms = 8000;
  int fault_events_min = 20;
  uint64_t commands_min = 500;  // the fault phase is stretched until this many were submitted
  int64_t liveness_bound_ms = 4000;
  // Clients of each kind; 0 draws 3 to 5 from the seed.
  int key_clients = 0;
  int lock_clients = 0;
  // Each lock client pauses (freezes past its TTL) with this probability per
  // lock it holds, in percent; the first lock client always may.
  int client_pause_percent = 30;
  // The linearizability search gives up (verdict unknown) after this many
  // steps per key: a step budget, not a time budget, so a seed replays.
  uint64_t lincheck_steps_max = 2'000'000;
  // A key the search could not decide within those steps is a violation unless this is set
  // (synod-sim --allow-unknown): an undecided history proves nothing.
  bool allow_unknown = false;
  bool trace = false;  // print every event to stderr
  // Draw this run's paxos::Timing, paxos::Limits and server::DriverLimits
  // at random within their valid ranges (FoundationDB's BUGGIFY), so that
  // the limits themselves are simulated. From a random stream of its own:
  // the run's other draws stay those of the seed. Off for the regression
  // seeds, which replay with the defaults.
  bool buggify = false;
};

struct SimResult {
  uint64_t seed = 0;
  int replicas = 0;
  uint64_t commands = 0;  // distinct client commands submitted (key writes and lock-service commands)
  uint64_t reads = 0;     // linearizable reads completed
  uint64_t faults = 0;    // fault events injected
  uint64_t elections = 0; // leaders elected
  std::vector<std::string> violations;
  bool live_after_heal = false;
  int64_t heal_to_commit_ms = -1;  // from the heal to the first new write committed
  uint64_t digest = 0;             // hash of the chosen log, for replay checks
  std::string drawn;               // buggify: the timing and limits drawn, as replay flags would name them
  int64_t simulated_ms = 0;

  // Log entries that repeated a command already applied (a client's retry,
  // a re-proposal), each answered from the exactly-once table.
  uint64_t commands_deduplicated = 0;
  uint64_t disk_corruptions = 0;           // torn records and flipped bits injected
  uint64_t disk_corruptions_detected = 0;  // found by the storage's checks at the next start
  uint64_t disks_lost = 0;
  uint64_t log_tails_torn = 0;             // crashes mid-write that left part of a frame (not corruption)
  uint64_t repairs_completed = 0;          // replicas that voted again after a lost or corrupt disk
  // Membership changes proposed by the leader (member faults), by kind, and
  // how many of those took effect.
  uint64_t members_added = 0;
  uint64_t members_promoted = 0;
  uint64_t members_removed = 0;
  uint64_t changes_in_effect = 0;
  // The lock service.
  uint64_t sessions_created = 0;
  uint64_t sessions_expired = 0;
  // Of those: sessions whose client never froze (its keep-alives failed to
  // get answers for long enough; each was checked against "kept alive").
  uint64_t sessions_expired_not_paused = 0;
  uint64_t keeper_takeovers = 0;  // a keeper started to lead while sessions lived
  uint64_t keepalives_answered = 0;
  uint64_t lock_grants = 0;
  uint64_t lock_delay_grants = 0;    // grants checked against a preceding expiry's lock-delay
  uint64_t fenced_writes = 0;        // resource operations accepted
  uint64_t fenced_refusals = 0;      // resource operations refused for a stale token
  uint64_t stale_writes_refused = 0; // of those: a client back from a pause, writing with its old token
  // A client back from a pause whose write was accepted: nobody had used the
  // resource with a newer token yet. Of those, how many came after the lock
  // had been granted to another session (fencing cannot refuse those until
  // the new holder touches the resource; it keeps the order, not the holder).
  uint64_t stale_writes_accepted = 0;
  uint64_t stale_writes_after_regrant = 0;
  uint64_t client_pauses = 0;
  // Two clients believed they held the same lock at the same simulated time
  // (expected under client pauses; fencing is what keeps it harmless).
  uint64_t concurrent_holders_believed = 0;
  uint64_t expiry_bound_max_ms = 0;  // the largest expiry bound a session was checked against
  int64_t expiry_slack_min_ms = -1;  // the closest an expiry came to its bound (-1: none expired)

  // The key histories (synod_lincheck, keys model).
  uint64_t history_operations = 0;
  uint64_t lincheck_keys = 0;           // key histories checked
  uint64_t lincheck_unique_values = 0;  // of those: decided by the unique-values path
  uint64_t lincheck_searched = 0;       // of those: left to the search
  uint64_t lincheck_unknown = 0;        // of the searched: step budget exhausted (a violation unless allowed)
  uint64_t lincheck_steps = 0;
  double lincheck_seconds = 0;      // checker wall time; reported only, it decides nothing
  std::string history_jsonl;        // the key history, if SimConfig asked for it (see keep_history)
};

SimResult run_simulation(const SimConfig& config, bool keep_history = false);

// The replica count the CI mix uses for a seed: 3, 5 and 7 in turn.
int mix_replicas(uint64_t seed);

}  // namespace synod::sim
