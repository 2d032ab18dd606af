// etcd_load: the same workloads as synod-loadgen, against etcd through its
// native gRPC API (what etcd's own clients use), so that bench/compare.sh sets
// etcd beside synod without the JSON gateway's extra hop and encoding.
//
//   etcd_load --endpoints 127.0.0.1:2379,127.0.0.1:22379,127.0.0.1:32379
//             --workload put|lock|lock-contended|keepalive --clients N
//             --seconds S [--warmup S] [--threads N] [--nodes N] [--out FILE]
//             [--trace FILE] [--value-bytes N] [--key-space N] [--sessions N]
//             [--request-timeout-ms MS]
//
// One gRPC channel (one HTTP/2 connection) per endpoint; client i talks to
// endpoint (i mod endpoints) and has one operation in flight (closed loop),
// so 64 clients are 64 requests multiplexed over the channels. Workloads:
//   put             one Put per op, key bench/<client>/<n>: a new key each op,
//                   or with --key-space N each client cycles over its own N keys
//   lock            each client grants itself a lease (TTL 10 s) and keeps it
//                   alive every 3 s over a LeaseKeepAlive stream (not timed);
//                   an op is v3lock's Lock on the client's own lock (named for
//                   this run, so no earlier run's holder is in the way) with
//                   that lease, then Unlock of the key it answers: two commits
//   lock-contended  the same with one lock for every client: Lock blocks until
//                   granted, so ops/s are handoffs
//   keepalive       --sessions leases (TTL 10 s) granted before the clock
//                   starts, spread over the clients; each client renews its
//                   own over its LeaseKeepAlive stream, one renewal in flight,
//                   each lease TTL/3 after its grant or last renewal (once all
//                   are granted, evenly spread: round-robin); an op is one
//                   renewal answered, and an answer that the lease expired is
//                   an error. Leases are renewed from their grant on, and
//                   granting waits while renewals are late (etcd renews fewer
//                   leases a second than it grants); if the share is not
//                   granted in 60 s the clock starts anyway. The row adds
//                   "leases" (held when the clock started) and "setup_s".
// Every request has a deadline of --request-timeout-ms (Lock in
// lock-contended 30 s more: it waits in line); a failed one is an error and
// the client tries again 20-50 ms later.
// Threads: --threads completion queues (default 1), one thread each; client i
// runs on queue (i mod threads), so each client's events run on one thread
// (bench/etcd_grpc.h: the calls, timers and streams on those queues).
// Prints one JSON line in the format of DESIGN §7 (system "etcd").
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "etcd/v3lock.grpc.pb.h"
#include "etcd_grpc.h"

