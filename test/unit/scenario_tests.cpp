// Scenario tests for the Paxos core: each reads like the protocol transcript
// it checks. Some cite the sentence of Paxos Made Simple (Lamport, 2001) they
// check.
#include <catch2/catch.hpp>

#include "unit/harness.h"

using namespace synod::paxos;
using synod::test::Harness;

namespace {

[[maybe_unused]] bool is_to(const Envelope& e, NodeId to) { return e.to == to; }
template <class T>
bool is(const Envelope& e) {
  return std::holds_alternative<T>(e.message);
}

}  // namespace

TEST_CASE("a follower whose leader is silent probes, prepares and leads") {
  Harness cluster(3);
  cluster.campaign(1);
  CHECK(cluster.stabilize() ==
        "1->2 Probe b=(1,1) chosen_through=0\n"
        "1->3 Probe b=(1,1) chosen_through=0\n"
        "2->1 ProbeReply b=(1,1) granted\n"
        "3->1 ProbeReply b=(1,1) granted\n"
        "1->2 Prepare b=(1,1) from_slot=1\n"
        "1->3 Prepare b=(1,1) from_slot=1\n"
        "1->1 Promise b=(1,1) chosen_through=0 accepted={}\n"
        "2->1 Promise b=(1,1) chosen_through=0 accepted={}\n"
        "3->1 Promise b=(1,1) chosen_through=0 accepted={}\n"
        "1->2 Heartbeat b=(1,1) seq=1 commit=0\n"
        "1->3 Heartbeat b=(1,1) seq=1 commit=0\n"
        "2->1 HeartbeatAck b=(1,1) seq=1 chosen_through=0\n"
        "3->1 HeartbeatAck b=(1,1) seq=1 chosen_through=0\n");
  CHECK(cluster.node(1).role() == Role::leader);
  CHECK(cluster.node(1).serving());
  CHECK(cluster.node(2).leader() == 1);
}

TEST_CASE("leader fails between Accept and commit: the next leader re-proposes the accepted value") {
  // Paxos Made Simple: "If the proposer receives the requested responses from
  // a majority of the acceptors, then it can issue a proposal with number n
  // and value v, where v is the value of the highest-numbered proposal among
  // the responses".
  Harness cluster(3);
  cluster.elect(1);
  REQUIRE(cluster.propose(1, "x") == Replica::ProposeStatus::queued);
  // The Accept reaches node 2 only, and no Accepted gets back before node 1 dies.
  CHECK(cluster.deliver_only([](const Envelope& e) { return is<Accept>(e) && e.to == 2; }) ==
        "1->2 Accept b=(1,1) slot=1 value=[x] commit=0\n");
  cluster.crash(1);
  cluster.campaign(2);
  CHECK(cluster.stabilize() ==
        "2->3 Probe b=(2,2) chosen_through=0\n"
        "3->2 ProbeReply b=(2,2) granted\n"
        "2->3 Prepare b=(2,2) from_slot=1\n"
        "2->2 Promise b=(2,2) chosen_through=0 accepted={1:(1,1)=[x]}\n"
        "3->2 Promise b=(2,2) chosen_through=0 accepted={}\n"
        "2->3 Accept b=(2,2) slot=1 value=[x] commit=0\n"
        "2->3 Heartbeat b=(2,2) seq=1 commit=0 not-serving\n"
        "2->2 Accepted b=(2,2) slot=1\n"
        "3->2 Accepted b=(2,2) slot=1\n"
        "3->2 HeartbeatAck b=(2,2) seq=1 chosen_through=0\n");
  CHECK(cluster.log(2) == "1:x ");
  CHECK(cluster.node(2).serving());
}

TEST_CASE("a new leader fills holes with no-ops before it serves") {
  Harness cluster(3);
  cluster.elect(1);
  // Three slots in flight; every Accept for slot 2 is lost, then node 1 dies.
  for (const char* payload : {"a", "b", "c"}) cluster.propose(1, payload);
  cluster.deliver_only([](const Envelope& e) {
    const auto* accept = std::get_if<Accept>(&e.message);
    return accept != nullptr && accept->slot != 2 && e.to != 1;
  });
  cluster.crash(1);
  cluster.elect(2);
  CHECK(cluster.log(2) == "1:a 2:noop 3:c ");
  cluster.advance_ms(50);  // the next heartbeat carries the commit index to node 3
  cluster.stabilize();
  CHECK(cluster.log(3) == cluster.log(2));
}

