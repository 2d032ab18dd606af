// Acceptor: the durable voter of Paxos.
//
// Owns the promised ballot and the accepted (ballot, value) per slot. It never
// breaks a promise: it accepts a ballot only if no higher one was promised, and
// every change it makes is reported to the Replica for the Ready's persist
// batch, so the Promise or Accepted that reports it leaves only after it is on
// disk.
//
// It keeps in memory only the slots above its learner's chosen-through point:
// below that, the chosen log answers for it (a Promise says "chosen through
// C" instead of listing votes for slots that are known to be chosen).
//
// Lease promises and the restart guard are the Replica's concern: they decide
// whether a Prepare reaches this class at all.
//
// Owned by the Replica's thread.
#pragma once

#include <map>
#include <optional>
#include <vector>

#include "paxos/messages.h"
#include "paxos/types.h"

namespace synod::paxos {

class Acceptor {
 public:
  Acceptor(Ballot promised, const std::vector<AcceptedEntry>& accepted);

  const Ballot& promised() const { return promised_; }

  // Phase 1b (Paxos Made Simple: "If an acceptor receives a prepare request
  // with number n greater than that of any prepare request to which it has
  // already responded, then it responds to the request with a promise not to
  // accept any more proposals numbered less than n and with the
  // highest-numbered proposal (if any) that it has accepted."). A repeat of
  // the promised ballot is answered again. Returns false if a higher ballot
  // was promised.
  bool prepare(const Ballot& ballot);

  // The votes to report in a Promise: slots above max(first_slot - 1, chosen_through).
  std::vector<AcceptedEntry> accepted_from(Slot first_slot, Slot chosen_through) const;

  // Phase 2b ("An acceptor can accept a proposal numbered n iff it has not
  // responded to a prepare request having a number greater than n.").
  bool accept(const Ballot& ballot, Slot slot, const ValuePtr& value);

  // A heartbeat or Accept of a higher ballot than promised means its sender
  // won phase 1 without us; promising it is safe and keeps us from accepting
  // older ballots.
  void observe(const Ballot& ballot);

  const AcceptedEntry* accepted_at(Slot slot) const;
  // Slots up to `slot` are chosen and in the chosen log; drop their votes from memory.
  void forget_through(Slot slot);

  // Changes since the last take, for the persist batch.
  std::optional<Ballot> take_promised_change();
  std::vector<AcceptedEntry> take_accepted_changes();

  bool dirty() const { return promised_dirty_ || !accepted_dirty_.empty(); }
  // Never promised, never voted (in memory: votes of chosen slots are dropped).
  bool untouched() const { return promised_.is_zero() && accepted_.empty(); }

 private:
  Ballot promised_;
  std::map<Slot, AcceptedEntry> accepted_;
  bool promised_dirty_ = false;
  std::vector<AcceptedEntry> accepted_dirty_;
};

}  // namespace synod::paxos
