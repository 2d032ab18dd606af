// PeerTransport: the TCP links between the members of one cluster.
//
// Owns the listening socket, one outbound link per other member, the inbound
// links members open to us, the per-peer send queues and the reconnect
// timers. Decides nothing about consensus: it carries paxos::Envelopes, in
// order per link, and drops what it cannot carry (Paxos retransmits).
//
// THREADING. Everything runs on one boost::asio::io_context that the caller
// owns and runs on ONE thread: the server's owner loop, which runs the
// Replica on that same thread. Every public method must be called on that
// thread (or before it runs the io_context), and the callbacks are invoked on
// it. Nothing here locks. The io_context must outlive this object.
//
// LINKS. Each node listens on its own peer address and dials every other
// member: one outbound connection per peer carries what this node sends, and
// the connection the peer dialed to us carries what it sends. Two one-way
// connections per pair avoid the tie-breaking a shared connection needs when
// both sides dial at once, and let each side own its reconnect. A link that
// fails is closed and redialed after a capped, jittered backoff (backoff.h);
// a peer may hold two inbound connections at once (its new one can arrive
// before we see its old one close), and a third replaces the oldest.
//
// HANDSHAKE. Both ends of a new connection first send a hello frame
// (wire.h: protocol version, cluster id, node id, config digest) and read the
// other's. Both sides refuse a hello with another config digest (a member
// whose results-deciding limits differ). The
// listening side refuses a hello from another cluster, from a node id that is
// not a member or is its own, or in an unknown protocol version. The dialing
// side also refuses a peer whose node id is not the one it dialed. A dialer
// at or above newcomers_from that names no member yet is accepted (a member
// added by a change this node has not learned); one below it that is no
// member was removed and is refused. Refusing
// closes the connection and logs one line naming the reason; bytes that are
// not a frame at all are refused the same way, and the node keeps running. A
// connection must finish its handshake within handshake_timeout_ms, and at
// most inbound_pending_max inbound connections may be in their handshake at
// once, so idle or slow strangers cannot pile up.
//
// TLS. With options.tls, a new connection first completes a TLS handshake
// in which both ends present a certificate from the cluster's CA (the
// handshake deadline covers it), and then the hellos. A hello is accepted
// only if the certificate names the member it claims, or the member dialed:
// the URI SAN synod://CLUSTER-ID/node/ID (tls/identity.h). So a valid
// certificate of another member or of another cluster under the same CA is
// refused, with a log line naming what it does name. relink() closes every
// link so that they handshake again (after the CA changed); each link holds
// the contexts it was made with, so a reload never changes one in use.
//
// QUEUES. Each peer has a send queue bounded in messages and bytes (frames
// being written count too). When a new message does not fit, the OLDEST
// queued messages that are not yet being written are dropped (and counted)
// until it does. Newer Paxos messages supersede older ones: a newer heartbeat
// carries a newer commit index, and an old ballot's Accepts are useless once a
// newer ballot is out, so after an outage the peer gets the freshest state
// first, and everything dropped is retransmitted by the core if still needed.
// A message is also admitted into an empty queue whatever its size (up to
// frame_bytes_max), so a large Promise or CatchupReply can always pass; one
// that does not fit even beside the write in flight alone is dropped itself.
// So a peer's queue never holds more than max(queue_bytes_max,
// frame_bytes_max) bytes, or queue_messages_max messages. A message whose
// frame is over frame_bytes_max is never sent (counted and logged).
// While a peer is disconnected its queue keeps filling, under the same bound.
// When the link is up, everything queued leaves in one gathered async_write
// (up to write_batch_bytes_max), since the owner loop emits many messages per
// turn; frames being written when a link fails are sent again on the next one
// (Paxos tolerates duplicates).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "paxos/messages.h"
#include "transport/wire.h"
#include "paxos/types.h"

namespace boost::asio {
class io_context;
}

namespace synod::tls {
class Store;
}

namespace synod::transport {

// Where a member listens for peers. `host` is an IPv4 or IPv6 literal
// ("127.0.0.1") or a host name ("localhost", "n1.synod.svc"). A dialed name
// is resolved again at every dial, so a member that comes back at another
// address (a rescheduled pod) is found on the next reconnect; a name that
// does not resolve is an operating error, logged and redialed with backoff.
// Our own listening name is resolved once, by listen(). Of a name's
// addresses, IPv4 ones are tried first (then IPv6), on both sides, so that
// "localhost" means 127.0.0.1 to listener and dialer alike.
struct PeerAddress {
  std::string host;
  uint16_t port = 0;
};

struct Member {
  paxos::NodeId node = paxos::kNoNode;
  PeerAddress address;
};

struct TransportOptions {
  paxos::NodeId self = paxos::kNoNode;
  // Nodes with another cluster id are refused at the handshake. The server
  // derives it from its configuration (for example a hash of a cluster name).
  uint64_t cluster_id = 0;
  // Nodes with another config digest are refused at the handshake too: the
  // server's digest of the configuration every member must share.
  uint64_t config_digest = 0;
  // Every member, voters and learners, self included; self's address is
  // where we listen. set_members() replaces it as the log's configuration
  // changes.
  std::vector<Member> members;
  // A dialer whose id is at or above this and names no member is accepted
  // too: a member added by a change this node has not learned yet (the
  // configuration's next_id). 0: only members.
  paxos::NodeId newcomers_from = paxos::kNoNode;