TEST_CASE("an acceptor refuses an Accept below a ballot it promised") {
  // Paxos Made Simple: "An acceptor can accept a proposal numbered n iff it
  // has not responded to a prepare request having a number greater than n."
  Harness cluster(3);
  cluster.elect(1);
  cluster.cut(1, 3);  // node 3's lease promise to node 1 runs out; node 2 keeps node 1 leading
  for (int i = 0; i < 400; ++i) {
    cluster.advance_ms(1);
    cluster.stabilize([](const Envelope& e) { return !is<Probe>(e); });
  }
  cluster.heal();
  cluster.drop_all();
  REQUIRE(cluster.node(1).role() == Role::leader);
  cluster.node(3).step(Envelope{2, 3, Prepare{Ballot{5, 2}, 1, {}}}, cluster.now());
  cluster.flush(3);
  CHECK(cluster.deliver_only([](const Envelope& e) { return e.from == 3; }) ==
        "3->2 Promise b=(5,2) chosen_through=0 accepted={}\n");
  cluster.propose(1, "late");
  CHECK(cluster.deliver_only([](const Envelope& e) { return is<Accept>(e) && e.to == 3; }) ==
        "1->3 Accept b=(1,1) slot=1 value=[late] commit=0\n");
  CHECK(cluster.deliver_only([](const Envelope& e) { return e.from == 3; }) ==
        "3->1 Reject accept b=(1,1) promised=(5,2) reason=stale_ballot\n");
  CHECK(cluster.node(1).role() == Role::follower);
}

TEST_CASE("a restarted acceptor refuses Prepare for one lease plus the drift bound") {
  Harness cluster(3);
  cluster.elect(1);
  cluster.crash(2);
  cluster.restart(2);
  cluster.drop_all();
  // It cannot know what lease it granted before the crash.
  cluster.node(2).step(Envelope{3, 2, Prepare{Ballot{9, 3}, 1, {}}}, cluster.now());
  cluster.flush(2);
  CHECK(cluster.deliver_only([](const Envelope& e) { return e.from == 2; }) ==
        "2->3 Reject prepare b=(9,3) promised=(1,1) reason=restarting\n");
  cluster.advance_ms(330);  // lease 300 ms plus 10% drift
  cluster.drop_all();
  cluster.node(2).step(Envelope{3, 2, Prepare{Ballot{9, 3}, 1, {}}}, cluster.now());
  cluster.flush(2);
  CHECK(cluster.deliver_only([](const Envelope& e) { return e.from == 2; }) ==
        "2->3 Promise b=(9,3) chosen_through=0 accepted={}\n");
}

TEST_CASE("without the restart guard a second leader is elected inside a lease (mutant)") {
  for (bool mutant : {false, true}) {
    INFO("mutant prepare_right_after_restart = " << mutant);
    Harness cluster(3, [&](Options& o) { o.mutants.prepare_right_after_restart = mutant; });
    cluster.elect(1);
    cluster.advance_ms(20);
    cluster.stabilize();
    // Node 3 stops hearing the leader. Node 2, whose acknowledgements hold
    // the leader's lease, restarts and does not hear the leader either.
    cluster.cut(1, 3);
    for (int i = 0; i < 100; ++i) {
      cluster.advance_ms(1);
      cluster.stabilize();
    }
    cluster.crash(2);
    cluster.restart(2);
    cluster.cut(1, 2);
    std::string transcript;
    while (cluster.node(1).lease_valid(cluster.now())) {
      cluster.advance_ms(1);
      transcript += cluster.stabilize();
    }
    INFO(transcript);
    // Node 2 grants node 3's probe (it has not heard from a leader since it
    // restarted); only the restart guard keeps it from promising.
    CHECK(transcript.find("2->3 ProbeReply b=(2,3) granted") != std::string::npos);
    CHECK((transcript.find("2->3 Promise b=(2,3)") != std::string::npos) == mutant);
  }
}

