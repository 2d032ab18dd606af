// Configuration of one Replica: who it is, its timings, its limits, and (for
// the simulator only) the mutants that prove the safety checks can fail.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "paxos/types.h"

namespace synod::paxos {

// Defaults are those of DESIGN §3.
struct Timing {
  int64_t heartbeat_ms = 50;
  // How long a leader may serve reads locally after the send time of a
  // heartbeat that a majority acknowledged.
  int64_t lease_ms = 300;
  // A follower starts a probe this long after the last message it heard from
  // a leader, drawn uniformly from [min, max].
  int64_t election_timeout_min_ms = 300;
  int64_t election_timeout_max_ms = 450;
  // The largest ratio between the rates of any two clocks, minus one, in
  // percent. An acceptor's lease promise lasts lease * (1 + drift).
  int64_t drift_bound_percent = 10;
  // A leader resends an Accept that a peer has not answered after this long.
  int64_t accept_retransmit_ms = 20;
  // A learner resends an unanswered catch-up request after this long.
  int64_t catchup_retry_ms = 50;
};

// Every queue in the core has a bound (STYLE §7).
struct Limits {
  size_t pipeline_window_slots = 64;      // slots proposed and not yet chosen
  size_t batch_commands_max = 4096;       // commands in one slot's value
  size_t batch_bytes_max = 1 << 20;       // payload bytes in one slot's value
  size_t pending_commands_max = 1 << 18;  // commands waiting for a slot
  size_t pending_reads_max = 1 << 16;     // reads waiting for a quorum round
  size_t catchup_entries_max = 512;       // chosen entries in one CatchupReply
  size_t catchup_bytes_max = 4 << 20;     // payload bytes in one CatchupReply
  size_t retransmits_per_tick_max = 64;   // Accepts resent per tick
  int64_t repair_query_ms = 100;          // a repairing replica asks again this often
  // Chosen values kept in memory to serve catch-up, bounded in slots and in
  // heap bytes (Learner::retained_bytes_of); older slots need a snapshot.
  size_t log_retention_slots = 1 << 20;
  size_t log_retention_bytes_max = 64 << 20;
  // A leader promotes a learner on its own once the learner acknowledges it
  // and is within this many slots of it, but only while the voters are
  // even in number, so that the promotion makes them odd (a dead voter of
  // three removed leaves two: a caught-up learner takes its place). 0: only
  // on request (Replica::propose_configuration).
  size_t auto_promote_within_slots = 0;
};

// Deliberate bugs, switched on only by the simulator's mutant tests, to show
// that the simulator's checks catch each one. The server never sets these.
struct Mutants {
  bool acceptor_forgets_promise_on_restart = false;
  bool leader_skips_noop_fill = false;
  bool quorum_of_half = false;  // floor(n/2) votes instead of a majority
  bool lease_read_after_expiry = false;
  bool prepare_right_after_restart = false;
  // Membership changes (configuration.h, docs/ARCHITECTURE.md):
  // a configuration governs from the slot after the one that chose it, while
  // leaders still propose up to α slots past their chosen prefix;
  bool config_without_alpha = false;
  // a leader proposes in a new configuration's slots on the promises of the
  // old one (phase 1 is not run again with the new configuration's quorum);
  bool config_skips_phase1 = false;
  // a leader starts another change while one is chosen and not yet in effect
  // (or still in flight);
  bool two_changes_in_flight = false;
  // quorums count the votes of any node, a removed member's too;
  bool removed_member_counts = false;
  // quorums count a learner's votes as a voter's.
  bool learner_counts = false;

  bool any() const {
    return acceptor_forgets_promise_on_restart || leader_skips_noop_fill || quorum_of_half || lease_read_after_expiry ||
           prepare_right_after_restart || config_without_alpha || config_skips_phase1 || two_changes_in_flight ||
           removed_member_counts || learner_counts;
  }
};

struct Options {
  NodeId self = kNoNode;
  // The bootstrap configuration, used until the log or a snapshot says
  // otherwise (DurableState::configurations): every voting member, at most
  // kVotersMax (quorum.h), and the learners. A member of a new cluster is a
  // voter; a node that joins an existing one (synod --join) names itself
  // as a learner and learns the real configuration as it catches up.
  std::vector<NodeId> members;
  std::vector<NodeId> learners;
  // For a node that joined: the slot that chose the configuration it was
  // given, and that configuration's next_id. Configurations the log chose
  // at or before that slot are older than what it knows, and it skips them
  // as it catches up (otherwise, replaying the log from slot 1, it would
  // take a long-gone configuration for the newest one). 0: a new cluster.
  Slot bootstrap_chosen_at = kNoSlot;
  NodeId bootstrap_next_id = kNoNode;
  Timing timing;
  Limits limits;
  uint64_t random_seed = 1;  // election timeouts; the driver picks it
  // The driver found no acceptor state it can trust: an empty data directory,
  // one it reset after finding it corrupt, or one with no promise in it (a
  // replica that crashed while repairing learned the log but promised
  // nothing). The replica must not answer a Prepare as if it had promised
  // nothing, so it starts as a non-voting learner and repairs first
  // (replica.h: REPAIR).
  bool start_repairing = false;
  Mutants mutants;
};

// Returns an empty string if `options` is usable, or a sentence saying what is
// wrong (for the server's "bad configuration, exit 2" path).
std::string validate(const Options& options);

}  // namespace synod::paxos
