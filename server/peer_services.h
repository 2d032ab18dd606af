// PeerServices: what a node serves its peers beside consensus, over the same
// peer links.
//
//   forwarding         A follower forwards a client's command or keep-alive
//                      to the leader over the peer link rather than as HTTP:
//                      the leader then parses no HTTP and no JSON, and the
//                      follower answers its client itself. If the leader
//                      changes or the answer does not come in time, the
//                      client is told the outcome is unknown (504: retry with
//                      the same Idempotency-Key).
//   snapshot transfer  A replica that needs slots its peers compacted away
//                      (Ready::snapshot_from) fetches the peer's latest
//                      snapshot in chunks of at most kSnapshotChunkBytesMax,
//                      each checked against its CRC32C, resuming from the
//                      last offset it holds after kSnapshotChunkWaitMs. The
//                      whole image is checked against its CRC32C and handed
//                      to the node to restore and install.
//
// It owns the forwards in flight and the fetch in progress; everything else
// it asks of the node through Host.
//
// Owner thread. A chunk is read from the store on the storage thread (via
// Host::run_storage_task) and sent from the owner thread (via Host::post).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "http/node_api.h"
#include "lockservice/command.h"
#include "paxos/messages.h"
#include "transport/peer_message.h"
#include "server/driver.h"  // ProposalKey
#include "server/log.h"
#include "server/node_metrics.h"
#include "server/storage_thread.h"

namespace synod::server {

// A snapshot fetched whole from a peer, its checksum verified.
struct FetchedSnapshot {
  paxos::NodeId from = paxos::kNoNode;
  paxos::Slot slot = paxos::kNoSlot;
  std::vector<paxos::ConfigEntry> configurations;  // those after `slot`, as the peer's snapshot keeps them
  std::string bytes;
  int64_t started_us = 0;  // when the fetch began
};

class PeerServices {
 public:
  // What the services need of the node. The node implements it; every call
  // but post comes from the owner thread.
  class Host {
   public:
    virtual ~Host() = default;
    virtual paxos::NodeId known_leader() const = 0;  // the replica's leader, kNoNode if none
    virtual bool is_leader() const = 0;              // the replica's role is leader
    virtual bool send_to_peer(const transport::PeerEnvelope& envelope) = 0;
    // The node's own paths for a command and a keep-alive (a leader answers
    // them; a follower answers not_leader, never forwarding again).
    virtual void propose_now(lockservice::Command command, const lockservice::Credential& credential, ProposalKey key,
                             std::function<void(http::Outcome)> done) = 0;
    virtual void keep_alive_here(lockservice::SessionId session, lockservice::Credential credential,
                                 std::function<void(http::KeepAliveOutcome)> done) = 0;
    // A linearizable read's revision, here (the leader): ok false if none is allowed.
    virtual void read_index_here(std::function<void(bool ok, paxos::NodeId leader, uint64_t revision)> done) = 0;
    virtual void run_storage_task(StorageThread::Task task) = 0;
    virtual void post(std::function<void()> fn) = 0;  // any thread: runs fn on the owner thread
    // Restores and installs a fetched snapshot (the node owns the state).
    virtual void install_snapshot(FetchedSnapshot snapshot) = 0;
  };

  PeerServices(paxos::NodeId self, Host& host, Log& log, NodeMetrics& metrics);

  // ---- forwarding ----
  // Sends a command (or a keep-alive) to the leader; false if there is none
  // but us, too many forwards wait, or the link refused it. Otherwise `done`
  // gets the leader's answer or, after kForwardMsMax, "unknown".
  bool forward_to_leader(transport::ForwardRequest request, std::function<void(http::Outcome)> done);
  bool forward_to_leader(transport::ForwardRequest request, std::function<void(http::KeepAliveOutcome)> done);
  void on_forward_request(paxos::NodeId from, transport::ForwardRequest request);
  void on_forward_reply(const transport::ForwardReply& reply);
  // Forwards whose answer can no longer come end as "unknown outcome": those
  // to a leader that is not the leader any more or past their deadline, or
  // (only_to_lost_leader false: the node stops) every one.
  void fail_forwarded(bool only_to_lost_leader);
  // Sends again each forward its leader has not answered for
  // kForwardResendMs: a peer link that closed (a restart of the link, a CA
  // rotation: tls_reload.h) loses what was on it. The leader answers a
  // command it already has once (the driver joins a (client, seq) in flight;
  // the state machine's exactly-once table answers one already applied), and
  // a keep-alive renews again. The first reply is used; later ones are dropped.
  void resend_forwarded(int64_t now_us);
  size_t forwards_waiting() const { return forwarded_.size(); }

  // ---- snapshot transfer ----
  // The replica asks for a snapshot from `from` (Ready::snapshot_from);
  // ignored while a fetch runs.
  void start_fetch(paxos::NodeId from, paxos::Slot applied_slot);
  // Once per tick: a fetch that heard nothing in time asks again.
  void resume_fetch(int64_t now_us);
  void serve_snapshot_chunk(paxos::NodeId to, const transport::SnapshotRequest& request);
  void on_snapshot_chunk(paxos::NodeId from, transport::SnapshotChunk chunk);

 private:
  struct Forwarded {
    paxos::NodeId to;
    std::function<void(http::Outcome)> proposed;          // set for a command
    std::function<void(http::KeepAliveOutcome)> renewed;  // set for a keep-alive
    int64_t deadline_us;
    // The request, resent while unanswered (resend_forwarded), and when it last went.
    transport::ForwardRequest request = {};
    int64_t sent_us = 0;
  };
  // Fetching a snapshot from a peer, chunk by chunk.
  struct SnapshotFetch {
    bool active = false;
    paxos::NodeId from = paxos::kNoNode;
    paxos::Slot slot = paxos::kNoSlot;  // kNoSlot until the first chunk names it
    std::vector<paxos::ConfigEntry> configurations;
    std::string bytes;
    uint64_t total_bytes = 0;
    uint32_t total_crc32c = 0;
    int64_t deadline_us = 0;
    int64_t started_us = 0;
  };

  bool forward(transport::ForwardRequest request, Forwarded pending);
  void request_snapshot_chunk();
  void finish_fetch();

  const paxos::NodeId self_;
  Host& host_;
  Log& log_;
  NodeMetrics& metrics_;
  std::map<uint64_t, Forwarded> forwarded_;  // at most kForwardedMax
  uint64_t next_forward_id_ = 0;
  SnapshotFetch fetch_;
};

}  // namespace synod::server
