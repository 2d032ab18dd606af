// Backoff: how long a peer link waits before dialing again.
//
// Capped exponential backoff with "equal jitter": after the k-th failure in a
// row the cap is min(backoff_ms_max, backoff_ms_min * 2^(k-1)), and the delay
// is drawn uniformly from [cap / 2, cap]. The jitter spreads the dialers of a
// restarted node so they do not arrive in lockstep; keeping half the cap
// means a dead peer is never hammered. Randomness comes from the seeded
// generator the caller passes in, never from a global source.
//
// Header-only and pure; owned by whoever owns the link (the transport's
// io_context thread).
#pragma once

#include <algorithm>
#include <cstdint>

#include "base/assert.h"
#include "base/random.h"

namespace synod::transport {

class Backoff {
 public:
  Backoff(int64_t backoff_ms_min, int64_t backoff_ms_max) : ms_min_(backoff_ms_min), ms_max_(backoff_ms_max) {
    SYNOD_ASSERT(backoff_ms_min >= 1 && backoff_ms_min <= backoff_ms_max);
  }

  // The delay before the next attempt, after one more failure.
  int64_t next_ms(Random& random) {
    const int64_t cap = cap_ms();
    if (cap < ms_max_) ++failures_;
    return random.uniform(std::max<int64_t>(1, cap / 2), cap);
  }

  // A link came up: the next failure starts from backoff_ms_min again.
  void reset() { failures_ = 0; }

 private:
  int64_t cap_ms() const {
    int64_t cap = ms_min_;
    for (int i = 0; i < failures_ && cap < ms_max_; ++i) cap *= 2;
    return std::min(cap, ms_max_);
  }

  int64_t ms_min_;
  int64_t ms_max_;
  int failures_ = 0;  // stops growing once the cap is reached, so it never overflows
};

}  // namespace synod::transport
