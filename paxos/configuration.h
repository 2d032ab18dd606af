// Configuration: who votes, who only learns, and where each member listens.
//
// A configuration is state chosen in the Multi-Paxos log (Lamport, Malkhi and
// Zhou, "Reconfiguring a State Machine", the α rule): a configuration value
// chosen at slot i governs every slot from i + kConfigAlphaSlots on, until
// the next one takes over. Every replica derives the configuration of slot s
// from the chosen prefix up to s - α alone, so all of them agree on which
// quorums decide s. docs/ARCHITECTURE.md ("Membership changes") says why the
// rule is safe and what else it needs (phase 1 per configuration, leases).
//
//   - voters answer Prepares and Accepts and are counted in quorums;
//   - learners receive Accepts, heartbeats and catch-up like voters, and
//     vote like acceptors, but no leader counts them in any quorum;
//   - next_id is the id the cluster gives the next member; ids below it that
//     name no member were removed and are never used again.
//
// Pure data; any thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "base/codec.h"
#include "paxos/types.h"

namespace synod::paxos {

// α: how many slots after the slot that chose it a configuration takes
// effect. A protocol constant, the same on every node (a per-node setting
// would let two nodes disagree on the quorum of a slot). A leader proposes
// at slot s only while s <= its chosen prefix + α, so it always knows the
// configuration of the slots it proposes in; a pipeline window wider than α
// is narrowed to α.
inline constexpr Slot kConfigAlphaSlots = 16;

// Where a member listens. Opaque to the core; the server fills them in.
struct MemberAddresses {
  std::string peer;
  std::string client;
  bool operator==(const MemberAddresses&) const = default;
};

struct Configuration {
  std::vector<NodeId> voters;                   // ascending, at most kVotersMax
  std::vector<NodeId> learners;                 // ascending, disjoint from voters
  NodeId next_id = kNoNode;                     // above every id ever used
  std::map<NodeId, MemberAddresses> addresses;  // may be empty (the simulator)

  bool operator==(const Configuration&) const = default;

  bool is_voter(NodeId node) const;
  bool is_learner(NodeId node) const;
  bool is_member(NodeId node) const { return is_voter(node) || is_learner(node); }
  // Ever a member and no longer one: it may not come back.
  bool removed(NodeId node) const { return node != kNoNode && node < next_id && !is_member(node); }
  // Voters followed by learners.
  std::vector<NodeId> members() const;
  // The bootstrap configuration of a new cluster: these voters, no learners.
  static Configuration of_voters(std::vector<NodeId> voters);
};

std::string to_string(const Configuration& configuration);

// Empty if `next` may follow `current` as one change, or a sentence saying
// why not. One change at a time means one of: add a learner (a fresh id,
// next_id above it), promote a learner, remove a member (voter or learner),
// or change addresses. Never fewer than one voter, never more than
// kVotersMax.
std::string check_change(const Configuration& current, const Configuration& next);

// The encoding inside a configuration value (value_codec.h):
//   varint voters, ids; varint learners, ids; varint next_id;
//   varint addresses, (varint id, bytes peer, bytes client) each.
void encode_configuration(const Configuration& configuration, Writer& writer);
// Returns false, with the reader failed, on malformed input or on a
// configuration that breaks the rules above (unsorted ids, a voter that is
// also a learner, an id at or above next_id, no voter, too many voters).
bool decode_configuration(Reader& reader, Configuration& out);

}  // namespace synod::paxos
