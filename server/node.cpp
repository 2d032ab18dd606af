#include "server/node.h"
#include "server/zookeeper_port.h"

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

#include "base/codec.h"
#include "http/api.h"
#include "http/node_api.h"
#include "http/observability.h"
#include "http/server.h"
#include "paxos/replica.h"
#include "persistence/cluster_identity.h"
#include "persistence/lmdb_storage.h"
#include "server/backup.h"
#include "server/bootstrap_token.h"
#include "server/clock.h"
#include "server/command_reports.h"
#include "server/driver.h"
#include "server/election_watch.h"
#include "server/event_history.h"
#include "server/identity.h"
#include "server/join.h"
#include "server/leader_transfer.h"
#include "server/limits.h"
#include "server/log.h"
#include "server/membership.h"
#include "server/module_options.h"
#include "server/node_metrics.h"
#include "server/peer_services.h"
#include "server/snapshot_fork.h"
#include "server/status_report.h"
#include "server/storage_thread.h"
#include "server/tls_reload.h"
#include "transport/peer_transport.h"

namespace synod::server {

namespace asio = boost::asio;
using paxos::NodeId;
using paxos::Slot;

// The driver's request deadline is the one limits.h reasons about (the
// forwarding deadline is tied to it there).
static_assert(DriverLimits{}.request_ms_max == kRequestMsMax);

DriverOptions driver_options(const Config& config) {
  DriverOptions options;
  options.service = config.service;
  options.reaper.check_interval_ms = config.container_check_ms;
  return options;
}

// The node's wiring: it owns every part and runs the owner loop (node.h).
// The driving itself is the Driver's (server/driver.h), which the simulator
// runs too; here it is wired to the storage thread, the transport and Asio.
struct Node::Impl final : http::NodeApi, http::ObservabilityApi, PeerServices::Host, DriverObserver {
  // The driver is destroyed after the HTTP server (members go in reverse), so
  // the reads it still holds, and the event streams they hold, go first.
  ~Impl() override { driver.drop_reads(); }

  explicit Impl(Config c)
      : config(std::move(c)),
        log(config.log_format, Log::parse_level(config.log_level), config.id),
        tick_timer(io),
        signals(io, SIGTERM, SIGINT),
        tls_reload(io, log),
        boot_nonce(static_cast<uint64_t>(steady_us()) & ((uint64_t{1} << kClientIdNonceBits) - 1)),
        driver(driver_options(config), this),
        machine(driver.machine()),
        keeper(driver.keeper()),
        soft(driver.soft_state()),
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
        reports(machine, keeper, log, metrics, config.audit_locks),
        membership(config, log) {}

  // ---------------------------------------------------------------- state
  Config config;
  Log log;
  asio::io_context io;
  asio::steady_timer tick_timer;
  asio::signal_set signals;
  TlsReload tls_reload;  // the TLS files, and SIGHUP
  const uint64_t boot_nonce;
  std::atomic<uint64_t> client_counter{0};

  std::unique_ptr<persistence::LmdbStorage> storage;
  std::unique_ptr<StorageThread> storage_thread;
  // The Replica, the StateMachine, the keeper and the requests waiting on
  // them; the names below are views of the driver's.
  Driver driver;
  const lockservice::StateMachine& machine;
  const lockservice::SessionKeeper& keeper;
  const paxos::SoftState& soft;
  paxos::Replica* replica = nullptr;  // the driver's, once open_storage made it
  std::unique_ptr<transport::PeerTransport> transport;
  std::unique_ptr<http::Api> api;
  std::unique_ptr<http::Server> http_server;
  // ZooKeeper's protocol (--zookeeper-addr); the port outlives the listener.
  std::unique_ptr<ZookeeperPort> zk_port;
  std::unique_ptr<zkserver::Listener> zk_listener;

  // owner thread only
  bool flush_posted = false;
  bool start_repairing = false;
  bool stopping = false;
  int64_t stop_deadline_us = 0;
  int exit_code = 0;
  uint64_t snapshot_slot = 0;  // of the latest snapshot taken or installed
  uint64_t cluster_id = 0;     // from the data directory's identity file (open_cluster_identity)
  BootstrapToken bootstrap;    // whose hash becomes root's if this node leads first
  int64_t bootstrap_proposed_us = 0;
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
  Backups backups;              // GET /v1/snapshot, serialized by a child
  LeaderTransfers transfers;    // POST /v1/cluster/leader/transfer, until the successor leads
  Membership membership;        // the log's members and addresses; /v1/cluster/members
  using Reported = CommandReports::Reported;
  // The watch history on disk; null when configured off. Declared last, so
  // it stops first: its thread answers reads into the API and the streams.
  std::unique_ptr<EventHistory> event_history;

