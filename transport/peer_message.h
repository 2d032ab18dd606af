// The server's own peer traffic, and what the peer link carries.
//
// The Paxos core's messages are paxos::Message; the server's (snapshot
// transfer, and client requests a follower forwards to the leader) are not
// the core's business and live here. A PeerEnvelope carries either, as
// separate alternatives, so the core never sees a message it does not handle
// (Replica::dispatch checks at compile time that it handles every
// paxos::Message) and the server routes its own before stepping the core.
//
// Plain data; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "paxos/config_history.h"
#include "paxos/messages.h"

namespace synod::transport {

// Snapshot transfer, for a replica that needs slots its peers have compacted
// away (CatchupReply.snapshot_needed). The Replica only asks for a snapshot
// (Ready::snapshot_from) and installs one (Replica::install_snapshot); the
// server moves the bytes, from its storage, in bounded chunks that each
// carry a CRC32C, resumable by offset. `slot` 0 in a request means "your
// latest".
struct SnapshotRequest {
  paxos::Slot slot = paxos::kNoSlot;
  uint64_t offset = 0;
};

struct SnapshotChunk {
  paxos::Slot slot = paxos::kNoSlot;  // kNoSlot: the sender has no snapshot
  // The configurations that govern the slots after `slot` (the snapshot's,
  // persistence::SnapshotInfo), handed to Replica::install_snapshot and saved
  // with the image. In every chunk, so a fetch may resume anywhere.
  std::vector<paxos::ConfigEntry> configurations;
  uint64_t offset = 0;
  std::string bytes;
  uint32_t crc32c = 0;  // of bytes
  uint64_t total_bytes = 0;
  uint32_t total_crc32c = 0;  // of the whole snapshot
  bool last = false;
};

// Client traffic a follower hands to the leader over the peer link, and the
// leader's answer (the server's, like the snapshot messages: the Replica
// never sees them). `payload` is opaque here: an encoded command or
// keep-alive one way, an encoded result the other. Cheaper than forwarding
// the client's HTTP request: the leader parses no HTTP and no JSON.
struct ForwardRequest {
  // read_index (protocol 4): the leader's revision after a linearizable
  // read, for a follower's ZooKeeper read (zkserver/zk_node.h).
  enum class Kind : uint8_t { propose = 0, keep_alive = 1, read_index = 2 };
  uint64_t request_id = 0;
  Kind kind = Kind::propose;
  uint64_t client_id = 0;
  uint64_t seq = 0;
  std::string payload;
};

struct ForwardReply {
  uint64_t request_id = 0;
  uint8_t outcome = 0;  // the server's outcome code
  paxos::NodeId leader = paxos::kNoNode;
  uint64_t revision = 0;
  std::string payload;
};

using ServerMessage = std::variant<SnapshotRequest, SnapshotChunk, ForwardRequest, ForwardReply>;
using PeerMessage = std::variant<paxos::Message, ServerMessage>;

struct PeerEnvelope {
  paxos::NodeId from = paxos::kNoNode;
  paxos::NodeId to = paxos::kNoNode;
  PeerMessage message;

  PeerEnvelope() = default;
  PeerEnvelope(paxos::NodeId from_node, paxos::NodeId to_node, PeerMessage peer_message)
      : from(from_node), to(to_node), message(std::move(peer_message)) {}
  // The core's envelope, as the core made it.
  PeerEnvelope(paxos::Envelope envelope)  // NOLINT(google-explicit-constructor): a core envelope is a peer envelope
      : from(envelope.from), to(envelope.to), message(std::move(envelope.message)) {}
};

// Names for logs: the core's ("Accept") or the server's ("ForwardRequest").
const char* message_name(const PeerMessage& message);
// One line, for traces: "ForwardRequest id=7 kind=0 bytes=31".
std::string describe(const PeerMessage& message);

}  // namespace synod::transport
