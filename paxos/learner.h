// Learner: knows which values are chosen and hands them out strictly in slot
// order.
//
// Owns the chosen log in memory: a contiguous run of recent chosen values
// (kept for catch-up of lagging peers, up to a retention bound) and the values
// learned out of order above the first gap. It checks agreement locally: a
// slot learned twice must be learned with the same value.
//
// The retention bound is in slots and in bytes, and the bytes count what a
// value really holds in memory (retained_bytes_of), not only its payload.
// A bound in slots alone let a steady load hold a million slots of about
// 1.3 KiB each, well over 1 GiB for a state of a few MB (issue 23); a peer
// that lags further than what is retained gets a snapshot instead.
//
// Owned by the Replica's thread.
#pragma once

#include <deque>
#include <map>
#include <vector>

#include "paxos/types.h"

namespace synod::paxos {

class Learner {
 public:
  // `recovered` is the durable chosen log, contiguous from snapshot_slot + 1.
  Learner(Slot snapshot_slot, const std::vector<ChosenEntry>& recovered, size_t retention_slots,
          size_t retention_bytes);

  // Every slot up to here is chosen and known.
  Slot chosen_through() const { return log_base_ + log_.size(); }
  // The highest slot known to be chosen (there may be gaps below it).
  Slot highest_chosen() const;
  bool knows(Slot slot) const;

  // `value` is chosen for `slot`.
  void learn(Slot slot, const ValuePtr& value);

  // A snapshot of the state after `slot` was installed: every slot up to it
  // counts as chosen and handed out, and the values below are no longer held.
  void jump_to(Slot slot);

  bool has_new() const { return handed_out_ < chosen_through(); }
  // Entries that became contiguous since the last take, in order: the caller
  // persists them to the chosen log and applies them.
  std::vector<ChosenEntry> take_newly_chosen();

  // Chosen entries from `from` on, bounded; empty if `from` is below what
  // this learner still holds (the asker needs a snapshot).
  std::vector<ChosenEntry> entries_from(Slot from, size_t entries_max, size_t bytes_max) const;
  // The chosen value of a slot from first_retained() to chosen_through();
  // null outside that range.
  ValuePtr value_at(Slot slot) const;
  // The first slot whose value is still held in memory.
  Slot first_retained() const { return log_base_ + 1; }
  // What the contiguous log holds now, for the memory accounting.
  size_t retained_slots() const { return log_.size(); }
  size_t retained_bytes() const { return retained_bytes_; }

  // The heap a chosen value holds: its payload, its commands and the shared
  // Value block. An estimate of the allocator's own overhead included, so
  // that a log of no-ops is bounded too.
  static size_t retained_bytes_of(const Value& value);

 private:
  void append(ValuePtr value);
  void trim();

  Slot log_base_;               // log_[0] is slot log_base_ + 1
  std::deque<ValuePtr> log_;    // contiguous chosen values
  std::map<Slot, ValuePtr> ahead_;  // chosen above the first gap
  Slot handed_out_;             // the last slot returned by take_newly_chosen
  size_t retention_slots_;
  size_t retention_bytes_;
  size_t retained_bytes_ = 0;  // retained_bytes_of every value in log_
};

}  // namespace synod::paxos
