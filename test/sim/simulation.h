// The simulator's private state: one run of one seed (see sim.h for what it
// checks). Split by concern across:
//   sim.cpp           the event loop, nodes and their disks, the network,
//                     faults, and the consensus checks
//   driver.cpp        each node's server::Driver (the server's own driving
//                     code) and what the checks watch of it
//   clients.cpp       the request channel every client uses, and key clients
//                     with their history and its linearizability check
//   lock_clients.cpp  lock clients: sessions, keep-alives, locks, pauses and
//                     the fenced resource
//   lock_checks.cpp   the lock-service oracle: grants, lock-delay, expiries,
//                     the expiry bound and leaderless time
// Single-threaded; a Simulation owns everything of its run.
#pragma once

#include <cstdint>
#include <deque>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "lockservice/command.h"
#include "lockservice/session_keeper.h"
#include "lockservice/state_machine.h"
#include "base/random.h"
#include "paxos/replica.h"
#include "persistence/memory_storage.h"
#include "server/driver.h"
#include "sim/fenced_resource.h"
#include "sim/sim.h"
#include "tools/lincheck/history.h"
#include "tools/lincheck/models.h"

namespace synod::sim::detail {

namespace ls = synod::lockservice;
using paxos::AcceptedEntry;
using paxos::AfterSync;
using paxos::Ballot;
using paxos::ChosenEntry;
using paxos::DurableState;
using paxos::Envelope;
using paxos::kNoNode;
using paxos::kNoSlot;
using paxos::NodeId;
using paxos::Options;
using paxos::PersistBatch;
using paxos::Ready;
using paxos::Replica;
using paxos::Role;
using paxos::Slot;
using paxos::TimeUs;
using paxos::ValuePtr;

inline constexpr int64_t kMs = 1000;  // simulated time is in microseconds
inline constexpr int64_t kNever = std::numeric_limits<int64_t>::max();
// Before the final check, clients stop and the cluster gets this long to settle.
inline constexpr int64_t kSettle = 500 * kMs;
// The driver ticks every node every millisecond of simulated time; on the
// fastest clock that is 1.1 ms, so the keeper's tick interval tau is taken
// as 2 ms in the expiry bound.
inline constexpr int64_t kTickUs = 1 * kMs;
inline constexpr int64_t kKeeperTauMs = 2;
// Lock clients' sessions (the service allows 2 s to one day).
inline constexpr int64_t kLockTtlMsMin = ls::kTtlMsMin;
inline constexpr int64_t kLockTtlMsMax = 4'000;
inline constexpr int64_t kLockDelayMsMax = 1'200;
// A lock client's keep-alive that finds no answer in this long is sent again
// elsewhere.
inline constexpr int64_t kKeepAliveTimeoutUs = 120 * kMs;
static_assert(kLockTtlMsMin >= ls::kTtlMsMin && kLockTtlMsMax <= ls::kTtlMsMax);
static_assert(kLockDelayMsMax <= ls::kLockDelayMsMax);
// The keeper's liveness promise needs g >= (1 + rho)(K + R) with K = ttl / 3
// (session_keeper.h): a client's keep-alive interval and its retry timeout
// must fit the takeover grace.
static_assert((kLockTtlMsMax / 3 * kMs + kKeepAliveTimeoutUs) * (100 + ls::KeeperConfig{}.drift_bound_percent) / 100 <
              ls::KeeperConfig{}.takeover_grace_ms * kMs);
// Bounds on what one run records.
inline constexpr size_t kViolationsMax = 20;
// Nodes a run may add with membership changes.
inline constexpr size_t kJoinersMax = 8;
inline constexpr size_t kHistoryEventsMax = 200'000;

// ------------------------------------------------------------ the sim's disk

// What a replica has synced: the real storage logic and record format
// (persistence::MemoryStorage, with its checksums), so that the disk faults
// injected here hit the bytes the storage really checks. Writes reach it only
// when their sync completes, so a crash loses exactly what was not synced.
struct Disk {
  void open(NodeId node);
  std::unique_ptr<persistence::MemoryStorage> store;
  // Every vote that was ever durable here, for the oracle: an Accepted may
  // leave after a later vote for the same slot overwrote this one (a paused
  // node releases several synced Readies at once).
  std::map<std::pair<Slot, Ballot>, ValuePtr> durable_votes;
  bool damaged = false;  // a corruption was injected and not yet found
  // The promise on disk as last written or loaded: the storage asserts a
  // promise never goes down, and the simulator reports it first.
  Ballot promised;

