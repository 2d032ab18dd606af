// What every load generator in bench/ shares, so that synod-loadgen, etcd_load
// and zk_load measure the same way (issue #17): the common flags, the
// measured window, the record of each operation (its latency, or an error,
// and the --trace line) and the JSON row of DESIGN §7.
//
// A generator parses its flags with parse_load_options, builds a LoadRun,
// starts its clients, calls start_clock (at once, or once its sessions are
// open), waits for stopping(), and prints report(). Each client calls
// record() once per operation it finishes, from whatever thread it runs on.
//
// Threads: every member of LoadRun may be called from any thread; it locks.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;

struct LoadOptions {
  std::vector<std::pair<std::string, std::string>> endpoints;  // host, port
  std::string workload = "put";
  int clients = 1;
  double seconds = 5;
  double warmup = 1;
  int threads = 0;  // the generator's own driving threads, 0 for the tool's default (each tool says what they are)
  int nodes = 0;    // reported only; 0 = the number of endpoints
  std::string out;
  std::string trace;
  size_t value_bytes = 64;
  size_t sessions = 0;     // keepalive: sessions (leases) renewed
  uint64_t key_space = 0;  // put: keys per client, 0 for a new key every time
  // An answer that takes longer counts as an error and the client tries
  // again (a request caught in a failover may never be answered).
  int64_t request_timeout_ms = 5'000;
};

// A tool's own flag: given the flag and a way to take its value, returns
// true if it knew the flag.
using ExtraFlag = std::function<bool(const std::string& flag, const std::function<std::string()>& value)>;

// Parses the common flags (and the tool's own through `extra`) and checks
// `workload` against the tool's list; exits with status 2 and a usage line
// on anything wrong.
LoadOptions parse_load_options(int argc, char** argv, const char* tool, const std::vector<std::string>& workloads,
                               const ExtraFlag& extra = nullptr);

// endpoints[i mod n], the endpoint client i talks to first.
const std::pair<std::string, std::string>& endpoint_of(const LoadOptions& options, size_t client);

// Each client's share of `total` items (keepalive's sessions), by index.
size_t share_of(size_t total, size_t clients, size_t index);

class LoadRun {
 public:
  LoadRun(const LoadOptions& options, std::string system);
  ~LoadRun();
  LoadRun(const LoadRun&) = delete;
  LoadRun& operator=(const LoadRun&) = delete;

  // Starts the clock: the warmup from now, then the measured seconds.
  void start_clock();
  // True once the measured window has passed (or stop() was called).
  bool stopping() const { return stopping_.load(std::memory_order_relaxed); }
  // Blocks until the window has passed, then sets stopping().
  void wait_until_stopped();
  void stop();

  // One finished operation, invoked at `invoked`: its latency if ok and
  // inside the window, otherwise an error (the first one's text is kept).
  // A success outside the window still goes to --trace.
  void record(Clock::time_point invoked, bool ok, std::string_view error = {});

  // The JSON row (one line) with `extra` fields ("\"k\":v" pairs joined by
  // commas, or empty), and p99_by_minute_ms for a window of 2 minutes or
  // more, printed on stdout and appended to --out; the first error goes to
  // stderr. Returns the process exit status: 1 if nothing
  // succeeded inside the window.
  int report(const std::string& extra = {});

 private:
  const LoadOptions& options_;
  const std::string system_;
  std::FILE* trace_ = nullptr;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mutex_;
  std::condition_variable stopped_;
  bool started_ = false;
  Clock::time_point measure_from_ = Clock::time_point::max();
  Clock::time_point measure_until_ = Clock::time_point::max();
  std::pair<int64_t, int64_t> window_unix_ms_{0, 0};
  std::string p99_by_minute() const;  // with mutex_ held

  std::vector<double> latencies_ms_;
  std::vector<uint16_t> latency_minutes_;  // [i]: the minute of the window latencies_ms_[i] ended in
  uint64_t errors_ = 0;
  std::string first_error_;
};

}  // namespace bench
