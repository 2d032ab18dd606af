// Proposer: phase 1 once for all slots, then phase 2 for each slot, pipelined
// and batched.
//
// Which quorums decide is the Replica's business (configurations change
// along the log): the proposer keeps every promise and vote it hears, and
// the Replica asks whether they reach the quorums it needs. Each slot in
// flight keeps the quorum of the configuration that governs it.
//
// Owns the ballot it prepares or leads with, the promises it collected, the
// slots it proposed that are not chosen yet (bounded by the pipeline window),
// and the client commands waiting for a slot (bounded too).
//
// It builds messages but sends none: the Replica routes them (and handles the
// proposer's own acceptor locally).
//
// Owned by the Replica's thread.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "paxos/messages.h"
#include "paxos/options.h"
#include "paxos/quorum.h"
#include "paxos/types.h"

namespace synod::paxos {

class Proposer {
 public:
  enum class Phase : uint8_t { idle, preparing, leading };

  Proposer(NodeId self, const Limits& limits);

  Phase phase() const { return phase_; }
  const Ballot& ballot() const { return ballot_; }
  Slot first_slot() const { return first_slot_; }

  // ---- phase 1 ----
  void begin_prepare(const Ballot& ballot, Slot first_slot);
  // Records a promise for the current ballot, while preparing or leading (a
  // leader runs phase 1 again for a new configuration's voters). While
  // leading, votes for slots not yet proposed join the takeover.
  void on_promise(NodeId from, const Promise& promise);
  const Votes& promises() const { return promises_; }

  // What a new leader must do before it serves (DESIGN §3): learn the slots
  // some acceptor already knows are chosen, re-propose the highest-ballot
  // vote of every other slot up to the highest one reported, and fill the
  // holes with no-ops.
  // The re-proposals are not made at once: the Replica makes them in slot
  // order (next_takeover), as fast as it knows each slot's configuration
  // and holds its quorum's promises.
  struct Takeover {
    Slot chosen_elsewhere = kNoSlot;  // learn up to here from `learn_from` first
    NodeId learn_from = kNoNode;
    Slot serve_after = kNoSlot;  // serving once every slot up to here is chosen
  };
  Takeover become_leader(Slot own_chosen_through, bool fill_holes_with_noops);
  // The next re-proposal or no-op of the takeover, if any is left.
  bool takeover_pending() const { return takeover_next_ <= takeover_through_; }
  Slot takeover_next() const { return takeover_next_; }
  Slot takeover_through() const { return takeover_through_; }
  // The value for takeover_next(), and moves on; null for a hole that is
  // not filled (the leader_skips_noop_fill mutant).
  ValuePtr next_takeover();

  // ---- phase 2 ----
  // Registers `value` as proposed for `slot` in this ballot, to be decided
  // by `quorum`; returns the Accept.
  Accept propose_at(Slot slot, ValuePtr value, std::shared_ptr<const Quorum> quorum, Slot commit_index, TimeUs now);
  // A configuration value goes before the next batch.
  void enqueue_value(ValuePtr value) { pending_values_.push_back(std::move(value)); }
  // The next value to propose at next_slot(): a queued configuration value,
  // or a new batch of pending commands; null if none, the window is full or
  // the takeover is not done.
  ValuePtr cut_batch();
  Slot next_slot() const { return next_slot_; }
  size_t in_flight() const { return in_flight_.size(); }
  bool window_open() const { return in_flight_.size() < limits_.pipeline_window_slots; }

  // Returns the slot's entry when this vote completes its quorum.
  std::optional<ChosenEntry> on_accepted(NodeId from, const Accepted& accepted);
  // The slot became known as chosen some other way (catch-up).
  void forget(Slot slot) { in_flight_.erase(slot); }

  // Accepts that some peer has not answered within `retransmit_us`.
  struct Resend {
    NodeId to;
    Accept accept;
  };
  std::vector<Resend> due_resends(TimeUs now, int64_t retransmit_us, Slot commit_index, size_t max);

  // ---- client commands ----
  bool enqueue(Command command);  // false when the pending queue is full
  size_t pending() const { return pending_.size() + pending_values_.size(); }
  // A configuration value is in flight (proposed, not chosen) or queued.
  bool configuration_in_flight() const;

  // Leaves leadership or candidacy; returns the commands that never got a slot.
  std::vector<Command> stop();

 private:
  struct InFlight {
    ValuePtr value;
    std::shared_ptr<const Quorum> quorum;
    Votes votes;
    TimeUs sent_at = 0;
  };

  NodeId self_;
  const Limits& limits_;
  Phase phase_ = Phase::idle;
  Ballot ballot_;

  // phase 1
  Slot first_slot_ = kNoSlot;
  Votes promises_;
  std::map<Slot, AcceptedEntry> votes_seen_;  // highest-ballot vote per slot
  Slot chosen_elsewhere_ = kNoSlot;
  NodeId chosen_elsewhere_at_ = kNoNode;

  bool fill_holes_ = true;
  Slot takeover_next_ = 1;  // re-proposals left: [takeover_next_, takeover_through_]
  Slot takeover_through_ = kNoSlot;

  // phase 2
  Slot next_slot_ = kNoSlot;
  std::map<Slot, InFlight> in_flight_;
  std::deque<Command> pending_;
  std::deque<ValuePtr> pending_values_;
};

}  // namespace synod::paxos
