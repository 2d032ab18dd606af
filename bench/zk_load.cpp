// zk_load: the same workloads as synod-loadgen, against ZooKeeper through
// its standard C client (Debian's libzookeeper-mt-dev) and its standard lock
// recipe, so that bench/compare.sh can set ZooKeeper beside synod and etcd.
//
//   zk_load --endpoints 127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183
//           --workload put|lock|lock-contended --clients N --seconds S
//           [--warmup S] [--out FILE]
//
// Client i opens one session (10 s timeout) to endpoint (i mod endpoints)
// before the clock starts. Workloads:
//   put             zoo_set of the client's own node: one commit per op
//   lock            the lock recipe on the client's own lock: create an
//                   EPHEMERAL|SEQUENCE child, list the children, it is the
//                   lowest (uncontended), delete it: two commits per cycle,
//                   as synod's and etcd's acquire and release
//   lock-contended  the recipe on one lock for every client: a client that
//                   is not the lowest watches its predecessor and waits, so
//                   ops/s are handoffs per second, granted in sequence order
// One thread per client; the C client's synchronous calls block it.
// --trace FILE appends "INVOKED_MS ANSWERED_MS" (wall clock) of every success.
// Prints one JSON line in the format of DESIGN §7 (system "zookeeper").
#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
  std::vector<std::string> endpoints;
  std::string workload = "put";
  int clients = 1;
  double seconds = 5;
  double warmup = 1;
  std::string out;
  std::string trace;
};

struct Shared {
  std::FILE* trace = nullptr;  // successes' wall-clock times (--trace)
  Clock::time_point from, until;
  std::atomic<bool> stopping{false};
  std::mutex mutex;
  std::vector<double> latencies_ms;
  uint64_t errors = 0;
  std::string first_error;
};

// Connection state and watch events, shared between a client thread and the
// C client's completion thread.
struct Session {
  std::mutex mutex;
  std::condition_variable changed;
  bool connected = false;
  uint64_t events = 0;
};

void watcher(zhandle_t*, int type, int state, const char*, void* context) {
  auto* session = static_cast<Session*>(context);
  std::lock_guard<std::mutex> lock(session->mutex);
  if (type == ZOO_SESSION_EVENT) session->connected = state == ZOO_CONNECTED_STATE;
  ++session->events;
  session->changed.notify_all();
}

void record(Shared& shared, Clock::time_point started, bool ok, const std::string& error) {
  const auto now = Clock::now();
  if (ok && shared.trace) {
    // The wall-clock times the operation was invoked and answered.
    const auto wall_now = std::chrono::system_clock::now();
    const auto wall_invoked =
        wall_now - std::chrono::duration_cast<std::chrono::system_clock::duration>(now - started);
    auto ms = [](auto t) {
      return static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count());
    };
    std::lock_guard<std::mutex> lock(shared.mutex);
    if (shared.trace) {
      std::fprintf(shared.trace, "%lld %lld\n", ms(wall_invoked), ms(wall_now));
      std::fflush(shared.trace);  // read while the run goes on (bench/compare.py's failover)
    }
  }
  if (now < shared.from || now > shared.until) return;
  std::lock_guard<std::mutex> lock(shared.mutex);
  if (ok) {
    shared.latencies_ms.push_back(std::chrono::duration<double, std::milli>(now - started).count());
  } else {
    ++shared.errors;
    if (shared.first_error.empty()) shared.first_error = error;
  }
}

