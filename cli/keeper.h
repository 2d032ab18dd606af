// A lock-service session kept alive from its own thread, for the commands
// that hold one for as long as they run (`lock run`, `elect`), and the
// timing rules that say which TTL and margin can work. Threads: the
// Keeper's own keep-alive thread; its public methods are for the main thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "cli/synodctl.h"

namespace synod::cli {

// Empty if a session of `ttl_ms` can be kept alive with `margin_ms` to spare
// on a healthy cluster, else why not. The validity a keep-alive returns must
// leave room above the margin for two keep-alives at the fastest cadence: the
// next one goes halfway to the margin, a retry in the other half.
std::string margin_problem(int64_t ttl_ms, int64_t margin_ms);

// min(2 s, TTL/2): CMD gets a second or more to stop cleanly.
int64_t default_margin_ms(int64_t ttl_ms);

// Keeps a session alive from its own thread and tracks how long the lock
// service guarantees it: each answer's valid_for_ms counts from when that
// keep-alive was SENT (docs/lockservice.md), so the deadline is never later
// than the server's.
//
// Cadence: the next keep-alive goes halfway from this one's send time to the
// moment the validity left would reach the margin (at most TTL/3 later, at
// least kKeepAlivePeriodMsMin). On a healthy cluster it is answered long
// before the margin; when it fails, as much time again is left for retries,
// which go at once to the next endpoint, each with a short timeout so that
// one dead node cannot eat the TTL.
class Keeper {
 public:
  // `valid_for_ms` is the session's validity as answered to the request
  // sent at `sent` (the one that created it).
  Keeper(const Options& options, std::string session, int64_t ttl_ms, int64_t margin_ms, Clock::time_point sent,
         int64_t valid_for_ms);
  ~Keeper() { stop(); }

  Clock::time_point deadline() const;
  bool expired() const { return expired_; }
  void stop();

  // Why the validity left is short, for the person reading stderr: the
  // cluster did not answer (in time), it answered little, or it said the
  // session is gone. Facts only: which it was is for the reader to judge.
  std::string why() const;

 private:
  Clock::time_point next_after(Clock::time_point sent) const;
  void set_in_flight(std::optional<Clock::time_point> sent);
  void answered(Clock::time_point sent, int64_t valid_for_ms);
  void failed(const ClientResponse& response, const std::string& endpoint);
  void run();

  const Options& options_;
  std::string session_;
  int64_t ttl_ms_;
  int64_t margin_ms_;
  mutable std::mutex mutex_;
  // Guarded by mutex_:
  Clock::time_point deadline_;
  Clock::time_point last_answer_sent_;
  int64_t last_valid_ms_ = 0;
  int failures_ = 0;
  std::string last_failure_;
  std::optional<Clock::time_point> in_flight_;  // when the keep-alive on its way was sent
  Clock::time_point next_;  // when to send the next keep-alive (the keeper thread's own)
  std::atomic<bool> stop_{false};
  std::atomic<bool> expired_{false};
  std::thread thread_;
};

}  // namespace synod::cli
