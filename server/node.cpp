#include "server/node.h"

#include <algorithm>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <charconv>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <variant>

#include "http/api.h"
#include "http/node_api.h"
#include "http/observability.h"
#include "http/server.h"
#include "lockservice/session_keeper.h"
#include "lockservice/state_machine.h"
#include "paxos/codec.h"
#include "paxos/replica.h"
#include "paxos/transport/peer_transport.h"
#include "persistence/lmdb_storage.h"
#include "server/clock.h"
#include "server/command_reports.h"
#include "server/election_watch.h"
#include "server/limits.h"
#include "server/log.h"
#include "server/module_options.h"
#include "server/node_metrics.h"
#include "server/peer_services.h"
#include "server/snapshot_fork.h"
#include "server/status_report.h"
#include "server/storage_thread.h"

namespace synod::server {

namespace asio = boost::asio;
using paxos::NodeId;
using paxos::Slot;

// The node's wiring: it owns every part and runs the owner loop (node.h).
struct Node::Impl final : http::NodeApi, http::ObservabilityApi, PeerServices::Host {
  explicit Impl(Config c)
      : config(std::move(c)),
        log(config.log_format, Log::parse_level(config.log_level), config.id),
        tick_timer(io),
        signals(io, SIGTERM, SIGINT),
        boot_nonce(static_cast<uint64_t>(steady_us()) & ((uint64_t{1} << kClientIdNonceBits) - 1)),
        machine(config.service),
        keeper(lockservice::KeeperConfig{.drift_bound_percent = config.timing.drift_bound_percent}),
        metrics(config),
        recording(config.metrics),
        started_us(steady_us()),
        started_unix_ms(unix_ms()),
        election(config.id, metrics, recording, started_us,
                 [this](Level level, std::string_view event, std::initializer_list<Field> fields) {
                   log.write(level, event, fields);
                 }),
        status_report(config, metrics, election, recording, started_us, started_unix_ms),
        snapshots(io, log, metrics, [this](Slot slot) { snapshot_slot = slot; }),
        peers(config.id, *this, log, metrics),
        reports(machine, keeper, log, metrics) {}

  // ---------------------------------------------------------------- state
  Config config;
  Log log;
  asio::io_context io;
  asio::steady_timer tick_timer;
  asio::signal_set signals;
  const uint64_t boot_nonce;
  std::atomic<uint64_t> client_counter{0};

  std::unique_ptr<persistence::LmdbStorage> storage;
  std::unique_ptr<StorageThread> storage_thread;
  std::unique_ptr<paxos::Replica> replica;
  std::unique_ptr<transport::PeerTransport> transport;
  lockservice::StateMachine machine;
  lockservice::SessionKeeper keeper;
  std::unique_ptr<http::Api> api;
  std::unique_ptr<http::Server> http_server;

  // owner thread only
  bool flush_posted = false;
  std::deque<uint64_t> persist_in_flight;  // ready ids at the storage thread, in order
  std::map<uint64_t, paxos::AfterSync> after_sync;
  Slot applied_slot = paxos::kNoSlot;
  paxos::SoftState soft;
  struct Waiter {
    std::function<void(http::Outcome)> done;
    int64_t deadline_us;
    int64_t proposed_us;  // for the commit latency
  };
  std::unordered_map<ProposalKey, std::vector<Waiter>, ProposalKeyHash> proposals;
  struct WaitingProposal {
    lockservice::Command command;
    ProposalKey key;
    std::function<void(http::Outcome)> done;
  };
  std::deque<WaitingProposal> waiting_for_serving;
  uint64_t next_read_id = 0;
  struct PendingRead {
    std::function<void(const http::ReadContext&)> read;
    int64_t deadline_us;
  };
  std::map<uint64_t, PendingRead> reads;
  // Long-polls waiting for the applied revision to pass a mark.
  std::multimap<uint64_t, PendingRead> revision_waits;  // by the revision they wait to pass
  bool start_repairing = false;
  bool stopping = false;
  int64_t stop_deadline_us = 0;
  int exit_code = 0;
  uint64_t snapshot_slot = 0;  // of the latest snapshot taken or installed
  int64_t repair_started_us = 0;
  std::string repair_reason;

  // any thread
  mutable std::mutex view_mutex;
  http::ClusterView view;

