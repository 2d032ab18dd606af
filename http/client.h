// A tiny blocking HTTP/1.1 client for synodctl and the load tool
// (bench/http_lock_load.cpp): plain POSIX sockets, addresses as IP:port or
// name:port (getaddrinfo at every connect), one keep-alive connection per
// Client, responses with Content-Length, chunked or read-until-close bodies,
// and server-sent-event streams, over TLS if asked (client_tls.h). No Beast:
// synodctl stays small and quick to build.
//
// Owned by one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/client_tls.h"

struct addrinfo;

namespace synod::http {

struct ClientResponse {
  int status = 0;     // 0: no response; `error` says why
  std::string error;  // transport failure
  std::vector<std::pair<std::string, std::string>> headers;  // names lower case
  std::string body;
  bool sent = false;  // the request left: with status 0, its outcome is unknown

  std::string header(std::string_view name) const;
};

struct SseEvent {
  std::string id;
  std::string type;  // "message" if the event named none
  std::string data;
};

class Client {
 public:
  // `address` is "host:port": an IPv4 literal, "[IPv6]" or a name
  // ("localhost"), resolved (blocking) at every connect, IPv4 addresses
  // tried first. Every read and write must make progress within timeout_ms,
  // and a connect to each address must finish within it.
  // With `tls`, every connection speaks TLS (client_tls.h).
  Client(std::string address, int64_t timeout_ms, TlsContext tls = nullptr);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  ClientResponse request(std::string_view method, std::string_view target, std::string_view body = {},
                         const std::vector<std::pair<std::string, std::string>>& headers = {});

  // Sends a GET and, if it answers 200 with an event stream, calls on_event
  // for each event until it returns false, the server ends the stream, or
  // nothing (not even a heartbeat) arrives for idle_ms. The response's body
  // is empty then; for any other status it holds the error body.
  ClientResponse stream(std::string_view target, const std::vector<std::pair<std::string, std::string>>& headers,
                        int64_t idle_ms, const std::function<bool(const SseEvent&)>& on_event);

  const std::string& address() const { return address_; }
  void close();
  // The largest body an answer may have (64 MiB unless raised): a larger one
  // is an error, not a process that runs out of memory. `synodctl snapshot
  // save` raises it: a backup is the whole state.
  void set_body_bytes_max(size_t bytes) { body_bytes_max_ = bytes; }

 private:
  bool connect(std::string& error);
  bool connect_to(const addrinfo& address, std::string& error);
  bool send_all(std::string_view bytes, std::string& error);
  bool tls_step(bool writing, std::string_view bytes, char* out, size_t size, size_t& moved, std::string& error,
                int64_t timeout_ms);
  // Reads at least one more byte into buffer_; false at EOF or error.
  bool fill(std::string& error, int64_t timeout_ms);
  bool read_head(ClientResponse& response, int64_t timeout_ms);
  bool read_body(ClientResponse& response);
  bool read_line(std::string& line, std::string& error, int64_t timeout_ms);

  std::string address_;
  size_t body_bytes_max_ = size_t{64} << 20;
  std::string host_;
  uint16_t port_ = 0;
  int64_t timeout_ms_;
  int fd_ = -1;
  TlsContext tls_;
  std::unique_ptr<TlsSession> session_;  // while connected, with tls_
  std::string buffer_;  // bytes read and not yet consumed
};

}  // namespace synod::http
