// The one translation unit that includes Beast (compile time).
#include "http/server.h"

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <mutex>
#include <thread>

namespace synod::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;

std::string_view Request::header(std::string_view name) const {
  for (const auto& h : headers) {
    if (h.name == name) return h.value;
  }
  return {};
}

namespace {

std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

struct Server::Impl {
  Impl(Limits l, Handler h, ErrorBody e, LogLine g)
      : limits(l), handler(std::move(h)), error_body(std::move(e)), log(std::move(g)), acceptor(io) {}

  Limits limits;
  Handler handler;
  ErrorBody error_body;
  LogLine log;
  asio::io_context io;
  tcp::acceptor acceptor;
  std::vector<std::thread> threads;
  std::atomic<uint64_t> open{0}, refused{0}, requests{0};
  std::atomic<bool> stopping{false};

  void accept();
};

namespace {

// One client connection: read a request (within the request deadline), hand
// it to the handler, write its response (within the response deadline),
// and go round again while the client keeps the connection alive.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, Server::Impl& server) : stream_(std::move(socket)), server_(server) {
    ++server_.open;
  }
  ~Session() { --server_.open; }

  void start() { read(); }

 private:
  void read() {
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(server_.limits.header_bytes_max));
    parser_->body_limit(server_.limits.body_bytes_max);
    // The first byte of a keep-alive request may take up to the idle limit;
    // once it comes, the whole request must arrive within the request limit.
    stream_.expires_after(std::chrono::milliseconds(first_request_ ? server_.limits.request_ms_max
                                                                    : server_.limits.idle_ms_max));
    first_request_ = false;
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = shared_from_this()](beast::error_code ec, size_t) { self->on_header(ec); });
  }

  void on_header(beast::error_code ec) {
    if (ec) return fail_read(ec);
    stream_.expires_after(std::chrono::milliseconds(server_.limits.request_ms_max));
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](beast::error_code e, size_t) { self->on_read(e); });
  }

  void on_read(beast::error_code ec) {
    if (ec) return fail_read(ec);
    stream_.expires_never();
    auto message = parser_->release();
    keep_alive_ = message.keep_alive();
    Request request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    const auto question = request.target.find('?');
    request.path = request.target.substr(0, question);
    if (question != std::string::npos) request.query = request.target.substr(question + 1);
    for (const auto& field : message) {
      request.headers.push_back(Header{lower(field.name_string()), std::string(field.value())});
    }
    request.body = std::move(message.body());
    beast::error_code ignored;
    const auto remote = stream_.socket().remote_endpoint(ignored);
    if (!ignored) request.remote = remote.address().to_string() + ":" + std::to_string(remote.port());
    ++server_.requests;
    auto self = shared_from_this();
    server_.handler(std::move(request), Responder([self](Response response) {
      auto executor = self->stream_.get_executor();
      asio::dispatch(executor, [self, response = std::move(response)]() mutable { self->write(std::move(response)); });
    }));
  }

  // A request the server refuses itself: answer if the connection can still
  // carry an answer, then close.
  void fail_read(beast::error_code ec) {
    if (ec == bhttp::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
        ec == asio::error::operation_aborted) {
      return close();
    }
    if (ec == beast::error::timeout) {
      // A slow sender (or an idle keep-alive connection): cut off.
      return close();
    }
    keep_alive_ = false;
    if (ec == bhttp::error::body_limit) {
      return write(server_.error_body(413, "body_too_large",
                                      "the request body is over " + std::to_string(server_.limits.body_bytes_max) +
                                          " bytes"));
    }
    if (ec == bhttp::error::header_limit) {
      return write(server_.error_body(431, "headers_too_large",
                                      "the request headers are over " +
                                          std::to_string(server_.limits.header_bytes_max) + " bytes"));
    }
    write(server_.error_body(400, "bad_request", "malformed HTTP request: " + ec.message()));
  }

  void write(Response response) {
    auto message = std::make_shared<bhttp::response<bhttp::string_body>>();
    message->version(11);
    message->result(static_cast<unsigned>(response.status));
    message->set(bhttp::field::server, "synod");
    message->set(bhttp::field::content_type, response.content_type);
    for (const auto& header : response.headers) message->set(header.name, header.value);
    message->body() = std::move(response.body);
    message->keep_alive(keep_alive_ && !server_.stopping);
    message->prepare_payload();
    stream_.expires_after(std::chrono::milliseconds(server_.limits.response_ms_max));
    bhttp::async_write(stream_, *message,
                       [self = shared_from_this(), message](beast::error_code ec, size_t) {
                         self->on_write(ec, message->keep_alive());
                       });
  }

  void on_write(beast::error_code ec, bool keep_alive) {
    if (ec || !keep_alive) return close();
    read();
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
    stream_.close();
  }

  beast::tcp_stream stream_;
  Server::Impl& server_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bool keep_alive_ = false;
  bool first_request_ = true;
};

}  // namespace

void Server::Impl::accept() {
  acceptor.async_accept(asio::make_strand(io), [this](beast::error_code ec, tcp::socket socket) {
    if (ec) {
      if (!stopping) accept();
      return;
    }
    if (open.load() >= limits.connections_max) {
      // Over the connection limit: close at once rather than queue.
      ++refused;
      beast::error_code ignored;
      socket.close(ignored);
    } else {
      std::make_shared<Session>(std::move(socket), *this)->start();
    }
    accept();
  });
}

Server::Server(Limits limits, Handler handler, ErrorBody error_body, LogLine log)
    : impl_(std::make_unique<Impl>(limits, std::move(handler), std::move(error_body), std::move(log))) {}

Server::~Server() { stop(); }

std::string Server::listen(const std::string& host, uint16_t port) {
  beast::error_code ec;
  const auto address = asio::ip::make_address(host, ec);
  if (ec) return "bad listen address '" + host + "': " + ec.message();
  const tcp::endpoint endpoint(address, port);
  auto& acceptor = impl_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return "cannot listen on " + host + ":" + std::to_string(port) + ": " + ec.message();
  return {};
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
}

Server::Stats Server::stats() const { return Stats{impl_->open.load(), impl_->refused.load(), impl_->requests.load()}; }

}  // namespace synod::http
