// Containers (issue 22): which ones a reap may delete, kept as the tree
// changes (creates, deletes, a multi's undo, a session's end, a restore), the
// reap itself (a delete's events, or a no-op that says why), and the
// leader's ContainerReaper that proposes the reaps.
#include "harness.h"
#include "lockservice/container_reaper.h"

namespace synod::lockservice::test {
namespace {

ZnodeCreate create_of(std::string path, ZnodeMode mode = ZnodeMode::persistent, SessionId session = kNoSession) {
  return ZnodeCreate{std::move(path), "", {ZnodeAcl{31, "world", "anyone"}}, mode, session, {}};
}
void create(Harness& h, std::string path, ZnodeMode mode = ZnodeMode::persistent, SessionId session = kNoSession) {
  const Result r = h.apply(create_of(std::move(path), mode, session));
  REQUIRE(r.status == Status::ok);
}
void erase(Harness& h, std::string path) {
  const Result r = h.apply(ZnodeDelete{std::move(path), -1, kNoSession, {}});
  REQUIRE(r.status == Status::ok);
}
Applied reap(Harness& h, std::string path) { return h.apply_fired(ZnodeReapContainer{std::move(path)}); }

std::vector<std::string> reapable(const StateMachine& machine) { return machine.reapable_containers(1'000); }
using Paths = std::vector<std::string>;

ZnodeEvent event(ZnodeEventType type, std::string path, Revision revision) {
  return ZnodeEvent{type, std::move(path), revision};
}

TEST_CASE("a container that had a child and has none left is reaped as a delete is", "[lockservice][containers]") {
  Harness h;
  create(h, "/app");
  create(h, "/app/c", ZnodeMode::container);
  CHECK(reapable(h.machine).empty());  // never had a child: kept, as ZooKeeper keeps it
  create(h, "/app/c/lock-1", ZnodeMode::persistent);
  CHECK(reapable(h.machine).empty());
  erase(h, "/app/c/lock-1");
  CHECK(reapable(h.machine) == Paths{"/app/c"});
  const ZnodeStat parent_before = *h.machine.znode_stat("/app");

  const Applied reaped = reap(h, "/app/c");
  CHECK(reaped.result.status == Status::ok);
  CHECK(reaped.result.zk_error == ZkError::ok);
  REQUIRE(reaped.result.znodes.size() == 1);
  CHECK_FALSE(h.machine.znode("/app/c"));
  CHECK(reapable(h.machine).empty());
  // ZooKeeper's order for a delete: the znode's, then its parent's children.
  CHECK(reaped.events == ZnodeEvents{event(ZnodeEventType::node_deleted, "/app/c", reaped.revision),
                                     event(ZnodeEventType::node_children_changed, "/app", reaped.revision)});
  const ZnodeStat parent = *h.machine.znode_stat("/app");
  CHECK(parent.pzxid == reaped.revision);
  CHECK(parent.num_children == 0);
  CHECK(parent.cversion == parent_before.cversion + 1);  // a delete's: 2 * creates - children
  CHECK(parent.mzxid == parent_before.mzxid);
  CHECK(parent.version == parent_before.version);
}

TEST_CASE("a reap that finds nothing to reap changes nothing and says why", "[lockservice][containers]") {
  Harness h;
  create(h, "/never", ZnodeMode::container);
  create(h, "/full", ZnodeMode::container);
  create(h, "/full/a");
  create(h, "/plain");
  create(h, "/plain/a");
  erase(h, "/plain/a");
  const std::string image = h.machine.snapshot();
  struct Case {
    std::string path;
    ZkError error;
    Status status;
  };
  for (const Case& c : {Case{"/gone", ZkError::no_node, Status::not_found},
                        Case{"/never", ZkError::bad_arguments, Status::invalid_argument},
                        Case{"/full", ZkError::not_empty, Status::conflict},
                        Case{"/plain", ZkError::bad_arguments, Status::invalid_argument},
                        Case{"/", ZkError::bad_arguments, Status::invalid_argument},
                        Case{"/zookeeper", ZkError::bad_arguments, Status::invalid_argument},
                        Case{"not a path", ZkError::no_node, Status::not_found}}) {
    INFO(c.path);
    const Applied refused = reap(h, c.path);
    CHECK(refused.result.zk_error == c.error);
    CHECK(refused.result.status == c.status);
    CHECK_FALSE(refused.result.message.empty());
    REQUIRE(refused.result.znodes.size() == 1);
    CHECK(refused.result.znodes[0].error == c.error);
    CHECK(refused.events.empty());
  }
  // Nothing changed but the revision and log time the image records.
  StateMachine before;
  REQUIRE(before.restore(image));
  for (const char* path : {"/never", "/full", "/full/a", "/plain"}) {
    INFO(path);
    CHECK(h.machine.znode_stat(path) == before.znode_stat(path));
  }
  CHECK(h.machine.znode_stat("/") == before.znode_stat("/"));
  CHECK(h.machine.counts().znodes == before.counts().znodes);
}

TEST_CASE("a client cannot send a reap: it is the cluster's own command", "[lockservice][containers]") {
  Harness h;
  create(h, "/c", ZnodeMode::container);
  create(h, "/c/a");
  erase(h, "/c/a");
  const Applied sent = h.apply_fired(ZnodeReapContainer{"/c"}, /*client_id=*/77, /*seq=*/1);
  CHECK(sent.result.status == Status::invalid_argument);
  CHECK(sent.events.empty());
  CHECK(h.machine.znode("/c"));
  CHECK(reapable(h.machine) == Paths{"/c"});
  // The node's own (client id 0) is taken.
  CHECK(reap(h, "/c").result.status == Status::ok);
}

TEST_CASE("the reapable set follows creates, deletes, sessions and nesting", "[lockservice][containers]") {
  Harness h;
  SECTION("a child created again takes a container out; deleting it puts it back") {
    create(h, "/c", ZnodeMode::container);
    create(h, "/c/a");
    erase(h, "/c/a");
    REQUIRE(reapable(h.machine) == Paths{"/c"});
    create(h, "/c/b");
    CHECK(reapable(h.machine).empty());
    CHECK(reap(h, "/c").result.zk_error == ZkError::not_empty);  // the leader looked before /c/b came
    erase(h, "/c/b");
    CHECK(reapable(h.machine) == Paths{"/c"});
  }
  SECTION("an ephemeral child that ends with its session leaves its container reapable") {
    // Curator's lock: an ephemeral-sequential child under a container.
    const SessionId s = h.session();
    create(h, "/lock", ZnodeMode::container);
    create(h, "/lock/n-", ZnodeMode::ephemeral_sequential, s);
    CHECK(reapable(h.machine).empty());
    REQUIRE(h.expire(s).status != Status::ok);  // too early: the session lives
    h.now_ms += 60'000;
    REQUIRE(h.expire(s).status == Status::ok);
    CHECK(reapable(h.machine) == Paths{"/lock"});
  }
  SECTION("a reap makes its parent container reapable in turn, as ZooKeeper's next check does") {
    create(h, "/a", ZnodeMode::container);
    create(h, "/a/b", ZnodeMode::container);
    create(h, "/a/b/c");
    erase(h, "/a/b/c");
    CHECK(reapable(h.machine) == Paths{"/a/b"});
    REQUIRE(reap(h, "/a/b").result.status == Status::ok);
    CHECK(reapable(h.machine) == Paths{"/a"});
    REQUIRE(reap(h, "/a").result.status == Status::ok);
    CHECK(reapable(h.machine).empty());
  }
  SECTION("a client's delete of a reapable container takes it out") {
    create(h, "/c", ZnodeMode::container);
    create(h, "/c/a");
    erase(h, "/c/a");
    erase(h, "/c");
    CHECK(reapable(h.machine).empty());
    CHECK(reap(h, "/c").result.zk_error == ZkError::no_node);
  }
  SECTION("in path order, at most `limit`") {
    for (const char* path : {"/z", "/a", "/m"}) {
      create(h, path, ZnodeMode::container);
      create(h, std::string(path) + "/x");
      erase(h, std::string(path) + "/x");
    }
    CHECK(reapable(h.machine) == Paths{"/a", "/m", "/z"});
    CHECK(h.machine.reapable_containers(2) == Paths{"/a", "/m"});
    CHECK(h.machine.reapable_containers(0).empty());
  }
}

TEST_CASE("a multi that fails puts the reapable set back with the tree", "[lockservice][containers]") {
  Harness h;
  create(h, "/fresh", ZnodeMode::container);
  create(h, "/used", ZnodeMode::container);
  create(h, "/used/last");
  const ZnodeCheck fails{"/missing", -1, kNoSession, {}};
  SECTION("a create and a delete under a fresh container, undone: it never had a child") {
    const Result r = h.apply(ZnodeMulti{{create_of("/fresh/x"), ZnodeDelete{"/fresh/x", -1, kNoSession, {}}, fails},
                                        kNoSession,
                                        {}});
    REQUIRE(r.zk_error == ZkError::no_node);
    CHECK(reapable(h.machine).empty());
    CHECK(reap(h, "/fresh").result.zk_error == ZkError::bad_arguments);
    CHECK(h.machine.znode_stat("/fresh")->cversion == 0);
  }
  SECTION("the last child's delete, undone: the child is back") {
    const Result r = h.apply(ZnodeMulti{{ZnodeDelete{"/used/last", -1, kNoSession, {}}, fails}, kNoSession, {}});
    REQUIRE(r.zk_error == ZkError::no_node);
    CHECK(reapable(h.machine).empty());
    CHECK(h.machine.znode("/used/last"));
  }
  SECTION("a reapable container deleted and undone is reapable again") {
    erase(h, "/used/last");
    REQUIRE(reapable(h.machine) == Paths{"/used"});
    const Result r = h.apply(ZnodeMulti{{ZnodeDelete{"/used", -1, kNoSession, {}}, fails}, kNoSession, {}});
    REQUIRE(r.zk_error == ZkError::no_node);
    CHECK(reapable(h.machine) == Paths{"/used"});
  }
  SECTION("the same multi succeeding leaves it reapable") {
    const Result r = h.apply(ZnodeMulti{{ZnodeDelete{"/used/last", -1, kNoSession, {}}}, kNoSession, {}});
    REQUIRE(r.status == Status::ok);
    CHECK(reapable(h.machine) == Paths{"/used"});
  }
}

TEST_CASE("a restore derives the reapable set from the tree", "[lockservice][containers]") {
  Harness h;
  for (const char* path : {"/a", "/b", "/b/c", "/d"}) create(h, path, ZnodeMode::container);
  create(h, "/a/x");
  erase(h, "/a/x");  // /a reapable
  create(h, "/b/c/x");
  erase(h, "/b/c/x");  // /b/c reapable; /b has a child
  create(h, "/d/x");   // /d has a child
  REQUIRE(reapable(h.machine) == Paths{"/a", "/b/c"});
  StateMachine restored;
  REQUIRE(restored.restore(h.machine.snapshot()));
  CHECK(reapable(restored) == Paths{"/a", "/b/c"});
  // And it goes on the same: the same reap on both, the same set after.
  h.machine = std::move(restored);
  REQUIRE(reap(h, "/b/c").result.status == Status::ok);
  CHECK(reapable(h.machine) == Paths{"/a", "/b"});
}

// ---- the leader's reaper ----

// A state with `n` reapable containers /r0 .. /r{n-1} (path order: by name).
Harness with_reapable(int n) {
  Harness h;
  for (int i = 0; i < n; ++i) {
    const std::string path = "/r" + std::to_string(i);
    create(h, path, ZnodeMode::container);
    create(h, path + "/x");
    erase(h, path + "/x");
  }
  return h;
}

std::vector<std::string> paths_of(const std::vector<ZnodeReapContainer>& reaps) {
  std::vector<std::string> out;
  for (const auto& r : reaps) out.push_back(r.path);
  return out;
}

TEST_CASE("the reaper checks once an interval, the first an interval after it leads", "[lockservice][containers]") {
  Harness h = with_reapable(2);
  ContainerReaper reaper(ReaperConfig{.check_interval_ms = 1'000});
  CHECK(reaper.tick(h.machine, 0).empty());  // not leading
  reaper.lead(10'000);
  CHECK(reaper.tick(h.machine, 10'999).empty());
  const auto first = reaper.tick(h.machine, 11'000);
  CHECK(paths_of(first) == Paths{"/r0", "/r1"});
  // Proposed and not applied yet: not proposed again.
  for (const auto& r : first) reaper.proposed(r.path, 11'000);
  CHECK(reaper.in_flight() == 2);
  CHECK(reaper.tick(h.machine, 11'010).empty());
  // Applied: forgotten. A container emptied now waits for the next check.
  for (const auto& r : first) REQUIRE(reap(h, r.path).result.status == Status::ok);
  create(h, "/late", ZnodeMode::container);
  create(h, "/late/x");
  erase(h, "/late/x");
  CHECK(reaper.tick(h.machine, 11'020).empty());
  CHECK(reaper.in_flight() == 0);
  CHECK(reaper.tick(h.machine, 11'999).empty());
  CHECK(paths_of(reaper.tick(h.machine, 12'000)) == Paths{"/late"});
  // A new leader starts over: nothing in flight, the first check an interval on.
  reaper.follow();
  CHECK(reaper.tick(h.machine, 12'010).empty());
  reaper.lead(12'010);
  CHECK(reaper.tick(h.machine, 13'009).empty());
  CHECK(paths_of(reaper.tick(h.machine, 13'010)) == Paths{"/late"});
}

TEST_CASE("the reaper spreads a check over ticks and stops at its budget", "[lockservice][containers]") {
  Harness h = with_reapable(10);
  ContainerReaper reaper(ReaperConfig{.check_interval_ms = 1'000, .reaps_per_check_max = 7, .reaps_per_tick_max = 3});
  reaper.lead(0);
  std::vector<std::string> proposed;
  int64_t now = 1'000;
  for (int tick = 0; tick < 5; ++tick, now += 10) {
    const auto reaps = reaper.tick(h.machine, now);
    CHECK(reaps.size() <= 3);
    for (const auto& r : reaps) {
      reaper.proposed(r.path, now);
      proposed.push_back(r.path);
    }
  }
  // 3 + 3 + 1: the budget is spent (nothing applied, so /r0../r6 are in flight).
  CHECK(proposed == Paths{"/r0", "/r1", "/r2", "/r3", "/r4", "/r5", "/r6"});
  // What the queue did not take comes back on the next tick.
  for (const std::string& path : proposed) REQUIRE(reap(h, path).result.status == Status::ok);
  CHECK(reaper.tick(h.machine, now).empty());  // the check is over until the next interval
  const auto next = reaper.tick(h.machine, 2'000);
  CHECK(paths_of(next) == Paths{"/r7", "/r8", "/r9"});
  CHECK(paths_of(reaper.tick(h.machine, 2'010)) == Paths{"/r7", "/r8", "/r9"});  // none reported proposed
}

TEST_CASE("a reap proposed and never applied is proposed again after retry_ms", "[lockservice][containers]") {
  Harness h = with_reapable(1);
  ContainerReaper reaper(ReaperConfig{.check_interval_ms = 100, .retry_ms = 2'000});
  reaper.lead(0);
  const auto first = reaper.tick(h.machine, 100);
  REQUIRE(paths_of(first) == Paths{"/r0"});
  reaper.proposed("/r0", 100);
  for (int64_t now = 200; now < 2'100; now += 100) CHECK(reaper.tick(h.machine, now).empty());
  CHECK(paths_of(reaper.tick(h.machine, 2'100)) == Paths{"/r0"});
}

TEST_CASE("the reaper's configuration is checked", "[lockservice][containers]") {
  CHECK(validate(ReaperConfig{}).empty());
  CHECK_FALSE(validate(ReaperConfig{.check_interval_ms = 0}).empty());
  CHECK_FALSE(validate(ReaperConfig{.reaps_per_check_max = 0}).empty());
  CHECK_FALSE(validate(ReaperConfig{.reaps_per_tick_max = 0}).empty());
  CHECK_FALSE(validate(ReaperConfig{.retry_ms = 0}).empty());
  CHECK(ReaperConfig{}.check_interval_ms == 60'000);  // ZooKeeper's znode.container.checkIntervalMs
}

}  // namespace
}  // namespace synod::lockservice::test