  void write(const PersistBatch& batch);
};

// ------------------------------------------------------------------- events

struct ClientWrite {
  size_t client;
  uint64_t seq;
};
struct ClientRead {
  size_t client;
  uint64_t read_id;
};
struct KeepAlive {
  size_t client;
  ls::SessionId session;
  uint64_t keepalive_id;
};
struct SyncRelease {
  uint64_t ready_id;
};
// What a paused replica finds waiting when it resumes.
using InboxItem = std::variant<Envelope, ClientWrite, ClientRead, KeepAlive, SyncRelease>;

enum class EventKind : uint8_t {
  deliver,
  sync_done,
  tick,
  client_step,
  client_timeout,
  lock_step,       // a lock client's own timer (think, hold, poll, resume)
  keepalive_step,  // a lock client's keep-alive timer
  keepalive_timeout,
  fault,
  heal,
  restart,
  resume,
  fault_restart,
  heal_all,
  end
};

struct Event {
  int64_t at = 0;
  uint64_t seq = 0;
  EventKind kind = EventKind::tick;
  size_t node = 0;  // index, for node events
  uint64_t a = 0;   // kind-specific
  uint64_t b = 0;
  std::shared_ptr<const Envelope> envelope;

  bool operator>(const Event& other) const { return at != other.at ? at > other.at : seq > other.seq; }
};

// ------------------------------------------------------------------- nodes

class NodeObserver;
class Simulation;
struct Node;
std::unique_ptr<server::DriverObserver> make_observer(Simulation& sim, Node& node);

struct Node {
  NodeId id = kNoNode;
  double clock_rate = 1.0;
  int64_t clock_offset = 0;
  bool up = false;  // booted and not crashed (its driver exists)
  bool paused = false;
  uint64_t incarnation = 0;
  // The server's own driver (server/driver.h): the Replica, the lock
  // service's StateMachine and SessionKeeper, and the requests waiting on
  // them. Rebuilt from nothing at every boot: the replica hands the state
  // machine the whole durable chosen log again. Null while down.
  std::unique_ptr<server::Driver> driver;
  std::unique_ptr<server::DriverObserver> observer;
  Disk disk;
  bool repairing_after_fault = false;  // booted on a lost or corrupt disk, not yet voting
  std::map<uint64_t, PersistBatch> unsynced;  // by ready id
  int64_t last_sync_at = 0;
  uint64_t result_digest = 0;  // of every result it computed, in log order
  std::deque<InboxItem> inbox;
  bool paused_inbox_replay = false;
  bool flushing = false;  // Simulation::flush is running for this node
  // Membership (member faults, membership.cpp): a node added later boots
  // with the configuration it was added to; a removed one is stopped for
  // good once its removal is in effect.
  struct Joined {
    std::vector<NodeId> voters;
    std::vector<NodeId> learners;
  } joined_as;
  bool retired = false;

