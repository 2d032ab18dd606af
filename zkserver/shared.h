// Internal to zkserver/: the state the listener and its connections share.
// io and the connection map belong to the listener's thread; the watch
// table has its own mutex (watches.h); the counters are atomic, for the
// four-letter words.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <map>
#include <memory>
#include <thread>

#include "zkserver/listener.h"
#include "zkserver/watches.h"

namespace synod::zkserver {

class Connection;

struct Listener::Shared {
  Shared(ZkNode& n, ListenerOptions o, LogLine l) : node(n), options(std::move(o)), log(std::move(l)), acceptor(io) {}

  ZkNode& node;
  const ListenerOptions options;
  LogLine log;
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor;
  std::thread thread;
  WatchTable watches;
  std::map<uint64_t, std::weak_ptr<Connection>> connections;  // listener thread
  uint64_t next_connection = 0;
  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> received{0}, sent{0}, outstanding{0}, alive{0};
  std::atomic<int64_t> latency_us_max{0}, latency_us_sum{0};
  std::atomic<uint64_t> latency_count{0};
};

}  // namespace synod::zkserver