  // ---------------------------------------------------------------- parts
  // The registry is updated from the owner thread, the storage thread
  // (MeteredStorage) and the HTTP thread (observe_http, set_watchers).
  NodeMetrics metrics;
  const bool recording;  // config.metrics: take the hot-path measurements
  const int64_t started_us;
  const int64_t started_unix_ms;
  std::unique_ptr<MeteredStorage> metered_storage;
  ElectionWatch election;       // leadership as this node sees it, and its logs
  StatusReport status_report;   // the cluster view, the gauges and the status page
  SnapshotFork snapshots;       // this node's snapshots, serialized by a child
  PeerServices peers;           // forwarding to the leader, snapshot transfer
  CommandReports reports;       // expiries and forced releases, as they apply
  using Reported = CommandReports::Reported;

  // ------------------------------------------------------------- opening
  std::string open();
  std::string open_storage();
  std::string open_transport();
  std::string open_http();

  // ----------------------------------------------------------- the loop
  void schedule_flush() {
    if (flush_posted) return;
    flush_posted = true;
    asio::post(io, [this] { flush(); });
  }
  void flush();
  void handle(paxos::Ready ready);
  void on_synced(persistence::PersistResult result, bool snapshot_due);
  void release_durable(const paxos::SyncReceipt& receipt);
  void apply(const std::vector<paxos::ChosenEntry>& entries);
  void grant_reads(const paxos::Ready& ready);
  void on_soft_state(const paxos::SoftState& next);
  void start_ticks();
  void on_tick();
  void expire_requests(int64_t now);
  void propose_now(lockservice::Command command, ProposalKey key, std::function<void(http::Outcome)> done) override;
  void maybe_snapshot() {
    std::vector<NodeId> members;
    for (const auto& m : config.members) members.push_back(m.id);
    snapshots.maybe_snapshot(machine, applied_slot, std::move(members), *storage_thread);
  }
  void propose_waiting();
  void on_peer_message(paxos::Envelope envelope);
  void publish_view() {
    auto next = status_report.build_view(reading(), steady_us());
    std::lock_guard<std::mutex> lock(view_mutex);
    view = std::move(next);
  }
  NodeReading reading() const {
    return NodeReading{*replica, *transport, machine, soft, proposals.size() + waiting_for_serving.size(),
                       peers.forwards_waiting(), reads.size() + revision_waits.size(), snapshot_slot, applied_slot};
  }
  void begin_stop();
  void finish_stop();
  int64_t mono_ms() const { return steady_us() / 1000; }
  int64_t takeover_credit_ms() const {
    return config.timing.lease_ms * 100 / (100 + config.timing.drift_bound_percent);
  }

  // ------------------------------------------------- PeerServices::Host
  NodeId known_leader() const override { return replica->leader(); }
  bool is_leader() const override { return replica->role() == paxos::Role::leader; }
  bool send_to_peer(const paxos::Envelope& envelope) override { return transport->send(envelope); }
  void keep_alive_here(lockservice::SessionId session, std::function<void(http::KeepAliveOutcome)> done) override {
    keep_alive(session, std::move(done));
  }
  void run_storage_task(StorageThread::Task task) override { storage_thread->run_task(std::move(task)); }
  void post(std::function<void()> fn) override { asio::post(io, std::move(fn)); }
  void install_snapshot(FetchedSnapshot fetched) override;

  // ---------------------------------------------------- ObservabilityApi
  void observe_http(std::string_view route, int status, double seconds) override {
    if (!recording) return;
    char code[12];
    const auto written = std::to_chars(code, code + sizeof code, status);
    metrics.http_duration.with({route, std::string_view(code, static_cast<size_t>(written.ptr - code))}).observe(seconds);
  }
  void set_watchers(uint64_t open) override { status_report.set_watchers(open); }
  void metrics_text(std::function<void(std::string)> done) override {
    // The sampled gauges are the owner thread's state: refresh them there.
    asio::post(io, [this, done = std::move(done)] {
      status_report.refresh_gauges(reading(), steady_us());
      done(metrics.registry.render());
    });
  }
  void status(std::function<void(const http::StatusSnapshot&)> done) override {
    asio::post(io, [this, done = std::move(done)] { done(status_report.take_status(reading())); });
  }

