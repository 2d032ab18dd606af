// Membership from the server's side (server/membership.h): the next
// configuration of each change asked over the API, the addresses the log
// holds or the flags give, and where the flags disagree with the log; and
// the record a joined node keeps (server/join.h). Pure: no node, no sockets.
#include <catch2/catch.hpp>

#include <unistd.h>
#include <cstdlib>
#include <filesystem>
#include <optional>

#include "server/join.h"
#include "server/membership.h"

namespace synod::server {
namespace {

using Kind = http::MembersOutcome::Kind;
using ChangeKind = http::MemberChange::Kind;

std::vector<Member> flags() {
  return {Member{1, {"127.0.0.1", 7101}, {"127.0.0.1", 7001}}, Member{2, {"127.0.0.1", 7102}, {"127.0.0.1", 7002}},
          Member{3, {"127.0.0.1", 7103}, {"127.0.0.1", 7003}}};
}

paxos::Configuration three() { return with_addresses(paxos::Configuration::of_voters({1, 2, 3}), flags()); }

}  // namespace

TEST_CASE("the bootstrap configuration takes its addresses from the flags", "[server][membership]") {
  const auto full = three();
  REQUIRE(full.addresses.size() == 3);
  CHECK(full.addresses.at(2).peer == "127.0.0.1:7102");
  CHECK(full.addresses.at(2).client == "127.0.0.1:7002");
  // The log's addresses win over the flags'.
  auto moved = paxos::Configuration::of_voters({1, 2, 3});
  moved.addresses[2] = paxos::MemberAddresses{"10.0.0.2:7102", "10.0.0.2:7002"};
  const auto members = members_of(moved, flags());
  REQUIRE(members.size() == 3);
  CHECK(members[1].peer == Endpoint{"10.0.0.2", 7102});
  CHECK(members[0].peer == Endpoint{"127.0.0.1", 7101});
  // A log without addresses never disagrees; one with them says where.
  CHECK(flags_disagree(paxos::Configuration::of_voters({1, 2, 3}), flags()).empty());
  CHECK(flags_disagree(three(), flags()).empty());
  const std::string said = flags_disagree(moved, flags());
  CHECK(said.find("node 2 is at 10.0.0.2:7102") != std::string::npos);
  auto grown = three();
  grown.learners = {4};
  grown.next_id = 5;
  grown.addresses[4] = paxos::MemberAddresses{"127.0.0.1:7104", "127.0.0.1:7004"};
  CHECK(flags_disagree(grown, flags()).find("the log names node 4") != std::string::npos);
}

TEST_CASE("each change asked over the API makes one next configuration, or says why not", "[server][membership]") {
  const auto current = three();
  // Add: the next id unless given, a learner with its addresses.
  auto added = plan_change(current, {ChangeKind::add, 0, "127.0.0.1:7104", "127.0.0.1:7004"}, 255);
  REQUIRE(added.kind == Kind::ok);
  CHECK(added.id == 4);
  CHECK(added.next.learners == std::vector<paxos::NodeId>{4});
  CHECK(added.next.next_id == 5);
  CHECK(added.next.addresses.at(4).client == "127.0.0.1:7004");
  CHECK(paxos::check_change(current, added.next).empty());
  auto given = plan_change(current, {ChangeKind::add, 9, "127.0.0.1:7109", "127.0.0.1:7009"}, 255);
  REQUIRE(given.kind == Kind::ok);
  CHECK((given.id == 9 && given.next.next_id == 10));
  CHECK(plan_change(current, {ChangeKind::add, 2, "h:1", "h:2"}, 255).kind == Kind::conflict);
  CHECK(plan_change(current, {ChangeKind::add, 300, "h:1", "h:2"}, 255).kind == Kind::invalid);
  CHECK(plan_change(current, {ChangeKind::add, 0, "127.0.0.1:7101", "h:2"}, 255).kind == Kind::invalid);
  CHECK(plan_change(current, {ChangeKind::add, 0, "nowhere", "h:2"}, 255).kind == Kind::invalid);
  // Promote a learner; a voter is a conflict, an unknown id not found.
  auto promoted = plan_change(added.next, {ChangeKind::promote, 4, {}, {}}, 255);
  REQUIRE(promoted.kind == Kind::ok);
  CHECK(promoted.next.voters == std::vector<paxos::NodeId>{1, 2, 3, 4});
  CHECK(promoted.next.learners.empty());
  CHECK(plan_change(current, {ChangeKind::promote, 1, {}, {}}, 255).kind == Kind::conflict);
  CHECK(plan_change(current, {ChangeKind::promote, 7, {}, {}}, 255).kind == Kind::not_found);
  // Remove: the id is gone for good.
  auto removed = plan_change(promoted.next, {ChangeKind::remove, 2, {}, {}}, 255);
  REQUIRE(removed.kind == Kind::ok);
  CHECK(removed.next.voters == std::vector<paxos::NodeId>{1, 3, 4});
  CHECK(removed.next.addresses.count(2) == 0);
  CHECK(removed.next.removed(2));
  const auto again = plan_change(removed.next, {ChangeKind::add, 2, "127.0.0.1:7202", "127.0.0.1:7002"}, 255);
  CHECK(again.kind == Kind::invalid);
  CHECK(again.error.find("was removed") != std::string::npos);
  CHECK(plan_change(removed.next, {ChangeKind::remove, 2, {}, {}}, 255).kind == Kind::not_found);
  // The last voter stays: check_change's sentence.
  auto one = with_addresses(paxos::Configuration::of_voters({1}), flags());
  const auto last = plan_change(one, {ChangeKind::remove, 1, {}, {}}, 255);
  CHECK(last.kind == Kind::invalid);
  CHECK(last.error.find("at least one voter") != std::string::npos);
}

TEST_CASE("a joined node's record survives a restart", "[server][join]") {
  const auto dir = std::filesystem::temp_directory_path() / ("synod-join-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::optional<JoinRecord> read;
  CHECK(read_join_record(dir.string(), read).empty());
  CHECK(!read);
  JoinRecord record{0x0123456789abcdefULL, "synod", {1, 2, 3}, {4}, flags()};
  record.members.push_back(Member{4, {"127.0.0.1", 7104}, {"127.0.0.1", 7004}});
  REQUIRE(write_join_record(dir.string(), record).empty());
  REQUIRE(read_join_record(dir.string(), read).empty());
  REQUIRE(read);
  CHECK(*read == record);
  Config config;
  config.id = 4;
  config.members = {Member{4, {"0.0.0.0", 7104}, {"0.0.0.0", 7004}}};
  apply_join_record(*read, config);
  CHECK(config.members.size() == 4);
  CHECK(config.member(4)->peer == Endpoint{"0.0.0.0", 7104});  // its own flags stay
  const auto options = config.paxos_options(1);
  CHECK(options.members == std::vector<paxos::NodeId>{1, 2, 3});
  CHECK(options.learners == std::vector<paxos::NodeId>{4});
  std::filesystem::remove_all(dir);
}

}  // namespace synod::server