  // ------------------------------------------------------------- opening
  std::string open();
  std::string open_storage();
  std::string open_cluster_identity(bool fresh_store);
  std::string open_history();
  std::string open_transport();
  std::string open_http();

  // ----------------------------------------------------------- the loop
  void schedule_flush() {
    if (flush_posted) return;
    flush_posted = true;
    asio::post(io, [this] { flush(); });
  }
  void flush();
  void carry_out(Effects effects);
  void on_synced(persistence::PersistResult result, bool snapshot_due);
  void start_ticks();
  void on_tick();
  void propose_bootstrap_token(int64_t now);
  void propose_now(lockservice::Command command, const lockservice::Credential& credential, ProposalKey key,
                   std::function<void(http::Outcome)> done) override;
  // The snapshot keeps the configurations after its slot: once the log
  // below it is compacted, a restart has them from nowhere else (issue 20).
  void maybe_snapshot() {
    const paxos::Slot slot = driver.applied_slot();
    snapshots.maybe_snapshot(machine, slot, replica->configurations_after(slot), *storage_thread);
  }
  void on_peer_message(transport::PeerEnvelope envelope);
  void publish_view() {
    auto next = status_report.build_view(reading(), steady_us());
    membership.fill_view(*replica, cluster_id, next);
    std::lock_guard<std::mutex> lock(view_mutex);
    view = std::move(next);
  }
  NodeReading reading() const {
    return NodeReading{*replica,          *transport,           machine,       soft, driver.proposals_waiting(),
                       peers.forwards_waiting(), driver.reads_waiting(), snapshot_slot, driver.applied_slot()};
  }
  void begin_stop();
  void finish_stop();

  // ------------------------------------------------------ DriverObserver
  void entry_applying(const paxos::ChosenEntry& entry) override {
    if (recording && !entry.value->commands.empty()) {
      metrics.batch_commands.observe(static_cast<double>(entry.value->commands.size()));
    }
  }
  void command_applying(const paxos::ChosenEntry& entry, size_t index) override;
  void command_applied(const paxos::ChosenEntry& entry, size_t index, const lockservice::Result& result) override;
  void znodes_changed(const lockservice::ZnodeEvents& events) override {
    if (zk_port) zk_port->znodes_changed(events);
  }
  void proposal_committed(int64_t latency_us) override {
    if (recording) metrics.commit_latency.observe(static_cast<double>(latency_us) / 1e6);
  }
  void soft_state_changing(const paxos::SoftState& previous, const paxos::SoftState& next) override;
  void keeper_leads(int64_t /*takeover_log_ms*/, bool /*with_credit*/) override {
    log.write(Level::info, "leading", {{"ballot_round", soft.ballot.round}, {"applied_slot", driver.applied_slot()}});
  }
  // What the command being applied looked like before, if it is reported.
  std::optional<Reported> reporting;

