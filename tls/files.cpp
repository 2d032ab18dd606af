#include "tls/files.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstdio>

namespace synod::tls {

std::string last_error() {
  std::string out;
  while (const unsigned long code = ERR_get_error()) {
    char text[256];
    ERR_error_string_n(code, text, sizeof text);
    if (!out.empty()) out += "; ";
    out += text;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

namespace {

bool fail(std::string& error, std::string what) {
  error = std::move(what) + " (" + last_error() + ")";
  return false;
}

bool load_own(SSL_CTX* ctx, const Files& files, std::string& error) {
  if (SSL_CTX_use_certificate_chain_file(ctx, files.cert.c_str()) != 1) {
    return fail(error, "cannot read the certificate " + files.cert);
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, files.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
      return fail(error, "the private key " + files.key + " does not match the certificate " + files.cert);
    }
    return fail(error, "cannot read the private key " + files.key);
  }
  // A certificate and key from two rotations would fail every handshake;
  // a reload must refuse them and keep the context it has.
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return fail(error, "the private key " + files.key + " does not match the certificate " + files.cert);
  }
  return true;
}

bool load_ca(SSL_CTX* ctx, const Files& files, bool server, std::string& error) {
  if (SSL_CTX_load_verify_locations(ctx, files.ca.c_str(), nullptr) != 1) {
    return fail(error, "cannot read the CA certificates " + files.ca);
  }
  if (server) {
    // Tells clients which CA their certificate must come from.
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.ca.c_str());
    if (names == nullptr) return fail(error, "no CA certificate in " + files.ca);
    SSL_CTX_set_client_CA_list(ctx, names);
  }
  return true;
}

}  // namespace

CtxPtr make_context(const Files& files, Side side, std::string& error) {
  ERR_clear_error();
  const bool server = side == Side::server;
  if (files.ca.empty()) {
    error = "TLS needs a CA file (--tls-ca), to check the other end";
    return nullptr;
  }
  if (server && (files.cert.empty() || files.key.empty())) {
    error = "TLS needs a certificate and its key (--tls-cert, --tls-key)";
    return nullptr;
  }
  if (files.cert.empty() != files.key.empty()) {
    error = "a certificate needs its key, and a key its certificate";
    return nullptr;
  }
  CtxPtr ctx(SSL_CTX_new(server ? TLS_server_method() : TLS_client_method()));
  if (!ctx) {
    fail(error, "cannot make a TLS context");
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
  if (server) SSL_CTX_set_num_tickets(ctx.get(), 0);
  if (!files.cert.empty() && !load_own(ctx.get(), files, error)) return nullptr;
  if (!load_ca(ctx.get(), files, server, error)) return nullptr;
  // A server asks for a client certificate and checks one that comes; a
  // listener that requires one (the peer port) says so per connection
  // (SSL_VERIFY_FAIL_IF_NO_PEER_CERT). A client always checks the server.
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (server) {
    static const unsigned char kSessionContext[] = "synod";
    SSL_CTX_set_session_id_context(ctx.get(), kSessionContext, sizeof kSessionContext - 1);
  }
  return ctx;
}

std::string file_digest(const std::string& path) {
  std::FILE* file = std::fopen(path.c_str(), "rb");
  if (file == nullptr) return {};
  std::string bytes;
  char chunk[4096];
  while (const size_t n = std::fread(chunk, 1, sizeof chunk, file)) bytes.append(chunk, n);
  std::fclose(file);
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &length, EVP_sha256(), nullptr) != 1) return {};
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) {
    char pair[3];
    std::snprintf(pair, sizeof pair, "%02x", digest[i]);
    hex += pair;
  }
  return hex;
}

}  // namespace synod::tls
