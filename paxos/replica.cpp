#include "paxos/replica.h"

#include <algorithm>

#include "base/assert.h"

namespace synod::paxos {

namespace {

Acceptor recovered_acceptor(const DurableState& durable, const Mutants& mutants) {
  if (mutants.acceptor_forgets_promise_on_restart) {
    // The mutant loses its promise and the votes that come with it, as an
    // acceptor would whose writes never reached the disk.
    return Acceptor(Ballot{}, {});
  }
  return Acceptor(durable.promised, durable.accepted);
}

std::vector<ConfigEntry> initial_configurations(const Options& options, const DurableState& durable) {
  if (!durable.configurations.empty()) return durable.configurations;
  Configuration bootstrap = Configuration::of_voters(options.members);
  bootstrap.learners = options.learners;
  std::sort(bootstrap.learners.begin(), bootstrap.learners.end());
  for (NodeId learner : bootstrap.learners) bootstrap.next_id = std::max(bootstrap.next_id, learner + 1);
  bootstrap.next_id = std::max(bootstrap.next_id, options.bootstrap_next_id);
  // A joiner's configuration governs from α slots after the slot that chose it
  // (and, as the only entry, every slot before too: it only learns there).
  const Slot chosen_at = options.bootstrap_chosen_at;
  return {
      ConfigEntry{chosen_at == kNoSlot ? 1 : chosen_at + kConfigAlphaSlots, chosen_at, std::move(bootstrap), nullptr}};
}

}  // namespace

Replica::Replica(Options options, const DurableState& durable, TimeUs now)
    : options_(std::move(options)),
      configs_(initial_configurations(options_, durable), options_.mutants),
      random_(options_.random_seed),
      now_(now),
      acceptor_(recovered_acceptor(durable, options_.mutants)),
      learner_(durable.snapshot_slot, durable.chosen, options_.limits.log_retention_slots,
               options_.limits.log_retention_bytes_max),
      proposer_(options_.self, options_.limits) {
  const std::string problem = validate(options_);
  SYNOD_ASSERT_MSG(problem.empty(), problem.c_str());
  highest_seen_ = acceptor_.promised();
  chosen_durable_through_ = learner_.chosen_through();
  configs_seen_through_ = durable.snapshot_slot;
  observe_configurations();
  // We cannot know what lease we granted before a crash, so refuse every
  // Prepare for one lease plus the drift bound (DESIGN §3).
  if (!options_.mutants.prepare_right_after_restart) lease_promise_.guard_restart(now_, lease_promise_us());
  if (options_.start_repairing) {
    voting_ = false;
    repair_.nonce = random_.next() | 1;
    repair_.next_query_at = now_;
  }
  reset_election_timer();
  published_ = soft_state();
}

int64_t Replica::lease_promise_us() const {
  return ms(options_.timing.lease_ms) * (100 + options_.timing.drift_bound_percent) / 100;
}

// ------------------------------------------------------------------ inputs

void Replica::tick(TimeUs now) {
  SYNOD_ASSERT_MSG(now >= now_, "time went backwards");
  now_ = now;
  note_tick_gap();
  switch (role_) {
    case Role::leader:
      leader_tick();
      break;
    case Role::candidate:
      candidate_tick();
      break;
    case Role::follower:
      if (!voting_) {
        repair_tick();
      } else if (now_ >= election_deadline_ && configuration().is_voter(options_.self)) {
        // A learner, or a member whose removal was chosen, never campaigns.
        start_probe();
      } else if (now_ >= election_deadline_) {
        reset_election_timer();
      }
      break;
  }
  if (learner_.chosen_through() < leader_commit_seen_) {
    request_catchup(role_ == Role::leader ? catchup_source_ : leader_);
  }
}

// A tick long after the previous one means this process did not run (a busy
// machine, SIGSTOP). Whatever timed out meanwhile timed out on us, not on
// the others, and their messages may be waiting unread: give them one
// heartbeat interval before a timeout deposes the leader or starts an
// election. Leases are not touched: they are judged by time alone.
void Replica::note_tick_gap() {
  const int64_t heartbeat_us = ms(options_.timing.heartbeat_ms);
  if (last_tick_ != 0 && now_ - last_tick_ > 2 * heartbeat_us) {
    starved_grace_until_ = now_ + heartbeat_us;
    if (role_ == Role::follower) election_deadline_ = std::max(election_deadline_, starved_grace_until_);
  }
  last_tick_ = now_;
}

void Replica::candidate_tick() {
  if (candidacy_ == Candidacy::waiting && now_ >= prepare_at_) {
    start_prepare(Ballot{});
    return;
  }
  if (now_ < candidacy_deadline_) return;
  // No quorum answered in time: back to following, and try again after a
  // fresh random timeout.
  candidacy_ = Candidacy::none;
  proposer_.stop();
  role_ = Role::follower;
  reset_election_timer();
}

void Replica::step(const Envelope& envelope, TimeUs now) {
  SYNOD_ASSERT_MSG(now >= now_, "time went backwards");
  now_ = now;
  if (envelope.to != options_.self || envelope.from == kNoNode) return;
  // A removed member stays out once its removal is in effect; a node above
  // next_id may be one added in a change this replica has not learned yet.
  if (configuration_in_effect().removed(envelope.from) && !configuration().is_member(envelope.from)) return;
  dispatch(envelope.from, envelope.message);
}

void Replica::dispatch(NodeId from, const Message& message) {
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, Probe>) on_probe(from, m);
        else if constexpr (std::is_same_v<T, ProbeReply>) on_probe_reply(from, m);
        else if constexpr (std::is_same_v<T, Prepare>) on_prepare(from, m);
        else if constexpr (std::is_same_v<T, Promise>) on_promise(from, m);
        else if constexpr (std::is_same_v<T, Accept>) on_accept(from, m);
        else if constexpr (std::is_same_v<T, Accepted>) on_accepted(from, m);
        else if constexpr (std::is_same_v<T, Reject>) on_reject(from, m);
        else if constexpr (std::is_same_v<T, Heartbeat>) on_heartbeat(from, m);
        else if constexpr (std::is_same_v<T, HeartbeatAck>) on_heartbeat_ack(from, m);
        else if constexpr (std::is_same_v<T, CatchupRequest>) on_catchup_request(from, m);
        else if constexpr (std::is_same_v<T, CatchupReply>) on_catchup_reply(from, m);
        else if constexpr (std::is_same_v<T, Nominate>) on_nominate(from, m);
        else if constexpr (std::is_same_v<T, RepairQuery>) on_repair_query(from, m);
        else if constexpr (std::is_same_v<T, RepairReport>) on_repair_report(from, m);
        else static_assert(kUnhandled<T>, "Replica::dispatch must handle every paxos::Message");
      },
      message);
}

