// The HTTP/1.1 server under synod's client API: Boost.Beast, keep-alive,
// server-sent-event streams, forwarding to another node, and a limit on
// everything a client controls (issue #6): header bytes, body bytes,
// connections, streams, the time to send a whole request (a slow sender),
// the time to take a response or keep up with a stream (a slow reader), and
// idle keep-alive time. Docs: docs/api.md, "Limits".
//
// Requests are handed to one Handler, which answers through a Responder, at
// once or later (a command waits for consensus, a long-poll for a change).
// The Responder may also
//   - turn the exchange into a STREAM (text/event-stream): the head is sent
//     once, then whatever the producer send()s, with a heartbeat comment
//     while it is quiet; it ends when the producer closes it, the client
//     goes away, or the client reads too slowly (its unsent bytes pass
//     stream_buffer_bytes_max, or one write takes response_ms_max);
//   - FORWARD the request to another server (the leader) through a small
//     pool of keep-alive connections, and hand back what it answered.
// A request carrying both Content-Length and Transfer-Encoding, or a
// Transfer-Encoding other than chunked, is refused (400, request smuggling).
//
// Beast lives in server.cpp only (compile time: one heavy translation unit).
// Threads: the server runs its own io_context on `threads` threads (synod
// uses 1); the handler and forward callbacks are called on one of them.
// Responder, Stream and their callbacks are thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace synod::tls {
class Store;
}

namespace synod::http {

// Defaults are tighter than etcd's and Consul's (docs/api.md compares them).
struct Limits {
  size_t header_bytes_max = 8 << 10;     // request line and headers; etcd and Consul: 1 MiB
  size_t body_bytes_max = 256 << 10;     // etcd: 1.5 MiB requests; Consul: 512 KiB values
  size_t connections_max = 512;          // open client connections; more are answered 429 and closed
  // Connections from one client address that have not completed a request
  // yet (address_quota.h); more are answered 429 and closed.
  size_t unproven_connections_per_address_max = 64;
  int64_t request_ms_max = 10'000;       // a request must arrive whole within this of its first byte
  int64_t response_ms_max = 10'000;      // a response, or one stream write, must be taken within this
  int64_t idle_ms_max = 30'000;          // a keep-alive connection may idle this long between requests
  size_t streams_max = 256;              // open event streams; more are answered 429
  size_t streams_per_address_max = 128;  // open event streams from one client address; more are answered 429
  // Requests from one client address waiting for their answers (long-polls
  // wait minutes); more are answered 429 at once.
  size_t waiting_requests_per_address_max = 256;
  size_t stream_buffer_bytes_max = 256 << 10;  // unsent bytes of one stream before its reader is cut off
  int64_t stream_heartbeat_ms = 10'000;  // a comment line on a quiet stream, to find dead readers
  size_t forwards_max = 256;             // requests in flight to another node; more are answered 429
  // Kept open per upstream node. As many as the forwards a busy follower has
  // in flight, or every burst above it pays a connect and a close.
  size_t forward_idle_connections_max = 128;
  // An idle upstream connection is dropped after this, well before the
  // upstream's own idle_ms_max, so a pooled connection is never one the
  // upstream is closing as we send on it.
  int64_t forward_idle_ms_max = 10'000;
  int64_t forward_connect_ms_max = 1'000;
  size_t forward_response_bytes_max = 8 << 20;
};
static_assert(Limits{}.forward_idle_ms_max < Limits{}.idle_ms_max);
static_assert(Limits{}.forward_idle_connections_max <= Limits{}.forwards_max);

struct Header {
  std::string name;  // lower case
  std::string value;
};

struct Request {
  std::string method;  // "GET", "POST", ...
  std::string target;  // as sent: path and query
  std::string path;    // the part before '?', still percent-encoded
  std::string query;   // the part after '?', still percent-encoded
  std::vector<Header> headers;
  std::string body;
  std::string remote;  // peer address, for logs
  // Over TLS with a client certificate the CA signed: the name it gives its
  // holder (tls/identity.h: the user of a synod://CLUSTER/user/NAME URI, else
  // the common name). Empty otherwise.
  std::string certificate_name;
  // The URI synod://CLUSTER-ID/node/ID if that certificate is a member's
  // (a follower forwarding), else empty.
  std::string certificate_member;

