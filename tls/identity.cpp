#include "tls/identity.h"

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

namespace synod::tls {

namespace {

std::string hex16(uint64_t id) {
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i, id >>= 4) out[static_cast<size_t>(i)] = "0123456789abcdef"[id & 0xf];
  return out;
}

}  // namespace

std::string member_uri(uint64_t cluster_id, uint64_t node) {
  return "synod://" + hex16(cluster_id) + "/node/" + std::to_string(node);
}

std::vector<std::string> peer_uris(const SSL* ssl) {
  std::vector<std::string> uris;
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return uris;
  auto* names = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (names == nullptr) return uris;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_URI) continue;
    const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
    uris.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                      static_cast<size_t>(ASN1_STRING_length(uri)));
  }
  GENERAL_NAMES_free(names);
  return uris;
}

std::string peer_common_name(const SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr) return {};
  X509_NAME* subject = X509_get_subject_name(cert);
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) return {};
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                     static_cast<size_t>(ASN1_STRING_length(data)));
}

std::string verify_failure(const SSL* ssl) {
  const long result = SSL_get_verify_result(ssl);
  if (result == X509_V_OK) return {};
  return X509_verify_cert_error_string(result);
}

bool names_member(const SSL* ssl, uint64_t cluster_id, uint64_t node, std::string& why) {
  const std::string want = member_uri(cluster_id, node);
  const auto uris = peer_uris(ssl);
  for (const auto& uri : uris) {
    if (uri == want) return true;
  }
  if (uris.empty()) {
    why = "its certificate names no member (no synod:// URI); want " + want;
  } else {
    why = "its certificate names " + uris.front() + ", not " + want;
  }
  return false;
}

}  // namespace synod::tls