namespace {

using bench::Clock;
using bench::etcd::Call;
using bench::etcd::KeepAliveStream;
using bench::etcd::Timer;
namespace pb = etcdserverpb;

constexpr int64_t kLeaseTtlSeconds = 10;
constexpr auto kLeaseRenewal = std::chrono::seconds(3);  // lock: the client's own lease
// keepalive: how often each lease is renewed, TTL/3
constexpr auto kRenewEach = std::chrono::duration_cast<Clock::duration>(std::chrono::seconds(kLeaseTtlSeconds)) / 3;
// keepalive: granting waits while a renewal is this late (see grant_more)
constexpr auto kGrantWhileLate = std::chrono::seconds(1);
// keepalive: the clock starts after this even if not every lease could be
// granted (etcd on 2 cores renews fewer than 100,000 leases every TTL/3,
// and granting waits for the renewals): the row says how many there were.
constexpr auto kSetupLimit = std::chrono::seconds(60);
constexpr size_t kGrantsInFlight = 4;  // keepalive: a client's leases granted at once

// One endpoint: its channel and the stubs every client of it shares.
struct Endpoint {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::KV::Stub> kv;
  std::unique_ptr<pb::Lease::Stub> lease;
  std::unique_ptr<v3lockpb::Lock::Stub> lock;
};

std::unique_ptr<Endpoint> connect(const std::pair<std::string, std::string>& endpoint) {
  grpc::ChannelArguments args;
  // Back to a node that was down within a second, not gRPC's default of up
  // to two minutes (compare.py restarts killed nodes).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1'000);
  auto e = std::make_unique<Endpoint>();
  e->channel = grpc::CreateCustomChannel(endpoint.first + ":" + endpoint.second, grpc::InsecureChannelCredentials(),
                                         args);
  e->kv = pb::KV::NewStub(e->channel);
  e->lease = pb::Lease::NewStub(e->channel);
  e->lock = v3lockpb::Lock::NewStub(e->channel);
  return e;
}

std::string describe(const char* what, const grpc::Status& status) {
  return std::string(what) + ": " + std::to_string(status.error_code()) + " " + status.error_message();
}

// What every client shares.
struct Shared {
  const bench::LoadOptions& options;
  bench::LoadRun& run;
  std::string tag;                         // names this run's locks
  std::string value;                       // --value-bytes of 'v'
  std::atomic<size_t> clients_opening{0};  // keepalive: clients still granting their leases
  std::atomic<int64_t> leases{0};          // keepalive: leases granted and not lost
};

// One closed-loop client. Every member runs on its queue's thread.
class Client {
 public:
  Client(Shared& shared, size_t index, Endpoint& endpoint, grpc::CompletionQueue* cq)
      : shared_(shared),
        options_(shared.options),
        index_(index),
        endpoint_(endpoint),
        cq_(cq),
        random_(static_cast<unsigned>(index) ^ std::random_device{}()) {}

  void start() {
    Timer::post(cq_, [this] {
      if (options_.workload == "keepalive") {
        share_ = bench::share_of(options_.sessions, static_cast<size_t>(options_.clients), index_);
        return grant_more();
      }
      next();
    });
  }

 private:
  Clock::duration timeout() const { return std::chrono::milliseconds(options_.request_timeout_ms); }

  void next() {
    if (shared_.run.stopping()) return;
    if (options_.workload == "put") return put();
    if (lease_ == 0) return grant_own_lease();
    lock_cycle();
  }

  // An op's end: recorded, then the next one, or after a failure the same
  // again after a pause, as a real client would.
  void done(Clock::time_point invoked, const grpc::Status& status, const char* what) {
    shared_.run.record(invoked, status.ok(), status.ok() ? std::string() : describe(what, status));
    if (status.ok()) return next();
    pause_then([this] { next(); });
  }

  void pause_then(std::function<void()> then) {
    const auto pause = std::chrono::milliseconds(std::uniform_int_distribution<int>(20, 50)(random_));
    Timer::start(cq_, Clock::now() + pause, [then = std::move(then)](bool) { then(); });
  }

  void put() {
    pb::PutRequest request;
    const uint64_t n = puts_++;
    request.set_key("bench/" + std::to_string(index_) + "/" +
                    std::to_string(options_.key_space == 0 ? n : n % options_.key_space));
    request.set_value(shared_.value);
    const auto invoked = Clock::now();
    Call<pb::PutResponse>::start(
        cq_, timeout(), [&](auto* context, auto* cq) { return endpoint_.kv->PrepareAsyncPut(context, request, cq); },
        [this, invoked](const grpc::Status& status, pb::PutResponse&) { done(invoked, status, "Put"); });
  }

  // One LeaseGrant of kLeaseTtlSeconds; `then` has its invocation time.
  template <class Then>
  void grant_lease(Then then) {
    pb::LeaseGrantRequest request;
    request.set_ttl(kLeaseTtlSeconds);
    Call<pb::LeaseGrantResponse>::start(
        cq_, timeout(),
        [&](auto* context, auto* cq) { return endpoint_.lease->PrepareAsyncLeaseGrant(context, request, cq); },
        [then, invoked = Clock::now()](const grpc::Status& status, pb::LeaseGrantResponse& response) {
          then(invoked, status, response);
        });
  }

