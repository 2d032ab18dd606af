// Internal to the HTTP server (server.cpp, the one Beast translation unit,
// includes it once): the server's shared state, and the forwarding client
// that sends a request to another node (the leader) through a pool of
// keep-alive connections, over TLS when the server has it. Kept apart so
// that each file stays one job; compiled only within server.cpp.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "http/address_quota.h"
#include "http/flex_stream.h"
#include "http/server.h"
#include "net/resolve.h"
#include "tls/identity.h"
#include "tls/store.h"

namespace synod::http {

namespace server_detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using net::ipv4_first;
using net::kResolveFlags;

inline std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

inline std::chrono::milliseconds ms(int64_t value) { return std::chrono::milliseconds(value); }

// A pooled connection to an upstream node, idle since `since`.
struct Idle {
  std::unique_ptr<FlexStream> stream;
  Clock::time_point since;
};

}  // namespace server_detail

struct Server::Impl {
  using Clock = server_detail::Clock;
  using Idle = server_detail::Idle;
  Impl(Limits l, Handler h, ErrorBody e, LogLine g)
      : limits(l), handler(std::move(h)), error_body(std::move(e)), log(std::move(g)), acceptor(io) {}

  Limits limits;
  Handler handler;
  ErrorBody error_body;
  LogLine log;
  // Counters and the pool come before io: handlers that io destroys last
  // may still touch them.
  std::atomic<uint64_t> open{0}, refused{0}, requests{0}, streams{0}, slow_cut{0}, forwards{0};
  std::atomic<size_t> forwards_in_flight{0};
  std::atomic<bool> stopping{false};
  std::mutex pool_mutex;
  std::map<std::string, std::vector<Idle>> pool;  // by "host:port"
  std::shared_ptr<tls::Store> tls;                // null: plain HTTP
  AddressQuota unproven{limits.unproven_connections_per_address_max};
  AddressQuota stream_quota{limits.streams_per_address_max};      // event streams per client address
  AddressQuota waiting{limits.waiting_requests_per_address_max};  // requests awaiting their answers, per address
  bool require_client_certificate = false;
  server_detail::asio::io_context io;
  server_detail::tcp::acceptor acceptor;
  std::vector<std::thread> threads;

  void accept();
  void refuse(server_detail::tcp::socket socket, std::string why);
  std::unique_ptr<FlexStream> take_idle(const std::string& upstream);
  void give_back(const std::string& upstream, std::unique_ptr<FlexStream> stream);
};

namespace server_detail {

// ---------------------------------------------------------------- forwarding
// One request to an upstream server: take a pooled connection (or resolve
// and connect), write, read the whole response within the deadline, give
// the connection back if it stays alive. The upstream's host may be a name:
// it is resolved for every new connection (a pooled one is reused as is), on
// Asio's resolver thread, within forward_connect_ms_max like the connect.
class Forward : public std::enable_shared_from_this<Forward> {
 public:
  Forward(Server::Impl& server, Outbound outbound, std::function<void(ForwardResult)> done)
      : server_(server), out_(std::move(outbound)), done_(std::move(done)),
        upstream_(out_.host + ":" + std::to_string(out_.port)), strand_(asio::make_strand(server_.io)),
        resolver_(strand_), resolve_deadline_(strand_) {}

  void start() {
    stream_ = server_.take_idle(upstream_);
    if (stream_) return send();
    beast::error_code ec;
    const auto address = asio::ip::make_address(out_.host, ec);
    if (!ec) return connect({tcp::endpoint(address, out_.port)});
    resolve();
  }

