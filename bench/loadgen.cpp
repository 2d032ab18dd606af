// synod-loadgen: a closed-loop HTTP load generator for synod (and, through
// the same workload definitions, other systems' HTTP gateways).
//
//   synod-loadgen --endpoints 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003
//                 --workload put|get|lock|noop --clients N --seconds S
//                 [--warmup S] [--system NAME] [--nodes N] [--out FILE]
//
// Each client has one keep-alive connection, to endpoint (i mod endpoints),
// and runs one operation at a time (closed loop), so latency is what one
// client sees and throughput is what the clients achieve together. Every
// operation's latency is recorded; the percentiles are exact.
//
// Workloads, the same definitions for every system (--system):
//   put             one key write per op: a new key each time, or with
//                   --key-space N each client cycles over its own N keys
//   get             one linearizable read per op (synod only)
//   lock            acquire and release of the client's own lock (named for
//                   this run, so no earlier run's holder is in the way): two
//                   commits per cycle; each client opens its session (synod)
//                   or lease (etcd), TTL 10 s, before the clock starts and
//                   renews it every 3 s (not timed)
//   lock-contended  every client on one lock, acquire waits in line; ops/s
//                   are handoffs per second
//   noop            GET /healthz: the generator's own ceiling against a
//                   trivial responder (no consensus, no disk)
//   keepalive       --sessions S sessions (or leases) opened before the clock
//                   starts, spread over the clients; each is renewed every
//                   TTL/3 (TTL 10 s); ops/s are renewals answered
// --trace FILE appends "INVOKED_MS ANSWERED_MS" (wall clock) of every
// successful operation to FILE, for bench/compare.py's failover timing.
// synod: its REST API (DESIGN §5). etcd: the v3 HTTP/JSON gateway
// (/v3/kv/put, /v3/lease/grant, /v3/lease/keepalive, /v3/lock/lock,
// /v3/lock/unlock). ZooKeeper is driven by bench/zk_load.cpp (its C client).
//
// Prints, and appends to --out, one JSON line (DESIGN §7):
//   {"system","workload","clients","ops_per_s","p50_ms","p99_ms","p999_ms","nodes", ...,
//    "window_unix_ms": [from, until]}   (the measured window, wall clock)
// Errors (non-2xx answers, dropped connections) are counted and reported,
// never timed as successes.
//
// Threads: one io_context run by --threads threads (default 1); the clients
// are state machines on it.
#include <algorithm>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::vector<std::pair<std::string, std::string>> endpoints;  // host, port
  std::string workload = "put";
  std::string system = "synod";
  int clients = 1;
  double seconds = 5;
  double warmup = 1;
  int threads = 1;
  int nodes = 0;  // reported only; 0 = the number of endpoints
  std::string out;
  size_t value_bytes = 64;
  size_t sessions = 0;  // keepalive
  uint64_t key_space = 0;  // put: keys per client, 0 for a new key every time
  std::string trace;
  // An answer that takes longer counts as an error and the client
  // reconnects (a request caught in a failover may never be answered).
  int64_t request_timeout_ms = 5'000;
};

std::string base64(const std::string& in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  // Each byte widened to uint32_t before it is shifted (a uint8_t promotes to int).
  const auto byte = [&in](size_t at) { return static_cast<uint32_t>(static_cast<uint8_t>(in[at])); };
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
    out += {kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63], kAlphabet[v & 63]};
  }
  if (i + 1 == in.size()) {
    const uint32_t v = byte(i) << 16;
    out += {kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const uint32_t v = (byte(i) << 16) | (byte(i + 1) << 8);
    out += {kAlphabet[v >> 18], kAlphabet[(v >> 12) & 63], kAlphabet[(v >> 6) & 63], '='};
  }
  return out;
}

// The string value of "name":"..." in a JSON body, without a JSON library.
std::string json_field(const std::string& body, const std::string& name) {
  const auto at = body.find("\"" + name + "\":\"");
  if (at == std::string::npos) return {};
  const auto start = at + name.size() + 4;
  return body.substr(start, body.find('"', start) - start);
}

