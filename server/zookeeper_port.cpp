#include "server/zookeeper_port.h"

#include <boost/asio/post.hpp>

#include "server/clock.h"
#include "server/version.h"

namespace synod::server {

namespace asio = boost::asio;
using zkserver::Snapshot;

namespace {

Snapshot snapshot_of(const http::ReadContext& context) {
  return Snapshot{context.ok, context.revision, context.machine};
}

}  // namespace

ZookeeperPort::ZookeeperPort(asio::io_context& owner, Driver& driver, PeerServices& peers, http::NodeApi& api,
                             std::function<void()> flush, std::string cluster_id)
    : owner_(owner),
      driver_(driver),
      peers_(peers),
      api_(api),
      flush_(std::move(flush)),
      cluster_id_(std::move(cluster_id)) {}

void ZookeeperPort::propose(lockservice::Command command, lockservice::ClientId client_id, uint64_t seq,
                            std::function<void(zkserver::Proposed)> done) {
  api_.propose(std::move(command), lockservice::Credential{}, client_id, seq,
               [done = std::move(done)](http::Outcome outcome) {
                 using Kind = http::Outcome::Kind;
                 zkserver::Proposed proposed;
                 proposed.revision = outcome.revision;
                 switch (outcome.kind) {
                   case Kind::applied:
                     proposed.kind = zkserver::Proposed::Kind::applied;
                     break;
                   case Kind::not_leader:
                   case Kind::busy:
                     proposed.kind = zkserver::Proposed::Kind::refused;
                     break;
                   case Kind::timeout:
                   case Kind::stopping:
                     proposed.kind = zkserver::Proposed::Kind::unknown;
                     break;
                 }
                 proposed.result = std::move(outcome.result);
                 done(std::move(proposed));
               });
}

void ZookeeperPort::wait_applied(uint64_t revision, int64_t timeout_ms, std::function<void(const Snapshot&)> read) {
  // wait_for runs once the applied revision is past its argument.
  if (revision == 0) {
    return api_.read(/*stale=*/true, [read = std::move(read)](const http::ReadContext& c) { read(snapshot_of(c)); });
  }
  api_.wait_for(revision - 1, timeout_ms,
                [read = std::move(read)](const http::ReadContext& c) { read(snapshot_of(c)); });
}

void ZookeeperPort::read(std::function<void(const Snapshot&)> read) {
  asio::post(owner_, [this, read = std::move(read)]() mutable {
    if (driver_.replica().role() == paxos::Role::leader) {
      driver_.read(
          false, [read = std::move(read)](const http::ReadContext& c) { read(snapshot_of(c)); }, steady_us());
      flush_();
      return;
    }
    transport::ForwardRequest request{0, transport::ForwardRequest::Kind::read_index, 0, 0, {}};
    auto shared = std::make_shared<std::function<void(const Snapshot&)>>(std::move(read));
    const bool sent = peers_.forward_to_leader(std::move(request), [this, shared](http::Outcome outcome) {
      if (outcome.kind != http::Outcome::Kind::applied) return (*shared)(Snapshot{});
      wait_applied(outcome.revision, 10'000, std::move(*shared));
    });
    if (!sent) (*shared)(Snapshot{});
  });
}

void ZookeeperPort::keep_alive(lockservice::SessionId session, std::function<void(zkserver::Renewal)> done) {
  api_.keep_alive(session, lockservice::Credential{}, [done = std::move(done)](http::KeepAliveOutcome outcome) {
    using Kind = http::KeepAliveOutcome::Kind;
    zkserver::Renewal renewal;
    renewal.valid_for_ms = outcome.valid_for_ms;
    renewal.kind = outcome.kind == Kind::ok        ? zkserver::Renewal::Kind::live
                   : outcome.kind == Kind::expired ? zkserver::Renewal::Kind::expired
                                                   : zkserver::Renewal::Kind::unknown;
    done(renewal);
  });
}

zkserver::NodeStatus ZookeeperPort::status() const {
  const auto view = api_.cluster();
  return zkserver::NodeStatus{http::role_name(view.role), view.applied_revision, znodes_.load(), znode_bytes_.load(),
                              view.version.synod};
}

void ZookeeperPort::znodes_changed(const lockservice::ZnodeEvents& events) {
  if (auto* sink = sink_.load()) sink->on_znode_events(events);
}

void ZookeeperPort::note_counts(const lockservice::Counts& counts) {
  znodes_ = counts.znodes;
  znode_bytes_ = counts.znode_bytes;
}

std::unique_ptr<zkserver::Listener> start_zookeeper(ZookeeperPort& port, const Endpoint& where, Log& log) {
  zkserver::ListenerOptions options;
  options.host = where.host;
  options.port = where.port;
  auto listener = std::make_unique<zkserver::Listener>(port, options,
                                                       [&log](std::string_view event, std::string_view detail) {
                                                         log.write(Level::info, event, {{"detail", detail}});
                                                       });
  if (auto error = listener->start(); !error.empty()) {
    log.write(Level::error, "zookeeper_listen_failed", {{"detail", error}});
    return nullptr;
  }
  log.write(Level::info, "zookeeper_listening", {{"addr", listener->address()}});
  return listener;
}

}  // namespace synod::server
