// zk_load: the same workloads as synod-loadgen, against ZooKeeper through
// its standard C client (Debian's libzookeeper-mt-dev) on its asynchronous
// API and its standard lock recipe, so that bench/compare.sh can set
// ZooKeeper beside synod and etcd.
//
//   zk_load --endpoints 127.0.0.1:2181,127.0.0.1:2182,127.0.0.1:2183
//           --workload put|lock|lock-contended --clients N --seconds S
//           [--threads K] [--warmup S] [--out FILE] [--trace FILE]
//           [--value-bytes N] [--request-timeout-ms MS]
// (bench/load_run.h: the flags, the window, the JSON row; --key-space and
// --sessions are accepted and ignored.)
//
// Sessions: --threads K zhandles (ZooKeeper sessions, 10 s timeout asked),
// default min(clients, 2 x endpoints). Logical client i talks, as in the
// other tools, to endpoint i mod n: it rides a session that prefers that
// endpoint (handle k prefers endpoint k mod n and falls back to the others
// in order). Every client is a closed loop with one operation in flight:
// the completion callback records it and sends the next, so 64 clients are
// 64 requests in flight over K connections. Workloads:
//   put             zoo_aset of the client's own node /bench/put-<i>
//                   (--value-bytes of 'v'): one commit per op
//   lock            the lock recipe (bench/zk_recipe.h) on the client's own
//                   lock: uncontended, two commits per cycle
//   lock-contended  the recipe on one lock for every client: ops/s are
//                   handoffs, granted in sequence order
// Lock directories are named per run: ephemeral children of an earlier run
// killed before closing its sessions live on until those sessions expire.
//
// A failed request (connection loss in a failover, ...) is an error, and the
// client tries again after 20 ms. ZooKeeper's client has no deadline per
// request, so --request-timeout-ms is honoured by a scan that records an
// operation not answered in time as an error; the client then waits for the
// late answer (the C client always gives one: at the latest connection loss
// once it gives up on the server) before it tries again: a session answers in
// order, so asking again sooner could not be answered sooner.
//
// Threads: each zhandle has the C client's I/O and completion threads; the
// clients' steps run on the completion threads. One timer thread runs the
// retries and the deadline scan; the main thread sets up and waits.
#include <zookeeper/zookeeper.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "load_run.h"
#include "zk_recipe.h"

namespace bench::zk {

constexpr int kSessionTimeoutMs = 10'000;
constexpr auto kRetryPause = std::chrono::milliseconds(20);

// Runs tasks after a pause, on one thread of its own.
class Timers {
 public:
  using Task = std::function<void()>;
  Timers() : thread_([this] { loop(); }) {}
  ~Timers() { stop(); }
  Timers(const Timers&) = delete;
  Timers& operator=(const Timers&) = delete;

  void after(Clock::duration pause, Task task) {
    std::lock_guard<std::mutex> lock(mutex_);
    due_.emplace(Clock::now() + pause, std::move(task));
    changed_.notify_one();
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopped_ = true;
      changed_.notify_one();
    }
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
  }

 private:
  void loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stopped_) {
      if (due_.empty()) {
        changed_.wait(lock);
      } else if (due_.begin()->first > Clock::now()) {
        changed_.wait_until(lock, due_.begin()->first);
      } else {
        Task task = std::move(due_.begin()->second);
        due_.erase(due_.begin());
        lock.unlock();  // a task may schedule another
        task();
        lock.lock();
      }
    }
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  std::multimap<Clock::time_point, Task> due_;
  bool stopped_ = false;
  std::thread thread_;  // last: starts once the rest is built
};

// One zhandle: a ZooKeeper session over one connection, for many clients.
struct Session {
  std::string hosts;  // the preferred endpoint first
  Timers* timers = nullptr;
  std::atomic<zhandle_t*> zh{nullptr};
  std::mutex mutex;
  std::condition_variable changed;
  bool connected = false;
};

void open(Session& s);

// The session's watcher. An expired session is dead for good (its handle
// answers everything with an error): open a new one, from the timer thread
// (never block a completion thread). The dead handle is left alone.
void session_event(zhandle_t* zh, int type, int state, const char*, void* context) {
  if (type != ZOO_SESSION_EVENT) return;
  auto& s = *static_cast<Session*>(context);
  if (state == ZOO_EXPIRED_SESSION_STATE && zh == s.zh.load()) s.timers->after({}, [&s] { open(s); });
  std::lock_guard<std::mutex> lock(s.mutex);
  s.connected = state == ZOO_CONNECTED_STATE;
  s.changed.notify_all();
}

