// synod-loadgen: a closed-loop HTTP load generator for synod, through its
// REST API (DESIGN §5). etcd has bench/etcd_load.cpp (gRPC) and ZooKeeper
// bench/zk_load.cpp (its asynchronous C client); all three share
// bench/load_run.h: the flags, the measured window and the JSON row.
//
//   synod-loadgen --endpoints 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003
//                 --workload put|get|lock|lock-contended|noop|keepalive
//                 --clients N --seconds S [--warmup S] [--threads N]
//                 [--nodes N] [--out FILE] [--trace FILE]
//                 [--cacert CA.pem [--cert C.pem --key K.pem]] [--token TOKEN]
//
// Each client has one keep-alive connection, to endpoint (i mod endpoints),
// and runs one operation at a time (closed loop), so latency is what one
// client sees and throughput is what the clients achieve together. Every
// operation's latency is recorded; the percentiles are exact.
//
// Workloads:
//   put             one key write per op: a new key each time, or with
//                   --key-space N each client cycles over its own N keys
//   get             one linearizable read per op
//   lock            acquire and release of the client's own lock (named for
//                   this run, so no earlier run's holder is in the way): two
//                   commits per cycle; each client opens its session, TTL
//                   10 s, before the clock starts and renews it every 3 s
//                   (not timed)
//   lock-contended  every client on one lock, acquire waits in line; ops/s
//                   are handoffs per second
//   noop            GET /healthz: the generator's own ceiling against a
//                   trivial responder (no consensus, no disk)
//   keepalive       --sessions S sessions opened before the clock starts,
//                   spread over the clients; each is renewed every TTL/3
//                   (TTL 10 s); ops/s are renewals answered
// --trace FILE appends "INVOKED_MS ANSWERED_MS" (wall clock) of every
// successful operation to FILE, for bench/compare.py's failover timing.
// Errors (non-2xx answers, dropped connections) are counted and reported,
// never timed as successes.
//
// --cacert: every connection speaks TLS (HTTPS), checked against CA.pem, and
// presents --cert if given; --token: every request carries
// Authorization: Bearer TOKEN (the cost of TLS and auth, bench/RESULTS.md). Each client's
// handshake is done when it connects, before its first timed operation.
//
// Threads: one io_context run by --threads threads (default 1); the clients
// are state machines on it, each on a strand of its own. The main thread
// waits out the window.
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "http/flex_stream.h"
#include "load_run.h"
#include "tls/files.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
using tcp = asio::ip::tcp;
using bench::Clock;