  // The value of header `name` (lower case), or empty.
  std::string_view header(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<Header> headers;

  // Sets header `name` (lower case), replacing an earlier value.
  void set_header(std::string_view name, std::string value);
};

// An open server-sent-event stream. Any thread.
class Stream {
 public:
  virtual ~Stream() = default;
  // Queues bytes (whole SSE events). False once the stream is closed: the
  // producer stops then.
  virtual bool send(std::string bytes) = 0;
  // Ends the stream after what is queued.
  virtual void close() = 0;
  virtual bool open() const = 0;
  // Runs `fn` on the stream's connection thread (not at all once closed):
  // for producers whose callbacks arrive on another thread.
  virtual void post(std::function<void()> fn) = 0;
};

// A request to send to another server.
struct Outbound {
  std::string host;  // an IP address or a host name, resolved for each new connection
  uint16_t port = 0;
  std::string method;
  std::string target;
  std::vector<Header> headers;
  std::string body;
  int64_t timeout_ms = 10'000;  // from sending until the whole response is in
  // With TLS on: the URI SAN the upstream's certificate must carry (the
  // member it is: tls/identity.h). Empty: any certificate the CA signed.
  std::string tls_identity;
};

struct ForwardResult {
  enum class Kind : uint8_t {
    ok,           // `response` is what the upstream answered
    unreachable,  // nothing was sent (no connection): safe to retry anywhere
    lost,         // sent, but no whole answer came (closed, reset, timed out): outcome unknown
    busy,         // over forwards_max: nothing was sent
  };
  Kind kind = Kind::ok;
  Response response;
  std::string detail;
};

// One exchange's way back to its client. server.cpp implements it.
class Exchange {
 public:
  virtual ~Exchange() = default;
  virtual void send(Response response) = 0;
  virtual std::shared_ptr<Stream> stream(Response head) = 0;
  virtual void forward(Outbound outbound, std::function<void(ForwardResult)> done) = 0;
};

class Responder {
 public:
  using Send = std::function<void(Response)>;
  // A plain responder (tests): no streams, no forwarding.
  explicit Responder(Send send) : send_(std::make_shared<Once>(std::move(send))) {}
  explicit Responder(std::shared_ptr<Exchange> exchange)
      : send_(std::make_shared<Once>(nullptr)), exchange_(std::move(exchange)) {}

  // Sends the response. Exactly once per request, across every copy: a
  // second answer, or a stream after an answer, is a bug and stops the
  // process (SYNOD_ASSERT). Any thread.
  void operator()(Response response) const;
  // Turns the exchange into an event stream: sends `head` (its status,
  // type and headers) and returns the stream, or nullptr if there are
  // already streams_max streams (or this responder cannot stream); the
  // caller then answers normally.
  std::shared_ptr<Stream> stream(Response head) const;
  // Sends the request to another server; `done` gets its answer or why
  // there is none, and then answers through this responder.
  void forward(Outbound outbound, std::function<void(ForwardResult)> done) const;

 private:
  struct Once {
    explicit Once(Send s) : send(std::move(s)) {}
    std::atomic<bool> used{false};
    Send send;
  };
  std::shared_ptr<Once> send_;
  std::shared_ptr<Exchange> exchange_;
};

using Handler = std::function<void(Request&&, Responder)>;
// Builds the response for a request the server refuses before any handler
// sees it (too large, malformed, too slow): status, code and message.
using ErrorBody = std::function<Response(int status, std::string_view code, std::string_view message)>;
using LogLine = std::function<void(std::string_view level, std::string_view event, std::string_view detail)>;

class Server {
 public:
  Server(Limits limits, Handler handler, ErrorBody error_body, LogLine log);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds and listens. `host` is an IP address or a name ("localhost"),
  // resolved here once (blocking; IPv4 addresses first). Returns an empty
  // string, or why it could not (the port is in use, the name does not
  // resolve).
  std::string listen(const std::string& host, uint16_t port);
  // Serves HTTPS, and forwards over TLS, with the store's current contexts
  // (each new connection takes the newest; tls/store.h). Plain HTTP sent to
  // the port is answered 400 and closed. A client certificate is checked if
  // sent, and required if `require_client_certificate`. Call before start().
  void use_tls(std::shared_ptr<tls::Store> store, bool require_client_certificate);
  uint16_t port() const;
  void start(int threads);
  // Stops accepting, closes every connection, joins the threads.
  void stop();

  struct Stats {
    uint64_t connections_open;
    uint64_t connections_refused;
    uint64_t requests;
    uint64_t streams_open;
    uint64_t slow_clients_cut;  // slow senders and slow readers cut off
    uint64_t forwards;
  };
  Stats stats() const;

  struct Impl;  // server.cpp only

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace synod::http