[[noreturn]] void usage(const std::string& problem) {
  std::fprintf(stderr,
               "synod-loadgen: %s\nusage: synod-loadgen --endpoints HOST:PORT,... --workload put|get|lock|noop "
               "--clients N --seconds S [--warmup S] [--threads N] [--system NAME] [--nodes N] [--out FILE] "
               "[--value-bytes N] [--key-space N]\n",
               problem.c_str());
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(flag + " needs a value");
      return argv[++i];
    };
    try {
      if (flag == "--endpoints") {
        std::string list = value();
        size_t start = 0;
        while (start < list.size()) {
          const size_t end = std::min(list.find(',', start), list.size());
          const std::string item = list.substr(start, end - start);
          const size_t colon = item.rfind(':');
          if (colon == std::string::npos) usage("bad endpoint " + item);
          o.endpoints.emplace_back(item.substr(0, colon), item.substr(colon + 1));
          start = end + 1;
        }
      } else if (flag == "--workload") {
        o.workload = value();
      } else if (flag == "--system") {
        o.system = value();
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
      } else if (flag == "--value-bytes") {
        o.value_bytes = std::stoul(value());
      } else if (flag == "--key-space") {
        o.key_space = std::stoull(value());
      } else if (flag == "--sessions") {
        o.sessions = std::stoul(value());
      } else if (flag == "--trace") {
        o.trace = value();
      } else if (flag == "--request-timeout-ms") {
        o.request_timeout_ms = std::stoll(value());
      } else {
        usage("unknown argument " + flag);
      }
    } catch (const std::exception&) {
      usage("bad value for " + flag);
    }
  }
  if (o.endpoints.empty()) usage("--endpoints is required");
  if (o.clients < 1 || o.seconds <= 0 || o.threads < 1) usage("--clients, --seconds and --threads must be positive");
  if (o.workload != "put" && o.workload != "get" && o.workload != "lock" && o.workload != "lock-contended" &&
      o.workload != "noop" && o.workload != "keepalive") {
    usage("unknown workload " + o.workload);
  }
  if (o.system != "synod" && o.system != "etcd") usage("--system is synod or etcd");
  if (o.system == "etcd" && (o.workload == "get" || o.workload == "noop")) {
    usage("etcd runs put, lock, lock-contended, keepalive");
  }
  if (o.workload == "keepalive" && o.sessions < static_cast<size_t>(o.clients)) usage("keepalive needs --sessions >= --clients");
  if (o.nodes == 0) o.nodes = static_cast<int>(o.endpoints.size());
  return o;
}

// What all clients share: the phase and the results.
struct Run {
  // Names this run's locks: a lock left held by the previous run's session
  // (the generator stops between acquire and release) would otherwise make
  // the next run's first cycles wait out that session's TTL.
  std::string tag;
  std::FILE* trace = nullptr;  // successes' wall-clock times, for failover timing
  // The window measured. keepalive sets it once every session is open (100,000
  // of them take longer than any warmup), so its clients read it under `mutex`.
  Clock::time_point measure_from;
  Clock::time_point measure_until;
  int clients_opening = 0;           // keepalive: clients still opening sessions
  std::function<void()> start_clock;  // keepalive: called once they all have
  std::atomic<bool> stopping{false};
  std::mutex mutex;
  std::vector<double> latencies_ms;  // successful operations inside the window
  uint64_t errors = 0;
  std::string first_error;
};

// One closed-loop client: connect, (set up), then operate until stopped.
class Client : public std::enable_shared_from_this<Client> {
 public:
  Client(asio::io_context& io, const Options& options, Run& run, int index)
      : io_(io), options_(options), run_(run), index_(index), stream_(io) {
    const auto& endpoint = options_.endpoints[static_cast<size_t>(index) % options_.endpoints.size()];
    host_ = endpoint.first;
    port_ = endpoint.second;
    value_.assign(options_.value_bytes, 'v');
  }

  // After io.run() returned (the run stopped the io_context with requests in
  // flight): drops the step waiting for the response in flight. That step
  // holds this client (`self`), so without this the client would hold itself
  // forever, which LeakSanitizer reports; the pending operations, which hold
  // it too, go when the io_context is destroyed.
  void abandon() { then_ = nullptr; }

  void start() {
    tcp::resolver resolver(io_);
    beast::error_code ec;
    const auto results = resolver.resolve(host_, port_, ec);
    if (ec) return fail("resolve: " + ec.message());
    stream_.connect(results, ec);
    if (ec) return fail("connect: " + ec.message());
    stream_.socket().set_option(tcp::no_delay(true));
    if (options_.workload == "keepalive") return open_sessions();
    if (options_.workload.rfind("lock", 0) == 0 && session_.empty()) return open_session();
    next();
  }

 private:
  bool etcd() const { return options_.system == "etcd"; }

