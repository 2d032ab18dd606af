// LogDevice: the bytes under the commit log (log_format.h), a ring of fixed
// capacity that RecordStorage appends frames to.
//
// Implementations: LogFile (log_file.h), a preallocated file, and the
// in-memory twin's log inside MemoryStorage. Bytes never written read as zero.
//
// Owned by the store that holds it, on that store's thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "persistence/status.h"

namespace synod::persistence {

class LogDevice {
 public:
  virtual ~LogDevice() = default;

  virtual uint64_t capacity_bytes() const = 0;
  // Every byte at or past this offset reads as zero (the file's length): a
  // scan of the ring stops here.
  virtual uint64_t extent_bytes() const = 0;
  // `out` = the bytes at [offset, offset + length), zeros where never written.
  virtual Status read(uint64_t offset, uint64_t length, std::string& out) = 0;
  // Writes `bytes` at `offset` (offset + size <= capacity); durable after sync().
  virtual Status write(uint64_t offset, std::string_view bytes) = 0;
  // Every earlier write is on stable storage when this returns ok.
  virtual Status sync() = 0;
  // Every byte reads as zero again, durably (a fresh or repaired store).
  virtual Status clear() = 0;
};

}  // namespace synod::persistence
