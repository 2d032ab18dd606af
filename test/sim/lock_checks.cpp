// The lock-service oracle. The first replica to apply each entry reports the
// entry's result and the watch events it produced (StateMachine::events), so
// the oracle sees every grant, release and expiry exactly once, in log order,
// at the simulated time it first took effect. From those and from what the
// nodes and clients did it checks:
//   - a grant's fencing token is the revision of the command that granted it
//     and strictly above every earlier grant of the lock, and nobody else
//     holds the lock then;
//   - lock-delay: after an expiry took a lock from its holder, no grant
//     before expiry log time + lock-delay in log time, nor before
//     (lock-delay - 1 ms) / (1 + drift) of simulated time since the EXPIRE
//     was stamped (log time, in whole milliseconds, runs at most 1 + drift
//     times as fast as real time);
//   - no client that did not pause believes it holds a lock that is granted
//     to another session, and no session expires while its client (not
//     paused) was still promised validity;
//   - a keep-alive answered while a leader went on serving long enough to
//     log it keeps its session for ttl / (1 + rho) after the answer, whatever
//     the client does next (the keeper's liveness promise, which is what
//     lets a client that keeps sending keep-alives survive failovers);
//   - every session expires within the bound of session_keeper.h after its
//     last answered keep-alive:
//         (1 + rho)(ttl + C + g + 2 tau) + lambda
//           + sum over failovers in between of (F_i + C + tau + lambda)
//     with F_i from the simulation's record of time without a serving leader
//     (a node up, not frozen, serving, its keeper leading, its lease valid)
//     and lambda the slowest commit of a keeper proposal in that time (from
//     its stamp to its first apply, with no failover in between).
#include <algorithm>

#include "sim/simulation.h"

