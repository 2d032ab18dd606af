// The one-shot watches the listener's connections hold, and which of them a
// change fires, as ZooKeeper's WatchManager keeps them: a data watch (set by
// getData, or by exists on a znode that exists), an exist watch (exists on a
// znode that does not), and a child watch (getChildren).
//
// What fires what (DataTree.createNode/deleteNode/setData):
//   node_created(p):          data and exist watches on p
//   node_data_changed(p):     data and exist watches on p
//   node_deleted(p):          data, exist and child watches on p
//   node_children_changed(p): child watches on p
// A watch fires once and is gone. A connection gets one event per change
// even if it holds several watches it fires (ZooKeeper's `processed` set):
// its client library hands the event to each of its own watchers.
//
// Threads: registrations happen on the node's owner thread, inside the read
// that saw the znode, and firing happens there too (ZnodeSink), so a change
// applied after the read always finds the watch. Connections forget theirs
// from the listener's thread. Hence one mutex; every call is short.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "lockservice/znode_types.h"

namespace synod::zkserver {

enum class WatchKind : uint8_t { data = 0, exist = 1, child = 2 };

struct Firing {
  uint64_t connection = 0;
  lockservice::ZnodeEvent event;
};

class WatchTable {
 public:
  void add(WatchKind kind, const std::string& path, uint64_t connection);
  // The watches `events` fire, removed, in event order.
  std::vector<Firing> fire(const lockservice::ZnodeEvents& events);
  // Forgets every watch of a connection that closed.
  void forget(uint64_t connection);
  size_t count() const;

 private:
  using Key = std::pair<WatchKind, std::string>;
  void fire_kind(WatchKind kind, const lockservice::ZnodeEvent& event, std::set<uint64_t>& fired,
                 std::vector<Firing>& out);

  mutable std::mutex mutex_;
  std::map<Key, std::set<uint64_t>> watchers_;       // (kind, path) -> connections
  std::map<uint64_t, std::set<Key>> by_connection_;  // connection -> its watches
  size_t count_ = 0;
};

}  // namespace synod::zkserver