void open(Session& s) {
  zhandle_t* zh = zookeeper_init(s.hosts.c_str(), session_event, kSessionTimeoutMs, nullptr, &s, 0);
  if (zh == nullptr) return s.timers->after(kRetryPause, [&s] { open(s); });
  // By default the client resolves its host list again every time it polls
  // its socket: a netlink round of getaddrinfo per request, for endpoints
  // that are addresses. -1: only when it reconnects.
  zoo_set_servers_resolution_delay(zh, -1);
  s.zh = zh;
}

// What bench/zk_recipe.h asks of its driver.

zhandle_t* handle(const Client& c) { return c.session->zh.load(); }

void begin(Client& c) {
  std::lock_guard<std::mutex> lock(c.mutex);
  c.invoked = Clock::now();
  c.late = false;
}

void asking(Client& c) {
  std::lock_guard<std::mutex> lock(c.mutex);
  c.asked = Clock::now();
}

bool in_time(Client& c) {
  std::lock_guard<std::mutex> lock(c.mutex);
  c.asked = Clock::time_point::max();
  return !c.late;
}

void failed(Client& c, const std::string& what, int rc) {
  c.run->record(c.invoked, false, rc == ZOK ? what : what + ": " + zerror(rc));
}

void later(Client& c, void (*next)(Client&)) {
  c.session->timers->after(kRetryPause, [&c, next] { next(c); });
}