  // ------------------------------------------------------------ NodeApi
  http::ClusterView cluster() const override {
    std::lock_guard<std::mutex> lock(view_mutex);
    return view;
  }
  void propose(lockservice::Command command, lockservice::ClientId client_id, uint64_t seq,
               std::function<void(http::Outcome)> done) override {
    asio::post(io, [this, command = std::move(command), client_id, seq, done = std::move(done)]() mutable {
      propose_now(std::move(command), ProposalKey{client_id, seq}, std::move(done));
    });
  }
  void read(bool stale, std::function<void(const http::ReadContext&)> fn) override;
  void wait_for(uint64_t after_revision, int64_t timeout_ms, std::function<void(const http::ReadContext&)> fn) override;
  void wake_revision_waits();
  void keep_alive(lockservice::SessionId session, std::function<void(http::KeepAliveOutcome)> done) override;
  lockservice::ClientId new_client_id() override {
    // node id | boot nonce | counter: unique across nodes and restarts (limits.h).
    constexpr unsigned kCounterBits = kClientIdCounterBits;
    return (static_cast<uint64_t>(config.id) << (kClientIdNonceBits + kCounterBits)) | (boot_nonce << kCounterBits) |
           (++client_counter & ((uint64_t{1} << kCounterBits) - 1));
  }
};

// ---------------------------------------------------------------- opening

std::string Node::Impl::open() {
  if (auto error = open_storage(); !error.empty()) return error;
  if (auto error = open_transport(); !error.empty()) return error;
  return open_http();
}

std::string Node::Impl::open_storage() {
  auto opened = persistence::LmdbStorage::open(storage_options(config));
  if (!opened.status.ok()) return "data directory " + config.data_dir + ": " + opened.status.message;
  storage = std::move(opened.storage);
  const auto load_started = steady_us();
  auto loaded = storage->load();
  repair_started_us = load_started;
  if (loaded.status.code == persistence::Code::corrupt) {
    // Never serve what failed its check, and never answer Prepare as if it
    // had promised nothing (DESIGN §3): wipe the store and repair from the
    // peers as a non-voter.
    metrics.corruption_events.inc();
    log.write(Level::error, "corruption_detected",
              {{"reason", loaded.status.message}, {"action", "repair"},
               {"duration_ms", (steady_us() - load_started) / 1000}});
    repair_reason = "corrupt store: " + loaded.status.message;
    if (auto reset = storage->reset(); !reset.ok()) return "data directory " + config.data_dir + ": " + reset.message;
    loaded = persistence::LoadResult{};
    start_repairing = true;
  } else if (loaded.status.code == persistence::Code::fresh) {
    // An empty directory: a brand-new cluster, or a member whose disk was
    // lost. The replica asks its peers which (paxos/replica.h: REPAIR).
    start_repairing = true;
    repair_reason = "empty data directory";
  } else if (!loaded.status.ok()) {
    log.write(Level::error, "storage_refused", {{"reason", loaded.status.message}});
    return "data directory " + config.data_dir + ": " + loaded.status.message;
  } else if (loaded.durable.promised == paxos::Ballot{}) {
    // No promise at all on disk: it never finished a repair (a finished one
    // leaves at least the promise (0, self)), and may have crashed in the
    // middle of one, having learned the log before it could vote. Repair
    // again; never vote as if it had promised nothing.
    start_repairing = true;
    repair_reason = "a repair that did not finish";
  }
  if (loaded.snapshot) {
    if (!machine.restore(loaded.snapshot->bytes)) {
      return "data directory " + config.data_dir + ": the snapshot at slot " +
             std::to_string(loaded.snapshot->slot) + " does not restore";
    }
    applied_slot = loaded.snapshot->slot;
  }
  snapshot_slot = loaded.durable.snapshot_slot;
  log.write(Level::info, "storage_loaded",
            {{"status", start_repairing ? "repairing" : "ok"},
             {"duration_ms", (steady_us() - load_started) / 1000},
             {"promised_round", loaded.durable.promised.round},
             {"snapshot_slot", loaded.durable.snapshot_slot},
             {"chosen_entries", static_cast<uint64_t>(loaded.durable.chosen.size())},
             {"votes", static_cast<uint64_t>(loaded.durable.accepted.size())}});
  const uint64_t seed = static_cast<uint64_t>(steady_us()) ^ (static_cast<uint64_t>(config.id) << 40);
  auto paxos_options = config.paxos_options(seed);
  paxos_options.start_repairing = start_repairing;
  replica = std::make_unique<paxos::Replica>(paxos_options, loaded.durable, steady_us());
  soft.voting = replica->voting();
  // Replay the chosen log above the snapshot now, so the node is ready when
  // it opens its ports.
  const auto replay_started = steady_us();
  while (replica->has_ready()) {
    auto ready = replica->take_ready();
    // A new replica has nothing to write or send yet, only the log to replay.
    SYNOD_ASSERT(ready.persist.empty() && ready.messages.empty() && ready.messages_after_sync.empty());
    apply(ready.apply);
    if (ready.soft_state) soft = *ready.soft_state;
  }
  log.write(Level::info, "recovered",
            {{"applied_slot", applied_slot},
             {"replay_ms", (steady_us() - replay_started) / 1000},
             {"total_ms", (steady_us() - load_started) / 1000}});
  return {};
}

std::string Node::Impl::open_transport() {
  const auto options =
      transport_options(config, lockservice::config_digest(machine.config()), static_cast<uint64_t>(steady_us()));
  if (auto problem = transport::validate(options); !problem.empty()) return "peer transport: " + problem;
  transport = std::make_unique<transport::PeerTransport>(
      io, options,
      [this](paxos::Envelope envelope) { on_peer_message(std::move(envelope)); },
      [this](std::string_view level, std::string_view message) {
        log.write(level == "error" ? Level::error : level == "warn" ? Level::warn : Level::info, "peer",
                  {{"message", message}});
      });
  return transport->listen();
}

std::string Node::Impl::open_http() {
  api = std::make_unique<http::Api>(*this, api_options(config));
  http_server = std::make_unique<http::Server>(
      config.http_limits,
      [this](http::Request&& request, http::Responder respond) {
        // GET /, /metrics and /v1/status (http/observability.h); the rest is the client API.
        if (http::serve_observability(request, respond, *this)) return;
        api->handle(std::move(request), std::move(respond));
      },
      http::error_response,
      [this](std::string_view level, std::string_view event, std::string_view detail) {
        log.write(level == "warn" ? Level::warn : Level::info, event, {{"detail", detail}});
      });
  return http_server->listen(config.client_listen.host, config.client_listen.port);
}

// ------------------------------------------------------------------ loop

void Node::Impl::flush() {
  flush_posted = false;
  while (replica->has_ready()) handle(replica->take_ready());
  propose_waiting();
  publish_view();
}

// Proposals that waited for the takeover to finish or for the lease go out
// once both hold.
void Node::Impl::propose_waiting() {
  if (waiting_for_serving.empty() || !keeper.leading() || !replica->lease_valid(steady_us())) return;
  auto waiting = std::move(waiting_for_serving);
  waiting_for_serving.clear();
  for (auto& w : waiting) propose_now(std::move(w.command), w.key, std::move(w.done));
  while (replica->has_ready()) handle(replica->take_ready());
}

void Node::Impl::handle(paxos::Ready ready) {
  // Every Ready with after-sync messages goes to storage, even with nothing
  // to write, so that its receipt, like every receipt, comes from storage.
  if (!ready.persist.empty() || !ready.messages_after_sync.empty()) {
    persist_in_flight.push_back(ready.id);
    if (!ready.messages_after_sync.empty()) after_sync.emplace(ready.id, std::move(ready.messages_after_sync));
    storage_thread->submit(std::move(ready.persist));
  }
  if (recording) election.note_heartbeats_sent(ready.messages, steady_us());
  for (const auto& envelope : ready.messages) transport->send(envelope);
  apply(ready.apply);
  grant_reads(ready);
  if (!ready.apply.empty()) wake_revision_waits();
  for (const auto& command : ready.dropped) {
    auto it = proposals.find(ProposalKey{command.client_id, command.seq});
    if (it == proposals.end()) continue;
    for (auto& waiter : it->second) waiter.done(http::Outcome{http::Outcome::Kind::not_leader, replica->leader(), {}, 0});
    proposals.erase(it);
  }
  if (ready.soft_state) on_soft_state(*ready.soft_state);
  if (ready.snapshot_from != paxos::kNoNode) peers.start_fetch(ready.snapshot_from, applied_slot);
}

void Node::Impl::on_synced(persistence::PersistResult result, bool snapshot_due) {
  if (!result.status.ok()) {
    // The store refuses every write from now on (storage.h). Stop voting:
    // answering from memory what the disk does not hold would break Paxos.
    log.write(Level::error, "storage_failed", {{"reason", result.status.message}});
    exit_code = 1;
    begin_stop();
    return;
  }
  release_durable(*result.receipt);
  if (snapshot_due) maybe_snapshot();
  flush();
}

void Node::Impl::release_durable(const paxos::SyncReceipt& receipt) {
  while (!persist_in_flight.empty() && persist_in_flight.front() <= receipt.ready_id()) persist_in_flight.pop_front();
  while (!after_sync.empty() && after_sync.begin()->first <= receipt.ready_id()) {
    auto messages = std::move(after_sync.begin()->second).release(receipt);
    after_sync.erase(after_sync.begin());
    for (auto& envelope : messages) {
      if (envelope.to == config.id) {
        replica->step(envelope, steady_us());
      } else {
        transport->send(envelope);
      }
    }
  }
}

void Node::Impl::apply(const std::vector<paxos::ChosenEntry>& entries) {
  // One clock read per turn gives every command this node proposed its
  // commit latency: these entries were chosen in this turn.
  const bool timing = recording && !entries.empty() && !proposals.empty();
  const int64_t chosen_us = timing ? steady_us() : 0;
  for (const auto& entry : entries) {
    SYNOD_ASSERT(entry.slot == applied_slot + 1);
    applied_slot = entry.slot;
    const auto& commands = entry.value->commands;
    if (recording && !commands.empty()) metrics.batch_commands.observe(static_cast<double>(commands.size()));
    for (size_t i = 0; i < commands.size(); ++i) {
      const auto& command = commands[i];
      // Expiries and forced releases are rare and logged with what they
      // ended; every other command costs one tag compare here.
      const uint8_t tag = command_tag(command.payload);
      std::optional<Reported> before;
      if (tag == kExpireSessionTag || tag == kForceReleaseTag) before = reports.look_before(command.payload, tag);
      auto result = machine.apply(lockservice::LogEntry{entry.slot, i, command.client_id, command.seq, command.payload});
      if (result.status == lockservice::Status::lock_delay) metrics.lock_delay_hits.inc();
      if (before) reports.report_applied(*before, result);
      auto it = proposals.find(ProposalKey{command.client_id, command.seq});
      if (it == proposals.end()) continue;
      if (timing) metrics.commit_latency.observe(seconds_between(it->second.front().proposed_us, chosen_us));
      for (auto& waiter : it->second) {
        waiter.done(http::Outcome{http::Outcome::Kind::applied, config.id, result, machine.revision()});
      }
      proposals.erase(it);
    }
  }
}

void Node::Impl::grant_reads(const paxos::Ready& ready) {
  for (const auto& grant : ready.reads) {
    auto it = reads.find(grant.read_id);
    if (it == reads.end()) continue;
    SYNOD_ASSERT(applied_slot >= grant.index);
    it->second.read(http::ReadContext{true, config.id, machine.revision(), &machine});
    reads.erase(it);
  }
  for (uint64_t read_id : ready.reads_failed) {
    auto it = reads.find(read_id);
    if (it == reads.end()) continue;
    it->second.read(http::ReadContext{false, replica->leader(), machine.revision(), nullptr});
    reads.erase(it);
  }
}

void Node::Impl::on_soft_state(const paxos::SoftState& next) {
  const auto previous = soft;
  soft = next;
  const int64_t now = steady_us();
  election.watch_candidacy(previous, next, Instant{now, unix_ms()}, replica->last_leader_contact());
  election.watch_leader(previous, next, Instant{now, unix_ms()}, stopping);
  if (!previous.voting && next.voting) {
    log.write(Level::info, "repair_complete",
              {{"ballot_round", next.ballot.round}, {"reason", repair_reason},
               {"duration_ms", (now - repair_started_us) / 1000}});
  }
  if (next.role == paxos::Role::leader && next.serving && !keeper.leading()) {
    // Everything chosen before is applied (this Ready's entries came first).
    // The credit is real time that provably passed since the last chosen
    // entry; only a leader that waited out its predecessor's lease has it.
    keeper.lead(machine, mono_ms(), next.lease_waited ? takeover_credit_ms() : 0);
    log.write(Level::info, "leading", {{"ballot_round", next.ballot.round}, {"applied_slot", applied_slot}});
    auto waiting = std::move(waiting_for_serving);
    waiting_for_serving.clear();
    for (auto& w : waiting) propose_now(std::move(w.command), w.key, std::move(w.done));
  }
  if (next.role != paxos::Role::leader && keeper.leading()) keeper.follow();  // watch_leader logged why
  if (next.role != paxos::Role::leader) {
    for (auto& w : waiting_for_serving) w.done(http::Outcome{http::Outcome::Kind::not_leader, next.leader, {}, 0});
    waiting_for_serving.clear();
  }
}

void Node::Impl::start_ticks() {
  tick_timer.expires_after(std::chrono::milliseconds(kTickMs));
  tick_timer.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    on_tick();
    start_ticks();
  });
}