TEST_CASE("a node back from a partition cannot force an election on a healthy cluster") {
  Harness cluster(3);
  cluster.elect(1);
  cluster.cut(1, 3);
  cluster.cut(2, 3);
  for (int i = 0; i < 600; ++i) {  // node 3 times out and probes into the void
    cluster.advance_ms(1);
    cluster.stabilize();
  }
  cluster.heal();
  cluster.drop_all();
  cluster.campaign(3);
  // The pre-prepare probe asks whether the others lost the leader too; they
  // have not, so node 3 never sends a Prepare and the leader keeps its ballot.
  const std::string transcript = cluster.stabilize();
  CHECK(transcript.find("ProbeReply b=(2,3) refused") != std::string::npos);
  CHECK(transcript.find("Prepare") == std::string::npos);
  CHECK(cluster.node(1).role() == Role::leader);
  CHECK(cluster.node(1).promised() == Ballot{1, 1});
}

TEST_CASE("a leader that hears from no majority within its lease steps down") {
  Harness cluster(3);
  cluster.elect(1);
  cluster.cut(1, 2);
  cluster.cut(1, 3);
  int64_t waited_ms = 0;
  while (cluster.node(1).role() == Role::leader && waited_ms < 1000) {
    cluster.advance_ms(1);
    cluster.stabilize();
    ++waited_ms;
  }
  CHECK(cluster.node(1).role() != Role::leader);
  CHECK(waited_ms <= 300 + 1);
  CHECK_FALSE(cluster.node(1).lease_valid(cluster.now()));
}

TEST_CASE("leadership transfer: the successor prepares at once, with no election timeout") {
  Harness cluster(3);
  cluster.elect(1);
  cluster.propose(1, "a");
  cluster.stabilize();
  REQUIRE(cluster.transfer(1, 2));
  CHECK_FALSE(cluster.node(1).lease_valid(cluster.now()));
  // No time passes: node 3's lease promise to node 1 is still running, but
  // node 1 released it.
  CHECK(cluster.stabilize() ==
        "1->2 Nominate b=(1,1) successor=2\n"
        "1->3 Nominate b=(1,1) successor=2\n"
        "2->1 Prepare b=(2,2) from_slot=1 nominated_by=(1,1)\n"
        "2->3 Prepare b=(2,2) from_slot=1 nominated_by=(1,1)\n"
        "2->2 Promise b=(2,2) chosen_through=0 accepted={1:(1,1)=[a]}\n"
        "1->2 Promise b=(2,2) chosen_through=1 accepted={}\n"
        "3->2 Promise b=(2,2) chosen_through=0 accepted={1:(1,1)=[a]}\n"
        "2->1 CatchupRequest from_slot=1\n"
        "2->1 Heartbeat b=(2,2) seq=1 commit=0 not-serving\n"
        "2->3 Heartbeat b=(2,2) seq=1 commit=0 not-serving\n"
        "1->2 CatchupReply commit=1 entries=1 first=1\n"
        "1->2 HeartbeatAck b=(2,2) seq=1 chosen_through=1\n"
        "3->2 HeartbeatAck b=(2,2) seq=1 chosen_through=0\n");
  CHECK(cluster.node(2).serving());
  REQUIRE(cluster.propose(2, "b") == Replica::ProposeStatus::queued);
  cluster.stabilize();
  cluster.advance_ms(50);
  cluster.stabilize();
  CHECK(cluster.log(3) == "1:a 2:b ");
}

TEST_CASE("reads: granted at once under a valid lease, after a quorum round otherwise") {
  Harness cluster(3);
  cluster.elect(1);
  cluster.propose(1, "a");
  cluster.stabilize();
  REQUIRE(cluster.node(1).lease_valid(cluster.now()));
  REQUIRE(cluster.read(1, 1) == Replica::ReadStatus::queued);
  REQUIRE(cluster.reads(1).size() == 1);
  CHECK(cluster.reads(1)[0].under_lease);
  CHECK(cluster.reads(1)[0].index == 1);

  // Let the lease run out without acknowledgements (messages are dropped),
  // but not long enough for check-quorum to depose the leader.
  cluster.cut(1, 2);
  cluster.cut(1, 3);
  for (int i = 0; i < 310 && cluster.node(1).lease_valid(cluster.now()); ++i) cluster.advance_ms(1);
  cluster.drop_all();
  REQUIRE(cluster.node(1).role() == Role::leader);
  REQUIRE_FALSE(cluster.node(1).lease_valid(cluster.now()));
  cluster.heal();
  REQUIRE(cluster.read(1, 2) == Replica::ReadStatus::queued);
  CHECK(cluster.reads(1).size() == 1);  // not yet: a heartbeat round must confirm leadership
  cluster.stabilize();
  REQUIRE(cluster.reads(1).size() == 2);
  CHECK_FALSE(cluster.reads(1)[1].under_lease);
}