Replica::ProposeStatus Replica::propose(Command command, TimeUs now) {
  SYNOD_ASSERT(now >= now_);
  now_ = now;
  if (role_ != Role::leader) return ProposeStatus::not_leader;
  return proposer_.enqueue(std::move(command)) ? ProposeStatus::queued : ProposeStatus::busy;
}

Replica::ReadStatus Replica::read(uint64_t read_id, TimeUs now) {
  SYNOD_ASSERT(now >= now_);
  now_ = now;
  if (role_ != Role::leader) return ReadStatus::not_leader;
  if (serving_ && lease_valid(now_) && pending_reads_.empty()) {
    reads_granted_.push_back(ReadGrant{read_id, learner_.chosen_through(), true});
    return ReadStatus::queued;
  }
  if (pending_reads_.size() >= options_.limits.pending_reads_max) return ReadStatus::busy;
  // Only a heartbeat round sent after this read arrived proves that no other
  // leader had been elected by then.
  pending_reads_.push_back(PendingRead{read_id, heartbeat_seq_ + 1});
  heartbeat_wanted_ = true;
  return ReadStatus::queued;
}

bool Replica::transfer_leadership(NodeId successor, TimeUs now) {
  SYNOD_ASSERT(now >= now_);
  now_ = now;
  if (role_ != Role::leader || successor == options_.self || !configuration().is_voter(successor)) return false;
  const Ballot ballot = proposer_.ballot();
  // Give the lease up first: from here on nothing is served locally, so the
  // acceptors may promise the successor at once. Our own acceptor keeps its
  // promise until the successor's nominated Prepare releases it: if the
  // Nominates are lost, a leader elected the ordinary way must still find
  // every promise to us running (its log clock counts on it; seed 20312).
  leader_lease_.revoke();
  step_down();
  const Nominate nominate{ballot, successor};
  for (NodeId member : peers()) send(member, nominate);
  return true;
}

// ---------------------------------------------------------------- elections

bool Replica::lost_leader() const {
  if (role_ == Role::leader) return false;
  return !last_leader_contact_ || now_ - *last_leader_contact_ >= ms(options_.timing.election_timeout_min_ms);
}

