#include "server/driver.h"

#include <algorithm>
#include <utility>

#include "lockservice/command.h"
#include "base/assert.h"

namespace synod::server {

using paxos::Role;
using Kind = http::Outcome::Kind;

Driver::Driver(DriverOptions options, DriverObserver* observer)
    : options_(std::move(options)),
      observer_(observer != nullptr ? observer : &no_observer_),
      machine_(options_.service),
      keeper_(lockservice::KeeperConfig{.drift_bound_percent = options_.service.drift_bound_percent}),
      reaper_(options_.reaper) {}

bool Driver::restore(const std::string& bytes, paxos::Slot slot) {
  SYNOD_ASSERT(!started());
  if (!machine_.restore(bytes)) return false;
  applied_slot_ = slot;
  return true;
}

void Driver::start(const paxos::Options& options, const paxos::DurableState& durable, int64_t now_us) {
  SYNOD_ASSERT(!started());
  // The keeper's drift bound and the lock service's are the cluster's one
  // drift bound (config_digest makes peers agree on the service's).
  SYNOD_ASSERT(options.timing.drift_bound_percent == options_.service.drift_bound_percent);
  takeover_credit_ms_ = takeover_credit_ms(options.timing);
  replica_ = std::make_unique<paxos::Replica>(options, durable, now_us);
  soft_.voting = replica_->voting();
}

// ------------------------------------------------------------------ the loop

Effects Driver::flush(int64_t now_us) {
  // Effects must leave in Ready order (persist batches above all), so a
  // flush never runs inside another.
  SYNOD_ASSERT(!flushing_);
  flushing_ = true;
  Effects out;
  while (replica_->has_ready()) handle(replica_->take_ready(), now_us, out);
  propose_keeper_backlog(now_us);
  propose_waiting(now_us);
  while (replica_->has_ready()) handle(replica_->take_ready(), now_us, out);
  flushing_ = false;
  return out;
}

// In this order: persist and send, apply, answer reads and long-polls, fail
// what was dropped, then the soft state, so that a new leader's keeper
// starts after the entries of the Ready that made it serve were applied.
void Driver::handle(paxos::Ready ready, int64_t now_us, Effects& out) {
  if (!ready.persist.empty() || !ready.messages_after_sync.empty()) {
    if (!ready.messages_after_sync.empty()) after_sync_.emplace(ready.id, std::move(ready.messages_after_sync));
    out.persist.push_back(std::move(ready.persist));
  }
  if (out.messages.empty()) {
    out.messages = std::move(ready.messages);
  } else {
    for (auto& envelope : ready.messages) out.messages.push_back(std::move(envelope));
  }
  apply(ready.apply, now_us);
  grant_reads(ready);
  if (!ready.apply.empty()) wake_revision_waits();
  for (const auto& command : ready.dropped) {
    auto it = proposals_.find(ProposalKey{command.client_id, command.seq});
    if (it == proposals_.end()) continue;
    auto proposal = std::move(it->second);
    proposals_.erase(it);
    proposal.answer(http::Outcome{Kind::not_leader, replica_->leader(), {}, 0});
  }
  if (ready.soft_state) on_soft_state(*ready.soft_state, now_us);
  if (ready.snapshot_from != paxos::kNoNode) out.snapshot_from = ready.snapshot_from;
}

std::vector<paxos::Envelope> Driver::synced(const paxos::SyncReceipt& receipt, int64_t now_us) {
  std::vector<paxos::Envelope> to_peers;
  while (!after_sync_.empty() && after_sync_.begin()->first <= receipt.ready_id()) {
    auto messages = std::move(after_sync_.begin()->second).release(receipt);
    after_sync_.erase(after_sync_.begin());
    for (auto& envelope : messages) {
      observer_->released(envelope);
      if (envelope.to == replica_->self()) {
        replica_->step(envelope, now_us);
      } else {
        to_peers.push_back(std::move(envelope));
      }
    }
  }
  return to_peers;
}

void Driver::apply(const std::vector<paxos::ChosenEntry>& entries, int64_t now_us) {
  for (const auto& entry : entries) {
    observer_->entry_applying(entry);
    SYNOD_ASSERT(entry.slot == applied_slot_ + 1);
    applied_slot_ = entry.slot;
    const auto& commands = entry.value->commands;
    for (size_t i = 0; i < commands.size(); ++i) {
      const auto& command = commands[i];
      observer_->command_applying(entry, i);
      const lockservice::ClientId client_id = options_.mutants.apply_without_client_id ? 0 : command.client_id;
      fired_.clear();
      auto result = machine_.apply(lockservice::LogEntry{entry.slot, i, client_id, command.seq, command.payload},
                                   fired_);
      observer_->command_applied(entry, i, result);
      if (!fired_.empty()) observer_->znodes_changed(fired_);
      if (command.client_id == 0) continue;
      auto it = proposals_.find(ProposalKey{command.client_id, command.seq});
      if (it == proposals_.end()) continue;
      auto proposal = std::move(it->second);
      proposals_.erase(it);
      observer_->proposal_committed(now_us - proposal.first.proposed_us);
      proposal.answer(http::Outcome{Kind::applied, replica_->self(), std::move(result), machine_.revision()});
    }
    observer_->entry_applied(entry);
  }
}

void Driver::grant_reads(const paxos::Ready& ready) {
  for (const auto& grant : ready.reads) {
    observer_->read_granted(grant);
    auto it = reads_.find(grant.read_id);
    if (it == reads_.end()) continue;
    SYNOD_ASSERT(applied_slot_ >= grant.index);
    auto read = std::move(it->second);
    reads_.erase(it);
    read.done(http::ReadContext{true, replica_->self(), machine_.revision(), &machine_});
  }
  for (uint64_t read_id : ready.reads_failed) {
    auto it = reads_.find(read_id);
    if (it == reads_.end()) continue;
    auto read = std::move(it->second);
    reads_.erase(it);
    read.done(http::ReadContext{false, replica_->leader(), machine_.revision(), nullptr});
  }
}

void Driver::on_soft_state(const paxos::SoftState& next, int64_t now_us) {
  observer_->soft_state_changing(soft_, next);
  soft_ = next;
  if (next.role == Role::leader && next.serving && !keeper_.leading()) {
    // Everything chosen before is applied (this Ready's entries came first).
    // The credit is real time that provably passed since the last chosen
    // entry; only a leader that waited out its predecessor's lease has it.
    const bool credit = next.lease_waited || options_.mutants.credit_without_lease_wait;
    keeper_.lead(machine_, now_us / 1000, credit ? takeover_credit_ms_ : 0);
    observer_->keeper_leads(keeper_.takeover_log_ms(), credit);
    reaper_.lead(now_us / 1000);
    propose_waiting(now_us);
  }
  if (next.role != Role::leader) {
    keeper_backlog_.clear();  // a new leader's keeper decides afresh
    reaper_.follow();
    if (keeper_.leading() && !options_.mutants.keepalive_after_step_down) keeper_.follow();
    auto waiting = std::move(waiting_for_serving_);
    waiting_for_serving_.clear();
    for (auto& w : waiting) w.done(http::Outcome{Kind::not_leader, next.leader, {}, 0});
  }
}

// ------------------------------------------------------------------ inputs

void Driver::tick(int64_t now_us) {
  replica_->tick(now_us);
  if (!stopping_ && may_stamp(now_us)) {
    for (auto& command : keeper_.tick(machine_, now_us / 1000)) keeper_backlog_.push_back(std::move(command));
    propose_keeper_backlog(now_us);
    propose_reaps(now_us);
  }
  expire_requests(now_us);
}

// The keeper's checkpoints and expiries must not be lost to a full proposal
// queue: a dropped checkpoint leaves renewals the keeper promised unlogged,
// and a dropped expiry comes late (synod-sim --buggify, seeds 1244 and 1424:
// a one-command queue). They wait here, in order, each stamped when it is
// really proposed; clients hear "busy" until the backlog is empty.
void Driver::propose_keeper_backlog(int64_t now_us) {
  while (!keeper_backlog_.empty() && may_stamp(now_us)) {
    const auto& command = keeper_backlog_.front();
    const int64_t stamp = stamp_ms(now_us);
    auto payload = lockservice::encode(command, stamp);
    if (replica_->propose(paxos::Command{0, 0, payload}, now_us) != paxos::Replica::ProposeStatus::queued) return;
    observer_->keeper_proposing(command, payload, stamp);
    keeper_backlog_.pop_front();
  }
}

// Container reaps are the cluster's housekeeping, proposed as the keeper's
// commands are (client id 0, stamped now, keeper_proposing) but never ahead
// of anyone: only once the keeper's backlog is empty, and only while the
// proposal queue takes them. One refused ends this tick's reaps; the reaper
// offers it again on a later tick. A reap that comes late breaks no promise,
// so unlike the keeper's commands it never makes a client wait.
void Driver::propose_reaps(int64_t now_us) {
  if (!keeper_backlog_.empty()) return;
  for (auto& reap : reaper_.tick(machine_, now_us / 1000)) {
    const int64_t stamp = stamp_ms(now_us);
    auto payload = lockservice::encode(reap, stamp);
    if (replica_->propose(paxos::Command{0, 0, payload}, now_us) != paxos::Replica::ProposeStatus::queued) return;
    observer_->keeper_proposing(reap, payload, stamp);
    reaper_.proposed(reap.path, now_us / 1000);
  }
}

bool Driver::propose_internal(lockservice::Command command, int64_t now_us) {
  if (stopping_ || !may_stamp(now_us)) return false;
  keeper_backlog_.push_back(std::move(command));
  propose_keeper_backlog(now_us);
  return true;
}

// The log clock may only be read under a lease (invariant 2).
bool Driver::may_stamp(int64_t now_us) const { return keeper_.leading() && replica_->lease_valid(now_us); }

int64_t Driver::stamp_ms(int64_t now_us) const {
  const int64_t log_now = keeper_.log_now_ms(machine_, now_us / 1000);
  if (options_.mutants.stamp_ahead) return log_now + 1'000;
  if (options_.mutants.stamp_behind) return std::max<int64_t>(log_now - 3'000, 0);
  return log_now;
}

void Driver::propose(paxos::Command command, ProposeDone done, int64_t now_us) {
  if (stopping_) return done(http::Outcome{Kind::stopping, soft_.leader, {}, 0});
  if (replica_->role() != Role::leader) return done(http::Outcome{Kind::not_leader, replica_->leader(), {}, 0});
  if (!may_stamp(now_us)) {
    // Elected, but the takeover slots are not all chosen yet, or no lease.
    if (waiting_for_serving_.size() >= options_.limits.waiting_proposals_max) {
      return done(http::Outcome{Kind::busy, replica_->self(), {}, 0});
    }
    waiting_for_serving_.push_back(
        WaitingProposal{std::move(command), std::move(done), now_us + options_.limits.request_ms_max * 1000});
    return;
  }
  // The keeper's commands go first (propose_keeper_backlog).
  if (!keeper_backlog_.empty()) return done(http::Outcome{Kind::busy, replica_->self(), {}, 0});
  const ProposalKey key{command.client_id, command.seq};
  const int64_t deadline_us = now_us + options_.limits.request_ms_max * 1000;
  if (auto existing = proposals_.find(key); existing != proposals_.end()) {
    // The same (client, seq) is already on its way: one answer for both.
    existing->second.more.push_back(Waiter{std::move(done), deadline_us, now_us});
    return;
  }
  lockservice::stamp_time(command.payload, stamp_ms(now_us));
  switch (replica_->propose(std::move(command), now_us)) {
    case paxos::Replica::ProposeStatus::queued:
      proposals_.emplace(key, Proposal{Waiter{std::move(done), deadline_us, now_us}, {}});
      return;
    case paxos::Replica::ProposeStatus::busy:
      return done(http::Outcome{Kind::busy, replica_->self(), {}, 0});
    case paxos::Replica::ProposeStatus::not_leader:
      return done(http::Outcome{Kind::not_leader, replica_->leader(), {}, 0});
  }
}

// Proposals that waited for the takeover to finish or for the lease go out
// once both hold.
void Driver::propose_waiting(int64_t now_us) {
  if (waiting_for_serving_.empty() || !may_stamp(now_us)) return;
  auto waiting = std::move(waiting_for_serving_);
  waiting_for_serving_.clear();
  for (auto& w : waiting) propose(std::move(w.command), std::move(w.done), now_us);
}

void Driver::read(bool stale, ReadDone done, int64_t now_us) {
  if (stale || options_.mutants.read_without_read_index) return done(context(true));
  const uint64_t read_id = ++next_read_id_;
  switch (replica_->read(read_id, now_us)) {
    case paxos::Replica::ReadStatus::queued:
      reads_.emplace(read_id, PendingRead{std::move(done), now_us + options_.limits.request_ms_max * 1000});
      return;
    case paxos::Replica::ReadStatus::not_leader:
    case paxos::Replica::ReadStatus::busy:
      return done(http::ReadContext{false, replica_->leader(), machine_.revision(), nullptr});
  }
}

void Driver::wait_for(uint64_t after_revision, int64_t timeout_ms, ReadDone done, int64_t now_us) {
  if (machine_.revision() > after_revision) return done(context(true));
  if (revision_waits_.size() >= options_.limits.revision_waits_max) return done(context(false));
  revision_waits_.emplace(after_revision, PendingRead{std::move(done), now_us + timeout_ms * 1000});
}

http::KeepAliveOutcome Driver::keep_alive(lockservice::SessionId session, const lockservice::Credential& credential,
                                          int64_t now_us) {
  using KeepAlive = http::KeepAliveOutcome::Kind;
  std::string why;
  switch (machine_.authorize_session(credential, session, why)) {
    case lockservice::Status::ok:
      break;
    case lockservice::Status::unauthenticated:
      return http::KeepAliveOutcome{KeepAlive::unauthenticated, soft_.leader, 0};
    default:
      return http::KeepAliveOutcome{KeepAlive::permission_denied, soft_.leader, 0};
  }
  const bool lease = replica_->lease_valid(now_us) || options_.mutants.keepalive_after_step_down;
  if (!keeper_.leading() || !lease) return http::KeepAliveOutcome{KeepAlive::not_leader, soft_.leader, 0};
  const auto answer = keeper_.keep_alive(machine_, session, now_us / 1000);
  if (answer.status != lockservice::Status::ok) return http::KeepAliveOutcome{KeepAlive::expired, replica_->self(), 0};
  return http::KeepAliveOutcome{KeepAlive::ok, replica_->self(), answer.valid_for_ms};
}

void Driver::install_snapshot(lockservice::StateMachine machine, paxos::Slot slot, int64_t now_us,
                              const std::vector<paxos::ConfigEntry>& configurations) {
  SYNOD_ASSERT(slot > applied_slot_);
  machine_ = std::move(machine);
  applied_slot_ = slot;
  replica_->install_snapshot(slot, now_us, configurations);
  wake_revision_waits();
}

paxos::NodeId Driver::hand_over(int64_t now_us, paxos::NodeId to) {
  if (replica_->role() != Role::leader) return paxos::kNoNode;
  if (to != paxos::kNoNode) return replica_->transfer_leadership(to, now_us) ? to : paxos::kNoNode;
  paxos::NodeId successor = paxos::kNoNode;
  paxos::Replica::PeerProgress best;
  for (paxos::NodeId member : replica_->options().members) {
    if (member == replica_->self()) continue;
    const auto progress = replica_->peer(member);
    if (successor == paxos::kNoNode || progress.chosen_through > best.chosen_through ||
        (progress.chosen_through == best.chosen_through && progress.last_ack > best.last_ack)) {
      successor = member;
      best = progress;
    }
  }
  if (successor == paxos::kNoNode || !replica_->transfer_leadership(successor, now_us)) return paxos::kNoNode;
  return successor;
}

void Driver::fail_proposals() {
  auto proposals = std::move(proposals_);
  proposals_.clear();
  for (auto& [key, proposal] : proposals) proposal.answer(http::Outcome{Kind::stopping, soft_.leader, {}, 0});
  auto waiting = std::move(waiting_for_serving_);
  waiting_for_serving_.clear();
  for (auto& w : waiting) w.done(http::Outcome{Kind::stopping, soft_.leader, {}, 0});
}

// -------------------------------------------------------------- deadlines

// Answers are called after the waiter left its container: an answer may
// bring a new request (a simulated client retries at once).
void Driver::expire_requests(int64_t now_us) {
  std::vector<Waiter> expired;
  for (auto it = proposals_.begin(); it != proposals_.end();) {
    auto& proposal = it->second;
    const bool first_expired = proposal.first.deadline_us <= now_us;
    if (first_expired) expired.push_back(std::move(proposal.first));
    for (auto w = proposal.more.begin(); w != proposal.more.end();) {
      if (w->deadline_us > now_us) {
        ++w;
        continue;
      }
      expired.push_back(std::move(*w));
      w = proposal.more.erase(w);
    }
    if (!first_expired) {
      ++it;
    } else if (proposal.more.empty()) {
      it = proposals_.erase(it);
    } else {
      proposal.first = std::move(proposal.more.front());
      proposal.more.erase(proposal.more.begin());
      ++it;
    }
  }
  for (auto& w : expired) w.done(http::Outcome{Kind::timeout, soft_.leader, {}, 0});
  // A leader that keeps its role but never gets its lease back (cut off)
  // must not keep these forever either.
  std::vector<WaitingProposal> stale;
  while (!waiting_for_serving_.empty() && waiting_for_serving_.front().deadline_us <= now_us) {
    stale.push_back(std::move(waiting_for_serving_.front()));
    waiting_for_serving_.pop_front();
  }
  for (auto& w : stale) w.done(http::Outcome{Kind::timeout, soft_.leader, {}, 0});
  for (auto it = reads_.begin(); it != reads_.end();) {
    if (it->second.deadline_us > now_us) {
      ++it;
      continue;
    }
    auto read = std::move(it->second);
    it = reads_.erase(it);
    read.done(http::ReadContext{false, soft_.leader, machine_.revision(), nullptr});
  }
  for (auto it = revision_waits_.begin(); it != revision_waits_.end();) {
    if (it->second.deadline_us > now_us) {
      ++it;
      continue;
    }
    auto wait = std::move(it->second);
    it = revision_waits_.erase(it);
    wait.done(context(false));
  }
}

void Driver::wake_revision_waits() {
  const uint64_t revision = machine_.revision();
  while (!revision_waits_.empty() && revision_waits_.begin()->first < revision) {
    auto waiter = std::move(revision_waits_.begin()->second);
    revision_waits_.erase(revision_waits_.begin());
    waiter.done(context(true));
  }
}

http::ReadContext Driver::context(bool ok) const {
  return http::ReadContext{ok, soft_.leader, machine_.revision(), &machine_};
}

}  // namespace synod::server
