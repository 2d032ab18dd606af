// Replica: one node of a synod cluster, playing proposer, acceptor and learner.
//
// It composes the three roles with leader election (a pre-prepare probe, then
// phase 1 for all slots), leases, check-quorum, heartbeats, catch-up and
// leadership transfer. It is a pure state machine: inputs are messages, client
// commands, reads and ticks, each with the node's monotonic time; the output is
// a Ready (see ready.h for the durability contract). It does no I/O, reads no
// clock, starts no thread and draws randomness only from its own seeded
// generator, so the simulator can run a whole cluster from one seed.
//
// Invariants (asserted where they can be checked locally; the simulator checks
// the global ones after every step):
//   - Agreement: at most one value is chosen per slot.
//   - An acceptor never accepts a ballot below one it promised, and the
//     Promise/Accepted that reports a change leaves only after it is durable.
//   - A leader proposes at most one value per slot per ballot, re-proposes the
//     highest-ballot vote it learned for a slot, and serves nothing until every
//     slot up to the highest it heard of is chosen.
//   - Learners hand out chosen values strictly in slot order.
//   - A leader grants a local read only while its lease is valid (lease.h);
//     otherwise only after a quorum acknowledged a heartbeat sent after the read.
//
// REPAIR (DESIGN §3, after Paxos Made Live). A replica started with
// Options::start_repairing (its disk was empty or corrupt) forgot what it
// promised and accepted, so it must not vote as if it had promised nothing.
// It starts as a non-voting learner: it answers no Prepare and no Accept,
// grants no probe and never campaigns, but follows the leader and catches up.
// Meanwhile it asks every peer what it promised (RepairQuery):
//   - if every other member is fresh (never promised, voted or learned
//     anything), no ballot can ever have completed phase 1, so nothing was
//     chosen: it votes at once. This is how a brand-new cluster starts, once
//     all its members are up. Fresh peers that make a majority with it are
//     not enough: its own lost promises may complete a quorum with one
//     member that is not fresh (seed 13086);
//   - otherwise, once a majority of the OTHER members answered, let B be the
//     highest promise they reported. Any ballot above B
//     completed its phase 1 after these answers (a quorum that completed it
//     earlier would intersect them), so a leader above B leads a Paxos
//     instance that began after the repair. The replica votes again only once
//     a leader above B says it serves (its takeover is complete) and the
//     replica has learned everything that leader had chosen then: being
//     caught up alone is not enough. A leader asked with a floor at or above
//     its own ballot prepares again with a higher one, so this does not wait
//     for a failure.
//
// MEMBERSHIP (configuration.h, docs/ARCHITECTURE.md "Membership changes").
// The configuration of slot s is the one chosen at or before s - α. On top
// of single-decree Paxos per slot with that slot's quorum:
//   - phase 1 must reach a majority of every configuration that governs a
//     slot the leader may propose in: a candidate needs all those it knows;
//     a leader that proposes or learns a new one sends its voters the same
//     Prepare and proposes nothing more until they promised;
//   - a leader proposes at slot s only while s <= chosen prefix + α, so it
//     knows s's configuration, and each slot counts its own quorum;
//   - heartbeat rounds (the lease, reads, check-quorum) and probes need a
//     majority of each of those configurations too, and a leader gives its
//     lease up when it proposes a change;
//   - one change at a time: none while another is queued, in flight, or
//     chosen and not yet in effect.
//
// Owned by exactly one thread (the driver's owner loop, or the simulator).
#pragma once

#include <deque>
#include <map>
#include <optional>
#include <vector>

#include "base/random.h"
#include "paxos/acceptor.h"
#include "paxos/config_history.h"
#include "paxos/learner.h"
#include "paxos/lease.h"
#include "paxos/messages.h"
#include "paxos/options.h"
#include "paxos/proposer.h"
#include "paxos/quorum.h"
#include "paxos/ready.h"

namespace synod::paxos {

class Replica {
 public:
  // `durable` is what the node found on its disk (empty on a first start).
  Replica(Options options, const DurableState& durable, TimeUs now);
  Replica(const Replica&) = delete;
  Replica& operator=(const Replica&) = delete;

  // ---- inputs ----
  void tick(TimeUs now);
  void step(const Envelope& envelope, TimeUs now);

  enum class ProposeStatus : uint8_t { queued, not_leader, busy };
  // Queues a command for the next batch. A leader batches every command of a
  // turn into one slot when take_ready() is called.
  ProposeStatus propose(Command command, TimeUs now);

  enum class ReadStatus : uint8_t { queued, not_leader, busy };
  // Asks for a linearizable read; a ReadGrant with `read_id` follows in a Ready.
  ReadStatus read(uint64_t read_id, TimeUs now);

  // Hands leadership to `successor` (which should be caught up): gives up the
  // lease, tells the acceptors to release their lease promises, and asks the
  // successor to prepare at once. Returns false if this node is not leading.
  bool transfer_leadership(NodeId successor, TimeUs now);