  WireLimits wire;
  size_t queue_messages_max = 8192;                // per peer
  size_t queue_bytes_max = size_t{32} << 20;       // per peer, frames being written included
  size_t write_batch_bytes_max = size_t{4} << 20;  // one async_write (at least one frame)
  int64_t backoff_ms_min = 10;
  int64_t backoff_ms_max = 1000;
  int64_t connect_timeout_ms = 1000;  // to every address of a name together; resolving is the system's
  int64_t handshake_timeout_ms = 2000;
  size_t inbound_pending_max = 16;  // inbound connections still in their handshake
  uint64_t random_seed = 1;         // backoff jitter
  // Mutual TLS on every link when set (see TLS above); null: plain TCP.
  std::shared_ptr<tls::Store> tls;
};

// Returns an empty string if `options` is usable, or a sentence saying what
// is wrong (for the server's "bad configuration, exit 2" path).
std::string validate(const TransportOptions& options);

// Counters of one peer, for metrics and the status page.
struct PeerStats {
  paxos::NodeId node = paxos::kNoNode;
  bool connected = false;          // our outbound link is up: sends flow
  bool inbound_connected = false;  // the peer's link to us is up: receives flow
  uint64_t messages_sent = 0;      // handed to the kernel
  uint64_t bytes_sent = 0;
  uint64_t write_batches = 0;  // async_writes that carried them
  uint64_t messages_received = 0;
  uint64_t bytes_received = 0;
  uint64_t messages_dropped = 0;   // pushed out of a full queue, or refused by one
  uint64_t messages_oversize = 0;  // over frame_bytes_max, never queued
  uint64_t connects = 0;           // outbound handshakes completed
  uint64_t reconnects = 0;         // connects after the first
  uint64_t connect_failures = 0;   // dials that failed, timed out or were refused, or whose name did not resolve
  size_t queue_messages = 0;
  size_t queue_bytes = 0;
  // When the last message from this peer arrived; the epoch if none has.
  std::chrono::steady_clock::time_point last_received{};
};

struct TransportStats {
  std::vector<PeerStats> peers;   // every member but self, in member order
  uint64_t inbound_accepted = 0;  // inbound connections that completed a handshake
  uint64_t inbound_refused = 0;   // refused: garbage, foreign cluster, unknown node, timeout, limit
};

class PeerTransport {
 public:
  using OnMessage = std::function<void(PeerEnvelope envelope)>;
  // level is "info", "warn" or "error"; message is one line, without a newline.
  using OnLog = std::function<void(std::string_view level, std::string_view message)>;

  // `options` must be valid (validate() returns ""). `on_message` receives
  // every envelope addressed to this node; it may call send() and stop().
  PeerTransport(boost::asio::io_context& io, TransportOptions options, OnMessage on_message, OnLog on_log);
  // Stops (see stop()).
  ~PeerTransport();
  PeerTransport(const PeerTransport&) = delete;
  PeerTransport& operator=(const PeerTransport&) = delete;

  // Binds self's address and listens. A name is resolved here, once, and the
  // first of its addresses (IPv4 first) is bound; this blocks, so call it
  // before the io_context runs. Returns "" or a sentence naming the address
  // and the system's reason (a port in use, a name that does not resolve).
  [[nodiscard]] std::string listen();
  // The port listen() bound: the configured one, or the kernel's pick for 0.
  uint16_t listen_port() const;
  // Changes where a member is dialed, from its next dial on (tests bind
  // port 0 and learn each other's ports only after listen()).
  void set_address(paxos::NodeId node, PeerAddress address);
  // Starts dialing every other member. Call once, after listen().
  void start();
  // The members changed (a configuration chosen in the log): a member
  // added is dialed from now on, one whose address changed is dialed there
  // on its next dial, and one that is gone is no longer dialed, its links
  // are closed and messages to it are refused from now on. `newcomers_from`
  // as in TransportOptions. Self's entry is ignored (we listen where we
  // listen).
  void set_members(const std::vector<Member>& members, paxos::NodeId newcomers_from);

  // Queues `envelope` for envelope.to. `from` must be self (a programmer
  // error otherwise: the driver hands messages to self back to its own
  // Replica). Returns false if it was not queued (`to` is no member, its
  // frame is over frame_bytes_max, it does not fit beside the write in
  // flight, or the transport stopped); older messages may be dropped to make
  // room (see QUEUES above).
  bool send(const paxos::Envelope& envelope);
  bool send(const PeerEnvelope& envelope);

  // Closes the listener and every link and cancels every timer, so the
  // io_context runs out of work. Queued messages are discarded. No callback
  // is invoked after stop() returns. Idempotent.
  void stop();

  // Closes every link; outbound ones are redialed at once, inbound ones by
  // their peers. After a CA rotation, so every link is checked again.
  void relink();

  TransportStats stats() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;  // shared with pending handlers, which may outlive *this
};

}  // namespace synod::transport
