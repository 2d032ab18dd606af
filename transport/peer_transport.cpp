// The only translation unit of synod_transport that includes Asio (compile
// time on a 2-core machine): links, queues, handshake and backoff.
#include "transport/peer_transport.h"

#include <boost/asio/buffer.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <algorithm>
#include <cstring>
#include <deque>
#include <limits>
#include <optional>
#include <set>
#include <utility>

#include "base/assert.h"
#include "base/random.h"
#include "net/resolve.h"
#include "tls/identity.h"
#include "tls/store.h"
#include "transport/backoff.h"

namespace synod::transport {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using paxos::Envelope;
using paxos::NodeId;

namespace {

// The name of a core message or of a peer message, for the oversize log line.
const char* peer_message_name(const paxos::Message& message) { return paxos::message_name(message); }
const char* peer_message_name(const PeerMessage& message) { return message_name(message); }

// Each read asks the kernel for up to this much; the receive buffer grows
// only as bytes arrive, so a header that announces a large frame reserves
// nothing by itself.
constexpr size_t kReadChunkBytes = size_t{64} << 10;
// A receive buffer larger than this is released once it is empty again, so
// one large CatchupReply does not pin its memory for the link's lifetime.
constexpr size_t kReceiveBufferKeepBytes = 4 * kReadChunkBytes;
// Until its handshake is done a connection is a stranger: it may send one
// hello, which fits in kFrameBytesMin, and nothing larger is buffered.
constexpr WireLimits kHandshakeLimits{kFrameBytesMin};
// Established inbound links kept per peer. A peer has one, but its new link
// may arrive before we see the old one close (a restart). And a misdirected
// dialer claiming the peer's id (two members configured at one address) must
// not evict the peer's real link each time it redials; the dialer refuses the
// link itself right after the hellos. Beyond this many, the oldest goes.
constexpr size_t kInboundLinksPerPeerMax = 2;

std::string text(const PeerAddress& address) { return address.host + ":" + std::to_string(address.port); }

std::string text(const tcp::endpoint& endpoint) {
  return endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
}

// RFC 1123 host name: dot-separated labels of letters, digits and inner
// hyphens, each 1-63 characters, 253 in all (a trailing dot allowed). Checked
// at configuration so a typo such as "node1:7001" in a host is a bad
// configuration (exit 2), not a name that never resolves.
bool is_host_name(std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (host.empty() || host.size() > 253) return false;
  size_t label_bytes = 0;
  char previous = '.';
  for (const char c : host) {
    if (c == '.') {
      if (label_bytes == 0 || previous == '-') return false;
      label_bytes = 0;
    } else {
      const bool alphanumeric = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
      if (!alphanumeric && (c != '-' || label_bytes == 0)) return false;
      if (++label_bytes > 63) return false;
    }
    previous = c;
  }
  return previous != '-';
}

using net::ipv4_first;
using net::kResolveFlags;

// Suppresses a line that repeats the previous one of its kind: a repeat is
// logged only at its 2nd, 4th, 8th, ... occurrence, with the count, so a
// misconfigured peer that redials every second cannot flood the log.
class RepeatFilter {
 public:
  // Returns the suffix to log with `reason`, or nullopt to stay quiet.
  std::optional<std::string> pass(const std::string& reason) {
    if (reason != last_) {
      last_ = reason;
      repeats_ = 1;
      return std::string();
    }
    ++repeats_;
    if ((repeats_ & (repeats_ - 1)) != 0) return std::nullopt;
    return " (" + std::to_string(repeats_) + " times in a row)";
  }
  void clear() { last_.clear(); }

 private:
  std::string last_;
  uint64_t repeats_ = 0;
};

struct Peer;

// One TCP connection, outbound or inbound, from connect or accept to close.
// Handlers hold it by shared_ptr and check `closed` first, so a completion
// that arrives after the link was replaced does nothing.
struct Link {
  Link(tcp::socket connected, bool is_outbound)
      : socket(std::move(connected)),
        resolver(socket.get_executor()),
        deadline(socket.get_executor()),
        outbound(is_outbound) {}

  tcp::socket socket;
  // With TLS: the session over `socket`, and the contexts it was made with.
  std::unique_ptr<asio::ssl::stream<tcp::socket&>> tls;
  std::shared_ptr<const tls::Contexts> contexts;
  std::string tls_batch;        // a write's frames joined: one TLS record per write, not per frame
  tcp::resolver resolver;       // outbound: the dialed name, on Asio's resolver thread
  asio::steady_timer deadline;  // connect, then handshake
  const bool outbound;
  Peer* peer = nullptr;      // outbound: the peer dialed; inbound: set by the hello
  std::string remote;        // address for log lines
  bool established = false;  // hellos exchanged and accepted
  std::chrono::steady_clock::time_point established_at{};
  bool writing = false;      // an async_write is in flight (one at a time)
  bool closed = false;
  std::string hello;  // our hello frame, alive while it is written
  // Received bytes; [rx_begin, rx_end) are not yet decoded.
  std::vector<char> rx;
  size_t rx_begin = 0;
  size_t rx_end = 0;
};
using LinkPtr = std::shared_ptr<Link>;

// Reads and writes go through TLS when the link has it.
template <typename Buffers, typename Handler>
void write_link(Link& link, const Buffers& buffers, Handler&& handler) {
  if (link.tls) return asio::async_write(*link.tls, buffers, std::forward<Handler>(handler));
  asio::async_write(link.socket, buffers, std::forward<Handler>(handler));
}

template <typename Buffers, typename Handler>
void read_link(Link& link, const Buffers& buffers, Handler&& handler) {
  if (link.tls) return link.tls->async_read_some(buffers, std::forward<Handler>(handler));
  link.socket.async_read_some(buffers, std::forward<Handler>(handler));
}

// Everything this node keeps about one other member.
struct Peer {
  Peer(asio::io_context& io, Member m, const TransportOptions& options)
      : member(std::move(m)), retry(io), backoff(options.backoff_ms_min, options.backoff_ms_max) {
    stats.node = member.node;
  }

