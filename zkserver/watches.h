// The watches the listener's connections hold, and which of them a change
// fires, as ZooKeeper's WatchManager keeps them: one-shot data watches (set
// by getData, or by exists on a znode that exists), exist watches (exists on
// a znode that does not) and child watches (getChildren); and the 3.6
// persistent watches of addWatch, plain or recursive, which stay until
// removed.
//
// ZooKeeper keeps two tables, and so does this, by kind: the data table
// (data, exist, and the data halves of persistent watches: `persistent` and
// `persistent_recursive`) and the child table (child, and `persistent_child`,
// the other half of a plain persistent watch; a recursive one has none), as
// DataTree.addWatch registers them. What fires what (DataTree.createNode,
// deleteNode, setData; WatchManager.triggerWatch):
//   node_created(p), node_data_changed(p): the data table's watches on p,
//       and recursive ones on any ancestor of p
//   node_deleted(p):          both tables' on p, recursive ones on ancestors
//   node_children_changed(p): the child table's on p
// A one-shot watch fires once and is gone; a persistent one stays. A connection
// gets one event per change even if it holds several watches it fires
// (ZooKeeper's `processed` set): its client library hands the event to each
// of its own watchers.
//
// Threads: registrations happen on the node's owner thread, inside the read
// that saw the znode, and firing happens there too (ZnodeSink), so a change
// applied after the read always finds the watch. Connections forget and
// remove theirs from the listener's thread. Hence one mutex; every call is
// short.
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

enum class WatchKind : uint8_t {
  data = 0,
  exist = 1,
  child = 2,
  persistent = 3,        // the data half of addWatch(PERSISTENT)
  persistent_child = 4,  // its child half
  persistent_recursive = 5,
};

// Watcher.WatcherType as removeWatches and checkWatches take them in
// ZooKeeper 3.8: children names the child table, data the data table, any
// both (a persistent watch is in them too). 3.8 answers its own Persistent
// and PersistentRecursive types with marshallingError, and so does this.
enum class WatcherType : int32_t { children = 1, data = 2, any = 3 };

struct Firing {
  uint64_t connection = 0;
  lockservice::ZnodeEvent event;
};

class WatchTable {
 public:
  void add(WatchKind kind, const std::string& path, uint64_t connection);
  // The watches `events` fire, in event order; one-shot ones are removed.
  std::vector<Firing> fire(const lockservice::ZnodeEvents& events);
  // removeWatches: the connection's watches of `type` on `path` are gone;
  // false if it held none (ZooKeeper's noWatcher).
  bool remove(WatcherType type, const std::string& path, uint64_t connection);
  // checkWatches: whether the connection holds a watch of `type` on `path`.
  bool holds(WatcherType type, const std::string& path, uint64_t connection) const;
  // Whether the connection holds any watch at all.
  bool holds_any(uint64_t connection) const;
  // Forgets every watch of a connection that closed.
  void forget(uint64_t connection);
  size_t count() const;

 private:
  using Key = std::pair<WatchKind, std::string>;
  void fire_kind(WatchKind kind, const std::string& path, const lockservice::ZnodeEvent& event,
                 std::set<uint64_t>& fired, std::vector<Firing>& out);
  void erase(const Key& key, uint64_t connection);

  mutable std::mutex mutex_;
  std::map<Key, std::set<uint64_t>> watchers_;       // (kind, path) -> connections
  std::map<uint64_t, std::set<Key>> by_connection_;  // connection -> its watches
  size_t count_ = 0;
  size_t recursive_ = 0;  // persistent_recursive watches: none, no ancestor walk
};

}  // namespace synod::zkserver
