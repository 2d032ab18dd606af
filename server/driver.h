// Driver: the pure heart of a synod node, shared by the server and the
// simulator. server/node.cpp wires it to Asio, LMDB and Beast; each node of
// test/sim holds the same class, so the seeded fault schedules run the
// server's own code for Ready handling, stamping, the keeper, keep-alives and
// request expiry, not a copy of it (FoundationDB and TigerBeetle simulate the
// real code the same way).
//
// It owns the Replica, the lock-service StateMachine and its SessionKeeper,
// and every request waiting on them: proposals until their command is
// applied, reads until their read index is, long-polls until the applied
// revision passes their mark, and proposals that arrived between winning an
// election and serving.
//
// Pure: no I/O, clock, thread or randomness of its own. Every input takes
// `now_us`, the node's monotonic clock. Inputs are step, tick, propose, read,
// wait_for, keep_alive, synced and install_snapshot; flush() drains the
// Replica and returns the effects the host must carry out (Effects). Answers
// to requests are called back directly, on the caller's thread, each once.
// Destroying a Driver drops its callbacks uncalled (a crash).
//
// Thread: the node's owner thread only.
//
// The invariants it keeps (DESIGN §3 and §5):
//   1. Every chosen entry is applied to the StateMachine exactly once, in
//      slot order.
//   2. A command is stamped with the keeper's log time just before it is
//      proposed, and only while the keeper leads under a valid lease: a
//      deposed leader that does not know it yet has a clock that ran on
//      without it (seed 25818).
//   3. The keeper leads once the replica serves (its takeover slots chosen
//      and applied; everything in the same Ready is applied first), with the
//      takeover credit only if this leader waited out its predecessor's
//      lease, and follows as soon as the node stops leading.
//   4. Keep-alives are answered only by a leading keeper under a valid lease,
//      and none of the keeper's commands is lost to a full proposal queue.
//   5. A Promise or Accepted leaves only with the receipt of the sync of the
//      Ready that made it (paxos/ready.h); every Ready that has such messages
//      is handed to storage, so every receipt comes from storage.
//   6. Every waiting request is answered exactly once: applied, not_leader,
//      busy, timeout or stopping.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include "http/node_api.h"
#include "lockservice/container_reaper.h"
#include "lockservice/session_keeper.h"
#include "lockservice/state_machine.h"
#include "paxos/options.h"
#include "paxos/ready.h"
#include "paxos/replica.h"

namespace synod::server {

// A client command is known by (client id, seq): a retry of the same pair
// joins the proposal already on its way, and takes effect at most once.
struct ProposalKey {
  uint64_t client_id = 0;
  uint64_t seq = 0;
  bool operator==(const ProposalKey&) const = default;
};
struct ProposalKeyHash {
  size_t operator()(const ProposalKey& k) const { return std::hash<uint64_t>()(k.client_id * 31 + k.seq); }
};

// Every queue of the driver has a bound (STYLE §7).
struct DriverLimits {
  // How long a proposal or read may wait for its answer before the client
  // is told "unknown outcome" (504).
  int64_t request_ms_max = 10'000;
  // Proposals that arrive between winning an election and serving wait here.
  size_t waiting_proposals_max = 1 << 16;
  // Long-polls waiting for the applied revision to pass a mark.
  size_t revision_waits_max = 1 << 16;
};

// Deliberate bugs, switched on only by the simulator's mutant tests to show
// that its checks catch each one (as paxos::Mutants does for the core). The
// server never sets these.
struct DriverMutants {
  // A leader that loses its leadership keeps its keeper (follow() is never
  // called) and answers keep-alives without looking at its lease.
  bool keepalive_after_step_down = false;
  // Stamps log time 1 s ahead of the log clock (a clock that jumped).
  bool stamp_ahead = false;
  // Stamps log time 3 s behind the log clock: expiries come late.
  bool stamp_behind = false;
  // Every new leader starts its log clock with the takeover credit, also one
  // that was handed leadership and did not wait out a lease.
  bool credit_without_lease_wait = false;
  // Applies commands without their (client id, seq), so the state machine's
  // exactly-once table never sees them.
  bool apply_without_client_id = false;
  // Linearizable reads are answered from the local state at once, without
  // Replica::read and its read index.
  bool read_without_read_index = false;
};

struct DriverOptions {
  lockservice::Config service;
  // The leader's container reaper (lockservice/container_reaper.h).
  lockservice::ReaperConfig reaper;
  DriverLimits limits;
  DriverMutants mutants;
};

// What the host must do after a flush, in this order of urgency:
struct Effects {
  // Sync each batch, in order, and hand its receipt to Driver::synced. A
  // batch may be empty: it carries a Ready's after-sync messages.
  std::vector<paxos::PersistBatch> persist;
  // Send now (the leader's Accepts leave while its own vote is written).
  std::vector<paxos::Envelope> messages;
  // The replica needs slots no peer keeps in its log: fetch the snapshot of
  // this peer and call install_snapshot (kNoNode: none needed).
  paxos::NodeId snapshot_from = paxos::kNoNode;
};

// What the host may watch as the driver works: the server logs and meters
// through it, the simulator checks through it. Called on the owner thread,
// synchronously, from inside driver calls; it must not call back into the
// driver except through the const accessors.
class DriverObserver {
 public:
  virtual ~DriverObserver() = default;
  virtual void entry_applying(const paxos::ChosenEntry& /*entry*/) {}
  virtual void command_applying(const paxos::ChosenEntry& /*entry*/, size_t /*index*/) {}
  virtual void command_applied(const paxos::ChosenEntry& /*entry*/, size_t /*index*/,
                               const lockservice::Result& /*result*/) {}
  virtual void entry_applied(const paxos::ChosenEntry& /*entry*/) {}
  // The ZooKeeper namespace events one command fired (never empty), before
  // its proposer is answered: the ZooKeeper listener's watches.
  virtual void znodes_changed(const lockservice::ZnodeEvents& /*events*/) {}
  // A proposal of this node was applied `latency_us` after it was proposed.
  virtual void proposal_committed(int64_t /*latency_us*/) {}
  virtual void read_granted(const paxos::ReadGrant& /*grant*/) {}
  // Before the driver acts on a new soft state.
  virtual void soft_state_changing(const paxos::SoftState& /*previous*/, const paxos::SoftState& /*next*/) {}
  virtual void keeper_leads(int64_t /*takeover_log_ms*/, bool /*with_credit*/) {}
  virtual void keeper_proposing(const lockservice::Command& /*command*/, const std::string& /*payload*/,
                                int64_t /*stamp_ms*/) {}
  // An after-sync message released by a receipt (also one to this node).
  virtual void released(const paxos::Envelope& /*envelope*/) {}
};

class Driver {
 public:
  using ProposeDone = std::function<void(http::Outcome)>;
  using ReadDone = std::function<void(const http::ReadContext&)>;