  Member member;
  // Frames not yet handed to a write, oldest first; `writing` holds those
  // of the write in flight. queue_bytes counts both.
  std::deque<std::string> queue;
  std::vector<std::string> writing;
  size_t queue_bytes = 0;
  LinkPtr link;                  // outbound; null while waiting to redial
  std::vector<LinkPtr> inbound;  // established links the peer dialed to us, oldest first
  asio::steady_timer retry;
  Backoff backoff;
  RepeatFilter dial_problems;
  bool drops_logged = false;  // since the last successful write
  // A member now (false: removed, never dialed or accepted again), and
  // whether its address is known (false: a newcomer that dialed us before
  // this node learned the change that added it; not dialed until it is).
  bool active = true;
  bool dialable = true;
  PeerStats stats;
};

}  // namespace

class PeerTransport::Impl : public std::enable_shared_from_this<Impl> {
 public:
  Impl(asio::io_context& io, TransportOptions options, OnMessage on_message, OnLog on_log)
      : io_(io),
        options_(std::move(options)),
        on_message_(std::move(on_message)),
        on_log_(std::move(on_log)),
        random_(options_.random_seed),
        acceptor_(io),
        accept_retry_(io),
        newcomers_from_(options_.newcomers_from) {
    for (const auto& member : options_.members) {
      if (member.node != options_.self) peers_.push_back(std::make_unique<Peer>(io, member, options_));
    }
  }

  std::string listen();
  uint16_t listen_port() const;
  void set_address(NodeId node, PeerAddress address);
  void start();
  void set_members(const std::vector<Member>& members, NodeId newcomers_from);
  template <typename AnyEnvelope>
  bool send(const AnyEnvelope& envelope);
  void stop();
  void relink();
  TransportStats stats() const;

 private:
  // Outbound links.
  void dial(Peer& peer);
  void on_resolve(const LinkPtr& link, const error_code& error, const tcp::resolver::results_type& results);
  void connect(const LinkPtr& link, std::vector<tcp::endpoint> endpoints);
  void on_connect(const LinkPtr& link, const error_code& error);
  void on_established_outbound(const LinkPtr& link);
  void redial_later(Peer& peer);
  bool make_room(Peer& peer, size_t frame_bytes);
  void flush(Peer& peer);
  void on_written(const LinkPtr& link, const error_code& error, size_t bytes);
  // Inbound links.
  void accept();
  void on_accept(const error_code& error, tcp::socket socket);
  void on_established_inbound(const LinkPtr& link, Peer& peer);
  // Both.
  void handshake(const LinkPtr& link);
  std::string check_certificate(const Link& link, NodeId node) const;
  void send_hello(const LinkPtr& link);
  void arm_deadline(const LinkPtr& link, int64_t ms, const char* what);
  void read(const LinkPtr& link);
  void on_read(const LinkPtr& link, const error_code& error, size_t bytes);
  bool take_frames(const LinkPtr& link);
  void on_frame(const LinkPtr& link, Frame& frame, size_t frame_bytes);
  void on_hello(const LinkPtr& link, const Frame& frame);
  std::string check_dialed(const Link& link, const Hello& hello) const;
  std::string check_dialer(const Link& link, const Hello& hello) const;
  std::string config_mismatch(const Hello& hello) const;
  void deliver(const LinkPtr& link, PeerEnvelope envelope, size_t frame_bytes);
  void drop(const LinkPtr& link, std::string_view level, const std::string& reason);
  void drop_outbound(const LinkPtr& link, const std::string& reason);
  void drop_inbound(const LinkPtr& link, std::string_view level, const std::string& reason);
  static void close(Link& link);

  // Any peer ever known; find_member: an active one.
  Peer* find_peer(NodeId node) const;
  Peer* find_member(NodeId node) const {
    Peer* peer = find_peer(node);
    return peer != nullptr && peer->active ? peer : nullptr;
  }
  Peer& add_peer(Member member, bool dialable);
  void retire(Peer& peer);
  void log(std::string_view level, const std::string& message) const {
    if (on_log_) on_log_(level, message);
  }
  std::string node_text(const Peer& peer) const {
    return "node " + std::to_string(peer.member.node) + " at " + text(peer.member.address);
  }