  // Only while up: the driver exists from boot to crash.
  Replica& replica() const { return driver->replica(); }
  const ls::StateMachine& machine() const { return driver->machine(); }
  const ls::SessionKeeper& keeper() const { return driver->keeper(); }
  Slot applied() const { return driver->applied_slot(); }
};

// How a node answered a keep-alive.
enum class KeepAliveReply : uint8_t { ok, expired, not_leader };

// ----------------------------------------------------------------- clients

// A key client's operation, as the history records it.
struct KeyOp {
  enum class F : uint8_t { read, write, cas, erase } f = F::read;
  std::string key;
  std::string value;  // write, cas: the value written (unique per operation)
  std::optional<ls::Revision> cas;  // cas: the modify index compared (0: create only)
  lincheck::Value expected;         // cas: the value that modify index names
};

// What a key client last saw of a key: the value and the modify index that
// names it (values are unique, so the two correspond).
struct KeySeen {
  std::string value;
  ls::Revision modify_index = 0;  // 0: absent
};

struct LockClient {
  int64_t ttl_ms = 0;
  int64_t lock_delay_ms = 0;
  bool may_pause = false;
  enum class Phase : uint8_t { no_session, creating, idle, acquiring, waiting, holding, releasing } phase =
      Phase::no_session;
  ls::SessionId session = ls::kNoSession;
  int64_t valid_until_local_ms = 0;  // on its own clock: the service promised the session until then
  // The lock it acquires, waits for or holds.
  std::string lock;
  ls::WaitMode mode = ls::WaitMode::try_once;
  int64_t wait_ms = 0;
  int64_t wait_until_local_ms = 0;  // waiting: when it gives up
  ls::FencingToken token = 0;
  bool believes = false;            // it believes it holds `lock`
  int64_t hold_until_local_ms = 0;
  bool has_read = false;            // a fenced read is done, its write is due
  int64_t read_value = 0;
  bool paused = false;
  bool paused_this_session = false;
  bool session_dead = false;        // a keep-alive answered that the session is gone
  uint64_t timer_gen = 0;           // invalidates stale lock_step events
  // The keep-alive channel, independent of the request channel.
  uint64_t keepalive_id = 0;
  size_t keepalive_target = 0;
  int64_t keepalive_sent_local_ms = 0;
  bool keepalive_in_flight = false;
  std::vector<std::pair<int64_t, int64_t>> pauses;  // simulated [from, to)
};

struct Client {
  enum class Kind : uint8_t { key, lock } kind = Kind::key;
  uint64_t id = 0;
  uint64_t seq = 0;
  double clock_rate = 1.0;  // validity is counted on the client's own clock
  int64_t clock_offset = 0;
  // The request channel: at most one command or read outstanding.
  enum class State : uint8_t { idle, writing, reading } state = State::idle;
  size_t target = 0;
  uint64_t attempt = 0;  // invalidates stale timeouts and retries
  std::string payload;   // the encoded command, time 0: the leader stamps it
  int64_t invoked_at = 0;
  int64_t first_sent_local_ms = 0;  // its clock when this seq was first sent
  int64_t timeout_us = 0;
  int64_t give_up_at = kNever;  // key clients: the outcome is unknown from here
  Slot must_see = kNoSlot;      // reads: newest completed index when invoked
  uint64_t read_id = 0;
  // key clients
  KeyOp op;
  std::map<std::string, KeySeen> seen;
  // lock clients
  LockClient lock;
};

// One network-wide degradation (drop, duplicate or delay) while it lasts.
struct Degradation {
  uint64_t id;
  double drop = 0;
  double duplicate = 0;
  int64_t delay_us_max = 0;
};

// A cut set of directed links, undone when the fault heals.
struct Cut {
  uint64_t id;
  std::vector<std::pair<size_t, size_t>> links;
};

// ------------------------------------------------------- the lock oracle

// What the simulation knows of a session, from the first replica to apply
// each entry and from the keep-alives nodes answered.
struct SessionRecord {
  size_t client = 0;
  int64_t ttl_ms = 0;
  int64_t lock_delay_ms = 0;
  int64_t created_at = 0;  // simulated time its creation was first applied
  std::vector<int64_t> answered;  // simulated times keep-alives were answered ok
  bool ended = false;
  bool bound_reported = false;
  std::set<std::string> holds;  // locks it holds, by the log
};

struct LockRecord {
  ls::SessionId holder = ls::kNoSession;
  ls::FencingToken token = 0;       // of the current or last grant
  // The last involuntary loss: lock-delay runs from it.
  bool delay_pending = false;
  int64_t expired_log_ms = 0;
  int64_t expired_stamped_at = 0;   // simulated time the EXPIRE was stamped
  int64_t lock_delay_ms = 0;
};

// A keeper proposal: when it was stamped, for the commit latency (lambda)
// and the lock-delay check.
struct KeeperProposal {
  int64_t stamped_at = 0;
  bool applied = false;
};

class Simulation {
 public:
  Simulation(const SimConfig& config, bool keep_history);
  SimResult run();