TEST_CASE("a follower that missed commits catches up from the leader") {
  Harness cluster(3);
  cluster.elect(1);
  cluster.cut(1, 3);
  for (const char* payload : {"a", "b", "c", "d"}) {
    cluster.propose(1, payload);
    cluster.stabilize();
  }
  CHECK(cluster.log(3).empty());
  cluster.heal();
  cluster.advance_ms(50);  // the next heartbeat tells node 3 the commit index
  const std::string transcript = cluster.stabilize();
  CHECK(transcript.find("3->1 CatchupRequest from_slot=1") != std::string::npos);
  CHECK(cluster.log(3) == "1:a 2:b 3:c 4:d ");
}

TEST_CASE("a crashed acceptor keeps exactly what it synced") {
  Harness cluster(3);
  cluster.elect(1);
  cluster.propose(1, "a");
  cluster.stabilize();
  cluster.advance_ms(50);  // the heartbeat that tells node 2 slot 1 is chosen
  cluster.stabilize();
  const auto before = cluster.disk(2);
  cluster.crash(2);
  cluster.restart(2);
  CHECK(cluster.node(2).promised() == before.promised);
  CHECK(cluster.log(2) == "1:a ");  // replayed from the durable chosen log
}

TEST_CASE("a brand-new cluster: every replica finds the others fresh and votes at once") {
  Harness cluster(3, {}, /*repairing=*/true);
  for (NodeId id : {1u, 2u, 3u}) CHECK_FALSE(cluster.node(id).voting());
  cluster.advance_ms(1);
  CHECK(cluster.stabilize().find("RepairReport nonce=") != std::string::npos);
  for (NodeId id : {1u, 2u, 3u}) CHECK(cluster.node(id).voting());
  cluster.elect(1);
  CHECK(cluster.node(1).serving());
}

TEST_CASE("fresh answers from a minority of the others do not let a lost disk vote at once (seed 13086)") {
  // A brand-new cluster in which node 2 is cut off at once: 1 leads with 3.
  Harness cluster(3, {}, /*repairing=*/true);
  cluster.advance_ms(1);
  cluster.stabilize();
  for (NodeId id : {1u, 2u, 3u}) REQUIRE(cluster.node(id).voting());
  cluster.cut(2, 1);
  cluster.cut(2, 3);
  cluster.elect(1);
  REQUIRE(cluster.propose(1, "a") == Replica::ProposeStatus::queued);
  for (int i = 0; i < 100; ++i) {
    cluster.advance_ms(1);
    cluster.stabilize();
  }
  REQUIRE(cluster.log(1) == cluster.log(3));
  REQUIRE(cluster.log(3).find(":a ") != std::string::npos);
  // 1 loses its disk and hears only from 2, which never promised anything.
  cluster.lose_disk(1);
  cluster.heal();
  cluster.cut(1, 3);
  std::string transcript;
  for (int i = 0; i < 300; ++i) {
    cluster.advance_ms(1);
    transcript += cluster.stabilize();
  }
  INFO(transcript);
  CHECK(transcript.find("2->1 RepairReport") != std::string::npos);
  CHECK_FALSE(cluster.node(1).voting());  // 1 and 3 may have made a quorum; 2 cannot know
  // Once 3 answers, the repair goes the ordinary way: 2 and 3 elect a leader
  // above the floor, and 1 votes after that instance.
  cluster.heal();
  for (int i = 0; i < 3000 && !cluster.node(1).voting(); ++i) {
    cluster.advance_ms(1);
    cluster.stabilize();
  }
  CHECK(cluster.node(1).voting());
  CHECK(cluster.node(1).promised() > Ballot{1, 1});
}

