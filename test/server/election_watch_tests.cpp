// ElectionWatch (server/election_watch.h): what the node logs, counts and
// records about elections, driven with soft states, peer messages and times
// chosen here. docs/observability.md describes the lines and the records.
#include <catch2/catch.hpp>

#include <map>
#include <string>
#include <vector>

#include "server/election_watch.h"
#include "server/limits.h"

namespace synod::server {
namespace {

using paxos::Ballot;
using paxos::Role;
using paxos::SoftState;

constexpr paxos::NodeId kSelf = 1;
constexpr int64_t kStartUs = 1'000'000;
constexpr int64_t kStartUnixMs = 1'700'000'000'000;

struct Line {
  Level level;
  std::string event;
  std::map<std::string, std::string> fields;
};

// A node's ElectionWatch with its own metrics, recording every log line.
struct Harness {
  Config config;
  NodeMetrics metrics{config};
  std::vector<Line> lines;
  ElectionWatch watch{kSelf, metrics, true, kStartUs,
                      [this](Level level, std::string_view event, std::initializer_list<Field> fields) {
                        Line line{level, std::string(event), {}};
                        for (const auto& f : fields) line.fields[std::string(f.key)] = f.value;
                        lines.push_back(std::move(line));
                      }};
  SoftState soft;  // the replica's, as last changed

  // Both clocks advance together in these tests.
  static Instant at(int64_t steady_us) { return Instant{steady_us, kStartUnixMs + (steady_us - kStartUs) / 1000}; }

