// ZkNode: what the ZooKeeper listener may ask of the node it serves, and
// ZnodeSink: how the node hands it the events each applied command fires.
// The server implements ZkNode (server/zookeeper_port.h); the listener holds
// no consensus state, like the HTTP layer (DESIGN §2).
//
// Threads: every ZkNode method may be called from any thread. Callbacks run
// on the node's owner thread, once each; they must be quick (copy what they
// need and post the rest to the listener's thread). ZnodeSink's method runs
// on the owner thread too, in apply order.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "lockservice/command.h"
#include "lockservice/state_machine.h"
#include "lockservice/types.h"

namespace synod::zkserver {

// How a proposal ended.
struct Proposed {
  // applied: chosen and applied, `result` is the state machine's answer and
  // `revision` the revision it reflects. unknown: not answered in time or the
  // leader was lost, and it may or may not have been chosen. refused: not
  // chosen (no leader, a full queue, stopping).
  enum class Kind : uint8_t { applied, unknown, refused };
  Kind kind = Kind::applied;
  lockservice::Result result;
  uint64_t revision = 0;
};

// A read of this node's applied state, on the owner thread.
struct Snapshot {
  bool ok = false;                                     // false: no read allowed (no leader reachable, or timed out)
  uint64_t revision = 0;                               // the applied revision the state reflects
  const lockservice::StateMachine* machine = nullptr;  // valid during the callback only
};

struct Renewal {
  // live: renewed for `valid_for_ms`; expired: no such session (any more);
  // unknown: no leader answered, so the session is neither renewed nor known dead.
  enum class Kind : uint8_t { live, expired, unknown } kind = Kind::unknown;
  int64_t valid_for_ms = 0;
};

// What the four-letter words report of the node.
struct NodeStatus {
  std::string mode;  // "leader", "follower" or "candidate" (srvr's Mode, mntr's zk_server_state)
  uint64_t revision = 0;
  uint64_t znodes = 0;
  uint64_t znode_bytes = 0;
  std::string version;  // the package's
};

class ZnodeSink {
 public:
  virtual ~ZnodeSink() = default;
  // The events one applied command fired (never empty), on the owner thread.
  virtual void on_znode_events(const lockservice::ZnodeEvents& events) = 0;
};

class ZkNode {
 public:
  virtual ~ZkNode() = default;
  // Proposes `command` through the leader; (client_id, seq) names it for
  // exactly-once. The listener's commands carry no credential.
  virtual void propose(lockservice::Command command, lockservice::ClientId client_id, uint64_t seq,
                       std::function<void(Proposed)> done) = 0;
  // Runs `read` on this node's state once it reflects every write
  // acknowledged before the call: on the leader after its read index; on a
  // follower after it asked the leader for its read index and applied that
  // far. Linearizable on any node.
  virtual void read(std::function<void(const Snapshot&)> read) = 0;
  // Runs `read` on this node's state once it has applied `revision`, or
  // after `timeout_ms` with ok false.
  virtual void wait_applied(uint64_t revision, int64_t timeout_ms, std::function<void(const Snapshot&)> read) = 0;
  // Renews `session` at the leader.
  virtual void keep_alive(lockservice::SessionId session, std::function<void(Renewal)> done) = 0;
  virtual lockservice::ClientId new_client_id() = 0;
  virtual NodeStatus status() const = 0;
  // Every later applied command's events go to `sink` (null: nowhere). The
  // sink must outlive the node's owner thread or be unset first.
  virtual void set_znode_sink(ZnodeSink* sink) = 0;
  // The cluster's id (hex), for the session passwords.
  virtual std::string cluster_id() const = 0;
};

}  // namespace synod::zkserver