  // ------------------------------------------------- PeerServices::Host
  NodeId known_leader() const override { return replica->leader(); }
  bool is_leader() const override { return replica->role() == paxos::Role::leader; }
  bool send_to_peer(const transport::PeerEnvelope& envelope) override { return transport->send(envelope); }
  void keep_alive_here(lockservice::SessionId session, lockservice::Credential credential,
                       std::function<void(http::KeepAliveOutcome)> done) override {
    keep_alive(session, std::move(credential), std::move(done));
  }
  void read_index_here(std::function<void(bool, NodeId, uint64_t)> done) override {
    driver.read(
        false, [done](const http::ReadContext& c) { done(c.ok, c.leader, c.revision); }, steady_us());
    schedule_flush();
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
      if (event_history) {
        const auto stats = event_history->stats();
        metrics.watch_history_bytes.set(static_cast<double>(stats.bytes));
        metrics.watch_history_compacted_revision.set(static_cast<double>(stats.first_after));
        metrics.watch_history_restarts.raise_to(stats.restarts);
      }
      done(metrics.registry.render());
    });
  }
  void status(lockservice::Credential credential,
              std::function<void(const http::StatusSnapshot*, const http::StatusDenial*)> done) override {
    asio::post(io, [this, credential = std::move(credential), done = std::move(done)] {
      std::string why;
      const auto judged = machine.authorize(credential, lockservice::AclSpace::cluster, "",
                                            lockservice::Permission::read, why);
      if (judged != lockservice::Status::ok) {
        const http::StatusDenial denial{judged == lockservice::Status::unauthenticated ? 401 : 403,
                                        lockservice::status_name(judged), why};
        return done(nullptr, &denial);
      }
      const auto snapshot = status_report.take_status(reading());
      done(&snapshot, nullptr);
    });
  }

  // ------------------------------------------------------------ NodeApi
  http::ClusterView cluster() const override {
    std::lock_guard<std::mutex> lock(view_mutex);
    return view;
  }
  void propose(lockservice::Command command, lockservice::Credential credential, lockservice::ClientId client_id,
               uint64_t seq, std::function<void(http::Outcome)> done) override {
    asio::post(io, [this, command = std::move(command), credential = std::move(credential), client_id, seq,
                    done = std::move(done)]() mutable {
      propose_now(std::move(command), credential, ProposalKey{client_id, seq}, std::move(done));
    });
  }
  void read(bool stale, std::function<void(const http::ReadContext&)> fn) override;
  void wait_for(uint64_t after_revision, int64_t timeout_ms, std::function<void(const http::ReadContext&)> fn) override;
  void keep_alive(lockservice::SessionId session, lockservice::Credential credential,
                  std::function<void(http::KeepAliveOutcome)> done) override;
  void history(uint64_t after, lockservice::EventFilter filter, size_t limit,
               std::function<void(lockservice::Events)> done) override {
    asio::post(io, [this, after, filter = std::move(filter), limit, done = std::move(done)]() mutable {
      // The window may hold them by now (a stream asks after a miss).
      auto events = machine.events(after, filter, limit);
      if (events.status == lockservice::Status::ok || !event_history) return done(std::move(events));
      event_history->read(machine, after, std::move(filter), limit, std::move(done));
    });
  }
  void backup(std::function<bool(const http::ReadContext&)> allowed,
              std::function<void(http::BackupOutcome)> done) override;
  void transfer_leadership(uint32_t to, std::function<bool(const http::ReadContext&)> allowed,
                           std::function<void(http::TransferOutcome)> done) override;
  // Runs `then` on the owner thread once `allowed` admits the call (as for any admin read).
  void when_admitted(std::function<bool(const http::ReadContext&)> allowed, std::function<void()> then) {
    asio::post(io, [this, allowed = std::move(allowed), then = std::move(then)] {
      auto admit = [allowed, then](const http::ReadContext& c) {
        if (allowed(c)) then();
      };
      driver.read(/*stale=*/true, std::move(admit), steady_us());
    });
  }
  void members(std::function<bool(const http::ReadContext&)> allowed,
               std::function<void(http::MembersOutcome)> done) override {
    when_admitted(std::move(allowed), [this, done = std::move(done)] { done(membership.list(*replica, steady_us())); });
  }
  void change_member(http::MemberChange change, std::function<bool(const http::ReadContext&)> allowed,
                     std::function<void(http::MembersOutcome)> done) override {
    when_admitted(std::move(allowed), [this, change = std::move(change), done = std::move(done)] {
      if (membership.change(driver.replica(), change, stopping, steady_us(), done)) flush();
    });
  }
  lockservice::ClientId new_client_id() override {
    // node id | boot nonce | counter: unique across nodes and restarts (limits.h).
    constexpr unsigned kCounterBits = kClientIdCounterBits;
    return (static_cast<uint64_t>(config.id) << (kClientIdNonceBits + kCounterBits)) | (boot_nonce << kCounterBits) |
           (++client_counter & ((uint64_t{1} << kCounterBits) - 1));
  }
};

// ---------------------------------------------------------------- opening

