#include "http/client_tls.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>

#include <cerrno>
#include <cstring>

#include "tls/files.h"
#include "tls/identity.h"

namespace synod::http {

TlsContext client_tls_context(const std::string& ca, const std::string& cert, const std::string& key,
                              std::string& error) {
  if (ca.empty()) {
    // https:// without --cacert: the system's CAs, as curl does.
    TlsContext context(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
    if (!context || SSL_CTX_set_default_verify_paths(context.get()) != 1) {
      error = "cannot load the system's CA certificates: " + tls::last_error();
      return nullptr;
    }
    SSL_CTX_set_min_proto_version(context.get(), TLS1_2_VERSION);
    SSL_CTX_set_verify(context.get(), SSL_VERIFY_PEER, nullptr);
    return context;
  }
  tls::CtxPtr made = tls::make_context(tls::Files{cert, key, ca}, tls::Side::client, error);
  if (!made) return nullptr;
  return TlsContext(made.release(), SSL_CTX_free);
}

TlsSession::TlsSession(const TlsContext& context) : ssl_(SSL_new(context.get())) {}

TlsSession::~TlsSession() { SSL_free(ssl_); }

namespace {

bool wait(int fd, short events, int64_t timeout_ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    const int ready = ::poll(&p, 1, static_cast<int>(timeout_ms));
    if (ready < 0 && errno == EINTR) continue;
    return ready > 0;
  }
}

bool is_address(const std::string& host) {
  unsigned char scratch[16];
  return inet_pton(AF_INET, host.c_str(), scratch) == 1 || inet_pton(AF_INET6, host.c_str(), scratch) == 1;
}

}  // namespace

bool TlsSession::handshake(int fd, const std::string& host, int64_t timeout_ms, std::string& error) {
  ERR_clear_error();
  if (ssl_ == nullptr || SSL_set_fd(ssl_, fd) != 1) {
    error = "cannot start TLS: " + tls::last_error();
    return false;
  }
  if (is_address(host)) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), host.c_str());
  } else {
    // The macro SSL_set_tlsext_host_name casts in C style; this is what it calls.
    SSL_ctrl(ssl_, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name, const_cast<char*>(host.c_str()));
    SSL_set1_host(ssl_, host.c_str());
  }
  for (;;) {
    const Io io = result(SSL_connect(ssl_));
    if (io == Io::done) return true;
    if ((io == Io::want_read || io == Io::want_write) && wait(fd, io == Io::want_read ? POLLIN : POLLOUT, timeout_ms)) {
      continue;
    }
    const std::string why = tls::verify_failure(ssl_);
    error = io == Io::want_read || io == Io::want_write ? "the TLS handshake timed out"
                                                        : "the TLS handshake failed: " + (why.empty() ? error_ : why);
    return false;
  }
}

TlsSession::Io TlsSession::write(std::string_view bytes, size_t& written) {
  written = 0;
  ERR_clear_error();
  return result(SSL_write_ex(ssl_, bytes.data(), bytes.size(), &written));
}

TlsSession::Io TlsSession::read(char* out, size_t size, size_t& got) {
  got = 0;
  ERR_clear_error();
  return result(SSL_read_ex(ssl_, out, size, &got));
}

TlsSession::Io TlsSession::result(int ret) {
  if (ret == 1) return Io::done;
  switch (SSL_get_error(ssl_, ret)) {
    case SSL_ERROR_WANT_READ:
      return Io::want_read;
    case SSL_ERROR_WANT_WRITE:
      return Io::want_write;
    case SSL_ERROR_ZERO_RETURN:
      return Io::closed;
    case SSL_ERROR_SYSCALL:
      if (ERR_peek_error() == 0) {
        // The peer closed without a close_notify (or a reset).
        error_ = errno != 0 ? std::string(std::strerror(errno)) : "the connection closed";
        return Io::closed;
      }
      [[fallthrough]];
    default:
      error_ = tls::last_error();
      return Io::failed;
  }
}

}  // namespace synod::http