void Node::Impl::on_tick() {
  const int64_t now = steady_us();
  replica->tick(now);
  if (keeper.leading() && !stopping && replica->lease_valid(now)) {
    for (auto& command : keeper.tick(machine, now / 1000)) {
      const auto payload = lockservice::encode(command, keeper.log_now_ms(machine, now / 1000));
      replica->propose(paxos::Command{0, 0, payload}, now);
    }
  }
  expire_requests(now);
  peers.fail_forwarded(true);
  if (status_report.window_due(now)) status_report.close_windows(now);
  peers.resume_fetch(now);  // resume from what we hold
  if (stopping && (now >= stop_deadline_us || (soft.leader != config.id && soft.leader != paxos::kNoNode))) {
    finish_stop();
    return;
  }
  flush();
}

void Node::Impl::expire_requests(int64_t now) {
  for (auto it = proposals.begin(); it != proposals.end();) {
    auto& waiters = it->second;
    for (auto w = waiters.begin(); w != waiters.end();) {
      if (w->deadline_us > now) {
        ++w;
        continue;
      }
      w->done(http::Outcome{http::Outcome::Kind::timeout, soft.leader, {}, 0});
      w = waiters.erase(w);
    }
    it = waiters.empty() ? proposals.erase(it) : std::next(it);
  }
  for (auto it = reads.begin(); it != reads.end();) {
    if (it->second.deadline_us > now) {
      ++it;
      continue;
    }
    it->second.read(http::ReadContext{false, soft.leader, machine.revision(), nullptr});
    it = reads.erase(it);
  }
  for (auto it = revision_waits.begin(); it != revision_waits.end();) {
    if (it->second.deadline_us > now) {
      ++it;
      continue;
    }
    it->second.read(http::ReadContext{false, soft.leader, machine.revision(), &machine});
    it = revision_waits.erase(it);
  }
}