void Replica::reset_election_timer() {
  const TimeUs timeout = random_.uniform(ms(options_.timing.election_timeout_min_ms),
                                         ms(options_.timing.election_timeout_max_ms));
  // Our own lease promise would refuse our own Prepare until it runs out.
  election_deadline_ = std::max(now_ + timeout, lease_promise_.until());
}

Ballot Replica::next_ballot() {
  const uint64_t round = std::max(highest_seen_.round, acceptor_.promised().round) + 1;
  return Ballot{round, options_.self};
}

void Replica::note_ballot(const Ballot& ballot) {
  if (ballot > highest_seen_) highest_seen_ = ballot;
}

void Replica::start_probe() {
  role_ = Role::candidate;
  candidacy_ = Candidacy::probing;
  probe_ballot_ = next_ballot();
  probe_votes_.clear();
  probe_wait_us_ = 0;
  candidacy_deadline_ = now_ + ms(options_.timing.heartbeat_ms) * 2;
  for (NodeId member : peers()) send(member, Probe{probe_ballot_, learner_.chosen_through()});
  if (lost_leader()) probe_granted(options_.self, std::max<int64_t>(0, lease_promise_.until() - now_));
}

void Replica::on_probe(NodeId from, const Probe& probe) {
  const int64_t wait_us = std::max<int64_t>(0, lease_promise_.until() - now_);
  send(from, ProbeReply{probe.ballot, voting_ && lost_leader(), wait_us});
}

void Replica::on_probe_reply(NodeId from, const ProbeReply& reply) {
  if (candidacy_ != Candidacy::probing || reply.ballot != probe_ballot_ || !reply.granted) return;
  probe_granted(from, reply.wait_us);
}

void Replica::probe_granted(NodeId voter, int64_t wait_us) {
  if (!probe_votes_.add(voter)) return;
  probe_wait_us_ = std::max(probe_wait_us_, wait_us);
  if (!reached_all(probe_votes_)) return;
  // A majority lost the leader too. Prepare once their lease promises have
  // run out, so that they can answer it.
  if (probe_wait_us_ == 0) {
    start_prepare(Ballot{});
    return;
  }
  candidacy_ = Candidacy::waiting;
  prepare_at_ = now_ + probe_wait_us_;
  candidacy_deadline_ = prepare_at_ + ms(options_.timing.heartbeat_ms) * 2;
}

void Replica::start_prepare(Ballot nominated_by) {
  role_ = Role::candidate;
  candidacy_ = Candidacy::preparing;
  const Ballot ballot = next_ballot();
  note_ballot(ballot);
  candidacy_deadline_ = now_ + ms(options_.timing.election_timeout_max_ms);
  // A change this node proposed and did not see chosen is dropped (its
  // requester times out and asks again). If a quorum accepted it, the
  // takeover finds its votes and proposes it again, which makes it this
  // node's proposed change once more.
  proposed_config_.reset();
  proposed_quorum_.reset();
  waiting_change_.reset();
  waiting_quorum_.reset();
  proposer_.begin_prepare(ballot, learner_.chosen_through() + 1);
  lease_waited_ = nominated_by.is_zero();
  broadcast(Prepare{ballot, learner_.chosen_through() + 1, nominated_by});
}

void Replica::on_prepare(NodeId from, const Prepare& prepare) {
  note_ballot(prepare.ballot);
  if (!voting_) {
    send(from, Reject{prepare.ballot, acceptor_.promised(), Reject::Reason::repairing, Reject::Refused::prepare});
    return;
  }
  if (!prepare.nominated_by.is_zero() && prepare.nominated_by.node != prepare.ballot.node &&
      lease_promise_.holder() == prepare.nominated_by) {
    // The leader we promised handed leadership to this node (Nominate), and
    // gave its lease up before doing so. A leader that prepares again above
    // its own ballot (asked by a repairing replica) names itself: that is no
    // handover, and the promise stands until it runs out. Releasing it let
    // another node lead a mere 308 ms after this leader's last stamp while
    // taking a lease of credit on its log clock, so a lock-delay ended early
    // in real time (seed 48957).
    lease_promise_.release(prepare.nominated_by);
  }
  if (lease_promise_.blocks(prepare.ballot, now_)) {
    const auto reason = lease_promise_.restart_guard(now_) ? Reject::Reason::restarting : Reject::Reason::lease_held;
    send(from, Reject{prepare.ballot, acceptor_.promised(), reason, Reject::Refused::prepare});
    return;
  }
  if (!acceptor_.prepare(prepare.ballot)) {
    send(from, Reject{prepare.ballot, acceptor_.promised(), Reject::Reason::stale_ballot, Reject::Refused::prepare});
    return;
  }
  if (from != options_.self) {
    // We promised a higher ballot than any we could lead with.
    if (role_ != Role::follower && prepare.ballot > proposer_.ballot()) step_down();
    // Give the candidate time to finish phase 1 before we compete.
    reset_election_timer();
  }
  const Slot chosen_through = learner_.chosen_through();
  send_after_sync(from, Promise{prepare.ballot, prepare.first_slot, chosen_through,
                                acceptor_.accepted_from(prepare.first_slot, chosen_through)});
}