 private:
  void resolve() {
    resolve_deadline_.expires_after(ms(server_.limits.forward_connect_ms_max));
    resolve_deadline_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->resolver_.cancel();  // the resolve handler reports operation_aborted
    });
    resolver_.async_resolve(out_.host, std::to_string(out_.port), kResolveFlags,
                            [self = shared_from_this()](beast::error_code ec, tcp::resolver::results_type results) {
                              self->resolve_deadline_.cancel();
                              self->on_resolve(ec, results);
                            });
  }

  void on_resolve(beast::error_code ec, const tcp::resolver::results_type& results) {
    if (ec == asio::error::operation_aborted) {
      return finish(ForwardResult::Kind::unreachable, "resolving " + out_.host + " took over " +
                                                          std::to_string(server_.limits.forward_connect_ms_max) + " ms");
    }
    if (ec || results.empty()) {
      return finish(ForwardResult::Kind::unreachable,
                    "cannot resolve " + out_.host + (ec ? ": " + ec.message() : std::string()));
    }
    connect(ipv4_first(results));
  }

  // Tries each address in turn until one accepts, within forward_connect_ms_max.
  void connect(const std::vector<tcp::endpoint>& endpoints) {
    stream_ = std::make_unique<FlexStream>(strand_);
    stream_->tcp().expires_after(ms(server_.limits.forward_connect_ms_max));
    stream_->tcp().async_connect(endpoints, [self = shared_from_this()](beast::error_code e, const tcp::endpoint&) {
      if (e)
        return self->finish(ForwardResult::Kind::unreachable,
                            "cannot connect to " + self->upstream_ + ": " + e.message());
      if (self->server_.tls) return self->handshake();
      self->send();
    });
  }

  // The upstream must show a certificate from our CA that names the member
  // routing meant (out_.tls_identity); this node shows its own, which is how
  // the upstream knows a forward comes from a member.
  void handshake() {
    auto contexts = server_.tls->current();
    stream_->use_tls(contexts, *contexts->client);
    stream_->ssl().async_handshake(asio::ssl::stream_base::client, [self = shared_from_this()](beast::error_code e) {
      if (e)
        return self->finish(ForwardResult::Kind::unreachable, "TLS to " + self->upstream_ + " failed: " + e.message());
      if (!self->out_.tls_identity.empty()) {
        const auto uris = tls::peer_uris(self->stream_->ssl().native_handle());
        if (std::find(uris.begin(), uris.end(), self->out_.tls_identity) == uris.end()) {
          return self->finish(ForwardResult::Kind::unreachable,
                              self->upstream_ + "'s certificate does not name " + self->out_.tls_identity);
        }
      }
      self->send();
    });
  }

  void send() {
    request_.version(11);
    request_.method_string(out_.method);
    request_.target(out_.target);
    request_.set(bhttp::field::host, upstream_);
    for (const auto& header : out_.headers) request_.set(header.name, header.value);
    request_.body() = out_.body;
    request_.keep_alive(true);
    request_.prepare_payload();
    stream_->tcp().expires_after(ms(out_.timeout_ms));
    bhttp::async_write(*stream_, request_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->finish(ForwardResult::Kind::lost, "sending to " + self->upstream_ + ": " + ec.message());
      self->receive();
    });
  }

  void receive() {
    parser_.emplace();
    parser_->body_limit(server_.limits.forward_response_bytes_max);
    bhttp::async_read(*stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->finish(ForwardResult::Kind::lost, "reading from " + self->upstream_ + ": " + ec.message());
      self->relay();
    });
  }

  void relay() {
    auto message = parser_->release();
    ForwardResult result;
    result.response.status = static_cast<int>(message.result_int());
    for (const auto& field : message) {
      const std::string name = lower(field.name_string());
      if (name == "content-type") result.response.content_type = std::string(field.value());
      else if (name.rfind("x-synod-", 0) == 0 || name == "allow" || name == "retry-after")
        result.response.headers.push_back(Header{name, std::string(field.value())});
    }
    result.response.body = std::move(message.body());
    if (message.keep_alive() && buffer_.size() == 0) server_.give_back(upstream_, std::move(stream_));
    done_(std::move(result));
    server_.forwards_in_flight.fetch_sub(1);
  }

  void finish(ForwardResult::Kind kind, std::string detail) {
    if (stream_) {
      beast::error_code ignored;
      stream_->socket().close(ignored);
    }
    ForwardResult result;
    result.kind = kind;
    result.detail = std::move(detail);
    done_(std::move(result));
    server_.forwards_in_flight.fetch_sub(1);
  }

  Server::Impl& server_;
  Outbound out_;
  std::function<void(ForwardResult)> done_;
  std::string upstream_;
  asio::strand<asio::io_context::executor_type> strand_;  // resolve, connect and their deadline
  tcp::resolver resolver_;
  asio::steady_timer resolve_deadline_;
  std::unique_ptr<FlexStream> stream_;
  bhttp::request<bhttp::string_body> request_;
  std::optional<bhttp::response_parser<bhttp::string_body>> parser_;
  beast::flat_buffer buffer_;
};

}  // namespace server_detail

}  // namespace synod::http
