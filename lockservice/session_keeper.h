// SessionKeeper: the leader's side of sessions, and the leader's log clock.
//
// Keep-alives are answered by the leader from memory; they are not written
// to the log one by one. Instead the keeper proposes, every checkpoint
// interval C (at least three per minimum TTL), one RenewSessions command
// listing the sessions renewed since its previous one, and an ExpireSession
// for each session whose deadline has passed. Like the StateMachine it is
// pure: the driver feeds it the node's monotonic time and the applied state,
// and proposes what it returns.
//
// ---- THE LOG CLOCK (what the driver stamps as time_ms) ----
// On the leader, every command it proposes, clients' and the keeper's alike,
// is stamped (stamp_time / encode) just before it is proposed with
//     time_ms = keeper.log_now_ms(machine, mono_now_ms)
//             = max(L0 + (mono_now_ms - M0), machine.log_time_ms())
// where lead() set L0 = the applied log time + takeover_credit_ms and M0 =
// the monotonic time then. So the log clock starts where the log stopped and
// runs at the rate of the leader's monotonic clock. It never reads a wall
// clock: a wall clock that jumps ahead would expire every session.
//   takeover_credit_ms: real time that provably passed since the newest
//   chosen entry was stamped, counted at the slowest clock rate. With the
//   synod Paxos core, pass lease_ms * 100 / (100 + drift_bound_percent): an
//   acceptor that accepted that entry refused every Prepare for a lease
//   times (1 + drift) after it, so no new leader exists before a lease has
//   passed (paxos/lease.h). Pass 0 if your log engine promises no such thing.
// Consequence (the assumption behind every bound below): with each
// monotonic clock within a factor (1 + rho) of real time, log time never
// runs faster than (1 + rho) times real time, and while a leader serves it
// runs at least 1 / (1 + rho) times real time.
//
// ---- DEADLINES ----
// The log knows each session's last renewal r (the log time of the last
// RenewSessions that listed it, or its creation) and refuses an EXPIRE before
// log time D = r + ttl. The keeper of a leader that took over at log time T
// (its clock's start) holds, for each session,
//     deadline = max( D,  min(T, D) + g,  k + ttl )
// with g = takeover_grace_ms and k the log time of the latest keep-alive this
// leader answered. The middle term gives the clients of a dead leader time
// to find the new one (their renewals since the last checkpoint were lost
// with it). It is anchored to the LOGGED deadline, never to "now": a session
// gets at most g beyond D, however many leaders come and go, so a dead
// client's session cannot be kept alive by elections (etcd's bug: every new
// leader resets every lease to a full TTL).
//
// ---- WHAT A KEEP-ALIVE ANSWERS ----
// valid_for_ms = (D - now) / (1 + rho), from what is LOGGED, not from the
// keep-alive just received: a renewal that dies with this leader before its
// checkpoint is chosen can never have promised anything. A client counts
// valid_for_ms from when it SENT the keep-alive, on its own clock. Right
// after a failover it can be small (even 0); the keeper then checkpoints at
// the next tick instead of waiting for the interval, so the next keep-alive
// sees the full TTL less one checkpoint.
//
// ---- THE EXPIRY BOUND (tested in test/lockservice/test_keeper.cpp) ----
// Let a be the log clock reading at which a leader answered the session's
// LAST keep-alive (or applied its creation), C the checkpoint interval, g the
// takeover grace and tau the driver's tick interval (on the leader's clock).
//   r <= a + C + tau                      (the next checkpoint after a)
//   every keeper's deadline <= D + g <= a + ttl + C + tau + g
// and a keeper proposes the EXPIRE at its first tick at or past its deadline:
//   (1) In log time, whichever leaders come and go: every keeper's deadline
//       is at most B = a + ttl + C + tau + g, and a keeper proposes the
//       expiry at its first tick at or past its deadline. So no leader ticks
//       with its log clock at or past B without proposing it, and a leader
//       that serves on expires the session by log time B + tau. Without a
//       failover after a (the checkpoint after a is chosen, so r >= a, and
//       T <= a) the deadline is at most a + max(ttl + C + tau, g), which is
//       a + ttl + C + tau when g <= ttl (the defaults: g = kTtlMsMin).
//   (2) In real time, from the last keep-alive to the applied expiry:
//         (1 + rho) * (ttl + C + g + 2*tau) + lambda
//           + sum over the failovers in between of (F_i + C + tau + lambda)
//       where lambda is the commit latency and F_i the time failover i left
//       the cluster without a serving leader. A failover costs its own outage
//       plus the checkpoint it interrupted, never a fresh TTL.
// Defaults (ttl = 2 s, C = 500 ms, g = 2 s, tau = 10 ms, rho = 10%): without
// a failover 1.1 * 2.52 s = 2.8 s + lambda; with failovers 1.1 * 4.52 s =
// 5.0 s + lambda, plus F_i + 0.51 s + lambda for each.
//
// ---- LIVENESS: a session that keeps sending keep-alives survives failovers ----
// A client sends a keep-alive at least every K (the docs say ttl/3) and, when
// one fails, retries within R at any node. After a failover it reaches the
// new leader within K + R + s of the leader's start (s: the takeover until the
// leader serves), and that leader holds its deadline at least
// min(T, D) + g later than T when D >= T, or D when D is far ahead. So it
// survives if g >= (1 + rho)(K + R + s) or D - T >= (1 + rho)(K + R + s),
// and the leader serves long enough to log its renewal (K + R + C + tau +
// lambda). With the defaults and K = ttl/3 this holds for every TTL.
//
// The driver answers keep-alives only while its leader lease is valid (like
// a local linearizable read), and stamps and proposes commands (its
// clients' and the keeper's) only then too: a leader deposed without knowing
// it has a clock that ran on without it, and Paxos may choose what it
// proposed later (a new leader re-proposes every vote it finds), pushing log
// time ahead of real time. It calls lead() once it serves and has applied
// every entry handed to it, and follow() as soon as it stops leading.
//
// Owned by the driver's thread, next to the StateMachine it reads.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lockservice/command.h"
#include "lockservice/state_machine.h"