  // A synod session or an etcd lease, TTL 10 s, before the clock starts.
  void open_session() {
    auto then = [self = shared_from_this()](int status, const std::string& body) {
      self->session_ = json_field(body, self->etcd() ? "ID" : "session");
      if (status != 200 || self->session_.empty()) return self->fail("session: " + std::to_string(status) + " " + body);
      self->renewed_ = Clock::now();
      self->next();
    };
    if (etcd()) return send(bhttp::verb::post, "/v3/lease/grant", R"({"TTL":10})", then);
    send(bhttp::verb::post, "/v1/sessions", R"({"ttl":"10s"})", then);
  }

  // keepalive: this client's share of the sessions, opened one after another
  // before the clock starts, then renewed round-robin, each every TTL/3.
  void open_sessions() {
    const size_t share = options_.sessions / static_cast<size_t>(options_.clients) +
                         (static_cast<size_t>(index_) < options_.sessions % static_cast<size_t>(options_.clients) ? 1 : 0);
    if (sessions_.size() >= share) {
      if (!opened_) {
        opened_ = true;
        std::lock_guard<std::mutex> lock(run_.mutex);
        if (--run_.clients_opening == 0) asio::post(io_, run_.start_clock);
      }
      renew_period_ = std::chrono::milliseconds(10'000 / 3) / static_cast<long>(std::max<size_t>(share, 1));
      next_renewal_ = Clock::now();
      return next();
    }
    auto then = [self = shared_from_this()](int status, const std::string& body) {
      const std::string id = json_field(body, self->etcd() ? "ID" : "session");
      if (status != 200 || id.empty()) return self->fail("session: " + std::to_string(status) + " " + body);
      self->sessions_.push_back(id);
      self->open_sessions();
    };
    if (etcd()) return send(bhttp::verb::post, "/v3/lease/grant", R"({"TTL":10})", then);
    send(bhttp::verb::post, "/v1/sessions", R"({"ttl":"10s"})", then);
  }

  // The next renewal, paced so that each session is renewed every TTL/3.
  void next_keepalive() {
    const auto now = Clock::now();
    if (now < next_renewal_) {
      auto timer = std::make_shared<asio::steady_timer>(io_, next_renewal_);
      timer->async_wait([self = shared_from_this(), timer](beast::error_code) { self->next_keepalive(); });
      return;
    }
    next_renewal_ += renew_period_;
    op_started_ = now;
    const std::string& id = sessions_[renewal_++ % sessions_.size()];
    auto then = [self = shared_from_this()](int status, const std::string& b) { self->done(status == 200, b); };
    if (etcd()) return send(bhttp::verb::post, "/v3/lease/keepalive", "{\"ID\":\"" + id + "\"}", then);
    send(bhttp::verb::post, "/v1/sessions/" + id + "/keepalive", "", then);
  }

  // Keeps the session or lease alive, every 3 s, between timed operations.
  bool renew_if_due() {
    if (session_.empty() || Clock::now() - renewed_ < std::chrono::seconds(3)) return false;
    renewed_ = Clock::now();
    auto then = [self = shared_from_this()](int status, const std::string& body) {
      if (status != 200) return self->fail("keep-alive: " + std::to_string(status) + " " + body);
      self->next();
    };
    if (etcd()) {
      send(bhttp::verb::post, "/v3/lease/keepalive", "{\"ID\":\"" + session_ + "\"}", then);
    } else {
      send(bhttp::verb::post, "/v1/sessions/" + session_ + "/keepalive", "", then);
    }
    return true;
  }

  void next() {
    if (run_.stopping) return;
    if (options_.workload == "keepalive") return next_keepalive();
    if (renew_if_due()) return;
    op_started_ = Clock::now();
    const std::string me = std::to_string(index_);
    if (etcd()) return next_etcd(me);
    if (options_.workload == "put") {
      send(bhttp::verb::put, "/v1/kv/bench/" + me + "/" + std::to_string(next_key()), value_,
           [self = shared_from_this()](int status, const std::string& body) { self->done(status == 200, body); });
    } else if (options_.workload == "get") {
      send(bhttp::verb::get, "/v1/kv/bench/" + me + "/0", "", [self = shared_from_this()](int status, const std::string& body) {
        self->done(status == 200 || status == 404, body);
      });
    } else if (options_.workload == "noop") {
      send(bhttp::verb::get, "/healthz", "",
           [self = shared_from_this()](int status, const std::string& body) { self->done(status == 200, body); });
    } else {
      const bool hot = options_.workload == "lock-contended";
      const std::string path = "/v1/locks/" + lock_name() + "?session=" + session_;
      send(bhttp::verb::post, path + (hot ? "&wait=30s" : ""), "",
           [self = shared_from_this(), path](int status, const std::string& body) {
             if (status != 200) return self->done(false, body);
             self->send(bhttp::verb::delete_, path, "", [self](int s, const std::string& b) { self->done(s == 200, b); });
           });
    }
  }

  // The client's own lock, or the one hot lock every client shares.
  std::string lock_name() const {
    if (options_.workload == "lock-contended") return "bench-hot-" + run_.tag;
    return "bench-" + run_.tag + "-" + std::to_string(index_);
  }

  void next_etcd(const std::string& me) {
    if (options_.workload == "put") {
      const std::string body = "{\"key\":\"" + base64("bench/" + me + "/" + std::to_string(next_key())) +
                               "\",\"value\":\"" + base64(value_) + "\"}";
      return send(bhttp::verb::post, "/v3/kv/put", body,
                  [self = shared_from_this()](int status, const std::string& b) { self->done(status == 200, b); });
    }
    const std::string body = "{\"name\":\"" + base64(lock_name()) + "\",\"lease\":\"" + session_ + "\"}";
    send(bhttp::verb::post, "/v3/lock/lock", body, [self = shared_from_this()](int status, const std::string& b) {
      const std::string key = json_field(b, "key");
      if (status != 200 || key.empty()) return self->done(false, b);
      self->send(bhttp::verb::post, "/v3/lock/unlock", "{\"key\":\"" + key + "\"}",
                 [self](int s, const std::string& body2) { self->done(s == 200, body2); });
    });
  }

  void done(bool ok, const std::string& body) {
    const auto now = Clock::now();
    if (ok && run_.trace) {
      // The wall-clock times the operation was invoked and answered.
      const auto wall_now = std::chrono::system_clock::now();
      const auto wall_invoked = wall_now - std::chrono::duration_cast<std::chrono::system_clock::duration>(now - op_started_);
      auto ms = [](auto t) {
        return static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count());
      };
      std::lock_guard<std::mutex> lock(run_.mutex);
      std::fprintf(run_.trace, "%lld %lld\n", ms(wall_invoked), ms(wall_now));
      std::fflush(run_.trace);  // read while the run goes on (bench/compare.py's failover)
    }
    {
      std::lock_guard<std::mutex> lock(run_.mutex);
      if (now >= run_.measure_from && now <= run_.measure_until) {
        if (ok) {
          run_.latencies_ms.push_back(std::chrono::duration<double, std::milli>(now - op_started_).count());
        } else {
          ++run_.errors;
          if (run_.first_error.empty()) run_.first_error = body.substr(0, 200);
        }
      }
    }
    next();
  }

