// The listener's one-shot watch table (zkserver/watches.h): what each event
// fires, once, and one event per connection per change.
#include <catch2/catch.hpp>

#include "zkserver/watches.h"

using synod::lockservice::ZnodeEvent;
using synod::lockservice::ZnodeEventType;
using synod::zkserver::Firing;
using synod::zkserver::WatchKind;
using synod::zkserver::WatchTable;

namespace {

ZnodeEvent event(ZnodeEventType type, const char* path) { return ZnodeEvent{type, path, 7}; }

std::vector<uint64_t> connections(const std::vector<Firing>& firings) {
  std::vector<uint64_t> out;
  for (const auto& f : firings) out.push_back(f.connection);
  return out;
}

}  // namespace

TEST_CASE("a data watch fires once, on a change of its own znode only") {
  WatchTable table;
  table.add(WatchKind::data, "/a", 1);
  CHECK(table.fire({event(ZnodeEventType::node_data_changed, "/b")}).empty());
  CHECK(table.fire({event(ZnodeEventType::node_children_changed, "/a")}).empty());
  CHECK(connections(table.fire({event(ZnodeEventType::node_data_changed, "/a")})) == std::vector<uint64_t>{1});
  CHECK(table.fire({event(ZnodeEventType::node_data_changed, "/a")}).empty());
  CHECK(table.count() == 0);
}

TEST_CASE("what each event fires, as ZooKeeper's WatchManager") {
  WatchTable table;
  table.add(WatchKind::exist, "/a", 1);
  table.add(WatchKind::child, "/a", 2);
  table.add(WatchKind::data, "/a", 3);
  // Created: data and exist watches, not child ones.
  CHECK(connections(table.fire({event(ZnodeEventType::node_created, "/a")})) == std::vector<uint64_t>{3, 1});
  CHECK(table.count() == 1);
  // Deleted: child watches too.
  CHECK(connections(table.fire({event(ZnodeEventType::node_deleted, "/a")})) == std::vector<uint64_t>{2});
}

TEST_CASE("a connection with several watches a change fires gets one event") {
  WatchTable table;
  table.add(WatchKind::data, "/a", 1);
  table.add(WatchKind::child, "/a", 1);
  const auto fired = table.fire({event(ZnodeEventType::node_deleted, "/a")});
  REQUIRE(fired.size() == 1);
  CHECK(fired[0].event.type == ZnodeEventType::node_deleted);
  CHECK(table.count() == 0);
}

TEST_CASE("events fire in order, and a closed connection's watches are forgotten") {
  WatchTable table;
  table.add(WatchKind::data, "/a", 1);
  table.add(WatchKind::child, "/", 1);
  table.add(WatchKind::data, "/b", 2);
  table.forget(2);
  CHECK(table.count() == 2);
  const auto fired = table.fire({event(ZnodeEventType::node_deleted, "/a"),
                                 event(ZnodeEventType::node_children_changed, "/"),
                                 event(ZnodeEventType::node_data_changed, "/b")});
  REQUIRE(fired.size() == 2);
  CHECK(fired[0].event.path == "/a");
  CHECK(fired[1].event.path == "/");
}

TEST_CASE("persistent watches stay; recursive ones fire below but not for children changes") {
  WatchTable table;
  table.add(WatchKind::persistent, "/p", 1);
  table.add(WatchKind::persistent_child, "/p", 1);
  table.add(WatchKind::persistent_recursive, "/p", 2);
  for (int round = 0; round < 2; ++round) {
    CHECK(connections(table.fire({event(ZnodeEventType::node_data_changed, "/p")})) == std::vector<uint64_t>{1, 2});
  }
  CHECK(connections(table.fire({event(ZnodeEventType::node_children_changed, "/p")})) == std::vector<uint64_t>{1});
  CHECK(connections(table.fire({event(ZnodeEventType::node_created, "/p/a/b")})) == std::vector<uint64_t>{2});
  CHECK(table.fire({event(ZnodeEventType::node_created, "/pq")}).empty());  // a sibling, not below
  CHECK(table.count() == 3);
}

TEST_CASE("removeWatches names ZooKeeper's tables: children, data, any") {
  using synod::zkserver::WatcherType;
  WatchTable table;
  table.add(WatchKind::persistent, "/p", 1);
  table.add(WatchKind::persistent_child, "/p", 1);
  CHECK(table.holds(WatcherType::children, "/p", 1));
  CHECK_FALSE(table.holds(WatcherType::any, "/p", 2));
  CHECK(table.remove(WatcherType::children, "/p", 1));
  CHECK(table.fire({event(ZnodeEventType::node_children_changed, "/p")}).empty());
  CHECK(connections(table.fire({event(ZnodeEventType::node_data_changed, "/p")})) == std::vector<uint64_t>{1});
  CHECK(table.remove(WatcherType::any, "/p", 1));
  CHECK_FALSE(table.remove(WatcherType::data, "/p", 1));
  CHECK(table.count() == 0);
}
