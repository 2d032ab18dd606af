// DedupTable: the exactly-once table's index, (client_id, seq) to a value,
// by open addressing (issue 18: "use an open-addressing table if profiling
// still shows the hash").
//
// Why not std::unordered_map: a profile of puts at 64 clients put its
// lookup (_M_find_before_node) first among synod's own symbols, 4.4% of the
// leader's CPU. Each lookup there reads the bucket array, then a node
// allocated somewhere else, then maybe its neighbour. Here the keys sit in
// one array of 24-byte slots, probed linearly from a hash's high bits, and
// only a hit reads the value, which sits in a second array (so the slots stay
// small, and a value never moves when the slots are rehashed).
//
// Deletion shifts the following entries back (no tombstones), so a table
// that takes and drops records for years probes as short as a new one. The
// slots grow at 70% load and never shrink; freed values are reused.
//
// Pure; owned by ExactlyOnce, on whatever thread applies. Iteration order
// is not offered: nothing replicated may depend on it.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "base/assert.h"
#include "lockservice/types.h"

namespace synod::lockservice::detail {

struct DedupKey {
  ClientId client_id = 0;
  uint64_t seq = 0;
  bool operator==(const DedupKey&) const = default;
};

struct DedupHash {
  uint64_t operator()(const DedupKey& key) const {
    uint64_t h = key.client_id * 0x9e3779b97f4a7c15ULL ^ (key.seq + 0x7f4a7c159e3779b9ULL);
    h ^= h >> 31;
    return h * 0xbf58476d1ce4e5b9ULL;  // the high bits are the well-mixed ones
  }
};

template <class Value>
class DedupTable {
 public:
  size_t size() const { return size_; }

  const Value* find(const DedupKey& key) const {
    const size_t slot = locate(key);
    return slot == kAbsent ? nullptr : &values_[slots_[slot].value];
  }
  Value* find(const DedupKey& key) {
    const size_t slot = locate(key);
    return slot == kAbsent ? nullptr : &values_[slots_[slot].value];
  }
  Value& at(const DedupKey& key) {
    Value* value = find(key);
    SYNOD_ASSERT(value != nullptr);
    return *value;
  }
  const Value& at(const DedupKey& key) const {
    const Value* value = find(key);
    SYNOD_ASSERT(value != nullptr);
    return *value;
  }

  // False (and nothing changes) if `key` is there already.
  bool emplace(const DedupKey& key, Value value) {
    if (locate(key) != kAbsent) return false;
    if ((size_ + 1) * 10 > slots_.size() * 7) grow();
    uint32_t index = 0;
    if (!free_.empty()) {
      index = free_.back();
      free_.pop_back();
      values_[index] = std::move(value);
    } else {
      index = static_cast<uint32_t>(values_.size());
      values_.push_back(std::move(value));
    }
    place(Slot{key, index});
    ++size_;
    return true;
  }

  // 1 if `key` was there, else 0.
  size_t erase(const DedupKey& key) {
    size_t hole = locate(key);
    if (hole == kAbsent) return 0;
    values_[slots_[hole].value] = Value{};  // its memory goes now, not when the index is reused
    free_.push_back(slots_[hole].value);
    // Shift back each following entry whose probe passed the hole.
    for (size_t next = (hole + 1) & mask_; slots_[next].value != kEmpty; next = (next + 1) & mask_) {
      const size_t home = home_of(slots_[next].key);
      const bool home_after_hole = hole <= next ? (hole < home && home <= next) : (hole < home || home <= next);
      if (home_after_hole) continue;
      slots_[hole] = slots_[next];
      hole = next;
    }
    slots_[hole].value = kEmpty;
    --size_;
    return 1;
  }

 private:
  static constexpr uint32_t kEmpty = UINT32_MAX;
  static constexpr size_t kAbsent = SIZE_MAX;
  struct Slot {
    DedupKey key;
    uint32_t value = kEmpty;  // index into values_
  };

  size_t home_of(const DedupKey& key) const { return static_cast<size_t>(DedupHash{}(key) >> shift_); }

  size_t locate(const DedupKey& key) const {
    if (size_ == 0) return kAbsent;
    for (size_t slot = home_of(key);; slot = (slot + 1) & mask_) {
      if (slots_[slot].value == kEmpty) return kAbsent;
      if (slots_[slot].key == key) return slot;
    }
  }

  void place(const Slot& entry) {
    size_t slot = home_of(entry.key);
    while (slots_[slot].value != kEmpty) slot = (slot + 1) & mask_;
    slots_[slot] = entry;
  }

  void grow() {
    const size_t count = slots_.empty() ? 16 : slots_.size() * 2;
    std::vector<Slot> old = std::move(slots_);
    slots_.assign(count, Slot{});
    mask_ = count - 1;
    shift_ = 64;
    for (size_t n = count; n > 1; n >>= 1) --shift_;
    for (const Slot& entry : old) {
      if (entry.value != kEmpty) place(entry);
    }
  }

  std::vector<Slot> slots_;    // a power of two of them, at most 70% full
  std::vector<Value> values_;  // by index; the free ones are in free_
  std::vector<uint32_t> free_;
  size_t size_ = 0;
  size_t mask_ = 0;
  unsigned shift_ = 64;
};

}  // namespace synod::lockservice::detail