void Node::Impl::wake_revision_waits() {
  const uint64_t revision = machine.revision();
  while (!revision_waits.empty() && revision_waits.begin()->first < revision) {
    auto waiter = std::move(revision_waits.begin()->second);
    revision_waits.erase(revision_waits.begin());
    waiter.read(http::ReadContext{true, soft.leader, revision, &machine});
  }
}

void Node::Impl::wait_for(uint64_t after_revision, int64_t timeout_ms,
                          std::function<void(const http::ReadContext&)> fn) {
  asio::post(io, [this, after_revision, timeout_ms, fn = std::move(fn)]() mutable {
    if (machine.revision() > after_revision) {
      return fn(http::ReadContext{true, soft.leader, machine.revision(), &machine});
    }
    if (revision_waits.size() >= kRevisionWaitsMax) {
      return fn(http::ReadContext{false, soft.leader, machine.revision(), &machine});
    }
    revision_waits.emplace(after_revision, PendingRead{std::move(fn), steady_us() + timeout_ms * 1000});
  });
}

void Node::Impl::propose_now(lockservice::Command command, ProposalKey key, std::function<void(http::Outcome)> done) {
  if (stopping) return done(http::Outcome{http::Outcome::Kind::stopping, soft.leader, {}, 0});
  if (replica->role() != paxos::Role::leader) {
    // A follower hands the command to the leader it knows over the peer link;
    // the leader stamps its own time on it.
    paxos::ForwardRequest request{0, paxos::ForwardRequest::Kind::propose, key.client_id, key.seq,
                                  lockservice::encode(command, 0)};
    if (peers.forward_to_leader(std::move(request), done)) return;
    return done(http::Outcome{http::Outcome::Kind::not_leader, replica->leader(), {}, 0});
  }
  if (!keeper.leading() || !replica->lease_valid(steady_us())) {
    // Elected, but the takeover slots are not all chosen yet, or no lease:
    // the log clock may only be read under a lease (a deposed leader that
    // does not know it yet has a clock that ran on without it).
    if (waiting_for_serving.size() >= kWaitingProposalsMax) {
      return done(http::Outcome{http::Outcome::Kind::busy, config.id, {}, 0});
    }
    waiting_for_serving.push_back(WaitingProposal{std::move(command), key, std::move(done)});
    return;
  }
  const int64_t now = steady_us();
  auto payload = lockservice::encode(command, keeper.log_now_ms(machine, now / 1000));
  auto existing = proposals.find(key);
  if (existing != proposals.end()) {
    // The same (client, seq) is already on its way: one answer for both.
    existing->second.push_back(Waiter{std::move(done), now + kRequestMsMax * 1000, now});
    return;
  }
  switch (replica->propose(paxos::Command{key.client_id, key.seq, std::move(payload)}, now)) {
    case paxos::Replica::ProposeStatus::queued:
      proposals[key].push_back(Waiter{std::move(done), now + kRequestMsMax * 1000, now});
      schedule_flush();
      return;
    case paxos::Replica::ProposeStatus::busy:
      return done(http::Outcome{http::Outcome::Kind::busy, config.id, {}, 0});
    case paxos::Replica::ProposeStatus::not_leader:
      return done(http::Outcome{http::Outcome::Kind::not_leader, replica->leader(), {}, 0});
  }
}

