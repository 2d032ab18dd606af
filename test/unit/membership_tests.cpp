// Membership changes in the core (paxos/configuration.h, replica.h
// MEMBERSHIP): a learner joins and catches up, is promoted and counts in
// quorums only once its configuration is in effect, a leader that removes
// itself hands over, one change at a time, and a removed member stays out.
// The simulator runs the same rules under faults; these read like
// transcripts of the happy paths and of the refusals.
#include <catch2/catch.hpp>
#include <utility>

#include "paxos/configuration.h"
#include "paxos/value_codec.h"
#include "unit/harness.h"

using namespace synod::paxos;
using synod::test::Harness;

namespace {

Configuration with_learner(Configuration c, NodeId id) {
  c.learners.push_back(id);
  std::sort(c.learners.begin(), c.learners.end());
  c.next_id = std::max(c.next_id, id + 1);
  return c;
}

Configuration promoted(Configuration c, NodeId id) {
  c.learners.erase(std::find(c.learners.begin(), c.learners.end(), id));
  c.voters.push_back(id);
  std::sort(c.voters.begin(), c.voters.end());
  return c;
}

Configuration without(Configuration c, NodeId id) {
  std::erase(c.voters, id);
  std::erase(c.learners, id);
  return c;
}

// Lets `ms` pass with the network delivering as it goes.
void run_ms(Harness& cluster, int64_t ms) {
  for (int64_t i = 0; i < ms; i += 10) {
    cluster.advance_ms(10);
    cluster.stabilize();
  }
}

// Proposes commands until `id`'s chosen prefix passes `slot`.
void write_until(Harness& cluster, NodeId leader, Slot slot) {
  for (int i = 0; i < 100 && cluster.node(leader).commit_index() < slot; ++i) {
    cluster.propose(leader, "w" + std::to_string(i));
    cluster.stabilize();
    cluster.advance_ms(1);
    cluster.stabilize();
  }
}

}  // namespace

TEST_CASE("configuration: the encoding round-trips and refuses what is not a configuration") {
  Configuration c = Configuration::of_voters({3, 1, 2});
  c = with_learner(c, 4);
  c.addresses[4] = MemberAddresses{"127.0.0.1:7104", "127.0.0.1:7004"};
  std::string bytes;
  synod::Writer writer(bytes);
  encode_value(*make_configuration_value(c), writer);
  synod::Reader reader(bytes);
  ValuePtr back = decode_value(reader);
  REQUIRE(back);
  REQUIRE(back->kind == Value::Kind::configuration);
  CHECK(*back->configuration == c);
  CHECK(reader.done());
  // Every cut of the encoding is refused, never read as something else.
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    synod::Reader short_reader(std::string_view(bytes).substr(0, cut));
    CHECK_FALSE(decode_value(short_reader));
  }
  // A learner that is also a voter is not a configuration.
  Configuration both = c;
  both.voters.push_back(4);
  std::string bad;
  synod::Writer bad_writer(bad);
  bad_writer.u8(2);
  encode_configuration(both, bad_writer);
  synod::Reader bad_reader(bad);
  ValueProblem problem;
  CHECK_FALSE(decode_value(bad_reader, &problem));
  CHECK(problem.error == ValueError::bad_configuration);
}

TEST_CASE("configuration: one change at a time, and removed ids never come back") {
  const Configuration three = Configuration::of_voters({1, 2, 3});
  CHECK(check_change(three, with_learner(three, 4)).empty());
  CHECK(check_change(with_learner(three, 4), promoted(with_learner(three, 4), 4)).empty());
  CHECK(check_change(three, without(three, 2)).empty());
  // Two learners at once, or a new voter straight away, is more than one change.
  CHECK_FALSE(check_change(three, with_learner(with_learner(three, 4), 5)).empty());
  Configuration direct = three;
  direct.voters.push_back(4);
  direct.next_id = 5;
  CHECK_FALSE(check_change(three, direct).empty());
  // Node 2 was removed: it may not be added again.
  const Configuration after = without(three, 2);
  Configuration back = after;
  back.learners.push_back(2);
  CHECK(check_change(after, back).find("removed") != std::string::npos);
  CHECK(after.removed(2));
  CHECK_FALSE(after.removed(4));
  CHECK_FALSE(check_change(three, Configuration{}).empty());
}

