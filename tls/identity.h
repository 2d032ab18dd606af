// The names a certificate gives its holder (issue 19).
//
// A member: the URI SAN synod://CLUSTER-ID/node/ID, where CLUSTER-ID is the
// 16 hex digits of the data directory's cluster identity
// (persistence/cluster_identity.h) and ID the node id. A certificate for
// another member, or for the same member id of another cluster under the
// same CA, is refused by name. A client: the URI SAN synod://CLUSTER-ID/user/NAME
// if it has one, else its subject's common name.
//
// Pure OpenSSL; any thread.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <string>
#include <vector>

namespace synod::tls {

// synod://0123456789abcdef/node/3
std::string member_uri(uint64_t cluster_id, uint64_t node);

// The URI SANs of the certificate the other end of `ssl` presented (verified
// by the handshake); empty if it presented none.
std::vector<std::string> peer_uris(const SSL* ssl);

// The subject common name of that certificate; empty if none.
std::string peer_common_name(const SSL* ssl);

// Why the handshake's check of the other end's certificate failed, as
// OpenSSL words it ("certificate has expired", "unable to get local issuer
// certificate"); empty if it passed or none was checked.
std::string verify_failure(const SSL* ssl);

// Whether `ssl`'s peer certificate names member `node` of `cluster_id`; if
// not, `why` says what it names instead.
bool names_member(const SSL* ssl, uint64_t cluster_id, uint64_t node, std::string& why);

}  // namespace synod::tls