  // lock: this client's lease, granted before its first cycle and again if
  // etcd lost it, then kept alive every 3 s beside the cycles.
  void grant_own_lease() {
    grant_lease([this](Clock::time_point invoked, const grpc::Status& status, pb::LeaseGrantResponse& response) {
      if (!status.ok()) return done(invoked, status, "LeaseGrant");
      lease_ = response.id();
      if (!renewing_own_) {
        renewing_own_ = true;
        Timer::start(cq_, Clock::now() + kLeaseRenewal, [this](bool) { renew_own_lease(); });
      }
      next();
    });
  }

  void renew_own_lease() {
    if (shared_.run.stopping()) return;
    if (lease_ != 0) stream().send(lease_);
    Timer::start(cq_, Clock::now() + kLeaseRenewal, [this](bool) { renew_own_lease(); });
  }

  void lock_cycle() {
    const bool hot = options_.workload == "lock-contended";
    v3lockpb::LockRequest request;
    request.set_name(hot ? "bench-hot-" + shared_.tag : "bench-" + shared_.tag + "-" + std::to_string(index_));
    request.set_lease(lease_);
    const auto invoked = Clock::now();
    // Waiting in line for the hot lock is the operation, not a hung request.
    const Clock::duration wait = hot ? std::chrono::seconds(30) : Clock::duration::zero();
    Call<v3lockpb::LockResponse>::start(
        cq_, timeout() + wait,
        [&](auto* context, auto* cq) { return endpoint_.lock->PrepareAsyncLock(context, request, cq); },
        [this, invoked](const grpc::Status& status, v3lockpb::LockResponse& response) {
          // The lease expired: the next cycle grants a new one. (v3lock passes
          // etcd's error on with code UNKNOWN; its text says which.)
          if (status.error_message().find("lease not found") != std::string::npos) lease_ = 0;
          if (!status.ok()) return done(invoked, status, "Lock");
          unlock(invoked, response.key());
        });
  }

  void unlock(Clock::time_point invoked, const std::string& key) {
    v3lockpb::UnlockRequest request;
    request.set_key(key);
    Call<v3lockpb::UnlockResponse>::start(
        cq_, timeout(),
        [&](auto* context, auto* cq) { return endpoint_.lock->PrepareAsyncUnlock(context, request, cq); },
        [this, invoked](const grpc::Status& status, v3lockpb::UnlockResponse&) { done(invoked, status, "Unlock"); });
  }

  // The client's LeaseKeepAlive stream, opened again after it ended.
  KeepAliveStream& stream() {
    if (stream_ == nullptr) {
      stream_ = new KeepAliveStream(
          *endpoint_.lease, cq_, [this](const pb::LeaseKeepAliveResponse& answer) { answered(answer); },
          [this](const grpc::Status& status) { stream_ended(status); });
    }
    return *stream_;
  }

  void drop_stream() {
    if (stream_ != nullptr) std::exchange(stream_, nullptr)->abandon();
  }

  void answered(const pb::LeaseKeepAliveResponse& answer) {
    if (options_.workload == "keepalive") return renewed(answer);
    if (answer.ttl() <= 0) lease_ = 0;  // lock: expired; the next cycle grants a new one
  }

  void stream_ended(const grpc::Status& status) {
    drop_stream();
    if (options_.workload == "keepalive") return renewal_failed(describe("LeaseKeepAlive", status));
    // lock: the next renewal opens a new stream; not an op, but worth a count
    if (!shared_.run.stopping()) shared_.run.record(Clock::now(), false, describe("LeaseKeepAlive", status));
  }

  // keepalive ---------------------------------------------------------------
  //
  // A client's leases wait in due_ in the order they are due for renewal,
  // TTL/3 after their grant or their last renewal: renewed oldest first,
  // one at a time; when etcd falls behind, as fast as it answers.

