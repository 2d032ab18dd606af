// OpenSSL contexts made from PEM files: what every synod listener and dialer
// speaks TLS with (issue 19).
//
// A node has one certificate for everything it serves and dials: its client
// port (HTTPS), its peer port and its peer dials (mutual TLS), and its
// forwards to the leader. The certificate names the member with the URI SAN
// synod://CLUSTER-ID/node/ID (identity.h) and the host with IP and DNS SANs,
// so curl can check the client port. One CA file checks peers, forwarded-to
// leaders and the client certificates clients may present.
//
// Pure OpenSSL, no Asio: synodctl's blocking client uses it too. Any thread;
// a context is not changed after it is made (a reload makes a new one).
#pragma once

#include <openssl/ssl.h>

#include <memory>
#include <string>

namespace synod::tls {

struct Files {
  std::string cert;  // PEM: the certificate, then any intermediates
  std::string key;   // PEM: its private key
  std::string ca;    // PEM: the CA certificates that sign peers and clients

  bool enabled() const { return !cert.empty() || !key.empty() || !ca.empty(); }
  bool operator==(const Files&) const = default;
};

struct CtxFree {
  void operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }
};
using CtxPtr = std::unique_ptr<SSL_CTX, CtxFree>;

enum class Side : uint8_t {
  server,  // accepts: presents cert, checks a client certificate if one is sent
  client,  // dials: checks the server against ca; presents cert if given
};

// A context for `side`, or null with `error` saying which file is wrong and
// why (unreadable, not PEM, a key that does not match the certificate, an
// empty CA). A server needs cert, key and ca; a client needs ca, and cert
// with key or neither. TLS 1.2 at least; no session tickets (no resumption
// state to rotate, and a pooled connection stays quiet while idle).
CtxPtr make_context(const Files& files, Side side, std::string& error);

// The SHA-256 of the CA file's bytes, hex; empty if it cannot be read. A
// reload that changes it re-handshakes every peer link.
std::string file_digest(const std::string& path);

// OpenSSL's queued errors as one line, and clears them.
std::string last_error();

}  // namespace synod::tls
