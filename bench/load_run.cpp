#include "load_run.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>

namespace bench {
namespace {

[[noreturn]] void usage(const char* tool, const std::vector<std::string>& workloads, const std::string& problem) {
  std::string names;
  for (const auto& w : workloads) names += (names.empty() ? "" : "|") + w;
  std::fprintf(stderr,
               "%s: %s\nusage: %s --endpoints HOST:PORT,... --workload %s --clients N --seconds S [--warmup S] "
               "[--threads N] [--nodes N] [--out FILE] [--trace FILE] [--value-bytes N] [--key-space N] "
               "[--sessions N] [--request-timeout-ms MS]\n",
               tool, problem.c_str(), tool, names.c_str());
  std::exit(2);
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(rank, sorted.size() - 1)];
}

Clock::duration seconds_of(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

}  // namespace

LoadOptions parse_load_options(int argc, char** argv, const char* tool, const std::vector<std::string>& workloads,
                               const ExtraFlag& extra) {
  LoadOptions o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    const std::function<std::string()> value = [&]() -> std::string {
      if (i + 1 >= argc) usage(tool, workloads, flag + " needs a value");
      return argv[++i];
    };
    try {
      if (flag == "--endpoints") {
        const std::string list = value();
        size_t start = 0;
        while (start < list.size()) {
          const size_t end = std::min(list.find(',', start), list.size());
          const std::string item = list.substr(start, end - start);
          const size_t colon = item.rfind(':');
          if (colon == std::string::npos) usage(tool, workloads, "bad endpoint " + item);
          o.endpoints.emplace_back(item.substr(0, colon), item.substr(colon + 1));
          start = end + 1;
        }
      } else if (flag == "--workload") {
        o.workload = value();
      } else if (flag == "--clients") {
        o.clients = std::stoi(value());
      } else if (flag == "--seconds") {
        o.seconds = std::stod(value());
      } else if (flag == "--warmup") {
        o.warmup = std::stod(value());
      } else if (flag == "--threads") {
        o.threads = std::stoi(value());
      } else if (flag == "--nodes") {
        o.nodes = std::stoi(value());
      } else if (flag == "--out") {
        o.out = value();
      } else if (flag == "--trace") {
        o.trace = value();
      } else if (flag == "--value-bytes") {
        o.value_bytes = std::stoul(value());
      } else if (flag == "--key-space") {
        o.key_space = std::stoull(value());
      } else if (flag == "--sessions") {
        o.sessions = std::stoul(value());
      } else if (flag == "--request-timeout-ms") {
        o.request_timeout_ms = std::stoll(value());
      } else if (!extra || !extra(flag, value)) {
        usage(tool, workloads, "unknown argument " + flag);
      }
    } catch (const std::exception&) {
      usage(tool, workloads, "bad value for " + flag);
    }
  }
  if (o.endpoints.empty()) usage(tool, workloads, "--endpoints is required");
  if (o.clients < 1 || o.seconds <= 0 || o.threads < 0 || o.request_timeout_ms < 1) {
    usage(tool, workloads, "--clients, --seconds and --request-timeout-ms must be positive");
  }
  if (std::find(workloads.begin(), workloads.end(), o.workload) == workloads.end()) {
    usage(tool, workloads, "unknown workload " + o.workload);
  }
  if (o.workload == "keepalive" && o.sessions < static_cast<size_t>(o.clients)) {
    usage(tool, workloads, "keepalive needs --sessions >= --clients");
  }
  if (o.nodes == 0) o.nodes = static_cast<int>(o.endpoints.size());
  return o;
}

const std::pair<std::string, std::string>& endpoint_of(const LoadOptions& options, size_t client) {
  return options.endpoints[client % options.endpoints.size()];
}

size_t share_of(size_t total, size_t clients, size_t index) {
  return total / clients + (index < total % clients ? 1 : 0);
}

LoadRun::LoadRun(const LoadOptions& options, std::string system) : options_(options), system_(std::move(system)) {
  if (!options_.trace.empty()) trace_ = std::fopen(options_.trace.c_str(), "a");
}

LoadRun::~LoadRun() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (trace_) std::fclose(trace_);
}

void LoadRun::start_clock() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (started_) return;
  started_ = true;
  measure_from_ = Clock::now() + seconds_of(options_.warmup);
  measure_until_ = measure_from_ + seconds_of(options_.seconds);
  const auto wall_offset = std::chrono::system_clock::now().time_since_epoch() - Clock::now().time_since_epoch();
  const auto unix_ms = [&](Clock::time_point t) {
    return static_cast<int64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch() +
                                                                                      wall_offset)
                                    .count());
  };
  window_unix_ms_ = {unix_ms(measure_from_), unix_ms(measure_until_)};
  stopped_.notify_all();
}

