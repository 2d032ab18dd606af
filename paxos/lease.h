// Leases, as two small explicit classes (after braft's lease.h).
//
// LeaderLease is the leader's side: it may serve reads locally until `until`,
// which is the SEND time of the latest heartbeat a majority acknowledged, plus
// lease_ms, on the leader's own clock.
//
// LeasePromise is the acceptor's side: having acknowledged a heartbeat (or an
// Accept) from the leader of ballot B, the acceptor refuses Prepare from any
// other node until the RECEIPT time plus lease_ms * (1 + drift). After a
// restart it refuses Prepare from everyone for that long, because it cannot
// know what lease it granted before the crash.
//
// Why this is safe: for a leader L to think its lease valid at time T, a
// majority acknowledged a heartbeat sent at S with S + lease > T (L's clock).
// Any majority that elects another leader shares an acceptor X with it; X
// received that heartbeat after S and refuses Prepare for lease * (1 + drift)
// on its own clock, which is at least lease on L's clock as long as no two
// clock rates differ by more than the drift bound. X could only have promised
// the new ballot before the heartbeat by rejecting the heartbeat. So no new
// leader exists until L's lease is over.
//
// Owned by the Replica; no clock is read here, times are passed in.
#pragma once

#include "paxos/types.h"

namespace synod::paxos {

class LeaderLease {
 public:
  void extend(TimeUs heartbeat_sent_at, int64_t lease_us) {
    const TimeUs until = heartbeat_sent_at + lease_us;
    if (until > until_) until_ = until;
  }
  bool valid(TimeUs now) const { return now < until_; }
  void revoke() { until_ = 0; }
  TimeUs until() const { return until_; }

 private:
  TimeUs until_ = 0;
};

class LeasePromise {
 public:
  // Acknowledging the leader of `holder` at `received_at`.
  void grant(const Ballot& holder, TimeUs received_at, int64_t promise_us) {
    holder_ = holder;
    until_ = std::max(until_, received_at + promise_us);
  }
  // After a restart: refuse every Prepare until `now + promise_us`.
  void guard_restart(TimeUs now, int64_t promise_us) {
    holder_ = Ballot{};
    until_ = now + promise_us;
  }
  // The leader of `holder` gave leadership away (Nominate).
  void release(const Ballot& holder) {
    if (holder_ == holder) until_ = 0;
  }

  bool active(TimeUs now) const { return now < until_; }
  // Does the promise forbid promising `ballot` now? The holder itself may
  // always prepare again with a higher ballot.
  bool blocks(const Ballot& ballot, TimeUs now) const {
    return active(now) && (holder_.is_zero() || ballot.node != holder_.node);
  }
  bool restart_guard(TimeUs now) const { return active(now) && holder_.is_zero(); }
  const Ballot& holder() const { return holder_; }
  TimeUs until() const { return until_; }

 private:
  Ballot holder_;  // zero while the restart guard runs
  TimeUs until_ = 0;
};

}  // namespace synod::paxos
