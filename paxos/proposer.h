// Proposer: phase 1 once for all slots, then phase 2 for each slot, pipelined
// and batched.
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

  Proposer(NodeId self, const Quorum& quorum, const Limits& limits);

  Phase phase() const { return phase_; }
  const Ballot& ballot() const { return ballot_; }

  // ---- phase 1 ----
  void begin_prepare(const Ballot& ballot, Slot first_slot);
  // Returns true when this promise completes a quorum.
  bool on_promise(NodeId from, const Promise& promise);

  // What a new leader must do before it serves (DESIGN §3): learn the slots
  // some acceptor already knows are chosen, re-propose the highest-ballot
  // vote of every other slot up to the highest one reported, and fill the
  // holes with no-ops.
  struct Takeover {
    Slot chosen_elsewhere = kNoSlot;  // learn up to here from `learn_from` first
    NodeId learn_from = kNoNode;
    std::vector<ChosenEntry> proposals;  // re-proposals and no-ops, ascending
    Slot serve_after = kNoSlot;          // serving once every slot up to here is chosen
  };
  Takeover become_leader(Slot own_chosen_through, bool fill_holes_with_noops);

  // ---- phase 2 ----
  // Registers `value` as proposed for `slot` in this ballot; returns the Accept.
  Accept propose_at(Slot slot, ValuePtr value, Slot commit_index, TimeUs now);
  // A new batch of pending commands, or null if none or the window is full.
  ValuePtr cut_batch();
  Slot next_slot() const { return next_slot_; }
  size_t in_flight() const { return in_flight_.size(); }
  bool window_open() const { return in_flight_.size() < limits_.pipeline_window_slots; }

  // Returns the slot's entry when this vote completes a quorum for it.
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
  size_t pending() const { return pending_.size(); }

  // Leaves leadership or candidacy; returns the commands that never got a slot.
  std::vector<Command> stop();

 private:
  struct InFlight {
    ValuePtr value;
    Votes votes;
    TimeUs sent_at = 0;
  };

  NodeId self_;
  const Quorum& quorum_;
  const Limits& limits_;
  Phase phase_ = Phase::idle;
  Ballot ballot_;

  // phase 1
  Slot first_slot_ = kNoSlot;
  Votes promises_;
  std::map<Slot, AcceptedEntry> votes_seen_;  // highest-ballot vote per slot
  Slot chosen_elsewhere_ = kNoSlot;
  NodeId chosen_elsewhere_at_ = kNoNode;

  // phase 2
  Slot next_slot_ = kNoSlot;
  std::map<Slot, InFlight> in_flight_;
  std::deque<Command> pending_;
};

}  // namespace synod::paxos