namespace synod::sim::detail {

void Simulation::oracle_command(Node& node, const paxos::Command& command, ls::Revision revision) {
  if (command.client_id == 0) {
    auto proposal = keeper_proposals_.find(command.payload);
    if (proposal != keeper_proposals_.end() && !proposal->second.applied) {
      proposal->second.applied = true;
      const int64_t stamped_at = proposal->second.stamped_at;
      const bool failover = leaderless_since_.has_value() ||
                            (!leaderless_.empty() && leaderless_.back().second > stamped_at);
      if (!failover) commit_latencies_.push_back({now_, now_ - stamped_at});
    }
  }
  const ls::Events events = node.machine().events(revision - 1, ls::EventFilter{}, 4096);
  for (const ls::Event& event : events.events) {
    if (event.revision != revision) continue;
    if (config_.trace) {
      trace("log: %s %s %s session %lu token %lu at revision %lu, log time %ld", ls::event_type_name(event.type),
            event.space == ls::Space::lock ? "lock" : event.space == ls::Space::session ? "session" : "key",
            event.name.c_str(), static_cast<unsigned long>(event.session), static_cast<unsigned long>(event.token),
            static_cast<unsigned long>(revision), static_cast<long>(node.machine().log_time_ms()));
    }
    switch (event.space) {
      case ls::Space::session:
        if (event.type == ls::EventType::created) {
          const auto view = node.machine().session(event.session);
          SYNOD_ASSERT(view.has_value());
          SessionRecord record;
          record.client = command.client_id >= 1000 ? static_cast<size_t>(command.client_id - 1000) : SIZE_MAX;
          record.ttl_ms = view->ttl_ms;
          record.lock_delay_ms = view->lock_delay_ms;
          record.created_at = now_;
          sessions_.emplace(event.session, std::move(record));
          ++result_.sessions_created;
        } else if (event.type == ls::EventType::expired) {
          oracle_session_expired(event.session);
        } else if (auto it = sessions_.find(event.session); it != sessions_.end()) {
          it->second.ended = true;
        }
        break;
      case ls::Space::lock:
        if (event.type == ls::EventType::granted) {
          oracle_grant(node, event);
        } else if (event.type == ls::EventType::released || event.type == ls::EventType::expired ||
                   event.type == ls::EventType::forced) {
          oracle_lock_lost(event, event.type == ls::EventType::expired, node.machine().log_time_ms(), command.payload);
        }
        break;
      case ls::Space::key:
      case ls::Space::election:
        break;
    }
  }
}

void Simulation::oracle_grant(const Node& node, const ls::Event& event) {
  ++result_.lock_grants;
  LockRecord& lock = locks_[event.name];
  const std::string what = event.name + " granted to session " + std::to_string(event.session) + " with token " +
                           std::to_string(event.token);
  if (event.token != event.revision) {
    violation(what + " at revision " + std::to_string(event.revision) + ": a token must be its grant's revision");
  }
  if (event.token <= lock.token) {
    violation(what + ", not above the previous grant's token " + std::to_string(lock.token));
  }
  if (lock.holder != ls::kNoSession) {
    violation(what + " while session " + std::to_string(lock.holder) + " holds it");
  }
  if (lock.delay_pending) {
    ++result_.lock_delay_grants;
    const int64_t log_ms = node.machine().log_time_ms();
    // Log time is whole milliseconds of a clock at most 1 + drift as fast as
    // real time: two stamps lock_delay apart were stamped at least
    // (lock_delay - 1 ms) / (1 + drift) apart.
    const int64_t delay_us = (lock.lock_delay_ms - 1) * kMs * 100 / (100 + keeper_config_.drift_bound_percent);
    if (log_ms < lock.expired_log_ms + lock.lock_delay_ms) {
      violation(what + " at log time " + std::to_string(log_ms) + ", within the lock-delay of " +
                std::to_string(lock.lock_delay_ms) + "ms after the expiry at log time " +
                std::to_string(lock.expired_log_ms));
    }
    if (now_ - lock.expired_stamped_at < delay_us) {
      violation(what + " " + std::to_string((now_ - lock.expired_stamped_at) / kMs) +
                "ms after the expiry was stamped, within its lock-delay of " + std::to_string(lock.lock_delay_ms) +
                "ms");
    }
    lock.delay_pending = false;
  }
  lock.holder = event.session;
  lock.token = event.token;
  grants_[{event.name, event.token}] = event.session;
  if (auto session = sessions_.find(event.session); session != sessions_.end()) {
    session->second.holds.insert(event.name);
  }
  for (size_t index = 0; index < clients_.size(); ++index) {
    const Client& client = clients_[index];
    if (client.kind != Client::Kind::lock || client.lock.lock != event.name || client.lock.paused) continue;
    if (client.lock.session == event.session || !lock_believes(client)) continue;
    violation(what + " while " + client_name(index) + " (not paused) believes it holds it with token " +
              std::to_string(client.lock.token) + " for " +
              std::to_string(client.lock.valid_until_local_ms - client_local_ms(client)) + "ms more");
  }
}

void Simulation::oracle_lock_lost(const ls::Event& event, bool expired, int64_t log_ms, const std::string& payload) {
  LockRecord& lock = locks_[event.name];
  if (lock.holder == event.session) lock.holder = ls::kNoSession;
  auto session = sessions_.find(event.session);
  if (session != sessions_.end()) session->second.holds.erase(event.name);
  if (!expired || session == sessions_.end() || session->second.lock_delay_ms == 0) return;
  auto proposal = keeper_proposals_.find(payload);
  lock.delay_pending = true;
  lock.expired_log_ms = log_ms;
  lock.expired_stamped_at = proposal != keeper_proposals_.end() ? proposal->second.stamped_at : now_;
  lock.lock_delay_ms = session->second.lock_delay_ms;
}

int64_t Simulation::last_answer(const SessionRecord& session) const {
  return session.answered.empty() ? session.created_at : std::max(session.created_at, session.answered.back());
}

int64_t Simulation::expiry_bound_us(const SessionRecord& session, int64_t last_answer, int64_t until) const {
  const int64_t rho = keeper_config_.drift_bound_percent;
  const int64_t checkpoint_ms = keeper_config_.checkpoint_interval_ms;
  const int64_t lambda = commit_latency_us(last_answer, until);
  int64_t failovers = 0;
  auto add = [&](int64_t from, int64_t to) {
    const int64_t outage = std::min(to, until) - std::max(from, last_answer);
    if (outage > 0) failovers += outage + (checkpoint_ms + kKeeperTauMs) * kMs + lambda;
  };
  for (auto it = leaderless_.rbegin(); it != leaderless_.rend() && it->second > last_answer; ++it) {
    add(it->first, it->second);
  }
  if (leaderless_since_) add(*leaderless_since_, until);
  const int64_t base_ms = session.ttl_ms + checkpoint_ms + keeper_config_.takeover_grace_ms + 2 * kKeeperTauMs;
  return base_ms * kMs * (100 + rho) / 100 + lambda + failovers;
}

void Simulation::oracle_session_expired(ls::SessionId id) {
  ++result_.sessions_expired;
  auto found = sessions_.find(id);
  if (found == sessions_.end()) {
    violation("session " + std::to_string(id) + " expired, but was never created");
    return;
  }
  SessionRecord& session = found->second;
  session.ended = true;
  const std::string what = "session " + std::to_string(id) + " (ttl " + std::to_string(session.ttl_ms) + "ms)";
  // The bound, from its last answered keep-alive.
  const int64_t answered = last_answer(session);
  const int64_t bound = expiry_bound_us(session, answered, now_);
  result_.expiry_bound_max_ms = std::max<uint64_t>(result_.expiry_bound_max_ms, static_cast<uint64_t>(bound / kMs));
  const int64_t slack_ms = (bound - (now_ - answered)) / kMs;
  if (result_.expiry_slack_min_ms < 0 || slack_ms < result_.expiry_slack_min_ms) {
    result_.expiry_slack_min_ms = std::max<int64_t>(slack_ms, 0);
  }
  if (now_ - answered > bound && !session.bound_reported) {
    session.bound_reported = true;
    violation(what + " expired " + std::to_string((now_ - answered) / kMs) +
              "ms after its last answered keep-alive, beyond the bound of " + std::to_string(bound / kMs) + "ms");
  }
  check_expiry_after_answers(id, session);
  if (session.client >= clients_.size() || clients_[session.client].kind != Client::Kind::lock) return;
  const Client& client = clients_[session.client];
  const LockClient& lock = client.lock;
  // The client's side: what it was promised, and whether it kept it alive.
  if (lock.session == id && !lock.paused && !lock.session_dead &&
      client_local_ms(client) < lock.valid_until_local_ms) {
    violation(what + " expired while " + client_name(session.client) + " (not paused) was promised " +
              std::to_string(lock.valid_until_local_ms - client_local_ms(client)) + "ms more");
  }
  bool froze = false;
  for (const auto& [from, to] : lock.pauses) froze = froze || (to > now_ - session.ttl_ms * kMs && from < now_);
  if (!froze) ++result_.sessions_expired_not_paused;
}

// A keep-alive answered while a leader went on serving long enough to log it
// (the next checkpoint, C + tau, committed, lambda, by a leader whose lease
// outlasted it, so one cut off from its quorum right after answering does not
// count) renewed the session at no earlier than the answer's log time, so the
// log refuses its expiry for a TTL of log time: at least (ttl - 1 ms) /
// (1 + rho) of real time after the answer (session_keeper.h, LIVENESS). This
// holds whatever the client did afterwards, frozen or not.
void Simulation::check_expiry_after_answers(ls::SessionId id, const SessionRecord& session) {
  const int64_t rho = keeper_config_.drift_bound_percent;
  const int64_t protected_us = (session.ttl_ms - 1) * kMs * 100 / (100 + rho);
  const int64_t lease_us = timing_.lease_ms * kMs;
  for (auto it = session.answered.rbegin(); it != session.answered.rend() && now_ - *it < protected_us; ++it) {
    const int64_t answered = *it;
    const int64_t lambda = commit_latency_us(answered, now_);
    const int64_t logged_by = answered + (keeper_config_.checkpoint_interval_ms + kKeeperTauMs) * kMs + lambda + lease_us;
    if (logged_by > now_ || !served_throughout(answered, logged_by)) continue;
    violation("session " + std::to_string(id) + " (ttl " + std::to_string(session.ttl_ms) + "ms) expired " +
              std::to_string((now_ - answered) / kMs) + "ms after a keep-alive answered while a leader served on " +
              "long enough to log it; it was due to live " + std::to_string(protected_us / kMs) + "ms after it");
    return;
  }
}

bool Simulation::served_throughout(int64_t from, int64_t to) const {
  if (leaderless_since_ && *leaderless_since_ < to) return false;
  for (auto it = leaderless_.rbegin(); it != leaderless_.rend() && it->second > from; ++it) {
    if (it->first < to) return false;
  }
  return true;
}

int64_t Simulation::commit_latency_us(int64_t from, int64_t until) const {
  int64_t lambda = 0;
  for (auto it = commit_latencies_.rbegin(); it != commit_latencies_.rend() && it->first >= from; ++it) {
    if (it->first <= until) lambda = std::max(lambda, it->second);
  }
  return lambda;
}

// Every live session must expire within the bound after its last answered
// keep-alive, however its client behaves and however often leaders change.
void Simulation::check_sessions_expire() {
  for (auto& [id, session] : sessions_) {
    if (session.ended || session.bound_reported) continue;
    const int64_t answered = last_answer(session);
    if (now_ - answered <= session.ttl_ms * kMs) continue;  // far below any bound
    const int64_t bound = expiry_bound_us(session, answered, now_);
    if (now_ - answered <= bound) continue;
    session.bound_reported = true;
    violation("session " + std::to_string(id) + " (ttl " + std::to_string(session.ttl_ms) +
              "ms) still lives " + std::to_string((now_ - answered) / kMs) +
              "ms after its last answered keep-alive, beyond the bound of " + std::to_string(bound / kMs) + "ms");
  }
}

void Simulation::note_leaderless() {
  const bool serving = std::any_of(nodes_.begin(), nodes_.end(), [this](const Node& n) { return serving_leader(n); });
  if (!serving && !leaderless_since_) leaderless_since_ = now_;
  if (serving && leaderless_since_) {
    leaderless_.push_back({*leaderless_since_, now_});
    leaderless_since_.reset();
  }
}

}  // namespace synod::sim::detail
