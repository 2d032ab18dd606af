// Secrets for auth (issue 19): new bearer tokens, and the SHA-256 that the
// replicated state keeps of them instead of the tokens themselves.
//
// Pure OpenSSL; any thread.
#pragma once

#include <string>
#include <string_view>

namespace synod::tls {

// "synod_" then 32 random bytes (OpenSSL's RAND_bytes) in unpadded base64url:
// 256 bits. Empty if the generator fails.
std::string new_token();

// The 32 raw bytes of SHA-256(text).
std::string sha256(std::string_view text);

}  // namespace synod::tls