  explicit Driver(DriverOptions options, DriverObserver* observer = nullptr);
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  // ------------------------------------------------------------ start-up
  // Restores the state machine from a snapshot taken at `slot` (before
  // start). Returns false if the bytes do not restore.
  bool restore(const std::string& bytes, paxos::Slot slot);
  // Creates the replica from what storage loaded. The first flush() then
  // replays the chosen log above the snapshot.
  void start(const paxos::Options& options, const paxos::DurableState& durable, int64_t now_us);

  // --------------------------------------------------------------- inputs
  void step(const paxos::Envelope& envelope, int64_t now_us) { replica_->step(envelope, now_us); }
  // The replica's timers, the keeper's checkpoints and expiries, the
  // container reaper's reaps, and the deadlines of waiting requests.
  void tick(int64_t now_us);
  // A client command, encoded with time 0 (the driver stamps it). Answered
  // once applied, or at once if it cannot be proposed here.
  void propose(paxos::Command command, ProposeDone done, int64_t now_us);
  // A command of the node's own (client id 0), proposed with the keeper's
  // when this node serves as leader (server/bootstrap_token.h); dropped
  // otherwise. Returns whether it was taken.
  bool propose_internal(lockservice::Command command, int64_t now_us);
  // A linearizable read (stale: the local state at once).
  void read(bool stale, ReadDone done, int64_t now_us);
  // Answered once the applied revision passes `after_revision`, or at the
  // timeout (ok = false) with the state as it is.
  void wait_for(uint64_t after_revision, int64_t timeout_ms, ReadDone done, int64_t now_us);
  http::KeepAliveOutcome keep_alive(lockservice::SessionId session, const lockservice::Credential& credential,
                                    int64_t now_us);
  // Storage synced everything through `receipt`: returns the after-sync
  // messages for peers (those to this node it steps itself).
  std::vector<paxos::Envelope> synced(const paxos::SyncReceipt& receipt, int64_t now_us);
  // A snapshot fetched from a peer, already saved by the host, with the
  // configurations it carried (those that govern the slots after `slot`).
  void install_snapshot(lockservice::StateMachine machine, paxos::Slot slot, int64_t now_us,
                        const std::vector<paxos::ConfigEntry>& configurations);
  // A leader hands leadership to `to`, or (kNoNode) to the peer that is most
  // caught up and most recently heard (a rolling restart costs no election
  // timeout). Returns the successor, or kNoNode if this node does not lead or
  // the replica refused (`to` is not another voting member).
  paxos::NodeId hand_over(int64_t now_us, paxos::NodeId to = paxos::kNoNode);
  // Shutting down: new proposals are refused and the keeper proposes no more.
  void stop() { stopping_ = true; }
  // Answers every waiting proposal with `stopping`.
  void fail_proposals();
  // Drops every waiting read unanswered. The node calls it before its HTTP
  // server goes: a read's callback may hold an event stream, whose
  // connection refers to the server (an ASan use-after-free otherwise).
  void drop_reads() {
    reads_.clear();
    revision_waits_.clear();
  }