  // Proposes `next` as the next configuration (a leader only; one change
  // at a time, check_change's rules). `why` says why it was refused.
  enum class ChangeStatus : uint8_t { queued, not_leader, busy, invalid };
  ChangeStatus propose_configuration(const Configuration& next, TimeUs now, std::string* why = nullptr);

  // The driver installed a snapshot of the state after `slot` (after
  // Ready::snapshot_from asked for one): slots up to it count as chosen.
  // `configurations` are those the snapshot recorded (empty: unchanged).
  void install_snapshot(Slot slot, TimeUs now, const std::vector<ConfigEntry>& configurations = {});

  // ---- output ----
  bool has_ready() const;
  Ready take_ready();

  // ---- queries ----
  NodeId self() const { return options_.self; }
  Role role() const { return role_; }
  NodeId leader() const { return leader_; }
  const Ballot& promised() const { return acceptor_.promised(); }
  Slot commit_index() const { return learner_.chosen_through(); }
  // The chosen values held in memory for catch-up (the memory accounting).
  size_t retained_log_slots() const { return learner_.retained_slots(); }
  size_t retained_log_bytes() const { return learner_.retained_bytes(); }
  bool serving() const { return role_ == Role::leader && serving_; }
  bool voting() const { return voting_; }
  bool lease_valid(TimeUs now) const;
  const Options& options() const { return options_; }
  // The newest commit index heard from a leader (for "caught up").
  Slot leader_commit_index() const { return std::max(leader_commit_seen_, commit_index()); }
  // When a leader was last heard from (a follower's view); empty if never.
  std::optional<TimeUs> last_leader_contact() const { return last_leader_contact_; }
  // The leader's view of a peer: its chosen-through and when it last answered.
  struct PeerProgress {
    Slot chosen_through = kNoSlot;
    TimeUs last_ack = 0;
  };
  PeerProgress peer(NodeId node) const;

  // The newest configuration known (it may not be in effect yet), and the
  // slot that chose it (kNoSlot: the bootstrap configuration).
  const Configuration& configuration() const { return configs_.latest().configuration; }
  Slot configuration_chosen_at() const { return configs_.latest().chosen_at; }
  // A leader's change proposed and not chosen yet, or else configuration().
  const Configuration& newest_configuration() const {
    if (waiting_change_) return *waiting_change_;
    return proposed_config_ ? *proposed_config_ : configuration();
  }
  // The configuration of the first slot not chosen yet.
  const Configuration& configuration_in_effect() const { return configs_.at(commit_index() + 1).configuration; }
  // A change is queued, in flight, or chosen and not yet in effect.
  bool change_in_progress() const;
  // For a snapshot of the state after `slot`: the configurations that
  // govern the slots after it.
  std::vector<ConfigEntry> configurations_after(Slot slot) const { return configs_.entries_from(slot + 1); }

 private:
  // message handlers
  void on_probe(NodeId from, const Probe& probe);
  void on_probe_reply(NodeId from, const ProbeReply& reply);
  void on_prepare(NodeId from, const Prepare& prepare);
  void on_promise(NodeId from, const Promise& promise);
  void on_accept(NodeId from, const Accept& accept);
  void on_accepted(NodeId from, const Accepted& accepted);
  void on_reject(NodeId from, const Reject& reject);
  void on_heartbeat(NodeId from, const Heartbeat& heartbeat);
  void on_heartbeat_ack(NodeId from, const HeartbeatAck& ack);
  void on_catchup_request(NodeId from, const CatchupRequest& request);
  void on_catchup_reply(NodeId from, const CatchupReply& reply);
  void on_nominate(NodeId from, const Nominate& nominate);
  void on_repair_query(NodeId from, const RepairQuery& query);
  void on_repair_report(NodeId from, const RepairReport& report);
  void dispatch(NodeId from, const Message& message);

  // elections and leadership
  void start_probe();
  void start_prepare(Ballot nominated_by);
  void become_leader();
  void step_down();
  void heard_from_leader(NodeId from, const Ballot& ballot);
  void reset_election_timer();
  bool lost_leader() const;
  void probe_granted(NodeId voter, int64_t wait_us);
  void candidate_tick();
  void note_tick_gap();
  Ballot next_ballot();
  void note_ballot(const Ballot& ballot);

  // phase 2 and learning
  void propose_value(Slot slot, ValuePtr value);
  void flush_batches();
  void learned(Slot slot, const ValuePtr& value);
  void follow_commit(const Ballot& ballot, Slot commit_index);
  void request_catchup(NodeId from_node);
  void check_serving();

  // repair
  void repair_tick();
  void repair_check(const Ballot& heartbeat_ballot, bool serving, Slot commit_index);
  void finish_repair(const Ballot& leader_ballot);

  // leases and reads
  void send_heartbeats();
  void release_reads();
  void leader_tick();

