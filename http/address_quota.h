// Connections per client address that have not yet completed a request
// (issue 19: abuse limits). A connection takes a slot when it is accepted and
// gives it back once its first request has arrived whole (or when it
// closes). So one client that opens thousands of connections and sends half
// a request on each holds at most `max` of the node's connection slots,
// while the clients that send whole requests, and the keep-alive
// connections they reuse, are not counted at all: a loopback cluster's
// forwards and a benchmark's 64 clients share one address and never come
// near the bound.
//
// Thread-safe (the server's accept and connection handlers).
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <unordered_map>

namespace synod::http {

class AddressQuota {
 public:
  explicit AddressQuota(size_t max) : max_(max) {}

  // Takes a slot for `address`; false if it holds `max` already.
  bool take(const std::string& address) {
    std::lock_guard<std::mutex> lock(mutex_);
    size_t& used = used_[address];
    if (used >= max_) {
      if (used == 0) used_.erase(address);
      return false;
    }
    ++used;
    return true;
  }

  void give_back(const std::string& address) {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = used_.find(address);
    if (found == used_.end()) return;
    if (--found->second == 0) used_.erase(found);
  }

  size_t used(const std::string& address) const {
    std::lock_guard<std::mutex> lock(mutex_);
    auto found = used_.find(address);
    return found == used_.end() ? 0 : found->second;
  }

 private:
  const size_t max_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, size_t> used_;  // only addresses with a slot taken
};

}  // namespace synod::http
