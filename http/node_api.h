// NodeApi: what the HTTP layer may ask of the node it serves. The server's
// Node implements it; the HTTP layer holds no consensus state (DESIGN §2).
//
// Threads: every method may be called from any thread. Callbacks run on the
// node's owner thread, once each; they must be quick (copy what they need
// and hand the rest back to their own thread).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "http/request.h"
#include "lockservice/command.h"
#include "lockservice/state_machine.h"
#include "lockservice/types.h"

namespace synod::http {

struct MemberView {
  uint32_t id = 0;
  std::string peer_addr;
  std::string client_addr;
  bool self = false;
  bool connected = false;        // our link to it is up (self: true)
  uint64_t chosen_through = 0;   // as the leader last heard (the leader only)
  int64_t last_contact_ms = -1;  // since it was last heard from; -1: never
};

// This node's part in the cluster, as the HTTP layer sees it (the node maps
// the Paxos core's roles onto it).
enum class Role : uint8_t { follower, candidate, leader };
// "follower", "candidate", "leader": the word the JSON views and the status
// page show.
constexpr const char* role_name(Role role) {
  switch (role) {
    case Role::follower: return "follower";
    case Role::candidate: return "candidate";
    case Role::leader: return "leader";
  }
  return "follower";
}

// The versions a node speaks and writes (server/version.h).
struct VersionView {
  std::string synod;  // the package's, e.g. "0.2.0"
  uint32_t protocol = 0;
  uint32_t storage_format = 0;
  uint32_t snapshot_format = 0;
  uint32_t backup_format = 0;
};

struct ClusterView {
  uint32_t self = 0;
  Role role = Role::follower;
  uint32_t leader = 0;          // 0: none known
  uint64_t ballot_round = 0;
  uint32_t ballot_node = 0;
  uint64_t commit_index = 0;    // slots chosen and known here
  uint64_t applied_revision = 0;
  uint64_t leader_commit_index = 0;  // the commit index last heard from a leader
  bool serving = false;         // a leader whose takeover is complete
  bool voting = true;           // false while repairing after a lost or corrupt disk
  bool sees_quorum = false;     // leader: lease valid; follower: heard from a leader within the election timeout
  bool lease_valid = false;
  int64_t last_leader_contact_ms = -1;
  std::vector<MemberView> members;
  // The newest configuration this node knows (paxos Replica::configuration).
  std::vector<uint32_t> voters;
  std::vector<uint32_t> learners;
  bool change_in_progress = false;
  std::string cluster_id;    // hex, as TLS certificates name it
  std::string cluster_name;  // --cluster-id
  VersionView version;
};

// How a proposal ended.
struct Outcome {
  enum class Kind : uint8_t {
    applied,     // chosen and applied: `result` is the state machine's answer
    not_leader,  // this node does not lead; `leader` may name who does (0: unknown). Not chosen.
    busy,        // the leader's queue is full; not chosen. Retry later.
    timeout,     // no answer in time: it may or may not have been chosen
    stopping,    // the node is shutting down; it may or may not have been chosen
  };
  Kind kind = Kind::applied;
  uint32_t leader = 0;
  lockservice::Result result;
  uint64_t revision = 0;  // the revision the answer reflects
};

// What a read may look at, on the owner thread.
struct ReadContext {
  bool ok = false;        // false: not allowed here (not_leader) or timed out
  uint32_t leader = 0;
  uint64_t revision = 0;  // the applied revision the state reflects
  const lockservice::StateMachine* machine = nullptr;  // valid during the callback only
};

struct KeepAliveOutcome {
  // unauthenticated, permission_denied: auth is on and the credential may not
  // keep this session alive (lockservice/auth.h: only its owner, or an admin).
  enum class Kind : uint8_t { ok, not_leader, expired, unauthenticated, permission_denied } kind = Kind::ok;
  uint32_t leader = 0;
  int64_t valid_for_ms = 0;
};

// A backup (GET /v1/snapshot).
struct BackupOutcome {
  enum class Kind : uint8_t {
    ok,           // `file` is the backup file (lockservice/backup_file.h)
    unavailable,  // this node cannot serve one now (no leader it sees, or repairing)
    busy,         // a backup is already being taken here
    failed,       // the node could not produce it; `error` says why
  };
  Kind kind = Kind::ok;
  uint64_t revision = 0;  // the revision the backup holds (or the node's, if none)
  std::string file;
  std::string error;
};

// One member as the leader sees it (GET /v1/cluster/members).
struct MemberInfo {
  uint32_t id = 0;
  bool voter = true;
  std::string peer_addr;
  std::string client_addr;
  uint64_t chosen_through = 0;
  uint64_t lag_slots = 0;
  int64_t last_ack_ms_ago = -1;  // -1: never heard (and always for the leader itself)
};

// The members, or how a membership change ended.
struct MembersOutcome {
  enum class Kind : uint8_t {
    ok,          // listed, or the change is in effect
    not_leader,  // this node does not lead; `leader` may name who does
    busy,        // another change is in progress
    invalid,     // the change breaks a rule; `error` says which
    not_found,   // no member has that id
    conflict,    // the member is a voter already
    timed_out,   // proposed, but not in effect within the request deadline
  };
  Kind kind = Kind::ok;
  uint32_t leader = 0;
  std::vector<MemberInfo> members;  // a list: every member; a change: the member it changed
  uint32_t next_id = 0;
  uint64_t configuration_slot = 0;  // the slot that chose the configuration listed (0: the bootstrap one)
  bool change_in_progress = false;
  std::string error;
  int64_t took_ms = 0;
};

// A leadership transfer (POST /v1/cluster/leader/transfer).
struct TransferOutcome {
  enum class Kind : uint8_t {
    moved,       // `to` leads now
    not_leader,  // this node does not lead; `leader` may name who does
    refused,     // the target cannot take over; `error` says why
    timed_out,   // handed over, but `to` did not lead in time (an election follows)
  };
  Kind kind = Kind::moved;
  uint32_t from = 0;
  uint32_t to = 0;
  uint32_t leader = 0;  // the leader as this node knows it at the answer
  int64_t took_ms = 0;
  std::string error;
};

class NodeApi {
 public:
  virtual ~NodeApi() = default;

