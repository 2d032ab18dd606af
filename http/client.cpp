// The blocking HTTP/1.1 client (client.h).
#include "http/client.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

namespace synod::http {
namespace {

constexpr size_t kHeadBytesMax = 64 << 10;

std::string lower(std::string_view text) {
  std::string out(text);
  for (auto& c : out) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return out;
}

std::string trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) text.remove_suffix(1);
  return std::string(text);
}

bool wait_fd(int fd, short events, int64_t timeout_ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int ready = ::poll(&p, 1, static_cast<int>(timeout_ms));
    if (ready < 0 && errno == EINTR) continue;
    return ready > 0;
  }
}

using AddressList = std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)>;

// Resolves `host` (an IP literal or a name) at every connect, so a node
// whose name now points elsewhere is found there. No AI_ADDRCONFIG: in a
// network namespace with only loopback, glibc then returns nothing for
// "localhost". Returns the addresses IPv4 first, as the server binds them.
std::vector<const addrinfo*> resolve(const std::string& host, uint16_t port, AddressList& list, std::string& error) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* head = nullptr;
  const int status = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &head);
  list.reset(head);
  if (status != 0) {
    error = "cannot resolve " + host + ": " + (status == EAI_SYSTEM ? std::strerror(errno) : ::gai_strerror(status));
    return {};
  }
  std::vector<const addrinfo*> addresses;
  for (const addrinfo* entry = head; entry != nullptr; entry = entry->ai_next) addresses.push_back(entry);
  std::stable_partition(addresses.begin(), addresses.end(),
                        [](const addrinfo* entry) { return entry->ai_family == AF_INET; });
  if (addresses.empty()) error = "cannot resolve " + host + ": no addresses";
  return addresses;
}

}  // namespace

std::string ClientResponse::header(std::string_view name) const {
  for (const auto& [key, value] : headers)
    if (key == name) return value;
  return {};
}

Client::Client(std::string address, int64_t timeout_ms, TlsContext tls)
    : address_(std::move(address)), timeout_ms_(timeout_ms), tls_(std::move(tls)) {
  const auto colon = address_.rfind(':');
  if (colon != std::string::npos) {
    host_ = address_.substr(0, colon);
    if (host_.size() > 2 && host_.front() == '[' && host_.back() == ']') host_ = host_.substr(1, host_.size() - 2);
    const std::string port = address_.substr(colon + 1);
    if (!port.empty() && port.size() <= 5 && port.find_first_not_of("0123456789") == std::string::npos) {
      const int value = std::stoi(port);
      if (value > 0 && value <= 65535) port_ = static_cast<uint16_t>(value);
    }
  }
}

Client::~Client() { close(); }

void Client::close() {
  session_.reset();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buffer_.clear();
}

bool Client::connect(std::string& error) {
  close();
  if (port_ == 0 || host_.empty()) {
    error = "bad address '" + address_ + "' (want host:port)";
    return false;
  }
  AddressList list(nullptr, &::freeaddrinfo);
  const auto addresses = resolve(host_, port_, list, error);
  if (addresses.empty()) return false;
  // Each address in turn until one accepts; the error is the last one's.
  for (const addrinfo* address : addresses) {
    if (connect_to(*address, error)) return true;
  }
  return false;
}

bool Client::connect_to(const addrinfo& address, std::string& error) {
  close();
  fd_ = ::socket(address.ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd_ < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd_, address.ai_addr, address.ai_addrlen) != 0) {
    if (errno != EINPROGRESS || !wait_fd(fd_, POLLOUT, timeout_ms_)) {
      error = "cannot connect to " + address_ + ": " + (errno == EINPROGRESS ? "timed out" : std::strerror(errno));
      close();
      return false;
    }
    int so_error = 0;
    socklen_t size = sizeof so_error;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &so_error, &size);
    if (so_error != 0) {
      error = "cannot connect to " + address_ + ": " + std::strerror(so_error);
      close();
      return false;
    }
  }
  if (!tls_) return true;
  session_ = std::make_unique<TlsSession>(tls_);
  if (!session_->handshake(fd_, host_, timeout_ms_, error)) {
    error = address_ + ": " + error;
    close();
    return false;
  }
  return true;
}

// One TLS write or read, waiting for the socket as the session asks. A
// result of `closed` or `failed` sets `error`.
bool Client::tls_step(bool writing, std::string_view bytes, char* out, size_t size, size_t& moved, std::string& error,
                      int64_t timeout_ms) {
  for (;;) {
    const auto io = writing ? session_->write(bytes, moved) : session_->read(out, size, moved);
    if (io == TlsSession::Io::done) return true;
    if (io == TlsSession::Io::want_read || io == TlsSession::Io::want_write) {
      if (wait_fd(fd_, io == TlsSession::Io::want_read ? POLLIN : POLLOUT, timeout_ms)) continue;
      error = std::string("timed out ") + (writing ? "sending to " : "waiting for ") + address_;
      return false;
    }
    error = io == TlsSession::Io::closed ? "the connection to " + address_ + " closed"
                                         : "TLS with " + address_ + ": " + session_->error();
    return false;
  }
}

