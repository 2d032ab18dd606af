// ZookeeperPort: the node as the ZooKeeper listener sees it
// (zkserver/zk_node.h). Writes, keep-alives and local waits go through the
// node's client API (http::NodeApi, which forwards to the leader); reads are
// linearizable on every node: the leader reads at its read index, and a
// follower asks the leader for that index over the peer link
// (ForwardRequest::Kind::read_index) and waits until it has applied it, so a
// follower serves ZooKeeper reads from its own state without breaking
// linearizability.
//
// Threads: the methods may be called from any thread; the work runs on the
// owner thread (posted to `owner`), where the callbacks run too. note_counts
// runs on the owner thread; status() reads what it stored from any thread.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <functional>
#include <memory>
#include <string>

#include "http/node_api.h"
#include "server/config.h"
#include "server/driver.h"
#include "server/log.h"
#include "server/peer_services.h"
#include "zkserver/listener.h"
#include "zkserver/zk_node.h"

namespace synod::server {

class ZookeeperPort final : public zkserver::ZkNode {
 public:
  ZookeeperPort(boost::asio::io_context& owner, Driver& driver, PeerServices& peers, http::NodeApi& api,
                std::function<void()> flush, std::string cluster_id);

  void propose(lockservice::Command command, lockservice::ClientId client_id, uint64_t seq,
               std::function<void(zkserver::Proposed)> done) override;
  void read(std::function<void(const zkserver::Snapshot&)> read) override;
  void wait_applied(uint64_t revision, int64_t timeout_ms,
                    std::function<void(const zkserver::Snapshot&)> read) override;
  void keep_alive(lockservice::SessionId session, std::function<void(zkserver::Renewal)> done) override;
  lockservice::ClientId new_client_id() override { return api_.new_client_id(); }
  zkserver::NodeStatus status() const override;
  void set_znode_sink(zkserver::ZnodeSink* sink) override { sink_ = sink; }
  std::string cluster_id() const override { return cluster_id_; }

  // Owner thread: the events one applied command fired.
  void znodes_changed(const lockservice::ZnodeEvents& events);
  // Owner thread, after applying: the znode counts for the four-letter words.
  void note_counts(const lockservice::Counts& counts);

 private:
  boost::asio::io_context& owner_;
  Driver& driver_;
  PeerServices& peers_;
  http::NodeApi& api_;
  std::function<void()> flush_;
  const std::string cluster_id_;
  std::atomic<zkserver::ZnodeSink*> sink_{nullptr};
  std::atomic<uint64_t> znodes_{0}, znode_bytes_{0};
};

// Starts the listener on `where` for `port`: null (and a log line saying
// why) if it cannot listen.
std::unique_ptr<zkserver::Listener> start_zookeeper(ZookeeperPort& port, const Endpoint& where, Log& log);

}  // namespace synod::server