  virtual ClusterView cluster() const = 0;

  // Proposes `command` (this node must lead). (client_id, seq) names it for
  // exactly-once: a retry with the same pair gets the first answer.
  // `credential` is the request's (lockservice/auth.h): the state machine
  // judges it when the command is applied.
  virtual void propose(lockservice::Command command, lockservice::Credential credential,
                       lockservice::ClientId client_id, uint64_t seq, std::function<void(Outcome)> done) = 0;

  // Runs `read` once a linearizable read is allowed here (DESIGN §3), or at
  // once on the local state if `stale`.
  virtual void read(bool stale, std::function<void(const ReadContext&)> read) = 0;

  // Runs `read` on the local state once the applied revision passes
  // `after_revision`, or when `timeout_ms` passes (ok = false then). For
  // long-polls and streams: call again with the revision it reported.
  virtual void wait_for(uint64_t after_revision, int64_t timeout_ms, std::function<void(const ReadContext&)> read) = 0;

  // The events after `after` that pass `filter`, from this node's watch
  // history on disk (server/event_history.h), for a stream whose index fell
  // out of the event window; about `limit`, whole revisions. `done` runs on
  // another thread. Status::compacted for what the history no longer holds,
  // or when the node keeps none.
  virtual void history(uint64_t after, lockservice::EventFilter filter, size_t limit,
                       std::function<void(lockservice::Events)> done) = 0;

  // Answers a keep-alive from the leader's memory (lockservice/session_keeper.h).
  // With auth on, only the session's owner (or an admin) may keep it alive,
  // judged against the auth state the leader has applied.
  virtual void keep_alive(lockservice::SessionId session, lockservice::Credential credential,
                          std::function<void(KeepAliveOutcome)> done) = 0;

  // A backup file of this node's state at one revision: on the leader after
  // a linearizable read, so it holds every write acknowledged before the
  // call; on a follower that hears from a leader, its applied state (as
  // etcd's snapshot save serves a member's own). `allowed` runs first, on the
  // owner thread against that state; false means it answered the request
  // itself and nothing is taken. `done` runs on another thread.
  virtual void backup(std::function<bool(const ReadContext&)> allowed, std::function<void(BackupOutcome)> done) = 0;

  // Hands leadership to member `to` (0: the most caught-up member), through
  // the same handoff a leader stopping on SIGTERM makes, and answers once `to`
  // leads or the handoff's time is up. `allowed` as for backup. `done` runs
  // on the owner thread.
  virtual void transfer_leadership(uint32_t to, std::function<bool(const ReadContext&)> allowed,
                                   std::function<void(TransferOutcome)> done) = 0;

  // The members as the leader sees them (their progress is the leader's
  // view); not_leader on a follower. `allowed` as for backup.
  virtual void members(std::function<bool(const ReadContext&)> allowed, std::function<void(MembersOutcome)> done) = 0;

  // Proposes one membership change (the leader only) and answers once the
  // new configuration is in effect, or with why not. `allowed` as for
  // backup. `done` runs on the owner thread.
  virtual void change_member(MemberChange change, std::function<bool(const ReadContext&)> allowed,
                             std::function<void(MembersOutcome)> done) = 0;

  // A fresh client id for a request that brought no Idempotency-Key.
  virtual lockservice::ClientId new_client_id() = 0;
};

}  // namespace synod::http
