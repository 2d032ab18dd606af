// The one translation unit that includes Beast (compile time): the server's
// connections, their event streams, and the forwarding client's pool (whose
// client, forward.h, is compiled here too).
#include "http/server.h"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/detect_ssl.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <deque>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "base/assert.h"
#include "http/flex_stream.h"
#include "http/forward.h"
#include "http/response_head.h"
#include "tls/identity.h"

namespace synod::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

using BeastResponse = bhttp::response<bhttp::string_body>;

std::shared_ptr<BeastResponse> to_beast(Response response, bool keep_alive) {
  auto message = std::make_shared<BeastResponse>();
  message->version(11);
  message->result(static_cast<unsigned>(response.status));
  message->set(bhttp::field::server, "synod");
  message->set(bhttp::field::content_type, response.content_type);
  for (const auto& header : response.headers) message->set(canonical_header_name(header.name), header.value);
  message->body() = std::move(response.body);
  message->keep_alive(keep_alive);
  message->prepare_payload();
  return message;
}

// One HTTP/1.1 chunk.
std::string chunk(std::string_view bytes) {
  char size[24];
  std::snprintf(size, sizeof size, "%zx\r\n", bytes.size());
  std::string out = size;
  out += bytes;
  out += "\r\n";
  return out;
}

}  // namespace

namespace {

using net::ipv4_first;
using net::kResolveFlags;
using server_detail::Forward;
using server_detail::lower;
using server_detail::ms;


// ---------------------------------------------------------------- connections
// One client connection: read a request (whole within the request deadline
// from its first byte), hand it to the handler, write its response (within
// the response deadline), and go round again while the client keeps the
// connection alive. A handler may instead turn it into an event stream,
// which it stays until it closes.
class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // `address` holds a slot of server.unproven until the first request is in.
  Connection(tcp::socket socket, Server::Impl& server, std::string address)
      : stream_(std::move(socket)),
        server_(server),
        client_address_(address),
        unproven_address_(std::move(address)),
        heartbeat_(stream_.get_executor()) {
    ++server_.open;
  }
  ~Connection() {
    end_stream_count();
    answered();
    proven();
    --server_.open;
  }

  // The first request arrived whole: the connection no longer counts against
  // its address's quota.
  void proven() {
    if (unproven_address_.empty()) return;
    server_.unproven.give_back(unproven_address_);
    unproven_address_.clear();
  }

  void start() {
    if (!server_.tls) return wait_for_request();
    // The first bytes say whether the client speaks TLS; plain HTTP gets a
    // plain answer saying so, rather than a handshake error it cannot read.
    stream_.tcp().expires_after(ms(server_.limits.request_ms_max));
    beast::async_detect_ssl(stream_.tcp(), buffer_, [self = shared_from_this()](beast::error_code ec, bool is_tls) {
      if (ec) return self->fail_read(ec, false);
      if (!is_tls) {
        return self->refuse_request(400, "tls_required", "this port speaks TLS only: use https://");
      }
      self->handshake();
    });
  }

