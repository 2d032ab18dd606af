// Random: a small seeded generator (xoshiro256**) that the core is handed.
//
// The core uses no global randomness: election timeouts are drawn from the
// Random a Replica is constructed with, so a seed replays a run exactly. The
// distribution helpers are our own because std::uniform_int_distribution is
// not the same across standard libraries.
#pragma once

#include <cstdint>

namespace synod {

class Random {
 public:
  explicit Random(uint64_t seed) {
    // splitmix64 spreads any seed, including 0, over the whole state.
    for (auto& word : state_) {
      seed += 0x9e3779b97f4a7c15ULL;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      word = z ^ (z >> 31);
    }
  }

  uint64_t next() {
    const uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  // Uniform in [lo, hi], inclusive. Requires lo <= hi.
  int64_t uniform(int64_t lo, int64_t hi) {
    const auto span = static_cast<uint64_t>(hi - lo) + 1;
    if (span == 0) return static_cast<int64_t>(next());  // the whole 64-bit range
    return lo + static_cast<int64_t>(next() % span);
  }

  // True with probability numerator / denominator.
  bool chance(uint64_t numerator, uint64_t denominator) { return next() % denominator < numerator; }

  // Uniform in [0, 1).
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t state_[4];
};

}  // namespace synod
