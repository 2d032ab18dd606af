// The fenced resource (see fenced_resource.h).
#include "sim/fenced_resource.h"

#include <algorithm>

namespace synod::sim {

bool FencedResource::admit(Guarded& guarded, lockservice::FencingToken token) {
  if (!unfenced_ && token < guarded.highest_seen) {
    ++refused_;
    return false;
  }
  guarded.highest_seen = std::max(guarded.highest_seen, token);
  ++accepted_;
  return true;
}

FencedResource::Outcome FencedResource::read(const std::string& lock, lockservice::FencingToken token) {
  Guarded& guarded = locks_[lock];
  if (!admit(guarded, token)) return Outcome{false, 0};
  if (token < guarded.highest_accepted) {
    violation("the resource of " + lock + " accepted a read with token " + std::to_string(token) +
              " after accepting token " + std::to_string(guarded.highest_accepted));
  }
  guarded.highest_accepted = std::max(guarded.highest_accepted, token);
  return Outcome{true, guarded.counter};
}

FencedResource::Outcome FencedResource::write(const std::string& lock, lockservice::FencingToken token,
                                              int64_t read_value) {
  Guarded& guarded = locks_[lock];
  if (!admit(guarded, token)) return Outcome{false, 0};
  if (token < guarded.highest_accepted) {
    violation("the resource of " + lock + " accepted a write with token " + std::to_string(token) +
              " after accepting token " + std::to_string(guarded.highest_accepted));
  }
  if (read_value != guarded.counter) {
    violation("lost update on the resource of " + lock + ": token " + std::to_string(token) + " wrote " +
              std::to_string(read_value + 1) + " over " + std::to_string(guarded.counter) + ", having read " +
              std::to_string(read_value));
  }
  guarded.highest_accepted = std::max(guarded.highest_accepted, token);
  guarded.counter = read_value + 1;
  return Outcome{true, guarded.counter};
}

void FencedResource::violation(std::string what) {
  if (violations_.size() < kViolationsMax) violations_.push_back(std::move(what));
}

}  // namespace synod::sim
