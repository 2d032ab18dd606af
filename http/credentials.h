// Parsing the Authorization header (issue 19): the pure part of who a
// request is, unit-tested and fuzzed alone (test/fuzz/fuzz_auth.cpp).
// Execution (auth_api.cpp) hashes the token and resolves it.
//
// Pure; any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace synod::http {

inline constexpr size_t kTokenBytesMin = 16;
inline constexpr size_t kTokenBytesMax = 512;

// The token of "Bearer TOKEN" (the scheme in any case, RFC 7235; the token
// RFC 6750's b64token, kTokenBytesMin to kTokenBytesMax characters), or an
// empty view with `why` set.
std::string_view bearer_token(std::string_view header, std::string& why);

}  // namespace synod::http
