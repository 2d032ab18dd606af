#include "server/node.h"

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "http/api.h"
#include "http/node_api.h"
#include "http/server.h"
#include "lockservice/session_keeper.h"
#include "lockservice/state_machine.h"
#include "paxos/crc32c.h"
#include "paxos/replica.h"
#include "paxos/transport/peer_transport.h"
#include "persistence/lmdb_storage.h"
#include "server/log.h"
#include "server/storage_thread.h"

namespace synod::server {

namespace asio = boost::asio;
using paxos::NodeId;
using paxos::Slot;

namespace {

constexpr int64_t kTickMs = 2;
// How long a proposal or read may wait for its answer before the client is
// told "unknown outcome".
constexpr int64_t kRequestMsMax = 10'000;
// How long a leader that hands over on SIGTERM waits to see the successor.
constexpr int64_t kHandoverMsMax = 1'000;
// Proposals that arrive between winning an election and serving wait here.
constexpr size_t kWaitingProposalsMax = 1 << 16;

int64_t steady_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

uint64_t hash_cluster_id(const std::string& name) {
  uint64_t hash = 1469598103934665603ULL;  // FNV-1a
  for (char c : name) hash = (hash ^ static_cast<uint8_t>(c)) * 1099511628211ULL;
  return hash;
}

struct ProposalKey {
  lockservice::ClientId client_id;
  uint64_t seq;
  bool operator==(const ProposalKey&) const = default;
};
struct ProposalKeyHash {
  size_t operator()(const ProposalKey& k) const { return std::hash<uint64_t>()(k.client_id * 31 + k.seq); }
};

}  // namespace

struct Node::Impl final : http::NodeApi {
  explicit Impl(Config c)
      : config(std::move(c)),
        log(config.log_format, Log::parse_level(config.log_level), config.id),
        tick_timer(io),
        signals(io, SIGTERM, SIGINT),
        boot_nonce(static_cast<uint64_t>(steady_us()) & 0xffffff) {}

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
  int64_t lost_leader_at_us = 0;  // when this node last saw the cluster without a leader
  struct Waiter {
    std::function<void(http::Outcome)> done;
    int64_t deadline_us;
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
  static constexpr size_t kRevisionWaitsMax = 1 << 16;
  bool snapshot_running = false;
  // Fetching a snapshot from a peer (Ready::snapshot_from), chunk by chunk.
  struct SnapshotFetch {
    bool active = false;
    NodeId from = paxos::kNoNode;
    Slot slot = paxos::kNoSlot;  // kNoSlot until the first chunk names it
    std::vector<NodeId> members;
    std::string bytes;
    uint64_t total_bytes = 0;
    uint32_t total_crc32c = 0;
    int64_t deadline_us = 0;
    int64_t started_us = 0;
  };
  SnapshotFetch fetch;
  bool start_repairing = false;
  bool stopping = false;
  int64_t stop_deadline_us = 0;
  int exit_code = 0;