std::string Node::Impl::open() {
  // The certificates first: a node that cannot speak TLS touches no data.
  if (auto error = tls_reload.open(config); !error.empty()) return error;
  if (auto error = open_storage(); !error.empty()) return error;
  if (auto error = load_bootstrap_token(config, bootstrap); !error.empty()) return error;
  if (auto error = open_transport(); !error.empty()) return error;
  if (auto error = open_http(); !error.empty()) return error;
  if (!config.zookeeper_listen) return {};
  zk_port = std::make_unique<ZookeeperPort>(
      io, driver, peers, *this, [this] { flush(); }, persistence::cluster_id_hex(cluster_id));
  zk_listener = start_zookeeper(*zk_port, *config.zookeeper_listen, log);
  return zk_listener ? "" : "cannot listen for ZooKeeper clients on " + config.zookeeper_listen->to_string();
}

std::string Node::Impl::open_storage() {
  // --join: the configuration (and the cluster's identity) from a member, before anything is written.
  if (auto error = join_if_asked(config, log); !error.empty()) return error;
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
  }
  if (auto error = open_cluster_identity(loaded.status.code == persistence::Code::fresh); !error.empty()) {
    return error;
  }
  if (!start_repairing && loaded.durable.promised == paxos::Ballot{}) {
    // No promise at all on disk: it never finished a repair (a finished one
    // leaves at least the promise (0, self)), and may have crashed in the
    // middle of one, having learned the log before it could vote. Repair
    // again; never vote as if it had promised nothing.
    start_repairing = true;
    repair_reason = "a repair that did not finish";
  }
  if (loaded.snapshot && !driver.restore(loaded.snapshot->bytes, loaded.snapshot->slot)) {
    return "data directory " + config.data_dir + ": the snapshot at slot " + std::to_string(loaded.snapshot->slot) +
           " does not restore";
  }
  snapshot_slot = loaded.durable.snapshot_slot;
  if (loaded.migrated_from_version != 0) {
    log.write(Level::info, "storage_migrated",
              {{"from_version", static_cast<uint64_t>(loaded.migrated_from_version)},
               {"to_version", static_cast<uint64_t>(persistence::kFormatVersion)}});
  }
  if (!loaded.log_tail_cut.empty()) log.write(Level::warn, "storage_log_tail_cut", {{"reason", loaded.log_tail_cut}});
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
  driver.start(paxos_options, loaded.durable, steady_us());
  replica = &driver.replica();
  // Replay the chosen log above the snapshot now, so the node is ready when
  // it opens its ports.
  const auto replay_started = steady_us();
  const auto replayed = driver.flush(steady_us());
  // A new replica has nothing to write or send yet, only the log to replay.
  SYNOD_ASSERT(replayed.persist.empty() && replayed.messages.empty() && replayed.snapshot_from == paxos::kNoNode);
  membership.sync(*replica, nullptr);  // the log's members and addresses, before the transport dials
  log.write(Level::info, "recovered",
            {{"applied_slot", driver.applied_slot()},
             {"replay_ms", (steady_us() - replay_started) / 1000},
             {"total_ms", (steady_us() - load_started) / 1000}});
  return open_history();
}

// The watch history on disk (server/event_history.h), fed at once with what
// the replay applied.
std::string Node::Impl::open_history() {
  auto options = history_options(config);
  if (!options.enabled()) return {};
  std::string error;
  event_history = EventHistory::open(
      std::move(options),
      [this](bool warn, std::string_view event, const std::string& detail) {
        // From the history's thread: the log takes whole lines from any thread.
        log.write(warn ? Level::warn : Level::info, event, {{"detail", detail}});
      },
      error);
  if (!event_history) return "data directory " + config.data_dir + ": " + error;
  const auto stats = event_history->stats();
  log.write(Level::info, "watch_history_opened",
            {{"compacted_revision", stats.first_after}, {"last_revision", stats.last}, {"bytes", stats.bytes}});
  event_history->feed(machine);
  return {};
}

// Which cluster this data directory belongs to (persistence/cluster_identity.h):
// written at its first start, then the id every peer handshake carries.
std::string Node::Impl::open_cluster_identity(bool fresh_store) {
  return open_identity(config, fresh_store, log, cluster_id);
}