  // Drains the replica: applies, answers and collects the effects. Answers
  // called back from inside may make new requests (they are drained by the
  // same flush) but must not flush again.
  Effects flush(int64_t now_us);
  bool has_ready() const { return replica_->has_ready(); }

  // -------------------------------------------------------- what it holds
  paxos::Replica& replica() { return *replica_; }
  const paxos::Replica& replica() const { return *replica_; }
  bool started() const { return replica_ != nullptr; }
  const lockservice::StateMachine& machine() const { return machine_; }
  const lockservice::SessionKeeper& keeper() const { return keeper_; }
  const paxos::SoftState& soft_state() const { return soft_; }
  paxos::Slot applied_slot() const { return applied_slot_; }
  size_t proposals_waiting() const { return proposals_.size() + waiting_for_serving_.size(); }
  size_t reads_waiting() const { return reads_.size() + revision_waits_.size(); }
  // The real time that provably passed since the last chosen entry when a
  // leader waited out its predecessor's lease: a lease on the slowest clock.
  static int64_t takeover_credit_ms(const paxos::Timing& timing) {
    return timing.lease_ms * 100 / (100 + timing.drift_bound_percent);
  }

 private:
  struct Waiter {
    ProposeDone done;
    int64_t deadline_us;
    int64_t proposed_us;  // for the commit latency
  };
  // The clients waiting for one (client, seq). Almost always one, held
  // inline: a vector per proposal was one of the allocator's three largest
  // callers under puts at 64 clients (docs/ARCHITECTURE.md).
  struct Proposal {
    Waiter first;
    std::vector<Waiter> more;  // the same (client, seq) proposed again while it waits
    // Answers every waiter, in the order they came; the last gets the
    // outcome itself, the others copies.
    void answer(http::Outcome outcome) {
      if (more.empty()) return first.done(std::move(outcome));
      first.done(outcome);
      for (size_t i = 0; i + 1 < more.size(); ++i) more[i].done(outcome);
      more.back().done(std::move(outcome));
    }
  };
  struct WaitingProposal {
    paxos::Command command;
    ProposeDone done;
    int64_t deadline_us;
  };
  struct PendingRead {
    ReadDone done;
    int64_t deadline_us;
  };

  void handle(paxos::Ready ready, int64_t now_us, Effects& out);
  void apply(const std::vector<paxos::ChosenEntry>& entries, int64_t now_us);
  void grant_reads(const paxos::Ready& ready);
  void on_soft_state(const paxos::SoftState& next, int64_t now_us);
  void propose_waiting(int64_t now_us);
  void propose_keeper_backlog(int64_t now_us);
  void propose_reaps(int64_t now_us);
  void expire_requests(int64_t now_us);
  void wake_revision_waits();
  bool may_stamp(int64_t now_us) const;
  int64_t stamp_ms(int64_t now_us) const;
  // A read's answer with the local state as it is (leader: as last known).
  http::ReadContext context(bool ok) const;

  const DriverOptions options_;
  DriverObserver no_observer_;
  DriverObserver* const observer_;  // never null: no_observer_ if none
  std::unique_ptr<paxos::Replica> replica_;
  lockservice::StateMachine machine_;
  lockservice::ZnodeEvents fired_;  // one command's, reused (apply)
  lockservice::SessionKeeper keeper_;
  lockservice::ContainerReaper reaper_;  // leads and follows with keeper_
  int64_t takeover_credit_ms_ = 0;
  paxos::Slot applied_slot_ = paxos::kNoSlot;
  paxos::SoftState soft_;
  bool stopping_ = false;
  bool flushing_ = false;
  std::map<uint64_t, paxos::AfterSync> after_sync_;  // by ready id
  std::unordered_map<ProposalKey, Proposal, ProposalKeyHash> proposals_;
  std::deque<WaitingProposal> waiting_for_serving_;
  // The keeper's commands that found the proposal queue full, in order. At
  // most a few ticks' worth: clients are refused while it is not empty.
  std::deque<lockservice::Command> keeper_backlog_;
  uint64_t next_read_id_ = 0;
  std::map<uint64_t, PendingRead> reads_;
  std::multimap<uint64_t, PendingRead> revision_waits_;  // by the revision they wait to pass
};

}  // namespace synod::server