  // ---- the Exchange side (any thread) ----
  void respond(Response response) {
    asio::dispatch(stream_.get_executor(),
                   [self = shared_from_this(), response = std::move(response)]() mutable {
                     self->write(std::move(response));
                   });
  }
  std::shared_ptr<Stream> open_stream(Response head);
  bool stream_send(std::string bytes);
  void stream_close() {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->end_stream_gracefully(); });
  }
  bool stream_open() const { return stream_open_.load(); }
  void stream_post(std::function<void()> fn) {
    asio::post(stream_.get_executor(), [self = shared_from_this(), fn = std::move(fn)] {
      if (self->stream_open_) fn();
    });
  }

 private:
  // ---- TLS ----
  void handshake() {
    auto contexts = server_.tls->current();
    stream_.use_tls(contexts, *contexts->server);
    if (server_.require_client_certificate) {
      stream_.ssl().set_verify_mode(asio::ssl::verify_peer | asio::ssl::verify_fail_if_no_peer_cert);
    }
    stream_.ssl().async_handshake(asio::ssl::stream_base::server, buffer_.data(),
                                  [self = shared_from_this()](beast::error_code ec, size_t used) {
                                    if (ec) {
                                      const auto why = tls::verify_failure(self->stream_.ssl().native_handle());
                                      self->server_.log("warn", "tls_handshake_refused",
                                                        self->remote_address() + ": " +
                                                            (why.empty() ? ec.message() : why));
                                      return self->close();
                                    }
                                    self->buffer_.consume(used);
                                    const SSL* ssl = self->stream_.ssl().native_handle();
                                    self->certificate_name_ = certificate_name(ssl);
                                    for (const auto& uri : tls::peer_uris(ssl)) {
                                      if (uri.rfind("synod://", 0) == 0 && uri.find("/node/") != std::string::npos) {
                                        self->certificate_member_ = uri;
                                      }
                                    }
                                    self->wait_for_request();
                                  });
  }

  // The name a client certificate gives (server.h: Request::certificate_name).
  static std::string certificate_name(const SSL* ssl) {
    static const std::string kUser = "/user/";
    for (const auto& uri : tls::peer_uris(ssl)) {
      const auto at = uri.find(kUser);
      if (uri.rfind("synod://", 0) == 0 && at != std::string::npos) return uri.substr(at + kUser.size());
    }
    return tls::peer_common_name(ssl);
  }

  std::string remote_address() {
    if (remote_.empty()) {
      // Asked once per connection: a getpeername(2) per request cost as many
      // system calls as the requests themselves under load.
      beast::error_code ignored;
      const auto remote = stream_.socket().remote_endpoint(ignored);
      if (!ignored) remote_ = remote.address().to_string() + ":" + std::to_string(remote.port());
    }
    return remote_;
  }

  // ---- reading a request ----
  void wait_for_request() {
    if (buffer_.size() > 0) return read_header();  // a pipelined request is already here
    // The first byte of a request may take up to the idle limit on a
    // keep-alive connection (the request limit on a new one); from then on
    // the whole request must arrive within the request limit.
    stream_.tcp().expires_after(ms(first_request_ ? server_.limits.request_ms_max : server_.limits.idle_ms_max));
    stream_.async_read_some(buffer_.prepare(4096), [self = shared_from_this()](beast::error_code ec, size_t n) {
      if (ec) return self->fail_read(ec, false);
      self->buffer_.commit(n);
      self->read_header();
    });
  }

  void read_header() {
    first_request_ = false;
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(server_.limits.header_bytes_max));
    parser_->body_limit(server_.limits.body_bytes_max);
    stream_.tcp().expires_after(ms(server_.limits.request_ms_max));
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec) return fail_read(ec, true);
    const auto& header = parser_->get();
    const bool has_length = header.find(bhttp::field::content_length) != header.end();
    const auto encodings = header.count(bhttp::field::transfer_encoding);
    if (encodings > 0 && (has_length || encodings > 1 || !beast::iequals(header[bhttp::field::transfer_encoding], "chunked"))) {
      // Two ways to frame one body are how requests are smuggled past proxies.
      return refuse_request(400, "bad_framing", "Transfer-Encoding must be chunked alone, without Content-Length");
    }
    if (beast::iequals(header[bhttp::field::expect], "100-continue")) {
      // curl waits a second for this before it sends a body over 1 KiB.
      static const std::string kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      return asio::async_write(stream_, asio::buffer(kContinue), [self = shared_from_this()](beast::error_code e, size_t) {
        if (e) return self->close();
        self->read_body();
      });
    }
    read_body();
  }

  void read_body() {
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code e, size_t) { self->on_read(e); });
  }

  void on_read(beast::error_code ec) {
    if (ec) return fail_read(ec, true);
    stream_.tcp().expires_never();
    proven();
    auto message = parser_->release();
    keep_alive_ = message.keep_alive();
    Request request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    const auto question = request.target.find('?');
    request.path = request.target.substr(0, question);
    if (question != std::string::npos) request.query = request.target.substr(question + 1);
    request.headers.reserve(static_cast<size_t>(std::distance(message.begin(), message.end())));
    for (const auto& field : message) {
      request.headers.push_back(Header{lower(field.name_string()), std::string(field.value())});
    }
    request.body = std::move(message.body());
    request.remote = remote_address();
    request.certificate_name = certificate_name_;
    request.certificate_member = certificate_member_;
    ++server_.requests;
    // A request waits for its answer (a long-poll may wait minutes): one
    // address may have at most waiting_requests_per_address_max waiting.
    if (!server_.waiting.take(client_address_)) {
      return refuse_request(429, "too_many_requests",
                            std::to_string(server_.limits.waiting_requests_per_address_max) + " requests from " +
                                client_address_ + " are waiting for their answers");
    }
    waiting_ = true;
    server_.handler(std::move(request), Responder(std::make_shared<ExchangeImpl>(shared_from_this())));
  }

  // A request the server refuses itself: answer if the connection can still
  // carry an answer, then close.
  void fail_read(beast::error_code ec, bool started) {
    if (ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
        ec == asio::error::operation_aborted) {
      return close();
    }
    if (ec == beast::error::timeout) {
      // A slow sender, or an idle keep-alive connection: cut off.
      if (started) {
        ++server_.slow_cut;
        server_.log("warn", "slow_sender_cut", "a request did not arrive whole within " +
                                                   std::to_string(server_.limits.request_ms_max) + " ms");
      }
      return close();
    }
    if (ec == bhttp::error::body_limit) {
      return refuse_request(413, "body_too_large",
                            "the request body is over " + std::to_string(server_.limits.body_bytes_max) + " bytes");
    }
    if (ec == bhttp::error::header_limit) {
      return refuse_request(431, "headers_too_large",
                            "the request headers are over " + std::to_string(server_.limits.header_bytes_max) + " bytes");
    }
    if (ec == bhttp::error::bad_content_length || ec == bhttp::error::multiple_content_length ||
        ec == bhttp::error::bad_transfer_encoding) {
      return refuse_request(400, "bad_framing",
                            "Content-Length and Transfer-Encoding conflict or are malformed: " + ec.message());
    }
    refuse_request(400, "bad_request", "malformed HTTP request: " + ec.message());
  }

  void refuse_request(int status, std::string_view code, const std::string& message) {
    keep_alive_ = false;
    write(server_.error_body(status, code, message));
  }

  // ---- writing a response ----
  // The head goes into a buffer this connection keeps (response_head.h),
  // beside the body, in one write.
  // The request is answered (or turned into a stream): it waits no more.
  void answered() {
    if (waiting_.exchange(false)) server_.waiting.give_back(client_address_);
  }

  void write(Response response) {
    answered();
    const bool keep_alive = keep_alive_ && !server_.stopping;
    head_.clear();
    append_response_head(response, keep_alive, head_);
    body_ = std::move(response.body);
    stream_.tcp().expires_after(ms(server_.limits.response_ms_max));
    const std::array<asio::const_buffer, 2> buffers{asio::buffer(head_), asio::buffer(body_)};
    asio::async_write(stream_, buffers, [self = shared_from_this(), keep_alive](beast::error_code ec, size_t) {
      self->on_write(ec, keep_alive);
    });
  }

  void on_write(beast::error_code ec, bool keep_alive) {
    // The body was the response's own; an idle keep-alive connection must
    // not hold the last one (a page of keys can be hundreds of KiB).
    body_ = std::string();
    if (ec == beast::error::timeout) {
      ++server_.slow_cut;
      server_.log("warn", "slow_reader_cut", "a response was not taken within " +
                                                 std::to_string(server_.limits.response_ms_max) + " ms");
    }
    if (ec || !keep_alive) return close();
    wait_for_request();
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.tcp().close();
  }

  // ---- event streams (on the connection's strand) ----
  void start_stream(std::shared_ptr<BeastResponse> head);
  void enqueue(std::string bytes);
  void write_next();
  void arm_heartbeat();
  void watch_for_hangup();
  void end_stream_gracefully();
  void cut_stream(const char* why);
  void end_stream_count() {
    if (!counted_stream_.exchange(false)) return;
    --server_.streams;
    server_.stream_quota.give_back(client_address_);
  }

  class ExchangeImpl : public Exchange {
   public:
    explicit ExchangeImpl(std::shared_ptr<Connection> connection) : connection_(std::move(connection)) {}
    void send(Response response) override { connection_->respond(std::move(response)); }
    std::shared_ptr<Stream> stream(Response head) override { return connection_->open_stream(std::move(head)); }
    void forward(Outbound outbound, std::function<void(ForwardResult)> done) override {
      auto& server = connection_->server_;
      if (server.forwards_in_flight.fetch_add(1) >= server.limits.forwards_max) {
        server.forwards_in_flight.fetch_sub(1);
        ForwardResult result;
        result.kind = ForwardResult::Kind::busy;
        result.detail = "too many requests are being forwarded";
        return done(std::move(result));
      }
      ++server.forwards;
      // Started on the server's threads, whichever thread asked.
      auto forward = std::make_shared<Forward>(server, std::move(outbound), std::move(done));
      asio::post(server.io, [forward] { forward->start(); });
    }

   private:
    std::shared_ptr<Connection> connection_;
  };

  class StreamImpl : public Stream {
   public:
    explicit StreamImpl(std::shared_ptr<Connection> connection) : connection_(std::move(connection)) {}
    bool send(std::string bytes) override { return connection_->stream_send(std::move(bytes)); }
    void close() override { connection_->stream_close(); }
    bool open() const override { return connection_->stream_open(); }
    void post(std::function<void()> fn) override { connection_->stream_post(std::move(fn)); }

   private:
    std::shared_ptr<Connection> connection_;
  };

  FlexStream stream_;
  Server::Impl& server_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bool keep_alive_ = false;
  std::string head_;    // the response being written: its head, reused
  std::string body_;    // and its body, freed once written
  std::string remote_;  // the client's address:port, asked once (remote_address)
  std::string certificate_name_;    // set once the TLS handshake is done
  std::string certificate_member_;  // likewise
  const std::string client_address_;  // the client's address, for its quotas (address_quota.h)
  std::string unproven_address_;      // until the first request is in
  std::atomic<bool> waiting_{false};  // a request of this connection holds a slot of server_.waiting
  bool first_request_ = true;

  // Stream state (strand), but for the two atomics.
  std::atomic<bool> stream_open_{false};
  // Bytes the producer sent that have not been written to the socket: what
  // a slow reader leaves behind, bounded by stream_buffer_bytes_max.
  std::atomic<size_t> stream_pending_bytes_{0};
  struct Pending {
    std::string bytes;  // one chunk, framed
    size_t payload;     // the producer's bytes in it (0 for heartbeats and the end)
  };
  std::atomic<bool> counted_stream_{false};
  bool stream_writing_ = false;
  bool stream_ending_ = false;
  std::deque<Pending> stream_queue_;
  Clock::time_point last_write_ = Clock::now();
  asio::steady_timer heartbeat_;
  char hangup_scratch_[256];
};

