// Durations as the API writes them (text.h).
#include "http/text/text.h"

namespace synod::http {

std::optional<int64_t> parse_duration_ms(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0 || digits > 12) return std::nullopt;
  int64_t whole = 0;
  for (size_t i = 0; i < digits; ++i) whole = whole * 10 + (text[i] - '0');
  // An optional fraction of up to three digits: "1.5s".
  int64_t fraction = 0, scale = 1;
  size_t at = digits;
  if (at < text.size() && text[at] == '.') {
    ++at;
    const size_t start = at;
    while (at < text.size() && text[at] >= '0' && text[at] <= '9' && at - start < 3) {
      fraction = fraction * 10 + (text[at] - '0');
      scale *= 10;
      ++at;
    }
    if (at == start) return std::nullopt;
  }
  const std::string_view unit = text.substr(at);
  int64_t unit_ms = 0;
  if (unit == "ms") unit_ms = 1;
  else if (unit == "s") unit_ms = 1'000;
  else if (unit == "m") unit_ms = 60'000;
  else if (unit == "h") unit_ms = 3'600'000;
  else return std::nullopt;
  // 12 digits of hours stay far below INT64_MAX (9.2e18): no overflow here.
  static_assert(int64_t{999'999'999'999} * 3'600'000 + 3'600'000 < INT64_MAX / 2);
  const int64_t ms = whole * unit_ms + fraction * unit_ms / scale;
  if (ms > kDurationMsMax) return std::nullopt;
  return ms;
}

std::string format_duration_ms(int64_t ms) { return std::to_string(ms) + "ms"; }

}  // namespace synod::http