TEST_CASE("a replica that lost its disk votes only after an instance that began after its repair") {
  Harness cluster(3);
  cluster.elect(1);
  for (const char* payload : {"a", "b", "c"}) {
    cluster.propose(1, payload);
    cluster.stabilize();
  }
  cluster.lose_disk(3);
  REQUIRE_FALSE(cluster.node(3).voting());

  // While repairing it must not answer a Prepare as if it had promised nothing.
  cluster.node(3).step(Envelope{2, 3, Prepare{Ballot{9, 2}, 1, {}}}, cluster.now());
  cluster.flush(3);
  CHECK(cluster.deliver_only([](const Envelope& e) { return e.from == 3 && is<Reject>(e); }) ==
        "3->2 Reject prepare b=(9,2) promised=(0,0) reason=repairing\n");

  // It learns the highest promise from the others; the leader, asked with a
  // floor at its own ballot, prepares again above it.
  std::string transcript;
  for (int i = 0; i < 300 && !cluster.node(3).voting(); ++i) {
    cluster.advance_ms(1);
    transcript += cluster.stabilize();
  }
  INFO(transcript);
  CHECK(transcript.find("3->1 RepairQuery") != std::string::npos);
  CHECK(transcript.find("1->3 RepairReport") != std::string::npos);
  CHECK(transcript.find("floor=(1,1)") != std::string::npos);
  CHECK(transcript.find("1->2 Prepare b=(2,1)") != std::string::npos);  // above the floor (1,1)
  CHECK(transcript.find("3->1 Accepted") == std::string::npos);          // never voted while repairing
  REQUIRE(cluster.node(3).voting());
  CHECK(cluster.node(3).promised() >= Ballot{2, 1});
  CHECK(cluster.log(3) == "1:a 2:b 3:c ");
  CHECK(cluster.node(1).role() == Role::leader);  // no election was lost on the way
  cluster.propose(1, "d");
  cluster.stabilize();
  cluster.advance_ms(50);
  const std::string after = cluster.stabilize();
  CHECK(cluster.log(3) == "1:a 2:b 3:c 4:d ");
}

TEST_CASE("a replica that needs compacted slots asks for a snapshot and continues after it") {
  Harness cluster(3, [](Options& o) { o.limits.log_retention_slots = 64; });
  cluster.elect(1);
  cluster.cut(1, 3);
  cluster.cut(2, 3);
  for (int i = 0; i < 200; ++i) {
    cluster.propose(1, "v" + std::to_string(i));
    cluster.stabilize();
  }
  cluster.heal();
  for (int i = 0; i < 60 && cluster.snapshot_wanted(3) == kNoNode; ++i) {
    cluster.advance_ms(1);
    cluster.stabilize();
  }
  REQUIRE(cluster.snapshot_wanted(3) == 1);
  // The driver fetched the leader's snapshot of slot 150 and installed it.
  cluster.install_snapshot(3, 150);
  for (int i = 0; i < 200 && cluster.node(3).commit_index() < 200; ++i) {
    cluster.advance_ms(1);
    cluster.stabilize();
  }
  CHECK(cluster.node(3).commit_index() == 200);
  REQUIRE_FALSE(cluster.applied(3).empty());
  CHECK(cluster.applied(3).front().slot == 151);  // nothing below the snapshot is replayed
  CHECK(cluster.applied(3).back().slot == 200);
}

TEST_CASE("a machine that stalled all nodes longer than an election timeout causes no election") {
  Harness cluster(3);
  cluster.elect(1);
  cluster.advance_ms(30);
  cluster.stabilize();
  const Ballot ballot = cluster.node(1).promised();
  // Every process was descheduled for 500 ms: every timeout passed, but the
  // messages that would have kept them quiet were waiting to be read.
  cluster.starve_all_ms(500);
  for (int i = 0; i < 300; ++i) {
    cluster.advance_ms(1);
    cluster.stabilize();
  }
  CHECK(cluster.node(1).role() == Role::leader);
  CHECK(cluster.node(1).promised() == ballot);
  CHECK(cluster.node(2).leader() == 1);
  CHECK(cluster.node(3).leader() == 1);
}