void Replica::on_promise(NodeId from, const Promise& promise) {
  if (candidacy_ == Candidacy::preparing) {
    proposer_.on_promise(from, promise);
    if (prepared_all()) become_leader();
  } else if (role_ == Role::leader) {
    // A new configuration's voter answering the leader's second phase 1.
    proposer_.on_promise(from, promise);
    release_waiting_change();
    check_serving();
  }
}

void Replica::become_leader() {
  auto takeover = proposer_.become_leader(learner_.chosen_through(), !options_.mutants.leader_skips_noop_fill);
  role_ = Role::leader;
  candidacy_ = Candidacy::none;
  leader_ = options_.self;
  serving_ = false;
  serve_after_ = takeover.serve_after;
  leader_lease_.revoke();
  quorum_heard_at_ = now_;
  heartbeat_rounds_.clear();
  acked_seq_ = heartbeat_seq_;
  peers_.clear();
  if (takeover.learn_from != kNoNode) {
    leader_commit_seen_ = std::max(leader_commit_seen_, takeover.chosen_elsewhere);
    catchup_source_ = takeover.learn_from;
    catchup_in_flight_ = false;
    request_catchup(takeover.learn_from);
  }
  advance_proposals();
  check_serving();
  send_heartbeats();
}

void Replica::step_down() {
  const bool was_leader = role_ == Role::leader;
  role_ = Role::follower;
  candidacy_ = Candidacy::none;
  serving_ = false;
  if (was_leader) {
    leader_ = kNoNode;
    // It heard from a leader (itself) just now: it must not tell a prober it
    // lost the leader long ago.
    last_leader_contact_ = now_;
  }
  for (auto& command : proposer_.stop()) dropped_.push_back(std::move(command));
  proposed_config_.reset();
  proposed_quorum_.reset();
  waiting_change_.reset();
  waiting_quorum_.reset();
  for (const auto& read : pending_reads_) reads_failed_.push_back(read.read_id);
  pending_reads_.clear();
  heartbeat_wanted_ = false;
  leader_lease_.revoke();
  reset_election_timer();
}

void Replica::heard_from_leader(NodeId from, const Ballot& ballot) {
  if (from == options_.self) return;
  if (role_ != Role::follower) step_down();
  leader_ = ballot.node;
  last_leader_contact_ = now_;
  lease_promise_.grant(ballot, now_, lease_promise_us());
  reset_election_timer();
}

void Replica::on_nominate(NodeId from, const Nominate& nominate) {
  if (nominate.ballot.node != from) return;
  lease_promise_.release(nominate.ballot);
  if (leader_ == from) leader_ = kNoNode;
  // A replica still repairing does not lead: it could not vote for itself.
  if (nominate.successor == options_.self && role_ != Role::leader && voting_ &&
      configuration().is_voter(options_.self)) {
    start_prepare(nominate.ballot);
  } else {
    reset_election_timer();
  }
}

// ----------------------------------------------------------------- phase 2

void Replica::propose_value(Slot slot, ValuePtr value) {
  SYNOD_ASSERT_MSG(slot <= learner_.chosen_through() + alpha(), "a proposal in a slot whose configuration is unknown");
  if (value->kind == Value::Kind::configuration && !proposed_config_ && slot > configs_seen_through_) {
    // A change re-proposed in a takeover counts like one of our own.
    proposed_config_ = *value->configuration;
    proposed_quorum_ = ConfigHistory::quorum_of(*proposed_config_, options_.mutants);
    leader_lease_.revoke();
    extend_phase1();
  }
  std::shared_ptr<const Quorum> quorum = configs_.at(slot).quorum;
  broadcast(proposer_.propose_at(slot, std::move(value), std::move(quorum), learner_.chosen_through(), now_));
}