TEST_CASE("a learner joins, catches up, is promoted, and counts once its configuration is in effect") {
  Harness cluster(3);
  cluster.elect(1);
  REQUIRE(cluster.node(1).serving());
  write_until(cluster, 1, 3);

  cluster.join(4, 1);
  const Configuration grown = with_learner(cluster.node(1).configuration(), 4);
  REQUIRE(cluster.change(1, grown) == Replica::ChangeStatus::queued);
  // One change at a time.
  std::string why;
  CHECK(cluster.change(1, promoted(grown, 4), &why) == Replica::ChangeStatus::busy);
  CHECK(why.find("in progress") != std::string::npos);
  cluster.stabilize();
  cluster.advance_ms(5);
  cluster.stabilize();
  // The leader fills no-ops until the change is in effect.
  CHECK(cluster.node(1).configuration_in_effect() == grown);
  CHECK_FALSE(cluster.node(1).change_in_progress());
  // The learner caught up and applied the same log, but never campaigns.
  run_ms(cluster, 100);
  CHECK(cluster.log(4) == cluster.log(1));
  run_ms(cluster, 1000);
  CHECK(cluster.node(4).role() == Role::follower);
  CHECK(cluster.node(1).role() == Role::leader);

  const Configuration four = promoted(grown, 4);
  REQUIRE(cluster.change(1, four) == Replica::ChangeStatus::queued);
  cluster.stabilize();
  cluster.advance_ms(5);
  cluster.stabilize();
  REQUIRE(cluster.node(1).configuration_in_effect() == four);
  run_ms(cluster, 100);
  CHECK(cluster.node(3).configuration_in_effect() == four);

  // Four voters: a majority is three. With 2 and 3 cut off, 1 and 4 choose nothing.
  const Slot before = cluster.node(1).commit_index();
  cluster.cut(1, 2);
  cluster.cut(1, 3);
  cluster.propose(1, "needs-three");
  cluster.stabilize();
  CHECK(cluster.node(1).commit_index() == before);
  // With 3 back, 1, 3 and 4 choose it; node 4's vote counts now.
  cluster.heal();
  cluster.cut(1, 2);
  cluster.advance_ms(25);  // the Accept to 3 is sent again
  cluster.stabilize();
  CHECK(cluster.node(1).commit_index() > before);
  run_ms(cluster, 100);
  CHECK(cluster.log(4) == cluster.log(1));
}

TEST_CASE("a leader that removes itself hands over, and the removed member stays out") {
  Harness cluster(3);
  cluster.elect(1);
  write_until(cluster, 1, 2);
  const Configuration two = without(cluster.node(1).configuration(), 1);
  REQUIRE(cluster.change(1, two) == Replica::ChangeStatus::queued);
  run_ms(cluster, 100);
  const NodeId leader = cluster.node(2).role() == Role::leader ? 2 : 3;
  REQUIRE(cluster.node(leader).role() == Role::leader);
  CHECK(cluster.node(1).role() == Role::follower);
  CHECK(cluster.node(leader).configuration() == two);
  // The new leader brings the removal into effect, then node 1 is out: it
  // never campaigns, and what it sends is dropped.
  write_until(cluster, leader, cluster.node(leader).commit_index() + kConfigAlphaSlots + 1);
  REQUIRE(cluster.node(leader).configuration_in_effect() == two);
  const Slot chosen = cluster.node(leader).commit_index();
  run_ms(cluster, 2000);
  CHECK(cluster.node(1).role() == Role::follower);
  CHECK(cluster.node(leader).role() == Role::leader);
  // The two remaining voters still make progress.
  cluster.propose(leader, "after");
  cluster.stabilize();
  cluster.advance_ms(1);
  cluster.stabilize();
  CHECK(cluster.node(leader).commit_index() > chosen);
}

