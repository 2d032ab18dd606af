// The ZooKeeper protocol listener (issue 22): kazoo, Curator, zkCli and the
// C client connect to `--zookeeper-addr` and run their recipes on synod's
// log. Each connection is a ZooKeeper session mapped onto a synod session;
// its requests become znode commands (lockservice/znodes.cpp) and linearizable
// reads; watches fire from the events each applied command reports. What is
// and is not supported is docs/zookeeper.md's table.
//
// Threads: the listener runs one thread of its own (its io_context) for
// every connection; it reaches the node only through ZkNode, whose callbacks
// run on the node's owner thread and post back. on_znode_events runs on the
// owner thread (ZnodeSink).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "zkserver/zk_node.h"

namespace synod::zkserver {

struct ListenerOptions {
  std::string host;  // to listen on: an address or a name
  uint16_t port = 0;
  size_t connections_max = 4096;
  // Requests of one connection that may wait for their replies; reading
  // stops past it (ZooKeeper's outstanding-request throttle).
  size_t outstanding_per_connection_max = 1000;
  // A connection without a session this long after it opened is closed.
  int64_t handshake_ms_max = 15'000;
  // ZooKeeper's minSessionTimeout and maxSessionTimeout with its default
  // tickTime of 2 s: a client's requested timeout is clamped to these.
  int64_t session_timeout_ms_min = 4'000;
  int64_t session_timeout_ms_max = 40'000;
};

// One line for the node's log: an event name and its details.
using LogLine = std::function<void(std::string_view event, std::string_view detail)>;

class Listener final : public ZnodeSink {
 public:
  Listener(ZkNode& node, ListenerOptions options, LogLine log);
  ~Listener() override;
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Binds and starts the listener's thread. "" or why not.
  std::string start();
  // Closes every connection and joins the thread. Idempotent.
  void stop();
  // The address bound ("127.0.0.1:7201").
  std::string address() const;

  void on_znode_events(const lockservice::ZnodeEvents& events) override;

  struct Shared;

 private:
  std::shared_ptr<Shared> shared_;
};

}  // namespace synod::zkserver