void Replica::flush_batches() {
  if (role_ != Role::leader) return;
  advance_proposals();
}

void Replica::on_accept(NodeId from, const Accept& accept) {
  note_ballot(accept.ballot);
  if (!voting_) {
    // No vote while repairing; but the commit index still teaches it what to fetch.
    heard_from_leader(from, accept.ballot);
    follow_commit(accept.ballot, accept.commit_index);
    return;
  }
  if (!acceptor_.accept(accept.ballot, accept.slot, accept.value)) {
    send(from, Reject{accept.ballot, acceptor_.promised(), Reject::Reason::stale_ballot, Reject::Refused::accept});
    return;
  }
  heard_from_leader(from, accept.ballot);
  // The leader's own vote renews its own lease promise too: whatever it
  // accepted, it refuses other Prepares for a lease after.
  if (from == options_.self) lease_promise_.grant(accept.ballot, now_, lease_promise_us());
  send_after_sync(from, Accepted{accept.ballot, accept.slot});
  if (from != options_.self) follow_commit(accept.ballot, accept.commit_index);
}

void Replica::on_accepted(NodeId from, const Accepted& accepted) {
  if (role_ != Role::leader) return;
  if (auto chosen = proposer_.on_accepted(from, accepted)) learned(chosen->slot, chosen->value);
}

void Replica::on_reject(NodeId /*from*/, const Reject& reject) {
  note_ballot(reject.promised);
  if (role_ == Role::follower || reject.ballot != proposer_.ballot()) return;
  if (reject.promised > proposer_.ballot()) {
    step_down();
    return;
  }
  // A lease or restart refusal: other acceptors may still promise; the
  // candidacy deadline bounds the wait.
}

void Replica::learned(Slot slot, const ValuePtr& value) {
  learner_.learn(slot, value);
  observe_configurations();
  if (role_ == Role::leader) {
    proposer_.forget(slot);
    check_serving();
  }
  if (!voting_) repair_check(Ballot{}, false, kNoSlot);
}

void Replica::check_serving() {
  if (role_ != Role::leader || serving_) return;
  // Late promises (a configuration learned in the takeover) may have
  // brought votes above what the first quorum reported.
  serve_after_ = std::max(serve_after_, proposer_.takeover_through());
  if (learner_.chosen_through() < serve_after_ || !prepared_all()) return;
  serving_ = true;
  release_reads();
}

void Replica::follow_commit(const Ballot& ballot, Slot commit_index) {
  if (role_ == Role::leader) return;
  leader_commit_seen_ = std::max(leader_commit_seen_, commit_index);
  // A vote of the leader's own ballot for a slot it says is chosen is the
  // chosen value: a leader proposes one value per slot per ballot.
  for (Slot slot = learner_.chosen_through() + 1; slot <= commit_index; ++slot) {
    if (learner_.knows(slot)) continue;
    const AcceptedEntry* vote = acceptor_.accepted_at(slot);
    if (vote == nullptr || vote->ballot != ballot) break;
    learner_.learn(slot, vote->value);
  }
  observe_configurations();
  if (learner_.chosen_through() < leader_commit_seen_) request_catchup(ballot.node);
}

void Replica::request_catchup(NodeId from_node) {
  if (from_node == options_.self || from_node == kNoNode) return;
  if (catchup_in_flight_ && now_ < catchup_deadline_) return;
  catchup_in_flight_ = true;
  catchup_deadline_ = now_ + ms(options_.timing.catchup_retry_ms);
  send(from_node, CatchupRequest{learner_.chosen_through() + 1});
}

void Replica::on_catchup_request(NodeId from, const CatchupRequest& request) {
  CatchupReply reply;
  reply.commit_index = learner_.chosen_through();
  reply.entries = learner_.entries_from(request.from_slot, options_.limits.catchup_entries_max,
                                        options_.limits.catchup_bytes_max);
  reply.snapshot_needed = request.from_slot < learner_.first_retained();
  send(from, std::move(reply));
}