std::string Node::Impl::open_transport() {
  auto options = transport_options(config, cluster_id, lockservice::config_digest(machine.config()),
                                   static_cast<uint64_t>(steady_us()));
  options.tls = tls_reload.store();
  options.members = membership.peer_set();
  options.newcomers_from = replica->configuration().next_id;
  if (auto problem = transport::validate(options); !problem.empty()) return "peer transport: " + problem;
  transport = std::make_unique<transport::PeerTransport>(
      io, options,
      [this](transport::PeerEnvelope envelope) { on_peer_message(std::move(envelope)); },
      [this](std::string_view level, std::string_view message) {
        log.write(level == "error" ? Level::error : level == "warn" ? Level::warn : Level::info, "peer",
                  {{"message", message}});
      });
  return transport->listen();
}

std::string Node::Impl::open_http() {
  auto options = api_options(config);
  if (config.tls()) options.tls_cluster_id = cluster_id;
  api = std::make_unique<http::Api>(*this, options);
  http_server = std::make_unique<http::Server>(
      config.http_limits,
      [this](http::Request&& request, http::Responder respond) {
        // GET /, /metrics and /v1/status (http/observability.h); the rest is the client API.
        if (http::serve_observability(request, respond, *this)) return;
        api->handle(std::move(request), std::move(respond));
      },
      api->error_body(),
      [this](std::string_view level, std::string_view event, std::string_view detail) {
        log.write(level == "warn" ? Level::warn : Level::info, event, {{"detail", detail}});
      });
  if (config.tls()) http_server->use_tls(tls_reload.store(), config.client_cert_auth);
  return http_server->listen(config.client_listen.host, config.client_listen.port);
}

// ------------------------------------------------------------------ loop

void Node::Impl::flush() {
  flush_posted = false;
  carry_out(driver.flush(steady_us()));
  if (event_history) event_history->feed(machine);
  membership.sync(*replica, transport.get());
  membership.observe(*replica, steady_us());
  publish_view();
}

// Every Ready with after-sync messages goes to storage, even with nothing to
// write, so that its receipt, like every receipt, comes from storage.
void Node::Impl::carry_out(Effects effects) {
  for (auto& batch : effects.persist) storage_thread->submit(std::move(batch));
  if (recording) election.note_heartbeats_sent(effects.messages, steady_us());
  for (const auto& envelope : effects.messages) transport->send(envelope);
  if (effects.snapshot_from != paxos::kNoNode) peers.start_fetch(effects.snapshot_from, driver.applied_slot());
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
  for (const auto& envelope : driver.synced(*result.receipt, steady_us())) transport->send(envelope);
  if (snapshot_due) maybe_snapshot();
  flush();
}

// Expiries and forced releases are rare and logged with what they ended;
// every other command costs one tag compare here.
void Node::Impl::command_applying(const paxos::ChosenEntry& entry, size_t index) {
  const auto& payload = entry.value->commands[index].payload;
  const uint8_t tag = command_tag(payload);
  reporting.reset();
  if (reports.reports(tag)) reporting = reports.look_before(payload, tag);
}

void Node::Impl::command_applied(const paxos::ChosenEntry& /*entry*/, size_t /*index*/,
                                 const lockservice::Result& result) {
  if (result.status == lockservice::Status::lock_delay) metrics.lock_delay_hits.inc();
  if (reporting) reports.report_applied(*reporting, result);
  reporting.reset();
}