std::shared_ptr<Stream> Connection::open_stream(Response head) {
  // At most one stream per connection at a time (a stream's connection
  // closes when the stream ends).
  SYNOD_ASSERT(!stream_open_.load() && !counted_stream_.load());
  if (server_.streams.fetch_add(1) >= server_.limits.streams_max) {
    --server_.streams;
    return nullptr;
  }
  if (!server_.stream_quota.take(client_address_)) {
    --server_.streams;
    return nullptr;
  }
  answered();  // a stream counts against the stream quotas instead
  counted_stream_ = true;
  stream_open_ = true;
  head.set_header("cache-control", "no-cache");
  auto message = to_beast(std::move(head), false);
  message->body().clear();
  message->erase(bhttp::field::content_length);  // prepare_payload set 0; the body is chunked
  message->chunked(true);
  asio::dispatch(stream_.get_executor(), [self = shared_from_this(), message] { self->start_stream(message); });
  return std::make_shared<StreamImpl>(shared_from_this());
}

void Connection::start_stream(std::shared_ptr<BeastResponse> head) {
  SYNOD_ASSERT(!stream_writing_ && !stream_ending_ && stream_queue_.empty());  // the head goes first
  // The head goes out alone; each event is then one chunk.
  auto serializer = std::make_shared<bhttp::response_serializer<bhttp::string_body>>(*head);
  stream_.tcp().expires_after(ms(server_.limits.response_ms_max));
  stream_writing_ = true;
  bhttp::async_write_header(stream_, *serializer,
                            [self = shared_from_this(), head, serializer](beast::error_code ec, size_t) {
                              self->stream_writing_ = false;
                              if (ec) return self->cut_stream("the stream head was not taken");
                              self->last_write_ = Clock::now();
                              self->watch_for_hangup();
                              self->arm_heartbeat();
                              self->write_next();
                            });
}

