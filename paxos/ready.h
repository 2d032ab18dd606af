// Ready: everything one turn of a Replica asks its driver to do.
//
// THE DURABILITY CONTRACT. `persist` must be written to stable storage and
// synced BEFORE any message in `messages_after_sync` leaves the node. Those
// are the Promises and Accepteds: an acceptor that reports a promise or a vote
// it could forget in a crash breaks Paxos. The type enforces the order:
// messages_after_sync can only be opened with the SyncReceipt that the storage
// hands back for this Ready's id (or a later one). Storage completes syncs in
// the order of ids, so a receipt for id N covers every Ready up to N.
//
// `messages` may leave at once. In particular a leader's Accepts go out while
// its own accept is being written (DESIGN §1): the leader's own Accepted to
// itself is in messages_after_sync like any other, so its vote counts only
// once durable. Messages addressed to the replica itself are delivered back to
// it with Replica::step by the driver.
//
// `apply` lists newly chosen values in slot order, with no gaps, starting
// right after the last slot handed out before. They are chosen by a durable
// majority, so they may be applied before `persist` is synced.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "base/assert.h"
#include "paxos/config_history.h"
#include "paxos/messages.h"
#include "paxos/types.h"

namespace synod::paxos {

// The acceptor and learner state one Ready changes.
struct PersistBatch {
  uint64_t ready_id = 0;
  std::optional<Ballot> promised;      // the new promised ballot, if it changed
  std::vector<AcceptedEntry> accepted;  // votes cast in this turn, ascending slots
  std::vector<ChosenEntry> chosen;      // newly chosen, contiguous, ascending

  bool empty() const { return !promised && accepted.empty() && chosen.empty(); }
};

// Proof that every PersistBatch up to `ready_id` is on stable storage. Only a
// storage implementation makes one, after its sync returned.
class SyncReceipt {
 public:
  explicit SyncReceipt(uint64_t ready_id) : ready_id_(ready_id) {}
  uint64_t ready_id() const { return ready_id_; }

 private:
  uint64_t ready_id_;
};

// Messages that may leave only after the sync of Ready `ready_id`.
class AfterSync {
 public:
  AfterSync() = default;
  AfterSync(uint64_t ready_id, std::vector<Envelope> messages)
      : ready_id_(ready_id), messages_(std::move(messages)) {}

  bool empty() const { return messages_.empty(); }
  size_t size() const { return messages_.size(); }
  uint64_t ready_id() const { return ready_id_; }

  std::vector<Envelope> release(const SyncReceipt& receipt) && {
    SYNOD_ASSERT_MSG(receipt.ready_id() >= ready_id_,
                     "Promise/Accepted released before the state it reports was synced");
    return std::move(messages_);
  }

  // For scenario tests and transcripts only: look without releasing.
  const std::vector<Envelope>& peek() const { return messages_; }

 private:
  uint64_t ready_id_ = 0;
  std::vector<Envelope> messages_;
};

// A linearizable read may be served once the local state machine has applied
// `index` (DESIGN §3: under a valid lease at once, otherwise after a quorum
// round confirmed this node still leads).
struct ReadGrant {
  uint64_t read_id = 0;
  Slot index = kNoSlot;
  // Granted on the lease alone, at once (rather than after a quorum round).
  bool under_lease = false;
};

enum class Role : uint8_t { follower = 0, candidate = 1, leader = 2 };
const char* role_name(Role role);

// Published whenever role, leader or ballot change.
struct SoftState {
  Role role = Role::follower;
  NodeId leader = kNoNode;  // kNoNode: no leader known
  Ballot ballot;            // the highest ballot this node has promised or led
  bool serving = false;     // a leader whose takeover slots are all chosen
  bool voting = true;       // false while repairing after a lost or corrupt disk
  // A leader that won phase 1 the ordinary way, after its acceptors' lease
  // promises to the previous leader ran out; false when it was nominated (a
  // leadership transfer) or prepared again itself. Only in the first case has
  // at least a lease of real time passed since the last chosen entry.
  bool lease_waited = false;

  bool operator==(const SoftState&) const = default;
};

struct Ready {
  uint64_t id = 0;
  PersistBatch persist;
  std::vector<Envelope> messages;
  AfterSync messages_after_sync;
  std::vector<ChosenEntry> apply;
  std::vector<ReadGrant> reads;
  // Reads that can no longer be granted here (this node stopped leading).
  std::vector<uint64_t> reads_failed;
  // Commands that never got a slot because this node stopped leading; they
  // were not and will not be chosen unless proposed again.
  std::vector<Command> dropped;
  std::optional<SoftState> soft_state;
  // This node needs slots no peer still holds in its log: the driver should
  // fetch a snapshot from this node and call Replica::install_snapshot.
  NodeId snapshot_from = kNoNode;

  bool empty() const {
    return persist.empty() && messages.empty() && messages_after_sync.empty() && apply.empty() &&
           reads.empty() && reads_failed.empty() && dropped.empty() && !soft_state && snapshot_from == kNoNode;
  }
};

// What a replica finds on its disk at start.
struct DurableState {
  Ballot promised;
  std::vector<AcceptedEntry> accepted;  // ascending slots
  // The chosen log, contiguous and ascending, starting right after the
  // snapshot the state machine restored (or at slot 1).
  std::vector<ChosenEntry> chosen;
  Slot snapshot_slot = kNoSlot;
  // The configurations that govern the slots after snapshot_slot, as the
  // snapshot recorded them (Replica::configurations_from); empty: the
  // bootstrap configuration of Options, from slot 1.
  std::vector<ConfigEntry> configurations;
};

}  // namespace synod::paxos