 private:
  // ---------------------------------------------------------- sim.cpp
  void schedule(int64_t at, EventKind kind, size_t node = 0, uint64_t a = 0, uint64_t b = 0,
                std::shared_ptr<const Envelope> envelope = nullptr) {
    events_.push(Event{at, ++event_seq_, kind, node, a, b, std::move(envelope)});
  }
  void handle(const Event& event);
  void tick_nodes();
  TimeUs local(const Node& node) const {
    return node.clock_offset + static_cast<TimeUs>(static_cast<double>(now_) * node.clock_rate);
  }
  int64_t mono_ms(const Node& node) const { return local(node) / kMs; }
  void trace(const char* format, ...) __attribute__((format(printf, 2, 3)));
  Options options_for(const Node& node) const;
  void boot(Node& node);
  void deliver(Node& node, const InboxItem& item);
  void on_sync_done(Node& node, uint64_t ready_id, uint64_t incarnation);
  void release(Node& node, uint64_t ready_id);
  void crash(Node& node);
  void reconnect_links(const Node& node);
  size_t index_of(NodeId id) const { return id - 1; }
  void send(const Envelope& envelope);
  void plan_faults();
  void inject_fault();
  void heal(uint64_t fault_id);
  void heal_all();
  std::optional<size_t> current_leader() const;
  void violation(const std::string& what);
  void record_vote(const Node& node, const paxos::Accepted& accepted);
  void check_applied(const Node& node, Slot slot, const ValuePtr& value);
  void check_lease_read(const Node& node);
  void check_no_other_lease(const Node& elected, const Ballot& ballot);

  // -------------------------------------------------- membership.cpp
  void change_membership();
  void propose_change();
  NodeId add_node();
  void retire_removed(const Replica& leader);
  // The voters of slot `slot`'s configuration, by the oracle's chosen values.
  const std::vector<NodeId>& oracle_voters(Slot slot) const;
  // A voter or learner of the newest configuration any live node knows.
  bool final_member(NodeId id) const;
  // A node for a client to try: any node not removed for good.
  size_t pick_target();
  void final_checks();
  void draw_timing_and_limits();

  // -------------------------------------------------------- driver.cpp
  friend class NodeObserver;
  server::DriverOptions driver_options() const;
  void flush(Node& node);
  void on_persist(Node& node, PersistBatch batch);
  void propose_client_command(Node& node, size_t client);
  void read_client(Node& node, size_t client);
  void answer_keepalive(Node& node, const KeepAlive& request);
  bool serving_leader(const Node& node) const;
  // What the driver's observer reports (NodeObserver forwards here).
  void entry_applying(Node& node, const ChosenEntry& entry);
  void command_applying(Node& node, const ChosenEntry& entry, size_t index);
  void command_applied(Node& node, const ChosenEntry& entry, size_t index, const ls::Result& result);
  void entry_applied(Node& node, const ChosenEntry& entry);
  void soft_state_changing(Node& node, const paxos::SoftState& next);

  // ------------------------------------------------------- clients.cpp
  void start_clients();
  void client_step(size_t client, uint64_t attempt);
  void client_submit(size_t client);
  void client_retry(size_t client, NodeId hint, int64_t after_us);
  void client_timeout(size_t client, uint64_t attempt);
  void start_command(size_t client, const ls::Command& command);
  void complete_command(size_t client, Slot slot, const ls::Result& result);
  void complete_read(size_t client, Node& node);
  void give_up(size_t client);
  int64_t client_local_ms(const Client& client) const {
    return (client.clock_offset + static_cast<int64_t>(static_cast<double>(now_) * client.clock_rate)) / kMs;
  }
  int64_t think_time() { return random_.uniform(10 * kMs, 60 * kMs); }
  // key clients
  void key_client_start(size_t client);
  void key_client_done(size_t client, const ls::Result& result);
  void key_read_done(size_t client, const Node& node);
  void record_event(const Client& client, lincheck::EventType type, lincheck::Value value);
  void check_key_histories();
  void search_key_history(const lincheck::History& history, lincheck::Partition& partition);

  // -------------------------------------------------- lock_clients.cpp
  void lock_client_step(size_t client, uint64_t gen);
  void lock_client_done(size_t client, const ls::Result& result);
  void lock_schedule(size_t client, int64_t after_us);
  void lock_acquire(size_t client);
  void lock_holding(size_t client);
  void lock_use_resource(size_t client);
  void lock_stop_believing(size_t client);
  void lock_release(size_t client);
  void lock_forget_session(size_t client);
  void lock_pause(size_t client);
  void lock_resume(size_t client);
  bool lock_believes(const Client& client) const;
  void keepalive_step(size_t client, uint64_t keepalive_id);
  void keepalive_send(size_t client);
  void keepalive_timeout(size_t client, uint64_t keepalive_id);
  void keepalive_answered(size_t client, uint64_t keepalive_id, KeepAliveReply reply, int64_t valid_for_ms,
                          NodeId hint);
  void resource_checks();