void Node::Impl::read(bool stale, std::function<void(const http::ReadContext&)> fn) {
  asio::post(io, [this, stale, fn = std::move(fn)]() mutable {
    if (stale) return fn(http::ReadContext{true, soft.leader, machine.revision(), &machine});
    const uint64_t read_id = ++next_read_id;
    const int64_t now = steady_us();
    switch (replica->read(read_id, now)) {
      case paxos::Replica::ReadStatus::queued:
        reads.emplace(read_id, PendingRead{std::move(fn), now + kRequestMsMax * 1000});
        flush();
        return;
      case paxos::Replica::ReadStatus::not_leader:
      case paxos::Replica::ReadStatus::busy:
        return fn(http::ReadContext{false, replica->leader(), machine.revision(), nullptr});
    }
  });
}

void Node::Impl::keep_alive(lockservice::SessionId session, std::function<void(http::KeepAliveOutcome)> done) {
  asio::post(io, [this, session, done = std::move(done)] {
    const int64_t now = steady_us();
    if (replica->role() != paxos::Role::leader && !stopping) {
      std::string payload;
      Writer(payload).varint(session);
      paxos::ForwardRequest request{0, paxos::ForwardRequest::Kind::keep_alive, 0, 0, std::move(payload)};
      if (peers.forward_to_leader(std::move(request), done)) return;
    }
    if (!keeper.leading() || !replica->lease_valid(now)) {
      return done(http::KeepAliveOutcome{http::KeepAliveOutcome::Kind::not_leader, soft.leader, 0});
    }
    const auto answer = keeper.keep_alive(machine, session, now / 1000);
    if (answer.status != lockservice::Status::ok) {
      return done(http::KeepAliveOutcome{http::KeepAliveOutcome::Kind::expired, config.id, 0});
    }
    done(http::KeepAliveOutcome{http::KeepAliveOutcome::Kind::ok, config.id, answer.valid_for_ms});
  });
}