  // any thread
  mutable std::mutex view_mutex;
  http::ClusterView view;

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
  void propose_now(lockservice::Command command, ProposalKey key, std::function<void(http::Outcome)> done);
  void maybe_snapshot();
  void on_peer_message(paxos::Envelope envelope);
  void serve_snapshot_chunk(NodeId to, const paxos::SnapshotRequest& request);
  void request_snapshot_chunk();
  void on_snapshot_chunk(NodeId from, paxos::SnapshotChunk chunk);
  void install_fetched_snapshot();
  void publish_view();
  void begin_stop();
  void finish_stop();
  int64_t mono_ms() const { return steady_us() / 1000; }
  int64_t takeover_credit_ms() const {
    return config.timing.lease_ms * 100 / (100 + config.timing.drift_bound_percent);
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
    // node id | boot nonce | counter: unique across nodes and restarts.
    return (static_cast<uint64_t>(config.id) << 56) | (boot_nonce << 32) | (++client_counter & 0xffffffff);
  }
};

// ---------------------------------------------------------------- opening

std::string Node::Impl::open() {
  if (auto error = open_storage(); !error.empty()) return error;
  if (auto error = open_transport(); !error.empty()) return error;
  return open_http();
}

std::string Node::Impl::open_storage() {
  persistence::LmdbOptions options;
  options.data_dir = config.data_dir;
  options.storage.node_id = config.id;
  options.storage.log_slots_max = config.snapshot_after_slots;
  options.unsafe_no_sync_for_benchmarks = config.unsafe_no_sync_for_benchmarks;
  auto opened = persistence::LmdbStorage::open(options);
  if (!opened.status.ok()) return "data directory " + config.data_dir + ": " + opened.status.message;
  storage = std::move(opened.storage);
  const auto load_started = steady_us();
  auto loaded = storage->load();
  if (loaded.status.code == persistence::Code::corrupt) {
    // Never serve what failed its check, and never answer Prepare as if it
    // had promised nothing (DESIGN §3): wipe the store and repair from the
    // peers as a non-voter.
    log.write(Level::error, "corruption_detected", {{"reason", loaded.status.message}, {"action", "repair"}});
    if (auto reset = storage->reset(); !reset.ok()) return "data directory " + config.data_dir + ": " + reset.message;
    loaded = persistence::LoadResult{};
    start_repairing = true;
  } else if (loaded.status.code == persistence::Code::fresh) {
    // An empty directory: a brand-new cluster, or a member whose disk was
    // lost. The replica asks its peers which (paxos/replica.h: REPAIR).
    start_repairing = true;
  } else if (!loaded.status.ok()) {
    log.write(Level::error, "storage_refused", {{"reason", loaded.status.message}});
    return "data directory " + config.data_dir + ": " + loaded.status.message;
  }
  if (loaded.snapshot) {
    if (!machine.restore(loaded.snapshot->bytes)) {
      return "data directory " + config.data_dir + ": the snapshot at slot " +
             std::to_string(loaded.snapshot->slot) + " does not restore";
    }
    applied_slot = loaded.snapshot->slot;
  }
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
  transport::TransportOptions options;
  options.self = config.id;
  options.cluster_id = hash_cluster_id(config.cluster_id);
  for (const auto& m : config.members) {
    transport::PeerAddress address{m.peer.host, m.peer.port};
    if (m.id == config.id) address = transport::PeerAddress{config.peer_listen.host, config.peer_listen.port};
    options.members.push_back(transport::Member{m.id, address});
  }
  options.random_seed = static_cast<uint64_t>(steady_us());
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
  api = std::make_unique<http::Api>(*this, http::ApiOptions{});
  http_server = std::make_unique<http::Server>(
      http::Limits{}, [this](http::Request&& request, http::Responder respond) { api->handle(std::move(request), std::move(respond)); },
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
  publish_view();
}

void Node::Impl::handle(paxos::Ready ready) {
  // Every Ready with after-sync messages goes to storage, even with nothing
  // to write, so that its receipt, like every receipt, comes from storage.
  if (!ready.persist.empty() || !ready.messages_after_sync.empty()) {
    persist_in_flight.push_back(ready.id);
    if (!ready.messages_after_sync.empty()) after_sync.emplace(ready.id, std::move(ready.messages_after_sync));
    storage_thread->submit(std::move(ready.persist));
  }
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
  if (ready.snapshot_from != paxos::kNoNode && !fetch.active) {
    fetch = SnapshotFetch{};
    fetch.active = true;
    fetch.from = ready.snapshot_from;
    fetch.started_us = steady_us();
    log.write(Level::info, "snapshot_fetch", {{"from", ready.snapshot_from}, {"applied_slot", applied_slot}});
    request_snapshot_chunk();
  }
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
  for (const auto& entry : entries) {
    SYNOD_ASSERT(entry.slot == applied_slot + 1);
    applied_slot = entry.slot;
    for (size_t i = 0; i < entry.value->commands.size(); ++i) {
      const auto& command = entry.value->commands[i];
      auto result = machine.apply(lockservice::LogEntry{entry.slot, i, command.client_id, command.seq, command.payload});
      auto it = proposals.find(ProposalKey{command.client_id, command.seq});
      if (it == proposals.end()) continue;
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
  if (previous.leader != paxos::kNoNode && next.leader == paxos::kNoNode) lost_leader_at_us = now;
  if (next.leader != previous.leader && next.leader != paxos::kNoNode) {
    log.write(Level::info, "leader_changed",
              {{"leader", next.leader}, {"ballot_round", next.ballot.round}, {"ballot_node", next.ballot.node},
               {"without_leader_ms", lost_leader_at_us == 0 ? 0 : (now - lost_leader_at_us) / 1000}});
  }
  if (!previous.voting && next.voting) log.write(Level::info, "repair_complete", {{"ballot_round", next.ballot.round}});
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
  if (next.role != paxos::Role::leader && keeper.leading()) {
    keeper.follow();
    log.write(Level::info, "stepped_down", {{"ballot_round", next.ballot.round}});
  }
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
  if (keeper.leading() && !stopping) {
    for (auto& command : keeper.tick(machine, now / 1000)) {
      const auto payload = lockservice::encode(command, keeper.log_now_ms(machine, now / 1000));
      replica->propose(paxos::Command{0, 0, payload}, now);
    }
  }
  expire_requests(now);
  if (fetch.active && now >= fetch.deadline_us) request_snapshot_chunk();  // resume from what we hold
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
    return done(http::Outcome{http::Outcome::Kind::not_leader, replica->leader(), {}, 0});
  }
  if (!keeper.leading()) {
    // Elected, but the takeover slots are not all chosen yet.
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
    existing->second.push_back(Waiter{std::move(done), now + kRequestMsMax * 1000});
    return;
  }
  switch (replica->propose(paxos::Command{key.client_id, key.seq, std::move(payload)}, now)) {
    case paxos::Replica::ProposeStatus::queued:
      proposals[key].push_back(Waiter{std::move(done), now + kRequestMsMax * 1000});
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

void Node::Impl::maybe_snapshot() {
  if (snapshot_running || applied_slot == paxos::kNoSlot) return;
  snapshot_running = true;
  persistence::Snapshot snapshot;
  snapshot.slot = applied_slot;
  for (const auto& m : config.members) snapshot.members.push_back(m.id);
  snapshot.bytes = machine.snapshot();
  const auto started = steady_us();
  storage_thread->run_task([this, snapshot = std::move(snapshot), started](persistence::Storage& store) {
    auto status = store.save_snapshot(snapshot);
    uint64_t erased = 0;
    for (bool more = status.ok(); more;) {
      auto compacted = store.compact(snapshot.slot);
      erased += compacted.records_erased;
      more = compacted.status.ok() && compacted.more;
      if (!compacted.status.ok()) status = compacted.status;
    }
    asio::post(io, [this, status, erased, slot = snapshot.slot, bytes = snapshot.bytes.size(), started] {
      snapshot_running = false;
      log.write(status.ok() ? Level::info : Level::error, "snapshot",
                {{"slot", slot}, {"bytes", static_cast<uint64_t>(bytes)}, {"records_erased", erased},
                 {"duration_ms", (steady_us() - started) / 1000}, {"status", status.message}});
    });
  });
}

// ------------------------------------------------------ snapshot transfer
//
// A replica that needs slots its peers compacted away (Ready::snapshot_from)
// fetches the peer's latest snapshot in chunks of at most 1 MiB, each checked
// against its CRC32C, resuming from the last offset it holds after a timeout.
// The whole image is checked against its CRC32C, restored into the state
// machine, saved to storage, and then handed to the replica.

void Node::Impl::on_peer_message(paxos::Envelope envelope) {
  if (const auto* request = std::get_if<paxos::SnapshotRequest>(&envelope.message)) {
    serve_snapshot_chunk(envelope.from, *request);
    return;
  }
  if (auto* chunk = std::get_if<paxos::SnapshotChunk>(&envelope.message)) {
    on_snapshot_chunk(envelope.from, std::move(*chunk));
    return;
  }
  replica->step(envelope, steady_us());
  schedule_flush();
}

void Node::Impl::serve_snapshot_chunk(NodeId to, const paxos::SnapshotRequest& request) {
  constexpr uint64_t kChunkBytesMax = 1 << 20;
  storage_thread->run_task([this, to, request](persistence::Storage& store) {
    paxos::SnapshotChunk reply;
    const auto info = store.snapshot_info();
    if (info) {
      // A request for a snapshot we no longer hold restarts at our latest.
      const bool same = request.slot == paxos::kNoSlot || request.slot == info->slot;
      auto read = store.read_snapshot_chunk(info->slot, same ? request.offset : 0, kChunkBytesMax);
      if (read.status.ok()) {
        reply = paxos::SnapshotChunk{read.chunk.slot,     info->members,         read.chunk.offset,
                                     std::move(read.chunk.bytes), read.chunk.crc32c, read.chunk.snapshot_bytes,
                                     read.chunk.snapshot_crc32c,  read.chunk.last};
      }
    }
    asio::post(io, [this, to, reply = std::move(reply)]() mutable {
      transport->send(paxos::Envelope{config.id, to, std::move(reply)});
    });
  });
}

void Node::Impl::request_snapshot_chunk() {
  fetch.deadline_us = steady_us() + 2'000'000;
  transport->send(paxos::Envelope{config.id, fetch.from, paxos::SnapshotRequest{fetch.slot, fetch.bytes.size()}});
}

void Node::Impl::on_snapshot_chunk(NodeId from, paxos::SnapshotChunk chunk) {
  if (!fetch.active || from != fetch.from) return;
  if (chunk.slot == paxos::kNoSlot) {
    // The peer has no snapshot (yet): let the replica ask again later.
    log.write(Level::warn, "snapshot_fetch_failed", {{"from", from}, {"reason", "the peer has no snapshot"}});
    fetch.active = false;
    return;
  }
  if (chunk.slot != fetch.slot) {
    // A newer snapshot than the one we were fetching: start it over.
    if (chunk.offset != 0) return;
    fetch.slot = chunk.slot;
    fetch.bytes.clear();
  }
  if (chunk.offset != fetch.bytes.size() || crc32c(chunk.bytes) != chunk.crc32c) {
    request_snapshot_chunk();  // a duplicate, a gap or a damaged chunk: ask for what we need
    return;
  }
  fetch.members = chunk.members;
  fetch.total_bytes = chunk.total_bytes;
  fetch.total_crc32c = chunk.total_crc32c;
  fetch.bytes += chunk.bytes;
  if (!chunk.last) {
    request_snapshot_chunk();
    return;
  }
  install_fetched_snapshot();
}

void Node::Impl::install_fetched_snapshot() {
  fetch.active = false;
  if (fetch.bytes.size() != fetch.total_bytes || crc32c(fetch.bytes) != fetch.total_crc32c) {
    log.write(Level::error, "snapshot_fetch_failed", {{"from", fetch.from}, {"reason", "checksum of the whole image"}});
    return;
  }
  if (fetch.slot <= applied_slot) return;  // we caught up meanwhile
  lockservice::StateMachine restored(machine.config());
  if (!restored.restore(fetch.bytes)) {
    log.write(Level::error, "snapshot_fetch_failed", {{"from", fetch.from}, {"reason", "the image does not restore"}});
    return;
  }
  machine = std::move(restored);
  applied_slot = fetch.slot;
  persistence::Snapshot snapshot{fetch.slot, fetch.members, std::move(fetch.bytes)};
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
  log.write(Level::info, "snapshot_installed",
            {{"slot", applied_slot}, {"from", fetch.from}, {"bytes", fetch.total_bytes},
             {"duration_ms", (steady_us() - fetch.started_us) / 1000}});
  wake_revision_waits();
  flush();
}

void Node::Impl::publish_view() {
  http::ClusterView next;
  next.self = config.id;
  next.role = paxos::role_name(replica->role());
  next.leader = replica->leader();
  next.ballot_round = soft.ballot.round;
  next.ballot_node = soft.ballot.node;
  next.commit_index = replica->commit_index();
  next.applied_revision = machine.revision();
  next.leader_commit_index = replica->leader_commit_index();
  next.serving = replica->serving();
  next.voting = replica->voting();
  const int64_t now = steady_us();
  next.lease_valid = replica->lease_valid(now);
  if (auto contact = replica->last_leader_contact()) next.last_leader_contact_ms = (now - *contact) / 1000;
  next.sees_quorum = replica->role() == paxos::Role::leader
                         ? next.lease_valid
                         : next.last_leader_contact_ms >= 0 &&
                               next.last_leader_contact_ms <= config.timing.election_timeout_max_ms;
  const auto stats = transport->stats();
  for (const auto& m : config.members) {
    http::MemberView member;
    member.id = m.id;
    member.peer_addr = m.peer.to_string();
    member.client_addr = m.client.to_string();
    member.self = m.id == config.id;
    member.connected = member.self;
    for (const auto& peer : stats.peers) {
      if (peer.node != m.id) continue;
      member.connected = peer.connected;
      if (peer.last_received.time_since_epoch().count() != 0) {
        member.last_contact_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now() - peer.last_received)
                                     .count();
      }
    }
    member.chosen_through = member.self ? replica->commit_index() : replica->peer(m.id).chosen_through;
    next.members.push_back(std::move(member));
  }
  std::lock_guard<std::mutex> lock(view_mutex);
  view = std::move(next);
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
  s.storage_thread = std::make_unique<StorageThread>(
      *s.storage,
      [&s](persistence::PersistResult result, size_t) {
        const bool due = result.status.ok() && s.storage->snapshot_due();
        asio::post(s.io, [&s, result = std::move(result), due]() mutable { s.on_synced(std::move(result), due); });
      },
      1024);
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