  void change(SoftState next, int64_t now_us, std::optional<int64_t> last_contact_us = std::nullopt,
              bool stopping = false) {
    const auto previous = soft;
    soft = next;
    watch.watch_candidacy(previous, next, at(now_us), last_contact_us);
    watch.watch_leader(previous, next, at(now_us), stopping);
  }
  void receive(paxos::NodeId from, paxos::Message message, int64_t now_us) {
    watch.note_peer_message(paxos::Envelope{from, kSelf, std::move(message)}, now_us);
  }
  std::vector<Line> events(const std::string& name) const {
    std::vector<Line> found;
    for (const auto& line : lines) {
      if (line.event == name) found.push_back(line);
    }
    return found;
  }
};

SoftState soft_state(Role role, paxos::NodeId leader_id, Ballot ballot, bool serving) {
  SoftState soft;
  soft.role = role;
  soft.leader = leader_id;
  soft.ballot = ballot;
  soft.serving = serving;
  return soft;
}
SoftState follower(paxos::NodeId leader_id, uint64_t round_) {
  return soft_state(Role::follower, leader_id, Ballot{round_, leader_id}, false);
}
SoftState candidate(uint64_t round_) { return soft_state(Role::candidate, paxos::kNoNode, Ballot{round_, kSelf}, false); }
SoftState leader(uint64_t round_, bool serving) { return soft_state(Role::leader, kSelf, Ballot{round_, kSelf}, serving); }

paxos::Heartbeat heartbeat(Ballot ballot, uint64_t seq) {
  paxos::Heartbeat message;
  message.ballot = ballot;
  message.seq = seq;
  return message;
}

// Node 2 leads from the start (discovered, not elected), its last heartbeat
// arrives at 1.5 s.
void follow_node_2(Harness& h) {
  h.change(follower(2, 3), kStartUs + 100'000);
  h.receive(2, heartbeat(Ballot{3, 2}, 1), kStartUs + 500'000);
}

TEST_CASE("a node that starts into a running cluster discovers its leader: no election") {
  Harness h;
  follow_node_2(h);
  REQUIRE(h.events("leader_discovered").size() == 1);
  CHECK(h.events("leader_discovered")[0].fields.at("after_start_ms") == "100");
  CHECK(h.events("leader_changed").empty());
  CHECK(h.watch.elections().empty());
  CHECK(h.metrics.leader_changes.value() == 0);
  CHECK(h.watch.effective_leader() == 2);
}

TEST_CASE("a node that saw the first election counts it from the process start") {
  Harness h;
  h.receive(3, paxos::Prepare{Ballot{1, 3}, paxos::kNoSlot, Ballot{}}, kStartUs + 300'000);
  h.change(follower(3, 1), kStartUs + 400'000);
  const auto changed = h.events("leader_changed");
  REQUIRE(changed.size() == 1);
  CHECK(changed[0].fields.at("duration_ms") == "400");
  CHECK(changed[0].fields.at("reason") == "process start");
  REQUIRE(h.watch.elections().size() == 1);
  CHECK(h.watch.elections()[0].kind == "leader_change");
  CHECK(h.watch.elections()[0].started_unix_ms == kStartUnixMs);
  CHECK(h.metrics.election_duration.snapshot().count() == 1);
}

TEST_CASE("a won candidacy logs its reason and duration and records the election") {
  Harness h;
  follow_node_2(h);
  // Nothing from node 2 since 1.5 s: at 2 s this node campaigns.
  h.change(candidate(4), kStartUs + 1'000'000, kStartUs + 500'000);
  const auto started = h.events("election_started");
  REQUIRE(started.size() == 1);
  CHECK(started[0].fields.at("reason") == "nothing from node 2 for 500 ms (election timeout)");
  CHECK(started[0].fields.at("last_leader") == "2");
  CHECK(h.metrics.elections_started.value() == 1);

  // Phase 1 succeeds 250 ms later; it serves 50 ms after that.
  h.change(leader(4, false), kStartUs + 1'250'000);
  const auto won = h.events("election_won");
  REQUIRE(won.size() == 1);
  CHECK(won[0].fields.at("duration_ms") == "250");
  CHECK(won[0].fields.at("reason") == "a majority promised ballot 4");
  CHECK(h.metrics.elections_won.value() == 1);
  CHECK(h.metrics.elections_lost.value() == 0);
  CHECK(h.events("leader_changed").empty());  // not serving yet: no leader for clients

  h.change(leader(4, true), kStartUs + 1'300'000);
  REQUIRE(h.watch.elections().size() == 2);
  const auto& candidacy = h.watch.elections()[0];
  CHECK(candidacy.kind == "candidacy");
  CHECK(candidacy.outcome == "won");
  CHECK(candidacy.duration_ms == Approx(250.0));
  CHECK(candidacy.started_unix_ms == kStartUnixMs + 1'000);
  CHECK(candidacy.ended_unix_ms == kStartUnixMs + 1'250);
  CHECK(candidacy.leader_before == 2);
  CHECK(candidacy.leader_after == kSelf);
  CHECK(candidacy.ballot_round == 4);
  CHECK(candidacy.reason == "nothing from node 2 for 500 ms (election timeout); a majority promised ballot 4");

  // The leaderless time runs from the last heartbeat of node 2 to serving.
  const auto& change = h.watch.elections()[1];
  CHECK(change.kind == "leader_change");
  CHECK(change.duration_ms == Approx(800.0));
  CHECK(change.leader_before == 2);
  CHECK(change.leader_after == kSelf);
  CHECK(change.reason == "last heard from node 2 500 ms before");
  CHECK(h.metrics.leader_changes.value() == 1);
  const auto durations = h.metrics.election_duration.snapshot();
  CHECK(durations.count() == 1);
  CHECK(durations.sum == Approx(0.8));
}

TEST_CASE("a lost candidacy says who refused, within kRefusalsBytesMax") {
  Harness h;
  follow_node_2(h);
  h.change(candidate(4), kStartUs + 1'000'000, kStartUs + 500'000);
  // Many peers refuse, some twice; a refusal is noted once.
  for (paxos::NodeId peer = 2; peer < 60; ++peer) {
    h.receive(peer, paxos::ProbeReply{Ballot{4, kSelf}, false, 0}, kStartUs + 1'010'000);
    h.receive(peer, paxos::ProbeReply{Ballot{4, kSelf}, false, 0}, kStartUs + 1'011'000);
  }
  const std::string& refusals = h.watch.refusals();
  CHECK(refusals.size() <= kRefusalsBytesMax);
  CHECK(refusals.rfind("node 2 still hears a leader (probe not granted); node 3 ", 0) == 0);
  CHECK(refusals.find("node 59 ") == std::string::npos);  // past the bound

  h.change(follower(paxos::kNoNode, 4), kStartUs + 1'400'000);
  const auto lost = h.events("election_lost");
  REQUIRE(lost.size() == 1);
  CHECK(lost[0].fields.at("reason") == "refused: " + refusals);
  CHECK(lost[0].fields.at("duration_ms") == "400");
  CHECK(h.metrics.elections_lost.value() == 1);
  REQUIRE(h.watch.elections().size() == 1);
  CHECK(h.watch.elections()[0].outcome == "lost");
  CHECK(h.watch.elections()[0].leader_after == paxos::kNoNode);
}

TEST_CASE("a candidacy lost to another leader names it") {
  Harness h;
  follow_node_2(h);
  h.change(candidate(4), kStartUs + 1'000'000, kStartUs + 500'000);
  h.change(follower(3, 5), kStartUs + 1'100'000);
  REQUIRE(h.events("election_lost").size() == 1);
  CHECK(h.events("election_lost")[0].fields.at("reason") == "node 3 leads");
  REQUIRE(h.events("leader_changed").size() == 1);
  CHECK(h.events("leader_changed")[0].fields.at("leader") == "3");
}

TEST_CASE("a step-down records why") {
  Harness h;
  h.change(candidate(1), kStartUs + 400'000);
  h.change(leader(1, true), kStartUs + 500'000);
  CHECK(h.watch.effective_leader() == kSelf);

  SECTION("another leader at a higher ballot") {
    h.change(follower(3, 2), kStartUs + 2'500'000);
    const auto down = h.events("stepped_down");
    REQUIRE(down.size() == 1);
    CHECK(down[0].fields.at("reason") == "node 3 leads at a higher ballot");
    CHECK(down[0].fields.at("led_ms") == "2000");
    const auto& change = h.watch.elections().back();
    CHECK(change.kind == "leader_change");
    CHECK(change.leader_before == kSelf);
    CHECK(change.leader_after == 3);
    CHECK(change.reason == "this node stopped leading: node 3 leads at a higher ballot");
  }
  SECTION("no majority within the lease") {
    h.change(follower(paxos::kNoNode, 1), kStartUs + 2'500'000);
    REQUIRE(h.events("stepped_down").size() == 1);
    CHECK(h.events("stepped_down")[0].fields.at("reason") == "heard from no majority within the lease (check-quorum)");
    CHECK(h.watch.effective_leader() == paxos::kNoNode);
    // The next leader's election counts from the step-down.
    h.change(follower(2, 2), kStartUs + 3'000'000);
    CHECK(h.watch.elections().back().duration_ms == Approx(500.0));
    CHECK(h.watch.elections().back().reason ==
          "this node stopped leading: heard from no majority within the lease (check-quorum)");
  }
  SECTION("a handover before stopping") {
    h.change(follower(2, 2), kStartUs + 2'500'000, std::nullopt, true);
    REQUIRE(h.events("stepped_down").size() == 1);
    CHECK(h.events("stepped_down")[0].fields.at("reason") == "handing over before stopping");
  }
}

TEST_CASE("a nominated candidacy and a handed-over leadership say so") {
  Harness h;
  follow_node_2(h);
  h.receive(2, paxos::Nominate{Ballot{3, 2}, kSelf}, kStartUs + 600'000);
  h.change(candidate(4), kStartUs + 600'000, kStartUs + 500'000);
  CHECK(h.events("election_started")[0].fields.at("reason") == "nominated by node 2 (leadership transfer)");
  h.change(leader(4, true), kStartUs + 650'000);
  CHECK(h.watch.elections().back().reason == "node 2 handed leadership over");
}

TEST_CASE("peer refusals are logged once per second per kind, with the count left out") {
  Harness h;
  const paxos::Reject reject{Ballot{5, kSelf}, Ballot{6, 2}, paxos::Reject::Reason::stale_ballot,
                             paxos::Reject::Refused::accept};
  for (int64_t ms : {0, 100, 200, 900}) h.receive(2, reject, kStartUs + ms * 1000);
  REQUIRE(h.events("peer_refused").size() == 1);
  CHECK(h.events("peer_refused")[0].fields.at("refused") == "accept");
  CHECK(h.events("peer_refused")[0].fields.at("reason") == "stale_ballot");
  CHECK(h.events("peer_refused")[0].fields.at("their_promised_round") == "6");
  h.receive(2, reject, kStartUs + 1'000'000);
  REQUIRE(h.events("peer_refused").size() == 2);
  CHECK(h.events("peer_refused")[1].fields.at("suppressed_since_last") == "3");
  // Another peer is another key: logged at once.
  h.receive(3, reject, kStartUs + 1'000'000);
  CHECK(h.events("peer_refused").size() == 3);
  CHECK(h.metrics.rejects_received.with({"accept", "stale_ballot"}).value() == 6);
}

TEST_CASE("heartbeat gaps are measured per leader and ballot") {
  Harness h;
  CHECK(h.watch.heartbeat_gap_max_us() == -1);
  h.receive(2, heartbeat(Ballot{3, 2}, 1), kStartUs);
  h.receive(2, heartbeat(Ballot{3, 2}, 2), kStartUs + 50'000);
  h.receive(2, heartbeat(Ballot{3, 2}, 3), kStartUs + 130'000);
  h.receive(2, heartbeat(Ballot{4, 2}, 1), kStartUs + 400'000);  // a new ballot: no gap
  CHECK(h.watch.heartbeat_gap_max_us() == 80'000);
  CHECK(h.metrics.heartbeat_interval.snapshot().count() == 2);
  CHECK(h.watch.leader_message_at_us(2) == kStartUs + 400'000);
  h.watch.reset_heartbeat_gap_max();
  CHECK(h.watch.heartbeat_gap_max_us() == -1);

  // Rounds sent: one observation per consecutive round of the same ballot.
  auto heartbeats_of_round = [](uint64_t seq) {
    return std::vector<paxos::Envelope>{{kSelf, 2, heartbeat(Ballot{7, kSelf}, seq)},
                                        {kSelf, 3, heartbeat(Ballot{7, kSelf}, seq)}};
  };
  h.watch.note_heartbeats_sent(heartbeats_of_round(1), kStartUs);
  h.watch.note_heartbeats_sent(heartbeats_of_round(2), kStartUs + 50'000);
  h.watch.note_heartbeats_sent(heartbeats_of_round(4), kStartUs + 150'000);  // a round skipped: no observation
  const auto sent = h.metrics.heartbeat_sent_interval.snapshot();
  CHECK(sent.count() == 1);
  CHECK(sent.sum == Approx(0.05));
}

TEST_CASE("the election log keeps the last kElectionLogMax records") {
  Harness h;
  h.receive(2, paxos::Prepare{Ballot{1, 2}, paxos::kNoSlot, Ballot{}}, kStartUs);
  for (uint64_t i = 0; i < kElectionLogMax + 10; ++i) {
    const paxos::NodeId who = i % 2 == 0 ? 2 : 3;
    h.change(follower(who, i + 1), kStartUs + static_cast<int64_t>(i + 1) * 1'000'000);
  }
  REQUIRE(h.watch.elections().size() == kElectionLogMax);
  CHECK(h.watch.elections().front().ballot_round == 11);
  CHECK(h.watch.elections().back().ballot_round == kElectionLogMax + 10);
  CHECK(h.metrics.leader_changes.value() == kElectionLogMax + 10);
}

}  // namespace
}  // namespace synod::server