bool Connection::stream_send(std::string bytes) {
  if (!stream_open_) return false;
  const size_t pending = stream_pending_bytes_.fetch_add(bytes.size()) + bytes.size();
  if (pending > server_.limits.stream_buffer_bytes_max) {
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->cut_stream("a slow reader fell behind"); });
    return false;
  }
  asio::dispatch(stream_.get_executor(),
                 [self = shared_from_this(), bytes = std::move(bytes)]() mutable { self->enqueue(std::move(bytes)); });
  return true;
}

void Connection::enqueue(std::string bytes) {
  if (!stream_open_ || stream_ending_) return;
  stream_queue_.push_back(Pending{chunk(bytes), bytes.size()});
  write_next();
}

void Connection::write_next() {
  if (stream_writing_ || stream_queue_.empty() || !stream_open_) return;
  stream_writing_ = true;
  stream_.tcp().expires_after(ms(server_.limits.response_ms_max));
  // The chunk in flight belongs to the write, not to the queue: a cut (a
  // hang-up seen by the read side) clears the queue while this write may
  // still be running or its success already be queued behind the cut.
  auto in_flight = std::make_shared<Pending>(std::move(stream_queue_.front()));
  stream_queue_.pop_front();
  asio::async_write(stream_, asio::buffer(in_flight->bytes), [self = shared_from_this(), in_flight](beast::error_code ec, size_t) {
    self->stream_writing_ = false;
    if (ec) return self->cut_stream(ec == beast::error::timeout ? "a slow reader did not take a write in time" : nullptr);
    if (!self->stream_open_) return;  // cut while this chunk was on its way
    self->last_write_ = Clock::now();
    self->stream_pending_bytes_.fetch_sub(in_flight->payload);
    if (self->stream_queue_.empty() && self->stream_ending_) {
      self->stream_open_ = false;
      self->end_stream_count();
      self->heartbeat_.cancel();
      return self->close();
    }
    self->write_next();
  });
}