// ------------------------------------------------------------ peer messages

void Node::Impl::on_peer_message(paxos::Envelope envelope) {
  if (const auto* request = std::get_if<paxos::SnapshotRequest>(&envelope.message)) {
    peers.serve_snapshot_chunk(envelope.from, *request);
    return;
  }
  if (auto* chunk = std::get_if<paxos::SnapshotChunk>(&envelope.message)) {
    peers.on_snapshot_chunk(envelope.from, std::move(*chunk));
    return;
  }
  if (auto* forward = std::get_if<paxos::ForwardRequest>(&envelope.message)) {
    peers.on_forward_request(envelope.from, std::move(*forward));
    return;
  }
  if (const auto* reply = std::get_if<paxos::ForwardReply>(&envelope.message)) {
    peers.on_forward_reply(*reply);
    return;
  }
  const int64_t now = steady_us();
  election.note_peer_message(envelope, now);
  replica->step(envelope, now);
  schedule_flush();
}

// A snapshot fetched from a peer (PeerServices checked its checksum):
// restored into the state machine, saved to storage, then handed to the
// replica.
void Node::Impl::install_snapshot(FetchedSnapshot fetched) {
  if (fetched.slot <= applied_slot) return;  // we caught up meanwhile
  lockservice::StateMachine restored(machine.config());
  if (!restored.restore(fetched.bytes)) {
    log.write(Level::error, "snapshot_fetch_failed", {{"from", fetched.from}, {"reason", "the image does not restore"}});
    return;
  }
  machine = std::move(restored);
  applied_slot = fetched.slot;
  const auto bytes = static_cast<uint64_t>(fetched.bytes.size());
  persistence::Snapshot snapshot{fetched.slot, std::move(fetched.members), std::move(fetched.bytes)};
  // Saved before any later chosen entry: tasks and batches run in order.
  storage_thread->run_task([this, snapshot = std::move(snapshot)](persistence::Storage& store) {
    const auto status = store.save_snapshot(snapshot);
    if (!status.ok()) {
      asio::post(io, [this, status] {
        log.write(Level::error, "storage_failed", {{"reason", status.message}});
        exit_code = 1;
        begin_stop();
      });
    }
  });
  replica->install_snapshot(applied_slot, steady_us());
  metrics.snapshots_installed.inc();
  snapshot_slot = applied_slot;
  log.write(Level::info, "snapshot_installed",
            {{"slot", applied_slot}, {"from", fetched.from}, {"bytes", bytes},
             {"duration_ms", (steady_us() - fetched.started_us) / 1000}});
  wake_revision_waits();
  flush();
}

