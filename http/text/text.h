// synod_http_text: the text codecs of the client API, a leaf library with no
// dependency on the rest of synod (synodctl, the server and the fuzz target
// link it alone):
//   - durations as the API writes them ("15s", "500ms", "1.5s", "2m", "1h");
//   - UTF-8 validation (a value goes out as a JSON string only if it is UTF-8);
//   - base64 (RFC 4648, with padding: values that are not UTF-8, value_base64);
//   - percent-encoding (RFC 3986 paths and queries).
//
// Pure functions; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace synod::http {

// The longest duration parse_duration_ms accepts (about 31 years).
inline constexpr int64_t kDurationMsMax = 1'000'000'000'000;

// "15s", "500ms", "1.5s", "2m", "1h" → milliseconds; nullopt if malformed,
// without a unit, or over kDurationMsMax. At most 12 integer digits and 3
// fraction digits.
std::optional<int64_t> parse_duration_ms(std::string_view text);
// The exact request form of a duration, "1500ms", which parse_duration_ms
// reads back to the same value for 0 <= ms < 10^12 (12 digits; the API's
// longest duration, a 24 h TTL, has 8).
std::string format_duration_ms(int64_t ms);

// Well-formed UTF-8: no overlong forms, surrogates or points past U+10FFFF.
bool valid_utf8(std::string_view text);

std::string base64_encode(std::string_view bytes);
// nullopt unless `text` is padded base64 of the standard alphabet.
std::optional<std::string> base64_decode(std::string_view text);

// Decodes %XX escapes ('+' stays '+'); nullopt if an escape is malformed.
std::optional<std::string> percent_decode(std::string_view text);
// Escapes every byte but letters, digits and - . _ ~ : @ , as %XX: one path
// segment or query value ('/' is escaped too).
std::string percent_encode(std::string_view text);

}  // namespace synod::http
