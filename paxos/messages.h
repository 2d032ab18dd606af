// The messages replicas exchange. Each is a plain struct; Envelope carries one
// between two nodes. The transport (transport/) encodes them with the
// versioned codec in base/codec.h; the simulator passes them by value.
//
// Naming follows Paxos Made Simple: phase 1 is Prepare/Promise, phase 2 is
// Accept/Accepted. A Reject carries the higher ballot the acceptor knows, so
// a proposer that lost its ballot learns which round to beat.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "paxos/types.h"

namespace synod::paxos {

// Pre-prepare probe (the role Raft's pre-vote plays). Persists nothing and
// changes no promise. `ballot` is the ballot the sender would prepare.
struct Probe {
  Ballot ballot;
  Slot chosen_through = kNoSlot;
};

// granted: the sender, too, has not heard from a leader for an election
// timeout. `wait_us` is how much longer its lease promise (or restart guard)
// will refuse a Prepare; the prober waits that long before preparing, so a
// Prepare that a majority would refuse is never sent.
struct ProbeReply {
  Ballot ballot;
  bool granted = false;
  int64_t wait_us = 0;
};

// Phase 1a, for every slot from `first_slot` on. `nominated_by` is the ballot
// of a leader that handed leadership to the sender (zero if none): an
// acceptor holding a lease promise for exactly that ballot may promise at once.
struct Prepare {
  Ballot ballot;
  Slot first_slot = kNoSlot;
  Ballot nominated_by;
};

// Phase 1b. Every slot up to `chosen_through` is chosen and known to the
// acceptor; `accepted` lists what it accepted above max(first_slot - 1,
// chosen_through).
struct Promise {
  Ballot ballot;
  Slot first_slot = kNoSlot;
  Slot chosen_through = kNoSlot;
  std::vector<AcceptedEntry> accepted;
};

// Phase 2a. `commit_index` tells learners that every slot up to it is chosen.
struct Accept {
  Ballot ballot;
  Slot slot = kNoSlot;
  ValuePtr value;
  Slot commit_index = kNoSlot;
};

// Phase 2b.
struct Accepted {
  Ballot ballot;
  Slot slot = kNoSlot;
};

// An acceptor refused `ballot`. `promised` is the highest ballot it knows.
struct Reject {
  enum class Reason : uint8_t {
    stale_ballot = 0,  // promised > ballot
    lease_held = 1,    // a lease promise to another leader is still running
    restarting = 2,    // restarted less than one lease plus drift ago
    repairing = 3,     // its disk was lost or corrupt; it votes again after repair
  };
  enum class Refused : uint8_t { prepare = 0, accept = 1, heartbeat = 2 };

  Ballot ballot;
  Ballot promised;
  Reason reason = Reason::stale_ballot;
  Refused refused = Refused::prepare;
};

// The leader's heartbeat; also the commit notice when no Accept is flowing.
// `serving`: the leader's takeover is complete, so commit_index covers every
// slot chosen before this ballot (a repairing replica waits for that).
struct Heartbeat {
  Ballot ballot;
  uint64_t seq = 0;
  Slot commit_index = kNoSlot;
  bool serving = false;
};

struct HeartbeatAck {
  Ballot ballot;
  uint64_t seq = 0;
  Slot chosen_through = kNoSlot;
};

// A learner asks for chosen values from `from_slot` on.
struct CatchupRequest {
  Slot from_slot = kNoSlot;
};

// Chosen values, contiguous from entries.front().slot. `commit_index` is the
// sender's chosen-through. `snapshot_needed` says the sender no longer holds
// `from_slot` in its log: the requester needs a snapshot instead.
struct CatchupReply {
  Slot commit_index = kNoSlot;
  std::vector<ChosenEntry> entries;
  bool snapshot_needed = false;
};

// Leadership transfer: the leader with `ballot` has given up its lease and
// asks `successor` to prepare at once. Other acceptors release their lease
// promise for `ballot`.
struct Nominate {
  Ballot ballot;
  NodeId successor = kNoNode;
};

// A replica whose disk was lost or found corrupt asks the others what they
// promised (Paxos Made Live's repair). `ballot_floor` is the highest promise
// it has learned so far; a leader at or below it prepares again with a higher
// ballot, so that the repairing replica sees a Paxos instance that began
// after its repair.
struct RepairQuery {
  uint64_t nonce = 0;
  Ballot ballot_floor;
};

// `fresh`: the sender has never promised anything, accepted or learned a value.
struct RepairReport {
  uint64_t nonce = 0;
  Ballot promised;
  Slot chosen_through = kNoSlot;
  bool fresh = false;
};

// The core's messages only. The server's own peer traffic (snapshot
// transfer, forwarded client requests) is transport::ServerMessage: the
// transport carries the two as separate alternatives.
using Message = std::variant<Probe, ProbeReply, Prepare, Promise, Accept, Accepted, Reject, Heartbeat,
                             HeartbeatAck, CatchupRequest, CatchupReply, Nominate, RepairQuery, RepairReport>;

// For `if constexpr` chains over a variant's alternatives: a final
// `else static_assert(kUnhandled<T>)` makes a new alternative that the chain
// does not handle a compile error, not a message silently dropped.
template <typename T>
inline constexpr bool kUnhandled = false;

struct Envelope {
  NodeId from = kNoNode;
  NodeId to = kNoNode;
  Message message;
};

// Names for logs and transcripts: "Accept", "Promise", ...
const char* message_name(const Message& message);
// One line, for scenario transcripts: "Accept b=(2,1) slot=5 value=[...] commit=4".
std::string describe(const Message& message);

}  // namespace synod::paxos