namespace synod::lockservice {

struct KeeperConfig {
  int64_t checkpoint_interval_ms = kCheckpointIntervalMsDefault;  // C
  int64_t takeover_grace_ms = 2'000;                             // g
  // An EXPIRE that has not taken effect after this long is proposed again.
  int64_t expire_retry_ms = 2'000;
  size_t expiries_per_tick_max = 1'024;
  int64_t drift_bound_percent = 10;  // rho, as the StateMachine's Config
};
static_assert(KeeperConfig{}.checkpoint_interval_ms * 3 <= kTtlMsMin);

// Empty if usable, or what is wrong.
std::string validate(const KeeperConfig& config);

struct KeepAliveAnswer {
  // ok; not_found for an id that was never a session (SessionHistory::never);
  // session_expired for one that ended, is being expired, or is older than
  // the event window (it may have been a session: never not_found then).
  Status status = Status::ok;
  int64_t valid_for_ms = 0;    // ok: what the log guarantees, conservatively
};

class SessionKeeper {
 public:
  explicit SessionKeeper(KeeperConfig config = {});

  // This node now leads and serves, and `machine` has applied every entry
  // chosen before. Starts the log clock (see above).
  void lead(const StateMachine& machine, int64_t mono_now_ms, int64_t takeover_credit_ms);
  // This node no longer leads: everything in memory is forgotten.
  void follow();
  bool leading() const { return leading_; }

  // The time to stamp on a command proposed now.
  int64_t log_now_ms(const StateMachine& machine, int64_t mono_now_ms) const;
  int64_t takeover_log_ms() const { return takeover_log_ms_; }

  KeepAliveAnswer keep_alive(const StateMachine& machine, SessionId session, int64_t mono_now_ms);

  // Call every tick (tau). Returns the commands to propose now: renewal
  // checkpoints, then expiries. Stamp them with log_now_ms.
  std::vector<Command> tick(const StateMachine& machine, int64_t mono_now_ms);

  // The deadline this keeper holds for a session (log time), or nullopt if
  // the session does not exist.
  std::optional<int64_t> deadline_ms(const StateMachine& machine, SessionId session) const;

  const KeeperConfig& config() const { return config_; }

 private:
  int64_t deadline_of(const SessionLease& lease) const;
  int64_t grace_deadline(int64_t logged_deadline_ms) const;
  void forget_applied(const StateMachine& machine, int64_t now_ms);
  void propose_checkpoint(const StateMachine& machine, int64_t now_ms, std::vector<Command>& out);
  void propose_expiries(const StateMachine& machine, int64_t now_ms, std::vector<Command>& out);

  KeeperConfig config_;
  bool leading_ = false;
  int64_t base_log_ms_ = 0;
  int64_t base_mono_ms_ = 0;
  int64_t takeover_log_ms_ = 0;
  int64_t last_checkpoint_ms_ = 0;
  bool checkpoint_urgent_ = false;
  // Keep-alives answered and not yet proposed, and proposed but not yet seen
  // applied: session -> log time of the latest keep-alive. Bounded by the
  // number of sessions.
  std::map<SessionId, int64_t> pending_;
  std::map<SessionId, int64_t> proposed_;
  // Expiries proposed: session -> log time proposed.
  std::map<SessionId, int64_t> expiring_;
};

}  // namespace synod::lockservice