bool Client::send_all(std::string_view bytes, std::string& error) {
  while (session_ && !bytes.empty()) {
    size_t written = 0;
    if (!tls_step(true, bytes, nullptr, 0, written, error, timeout_ms_)) return false;
    bytes.remove_prefix(written);
  }
  while (!bytes.empty()) {
    const ssize_t sent = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent > 0) {
      bytes.remove_prefix(static_cast<size_t>(sent));
      continue;
    }
    if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!wait_fd(fd_, POLLOUT, timeout_ms_)) {
        error = "timed out sending to " + address_;
        return false;
      }
      continue;
    }
    if (sent < 0 && errno == EINTR) continue;
    error = std::string("sending to ") + address_ + ": " + std::strerror(errno);
    return false;
  }
  return true;
}

bool Client::fill(std::string& error, int64_t timeout_ms) {
  char chunk[16 << 10];
  if (session_) {
    size_t got = 0;
    if (!tls_step(false, {}, chunk, sizeof chunk, got, error, timeout_ms)) return false;
    buffer_.append(chunk, got);
    return true;
  }
  for (;;) {
    const ssize_t got = ::recv(fd_, chunk, sizeof chunk, 0);
    if (got > 0) {
      buffer_.append(chunk, static_cast<size_t>(got));
      return true;
    }
    if (got == 0) {
      error = "the connection to " + address_ + " closed";
      return false;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (!wait_fd(fd_, POLLIN, timeout_ms)) {
        error = "timed out waiting for " + address_;
        return false;
      }
      continue;
    }
    error = std::string("reading from ") + address_ + ": " + std::strerror(errno);
    return false;
  }
}

bool Client::read_line(std::string& line, std::string& error, int64_t timeout_ms) {
  for (;;) {
    const auto end = buffer_.find('\n');
    if (end != std::string::npos) {
      line = buffer_.substr(0, end);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      buffer_.erase(0, end + 1);
      return true;
    }
    if (buffer_.size() > kHeadBytesMax) {
      error = "a line from " + address_ + " is too long";
      return false;
    }
    if (!fill(error, timeout_ms)) return false;
  }
}

bool Client::read_head(ClientResponse& response, int64_t timeout_ms) {
  std::string line;
  if (!read_line(line, response.error, timeout_ms)) return false;
  // "HTTP/1.1 200 OK"
  if (line.size() < 12 || line.compare(0, 5, "HTTP/") != 0) {
    response.error = "not an HTTP response from " + address_;
    return false;
  }
  response.status = std::atoi(line.c_str() + 9);
  for (;;) {
    if (!read_line(line, response.error, timeout_ms)) return false;
    if (line.empty()) break;
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    response.headers.emplace_back(lower(line.substr(0, colon)), trim(std::string_view(line).substr(colon + 1)));
  }
  if (response.status == 100) {  // an interim answer to Expect: the real one follows
    response.headers.clear();
    return read_head(response, timeout_ms);
  }
  return true;
}

bool Client::read_body(ClientResponse& response) {
  const std::string length = response.header("content-length");
  if (lower(response.header("transfer-encoding")) == "chunked") {
    for (;;) {
      std::string line;
      if (!read_line(line, response.error, timeout_ms_)) return false;
      const size_t size = std::strtoul(line.c_str(), nullptr, 16);
      if (size == 0) {
        read_line(line, response.error, timeout_ms_);  // the empty line after the last chunk
        return true;
      }
      if (response.body.size() + size > body_bytes_max_) {
        response.error = "the response is too large";
        return false;
      }
      while (buffer_.size() < size + 2)
        if (!fill(response.error, timeout_ms_)) return false;
      response.body.append(buffer_, 0, size);
      buffer_.erase(0, size + 2);
    }
  }
  if (!length.empty()) {
    const size_t size = std::strtoul(length.c_str(), nullptr, 10);
    if (size > body_bytes_max_) {
      response.error = "the response is too large";
      return false;
    }
    while (buffer_.size() < size)
      if (!fill(response.error, timeout_ms_)) return false;
    response.body = buffer_.substr(0, size);
    buffer_.erase(0, size);
    return true;
  }
  // No length: the body runs to the end of the connection.
  std::string ignored;
  while (fill(ignored, timeout_ms_)) {
    if (buffer_.size() > body_bytes_max_) break;
  }
  response.body = std::move(buffer_);
  buffer_.clear();
  close();
  return true;
}