  using Then = std::function<void(int status, const std::string& body)>;
  void send(bhttp::verb verb, const std::string& target, const std::string& body, Then then) {
    request_ = {};
    request_.version(11);
    request_.method(verb);
    request_.target(target);
    request_.set(bhttp::field::host, host_);
    request_.keep_alive(true);
    request_.body() = body;
    request_.prepare_payload();
    then_ = std::move(then);
    // A long-polling acquire waits up to 30 s on the server.
    const int64_t timeout_ms = options_.request_timeout_ms + (target.find("wait=") != std::string::npos ? 30'000 : 0);
    stream_.expires_after(std::chrono::milliseconds(timeout_ms));
    bhttp::async_write(stream_, request_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->fail("write: " + ec.message());
      self->response_ = {};
      bhttp::async_read(self->stream_, self->buffer_, self->response_, [self](beast::error_code e, size_t) {
        if (e) return self->fail("read: " + e.message());
        auto next_step = std::move(self->then_);
        next_step(static_cast<int>(self->response_.result_int()), self->response_.body());
      });
    });
  }

  void fail(const std::string& why) {
    {
      std::lock_guard<std::mutex> lock(run_.mutex);
      ++run_.errors;
      if (run_.first_error.empty()) run_.first_error = why;
    }
    if (run_.stopping) return;
    // Reconnect after a pause, as a real client would.
    auto timer = std::make_shared<asio::steady_timer>(io_, std::chrono::milliseconds(50));
    timer->async_wait([self = shared_from_this(), timer](beast::error_code) {
      beast::error_code ignored;
      self->stream_.socket().close(ignored);
      self->buffer_.clear();
      self->start();
    });
  }