namespace {

// Records as errors the operations whose pending request is older than the
// request timeout, every tenth of it (at most every 50 ms).
void scan_deadlines(Timers& timers, const std::vector<std::unique_ptr<Client>>& clients, int64_t timeout_ms) {
  const auto timeout = std::chrono::milliseconds(timeout_ms);
  const auto now = Clock::now();
  for (const auto& c : clients) {
    Clock::time_point invoked;
    {
      std::lock_guard<std::mutex> lock(c->mutex);
      if (c->late || c->asked == Clock::time_point::max() || now - c->asked < timeout) continue;
      c->late = true;
      invoked = c->invoked;
    }
    c->run->record(invoked, false, "no answer in " + std::to_string(timeout_ms) + " ms");
  }
  const Clock::duration period = std::clamp<Clock::duration>(timeout / 10, std::chrono::milliseconds(1),
                                                             std::chrono::milliseconds(50));
  timers.after(period, [&timers, &clients, timeout_ms] { scan_deadlines(timers, clients, timeout_ms); });
}

void put_next(Client& c);

void put_done(int rc, const Stat*, const void* data) {
  Client& c = *static_cast<Client*>(const_cast<void*>(data));
  if (!in_time(c)) return later(c, put_next);
  if (rc != ZOK) return failed(c, "set", rc), later(c, put_next);
  c.run->record(c.invoked, true);
  put_next(c);
}

void put_next(Client& c) {
  if (c.run->stopping()) return;
  begin(c);
  asking(c);
  const int rc = zoo_aset(handle(c), c.path.c_str(), c.value.data(), static_cast<int>(c.value.size()), -1, put_done,
                          &c);
  if (rc != ZOK) put_done(rc, nullptr, &c);
}

// The session client i rides: one that prefers endpoint i mod n, as the
// other tools' client i talks to it; spread over that endpoint's sessions.
size_t session_of(size_t client, size_t sessions, size_t endpoints) {
  if (sessions < endpoints) return client % sessions;
  const size_t endpoint = client % endpoints;
  const size_t preferring = (sessions - endpoint + endpoints - 1) / endpoints;  // sessions k = endpoint mod n
  return endpoint + endpoints * ((client / endpoints) % preferring);
}

// Session k's host list: endpoint k mod n first, then the others in order
// (zoo_deterministic_conn_order keeps the order).
std::string hosts_of(const LoadOptions& options, size_t k) {
  std::string hosts;
  for (size_t j = 0; j < options.endpoints.size(); ++j) {
    const auto& [host, port] = endpoint_of(options, k + j);
    hosts += (j ? "," : "") + host + ":" + port;
  }
  return hosts;
}

// Opens the sessions and waits (up to 30 s) until each is connected.
std::vector<std::unique_ptr<Session>> open_sessions(const LoadOptions& options, Timers& timers) {
  std::vector<std::unique_ptr<Session>> sessions;
  for (size_t k = 0; k < static_cast<size_t>(options.threads); ++k) {
    auto s = std::make_unique<Session>();
    s->hosts = hosts_of(options, k);
    s->timers = &timers;
    open(*s);
    sessions.push_back(std::move(s));
  }
  const auto until = Clock::now() + std::chrono::seconds(30);
  for (auto& s : sessions) {
    std::unique_lock<std::mutex> lock(s->mutex);
    if (!s->changed.wait_until(lock, until, [&] { return s->connected; })) {
      std::fprintf(stderr, "zk_load: no session to %s in 30 s\n", s->hosts.c_str());
    }
  }
  return sessions;
}

// Creates a persistent node unless it exists, retrying a connection loss
// for up to 10 s; exits on anything else (the run would measure nothing).
void ensure(zhandle_t* zh, const std::string& path) {
  const auto until = Clock::now() + std::chrono::seconds(10);
  for (;;) {
    const int rc = zoo_create(zh, path.c_str(), "", 0, &ZOO_OPEN_ACL_UNSAFE, 0, nullptr, 0);
    if (rc == ZOK || rc == ZNODEEXISTS) return;
    if ((rc != ZCONNECTIONLOSS && rc != ZOPERATIONTIMEOUT) || Clock::now() > until) {
      std::fprintf(stderr, "zk_load: create %s: %s\n", path.c_str(), zerror(rc));
      std::_Exit(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

// The clients, each with its node or lock directory in place.
std::vector<std::unique_ptr<Client>> make_clients(const LoadOptions& options, LoadRun& run,
                                                  const std::vector<std::unique_ptr<Session>>& sessions) {
  const std::string tag = std::to_string(std::random_device{}() % 1'000'000);
  ensure(sessions[0]->zh.load(), "/bench");
  if (options.workload == "lock-contended") ensure(sessions[0]->zh.load(), "/bench/lock-hot-" + tag);
  std::vector<std::unique_ptr<Client>> clients;
  for (int i = 0; i < options.clients; ++i) {
    auto c = std::make_unique<Client>();
    c->run = &run;
    c->index = i;
    c->session = sessions[session_of(static_cast<size_t>(i), sessions.size(), options.endpoints.size())].get();
    const std::string me = std::to_string(i);
    if (options.workload == "put") {
      c->path = "/bench/put-" + me;
      c->value.assign(options.value_bytes, 'v');
    } else {
      c->path = options.workload == "lock" ? "/bench/lock-" + tag + "-" + me : "/bench/lock-hot-" + tag;
    }
    if (options.workload != "lock-contended") ensure(handle(*c), c->path);
    clients.push_back(std::move(c));
  }
  return clients;
}

// Closes the sessions (their ephemeral nodes go at once rather than at their
// expiry), giving up after 2 s: zookeeper_close waits for the server.
void close_sessions(const std::vector<std::unique_ptr<Session>>& sessions) {
  auto open = std::make_shared<std::atomic<size_t>>(sessions.size());
  for (const auto& s : sessions) {
    std::thread([zh = s->zh.load(), open] {
      zookeeper_close(zh);
      --*open;
    }).detach();
  }
  const auto until = Clock::now() + std::chrono::seconds(2);
  while (*open > 0 && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(5));
}

// Sessions by default: enough that every endpoint has two (client i still
// reaches endpoint i mod n), never more than the clients.
int default_sessions(const LoadOptions& options) {
  return std::min(options.clients, 2 * static_cast<int>(options.endpoints.size()));
}

}  // namespace
}  // namespace bench::zk

int main(int argc, char** argv) {
  using namespace bench::zk;
  bench::LoadOptions options = bench::parse_load_options(argc, argv, "zk_load", {"put", "lock", "lock-contended"});
  if (options.threads == 0) options.threads = default_sessions(options);
  zoo_set_debug_level(ZOO_LOG_LEVEL_ERROR);
  zoo_deterministic_conn_order(1);
  bench::LoadRun run(options, "zookeeper");
  Timers timers;
  const auto sessions = open_sessions(options, timers);
  const auto clients = make_clients(options, run, sessions);
  run.start_clock();
  scan_deadlines(timers, clients, options.request_timeout_ms);
  for (const auto& c : clients) {
    if (options.workload == "put") {
      put_next(*c);
    } else {
      lock_cycle(*c);
    }
  }
  run.wait_until_stopped();
  const int status = run.report();
  timers.stop();
  close_sessions(sessions);
  // Nothing is torn down: callbacks may still run on the C client's threads.
  std::_Exit(status);
}