TEST_CASE("a learner's vote counts in no quorum; the learner_counts mutant lets it choose alone") {
  for (const bool mutant : {false, true}) {
    Harness cluster(3, [&](Options& options) { options.mutants.learner_counts = mutant; });
    cluster.elect(1);
    write_until(cluster, 1, 2);
    cluster.join(4, 1);
    REQUIRE(cluster.change(1, with_learner(cluster.node(1).configuration(), 4)) == Replica::ChangeStatus::queued);
    run_ms(cluster, 100);
    REQUIRE_FALSE(cluster.node(1).change_in_progress());
    // The leader hears only the learner: 1 and 4 are not a majority of {1,2,3}.
    const Slot before = cluster.node(1).commit_index();
    cluster.cut(1, 2);
    cluster.cut(1, 3);
    cluster.propose(1, "leader-and-learner");
    cluster.stabilize();
    CHECK((cluster.node(1).commit_index() > before) == mutant);
  }
}

TEST_CASE("a caught-up learner is promoted on its own when the voters are even, never when they are odd") {
  Harness cluster(3, [](Options& options) { options.limits.auto_promote_within_slots = 8; });
  cluster.elect(1);
  write_until(cluster, 1, 2);
  cluster.join(4, 1);
  REQUIRE(cluster.change(1, with_learner(cluster.node(1).configuration(), 4)) == Replica::ChangeStatus::queued);
  run_ms(cluster, 300);
  // Three voters: promoting the learner would make them even.
  CHECK(cluster.node(1).configuration().is_learner(4));
  // A voter removed leaves two: the learner takes its place.
  REQUIRE(cluster.change(1, without(cluster.node(1).configuration(), 3)) == Replica::ChangeStatus::queued);
  run_ms(cluster, 300);
  CHECK(cluster.node(1).configuration().voters == std::vector<NodeId>{1, 2, 4});
  CHECK(cluster.node(1).configuration().learners.empty());
}

TEST_CASE("a node that joins after several changes never takes an older configuration for the newest") {
  Harness cluster(3, [](Options& options) { options.limits.catchup_entries_max = 1; });
  cluster.elect(1);
  write_until(cluster, 1, 2);
  // Node 4 comes and goes; its id is retired.
  cluster.join(4, 1);
  REQUIRE(cluster.change(1, with_learner(cluster.node(1).configuration(), 4)) == Replica::ChangeStatus::queued);
  run_ms(cluster, 100);
  REQUIRE(cluster.change(1, without(cluster.node(1).configuration(), 4)) == Replica::ChangeStatus::queued);
  run_ms(cluster, 100);
  cluster.crash(4);
  // Node 5 joins and catches up from slot 1, one entry per reply, through
  // the log's configuration values that predate it.
  REQUIRE(cluster.change(1, with_learner(cluster.node(1).configuration(), 5)) == Replica::ChangeStatus::queued);
  run_ms(cluster, 100);
  cluster.join(5, 1);
  for (int i = 0; i < 20000 && cluster.node(5).commit_index() < cluster.node(1).commit_index(); ++i) {
    if (cluster.in_flight().empty()) cluster.advance_ms(1);
    // One message at a time, so that every step of the catch-up is looked at.
    bool first = true;
    cluster.deliver_only([&](const Envelope&) { return std::exchange(first, false); });
    // Always itself a member, never one of the configurations before it.
    REQUIRE(cluster.node(5).configuration().is_learner(5));
    REQUIRE(cluster.node(5).configuration().removed(4));
  }
  CHECK(cluster.node(5).commit_index() == cluster.node(1).commit_index());
  CHECK(cluster.node(5).configuration() == cluster.node(1).configuration());
}
