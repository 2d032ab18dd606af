// The container reaper through the server's own Driver (server/driver.h): a
// one-member cluster with storage that syncs at once, so the real replica,
// keeper, reaper and state machine run as in a node. The leader proposes a
// reap for a container that had a child and has none left, one check
// interval after it leads, as its own command (client id 0, reported like
// the keeper's), and the reap fires a delete's events on apply.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "lockservice/command.h"
#include "server/driver.h"

namespace synod::server {
namespace {

namespace ls = lockservice;

constexpr int64_t kTickUs = 10'000;  // the node's tick (server/node.cpp)

struct Seen final : DriverObserver {
  std::vector<std::string> own;  // the node's own commands, by name
  std::vector<ls::ZnodeEvent> events;
  void keeper_proposing(const ls::Command& command, const std::string& /*payload*/, int64_t /*stamp_ms*/) override {
    own.push_back(ls::command_name(command));
  }
  void znodes_changed(const ls::ZnodeEvents& fired) override {
    events.insert(events.end(), fired.begin(), fired.end());
  }
};

// One member, id 1. Storage syncs every batch at once.
struct OneNode {
  Seen seen;
  Driver driver;
  int64_t now_us = 1'000'000;
  uint64_t seq = 0;

  explicit OneNode(int64_t check_interval_ms) : driver(options(check_interval_ms), &seen) {
    paxos::Options options;
    options.self = 1;
    options.members = {1};
    paxos::DurableState durable;
    durable.promised = paxos::Ballot{0, 1};  // a finished repair's: it may vote
    driver.start(options, durable, now_us);
  }
  static DriverOptions options(int64_t check_interval_ms) {
    DriverOptions options;
    options.reaper.check_interval_ms = check_interval_ms;
    return options;
  }

  void pump() {
    while (driver.has_ready()) {
      Effects effects = driver.flush(now_us);
      for (const auto& envelope : effects.messages) driver.step(envelope, now_us);
      for (const auto& batch : effects.persist) {
        for (const auto& envelope : driver.synced(paxos::SyncReceipt(batch.ready_id), now_us)) {
          driver.step(envelope, now_us);
        }
      }
    }
  }
  void run_ms(int64_t ms) {
    for (int64_t end = now_us + ms * 1000; now_us < end;) {
      now_us += kTickUs;
      driver.tick(now_us);
      pump();
    }
  }
  bool leads() const { return driver.keeper().leading(); }

  ls::Result propose(const ls::Command& command) {
    std::optional<http::Outcome> answer;
    driver.propose(
        paxos::Command{7, ++seq, ls::encode(command, 0)},
        [&answer](http::Outcome outcome) { answer = std::move(outcome); }, now_us);
    for (int i = 0; i < 100 && !answer; ++i) run_ms(10);
    REQUIRE(answer);
    REQUIRE(answer->kind == http::Outcome::Kind::applied);
    return answer->result;
  }
  void create(std::string path, ls::ZnodeMode mode = ls::ZnodeMode::persistent) {
    const auto r = propose(ls::ZnodeCreate{std::move(path), "", {ls::ZnodeAcl{31, "world", "anyone"}}, mode, 0, {}});
    REQUIRE(r.status == ls::Status::ok);
  }
  void erase(std::string path) {
    REQUIRE(propose(ls::ZnodeDelete{std::move(path), -1, 0, {}}).status == ls::Status::ok);
  }
  bool exists(const std::string& path) const { return driver.machine().znode_stat(path).has_value(); }
};

TEST_CASE("the leader reaps an emptied container one check after it leads, as its own command",
          "[driver][containers]") {
  OneNode node(/*check_interval_ms=*/1'000);
  node.run_ms(2'000);
  REQUIRE(node.leads());
  const int64_t led_by_us = node.now_us;
  node.create("/app");
  node.create("/app/emptied", ls::ZnodeMode::container);
  node.create("/app/emptied/lock-1");
  node.erase("/app/emptied/lock-1");
  node.create("/app/never", ls::ZnodeMode::container);  // no child yet: kept
  node.create("/app/full", ls::ZnodeMode::container);
  node.create("/app/full/a");
  node.seen.events.clear();
  REQUIRE(node.now_us - led_by_us < 1'000'000);  // the first check is still ahead

  node.run_ms(1'500);
  CHECK_FALSE(node.exists("/app/emptied"));
  CHECK(node.exists("/app/never"));
  CHECK(node.exists("/app/full"));
  CHECK(node.driver.machine().reapable_containers(10).empty());
  CHECK(std::count(node.seen.own.begin(), node.seen.own.end(), "znode_reap_container") == 1);
  REQUIRE(node.seen.events.size() == 2);
  CHECK(node.seen.events[0].type == ls::ZnodeEventType::node_deleted);
  CHECK(node.seen.events[0].path == "/app/emptied");
  CHECK(node.seen.events[1].type == ls::ZnodeEventType::node_children_changed);
  CHECK(node.seen.events[1].path == "/app");

  // The next one goes at the next check, and a client's command meanwhile is
  // answered as usual.
  node.erase("/app/full/a");
  CHECK(node.exists("/app/full"));
  node.run_ms(1'100);
  CHECK_FALSE(node.exists("/app/full"));
  CHECK(node.exists("/app/never"));
  CHECK(std::count(node.seen.own.begin(), node.seen.own.end(), "znode_reap_container") == 2);
}

TEST_CASE("with the default interval nothing is reaped within ZooKeeper's minute", "[driver][containers]") {
  OneNode node(ls::kContainerCheckMsDefault);
  node.run_ms(2'000);
  REQUIRE(node.leads());
  node.create("/c", ls::ZnodeMode::container);
  node.create("/c/x");
  node.erase("/c/x");
  node.run_ms(50'000);
  CHECK(node.exists("/c"));
  node.run_ms(10'000);
  CHECK_FALSE(node.exists("/c"));
}

}  // namespace
}  // namespace synod::server
