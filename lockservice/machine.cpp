// The apply loop, timers, sessions, events and the exactly-once table; also
// the StateMachine facade and the small vocabulary functions of types.h.
#include <algorithm>
#include <iterator>
#include <utility>

#include "lockservice/machine.h"
#include "base/assert.h"

namespace synod::lockservice {

// ---- vocabulary ----
const char* status_name(Status status) {
  static constexpr const char* kNames[] = {
      "ok",           "queued",           "not_found", "session_expired", "conflict",        "lock_delay",
      "validity_low", "timed_out",        "cancelled", "guard_failed",    "stale_token",     "limit_exceeded",
      "too_large",    "invalid_argument", "too_early", "compacted",       "unauthenticated", "permission_denied"};
  static_assert(std::size(kNames) == kStatusMax + 1);
  const auto index = static_cast<size_t>(status);
  return index < std::size(kNames) ? kNames[index] : "unknown";
}

bool retryable(Status status) {
  return status == Status::lock_delay || status == Status::validity_low || status == Status::conflict ||
         status == Status::limit_exceeded || status == Status::timed_out;
}

const char* event_type_name(EventType type) {
  static constexpr const char* kNames[] = {"put",       "deleted",   "expired", "released",   "granted",   "forced",
                                           "timed_out", "cancelled", "leader",  "proclaimed", "no_leader", "created"};
  static_assert(std::size(kNames) == kEventTypeMax + 1);
  const auto index = static_cast<size_t>(type);
  return index < std::size(kNames) ? kNames[index] : "unknown";
}

std::string validate(const Config& config) {
  const Limits& l = config.limits;
  if (l.sessions_max == 0 || l.locks_max == 0 || l.keys_max == 0) return "sessions, locks and keys limits must be >= 1";
  if (l.holders_per_lock_max == 0 || l.waiters_per_lock_max == 0 || l.locks_per_session_max == 0)
    return "per-lock and per-session limits must be >= 1";
  if (l.holders_per_lock_max > UINT32_MAX) return "holders_per_lock_max must fit a semaphore limit";
  if (l.key_bytes_max < 2 || l.name_bytes_max < 1) return "key_bytes_max must be >= 2 and name_bytes_max >= 1";
  // Configurable sizes: compare without a sum that could wrap.
  if (l.key_bytes_max > l.store_bytes_max || l.value_bytes_max > l.store_bytes_max - l.key_bytes_max)
    return "store_bytes_max must hold one key and value";
  if (l.txn_ops_max == 0 || l.dedup_entries_max == 0 || l.events_max == 0 || l.list_results_max == 0)
    return "txn_ops_max, dedup_entries_max, events_max and list_results_max must be >= 1";
  if (l.key_bytes_max > l.events_bytes_max || l.value_bytes_max > l.events_bytes_max - l.key_bytes_max)
    return "events_bytes_max must hold one put";
  if (l.renewals_per_checkpoint_max == 0) return "renewals_per_checkpoint_max must be >= 1";
  if (l.idempotency_entries_max == 0 || l.records_per_session_max == 0)
    return "idempotency_entries_max and records_per_session_max must be >= 1";
  const ZnodeLimits& z = config.znodes;
  if (z.znodes_max < 4) return "znodes.znodes_max must hold the four znodes ZooKeeper starts with";
  if (z.path_bytes_max < 32) return "znodes.path_bytes_max must be >= 32";
  if (z.children_max == 0 || z.multi_ops_max == 0) return "znodes.children_max and znodes.multi_ops_max must be >= 1";
  if (z.path_bytes_max > z.store_bytes_max / 2 || z.data_bytes_max > z.store_bytes_max / 2)
    return "znodes.store_bytes_max must hold the first znodes and one largest znode";
  if (l.idempotency_retention_ms < 1 || l.idempotency_retention_ms > kRetentionMsMax)
    return "idempotency_retention_ms must be in [1 ms, 7 days]";
  if (config.grant_validity_ms_min < 0 || config.grant_validity_ms_min >= kTtlMsMin)
    return "grant_validity_ms_min must be in [0, kTtlMsMin)";
  if (config.drift_bound_percent < 0 || config.drift_bound_percent > 100) return "drift_bound_percent must be in [0, 100]";
  return {};
}

static_assert(sizeof(Limits) == 24 * sizeof(size_t), "a new limit joins config_digest and the server's flags");
uint64_t config_digest(const Config& config) {
  const Limits& l = config.limits;
  // FNV-1a over the fields in a fixed order; a new field goes at the end.
  uint64_t hash = 0xcbf29ce484222325ULL;
  const auto mix = [&hash](uint64_t v) {
    for (int i = 0; i < 8; ++i) {
      hash ^= (v >> (8 * i)) & 0xff;
      hash *= 0x100000001b3ULL;
    }
  };
  for (size_t v : {l.sessions_max,
                   l.locks_max,
                   l.holders_per_lock_max,
                   l.waiters_per_lock_max,
                   l.locks_per_session_max,
                   l.keys_max,
                   l.ephemeral_keys_per_session_max,
                   l.key_bytes_max,
                   l.name_bytes_max,
                   l.value_bytes_max,
                   l.store_bytes_max,
                   l.reason_bytes_max,
                   l.losses_per_session_max,
                   l.txn_ops_max,
                   l.txn_guards_max,
                   l.delete_prefix_keys_max,
                   l.renewals_per_checkpoint_max,
                   l.events_max,
                   l.events_bytes_max,
                   l.dedup_entries_max,
                   l.list_results_max,
                   l.idempotency_entries_max,
                   l.records_per_session_max}) {
    mix(v);
  }
  mix(static_cast<uint64_t>(l.idempotency_retention_ms));
  mix(static_cast<uint64_t>(config.grant_validity_ms_min));
  mix(static_cast<uint64_t>(config.drift_bound_percent));
  const ZnodeLimits& z = config.znodes;
  for (size_t v :
       {z.znodes_max, z.path_bytes_max, z.data_bytes_max, z.children_max, z.store_bytes_max, z.multi_ops_max})
    mix(v);
  return hash;
}

// ---- the facade ----
StateMachine::StateMachine(Config config) {
  const std::string problem = validate(config);
  SYNOD_ASSERT_MSG(problem.empty(), problem.c_str());
  machine_ = std::make_unique<detail::Machine>(config);
}
StateMachine::~StateMachine() = default;
StateMachine::StateMachine(StateMachine&&) noexcept = default;
StateMachine& StateMachine::operator=(StateMachine&&) noexcept = default;

Result StateMachine::apply(const LogEntry& entry) { return machine_->apply(entry, nullptr); }
Result StateMachine::apply(const LogEntry& entry, ZnodeEvents& fired) { return machine_->apply(entry, &fired); }
const Config& StateMachine::config() const { return machine_->config(); }
Revision StateMachine::revision() const { return machine_->revision(); }
int64_t StateMachine::log_time_ms() const { return machine_->log_time_ms(); }
std::optional<SessionView> StateMachine::session(SessionId id) const { return machine_->session_view(id); }
std::vector<SessionView> StateMachine::sessions(SessionId after, size_t limit) const {
  return machine_->session_views(after, limit);
}
std::optional<LockView> StateMachine::lock(std::string_view name) const { return machine_->lock_view(name); }
std::vector<std::string> StateMachine::lock_names(std::string_view after, size_t limit) const {
  return machine_->lock_names(after, limit);
}

bool StateMachine::validate_token(std::string_view name, FencingToken token) const {
  return machine_->validate_token(name, token);
}
std::optional<ElectionView> StateMachine::election(std::string_view name) const {
  return machine_->election_view(name);
}
std::optional<KeyView> StateMachine::get(std::string_view key) const { return machine_->key_view(key); }
KeyList StateMachine::list(std::string_view prefix, std::string_view after, size_t limit) const {
  return machine_->key_list(prefix, after, limit);
}
Events StateMachine::events(Revision after, const EventFilter& filter, size_t limit) const {
  return machine_->events_since(after, filter, limit);
}
std::optional<ZnodeView> StateMachine::znode(std::string_view path) const { return machine_->znode_view(path); }
std::optional<ZnodeStat> StateMachine::znode_stat(std::string_view path) const { return machine_->znode_stat(path); }
std::optional<ZnodeChildren> StateMachine::znode_children(std::string_view path) const {
  return machine_->znode_children(path);
}
std::vector<std::string> StateMachine::session_znodes(SessionId session, std::string_view prefix) const {
  return machine_->session_znodes(session, prefix);
}
std::optional<size_t> StateMachine::znode_descendants(std::string_view path) const {
  return machine_->znode_descendants(path);
}
const Result* StateMachine::recorded(ClientId client_id, uint64_t seq) const {
  return machine_->recorded(client_id, seq);
}
Counts StateMachine::counts() const { return machine_->counts(); }
std::optional<SessionLease> StateMachine::lease(SessionId id) const { return machine_->lease(id); }
SessionHistory StateMachine::session_history(SessionId id) const { return machine_->session_history(id); }
std::vector<SessionLease> StateMachine::leases_by_deadline(int64_t after_deadline_ms, SessionId after_session,
                                                           size_t limit) const {
  return machine_->leases_by_deadline(after_deadline_ms, after_session, limit);
}
bool StateMachine::needs_time() const { return machine_->needs_time(); }
std::vector<std::string> StateMachine::reapable_containers(size_t limit) const {
  return machine_->reapable_containers(limit);
}
std::string StateMachine::snapshot(size_t reserve_bytes) const { return machine_->snapshot(reserve_bytes); }
bool StateMachine::restore(std::string_view bytes) {
  auto restored = detail::Machine::restore(machine_->config(), bytes);
  if (!restored) return false;
  machine_ = std::move(restored);
  return true;
}

namespace detail {

// ---- the apply loop ----
Result Machine::apply(const LogEntry& entry, ZnodeEvents* fired) {
  SYNOD_ASSERT(entry.slot >= 1 && entry.slot <= kSlotMax);
  SYNOD_ASSERT(entry.index < kBatchCommandsMax);
  const Revision revision = make_revision(entry.slot, entry.index);
  SYNOD_ASSERT_MSG(revision > revision_, "entries are applied in log order, each once");
  revision_ = revision;

  fired_ = fired;  // znode events of this entry, timers' and session ends' included
  const Decoded decoded = decode(entry.payload);
  if (decoded.ok) advance_time(decoded.time_ms);

  Result result;
  const Result* previous = entry.client_id != 0 ? recorded(entry.client_id, entry.seq) : nullptr;
  if (previous != nullptr) {
    result = *previous;  // a retry: the first answer, and no second effect
  } else {
    result = decoded.ok ? judge_and_dispatch(decoded, entry.client_id, entry.seq)
                        : fail(Status::invalid_argument, decoded.error);
    result.revision = revision_;
    if (entry.client_id != 0) {
      const SessionId owner = decoded.ok ? owner_of(decoded.command, result) : kNoSession;
      exactly_once_.record(DedupKey{entry.client_id, entry.seq}, result, owner, log_time_ms_);
    }
  }
  trim_events();
  fired_ = nullptr;
  return result;
}

Result Machine::dispatch(const Command& command, ClientId client_id, uint64_t seq) {
  struct Visitor {
    Machine& m;
    ClientId client_id;
    uint64_t seq;
    Result operator()(const CreateSession& c) { return m.create_session(c); }
    Result operator()(const DeleteSession& c) { return m.delete_session(c); }
    Result operator()(const RenewSessions& c) { return m.renew_sessions(c); }
    Result operator()(const ExpireSession& c) { return m.expire_session(c); }
    Result operator()(const Acquire& c) { return m.acquire(c, client_id, seq); }
    Result operator()(const Release& c) { return m.release(c); }
    Result operator()(const ForceRelease& c) { return m.force_release(c); }
    Result operator()(const Campaign& c) { return m.campaign(c, client_id, seq); }
    Result operator()(const Proclaim& c) { return m.proclaim(c); }
    Result operator()(const Resign& c) { return m.resign(c); }
    Result operator()(const Put& c) { return m.put(c); }
    Result operator()(const DeleteKey& c) { return m.delete_key(c); }
    Result operator()(const Txn& c) { return m.txn(c); }
    Result operator()(const CreateSessionAnd& c) { return m.create_session_and(c, client_id, seq); }
    Result operator()(const SetAuth& c) { return m.set_auth(c); }
    Result operator()(const CreateToken& c) { return m.create_token(c); }
    Result operator()(const RevokeToken& c) { return m.revoke_token(c); }
    Result operator()(const PutRule& c) { return m.put_rule(c); }
    Result operator()(const DeleteRule& c) { return m.delete_rule(c); }
    Result operator()(const ZnodeCreate& c) { return m.znode_create(c); }
    Result operator()(const ZnodeDelete& c) { return m.znode_delete(c); }
    Result operator()(const ZnodeSetData& c) { return m.znode_set_data(c); }
    Result operator()(const ZnodeCheck& c) { return m.znode_check(c); }
    Result operator()(const ZnodeMulti& c) { return m.znode_multi(c); }
    Result operator()(const ZnodeSetAcl& c) { return m.znode_set_acl(c); }
    Result operator()(const ZnodeReapContainer& c) { return m.znode_reap_container(c, client_id); }
  };
  return std::visit(Visitor{*this, client_id, seq}, command);
}

Result Machine::fail(Status status, std::string message) const {
  Result result;
  result.status = status;
  result.message = std::move(message);
  return result;
}

void Machine::advance_time(int64_t time_ms) {
  log_time_ms_ = std::max(log_time_ms_, time_ms);
  run_timers();
  exactly_once_.expire(log_time_ms_);
}

void Machine::run_timers() {
  // Grants deferred from the previous command (see Lock::released_token_max).
  if (!regrants_.empty()) {
    const std::set<LockRef> refs = std::exchange(regrants_, {});
    for (const LockRef& ref : refs) {
      auto it = table(ref.space).find(ref.name);
      if (it == table(ref.space).end()) continue;
      it->second.regrant_pending = false;
      settle(ref);
    }
  }
  while (!waiter_timers_.empty() && waiter_timers_.begin()->at <= log_time_ms_) {
    const WaiterTimer timer = *waiter_timers_.begin();
    auto it = table(timer.ref.space).find(timer.ref.name);
    SYNOD_ASSERT_MSG(it != table(timer.ref.space).end(), "a waiter timer names a live lock");
    auto& waiters = it->second.waiters;
    auto waiter = std::find_if(waiters.begin(), waiters.end(),
                               [&](const Waiter& w) { return w.session == timer.session; });
    SYNOD_ASSERT_MSG(waiter != waiters.end(), "a waiter timer names a queued waiter");
    remove_waiter(timer.ref, it->second, static_cast<size_t>(waiter - waiters.begin()), Departure::timed_out);
    settle(timer.ref);
  }
  while (!delay_timers_.empty() && delay_timers_.begin()->first <= log_time_ms_) {
    const LockRef ref = delay_timers_.begin()->second;
    delay_timers_.erase(delay_timers_.begin());
    settle(ref);
  }
}

// ---- the exactly-once table ----
const Result* Machine::recorded(ClientId client_id, uint64_t seq) const {
  return exactly_once_.find(DedupKey{client_id, seq});
}

// The live session a command acted for, whose record it keeps while it lives
// (exactly_once.h); kNoSession if none.
SessionId Machine::owner_of(const Command& command, const Result& result) const {
  const SessionId session = std::visit(
      [&](const auto& c) -> SessionId {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, CreateSession> || std::is_same_v<T, CreateSessionAnd>) {
          return result.status == Status::ok ? result.session : kNoSession;
        } else if constexpr (std::is_same_v<T, Acquire> || std::is_same_v<T, Release> || std::is_same_v<T, Campaign> ||
                             std::is_same_v<T, Resign> || std::is_same_v<T, Put> || std::is_same_v<T, ZnodeCreate> ||
                             std::is_same_v<T, ZnodeDelete> || std::is_same_v<T, ZnodeSetData> ||
                             std::is_same_v<T, ZnodeCheck> || std::is_same_v<T, ZnodeMulti> ||
                             std::is_same_v<T, ZnodeSetAcl>) {
          return c.session;
        } else {
          return kNoSession;
        }
      },
      command);
  return session != kNoSession && find_session(session) != nullptr ? session : kNoSession;
}

void Machine::update_record(ClientId client_id, uint64_t seq, const Result& result) {
  if (client_id == 0) return;
  exactly_once_.update(DedupKey{client_id, seq}, result);  // gone: nobody can ask any more
}

// ---- events ----
namespace {
// Counted per event on top of its name and value, so that events_bytes_max
// bounds memory even for events with empty names.
constexpr size_t kEventOverheadBytes = sizeof(Event);
}  // namespace

void Machine::emit(EventType type, Space space, std::string_view name, std::string_view value, SessionId session,
                   FencingToken token) {
  events_.push_back(Event{revision_, type, space, std::string(name), std::string(value), session, token});
  event_bytes_ += name.size() + value.size() + kEventOverheadBytes;
}

void Machine::emit_restored(Event event) {
  event_bytes_ += event.name.size() + event.value.size() + kEventOverheadBytes;
  events_.push_back(std::move(event));
}

void Machine::trim_events() {
  auto drop_front = [this] {
    const Event& event = events_.front();
    event_bytes_ -= event.name.size() + event.value.size() + kEventOverheadBytes;
    compacted_revision_ = event.revision;
    events_.pop_front();
  };
  if (events_.size() <= limits().events_max && event_bytes_ <= limits().events_bytes_max) return;
  while (!events_.empty() && (events_.size() > limits().events_max || event_bytes_ > limits().events_bytes_max))
    drop_front();
  // Whole revisions only: a watcher resumes after a revision, so a revision
  // whose events are partly gone is wholly compacted.
  while (!events_.empty() && events_.front().revision == compacted_revision_) drop_front();
}

// ---- sessions ----
Session* Machine::find_session(SessionId id) {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : &it->second;
}
const Session* Machine::find_session(SessionId id) const {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : &it->second;
}

Result Machine::create_session(const CreateSession& c) {
  if (c.ttl_ms < kTtlMsMin || c.ttl_ms > kTtlMsMax)
    return fail(Status::invalid_argument, "ttl_ms must be in [" + std::to_string(kTtlMsMin) + ", " +
                                              std::to_string(kTtlMsMax) + "]");
  if (c.lock_delay_ms < 0 || c.lock_delay_ms > kLockDelayMsMax)
    return fail(Status::invalid_argument, "lock_delay_ms must be in [0, " + std::to_string(kLockDelayMsMax) + "]");
  if (sessions_.size() >= limits().sessions_max) return fail(Status::limit_exceeded, "too many sessions");
  const SessionId id = revision_;
  Session session;
  session.ttl_ms = c.ttl_ms;
  session.lock_delay_ms = c.lock_delay_ms;
  session.behavior = c.behavior;
  session.created_log_ms = log_time_ms_;
  session.renewed_log_ms = log_time_ms_;
  deadlines_.emplace(session.deadline_log_ms(), id);
  const bool inserted = sessions_.emplace(id, std::move(session)).second;
  SYNOD_ASSERT_MSG(inserted, "session ids are revisions, so unique");
  emit(EventType::created, Space::session, {}, {}, id, 0);
  Result result;
  result.session = id;
  result.valid_for_ms = conservative_ms(c.ttl_ms, config_.drift_bound_percent);
  return result;
}

Result Machine::create_session_and(const CreateSessionAnd& c, ClientId client_id, uint64_t seq) {
  Result created = create_session(c.create);
  if (created.status != Status::ok) return created;
  const SessionId id = created.session;
  Result result;
  if (const auto* acquire = std::get_if<Acquire>(&c.then)) {
    Acquire inner = *acquire;
    inner.session = id;
    result = this->acquire(inner, client_id, seq);
  } else {
    Campaign inner = std::get<Campaign>(c.then);
    inner.session = id;
    result = campaign(inner, client_id, seq);
  }
  if (result.status != Status::ok && result.status != Status::queued) {
    // All or nothing: no session outlives a refused acquire. It holds and
    // waits for nothing, so ending it touches no lock.
    end_session(id, Departure::released);
    return result;
  }
  SYNOD_ASSERT(result.session == id);
  return result;
}

Result Machine::delete_session(const DeleteSession& c) {
  if (find_session(c.session) == nullptr) return fail(Status::not_found, "no such session");
  end_session(c.session, Departure::released);
  Result result;
  result.session = c.session;
  return result;
}

Result Machine::renew_sessions(const RenewSessions& c) {
  if (c.sessions.size() > limits().renewals_per_checkpoint_max)
    return fail(Status::too_large, "too many renewals in one checkpoint");
  std::vector<LockRef> waited;
  Result result;
  for (SessionId id : c.sessions) {
    Session* session = find_session(id);
    if (session == nullptr) continue;  // ended since the leader heard from it
    deadlines_.erase({session->deadline_log_ms(), id});
    session->renewed_log_ms = log_time_ms_;
    deadlines_.emplace(session->deadline_log_ms(), id);
    ++result.count;
    // A queue whose head waited for this session's validity may now grant.
    if (session->waits > 0) waited.insert(waited.end(), session->locks.begin(), session->locks.end());
  }
  for (const LockRef& ref : waited) settle(ref);
  return result;
}

Result Machine::expire_session(const ExpireSession& c) {
  const Session* session = find_session(c.session);
  if (session == nullptr) return fail(Status::not_found, "no such session");
  if (log_time_ms_ < session->deadline_log_ms()) {
    // The keeper of a deposed leader, or a renewal that overtook the expiry:
    // the log knows a later deadline, and the log wins.
    Result result = fail(Status::too_early, "the session's logged deadline has not passed");
    result.until_ms = session->deadline_log_ms();
    return result;
  }
  end_session(c.session, Departure::expired);
  Result result;
  result.session = c.session;
  return result;
}

void Machine::end_session(SessionId id, Departure cause) {
  Session& session = sessions_.at(id);
  const std::vector<LockRef> refs(session.locks.begin(), session.locks.end());
  // Waits first, so that releasing a grant cannot hand another lock to the
  // session that is ending.
  for (const LockRef& ref : refs) {
    Lock& lock = table(ref.space).at(ref.name);
    for (size_t i = 0; i < lock.waiters.size(); ++i) {
      if (lock.waiters[i].session != id) continue;
      remove_waiter(ref, lock, i, Departure::session_ended);
      break;
    }
  }
  for (const LockRef& ref : refs) {
    Lock& lock = table(ref.space).at(ref.name);
    for (size_t i = 0; i < lock.holders.size(); ++i) {
      if (lock.holders[i].session != id) continue;
      remove_holder(ref, lock, i, cause, {});
      // Lock-delay after an involuntary loss only (Chubby): a holder that
      // expired may still believe it holds the lock.
      if (cause == Departure::expired) start_lock_delay(ref, lock, session.lock_delay_ms);
      break;
    }
  }
  SYNOD_ASSERT(session.locks.empty() && session.waits == 0);
  for (const LockRef& ref : refs) settle(ref);
  end_session_keys(id, session, cause);
  end_session_znodes(id);  // ephemerals go with their session, as ZooKeeper's closeSession
  deadlines_.erase({session.deadline_log_ms(), id});
  sessions_.erase(id);
  auth_.session_ended(id);
  exactly_once_.session_ended(id, log_time_ms_);
  emit(cause == Departure::expired ? EventType::expired : EventType::deleted, Space::session, {}, {}, id, 0);
}

SessionView Machine::make_session_view(SessionId id, const Session& session) const {
  SessionView view;
  view.id = id;
  view.ttl_ms = session.ttl_ms;
  view.lock_delay_ms = session.lock_delay_ms;
  view.behavior = session.behavior;
  view.created_log_ms = session.created_log_ms;
  view.renewed_log_ms = session.renewed_log_ms;
  view.deadline_log_ms = session.deadline_log_ms();
  view.valid_for_ms = conservative_ms(validity_ms(session), config_.drift_bound_percent);
  for (const LockRef& ref : session.locks) {
    const Lock& lock = table(ref.space).at(ref.name);
    const bool holds = std::any_of(lock.holders.begin(), lock.holders.end(),
                                   [id](const Holder& h) { return h.session == id; });
    if (!holds) continue;
    (ref.space == Space::election ? view.elections : view.locks).push_back(ref.name);
  }
  view.waits = session.waits;
  view.ephemeral_keys = session.keys.size();
  view.losses = session.losses;
  return view;
}

std::optional<SessionView> Machine::session_view(SessionId id) const {
  const Session* session = find_session(id);
  if (session == nullptr) return std::nullopt;
  return make_session_view(id, *session);
}

std::vector<SessionView> Machine::session_views(SessionId after, size_t limit) const {
  std::vector<SessionView> views;
  limit = std::min(limit, limits().list_results_max);
  for (auto it = sessions_.upper_bound(after); it != sessions_.end() && views.size() < limit; ++it)
    views.push_back(make_session_view(it->first, it->second));
  return views;
}

std::optional<SessionLease> Machine::lease(SessionId id) const {
  const Session* session = find_session(id);
  if (session == nullptr) return std::nullopt;
  return SessionLease{id, session->ttl_ms, session->renewed_log_ms, session->deadline_log_ms()};
}

// Exact while the event window reaches back to `id`: every event after
// compacted_revision_ is in the window, and creating a session emits
// `created` at its id.
SessionHistory Machine::session_history(SessionId id) const {
  if (find_session(id) != nullptr) return SessionHistory::live;
  if (id < make_revision(1, 0) || id > revision_) return SessionHistory::never;
  if (id <= compacted_revision_) return SessionHistory::unknown;
  auto it = std::partition_point(events_.begin(), events_.end(), [id](const Event& e) { return e.revision < id; });
  for (; it != events_.end() && it->revision == id; ++it) {
    if (it->type == EventType::created && it->space == Space::session && it->session == id) return SessionHistory::ended;
  }
  return SessionHistory::never;
}

std::vector<SessionLease> Machine::leases_by_deadline(int64_t after_deadline_ms, SessionId after_session,
                                                      size_t limit) const {
  std::vector<SessionLease> leases;
  for (auto it = deadlines_.upper_bound({after_deadline_ms, after_session});
       it != deadlines_.end() && leases.size() < limit; ++it) {
    const Session& session = sessions_.at(it->second);
    leases.push_back(SessionLease{it->second, session.ttl_ms, session.renewed_log_ms, it->first});
  }
  return leases;
}

Counts Machine::counts() const {
  Counts counts;
  counts.sessions = sessions_.size();
  counts.locks = locks_.size();
  counts.elections = elections_.size();
  counts.keys = keys_.size();
  counts.store_bytes = store_bytes_;
  counts.events = events_.size();
  counts.event_bytes = event_bytes_;
  counts.dedup_entries = exactly_once_.size();
  counts.znodes = znodes_.size();
  counts.znode_bytes = znode_bytes_;
  for (const auto* t : {&locks_, &elections_})
    for (const auto& [name, lock] : *t) counts.waiters += lock.waiters.size();
  return counts;
}

}  // namespace detail
}  // namespace synod::lockservice
