// clock: the node's clock reads, in one place. Only the edges of the node read
// a clock (the owner loop, the storage thread's MeteredStorage); the pure
// parts (election_watch.h) take the time as a parameter, so tests set it.
//
// Any thread.
#pragma once

#include <chrono>
#include <cstdint>

namespace synod::server {

// Microseconds on the monotonic clock: every deadline and duration.
inline int64_t steady_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Milliseconds since the Unix epoch: only for what people read (the status
// page, election records), never for a deadline.
inline int64_t unix_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

inline double seconds_between(int64_t from_us, int64_t to_us) { return static_cast<double>(to_us - from_us) / 1e6; }

}  // namespace synod::server