void Replica::on_catchup_reply(NodeId from, const CatchupReply& reply) {
  if (reply.snapshot_needed && reply.entries.empty()) {
    catchup_in_flight_ = false;
    // The peer compacted the slots we need: ask the driver for its snapshot,
    // again if nothing came of the last request for a while.
    const int64_t retry_us = ms(options_.timing.catchup_retry_ms) * 100;
    if (!snapshot_wanted_ || now_ - snapshot_wanted_at_ >= retry_us) {
      snapshot_wanted_ = true;
      snapshot_wanted_at_ = now_;
      snapshot_from_ = from;
    }
    leader_commit_seen_ = std::max(leader_commit_seen_, reply.commit_index);
    return;
  }
  const Slot chosen_before = learner_.chosen_through();
  for (const auto& entry : reply.entries) learned(entry.slot, entry.value);
  if (reply.commit_index > leader_commit_seen_) catchup_source_ = from;
  leader_commit_seen_ = std::max(leader_commit_seen_, reply.commit_index);
  // Only a reply that taught something answers the request in flight. A
  // duplicated or stale one must not start another request: each duplicate
  // would then double the catch-up traffic, without bound while replies are
  // small (the simulator's drawn limits found it: 2-entry replies and a
  // duplicating network). Unanswered, the request is resent after
  // catchup_retry_ms.
  if (learner_.chosen_through() == chosen_before) return;
  catchup_in_flight_ = false;
  if (learner_.chosen_through() >= leader_commit_seen_) return;
  // Go on with the replier while it knows more than we now do; then ask the
  // one who knows the most. Going on with any replier that taught something
  // let a new leader settle on a peer that knew less than the slots it had
  // to learn before serving, and ask it forever: a late reply to its
  // requests as a follower won the race (seed 81347 --buggify, 7 replicas).
  if (reply.commit_index > learner_.chosen_through()) {
    request_catchup(from);
  } else {
    request_catchup(role_ == Role::leader ? catchup_source_ : leader_);
  }
}

void Replica::install_snapshot(Slot slot, TimeUs now, const std::vector<ConfigEntry>& configurations) {
  SYNOD_ASSERT(now >= now_);
  now_ = now;
  if (!configurations.empty()) configs_.replace(configurations);
  configs_seen_through_ = std::max(configs_seen_through_, slot);
  learner_.jump_to(slot);
  acceptor_.forget_through(slot);
  chosen_durable_through_ = std::max(chosen_durable_through_, slot);
  snapshot_wanted_ = false;
  catchup_in_flight_ = false;
  if (role_ == Role::leader) check_serving();
  if (!voting_) repair_check(Ballot{}, false, kNoSlot);
}

// ------------------------------------------------------------------ repair

void Replica::repair_tick() {
  if (now_ < repair_.next_query_at) return;
  repair_.next_query_at = now_ + ms(options_.limits.repair_query_ms);
  const RepairQuery query{repair_.nonce, repair_.floor_known ? repair_.floor : Ballot{}};
  for (NodeId member : peers()) send(member, query);
  // A cluster of one has nobody to ask: nothing it lost can be known anywhere.
  const Configuration& current = configuration();
  if (current.voters.size() == 1 && current.is_voter(options_.self) && current.learners.empty())
    finish_repair(Ballot{});
}

void Replica::on_repair_query(NodeId from, const RepairQuery& query) {
  note_ballot(query.ballot_floor);
  // A replica that is itself repairing from an empty disk reports fresh too:
  // only if a majority of the others all lost everything could a history go
  // unnoticed, and then it is lost anyway.
  const bool fresh = acceptor_.untouched() && learner_.chosen_through() == kNoSlot;
  send(from, RepairReport{query.nonce, acceptor_.promised(), learner_.chosen_through(), fresh});
  if (role_ == Role::leader && query.ballot_floor >= proposer_.ballot()) {
    // The repairing replica must see an instance that began after its
    // repair: prepare again, above the floor it learned.
    start_prepare(proposer_.ballot());  // by value: start_prepare changes the proposer's ballot
  }
}