  // Grants this client's share of the leases, a few at a time, and a new
  // one for any lease lost. Renewals come first: while the oldest is late,
  // granting waits (a renewal answer calls again). Otherwise etcd, which
  // cannot renew as fast as it grants, lets leases expire, and it answers
  // the renewal of an expired lease only once it has revoked it (1,000
  // revocations a second): every client would stall on those.
  void grant_more() {
    if (!due_.empty() && Clock::now() - due_.front().at > kGrantWhileLate) return;
    while (owned_ + grants_in_flight_ < share_ && grants_in_flight_ < kGrantsInFlight) {
      ++grants_in_flight_;
      grant_one();
    }
  }

  void grant_one() {
    grant_lease([this](Clock::time_point invoked, const grpc::Status& status, pb::LeaseGrantResponse& response) {
      if (!status.ok()) {
        shared_.run.record(invoked, false, describe("LeaseGrant", status));
        return pause_then([this] { grant_one(); });
      }
      --grants_in_flight_;
      ++owned_;
      ++shared_.leases;
      due_.push_back({response.id(), Clock::now() + kRenewEach});
      if (!opened_ && owned_ == share_) {
        opened_ = true;  // the clock starts once every client's share is granted
        spread_out();
        if (shared_.clients_opening.fetch_sub(1) == 1) shared_.run.start_clock();
      }
      if (renewals_idle_) renew();
      grant_more();
    });
  }

  // Leases granted in a burst would be renewed in bursts: spreads them evenly
  // over the next TTL/3 instead (only ever earlier, keeping their order).
  void spread_out() {
    const auto now = Clock::now();
    const auto step = kRenewEach / static_cast<int64_t>(due_.size());
    for (size_t k = 0; k < due_.size(); ++k) {
      due_[k].at = std::min(due_[k].at, now + step * static_cast<int64_t>(k + 1));
    }
    if (waiting_ != nullptr) {  // for the oldest's old time: wait for its new one
      std::exchange(waiting_, nullptr)->cancel();
      renew();
    }
  }

  // The next renewal, when the oldest lease is due.
  void renew() {
    renewals_idle_ = due_.empty();
    if (shared_.run.stopping() || renewals_idle_) return;
    const auto now = Clock::now();
    if (now < due_.front().at) {
      waiting_ = Timer::start(cq_, due_.front().at, [this, wait = ++waits_](bool fired) {
        if (wait == waits_) waiting_ = nullptr;
        if (fired) renew();
      });
      return;
    }
    renewing_ = due_.front().lease;
    due_.pop_front();
    renewal_invoked_ = now;
    const uint64_t renewal = ++renewal_;
    stream().send(renewing_);
    late_ = Timer::start(cq_, now + timeout(), [this, renewal](bool fired) {
      if (!fired || renewal != renewal_ || late_ == nullptr) return;  // answered in time
      late_ = nullptr;
      drop_stream();  // whatever it still answers belongs to no one
      retry_renewal("LeaseKeepAlive: no answer in " + std::to_string(options_.request_timeout_ms) + " ms");
    });
  }

  void renewed(const pb::LeaseKeepAliveResponse& answer) {
    if (late_ == nullptr) return;  // not the renewal in flight
    std::exchange(late_, nullptr)->cancel();
    const bool ok = answer.ttl() > 0;
    shared_.run.record(renewal_invoked_, ok,
                       ok ? "" : "LeaseKeepAlive: lease " + std::to_string(answer.id()) + " expired");
    if (ok) {
      due_.push_back({renewing_, renewal_invoked_ + kRenewEach});
    } else {
      --owned_;  // lost: grant_more grants another in its place
      --shared_.leases;
    }
    grant_more();
    renew();
  }

  // The stream ended: the renewal in flight, if any, failed.
  void renewal_failed(const std::string& why) {
    if (late_ == nullptr) return;  // none in flight: the next one opens a new stream
    std::exchange(late_, nullptr)->cancel();
    retry_renewal(why);
  }

  void retry_renewal(const std::string& why) {
    shared_.run.record(renewal_invoked_, false, why);
    due_.push_front({renewing_, Clock::now()});
    pause_then([this] { renew(); });
  }

  struct Due {
    int64_t lease;
    Clock::time_point at;
  };

