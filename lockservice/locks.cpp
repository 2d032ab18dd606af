// Locks, semaphores, readers/writer locks and elections.
//
// An election is an exclusive lock in its own name space whose holder is the
// leader, whose waiters are the candidates (FIFO, no timeout) and which
// carries the leader's value. So grants, queues, lock-delay and fencing
// tokens work the same for both, and observers see every leader change
// (announce) including "no leader".
#include <algorithm>

#include "lockservice/machine.h"
#include "base/assert.h"

namespace synod::lockservice::detail {
namespace {

template <typename Entry>
std::optional<size_t> index_of(const std::vector<Entry>& entries, SessionId session) {
  for (size_t i = 0; i < entries.size(); ++i)
    if (entries[i].session == session) return i;
  return std::nullopt;
}

}  // namespace

// ---- commands ----
Result Machine::acquire(const Acquire& c, ClientId client_id, uint64_t seq) {
  std::string message;
  if (const Status status = check_name(c.lock, message); status != Status::ok) return fail(status, message);
  if (c.kind == LockKind::exclusive && c.access == Access::read)
    return fail(Status::invalid_argument, "an exclusive lock has no readers");
  if (c.kind == LockKind::semaphore && (c.limit == 0 || c.limit > limits().holders_per_lock_max))
    return fail(Status::invalid_argument,
                "a semaphore's limit must be in [1, " + std::to_string(limits().holders_per_lock_max) + "]");
  if (c.wait == WaitMode::timeout && (c.wait_ms <= 0 || c.wait_ms > kWaitMsMax))
    return fail(Status::invalid_argument, "wait_ms must be in [1, " + std::to_string(kWaitMsMax) + "]");
  if (c.wait != WaitMode::timeout && c.wait_ms != 0)
    return fail(Status::invalid_argument, "wait_ms is only for WaitMode::timeout");
  AcquireRequest request;
  request.ref = LockRef{Space::lock, c.lock};
  request.session = c.session;
  request.kind = c.kind;
  request.access = c.kind == LockKind::shared ? c.access : Access::write;
  request.limit = lock_limit_for(limits(), c.kind, c.limit);
  request.wait = c.wait;
  request.wait_ms = c.wait_ms;
  request.client_id = client_id;
  request.seq = seq;
  return acquire_in(request);
}

Result Machine::release(const Release& c) {
  std::string message;
  if (const Status status = check_name(c.lock, message); status != Status::ok) return fail(status, message);
  return leave(Space::lock, c.lock, c.session);
}

Result Machine::force_release(const ForceRelease& c) {
  if (c.space != Space::lock && c.space != Space::election)
    return fail(Status::invalid_argument, "only locks and elections can be released by force");
  std::string message;
  if (const Status status = check_name(c.name, message); status != Status::ok) return fail(status, message);
  if (c.reason.size() > limits().reason_bytes_max) return fail(Status::too_large, "the reason is too long");
  const LockRef ref{c.space, c.name};
  auto it = table(c.space).find(c.name);
  if (it == table(c.space).end()) {
    return fail(Status::not_found, c.space == Space::election ? "no such election" : "no such lock");
  }
  Lock& lock = it->second;
  Result result;
  for (size_t i = 0; i < lock.holders.size();) {
    if (c.session != kNoSession && lock.holders[i].session != c.session) {
      ++i;
      continue;
    }
    const int64_t delay_ms = c.skip_lock_delay ? 0 : sessions_.at(lock.holders[i].session).lock_delay_ms;
    remove_holder(ref, lock, i, Departure::forced, c.reason);
    start_lock_delay(ref, lock, delay_ms);
    ++result.count;
  }
  settle(ref);
  if (result.count == 0) return fail(Status::not_found, "no such holder");
  return result;
}

Result Machine::campaign(const Campaign& c, ClientId client_id, uint64_t seq) {
  std::string message;
  if (const Status status = check_name(c.election, message); status != Status::ok) return fail(status, message);
  if (c.value.size() > limits().value_bytes_max) return fail(Status::too_large, "the value is too large");
  AcquireRequest request;
  request.ref = LockRef{Space::election, c.election};
  request.session = c.session;
  request.wait = WaitMode::queue;
  request.value = c.value;
  request.client_id = client_id;
  request.seq = seq;
  return acquire_in(request);
}

Result Machine::proclaim(const Proclaim& c) {
  std::string message;
  if (const Status status = check_name(c.election, message); status != Status::ok) return fail(status, message);
  if (c.value.size() > limits().value_bytes_max) return fail(Status::too_large, "the value is too large");
  auto it = elections_.find(c.election);
  if (it == elections_.end() || it->second.holders.empty()) return fail(Status::not_found, "the election has no leader");
  Lock& election = it->second;
  const Holder& leader = election.holders.front();
  if (leader.token != c.token) return fail(Status::stale_token, "the token is not the current leader's");
  election.value = c.value;
  election.changed = revision_;
  emit(EventType::proclaimed, Space::election, c.election, c.value, leader.session, leader.token);
  Result result;
  result.session = leader.session;
  result.token = leader.token;
  return result;
}

Result Machine::resign(const Resign& c) {
  std::string message;
  if (const Status status = check_name(c.election, message); status != Status::ok) return fail(status, message);
  return leave(Space::election, c.election, c.session);
}

// ---- acquiring ----
Result Machine::acquire_in(const AcquireRequest& r) {
  Session* session = find_session(r.session);
  if (session == nullptr) return fail(Status::session_expired, "no such session (expired or deleted)");
  LockTable& locks = table(r.ref.space);
  auto it = locks.find(r.ref.name);
  if (it != locks.end()) {
    const Lock& lock = it->second;
    if (lock.kind != r.kind || lock.limit != r.limit)
      return fail(Status::conflict, "the lock exists with another kind or limit");
    if (auto holder = index_of(lock.holders, r.session)) {
      // Re-acquiring returns the current grant.
      if (lock.holders[*holder].access != r.access)
        return fail(Status::conflict, "the session holds the lock with the other access");
      return grant_result(lock.holders[*holder], *session);
    }
    if (auto waiter = index_of(lock.waiters, r.session)) {
      // A retry must not queue twice: it learns where it stands.
      Result result = fail(Status::queued, {});
      result.session = r.session;
      result.position = *waiter + 1;
      result.until_ms = lock.waiters[*waiter].deadline_log_ms;
      return result;
    }
  } else if (locks_.size() + elections_.size() >= limits().locks_max) {
    return fail(Status::limit_exceeded, "too many locks");
  }
  if (session->locks.size() >= limits().locks_per_session_max)
    return fail(Status::limit_exceeded, "the session holds or waits for too many locks");
  if (it == locks.end()) {
    Lock fresh;
    fresh.kind = r.kind;
    fresh.limit = r.limit;
    it = locks.emplace(r.ref.name, std::move(fresh)).first;
  }
  Lock& lock = it->second;
  if (can_grant_now(lock, r.access) && validity_ms(*session) >= config_.grant_validity_ms_min)
    return grant(r.ref, lock, r.session, *session, r.access, r.value);
  if (r.wait == WaitMode::try_once) {
    Result result = try_fails(lock, *session, r.access);
    settle(r.ref);  // a lock created just now and not granted goes away again
    return result;
  }
  return enqueue(lock, *session, r);
}

Result Machine::try_fails(const Lock& lock, const Session& session, Access access) const {
  if (lock.delay_until_log_ms > log_time_ms_) {
    Result result = fail(Status::lock_delay, "the lock is in lock-delay after its holder's session expired");
    result.until_ms = lock.delay_until_log_ms;
    return result;
  }
  if (!lock.holders.empty() && (!compatible(lock, access) || !lock.waiters.empty())) {
    Result result = fail(Status::conflict, "the lock is held");
    result.session = lock.holders.front().session;
    result.token = lock.holders.front().token;
    result.count = lock.holders.size();
    return result;
  }
  if (!lock.waiters.empty() || lock.regrant_pending || lock.released_token_max >= revision_) {
    Result result = fail(Status::conflict, "others are queued for the lock");
    result.position = lock.waiters.size();
    return result;
  }
  Result result = fail(Status::validity_low, "the session has too little validity left; keep it alive first");
  result.valid_for_ms = conservative_ms(validity_ms(session), config_.drift_bound_percent);
  return result;
}

Result Machine::enqueue(Lock& lock, Session& session, const AcquireRequest& r) {
  if (lock.waiters.size() >= limits().waiters_per_lock_max) return fail(Status::limit_exceeded, "the queue is full");
  Waiter waiter;
  waiter.session = r.session;
  waiter.access = r.access;
  waiter.enqueued = revision_;
  waiter.deadline_log_ms = r.wait == WaitMode::timeout ? log_time_ms_ + r.wait_ms : kNoDeadline;
  waiter.client_id = r.client_id;
  waiter.seq = r.seq;
  waiter.value = std::string(r.value);
  if (waiter.deadline_log_ms != kNoDeadline)
    waiter_timers_.insert(WaiterTimer{waiter.deadline_log_ms, revision_, r.session, r.ref});
  lock.waiters.push_back(std::move(waiter));
  session.locks.insert(r.ref);
  ++session.waits;
  Result result = fail(Status::queued, {});
  result.session = r.session;
  result.position = lock.waiters.size();
  result.until_ms = lock.waiters.back().deadline_log_ms;
  return result;
}

bool Machine::compatible(const Lock& lock, Access access) const {
  if (lock.holders.empty()) return true;
  switch (lock.kind) {
    case LockKind::exclusive: return false;
    case LockKind::shared:
      return access == Access::read && lock.holders.front().access == Access::read &&
             lock.holders.size() < lock.limit;
    case LockKind::semaphore: return lock.holders.size() < lock.limit;
  }
  return false;
}

// FIFO: nobody passes a waiter, so a try succeeds only with an empty queue.
bool Machine::can_grant_now(const Lock& lock, Access access) const {
  return lock.waiters.empty() && lock.delay_until_log_ms <= log_time_ms_ && !lock.regrant_pending &&
         lock.released_token_max < revision_ && compatible(lock, access);
}

Result Machine::grant(const LockRef& ref, Lock& lock, SessionId id, Session& session, Access access,
                      std::string_view value) {
  SYNOD_ASSERT(compatible(lock, access));
  SYNOD_ASSERT_MSG(revision_ > lock.released_token_max, "fencing tokens of a lock strictly rise");
  SYNOD_ASSERT(!index_of(lock.holders, id));
  lock.holders.push_back(Holder{id, revision_, access, log_time_ms_});
  session.locks.insert(ref);
  if (ref.space == Space::election) {
    lock.value = std::string(value);
    announce(ref, lock);
  } else {
    emit(EventType::granted, Space::lock, ref.name, {}, id, revision_);
  }
  return grant_result(lock.holders.back(), session);
}

Result Machine::grant_result(const Holder& holder, const Session& session) const {
  Result result;
  result.session = holder.session;
  result.token = holder.token;
  result.valid_for_ms = conservative_ms(validity_ms(session), config_.drift_bound_percent);
  return result;
}

void Machine::grant_waiters(const LockRef& ref, Lock& lock) {
  while (!lock.waiters.empty()) {
    if (lock.delay_until_log_ms > log_time_ms_) return;  // the delay timer comes back
    if (lock.released_token_max >= revision_) {
      // A grant of this very revision was released: the next holder needs a
      // higher token, so it is granted at the next command.
      if (!lock.regrant_pending) {
        lock.regrant_pending = true;
        regrants_.insert(ref);
      }
      return;
    }
    const Waiter& head = lock.waiters.front();
    if (!compatible(lock, head.access)) return;
    Session& session = sessions_.at(head.session);
    // The head keeps its place until its session is renewed or ends: FIFO.
    if (validity_ms(session) < config_.grant_validity_ms_min) return;
    Waiter waiter = std::move(lock.waiters.front());
    lock.waiters.erase(lock.waiters.begin());
    if (waiter.deadline_log_ms != kNoDeadline)
      waiter_timers_.erase(WaiterTimer{waiter.deadline_log_ms, waiter.enqueued, waiter.session, ref});
    --session.waits;
    Result result = grant(ref, lock, waiter.session, session, waiter.access, waiter.value);
    result.revision = revision_;
    update_record(waiter.client_id, waiter.seq, result);
  }
}

// ---- leaving ----
Result Machine::leave(Space space, std::string_view name, SessionId session) {
  const LockRef ref{space, std::string(name)};
  auto it = table(space).find(name);
  if (it == table(space).end()) return fail(Status::not_found, "the session neither holds nor waits for it");
  Lock& lock = it->second;
  Result result;
  result.session = session;
  if (auto holder = index_of(lock.holders, session)) {
    result.token = lock.holders[*holder].token;
    remove_holder(ref, lock, *holder, Departure::released, {});
  } else if (auto waiter = index_of(lock.waiters, session)) {
    remove_waiter(ref, lock, *waiter, Departure::cancelled);
  } else {
    return fail(Status::not_found, "the session neither holds nor waits for it");
  }
  settle(ref);
  return result;
}

void Machine::remove_holder(const LockRef& ref, Lock& lock, size_t index, Departure cause, std::string_view reason) {
  const Holder holder = lock.holders[index];
  lock.holders.erase(lock.holders.begin() + static_cast<std::ptrdiff_t>(index));
  lock.released_token_max = std::max(lock.released_token_max, holder.token);
  Session& session = sessions_.at(holder.session);
  const size_t erased = session.locks.erase(ref);
  SYNOD_ASSERT(erased == 1);
  EventType type = EventType::released;
  if (cause == Departure::expired) type = EventType::expired;
  if (cause == Departure::forced) {
    type = EventType::forced;
    // The holder's session records why it lost the lock.
    session.losses.push_back(LockLoss{ref.space, ref.name, holder.token, revision_, std::string(reason)});
    if (session.losses.size() > limits().losses_per_session_max) session.losses.erase(session.losses.begin());
  }
  emit(type, ref.space, ref.name, reason, holder.session, holder.token);
}

void Machine::remove_waiter(const LockRef& ref, Lock& lock, size_t index, Departure cause) {
  const Waiter waiter = std::move(lock.waiters[index]);
  lock.waiters.erase(lock.waiters.begin() + static_cast<std::ptrdiff_t>(index));
  if (waiter.deadline_log_ms != kNoDeadline) {
    const size_t erased = waiter_timers_.erase(WaiterTimer{waiter.deadline_log_ms, waiter.enqueued, waiter.session, ref});
    SYNOD_ASSERT(erased == 1);
  }
  Session& session = sessions_.at(waiter.session);
  const size_t erased = session.locks.erase(ref);
  SYNOD_ASSERT(erased == 1 && session.waits > 0);
  --session.waits;
  Status status = Status::cancelled;
  if (cause == Departure::timed_out) status = Status::timed_out;
  if (cause == Departure::session_ended) status = Status::session_expired;
  emit(cause == Departure::timed_out ? EventType::timed_out : EventType::cancelled, ref.space, ref.name, {},
       waiter.session, 0);
  Result result = fail(status, cause == Departure::timed_out ? "the wait timed out" : "the wait ended");
  result.revision = revision_;
  result.session = waiter.session;
  update_record(waiter.client_id, waiter.seq, result);
}

void Machine::start_lock_delay(const LockRef& ref, Lock& lock, int64_t delay_ms) {
  if (delay_ms <= 0) return;
  const int64_t until = log_time_ms_ + delay_ms;
  if (until <= lock.delay_until_log_ms) return;
  delay_timers_.erase({lock.delay_until_log_ms, ref});
  lock.delay_until_log_ms = until;
  delay_timers_.insert({until, ref});
}

// Grants what can be granted, tells election observers, and removes a lock
// that has nothing left.
void Machine::settle(const LockRef& ref) {
  LockTable& locks = table(ref.space);
  auto it = locks.find(ref.name);
  if (it == locks.end()) return;
  Lock& lock = it->second;
  grant_waiters(ref, lock);
  if (ref.space == Space::election) announce(ref, lock);
  if (!lock.holders.empty() || !lock.waiters.empty() || lock.regrant_pending) return;
  if (lock.delay_until_log_ms > log_time_ms_) return;
  delay_timers_.erase({lock.delay_until_log_ms, ref});
  locks.erase(it);
}

void Machine::announce(const LockRef& ref, Lock& lock) {
  const SessionId leader = lock.holders.empty() ? kNoSession : lock.holders.front().session;
  if (leader == lock.announced) return;
  lock.announced = leader;
  lock.changed = revision_;
  if (leader == kNoSession) {
    lock.value.clear();
    emit(EventType::no_leader, Space::election, ref.name, {}, kNoSession, 0);
  } else {
    emit(EventType::leader, Space::election, ref.name, lock.value, leader, lock.holders.front().token);
  }
}

// ---- queries ----
namespace {
std::vector<WaiterView> waiter_views(const Lock& lock) {
  std::vector<WaiterView> views;
  views.reserve(lock.waiters.size());
  for (const Waiter& w : lock.waiters) views.push_back(WaiterView{w.session, w.access, w.enqueued, w.deadline_log_ms});
  return views;
}
}  // namespace

std::optional<LockView> Machine::lock_view(std::string_view name) const {
  auto it = locks_.find(name);
  if (it == locks_.end()) return std::nullopt;
  const Lock& lock = it->second;
  LockView view;
  view.name = std::string(name);
  view.kind = lock.kind;
  view.limit = lock.limit;
  for (const Holder& h : lock.holders) view.holders.push_back(HolderView{h.session, h.token, h.access, h.granted_log_ms});
  view.waiters = waiter_views(lock);
  view.delay_until_log_ms = lock.delay_until_log_ms;
  return view;
}

std::vector<std::string> Machine::lock_names(std::string_view after, size_t limit) const {
  std::vector<std::string> names;
  for (auto it = locks_.upper_bound(after); it != locks_.end() && names.size() < limit; ++it) {
    names.push_back(it->first);
  }
  return names;
}

bool Machine::validate_token(std::string_view name, FencingToken token) const {
  auto it = locks_.find(name);
  if (it == locks_.end() || token == 0) return false;
  const auto& holders = it->second.holders;
  return std::any_of(holders.begin(), holders.end(), [token](const Holder& h) { return h.token == token; });
}

std::optional<ElectionView> Machine::election_view(std::string_view name) const {
  auto it = elections_.find(name);
  if (it == elections_.end()) return std::nullopt;
  const Lock& election = it->second;
  ElectionView view;
  view.name = std::string(name);
  if (!election.holders.empty()) {
    view.leader = election.holders.front().session;
    view.token = election.holders.front().token;
    view.value = election.value;
  }
  view.changed = election.changed;
  view.candidates = waiter_views(election);
  view.delay_until_log_ms = election.delay_until_log_ms;
  return view;
}

}  // namespace synod::lockservice::detail