  asio::io_context& io_;
  const TransportOptions options_;
  const OnMessage on_message_;
  const OnLog on_log_;
  Random random_;  // backoff jitter
  tcp::acceptor acceptor_;
  asio::steady_timer accept_retry_;
  // Every member but self, and those removed (inactive); only grows, so a
  // Peer's address is stable for the handlers and links that point at it.
  std::vector<std::unique_ptr<Peer>> peers_;
  std::set<LinkPtr> pending_;                 // inbound links in their handshake
  RepeatFilter refusals_;
  uint64_t inbound_accepted_ = 0;
  uint64_t inbound_refused_ = 0;
  NodeId newcomers_from_ = paxos::kNoNode;
  bool listening_ = false;
  bool started_ = false;
  bool stopped_ = false;
};

// ---- lifecycle -----------------------------------------------------------

std::string PeerTransport::Impl::listen() {
  SYNOD_ASSERT_MSG(!listening_ && !stopped_, "listen() called twice or after stop()");
  const auto self = std::find_if(options_.members.begin(), options_.members.end(),
                                 [&](const Member& m) { return m.node == options_.self; });
  const PeerAddress& address = self->address;
  error_code error;
  // Blocking, once: listen() runs before the owner loop does.
  tcp::resolver resolver(io_);
  const auto results = resolver.resolve(address.host, std::to_string(address.port), kResolveFlags, error);
  if (error || results.empty()) {
    return "cannot listen for peers on " + text(address) + ": the name does not resolve" +
           (error ? " (" + error.message() + ")" : std::string());
  }
  const tcp::endpoint endpoint = ipv4_first(results).front();
  acceptor_.open(endpoint.protocol(), error);
  // Lets a restarted node bind its port while old connections sit in TIME_WAIT.
  if (!error) acceptor_.set_option(tcp::acceptor::reuse_address(true), error);
  if (!error) acceptor_.bind(endpoint, error);
  if (!error) acceptor_.listen(asio::socket_base::max_listen_connections, error);
  if (error) {
    acceptor_.close();
    return "cannot listen for peers on " + text(address) + ": " + error.message();
  }
  listening_ = true;
  return {};
}

uint16_t PeerTransport::Impl::listen_port() const {
  error_code error;
  const auto endpoint = acceptor_.local_endpoint(error);
  return error ? 0 : endpoint.port();
}

void PeerTransport::Impl::set_address(NodeId node, PeerAddress address) {
  Peer* peer = find_peer(node);
  SYNOD_ASSERT_MSG(peer != nullptr, "set_address() of a node that is not another member");
  peer->member.address = std::move(address);
}

void PeerTransport::Impl::start() {
  SYNOD_ASSERT_MSG(listening_ && !started_ && !stopped_, "start() needs listen() first, and runs once");
  started_ = true;
  accept();
  for (auto& peer : peers_) {
    if (peer->active && peer->dialable) dial(*peer);
  }
}

Peer& PeerTransport::Impl::add_peer(Member member, bool dialable) {
  peers_.push_back(std::make_unique<Peer>(io_, std::move(member), options_));
  Peer& peer = *peers_.back();
  peer.dialable = dialable;
  return peer;
}

void PeerTransport::Impl::set_members(const std::vector<Member>& members, NodeId newcomers_from) {
  newcomers_from_ = newcomers_from;
  std::set<NodeId> named;
  for (const auto& member : members) {
    if (member.node == options_.self) continue;
    named.insert(member.node);
    Peer* peer = find_peer(member.node);
    if (peer == nullptr) {
      peer = &add_peer(member, true);
      log("info", "node " + std::to_string(member.node) + " at " + text(member.address) + " joined the members");
    } else if (!peer->active) {
      continue;  // removed for good: an id is never used again
    } else if (!peer->dialable) {
      peer->member.address = member.address;
      peer->dialable = true;
    } else {
      if (peer->member.address.host != member.address.host || peer->member.address.port != member.address.port) {
        log("info", "node " + std::to_string(member.node) + " moved to " + text(member.address));
      }
      peer->member.address = member.address;  // used from its next dial on
      continue;
    }
    if (started_ && !stopped_ && !peer->link) dial(*peer);
  }
  for (auto& peer : peers_) {
    if (!peer->active || named.count(peer->member.node) > 0) continue;
    // A newcomer not named yet stays while it may still be one.
    if (!peer->dialable && newcomers_from_ != paxos::kNoNode && peer->member.node >= newcomers_from_) continue;
    retire(*peer);
  }
}

// A member removed: no longer dialed, its links closed, its queue dropped.
void PeerTransport::Impl::retire(Peer& peer) {
  peer.active = false;
  peer.retry.cancel();
  if (peer.link) {
    close(*peer.link);
    peer.link.reset();
  }
  for (const auto& link : std::vector<LinkPtr>(peer.inbound)) close(*link);
  peer.inbound.clear();
  peer.writing.clear();
  peer.queue.clear();
  peer.queue_bytes = 0;
  peer.stats.connected = false;
  peer.stats.inbound_connected = false;
  log("info", "node " + std::to_string(peer.member.node) + " is no longer a member: its links are closed");
}

void PeerTransport::Impl::stop() {
  if (stopped_) return;
  stopped_ = true;
  error_code ignored;
  acceptor_.close(ignored);
  accept_retry_.cancel();
  for (auto& peer : peers_) {
    peer->retry.cancel();
    if (peer->link) close(*peer->link);
    for (const auto& link : peer->inbound) close(*link);
    peer->link.reset();
    peer->inbound.clear();
    // `writing` stays: a write may still hold its buffers until its handler runs.
    for (const auto& frame : peer->queue) peer->queue_bytes -= frame.size();
    peer->queue.clear();
    peer->stats.connected = false;
    peer->stats.inbound_connected = false;
  }
  for (const auto& link : pending_) close(*link);
  pending_.clear();
}

void PeerTransport::Impl::relink() {
  if (stopped_ || !started_) return;
  for (auto& peer : peers_) {
    if (peer->link) drop(LinkPtr(peer->link), "info", "the TLS files were reloaded with another CA");
    for (const auto& link : std::vector<LinkPtr>(peer->inbound)) {
      drop(link, "info", "the TLS files were reloaded with another CA");
    }
  }
  for (const auto& link : std::vector<LinkPtr>(pending_.begin(), pending_.end())) {
    drop(link, "info", "the TLS files were reloaded with another CA");
  }
}

void PeerTransport::Impl::close(Link& link) {
  link.closed = true;
  error_code ignored;
  link.socket.close(ignored);
  link.resolver.cancel();
  link.deadline.cancel();
}

TransportStats PeerTransport::Impl::stats() const {
  TransportStats stats;
  stats.inbound_accepted = inbound_accepted_;
  stats.inbound_refused = inbound_refused_;
  for (const auto& peer : peers_) {
    if (!peer->active) continue;
    PeerStats peer_stats = peer->stats;
    peer_stats.queue_messages = peer->queue.size() + peer->writing.size();
    peer_stats.queue_bytes = peer->queue_bytes;
    stats.peers.push_back(peer_stats);
  }
  return stats;
}

Peer* PeerTransport::Impl::find_peer(NodeId node) const {
  for (const auto& peer : peers_) {
    if (peer->member.node == node) return peer.get();
  }
  return nullptr;
}

// ---- sending -------------------------------------------------------------

template <typename AnyEnvelope>
bool PeerTransport::Impl::send(const AnyEnvelope& envelope) {
  SYNOD_ASSERT_MSG(envelope.from == options_.self, "send() of an envelope from another node");
  Peer* peer = find_member(envelope.to);
  // The configuration may have just dropped it; the core retransmits nothing to it.
  if (peer == nullptr || stopped_) return false;
  std::string frame;
  encode_envelope(envelope, frame);
  if (frame.size() > options_.wire.frame_bytes_max) {
    ++peer->stats.messages_oversize;
    log("error", std::string("dropped a message (") + peer_message_name(envelope.message) + ") to node " +
                     std::to_string(envelope.to) + ": its frame of " + std::to_string(frame.size()) +
                     " bytes is over frame_bytes_max " + std::to_string(options_.wire.frame_bytes_max));
    return false;
  }
  if (!make_room(*peer, frame.size())) return false;
  peer->queue_bytes += frame.size();
  peer->queue.push_back(std::move(frame));
  flush(*peer);
  return true;
}

// Drops the oldest frames not yet being written until `frame_bytes` fits
// the peer's bounds, and says whether it does now: an empty queue admits any
// frame; one that still does not fit beside a write in flight is dropped
// itself (see QUEUES in the header).
bool PeerTransport::Impl::make_room(Peer& peer, size_t frame_bytes) {
  const auto fits = [&] {
    const size_t messages = peer.queue.size() + peer.writing.size();
    return messages == 0 ||
           (messages < options_.queue_messages_max && peer.queue_bytes + frame_bytes <= options_.queue_bytes_max);
  };
  while (!fits() && !peer.queue.empty()) {
    peer.queue_bytes -= peer.queue.front().size();
    peer.queue.pop_front();
    ++peer.stats.messages_dropped;
  }
  const bool admitted = fits();
  if (!admitted) ++peer.stats.messages_dropped;
  if (peer.stats.messages_dropped > 0 && !peer.drops_logged) {
    peer.drops_logged = true;
    log("warn", "the send queue to " + node_text(peer) + " is full (" + std::to_string(options_.queue_messages_max) +
                    " messages or " + std::to_string(options_.queue_bytes_max) +
                    " bytes): dropping its oldest messages");
  }
  return admitted;
}

// Starts one gathered write of everything queued (up to
// write_batch_bytes_max), unless one is in flight or the link is not up.
void PeerTransport::Impl::flush(Peer& peer) {
  const LinkPtr& link = peer.link;
  if (!link || !link->established || link->writing || peer.queue.empty()) return;
  SYNOD_ASSERT(peer.writing.empty());
  size_t batch_bytes = 0;
  while (!peer.queue.empty() &&
         (peer.writing.empty() || batch_bytes + peer.queue.front().size() <= options_.write_batch_bytes_max)) {
    batch_bytes += peer.queue.front().size();
    peer.writing.push_back(std::move(peer.queue.front()));
    peer.queue.pop_front();
  }
  link->writing = true;
  auto done = [self = shared_from_this(), link](const error_code& error, size_t bytes) {
    self->on_written(link, error, bytes);
  };
  if (link->tls) {
    // Asio's SSL stream seals each buffer of a gathered write alone.
    link->tls_batch.clear();
    for (const auto& frame : peer.writing) link->tls_batch += frame;
    return asio::async_write(*link->tls, asio::buffer(link->tls_batch), std::move(done));
  }
  std::vector<asio::const_buffer> buffers;
  buffers.reserve(peer.writing.size());
  for (const auto& frame : peer.writing) buffers.push_back(asio::buffer(frame));
  asio::async_write(link->socket, buffers, std::move(done));
}

void PeerTransport::Impl::on_written(const LinkPtr& link, const error_code& error, size_t bytes) {
  link->writing = false;
  if (stopped_ || link->closed) return;  // drop() already requeued the frames
  if (error) {
    drop(link, "warn", "write failed: " + error.message());
    return;
  }
  Peer& peer = *link->peer;
  peer.stats.messages_sent += peer.writing.size();
  peer.stats.bytes_sent += bytes;
  ++peer.stats.write_batches;
  peer.queue_bytes -= bytes;
  peer.writing.clear();
  peer.drops_logged = false;
  flush(peer);
}

// ---- outbound links ------------------------------------------------------

void PeerTransport::Impl::dial(Peer& peer) {
  if (stopped_) return;
  auto link = std::make_shared<Link>(tcp::socket(io_), true);
  link->peer = &peer;
  link->remote = text(peer.member.address);
  peer.link = link;
  error_code error;
  const auto ip = asio::ip::make_address(peer.member.address.host, error);
  if (!error) {
    connect(link, {tcp::endpoint(ip, peer.member.address.port)});
    return;
  }
  // A name is resolved at every dial (not once at start), so a member whose
  // name now points elsewhere is found there on its next reconnect. Asio
  // runs getaddrinfo on its own resolver thread: the owner thread never
  // waits for DNS. No deadline of ours: the system's resolver timeouts
  // (resolv.conf) bound it, and a deadline shorter than a slow but working
  // DNS would never let the name resolve. The cost: names resolve one at a
  // time on that thread, so a hung DNS delays every peer's name alike.
  link->resolver.async_resolve(
      peer.member.address.host, std::to_string(peer.member.address.port), kResolveFlags,
      [self = shared_from_this(), link](const error_code& resolve_error, const tcp::resolver::results_type& results) {
        self->on_resolve(link, resolve_error, results);
      });
}

void PeerTransport::Impl::on_resolve(const LinkPtr& link, const error_code& error,
                                     const tcp::resolver::results_type& results) {
  if (stopped_ || link->closed) return;
  if (error || results.empty()) {
    drop(link, "warn", "the name does not resolve" + (error ? " (" + error.message() + ")" : std::string()));
    return;
  }
  connect(link, ipv4_first(results));
}

// Tries each address in turn until one accepts, all within connect_timeout_ms.
void PeerTransport::Impl::connect(const LinkPtr& link, std::vector<tcp::endpoint> endpoints) {
  arm_deadline(link, options_.connect_timeout_ms, "connecting");
  asio::async_connect(link->socket, std::move(endpoints),
                      [self = shared_from_this(), link](const error_code& connect_error, const tcp::endpoint&) {
                        self->on_connect(link, connect_error);
                      });
}

void PeerTransport::Impl::on_connect(const LinkPtr& link, const error_code& error) {
  if (stopped_ || link->closed) return;
  if (error) {
    drop(link, "warn", error.message());
    return;
  }
  error_code ignored;
  link->socket.set_option(tcp::no_delay(true), ignored);  // small consensus messages must not wait
  arm_deadline(link, options_.handshake_timeout_ms, "the handshake");
  if (options_.tls) return handshake(link);
  send_hello(link);
  read(link);
}

void PeerTransport::Impl::on_established_outbound(const LinkPtr& link) {
  Peer& peer = *link->peer;
  link->established = true;
  link->established_at = std::chrono::steady_clock::now();
  link->deadline.cancel();
  peer.dial_problems.clear();
  peer.stats.connected = true;
  if (peer.stats.connects++ > 0) ++peer.stats.reconnects;
  log("info", "connected to " + node_text(peer));
  flush(peer);
}

void PeerTransport::Impl::redial_later(Peer& peer) {
  const int64_t delay_ms = peer.backoff.next_ms(random_);
  peer.retry.expires_after(std::chrono::milliseconds(delay_ms));
  peer.retry.async_wait([self = shared_from_this(), target = &peer](const error_code& error) {
    if (!error && !self->stopped_ && target->active && target->dialable) self->dial(*target);
  });
}

// ---- inbound links -------------------------------------------------------

void PeerTransport::Impl::accept() {
  acceptor_.async_accept([self = shared_from_this()](const error_code& error, tcp::socket socket) {
    self->on_accept(error, std::move(socket));
  });
}

void PeerTransport::Impl::on_accept(const error_code& error, tcp::socket socket) {
  if (stopped_) return;
  if (error) {
    // Out of file descriptors, say: wait instead of spinning on the error.
    log("warn", "accepting a peer connection failed: " + error.message());
    accept_retry_.expires_after(std::chrono::milliseconds(options_.backoff_ms_max));
    accept_retry_.async_wait([self = shared_from_this()](const error_code& wait_error) {
      if (!wait_error && !self->stopped_) self->accept();
    });
    return;
  }
  auto link = std::make_shared<Link>(std::move(socket), false);
  error_code ignored;
  const auto remote = link->socket.remote_endpoint(ignored);
  link->remote = text(remote);
  if (pending_.size() >= options_.inbound_pending_max) {
    close(*link);
    ++inbound_refused_;
    const std::string reason =
        std::to_string(pending_.size()) + " connections are already in their handshake (inbound_pending_max)";
    if (auto suffix = refusals_.pass(reason))
      log("warn", "refused a connection from " + link->remote + ": " + reason + *suffix);
  } else {
    pending_.insert(link);
    link->socket.set_option(tcp::no_delay(true), ignored);
    arm_deadline(link, options_.handshake_timeout_ms, "the handshake");
    if (options_.tls) {
      handshake(link);
    } else {
      send_hello(link);
      read(link);
    }
  }
  accept();
}

void PeerTransport::Impl::on_established_inbound(const LinkPtr& link, Peer& peer) {
  pending_.erase(link);
  link->established = true;
  link->peer = &peer;
  link->deadline.cancel();
  if (peer.inbound.size() >= kInboundLinksPerPeerMax) {
    drop(LinkPtr(peer.inbound.front()), "info", "replaced by a newer connection from the same node");
  }
  peer.inbound.push_back(link);
  peer.stats.inbound_connected = true;
  ++inbound_accepted_;
  log("info", "node " + std::to_string(peer.member.node) + " connected from " + link->remote);
}

// ---- both directions -----------------------------------------------------

// Mutual TLS: the dialer is the TLS client, and both must show a certificate
// the CA signed. Which member it names is checked with the hello.
void PeerTransport::Impl::handshake(const LinkPtr& link) {
  link->contexts = options_.tls->current();
  const bool outbound = link->outbound;
  link->tls = std::make_unique<asio::ssl::stream<tcp::socket&>>(link->socket, outbound ? *link->contexts->client
                                                                                       : *link->contexts->server);
  if (!outbound) link->tls->set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
  link->tls->async_handshake(outbound ? asio::ssl::stream_base::client : asio::ssl::stream_base::server,
                             [self = shared_from_this(), link](const error_code& error) {
                               if (self->stopped_ || link->closed) return;
                               if (error) {
                                 const std::string why = tls::verify_failure(link->tls->native_handle());
                                 self->drop(link, "warn",
                                            "the TLS handshake failed: " + (why.empty() ? error.message() : why));
                                 return;
                               }
                               self->send_hello(link);
                               self->read(link);
                             });
}

// With TLS, the certificate must name `node` of this cluster.
std::string PeerTransport::Impl::check_certificate(const Link& link, NodeId node) const {
  if (!link.tls) return {};
  std::string why;
  if (tls::names_member(link.tls->native_handle(), options_.cluster_id, node, why)) return {};
  return "node " + std::to_string(node) + " is refused: " + why;
}

void PeerTransport::Impl::send_hello(const LinkPtr& link) {
  encode_hello(Hello{kProtocolVersion, options_.cluster_id, options_.self, options_.config_digest}, link->hello);
  link->writing = true;
  write_link(*link, asio::buffer(link->hello), [self = shared_from_this(), link](const error_code& error, size_t) {
    link->writing = false;
    if (self->stopped_ || link->closed) return;
    if (error) {
      self->drop(link, "warn", "sending the hello failed: " + error.message());
      return;
    }
    if (link->outbound && link->established) self->flush(*link->peer);
  });
}

void PeerTransport::Impl::arm_deadline(const LinkPtr& link, int64_t ms, const char* what) {
  link->deadline.expires_after(std::chrono::milliseconds(ms));
  link->deadline.async_wait([self = shared_from_this(), link, what, ms](const error_code& error) {
    if (error || self->stopped_ || link->closed) return;
    self->drop(link, "warn", std::string(what) + " took over " + std::to_string(ms) + " ms");
  });
}

void PeerTransport::Impl::read(const LinkPtr& link) {
  auto& rx = link->rx;
  if (link->rx_begin == link->rx_end) {
    link->rx_begin = link->rx_end = 0;
    if (rx.size() > kReceiveBufferKeepBytes) rx = std::vector<char>();
  } else if (link->rx_begin > 0 && rx.size() - link->rx_end < kReadChunkBytes) {
    std::memmove(rx.data(), rx.data() + link->rx_begin, link->rx_end - link->rx_begin);
    link->rx_end -= link->rx_begin;
    link->rx_begin = 0;
  }
  if (rx.size() - link->rx_end < kReadChunkBytes) rx.resize(link->rx_end + kReadChunkBytes);
  read_link(*link, asio::buffer(rx.data() + link->rx_end, rx.size() - link->rx_end),
            [self = shared_from_this(), link](const error_code& error, size_t bytes) {
              self->on_read(link, error, bytes);
            });
}

void PeerTransport::Impl::on_read(const LinkPtr& link, const error_code& error, size_t bytes) {
  if (stopped_ || link->closed) return;
  if (error) {
    drop(link, "info", error == asio::error::eof ? "closed by the peer" : error.message());
    return;
  }
  link->rx_end += bytes;
  if (take_frames(link)) read(link);
}

// Handles every whole frame buffered. Returns false if the link was closed
// (bad bytes, a refused hello) or the transport stopped meanwhile.
bool PeerTransport::Impl::take_frames(const LinkPtr& link) {
  while (true) {
    const WireLimits& limits = link->established ? options_.wire : kHandshakeLimits;
    const std::string_view buffered(link->rx.data() + link->rx_begin, link->rx_end - link->rx_begin);
    const FrameScan scan = scan_frame(buffered, limits);
    if (scan.state == FrameScan::State::incomplete) return true;
    if (scan.state == FrameScan::State::invalid) {
      drop(link, "warn", scan.status.message);
      return false;
    }
    Decoded decoded = decode_frame(buffered.substr(0, scan.frame_bytes), limits);
    link->rx_begin += scan.frame_bytes;
    if (!decoded.status.ok()) {
      drop(link, "warn", decoded.status.message);
      return false;
    }
    on_frame(link, decoded.frame, scan.frame_bytes);
    if (stopped_ || link->closed) return false;
  }
}

void PeerTransport::Impl::on_frame(const LinkPtr& link, Frame& frame, size_t frame_bytes) {
  if (!link->established) {
    on_hello(link, frame);
    return;
  }
  const std::string from = "node " + std::to_string(link->peer->member.node);
  if (link->outbound) {
    drop(link, "warn", from + " sent a frame on the link that carries only our messages");
    return;
  }
  auto* envelope = std::get_if<PeerEnvelope>(&frame);
  if (envelope == nullptr) {
    drop(link, "warn", from + " sent a second hello");
    return;
  }
  if (envelope->from != link->peer->member.node || envelope->to != options_.self) {
    drop(link, "warn",
         from + " sent an envelope from node " + std::to_string(envelope->from) + " to node " +
             std::to_string(envelope->to));
    return;
  }
  deliver(link, std::move(*envelope), frame_bytes);
}

void PeerTransport::Impl::on_hello(const LinkPtr& link, const Frame& frame) {
  const Hello* hello = std::get_if<Hello>(&frame);
  if (hello == nullptr) {
    drop(link, "warn", "the first frame is not a hello");
    return;
  }
  const std::string refusal = link->outbound ? check_dialed(*link, *hello) : check_dialer(*link, *hello);
  if (!refusal.empty()) {
    drop(link, "warn", refusal);
    return;
  }
  if (link->outbound) {
    on_established_outbound(link);
  } else {
    Peer* peer = find_member(hello->node);
    if (peer == nullptr) {
      // check_dialer let it through as a newcomer: dialed once the log names it.
      peer = &add_peer(Member{hello->node, PeerAddress{}}, false);
      log("info", "node " + std::to_string(hello->node) +
                      " is not a member yet as this node knows, but its id is new: accepted as a newcomer");
    }
    on_established_inbound(link, *peer);
  }
}

std::string PeerTransport::Impl::config_mismatch(const Hello& hello) const {
  return "node " + std::to_string(hello.node) + " runs with another configuration (digest " +
         std::to_string(hello.config_digest) + ", this node " + std::to_string(options_.config_digest) +
         "): every member needs the same lock-service limits and drift bound";
}

// The node we dialed must be of our cluster and be the member we dialed.
std::string PeerTransport::Impl::check_dialed(const Link& link, const Hello& hello) const {
  if (hello.cluster_id != options_.cluster_id) {
    return "it belongs to cluster " + std::to_string(hello.cluster_id) + ", this node to cluster " +
           std::to_string(options_.cluster_id);
  }
  if (hello.node != link.peer->member.node) {
    return "it says it is node " + std::to_string(hello.node) + ", not the node dialed there";
  }
  if (auto refusal = check_certificate(link, hello.node); !refusal.empty()) return refusal;
  if (hello.config_digest != options_.config_digest) return config_mismatch(hello);
  return {};
}

// A node that dialed us must be of our cluster and another member.
std::string PeerTransport::Impl::check_dialer(const Link& link, const Hello& hello) const {
  const std::string who = "node " + std::to_string(hello.node);
  if (hello.cluster_id != options_.cluster_id) {
    return who + " belongs to cluster " + std::to_string(hello.cluster_id) + ", this node to cluster " +
           std::to_string(options_.cluster_id);
  }
  if (hello.node == options_.self) return who + " claims this node's own id";
  if (find_member(hello.node) == nullptr) {
    if (find_peer(hello.node) != nullptr) return who + " was removed from this cluster";
    if (newcomers_from_ == paxos::kNoNode || hello.node < newcomers_from_) {
      return who + " is not a member of this cluster";
    }
  }
  if (auto refusal = check_certificate(link, hello.node); !refusal.empty()) return refusal;
  if (hello.config_digest != options_.config_digest) return config_mismatch(hello);
  return {};
}

void PeerTransport::Impl::deliver(const LinkPtr& link, PeerEnvelope envelope, size_t frame_bytes) {
  PeerStats& stats = link->peer->stats;
  ++stats.messages_received;
  stats.bytes_received += frame_bytes;
  stats.last_received = std::chrono::steady_clock::now();
  on_message_(std::move(envelope));
}

// Closes `link` and logs why; an outbound link is redialed after a backoff.
void PeerTransport::Impl::drop(const LinkPtr& link, std::string_view level, const std::string& reason) {
  if (link->closed) return;
  close(*link);
  if (link->outbound) {
    drop_outbound(link, reason);
  } else {
    drop_inbound(link, level, reason);
  }
}

void PeerTransport::Impl::drop_outbound(const LinkPtr& link, const std::string& reason) {
  Peer& peer = *link->peer;
  SYNOD_ASSERT(peer.link == link);
  peer.link.reset();
  // Frames of an unfinished write go first on the next link, in order.
  for (auto it = peer.writing.rbegin(); it != peer.writing.rend(); ++it) peer.queue.push_front(std::move(*it));
  peer.writing.clear();
  if (link->established) {
    peer.stats.connected = false;
    // The backoff starts over only after a link that lasted: a peer that
    // closes each link right after the hellos (it refuses this node: a
    // removed member) is redialed with backoff, not at once.
    if (std::chrono::steady_clock::now() - link->established_at >= std::chrono::milliseconds(options_.backoff_ms_max)) {
      peer.backoff.reset();
    }
    log("warn", "lost the link to " + node_text(peer) + ": " + reason);
  } else {
    ++peer.stats.connect_failures;
    if (auto suffix = peer.dial_problems.pass(reason)) {
      log("warn", "cannot link to " + node_text(peer) + ": " + reason + "; redialing with backoff" + *suffix);
    }
  }
  redial_later(peer);
}

void PeerTransport::Impl::drop_inbound(const LinkPtr& link, std::string_view level, const std::string& reason) {
  if (!link->established) {
    pending_.erase(link);
    ++inbound_refused_;
    if (auto suffix = refusals_.pass(reason))
      log("warn", "refused a connection from " + link->remote + ": " + reason + *suffix);
    return;
  }
  Peer& peer = *link->peer;
  std::erase(peer.inbound, link);
  peer.stats.inbound_connected = !peer.inbound.empty();
  log(level, "the link from node " + std::to_string(peer.member.node) + " (" + link->remote + ") closed: " + reason);
}

// ---- the public face -----------------------------------------------------

std::string validate(const TransportOptions& options) {
  if (options.self == paxos::kNoNode) return "the node id must be at least 1";
  std::set<NodeId> seen;
  for (const auto& member : options.members) {
    if (member.node == paxos::kNoNode) return "member ids must be at least 1";
    if (!seen.insert(member.node).second) return "node " + std::to_string(member.node) + " is listed twice";
    error_code error;
    asio::ip::make_address(member.address.host, error);
    if (error && !is_host_name(member.address.host)) {
      return "the peer address of node " + std::to_string(member.node) + " (" + member.address.host +
             ") is neither an IP address nor a host name";
    }
  }
  if (seen.count(options.self) == 0) return "this node (" + std::to_string(options.self) + ") is not a member";
  if (options.wire.frame_bytes_max < kFrameBytesMin ||
      options.wire.frame_bytes_max - kFrameHeaderBytes > std::numeric_limits<uint32_t>::max()) {
    return "frame_bytes_max must be between " + std::to_string(kFrameBytesMin) + " and 4 GiB";
  }
  if (options.queue_messages_max < 1 || options.queue_bytes_max < 1 || options.write_batch_bytes_max < 1) {
    return "queue and batch limits must be at least 1";
  }
  if (options.backoff_ms_min < 1 || options.backoff_ms_min > options.backoff_ms_max) {
    return "backoff_ms_min must be at least 1 and at most backoff_ms_max";
  }
  if (options.connect_timeout_ms < 1 || options.handshake_timeout_ms < 1) return "timeouts must be at least 1 ms";
  if (options.inbound_pending_max < 1) return "inbound_pending_max must be at least 1";
  return {};
}

PeerTransport::PeerTransport(asio::io_context& io, TransportOptions options, OnMessage on_message, OnLog on_log) {
  const std::string problem = validate(options);
  SYNOD_ASSERT_MSG(problem.empty(), problem.c_str());
  SYNOD_ASSERT_MSG(on_message != nullptr, "PeerTransport needs a message callback");
  impl_ = std::make_shared<Impl>(io, std::move(options), std::move(on_message), std::move(on_log));
}

PeerTransport::~PeerTransport() { impl_->stop(); }

std::string PeerTransport::listen() { return impl_->listen(); }
uint16_t PeerTransport::listen_port() const { return impl_->listen_port(); }
void PeerTransport::set_address(NodeId node, PeerAddress address) { impl_->set_address(node, std::move(address)); }
void PeerTransport::start() { impl_->start(); }
void PeerTransport::set_members(const std::vector<Member>& members, NodeId newcomers_from) {
  impl_->set_members(members, newcomers_from);
}
bool PeerTransport::send(const Envelope& envelope) { return impl_->send(envelope); }
bool PeerTransport::send(const PeerEnvelope& envelope) { return impl_->send(envelope); }
void PeerTransport::stop() { impl_->stop(); }
void PeerTransport::relink() { impl_->relink(); }
TransportStats PeerTransport::stats() const { return impl_->stats(); }

}  // namespace synod::transport
