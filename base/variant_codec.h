// Decoding one alternative of a std::variant by its tag (the alternative's
// index), for the codecs whose records are variants: lockservice/command.cpp
// (Command) and lockservice/znode_command.cpp (the ops of a multi).
//
// Pure; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>
#include <variant>

#include "base/codec.h"

namespace synod {

// Reads the alternative whose index is `tag` with `get(reader, alternative&)`
// into `out`; false (nothing read) if no alternative has that index.
template <class Variant, size_t I = 0, class Get>
bool get_alternative(Reader& reader, uint8_t tag, Variant& out, const Get& get) {
  if constexpr (I < std::variant_size_v<Variant>) {
    if (tag != I) return get_alternative<Variant, I + 1>(reader, tag, out, get);
    std::variant_alternative_t<I, Variant> value;
    get(reader, value);
    out = std::move(value);
    return true;
  } else {
    return false;
  }
}

}  // namespace synod