  // --------------------------------------------------- lock_checks.cpp
  void oracle_command(Node& node, const paxos::Command& command, ls::Revision revision);
  void oracle_grant(const Node& node, const ls::Event& event);
  void oracle_lock_lost(const ls::Event& event, bool expired, int64_t log_ms, const std::string& payload);
  void oracle_session_expired(ls::SessionId session);
  void note_leaderless();
  int64_t expiry_bound_us(const SessionRecord& session, int64_t last_answer, int64_t until) const;
  int64_t last_answer(const SessionRecord& session) const;
  void check_sessions_expire();
  void check_expiry_after_answers(ls::SessionId id, const SessionRecord& session);
  bool served_throughout(int64_t from, int64_t to) const;  // no leaderless time in [from, to)
  int64_t commit_latency_us(int64_t from, int64_t until) const;  // lambda: the slowest keeper commit then
  std::string client_name(size_t client) const { return "client " + std::to_string(clients_[client].id); }

  SimConfig config_;
  bool keep_history_ = false;
  Random random_;
  SimResult result_;
  int64_t now_ = 0;
  uint64_t event_seq_ = 0;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events_;
  std::vector<Node> nodes_;
  std::vector<Client> clients_;
  // This run's timing and limits (the defaults, or drawn: SimConfig::buggify).
  paxos::Timing timing_;
  paxos::Limits limits_;
  server::DriverLimits driver_limits_;
  ls::Config service_config_;
  ls::KeeperConfig keeper_config_;  // what each driver's keeper runs with
  bool applying_as_oracle_ = false;  // the node applying now is the first to apply this slot

  // network state
  std::vector<std::vector<int>> cut_count_;  // [from][to]: how many faults cut this link
  std::vector<Degradation> degradations_;
  std::vector<Cut> cuts_;
  uint64_t next_fault_id_ = 0;
  int64_t heal_at_ = 0;
  bool healed_ = false;
  // Clients start no new operation from here on, so that the final check
  // sees a cluster at rest.
  int64_t quiet_at_ = kNever;

  // the consensus oracle and history
  struct SlotVotes {
    std::map<Ballot, std::pair<ValuePtr, std::set<NodeId>>> by_ballot;
    ValuePtr chosen;
  };
  std::map<Slot, SlotVotes> votes_;
  // Configuration values the oracle saw chosen, by slot: their voters.
  std::map<Slot, std::vector<NodeId>> oracle_configs_;
  std::vector<NodeId> initial_voters_;
  std::map<Slot, ValuePtr> applied_log_;  // the first value any learner applied per slot
  std::map<Slot, uint64_t> result_digests_;  // the first applier's result digest after each slot
  Slot oracle_through_ = kNoSlot;            // slots whose effects the lock oracle has seen
  std::map<std::pair<uint64_t, uint64_t>, std::string> submitted_;  // client commands, time 0
  std::map<std::string, KeeperProposal> keeper_proposals_;          // by exact payload
  std::map<std::pair<uint64_t, uint64_t>, ls::Revision> effect_revision_;  // where each command took effect
  std::map<std::pair<uint64_t, uint64_t>, Slot> acked_;
  Slot newest_completed_ = kNoSlot;  // newest index any completed operation reflected
  Slot max_acked_slot_ = kNoSlot;
  uint64_t next_read_id_ = 0;
  std::optional<int64_t> first_ack_after_heal_;
  std::map<NodeId, Ballot> led_;          // newest ballot each node led with, to count elections
  std::map<Ballot, int64_t> elected_at_;  // when each ballot's phase 1 completed

  // the key histories
  lincheck::HistoryBuilder history_;
  size_t history_events_ = 0;

  // the lock oracle
  FencedResource resource_;
  size_t resource_violations_seen_ = 0;
  std::map<ls::SessionId, SessionRecord> sessions_;
  std::map<std::string, LockRecord> locks_;
  // (lock, token) -> the session granted. A token is unique per lock only:
  // one command may grant several locks (a checkpoint unblocks two queues).
  std::map<std::pair<std::string, ls::FencingToken>, ls::SessionId> grants_;
  // Simulated intervals without a serving leader; the last may be open.
  std::vector<std::pair<int64_t, int64_t>> leaderless_;
  std::optional<int64_t> leaderless_since_;
  // Commit latencies of keeper proposals a leader committed without a
  // failover in between: (simulated time applied, latency).
  std::vector<std::pair<int64_t, int64_t>> commit_latencies_;
  int64_t next_session_check_at_ = 0;
};

}  // namespace synod::sim::detail