void Connection::arm_heartbeat() {
  heartbeat_.expires_after(ms(server_.limits.stream_heartbeat_ms));
  heartbeat_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec || !self->stream_open_) return;
    if (Clock::now() - self->last_write_ >= ms(self->server_.limits.stream_heartbeat_ms) && self->stream_queue_.empty() &&
        !self->stream_writing_) {
      self->stream_queue_.push_back(Pending{chunk(": heartbeat\n\n"), 0});
      self->write_next();
    }
    self->arm_heartbeat();
  });
}

// A client ends a stream by closing its connection; what it sends is ignored.
// Read through TLS when the connection has it: raw reads would eat records.
void Connection::watch_for_hangup() {
  stream_.async_read_some(asio::buffer(hangup_scratch_), [self = shared_from_this()](beast::error_code ec, size_t) {
    // Aborted: the socket was closed here, by a cut or by a write that timed
    // out, whose own handler says why.
    if (ec == asio::error::operation_aborted) return;
    if (ec) return self->cut_stream(nullptr);
    self->watch_for_hangup();
  });
}

void Connection::end_stream_gracefully() {
  if (!stream_open_ || stream_ending_) return;
  stream_ending_ = true;
  stream_queue_.push_back(Pending{"0\r\n\r\n", 0});
  write_next();
}

void Connection::cut_stream(const char* why) {
  if (!stream_open_) return;
  stream_open_ = false;
  end_stream_count();
  heartbeat_.cancel();
  stream_queue_.clear();
  if (why != nullptr) {
    ++server_.slow_cut;
    server_.log("warn", "stream_cut", why);
  }
  close();
}

}  // namespace

// ------------------------------------------------------------------ the pool