void Node::Impl::soft_state_changing(const paxos::SoftState& previous, const paxos::SoftState& next) {
  const int64_t now = steady_us();
  election.watch_candidacy(previous, next, Instant{now, unix_ms()}, replica->last_leader_contact());
  election.watch_leader(previous, next, Instant{now, unix_ms()}, stopping);
  if (next.leader != previous.leader) transfers.observe(next.leader, now);
  if (!previous.voting && next.voting) {
    log.write(Level::info, "repair_complete",
              {{"ballot_round", next.ballot.round}, {"reason", repair_reason},
               {"duration_ms", (now - repair_started_us) / 1000}});
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

// The first leader that finds no root token proposes its bootstrap token's
// hash as root's (bootstrap_token.h); again every 5 s until one applies.
void Node::Impl::propose_bootstrap_token(int64_t now) {
  if (machine.has_root_token() || replica->role() != paxos::Role::leader) return;
  if (bootstrap_proposed_us != 0 && now - bootstrap_proposed_us < 5'000'000) return;
  if (!driver.propose_internal(lockservice::CreateToken{bootstrap.hash, "root", {}, true}, now)) return;
  bootstrap_proposed_us = now;
  log.write(Level::info, "auth_root_token_proposed", {{"from", bootstrap.path}});
}

void Node::Impl::on_tick() {
  const int64_t now = steady_us();
  driver.tick(now);
  peers.fail_forwarded(true);
  peers.resend_forwarded(now);
  propose_bootstrap_token(now);
  transfers.observe(soft.leader, now);
  membership.observe(*replica, now);
  if (zk_port) zk_port->note_counts(machine.counts());
  if (status_report.window_due(now)) status_report.close_windows(now);
  peers.resume_fetch(now);  // resume from what we hold
  if (stopping && (now >= stop_deadline_us || (soft.leader != config.id && soft.leader != paxos::kNoNode))) {
    finish_stop();
    return;
  }
  flush();
}

void Node::Impl::wait_for(uint64_t after_revision, int64_t timeout_ms,
                          std::function<void(const http::ReadContext&)> fn) {
  asio::post(io, [this, after_revision, timeout_ms, fn = std::move(fn)]() mutable {
    driver.wait_for(after_revision, timeout_ms, std::move(fn), steady_us());
  });
}

void Node::Impl::propose_now(lockservice::Command command, const lockservice::Credential& credential, ProposalKey key,
                             std::function<void(http::Outcome)> done) {
  auto payload = lockservice::encode(command, 0, credential);  // the leader's driver stamps it
  if (!stopping && replica->role() != paxos::Role::leader) {
    // A follower hands the command to the leader it knows over the peer link.
    transport::ForwardRequest request{0, transport::ForwardRequest::Kind::propose, key.client_id, key.seq, payload};
    if (peers.forward_to_leader(std::move(request), done)) return;
  }
  driver.propose(paxos::Command{key.client_id, key.seq, std::move(payload)}, std::move(done), steady_us());
  schedule_flush();
}

void Node::Impl::read(bool stale, std::function<void(const http::ReadContext&)> fn) {
  asio::post(io, [this, stale, fn = std::move(fn)]() mutable {
    driver.read(stale, std::move(fn), steady_us());
    if (!stale) flush();
  });
}

void Node::Impl::backup(std::function<bool(const http::ReadContext&)> allowed,
                        std::function<void(http::BackupOutcome)> done) {
  asio::post(io, [this, allowed = std::move(allowed), done = std::move(done)]() mutable {
    const bool leads = replica->role() == paxos::Role::leader;
    // A follower's state counts only while it hears from a leader and is
    // not repairing: a partitioned one's may be arbitrarily old.
    const bool follows = !leads && replica->voting() && cluster().sees_quorum;
    auto take = [this, leads, follows, allowed = std::move(allowed), done](const http::ReadContext& context) {
      if (!context.ok || !(leads || follows)) {
        return done(http::BackupOutcome{http::BackupOutcome::Kind::unavailable, context.revision, {}, {}});
      }
      if (!allowed(context)) return;
      lockservice::BackupHeader header;
      header.cluster_id = cluster_id;
      header.slot = driver.applied_slot();
      header.revision = machine.revision();
      header.log_time_ms = machine.log_time_ms();
      header.taken_unix_ms = unix_ms();
      backups.take(machine, header, done);
    };
    driver.read(/*stale=*/!leads, std::move(take), steady_us());
    if (leads) flush();
  });
}

void Node::Impl::transfer_leadership(uint32_t to, std::function<bool(const http::ReadContext&)> allowed,
                                     std::function<void(http::TransferOutcome)> done) {
  when_admitted(std::move(allowed), [this, to, done = std::move(done)] {
    if (begin_transfer(driver, transfers, log, stopping, to, steady_us(), done)) flush();
  });
}

void Node::Impl::keep_alive(lockservice::SessionId session, lockservice::Credential credential,
                            std::function<void(http::KeepAliveOutcome)> done) {
  asio::post(io, [this, session, credential = std::move(credential), done = std::move(done)] {
    if (replica->role() != paxos::Role::leader && !stopping) {
      std::string payload;
      Writer writer(payload);
      writer.varint(session);
      // The credential after the session (issue 19); a leader of an older
      // build reads the session and stops there.
      writer.u8(static_cast<uint8_t>(credential.kind));
      writer.bytes(credential.value);
      transport::ForwardRequest request{0, transport::ForwardRequest::Kind::keep_alive, 0, 0, std::move(payload)};
      if (peers.forward_to_leader(std::move(request), done)) return;
    }
    done(driver.keep_alive(session, credential, steady_us()));
  });
}

// ------------------------------------------------------------ peer messages

void Node::Impl::on_peer_message(transport::PeerEnvelope envelope) {
  if (auto* core = std::get_if<paxos::Message>(&envelope.message)) {
    const paxos::Envelope message{envelope.from, envelope.to, std::move(*core)};
    const int64_t now = steady_us();
    election.note_peer_message(message, now);
    driver.step(message, now);
    schedule_flush();
    return;
  }
  // The server's own traffic: snapshot transfer and forwarded requests.
  std::visit(
      [&](auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, transport::SnapshotRequest>) peers.serve_snapshot_chunk(envelope.from, m);
        else if constexpr (std::is_same_v<T, transport::SnapshotChunk>) peers.on_snapshot_chunk(envelope.from, std::move(m));
        else if constexpr (std::is_same_v<T, transport::ForwardRequest>) peers.on_forward_request(envelope.from, std::move(m));
        else if constexpr (std::is_same_v<T, transport::ForwardReply>) peers.on_forward_reply(m);
        else static_assert(paxos::kUnhandled<T>, "the node must handle every transport::ServerMessage");
      },
      std::get<transport::ServerMessage>(envelope.message));
}

// A snapshot fetched from a peer (PeerServices checked its checksum):
// restored into the state machine, saved to storage, then handed to the
// replica.
void Node::Impl::install_snapshot(FetchedSnapshot fetched) {
  if (fetched.slot <= driver.applied_slot()) return;  // we caught up meanwhile
  lockservice::StateMachine restored(machine.config());
  if (!restored.restore(fetched.bytes)) {
    log.write(Level::error, "snapshot_fetch_failed", {{"from", fetched.from}, {"reason", "the image does not restore"}});
    return;
  }
  const Slot slot = fetched.slot;
  const auto bytes = static_cast<uint64_t>(fetched.bytes.size());
  std::vector<paxos::ConfigEntry> configurations = fetched.configurations;
  persistence::Snapshot snapshot{fetched.slot, std::move(fetched.configurations), std::move(fetched.bytes)};
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
  driver.install_snapshot(std::move(restored), slot, steady_us(), configurations);
  metrics.snapshots_installed.inc();
  snapshot_slot = slot;
  log.write(Level::info, "snapshot_installed",
            {{"slot", slot}, {"from", fetched.from}, {"bytes", bytes},
             {"duration_ms", (steady_us() - fetched.started_us) / 1000}});
  flush();
}

// -------------------------------------------------------------- stopping

void Node::Impl::begin_stop() {
  if (stopping) return;
  stopping = true;
  driver.stop();
  stop_deadline_us = steady_us() + kHandoverMsMax * 1000;
  // A leader hands over first, so a rolling restart costs no election timeout.
  if (const NodeId successor = driver.hand_over(steady_us()); successor != paxos::kNoNode) {
    log.write(Level::info, "handing_over", {{"successor", successor},
                                            {"successor_chosen_through", replica->peer(successor).chosen_through},
                                            {"commit_index", replica->commit_index()}});
    flush();
    return;  // on_tick finishes once the successor leads or the deadline passes
  }
  stop_deadline_us = 0;
}

void Node::Impl::finish_stop() {
  log.write(Level::info, "stopping", {{"leader", soft.leader}});
  peers.fail_forwarded(false);
  driver.fail_proposals();
  membership.fail_all("the node is stopping; the change may still take effect");
  tick_timer.cancel();
  signals.cancel();
  tls_reload.stop();
  http_server->stop();
  if (zk_listener) zk_listener->stop();
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
  s.tls_reload.start([&s] { s.transport->relink(); });
  if (!s.config.tls() && s.config.listens_off_loopback()) {
    s.log.write(Level::warn, "insecure_plaintext",
                {{"detail", "clients or peers off loopback are served in plain text (--insecure-plaintext)"}});
  }
  s.transport->start();
  s.publish_view();  // a request in the first instant sees this node, not an empty view
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