// -------------------------------------------------------------- stopping

void Node::Impl::begin_stop() {
  if (stopping) return;
  stopping = true;
  stop_deadline_us = steady_us() + kHandoverMsMax * 1000;
  if (replica->role() == paxos::Role::leader) {
    // Hand over to the peer that is most caught up and most recently heard.
    NodeId successor = paxos::kNoNode;
    paxos::Replica::PeerProgress best;
    for (const auto& m : config.members) {
      if (m.id == config.id) continue;
      const auto progress = replica->peer(m.id);
      if (successor == paxos::kNoNode || progress.chosen_through > best.chosen_through ||
          (progress.chosen_through == best.chosen_through && progress.last_ack > best.last_ack)) {
        successor = m.id;
        best = progress;
      }
    }
    if (successor != paxos::kNoNode && replica->transfer_leadership(successor, steady_us())) {
      log.write(Level::info, "handing_over", {{"successor", successor}, {"successor_chosen_through", best.chosen_through},
                                              {"commit_index", replica->commit_index()}});
      flush();
      return;  // on_tick finishes once the successor leads or the deadline passes
    }
  }
  stop_deadline_us = 0;
}

void Node::Impl::finish_stop() {
  log.write(Level::info, "stopping", {{"leader", soft.leader}});
  peers.fail_forwarded(false);
  for (auto& [key, waiters] : proposals) {
    for (auto& w : waiters) w.done(http::Outcome{http::Outcome::Kind::stopping, soft.leader, {}, 0});
  }
  proposals.clear();
  tick_timer.cancel();
  signals.cancel();
  http_server->stop();
  // In-flight syncs finish; their messages are not sent any more.
  storage_thread->drain_and_stop();
  transport->stop();
  io.stop();
}

// ------------------------------------------------------------------- Node

Node::Node(Config config) : impl_(std::make_unique<Impl>(std::move(config))) {}
Node::~Node() = default;

std::string Node::open() { return impl_->open(); }

int Node::run() {
  auto& s = *impl_;
  s.metered_storage = std::make_unique<MeteredStorage>(*s.storage, s.metrics, s.recording);
  s.metered_storage->publish_log_size();  // before the storage thread owns the store
  s.storage_thread = std::make_unique<StorageThread>(
      *s.metered_storage,
      [&s](persistence::PersistResult result, size_t) {
        const bool due = result.status.ok() && s.storage->snapshot_due();
        asio::post(s.io, [&s, result = std::move(result), due]() mutable { s.on_synced(std::move(result), due); });
      },
      kGroupCommitReadiesMax);
  s.signals.async_wait([&s](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    s.log.write(Level::info, "signal", {{"signal", signal}});
    s.begin_stop();
  });
  s.transport->start();
  s.http_server->start(1);
  s.log.write(Level::info, "started",
              {{"peer_addr", s.config.peer_listen.to_string()}, {"client_addr", s.config.client_listen.to_string()},
               {"members", static_cast<uint64_t>(s.config.members.size())}});
  s.start_ticks();
  s.flush();
  s.io.run();
  return s.exit_code;
}

}  // namespace synod::server