namespace {

// The string value of "name":"..." in a JSON body, without a JSON library.
std::string json_field(const std::string& body, const std::string& name) {
  const auto at = body.find("\"" + name + "\":\"");
  if (at == std::string::npos) return {};
  const auto start = at + name.size() + 4;
  return body.substr(start, body.find('"', start) - start);
}

// What all clients share besides the LoadRun.
struct Run {
  explicit Run(const bench::LoadOptions& options) : load(options, "synod") {}
  bench::LoadRun load;
  // Names this run's locks: a lock left held by the previous run's session
  // (the generator stops between acquire and release) would otherwise make
  // the next run's first cycles wait out that session's TTL.
  std::string tag;
  std::string authorization;  // "Bearer TOKEN", or empty
  std::mutex mutex;
  int clients_opening = 0;  // keepalive: clients still opening sessions
};

// One closed-loop client: connect, (set up), then operate until stopped.
class Client : public std::enable_shared_from_this<Client> {
 public:
  Client(asio::io_context& io, const bench::LoadOptions& options, Run& run, int index, asio::ssl::context* tls)
      : io_(io), options_(options), run_(run), index_(index), tls_(tls), stream_(asio::make_strand(io)) {
    const auto& endpoint = bench::endpoint_of(options_, static_cast<size_t>(index));
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

  // The client's strand: with --threads > 1 its handlers (the stream's, its
  // timeout's and its timers') must not run at once.
  beast::tcp_stream::executor_type executor() { return stream_.get_executor(); }

  void start() {
    tcp::resolver resolver(io_);
    beast::error_code ec;
    const auto results = resolver.resolve(host_, port_, ec);
    if (ec) return fail("resolve: " + ec.message());
    stream_.tcp().connect(results, ec);
    if (ec) return fail("connect: " + ec.message());
    stream_.socket().set_option(tcp::no_delay(true));
    if (tls_ != nullptr) {
      stream_.use_tls(nullptr, *tls_);
      stream_.ssl().handshake(asio::ssl::stream_base::client, ec);
      if (ec) return fail("TLS handshake: " + ec.message());
    }
    if (options_.workload == "keepalive") return open_sessions();
    if (options_.workload.rfind("lock", 0) == 0 && session_.empty()) return open_session();
    next();
  }

 private:
  // A session, TTL 10 s, before the clock starts.
  void open_session() {
    auto then = [self = shared_from_this()](int status, const std::string& body) {
      self->session_ = json_field(body, "session");
      if (status != 200 || self->session_.empty()) return self->fail("session: " + std::to_string(status) + " " + body);
      self->renewed_ = Clock::now();
      self->next();
    };
    send(bhttp::verb::post, "/v1/sessions", R"({"ttl":"10s"})", then);
  }

  // keepalive: this client's share of the sessions, opened one after another
  // before the clock starts, then renewed round-robin, each every TTL/3.
  void open_sessions() {
    const size_t share = bench::share_of(options_.sessions, static_cast<size_t>(options_.clients),
                                         static_cast<size_t>(index_));
    if (sessions_.size() >= share) {
      if (!opened_) {
        opened_ = true;
        std::lock_guard<std::mutex> lock(run_.mutex);
        if (--run_.clients_opening == 0) run_.load.start_clock();
      }
      // In the clock's own unit: whole milliseconds per renewal would round
      // the period down and renew faster than TTL/3 (32,000/s for 100,000).
      renew_period_ = Clock::duration(std::chrono::milliseconds(10'000)) / 3 /
                      static_cast<long>(std::max<size_t>(share, 1));
      next_renewal_ = Clock::now();
      return next();
    }
    auto then = [self = shared_from_this()](int status, const std::string& body) {
      const std::string id = json_field(body, "session");
      if (status != 200 || id.empty()) return self->fail("session: " + std::to_string(status) + " " + body);
      self->sessions_.push_back(id);
      self->open_sessions();
    };
    send(bhttp::verb::post, "/v1/sessions", R"({"ttl":"10s"})", then);
  }

  // The next renewal, paced so that each session is renewed every TTL/3.
  void next_keepalive() {
    const auto now = Clock::now();
    if (now < next_renewal_) {
      auto timer = std::make_shared<asio::steady_timer>(stream_.get_executor(), next_renewal_);
      timer->async_wait([self = shared_from_this(), timer](beast::error_code) { self->next_keepalive(); });
      return;
    }
    next_renewal_ += renew_period_;
    op_started_ = now;
    const std::string& id = sessions_[renewal_++ % sessions_.size()];
    auto then = [self = shared_from_this()](int status, const std::string& b) { self->done(status == 200, b); };
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
    send(bhttp::verb::post, "/v1/sessions/" + session_ + "/keepalive", "", then);
    return true;
  }

  void next() {
    if (run_.load.stopping()) return;
    if (options_.workload == "keepalive") return next_keepalive();
    if (renew_if_due()) return;
    op_started_ = Clock::now();
    const std::string me = std::to_string(index_);
    if (options_.workload == "put") {
      send(bhttp::verb::put, "/v1/kv/bench/" + me + "/" + std::to_string(next_key()), value_,
           [self = shared_from_this()](int status, const std::string& body) { self->done(status == 200, body); });
    } else if (options_.workload == "get") {
      send(bhttp::verb::get, "/v1/kv/bench/" + me + "/0", "",
           [self = shared_from_this()](int status, const std::string& body) {
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
             self->send(bhttp::verb::delete_, path, "",
                        [self](int s, const std::string& b) { self->done(s == 200, b); });
           });
    }
  }

  // The client's own lock, or the one hot lock every client shares.
  std::string lock_name() const {
    if (options_.workload == "lock-contended") return "bench-hot-" + run_.tag;
    return "bench-" + run_.tag + "-" + std::to_string(index_);
  }

  void done(bool ok, const std::string& body) {
    run_.load.record(op_started_, ok, body);
    next();
  }

  using Then = std::function<void(int status, const std::string& body)>;
  void send(bhttp::verb verb, const std::string& target, const std::string& body, Then then) {
    request_ = {};
    request_.version(11);
    request_.method(verb);
    request_.target(target);
    request_.set(bhttp::field::host, host_);
    if (!run_.authorization.empty()) request_.set(bhttp::field::authorization, run_.authorization);
    request_.keep_alive(true);
    request_.body() = body;
    request_.prepare_payload();
    then_ = std::move(then);
    // A long-polling acquire waits up to 30 s on the server.
    const int64_t timeout_ms = options_.request_timeout_ms + (target.find("wait=") != std::string::npos ? 30'000 : 0);
    stream_.tcp().expires_after(std::chrono::milliseconds(timeout_ms));
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
    run_.load.record(Clock::now(), false, why);
    if (run_.load.stopping()) return;
    // Reconnect after a pause, as a real client would.
    auto timer = std::make_shared<asio::steady_timer>(stream_.get_executor(), std::chrono::milliseconds(50));
    timer->async_wait([self = shared_from_this(), timer](beast::error_code) {
      beast::error_code ignored;
      self->stream_.socket().close(ignored);
      self->buffer_.clear();
      self->start();
    });
  }

  asio::io_context& io_;
  const bench::LoadOptions& options_;
  Run& run_;
  int index_;
  asio::ssl::context* tls_;  // null: plain HTTP
  std::string host_, port_;
  synod::http::FlexStream stream_;
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

}  // namespace

int main(int argc, char** argv) {
  synod::tls::Files files;
  std::string run_token;
  bench::LoadOptions options = bench::parse_load_options(argc, argv, "synod-loadgen",
                                                         {"put", "get", "lock", "lock-contended", "noop", "keepalive"},
                                                         [&files,
                                                          &run_token](const std::string& flag,
                                                                      const std::function<std::string()>& value) {
                                                           if (flag == "--cacert") files.ca = value();
                                                           else if (flag == "--cert") files.cert = value();
                                                           else if (flag == "--key") files.key = value();
                                                           else if (flag == "--token") run_token = value();
                                                           else return false;
                                                           return true;
                                                         });
  std::unique_ptr<asio::ssl::context> tls;
  if (files.enabled()) {
    std::string error;
    auto made = synod::tls::make_context(files, synod::tls::Side::client, error);
    if (!made) {
      std::fprintf(stderr, "synod-loadgen: %s\n", error.c_str());
      return 2;
    }
    tls = std::make_unique<asio::ssl::context>(made.release());
  }
  if (options.threads == 0) options.threads = 1;
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  Run run(options);
  if (!run_token.empty()) run.authorization = "Bearer " + run_token;
  run.tag = std::to_string(std::random_device{}() % 1'000'000);
  // keepalive starts the clock once every session is open (100,000 of them
  // take longer than any warmup); the others at once.
  if (options.workload == "keepalive") {
    run.clients_opening = options.clients;
  } else {
    run.load.start_clock();
  }
  std::vector<std::shared_ptr<Client>> clients;
  for (int i = 0; i < options.clients; ++i) {
    clients.push_back(std::make_shared<Client>(io, options, run, i, tls.get()));
    asio::post(clients.back()->executor(), [client = clients.back()] { client->start(); });
  }
  std::vector<std::thread> threads;
  for (int i = 0; i < options.threads; ++i) threads.emplace_back([&] { io.run(); });
  run.load.wait_until_stopped();
  io.stop();
  for (auto& thread : threads) thread.join();
  for (auto& client : clients) client->abandon();
  return run.load.report();
}