void Replica::on_repair_report(NodeId from, const RepairReport& report) {
  if (voting_ || report.nonce != repair_.nonce || from == options_.self) return;
  if (!repair_.reporters.add(from)) return;
  repair_.all_fresh = repair_.all_fresh && report.fresh;
  if (report.promised > repair_.floor) repair_.floor = report.promised;
  note_ballot(report.promised);
  if (repair_.floor_known) return;
  // If EVERY other member never promised, voted or learned anything, no
  // ballot ever completed phase 1 (a quorum holds at least one other
  // member): a new cluster, and it may vote at once. A majority of fresh
  // replicas counting this one is not enough, because this replica's own
  // promises are what it lost: in seed 13086 n1 led at (1,1) with n3, lost
  // its disk, heard "fresh" from n2 (cut off since the start), voted at
  // once and prepared (1,1) again, a ballot n3 had already accepted under.
  // So a brand-new cluster starts voting once all its members have answered.
  //
  // With membership changes the members asked are those of the newest
  // configuration this replica knows (docs/ARCHITECTURE.md says what that
  // leaves open).
  const Quorum& quorum = *configs_.latest().quorum;
  const size_t others = quorum.size() - (quorum.contains(options_.self) ? 1 : 0);
  const size_t reported = repair_.reporters.count_for(quorum);
  if (repair_.all_fresh && reported >= others) {
    finish_repair(Ballot{});
    return;
  }
  // Otherwise the floor must come from a majority of the OTHERS: its own
  // promises are what it lost.
  if (repair_.all_fresh || reported < std::min(quorum.threshold(), others)) return;
  repair_.floor_known = true;
  repair_.next_query_at = now_;  // tell the leader the floor at once
}

void Replica::repair_check(const Ballot& heartbeat_ballot, bool serving, Slot commit_index) {
  if (repair_.floor_known && !repair_.target_known && serving && heartbeat_ballot > repair_.floor) {
    repair_.target_known = true;
    repair_.leader_ballot = heartbeat_ballot;
    repair_.target = commit_index;
  }
  if (repair_.target_known && learner_.chosen_through() >= repair_.target) finish_repair(repair_.leader_ballot);
}

void Replica::finish_repair(const Ballot& leader_ballot) {
  voting_ = true;
  // From now on it refuses every ballot below the new instance's. A repair
  // with no instance to wait for (a new cluster) still leaves its mark on
  // disk: the promise (0, self), below every real ballot. A store whose
  // promise is exactly (0,0) never finished a repair, so its replica repairs
  // again after a restart (seed 210: it crashed in the middle of one); one
  // that finished keeps its vote (seed 13086: a voter that had never
  // promised anything crashed, and repairing again left no quorum).
  acceptor_.observe(leader_ballot.is_zero() ? Ballot{0, options_.self} : leader_ballot);
  reset_election_timer();
}

// ------------------------------------------------------------ leases, reads

bool Replica::lease_valid(TimeUs now) const {
  if (role_ != Role::leader) return false;
  if (options_.mutants.lease_read_after_expiry) return leader_lease_.until() != 0;
  return leader_lease_.valid(now);
}

void Replica::leader_tick() {
  // Check-quorum: a leader that heard from no majority within its lease
  // steps down, so one that can send but not receive cannot hold the cluster.
  if (now_ - quorum_heard_at_ > ms(options_.timing.lease_ms) && now_ >= starved_grace_until_) {
    step_down();
    return;
  }
  if (now_ >= next_heartbeat_at_ || heartbeat_wanted_) send_heartbeats();
  hand_over_if_removed();
  if (role_ != Role::leader) return;
  auto_promote();
  const auto resends = proposer_.due_resends(now_, ms(options_.timing.accept_retransmit_ms),
                                             learner_.chosen_through(), options_.limits.retransmits_per_tick_max);
  for (const auto& resend : resends) send(resend.to, resend.accept);
}

void Replica::send_heartbeats() {
  heartbeat_wanted_ = false;
  const Ballot ballot = proposer_.ballot();
  const uint64_t seq = ++heartbeat_seq_;
  auto& round = heartbeat_rounds_[seq];
  round.sent_at = now_;
  round.acks.add(options_.self);
  lease_promise_.grant(ballot, now_, lease_promise_us());
  next_heartbeat_at_ = now_ + ms(options_.timing.heartbeat_ms);
  while (heartbeat_rounds_.size() > 64) heartbeat_rounds_.erase(heartbeat_rounds_.begin());
  for (NodeId member : peers()) send(member, Heartbeat{ballot, seq, learner_.chosen_through(), serving_});
  // Resent with every round until the voters of every configuration in play
  // promised: a Prepare or its Promise may be lost.
  if (!prepared_all() || waiting_change_) extend_phase1();
  on_heartbeat_ack(options_.self, HeartbeatAck{ballot, seq, learner_.chosen_through()});
}

