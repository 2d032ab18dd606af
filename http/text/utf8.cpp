// UTF-8 validation (text.h).
#include <array>

#include "http/text/text.h"

namespace synod::http {

bool valid_utf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<unsigned char>(text[i]);
    size_t length = 0;
    uint32_t point = 0;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xe0) == 0xc0) { length = 2; point = c & 0x1fu; }
    else if ((c & 0xf0) == 0xe0) { length = 3; point = c & 0x0fu; }
    else if ((c & 0xf8) == 0xf0) { length = 4; point = c & 0x07u; }
    else return false;
    if (i + length > text.size()) return false;
    for (size_t k = 1; k < length; ++k) {
      const auto next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) return false;
      point = point << 6 | (next & 0x3fu);
    }
    // Overlong forms, surrogates and points past U+10FFFF are not UTF-8.
    static constexpr std::array<uint32_t, 5> kMin = {0, 0, 0x80, 0x800, 0x10000};
    if (point < kMin[length] || point > 0x10ffff || (point >= 0xd800 && point <= 0xdfff)) return false;
    i += length;
  }
  return true;
}

}  // namespace synod::http
