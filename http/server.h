// The HTTP/1.1 server under synod's client API: Boost.Beast, keep-alive,
// and a limit on everything a client controls (issue #6): header bytes, body
// bytes, connections, the time to send a whole request (a slow sender) and
// the time to take a response (a slow reader), and idle keep-alive time.
//
// Requests are handed to one Handler, which answers through a Responder,
// at once or later (a command waits for consensus, a long-poll for a change):
// the Responder may be called from any thread, exactly once.
//
// Beast lives in server.cpp only (compile time: one heavy translation unit).
// Threads: the server runs its own io_context on `threads` threads; the
// handler is called on one of them.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace synod::http {

struct Limits {
  size_t header_bytes_max = 8 << 10;   // etcd and Consul allow 1 MiB of headers
  size_t body_bytes_max = 1 << 20;     // etcd: 1.5 MiB requests
  size_t connections_max = 1024;
  int64_t request_ms_max = 10'000;     // a request must arrive whole within this
  int64_t response_ms_max = 10'000;    // a response must be taken within this
  int64_t idle_ms_max = 60'000;        // a keep-alive connection may idle this long
};

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

  // The value of header `name` (lower case), or empty.
  std::string_view header(std::string_view name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<Header> headers;
};

class Responder {
 public:
  using Send = std::function<void(Response)>;
  explicit Responder(Send send) : send_(std::move(send)) {}
  // Sends the response; call exactly once, from any thread.
  void operator()(Response response) {
    if (send_) {
      auto send = std::move(send_);
      send_ = nullptr;
      send(std::move(response));
    }
  }

 private:
  Send send_;
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

  // Binds and listens. Returns an empty string, or why it could not (for
  // example the port is in use).
  std::string listen(const std::string& host, uint16_t port);
  uint16_t port() const;
  void start(int threads);
  // Stops accepting, closes every connection, joins the threads.
  void stop();

  struct Stats {
    uint64_t connections_open;
    uint64_t connections_refused;
    uint64_t requests;
  };
  Stats stats() const;

  struct Impl;  // server.cpp only

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace synod::http
