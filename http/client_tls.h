// TLS for the blocking client (client.h): one OpenSSL session over a
// connected non-blocking socket. The server must show a certificate from
// the context's CA that names the host dialed (an IP SAN for an address, a
// DNS SAN for a name), as curl checks it. synodctl's --cacert, --cert and
// --key make the context.
//
// Owned by the Client that owns the socket, on its thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

struct ssl_ctx_st;
struct ssl_st;

namespace synod::http {

using TlsContext = std::shared_ptr<ssl_ctx_st>;

// A client context: the server is checked against `ca` (the system's CAs if
// empty); `cert` and `key` are presented if given. Null with `error`.
TlsContext client_tls_context(const std::string& ca, const std::string& cert, const std::string& key,
                              std::string& error);

class TlsSession {
 public:
  explicit TlsSession(const TlsContext& context);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // The handshake over `fd`, waiting up to timeout_ms for each step. False
  // with `error` (the certificate check's reason when that failed).
  bool handshake(int fd, const std::string& host, int64_t timeout_ms, std::string& error);

  enum class Io : uint8_t { done, want_read, want_write, closed, failed };
  Io write(std::string_view bytes, size_t& written);
  Io read(char* out, size_t size, size_t& got);
  // Why the last call failed.
  std::string error() const { return error_; }

 private:
  Io result(int ret);

  ssl_st* ssl_ = nullptr;
  std::string error_;
};

}  // namespace synod::http