void LoadRun::wait_until_stopped() {
  std::unique_lock<std::mutex> lock(mutex_);
  stopped_.wait(lock, [&] { return started_ || stopping(); });
  stopped_.wait_until(lock, measure_until_, [&] { return stopping(); });
  stopping_ = true;
}

void LoadRun::stop() {
  std::lock_guard<std::mutex> lock(mutex_);
  stopping_ = true;
  stopped_.notify_all();
}

void LoadRun::record(Clock::time_point invoked, bool ok, std::string_view error) {
  const auto now = Clock::now();
  std::lock_guard<std::mutex> lock(mutex_);
  if (ok && trace_) {
    // The wall-clock times the operation was invoked and answered, flushed:
    // bench/compare.py reads the file while the run goes on (failover).
    const auto wall_now = std::chrono::system_clock::now();
    const auto wall_invoked = wall_now - std::chrono::duration_cast<std::chrono::system_clock::duration>(now - invoked);
    const auto ms = [](auto t) {
      return static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch())
                                        .count());
    };
    std::fprintf(trace_, "%lld %lld\n", ms(wall_invoked), ms(wall_now));
    std::fflush(trace_);
  }
  if (now < measure_from_ || now > measure_until_) return;
  if (ok) {
    latencies_ms_.push_back(std::chrono::duration<double, std::milli>(now - invoked).count());
    latency_minutes_.push_back(static_cast<uint16_t>(std::chrono::duration_cast<std::chrono::minutes>(now -
                                                                                                      measure_from_)
                                                         .count()));
  } else {
    ++errors_;
    if (first_error_.empty()) first_error_ = std::string(error.substr(0, 200));
  }
}

// "p99_by_minute_ms":[...], the p99 of each whole minute of the window, for
// runs of two minutes or more (a growing state's drift, issue 18); else "".
std::string LoadRun::p99_by_minute() const {
  const auto minutes = static_cast<size_t>(options_.seconds / 60);
  if (minutes < 2) return {};
  std::vector<std::vector<double>> by_minute(minutes);
  for (size_t i = 0; i < latencies_ms_.size(); ++i) {
    if (latency_minutes_[i] < minutes) by_minute[latency_minutes_[i]].push_back(latencies_ms_[i]);
  }
  std::string field = "\"p99_by_minute_ms\":[";
  for (size_t m = 0; m < minutes; ++m) {
    std::sort(by_minute[m].begin(), by_minute[m].end());
    char value[32];
    std::snprintf(value, sizeof value, "%s%.3f", m == 0 ? "" : ",", percentile(by_minute[m], 0.99));
    field += value;
  }
  return field + "]";
}

int LoadRun::report(const std::string& extra_fields) {
  std::vector<double> latencies;
  uint64_t errors;
  std::string first_error;
  std::pair<int64_t, int64_t> window;
  std::string extra = extra_fields;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    const std::string by_minute = p99_by_minute();
    if (!by_minute.empty()) extra += (extra.empty() ? "" : ",") + by_minute;
    latencies = latencies_ms_;
    errors = errors_;
    first_error = first_error_;
    window = window_unix_ms_;
  }
  std::sort(latencies.begin(), latencies.end());
  char line[2048];
  std::snprintf(line, sizeof line,
                "{\"system\":\"%s\",\"workload\":\"%s\",\"clients\":%d,\"ops_per_s\":%.1f,\"p50_ms\":%.3f,"
                "\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"nodes\":%d,\"ops\":%zu,\"errors\":%llu,\"seconds\":%.1f,"
                "\"window_unix_ms\":[%lld,%lld],\"client_threads\":%d%s%s}",
                system_.c_str(), options_.workload.c_str(), options_.clients,
                static_cast<double>(latencies.size()) / options_.seconds, percentile(latencies, 0.50),
                percentile(latencies, 0.99), percentile(latencies, 0.999), options_.nodes, latencies.size(),
                static_cast<unsigned long long>(errors), options_.seconds, static_cast<long long>(window.first),
                static_cast<long long>(window.second), options_.threads, extra.empty() ? "" : ",", extra.c_str());
  std::puts(line);
  std::fflush(stdout);
  if (!first_error.empty()) {
    std::fprintf(stderr, "%s load: %llu errors, the first: %s\n", system_.c_str(),
                 static_cast<unsigned long long>(errors), first_error.c_str());
  }
  if (!options_.out.empty()) std::ofstream(options_.out, std::ios::app) << line << '\n';
  return latencies.empty() ? 1 : 0;
}

}  // namespace bench