  // membership (see MEMBERSHIP above)
  Slot alpha() const;
  void observe_configurations();
  std::vector<const Quorum*> deciding_quorums() const;
  bool reached_all(const Votes& votes) const;
  bool prepared_all() const;
  bool may_propose(Slot slot) const;
  std::vector<NodeId> peers() const;
  void extend_phase1();
  void advance_proposals();
  bool can_advance() const;
  void hand_over_if_removed();
  void auto_promote();
  void release_waiting_change();

  // output helpers
  void send(NodeId to, Message message);
  void send_after_sync(NodeId to, Message message);
  void broadcast(const Message& message);  // every member; self handled in place
  SoftState soft_state() const;

  int64_t ms(int64_t milliseconds) const { return milliseconds * 1000; }
  int64_t lease_promise_us() const;

  Options options_;
  ConfigHistory configs_;
  // Chosen values up to here were looked at for configurations.
  Slot configs_seen_through_ = kNoSlot;
  // A leader's change, proposed (queued or in flight) and not chosen yet.
  std::optional<Configuration> proposed_config_;
  std::shared_ptr<const Quorum> proposed_quorum_;
  // A leader's change waiting for its new voters' promises before its value
  // is proposed: meanwhile it decides nothing and stalls nothing (a voter
  // just started refuses Prepares for a lease, its restart guard).
  std::optional<Configuration> waiting_change_;
  std::shared_ptr<const Quorum> waiting_quorum_;
  Random random_;
  TimeUs now_;

  Acceptor acceptor_;
  Learner learner_;
  Proposer proposer_;
  LeasePromise lease_promise_;
  LeaderLease leader_lease_;

  Role role_ = Role::follower;
  NodeId leader_ = kNoNode;
  bool serving_ = false;
  Slot serve_after_ = kNoSlot;
  Ballot highest_seen_;
  std::optional<TimeUs> last_leader_contact_;
  TimeUs election_deadline_ = 0;

  // candidacy
  // probing: pre-prepare probes are out. waiting: a majority lost the leader,
  // and we wait until their lease promises run out. preparing: phase 1.
  enum class Candidacy : uint8_t { none, probing, waiting, preparing };
  Candidacy candidacy_ = Candidacy::none;
  Ballot probe_ballot_;
  Votes probe_votes_;
  int64_t probe_wait_us_ = 0;  // the longest wait among the granting voters
  TimeUs prepare_at_ = 0;
  TimeUs candidacy_deadline_ = 0;

  // leading: heartbeats, check-quorum and reads
  struct HeartbeatRound {
    TimeUs sent_at = 0;
    Votes acks;
    bool counted = false;
  };
  uint64_t heartbeat_seq_ = 0;
  uint64_t acked_seq_ = 0;  // the newest round a quorum acknowledged
  std::map<uint64_t, HeartbeatRound> heartbeat_rounds_;
  TimeUs next_heartbeat_at_ = 0;
  TimeUs quorum_heard_at_ = 0;  // send time of the newest quorum-acknowledged round
  // After a gap between ticks (this process was not running: descheduled,
  // paused), timeouts are not judged until this time, so that the messages
  // that queued up meanwhile are read first.
  TimeUs starved_grace_until_ = 0;
  TimeUs last_tick_ = 0;
  bool heartbeat_wanted_ = false;
  struct PendingRead {
    uint64_t read_id;
    uint64_t needs_seq;
  };
  std::deque<PendingRead> pending_reads_;
  std::map<NodeId, PeerProgress> peers_;

  // learning
  Slot leader_commit_seen_ = kNoSlot;
  bool catchup_in_flight_ = false;
  TimeUs catchup_deadline_ = 0;
  // The peer that reported the highest chosen-through (leader_commit_seen_),
  // whom a leader catching up asks once nobody else can teach it more.
  NodeId catchup_source_ = kNoNode;

  // The chosen log is durable up to here; recovered entries are replayed to
  // the state machine but not written again.
  Slot chosen_durable_through_ = kNoSlot;

  // repair (see REPAIR above)
  bool voting_ = true;
  struct Repair {
    uint64_t nonce = 0;
    Votes reporters;
    bool all_fresh = true;
    bool floor_known = false;
    Ballot floor;  // the highest promise the reporters hold
    TimeUs next_query_at = 0;
    bool target_known = false;
    Ballot leader_ballot;  // a serving leader above the floor
    Slot target = kNoSlot;  // what that leader had chosen then
  };
  Repair repair_;
  bool lease_waited_ = false;  // see SoftState::lease_waited

  // snapshot transfer
  bool snapshot_wanted_ = false;
  TimeUs snapshot_wanted_at_ = 0;
  NodeId snapshot_from_ = kNoNode;  // the next Ready asks the driver for one

  // the Ready being built
  uint64_t ready_id_ = 0;
  std::vector<Envelope> messages_;
  std::vector<Envelope> after_sync_;
  std::vector<ReadGrant> reads_granted_;
  std::vector<uint64_t> reads_failed_;
  std::vector<Command> dropped_;
  SoftState published_;
};

}  // namespace synod::paxos
