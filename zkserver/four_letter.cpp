// The four-letter words monitoring tools send instead of a ConnectRequest
// (ruok, srvr, mntr), answered as ZooKeeper 3.8 answers them; any other
// word gets ZooKeeper's refusal of a word not on its whitelist.
#include <cstdio>

#include "zkserver/connection.h"

namespace synod::zkserver {

namespace {

std::string hex(uint64_t value) {
  char text[24];
  std::snprintf(text, sizeof text, "0x%llx", static_cast<unsigned long long>(value));
  return text;
}

}  // namespace

void Connection::four_letter(std::string_view word) {
  auto& s = *shared_;
  const NodeStatus node = s.node.status();
  const uint64_t count = s.latency_count.load();
  const int64_t avg_ms = count == 0 ? 0 : s.latency_us_sum.load() / static_cast<int64_t>(count) / 1000;
  const int64_t max_ms = s.latency_us_max.load() / 1000;
  const std::string version = "3.8.0-synod-" + node.version + ", built on synod";
  std::string text;
  if (word == "ruok") {
    text = "imok";
  } else if (word == "srvr") {
    text = "Zookeeper version: " + version + "\nLatency min/avg/max: 0/" + std::to_string(avg_ms) + "/" +
           std::to_string(max_ms) + "\nReceived: " + std::to_string(s.received.load()) +
           "\nSent: " + std::to_string(s.sent.load()) + "\nConnections: " + std::to_string(s.alive.load()) +
           "\nOutstanding: " + std::to_string(s.outstanding.load()) + "\nZxid: " + hex(node.revision) +
           "\nMode: " + node.mode + "\nNode count: " + std::to_string(node.znodes) + "\n";
  } else if (word == "mntr") {
    auto line = [&](const char* key, const std::string& value) { text += std::string(key) + "\t" + value + "\n"; };
    line("zk_version", version);
    line("zk_server_state", node.mode);
    line("zk_avg_latency", std::to_string(avg_ms));
    line("zk_max_latency", std::to_string(max_ms));
    line("zk_min_latency", "0");
    line("zk_packets_received", std::to_string(s.received.load()));
    line("zk_packets_sent", std::to_string(s.sent.load()));
    line("zk_num_alive_connections", std::to_string(s.alive.load()));
    line("zk_outstanding_requests", std::to_string(s.outstanding.load()));
    line("zk_znode_count", std::to_string(node.znodes));
    line("zk_watch_count", std::to_string(s.watches.count()));
    line("zk_approximate_data_size", std::to_string(node.znode_bytes));
    line("zk_last_zxid", hex(node.revision));
  } else {
    text = std::string(word) + " is not executed because it is not in the whitelist.\n";
  }
  close_when_written_ = true;
  send(std::move(text));
}

}  // namespace synod::zkserver