void ensure(zhandle_t* zh, const std::string& path) {
  zoo_create(zh, path.c_str(), "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);  // ZNODEEXISTS is fine
}

// One acquire and release with the standard recipe; true if both worked.
bool lock_cycle(zhandle_t* zh, Session& session, const std::string& dir, const Shared& shared, std::string& error) {
  char created[512];
  const std::string prefix = dir + "/lock-";
  int rc = zoo_create(zh, prefix.c_str(), "", 0, &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL | ZOO_SEQUENCE, created,
                      sizeof created);
  if (rc != ZOK) return error = std::string("create: ") + zerror(rc), false;
  const std::string mine = std::string(created).substr(dir.size() + 1);
  while (!shared.stopping) {
    String_vector children{};
    rc = zoo_get_children(zh, dir.c_str(), 0, &children);
    if (rc != ZOK) return error = std::string("children: ") + zerror(rc), false;
    std::vector<std::string> names(children.data, children.data + children.count);
    deallocate_String_vector(&children);
    std::sort(names.begin(), names.end());
    auto at = std::find(names.begin(), names.end(), mine);
    if (at == names.begin()) break;  // the lowest: ours
    if (at == names.end()) return error = "our node vanished", false;
    const std::string predecessor = dir + "/" + *(at - 1);
    uint64_t seen;
    {
      std::lock_guard<std::mutex> lock(session.mutex);
      seen = session.events;
    }
    Stat stat;
    rc = zoo_exists(zh, predecessor.c_str(), 1, &stat);
    if (rc == ZNONODE) continue;
    if (rc != ZOK) return error = std::string("exists: ") + zerror(rc), false;
    std::unique_lock<std::mutex> lock(session.mutex);
    session.changed.wait_for(lock, std::chrono::seconds(1), [&] { return session.events != seen; });
  }
  if (shared.stopping) return error = "stopped while waiting", false;
  rc = zoo_delete(zh, created, -1);
  if (rc != ZOK) return error = std::string("delete: ") + zerror(rc), false;
  return true;
}

void client(const Options& options, Shared& shared, int index) {
  Session session;
  // Client i prefers endpoint i mod n and falls back to the others, in order.
  std::string hosts;
  for (size_t k = 0; k < options.endpoints.size(); ++k) {
    hosts += (k ? "," : "") + options.endpoints[(static_cast<size_t>(index) + k) % options.endpoints.size()];
  }
  zhandle_t* zh = zookeeper_init(hosts.c_str(), watcher, 10000, nullptr, &session, 0);
  if (zh == nullptr) return record(shared, Clock::now(), false, "zookeeper_init failed");
  {
    std::unique_lock<std::mutex> lock(session.mutex);
    session.changed.wait_for(lock, std::chrono::seconds(10), [&] { return session.connected; });
  }
  const std::string me = std::to_string(index);
  const std::string value(64, 'v');
  const std::string node = "/bench/put-" + me;
  const std::string dir = options.workload == "lock-contended" ? "/bench/lock-hot" : "/bench/lock-" + me;
  ensure(zh, "/bench");
  ensure(zh, options.workload == "put" ? node : dir);
  while (!shared.stopping) {
    const auto started = Clock::now();
    std::string error;
    bool ok;
    if (options.workload == "put") {
      const int rc = zoo_set(zh, node.c_str(), value.data(), static_cast<int>(value.size()), -1);
      ok = rc == ZOK;
      if (!ok) error = zerror(rc);
    } else {
      ok = lock_cycle(zh, session, dir, shared, error);
    }
    record(shared, started, ok, error);
    if (!ok) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  zookeeper_close(zh);
}

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5))];
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--endpoints") {
      size_t start = 0;
      while (start < value.size()) {
        const size_t end = std::min(value.find(',', start), value.size());
        options.endpoints.push_back(value.substr(start, end - start));
        start = end + 1;
      }
    } else if (flag == "--workload") {
      options.workload = value;
    } else if (flag == "--clients") {
      options.clients = std::stoi(value);
    } else if (flag == "--seconds") {
      options.seconds = std::stod(value);
    } else if (flag == "--warmup") {
      options.warmup = std::stod(value);
    } else if (flag == "--out") {
      options.out = value;
    } else if (flag == "--trace") {
      options.trace = value;
    } else {
      std::fprintf(stderr, "zk_load: unknown argument %s\n", flag.c_str());
      return 2;
    }
  }
  if (options.endpoints.empty() ||
      (options.workload != "put" && options.workload != "lock" && options.workload != "lock-contended")) {
    std::fprintf(stderr, "usage: zk_load --endpoints H:P,... --workload put|lock|lock-contended --clients N --seconds S\n");
    return 2;
  }
  zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
  zoo_deterministic_conn_order(1);
  Shared shared;
  if (!options.trace.empty()) shared.trace = std::fopen(options.trace.c_str(), "a");
  const auto start = Clock::now();
  shared.from = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.warmup + 1));
  shared.until = shared.from + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.seconds));
  std::vector<std::thread> threads;
  for (int i = 0; i < options.clients; ++i) threads.emplace_back(client, std::cref(options), std::ref(shared), i);
  std::this_thread::sleep_until(shared.until);
  shared.stopping = true;
  // A client blocked in the C client's synchronous call (a session caught in
  // a failover) may not return for a while: report without it.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::lock_guard<std::mutex> lock(shared.mutex);
  if (shared.trace) std::fclose(shared.trace);
  shared.trace = nullptr;
  std::sort(shared.latencies_ms.begin(), shared.latencies_ms.end());
  char line[512];
  std::snprintf(line, sizeof line,
                "{\"system\":\"zookeeper\",\"workload\":\"%s\",\"clients\":%d,\"ops_per_s\":%.1f,\"p50_ms\":%.3f,"
                "\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"nodes\":%zu,\"ops\":%zu,\"errors\":%lu,\"seconds\":%.1f}",
                options.workload.c_str(), options.clients,
                static_cast<double>(shared.latencies_ms.size()) / options.seconds, percentile(shared.latencies_ms, 0.5),
                percentile(shared.latencies_ms, 0.99), percentile(shared.latencies_ms, 0.999), options.endpoints.size(),
                shared.latencies_ms.size(), static_cast<unsigned long>(shared.errors), options.seconds);
  std::puts(line);
  if (!shared.first_error.empty()) std::fprintf(stderr, "zk_load: first error: %s\n", shared.first_error.c_str());
  if (!options.out.empty()) std::ofstream(options.out, std::ios::app) << line << '\n';
  std::fflush(stdout);
  // Threads may still sit in blocking ZooKeeper calls: leave without them.
  std::_Exit(shared.latencies_ms.empty() ? 1 : 0);
}