ClientResponse Client::request(std::string_view method, std::string_view target, std::string_view body,
                               const std::vector<std::pair<std::string, std::string>>& headers) {
  std::string message;
  message.reserve(256 + body.size());
  message.append(method).append(" ").append(target).append(" HTTP/1.1\r\nHost: ").append(address_).append("\r\n");
  for (const auto& [name, value] : headers) message.append(name).append(": ").append(value).append("\r\n");
  if (!body.empty() || method == "POST" || method == "PUT") {
    message.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  }
  message.append("\r\n").append(body);

  // A kept-alive connection the server has since closed fails at once with
  // nothing read: then (only then) the request goes again on a new one.
  for (int attempt = 0; attempt < 2; ++attempt) {
    ClientResponse response;
    const bool reused = fd_ >= 0;
    if (!reused && !connect(response.error)) return response;
    if (!send_all(message, response.error)) {
      close();
      if (reused) continue;
      return response;
    }
    response.sent = true;
    const bool nothing_yet = buffer_.empty();
    if (!read_head(response, timeout_ms_)) {
      close();
      if (reused && nothing_yet && response.status == 0 && response.error.find("closed") != std::string::npos) continue;
      response.status = 0;
      return response;
    }
    if (!read_body(response)) {
      close();
      response.status = 0;
      return response;
    }
    if (lower(response.header("connection")) == "close") close();
    return response;
  }
  ClientResponse failed;
  failed.error = "the connection to " + address_ + " kept closing";
  return failed;
}

namespace {

// Takes the whole lines of `text` (an event stream's bytes so far), builds
// events in `event`, and hands each complete one to `on_event`. False once
// `on_event` asks to stop. What follows the last newline stays in `text`.
bool take_sse_lines(std::string& text, SseEvent& event, const std::function<bool(const SseEvent&)>& on_event) {
  size_t end;
  while ((end = text.find('\n')) != std::string::npos) {
    std::string line = text.substr(0, end);
    text.erase(0, end + 1);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {
      if (!event.data.empty() || !event.type.empty()) {
        if (event.type.empty()) event.type = "message";
        if (!event.data.empty() && event.data.back() == '\n') event.data.pop_back();
        if (!on_event(event)) return false;
      }
      event = SseEvent{};
      continue;
    }
    if (line.front() == ':') continue;  // a comment: the heartbeat
    const auto colon = line.find(':');
    const std::string field = line.substr(0, colon);
    std::string value = colon == std::string::npos ? std::string() : line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.erase(0, 1);
    if (field == "id") event.id = value;
    else if (field == "event") event.type = value;
    else if (field == "data") event.data += value + "\n";
  }
  return true;
}

}  // namespace

ClientResponse Client::stream(std::string_view target, const std::vector<std::pair<std::string, std::string>>& headers,
                              int64_t idle_ms, const std::function<bool(const SseEvent&)>& on_event) {
  close();  // a stream takes a connection of its own to the end
  ClientResponse response;
  if (!connect(response.error)) return response;
  std::string message = "GET " + std::string(target) + " HTTP/1.1\r\nHost: " + address_ + "\r\nAccept: text/event-stream\r\n";
  for (const auto& [name, value] : headers) message += name + ": " + value + "\r\n";
  message += "\r\n";
  if (!send_all(message, response.error)) {
    close();
    return response;
  }
  response.sent = true;
  if (!read_head(response, timeout_ms_)) {
    close();
    response.status = 0;
    return response;
  }
  if (response.status != 200) {
    read_body(response);
    close();
    return response;
  }
  // Decode chunks into lines, and lines into events.
  const bool chunked = lower(response.header("transfer-encoding")) == "chunked";
  std::string text;  // de-chunked bytes not yet split into lines
  SseEvent event;
  for (;;) {
    if (chunked) {
      std::string line;
      if (!read_line(line, response.error, idle_ms)) break;
      const size_t size = std::strtoul(line.c_str(), nullptr, 16);
      if (size == 0) break;
      bool whole = true;
      while (whole && buffer_.size() < size + 2) whole = fill(response.error, idle_ms);
      if (!whole) break;
      text.append(buffer_, 0, size);
      buffer_.erase(0, size + 2);
    } else {
      if (!fill(response.error, idle_ms)) break;
      text += buffer_;
      buffer_.clear();
    }
    if (!take_sse_lines(text, event, on_event)) {
      close();
      return response;
    }
  }
  close();
  return response;
}

}  // namespace synod::http