std::unique_ptr<FlexStream> Server::Impl::take_idle(const std::string& upstream) {
  std::lock_guard<std::mutex> lock(pool_mutex);
  auto it = pool.find(upstream);
  if (it == pool.end()) return nullptr;
  auto& idle = it->second;
  const auto now = Clock::now();
  while (!idle.empty()) {
    Idle candidate = std::move(idle.back());
    idle.pop_back();
    if (now - candidate.since > ms(limits.forward_idle_ms_max)) continue;
    // A connection the upstream closed (a restart) reads as EOF at once; one
    // that is alive has nothing to read.
    char byte;
    const auto peeked = ::recv(candidate.stream->socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return std::move(candidate.stream);
  }
  return nullptr;
}

void Server::Impl::give_back(const std::string& upstream, std::unique_ptr<FlexStream> stream) {
  stream->tcp().expires_never();
  std::lock_guard<std::mutex> lock(pool_mutex);
  auto& idle = pool[upstream];
  if (stopping || idle.size() >= limits.forward_idle_connections_max) return;
  idle.push_back(Idle{std::move(stream), Clock::now()});
}

// ------------------------------------------------------------------ accepting

void Server::Impl::refuse(tcp::socket socket, std::string why) {
  // Over a connection limit: one 429 and close, rather than queue. A TLS
  // port only closes: a plain answer would be noise to a TLS client.
  ++refused;
  if (tls) {
    beast::error_code ignored;
    socket.close(ignored);
    return;
  }
  auto connection = std::make_shared<beast::tcp_stream>(std::move(socket));
  auto message = to_beast(error_body(429, "too_many_connections", why), false);
  connection->expires_after(ms(1'000));
  bhttp::async_write(*connection, *message, [connection, message](beast::error_code, size_t) {
    beast::error_code ignored;
    connection->socket().shutdown(tcp::socket::shutdown_send, ignored);
    connection->close();
  });
}

void Server::Impl::accept() {
  acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (!stopping) accept();
      return;
    }
    beast::error_code ignored;
    const std::string address = socket.remote_endpoint(ignored).address().to_string();
    if (open.load() >= limits.connections_max) {
      refuse(std::move(socket), "the server has " + std::to_string(limits.connections_max) + " connections open");
    } else if (!unproven.take(address)) {
      refuse(std::move(socket), std::to_string(limits.unproven_connections_per_address_max) + " connections from " +
                                    address + " have not sent a whole request yet");
    } else {
      std::make_shared<Connection>(std::move(socket), *this, address)->start();
    }
    accept();
  });
}

Server::Server(Limits limits, Handler handler, ErrorBody error_body, LogLine log)
    : impl_(std::make_shared<Impl>(limits, std::move(handler), std::move(error_body), std::move(log))) {}

Server::~Server() { stop(); }

std::string Server::listen(const std::string& host, uint16_t port) {
  beast::error_code ec;
  // A name ("localhost") is resolved once, here, before the threads start.
  tcp::resolver resolver(impl_->io);
  const auto results = resolver.resolve(host, std::to_string(port), kResolveFlags, ec);
  if (ec || results.empty()) {
    return "cannot listen on " + host + ":" + std::to_string(port) + ": the name does not resolve" +
           (ec ? " (" + ec.message() + ")" : std::string());
  }
  const tcp::endpoint endpoint = ipv4_first(results).front();
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return "cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message();
  return {};
}

void Server::use_tls(std::shared_ptr<tls::Store> store, bool require_client_certificate) {
  impl_->tls = std::move(store);
  impl_->require_client_certificate = require_client_certificate;
}

uint16_t Server::port() const {
  beast::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

void Server::start(int threads) {
  impl_->accept();
  for (int i = 0; i < threads; ++i) impl_->threads.emplace_back([this] { impl_->io.run(); });
}

void Server::stop() {
  if (!impl_ || impl_->stopping.exchange(true)) return;
  asio::post(impl_->io, [this] {
    beast::error_code ignored;
    impl_->acceptor.close(ignored);
  });
  impl_->io.stop();
  for (auto& thread : impl_->threads) {
    if (thread.joinable()) thread.join();
  }
  std::lock_guard<std::mutex> lock(impl_->pool_mutex);
  impl_->pool.clear();
}

Server::Stats Server::stats() const {
  return Stats{impl_->open.load(),    impl_->refused.load(),  impl_->requests.load(),
               impl_->streams.load(), impl_->slow_cut.load(), impl_->forwards.load()};
}

}  // namespace synod::http