void Replica::on_heartbeat(NodeId from, const Heartbeat& heartbeat) {
  note_ballot(heartbeat.ballot);
  if (heartbeat.ballot < acceptor_.promised()) {
    send(from, Reject{heartbeat.ballot, acceptor_.promised(), Reject::Reason::stale_ballot,
                      Reject::Refused::heartbeat});
    return;
  }
  heard_from_leader(from, heartbeat.ballot);
  // Only a voter acks: an ack is counted toward the leader's lease and its
  // read rounds, and a repairing replica promised nothing a quorum can rest
  // on (its disk is lost; promised (0,0) takes any ballot). Found by
  // synod-sim seed 30267: a leader deposed while paused counted a repairing
  // replica's ack as its quorum and served a stale read.
  if (voting_) send(from, HeartbeatAck{heartbeat.ballot, heartbeat.seq, learner_.chosen_through()});
  follow_commit(heartbeat.ballot, heartbeat.commit_index);
  if (!voting_) repair_check(heartbeat.ballot, heartbeat.serving, heartbeat.commit_index);
}

void Replica::on_heartbeat_ack(NodeId from, const HeartbeatAck& ack) {
  if (role_ != Role::leader || ack.ballot != proposer_.ballot()) return;
  auto& progress = peers_[from];
  progress.chosen_through = std::max(progress.chosen_through, ack.chosen_through);
  progress.last_ack = now_;
  auto it = heartbeat_rounds_.find(ack.seq);
  if (it == heartbeat_rounds_.end()) return;
  auto& round = it->second;
  round.acks.add(from);
  if (round.counted || !reached_all(round.acks)) return;
  round.counted = true;
  leader_lease_.extend(round.sent_at, ms(options_.timing.lease_ms));
  quorum_heard_at_ = std::max(quorum_heard_at_, round.sent_at);
  acked_seq_ = std::max(acked_seq_, ack.seq);
  release_reads();
}

void Replica::release_reads() {
  if (!serving_) return;
  while (!pending_reads_.empty() && pending_reads_.front().needs_seq <= acked_seq_) {
    reads_granted_.push_back(ReadGrant{pending_reads_.front().read_id, learner_.chosen_through(), false});
    pending_reads_.pop_front();
  }
}

Replica::PeerProgress Replica::peer(NodeId node) const {
  auto it = peers_.find(node);
  return it == peers_.end() ? PeerProgress{} : it->second;
}

// ------------------------------------------------------------------ output

void Replica::send(NodeId to, Message message) {
  if (to == options_.self) {
    dispatch(to, message);
    return;
  }
  messages_.push_back(Envelope{options_.self, to, std::move(message)});
}

void Replica::send_after_sync(NodeId to, Message message) {
  after_sync_.push_back(Envelope{options_.self, to, std::move(message)});
}

void Replica::broadcast(const Message& message) {
  for (NodeId member : peers()) messages_.push_back(Envelope{options_.self, member, message});
  dispatch(options_.self, message);
}

SoftState Replica::soft_state() const {
  return SoftState{role_, leader_, std::max(acceptor_.promised(), proposer_.ballot()), serving(), voting_,
                   role_ == Role::leader && lease_waited_};
}

bool Replica::has_ready() const {
  if (!messages_.empty() || !after_sync_.empty() || !reads_granted_.empty() || !reads_failed_.empty() ||
      !dropped_.empty() || learner_.has_new() || acceptor_.dirty() || snapshot_from_ != kNoNode) {
    return true;
  }
  if (role_ == Role::leader && (heartbeat_wanted_ || can_advance())) return true;
  return soft_state() != published_;
}

Ready Replica::take_ready() {
  if (role_ == Role::leader && heartbeat_wanted_) send_heartbeats();
  flush_batches();

  Ready ready;
  ready.id = ++ready_id_;
  ready.persist.ready_id = ready.id;
  ready.persist.promised = acceptor_.take_promised_change();
  ready.persist.accepted = acceptor_.take_accepted_changes();
  ready.apply = learner_.take_newly_chosen();
  for (const auto& entry : ready.apply) {
    if (entry.slot > chosen_durable_through_) ready.persist.chosen.push_back(entry);
  }
  chosen_durable_through_ = std::max(chosen_durable_through_, learner_.chosen_through());
  acceptor_.forget_through(learner_.chosen_through());
  ready.messages.swap(messages_);
  ready.messages_after_sync = AfterSync(ready.id, std::move(after_sync_));
  after_sync_.clear();
  ready.reads.swap(reads_granted_);
  ready.reads_failed.swap(reads_failed_);
  ready.dropped.swap(dropped_);
  ready.snapshot_from = snapshot_from_;
  snapshot_from_ = kNoNode;
  const SoftState current = soft_state();
  if (current != published_) {
    published_ = current;
    ready.soft_state = current;
  }
  return ready;
}

}  // namespace synod::paxos
