// Membership from the server's side (issue 20): where members listen, as the
// log's configuration says, and the changes asked over the API
// (POST/DELETE /v1/cluster/members), each answered once in effect.
//
// The log owns the member set and the addresses: paxos::Configuration's
// `addresses`. A cluster that never changed its membership holds no
// configuration value, so the bootstrap configuration's addresses come from
// the flags (--peers, --clients), or for a node that joined, from what the
// cluster told it (server/join.h). A change proposed here always carries
// every member's addresses, so from the first change on the log has them all.
//
// Pure functions, and MemberChanges, which the owner thread runs.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "http/node_api.h"
#include "paxos/configuration.h"
#include "paxos/replica.h"
#include "server/config.h"
#include "server/log.h"
#include "transport/peer_transport.h"

namespace synod::server {

// `configuration` with every member's addresses: the log's where it has
// them, else `fallback`'s (the flags'). A member neither names keeps none.
paxos::Configuration with_addresses(const paxos::Configuration& configuration, const std::vector<Member>& fallback);

// The members of `configuration` (voters, then learners) with their
// addresses as with_addresses finds them. A member whose addresses do not
// parse, or that has none, gets port 0 (never dialed).
std::vector<Member> members_of(const paxos::Configuration& configuration, const std::vector<Member>& fallback);

// Where the flags and the log's configuration disagree (other members, or
// other addresses), in one sentence; empty if they agree, or if the log
// holds no addresses (no change was ever chosen).
std::string flags_disagree(const paxos::Configuration& configuration, const std::vector<Member>& flags);

// The configuration one change makes of `current` (with addresses), or why
// not: `kind` is not_found (no such member), conflict (promoting a voter) or
// invalid (check_change's sentence, or an id out of range), `error` says
// why. Sets `id` to the member the change concerns (the new id of an add).
struct PlannedChange {
  http::MembersOutcome::Kind kind = http::MembersOutcome::Kind::ok;
  std::string error;
  uint32_t id = 0;
  paxos::Configuration next;
};
PlannedChange plan_change(const paxos::Configuration& current, const http::MemberChange& change, uint32_t id_max);

// The member `id` as the leader sees it (replica.peer; self: its own commit index).
http::MemberInfo member_info(const paxos::Replica& replica, const paxos::Configuration& configuration, uint32_t id,
                             int64_t now_us);

// GET /v1/cluster/members on the leader (not_leader elsewhere).
http::MembersOutcome list_members(const paxos::Replica& replica, const std::vector<Member>& fallback, int64_t now_us);

// Proposes `change` through `replica` (the serving leader). Returns the
// answer when there is one at once (not_leader, busy, invalid, not_found,
// conflict); otherwise the change is queued, and `planned` holds the
// configuration to wait for.
std::optional<http::MembersOutcome> propose_change(paxos::Replica& replica, const std::vector<Member>& fallback,
                                                   const http::MemberChange& change, uint32_t id_max, int64_t now_us,
                                                   PlannedChange& planned);

// Changes proposed over the API, each waiting until its configuration is in
// effect here (Replica::configuration_in_effect), or until its time is up.
// A change that removes this node itself is answered once chosen: the node
// hands leadership over and may hear of nothing after.
class MemberChanges {
 public:
  using Done = std::function<void(http::MembersOutcome)>;
  void started(paxos::Configuration next, uint32_t id, int64_t now_us, Done done);
  // Answers the changes that are over. Call at every tick and after flushes.
  void observe(const paxos::Replica& replica, int64_t now_us);
  // Answers every waiting change with `timed_out` (the node stops).
  void fail_all(const std::string& why);
  bool empty() const { return waiting_.empty(); }

 private:
  struct Waiting {
    paxos::Configuration next;
    uint32_t id = 0;
    int64_t started_us = 0;
    Done done;
  };
  std::vector<Waiting> waiting_;
};

// The node's side of it, on the owner thread: config.members follow the
// newest configuration the log holds (Replica::configuration), plus the
// members of the one in effect (a member being removed still votes until
// its removal is in effect, α slots after it was chosen: dropping its links
// at once could leave the old configuration without a majority to reach
// that slot), and the transport's peer set and the followers' forwarding
// addresses with them.
class Membership {
 public:
  Membership(Config& config, Log& log) : config_(config), log_(log) {}

  // After every flush, and once before the transport exists (null then).
  // The first call keeps the flags' members as the fallback addresses and
  // logs, once, where they disagree with the log, which it follows.
  void sync(const paxos::Replica& replica, transport::PeerTransport* transport);
  // The transport's members: self at its listen address, and every member
  // whose peer address is known.
  std::vector<transport::Member> peer_set() const;
  // /v1/cluster's voters, learners, change_in_progress and identity.
  void fill_view(const paxos::Replica& replica, uint64_t cluster_id, http::ClusterView& view) const;
  http::MembersOutcome list(const paxos::Replica& replica, int64_t now_us) const {
    return list_members(replica, flag_members_, now_us);
  }
  // Proposes `change`: answers at once and returns false, or returns true
  // (the caller flushes) and answers once the change is in effect. A node
  // that is `stopping` proposes nothing (not_leader).
  bool change(paxos::Replica& replica, const http::MemberChange& change, bool stopping, int64_t now_us,
              const MemberChanges::Done& done);
  void observe(const paxos::Replica& replica, int64_t now_us) {
    if (!changes_.empty()) changes_.observe(replica, now_us);
  }
  void fail_all(const std::string& why) { changes_.fail_all(why); }

 private:
  Config& config_;
  Log& log_;
  std::vector<Member> flag_members_;
  bool synced_ = false;
  bool removal_logged_ = false;
  paxos::Configuration synced_configuration_;
  paxos::Configuration synced_in_effect_;
  MemberChanges changes_;
};

}  // namespace synod::server