  asio::io_context& io_;
  const Options& options_;
  Run& run_;
  int index_;
  std::string host_, port_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  bhttp::request<bhttp::string_body> request_;
  bhttp::response<bhttp::string_body> response_;
  Then then_;
  std::string session_;
  Clock::time_point renewed_;
  std::vector<std::string> sessions_;  // keepalive
  bool opened_ = false;                // keepalive: this client's share is open
  size_t renewal_ = 0;
  Clock::duration renew_period_{};
  Clock::time_point next_renewal_;
  std::string value_;
  uint64_t count_ = 0;
  uint64_t next_key() {
    const uint64_t key = count_++;
    return options_.key_space == 0 ? key : key % options_.key_space;
  }
  Clock::time_point op_started_;
};

double percentile(std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto rank = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(rank, sorted.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  asio::io_context io;
  Run run;
  run.tag = std::to_string(std::random_device{}() % 1'000'000);
  if (!options.trace.empty()) run.trace = std::fopen(options.trace.c_str(), "a");
  const auto started = Clock::now();
  asio::steady_timer stop(io);
  std::pair<int64_t, int64_t> window_unix_ms{0, 0};  // reported, so a caller can match its own samples
  // The clock: warmup, then the measured seconds, then stop.
  auto start_clock = [&](Clock::time_point from) {
    std::lock_guard<std::mutex> lock(run.mutex);
    run.measure_from = from + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.warmup));
    run.measure_until = run.measure_from + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(options.seconds));
    stop.expires_at(run.measure_until);
    const auto wall_offset = std::chrono::system_clock::now().time_since_epoch() - Clock::now().time_since_epoch();
    auto unix_ms = [&](Clock::time_point t) {
      return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch() + wall_offset).count();
    };
    window_unix_ms = {unix_ms(run.measure_from), unix_ms(run.measure_until)};
    stop.async_wait([&](beast::error_code ec) {
      if (ec) return;
      run.stopping = true;
      io.stop();
    });
  };
  if (options.workload == "keepalive") {
    // Nothing is measured until every session is open.
    run.measure_from = run.measure_until = Clock::time_point::max();
    run.clients_opening = options.clients;
    run.start_clock = [&] { start_clock(Clock::now()); };
  } else {
    start_clock(started);
  }
  std::vector<std::shared_ptr<Client>> clients;
  for (int i = 0; i < options.clients; ++i) {
    clients.push_back(std::make_shared<Client>(io, options, run, i));
    asio::post(io, [client = clients.back()] { client->start(); });
  }
  std::vector<std::thread> threads;
  for (int i = 1; i < options.threads; ++i) threads.emplace_back([&] { io.run(); });
  io.run();
  for (auto& thread : threads) thread.join();
  for (auto& client : clients) client->abandon();

  std::vector<double> latencies;
  uint64_t errors = 0;
  std::string first_error;
  {
    std::lock_guard<std::mutex> lock(run.mutex);
    latencies = run.latencies_ms;
    errors = run.errors;
    first_error = run.first_error;
  }
  if (run.trace) std::fclose(run.trace);
  std::sort(latencies.begin(), latencies.end());
  char line[1024];
  std::snprintf(line, sizeof line,
                "{\"system\":\"%s\",\"workload\":\"%s\",\"clients\":%d,\"ops_per_s\":%.1f,\"p50_ms\":%.3f,"
                "\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"nodes\":%d,\"ops\":%zu,\"errors\":%lu,\"seconds\":%.1f,"
                "\"window_unix_ms\":[%lld,%lld]}",
                options.system.c_str(), options.workload.c_str(), options.clients,
                static_cast<double>(latencies.size()) / options.seconds, percentile(latencies, 0.50),
                percentile(latencies, 0.99), percentile(latencies, 0.999), options.nodes, latencies.size(),
                static_cast<unsigned long>(errors), options.seconds, static_cast<long long>(window_unix_ms.first),
                static_cast<long long>(window_unix_ms.second));
  std::puts(line);
  if (!first_error.empty()) std::fprintf(stderr, "synod-loadgen: %lu errors, the first: %s\n",
                                         static_cast<unsigned long>(errors), first_error.c_str());
  if (!options.out.empty()) {
    std::ofstream out(options.out, std::ios::app);
    out << line << '\n';
  }
  return latencies.empty() ? 1 : 0;
}