  Shared& shared_;
  const bench::LoadOptions& options_;
  const size_t index_;
  Endpoint& endpoint_;
  grpc::CompletionQueue* const cq_;
  std::minstd_rand random_;
  uint64_t puts_ = 0;
  int64_t lease_ = 0;          // lock, lock-contended: this client's own
  bool renewing_own_ = false;  // lock: its renewals are running
  KeepAliveStream* stream_ = nullptr;
  // keepalive
  size_t share_ = 0;
  size_t owned_ = 0;  // leases granted and not lost, the one being renewed included
  size_t grants_in_flight_ = 0;
  bool opened_ = false;  // the whole share was granted once
  std::deque<Due> due_;
  bool renewals_idle_ = true;  // no renewal in flight or waiting for its time
  int64_t renewing_ = 0;       // the lease in flight
  uint64_t renewal_ = 0;
  Clock::time_point renewal_invoked_;
  Timer* late_ = nullptr;     // the renewal in flight's deadline
  Timer* waiting_ = nullptr;  // for the oldest lease to be due
  uint64_t waits_ = 0;
};

// keepalive: waits until every client has its leases (or kSetupLimit),
// starts the clock, and answers what the row adds: the leases held then and
// how long granting them took.
std::string start_when_granted(Shared& shared) {
  const auto from = Clock::now();
  while (shared.clients_opening.load() != 0 && Clock::now() - from < kSetupLimit) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  shared.run.start_clock();  // (done already if every client has its share)
  const int64_t leases = shared.leases.load();
  if (static_cast<size_t>(leases) < shared.options.sessions) {
    std::fprintf(stderr, "etcd_load: %lld of %zu leases granted in %lld s; measuring with those\n",
                 static_cast<long long>(leases), shared.options.sessions,
                 static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(kSetupLimit).count()));
  }
  char extra[128];
  std::snprintf(extra, sizeof extra, "\"leases\":%lld,\"setup_s\":%.1f", static_cast<long long>(leases),
                std::chrono::duration<double>(Clock::now() - from).count());
  return extra;
}

}  // namespace

int main(int argc, char** argv) {
  bench::LoadOptions options = bench::parse_load_options(argc, argv, "etcd_load",
                                                         {"put", "lock", "lock-contended", "keepalive"});
  if (options.threads == 0) options.threads = 1;
  bench::LoadRun run(options, "etcd");
  Shared shared{options, run, std::to_string(std::random_device{}() % 1'000'000),
                std::string(options.value_bytes, 'v')};
  shared.clients_opening = static_cast<size_t>(options.clients);

  std::vector<std::unique_ptr<Endpoint>> endpoints;
  for (const auto& endpoint : options.endpoints) endpoints.push_back(connect(endpoint));
  std::vector<std::unique_ptr<grpc::CompletionQueue>> queues;
  for (int i = 0; i < options.threads; ++i) queues.push_back(std::make_unique<grpc::CompletionQueue>());
  std::vector<std::unique_ptr<Client>> clients;
  for (size_t i = 0; i < static_cast<size_t>(options.clients); ++i) {
    // endpoints[i mod n]: bench::endpoint_of(options, i)'s channel
    clients.push_back(std::make_unique<Client>(shared, i, *endpoints[i % endpoints.size()],
                                               queues[i % queues.size()].get()));
    clients.back()->start();
  }
  std::vector<std::thread> threads;
  for (auto& queue : queues) threads.emplace_back([&queue] { bench::etcd::serve(*queue); });
  // keepalive starts the clock once every lease is granted; the others now.
  std::string extra;
  if (options.workload == "keepalive") {
    extra = start_when_granted(shared);
  } else {
    run.start_clock();
  }
  run.wait_until_stopped();
  const int status = run.report(extra);
  // Calls are still in flight (a Lock waiting in line can take 30 s) and
  // the clients' threads are in the queues: leave without them. report()
  // flushed stdout and --out, and --trace is flushed after every line.
  std::_Exit(status);
}
