// The leader's session keeper (see session_keeper.h for the rules and bounds).
#include "lockservice/session_keeper.h"

#include <algorithm>
#include <utility>

#include "base/assert.h"

namespace synod::lockservice {
namespace {
constexpr size_t kScanPageSessions = 256;
}  // namespace

std::string validate(const KeeperConfig& config) {
  if (config.checkpoint_interval_ms <= 0 || config.checkpoint_interval_ms * 3 > kTtlMsMin)
    return "checkpoint_interval_ms must be in [1, kTtlMsMin / 3]";
  if (config.takeover_grace_ms < 0 || config.takeover_grace_ms > kTtlMsMax) return "takeover_grace_ms out of range";
  if (config.expire_retry_ms <= 0) return "expire_retry_ms must be positive";
  if (config.expiries_per_tick_max == 0) return "expiries_per_tick_max must be >= 1";
  if (config.drift_bound_percent < 0 || config.drift_bound_percent > 100) return "drift_bound_percent must be in [0, 100]";
  return {};
}

SessionKeeper::SessionKeeper(KeeperConfig config) : config_(config) {
  const std::string problem = validate(config_);
  SYNOD_ASSERT_MSG(problem.empty(), problem.c_str());
}

void SessionKeeper::lead(const StateMachine& machine, int64_t mono_now_ms, int64_t takeover_credit_ms) {
  SYNOD_ASSERT(takeover_credit_ms >= 0);
  follow();
  leading_ = true;
  base_log_ms_ = machine.log_time_ms() + takeover_credit_ms;
  base_mono_ms_ = mono_now_ms;
  takeover_log_ms_ = base_log_ms_;
  // The first tick checkpoints at once: it logs the takeover time and any
  // renewal that arrives meanwhile.
  checkpoint_urgent_ = true;
  last_checkpoint_ms_ = base_log_ms_;
}

void SessionKeeper::follow() {
  leading_ = false;
  checkpoint_urgent_ = false;
  pending_.clear();
  proposed_.clear();
  expiring_.clear();
}

int64_t SessionKeeper::log_now_ms(const StateMachine& machine, int64_t mono_now_ms) const {
  SYNOD_ASSERT_MSG(leading_, "only a leader stamps log time");
  SYNOD_ASSERT_MSG(mono_now_ms >= base_mono_ms_, "the monotonic clock went backwards");
  return std::max(base_log_ms_ + (mono_now_ms - base_mono_ms_), machine.log_time_ms());
}

// max(D, min(T, D) + g): non-decreasing in D, which lets the expiry scan
// stop at the first session whose grace deadline is ahead.
int64_t SessionKeeper::grace_deadline(int64_t logged_deadline_ms) const {
  return std::max(logged_deadline_ms, std::min(takeover_log_ms_, logged_deadline_ms) + config_.takeover_grace_ms);
}

int64_t SessionKeeper::deadline_of(const SessionLease& lease) const {
  int64_t deadline = grace_deadline(lease.deadline_log_ms);
  for (const auto* renewals : {&pending_, &proposed_}) {
    auto it = renewals->find(lease.session);
    if (it != renewals->end()) deadline = std::max(deadline, it->second + lease.ttl_ms);
  }
  return deadline;
}

std::optional<int64_t> SessionKeeper::deadline_ms(const StateMachine& machine, SessionId session) const {
  const auto lease = machine.lease(session);
  if (!lease) return std::nullopt;
  return deadline_of(*lease);
}

KeepAliveAnswer SessionKeeper::keep_alive(const StateMachine& machine, SessionId session, int64_t mono_now_ms) {
  const auto lease = machine.lease(session);
  if (!lease) {
    // This leader has applied every session a client can have been told of,
    // so an id the machine knows was never a session is not_found; one that
    // ended, or is too old to tell, is session_expired.
    const bool never = machine.session_history(session) == SessionHistory::never;
    return KeepAliveAnswer{never ? Status::not_found : Status::session_expired, 0};
  }
  if (expiring_.count(session) != 0) return KeepAliveAnswer{Status::session_expired, 0};
  const int64_t now = log_now_ms(machine, mono_now_ms);
  pending_[session] = now;
  // Little logged validity left (a failover lost renewals): log this one at
  // the next tick rather than after the interval.
  if (lease->deadline_log_ms - now < lease->ttl_ms / 2) checkpoint_urgent_ = true;
  return KeepAliveAnswer{Status::ok, conservative_ms(lease->deadline_log_ms - now, config_.drift_bound_percent)};
}

std::vector<Command> SessionKeeper::tick(const StateMachine& machine, int64_t mono_now_ms) {
  SYNOD_ASSERT(leading_);
  const int64_t now = log_now_ms(machine, mono_now_ms);
  std::vector<Command> out;
  const bool due = now - last_checkpoint_ms_ >= config_.checkpoint_interval_ms;
  if ((due || checkpoint_urgent_) && (machine.needs_time() || !pending_.empty())) {
    forget_applied(machine, now);
    propose_checkpoint(machine, now, out);
  }
  propose_expiries(machine, now, out);
  return out;
}

// Drops what the log already knows: renewals whose checkpoint was applied,
// sessions that ended. Expiries that did not take effect are forgotten after
// expire_retry_ms, so the scan proposes them again.
void SessionKeeper::forget_applied(const StateMachine& machine, int64_t now_ms) {
  for (auto it = proposed_.begin(); it != proposed_.end();) {
    const auto lease = machine.lease(it->first);
    it = !lease || lease->renewed_log_ms >= it->second ? proposed_.erase(it) : std::next(it);
  }
  for (auto it = expiring_.begin(); it != expiring_.end();) {
    const bool gone = !machine.lease(it->first);
    it = gone || now_ms - it->second >= config_.expire_retry_ms ? expiring_.erase(it) : std::next(it);
  }
}

void SessionKeeper::propose_checkpoint(const StateMachine& machine, int64_t now_ms, std::vector<Command>& out) {
  const size_t chunk = machine.config().limits.renewals_per_checkpoint_max;
  RenewSessions renew;
  for (const auto& [session, keep_alive_ms] : pending_) {
    renew.sessions.push_back(session);
    proposed_[session] = std::max(proposed_[session], keep_alive_ms);
    if (renew.sessions.size() == chunk) out.emplace_back(std::exchange(renew, {}));
  }
  // Also when nothing was renewed: log time must move for timers and for
  // the next leader's clock, and the keeper's own checks.
  if (!renew.sessions.empty() || pending_.empty()) out.emplace_back(std::move(renew));
  pending_.clear();
  last_checkpoint_ms_ = now_ms;
  checkpoint_urgent_ = false;
}

void SessionKeeper::propose_expiries(const StateMachine& machine, int64_t now_ms, std::vector<Command>& out) {
  size_t proposed = 0;
  int64_t after_deadline = INT64_MIN;
  SessionId after_session = kNoSession;
  for (;;) {
    const auto page = machine.leases_by_deadline(after_deadline, after_session, kScanPageSessions);
    for (const SessionLease& lease : page) {
      // Sorted by D, so the first with a grace deadline ahead ends the scan.
      if (lease.deadline_log_ms > now_ms || grace_deadline(lease.deadline_log_ms) > now_ms) return;
      if (deadline_of(lease) > now_ms || expiring_.count(lease.session) != 0) continue;
      out.emplace_back(ExpireSession{lease.session});
      expiring_[lease.session] = now_ms;
      if (++proposed == config_.expiries_per_tick_max) return;
    }
    if (page.size() < kScanPageSessions) return;
    after_deadline = page.back().deadline_log_ms;
    after_session = page.back().session;
  }
}

}  // namespace synod::lockservice
