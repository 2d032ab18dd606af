// CRC32C (Castagnoli), the checksum on every storage record, snapshot chunk
// and peer frame. Pure; any thread.
#pragma once

#include <cstdint>
#include <string_view>

namespace synod {

// Extends `crc` (0 to start) over `data`.
uint32_t crc32c(std::string_view data, uint32_t crc = 0);

}  // namespace synod
