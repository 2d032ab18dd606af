#include "zkserver/listener.h"

#include <boost/asio/post.hpp>

#include "net/resolve.h"
#include "zkserver/connection.h"

namespace synod::zkserver {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

void accept_next(const std::shared_ptr<Listener::Shared>& shared) {
  shared->acceptor.async_accept([shared](boost::system::error_code ec, tcp::socket socket) {
    if (ec) {
      if (shared->stopping || ec == asio::error::operation_aborted) return;
      shared->log("zookeeper_accept_failed", ec.message());
      return accept_next(shared);
    }
    if (shared->connections.size() >= shared->options.connections_max) {
      boost::system::error_code ignored;
      socket.close(ignored);
      return accept_next(shared);
    }
    socket.set_option(tcp::no_delay(true), ec);
    const uint64_t id = ++shared->next_connection;
    auto connection = std::make_shared<Connection>(shared, std::move(socket), id);
    shared->connections.emplace(id, connection);
    ++shared->alive;
    connection->start();
    accept_next(shared);
  });
}

}  // namespace

Listener::Listener(ZkNode& node, ListenerOptions options, LogLine log)
    : shared_(std::make_shared<Shared>(node, std::move(options), std::move(log))) {}

Listener::~Listener() { stop(); }

std::string Listener::start() {
  const auto& options = shared_->options;
  const std::string where = options.host + ":" + std::to_string(options.port);
  boost::system::error_code ec;
  tcp::resolver resolver(shared_->io);
  const auto results = resolver.resolve(options.host, std::to_string(options.port), net::kResolveFlags, ec);
  if (ec || results.empty()) return "cannot listen on " + where + ": the name does not resolve";
  const tcp::endpoint endpoint = net::ipv4_first(results).front();
  auto& acceptor = shared_->acceptor;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return "cannot listen on " + where + ": " + ec.message();
  shared_->node.set_znode_sink(this);
  accept_next(shared_);
  shared_->thread = std::thread([shared = shared_] { shared->io.run(); });
  return "";
}

void Listener::stop() {
  if (shared_->stopping.exchange(true)) return;
  shared_->node.set_znode_sink(nullptr);
  asio::post(shared_->io, [shared = shared_] {
    boost::system::error_code ignored;
    shared->acceptor.close(ignored);
    auto connections = shared->connections;
    for (auto& [id, weak] : connections) {
      if (auto connection = weak.lock()) connection->close("");
    }
    shared->io.stop();
  });
  if (shared_->thread.joinable()) shared_->thread.join();
}

std::string Listener::address() const {
  boost::system::error_code ec;
  const auto endpoint = shared_->acceptor.local_endpoint(ec);
  if (ec) return "";
  return endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
}

void Listener::on_znode_events(const lockservice::ZnodeEvents& events) {
  auto firings = shared_->watches.fire(events);
  if (firings.empty()) return;
  asio::post(shared_->io, [shared = shared_, firings = std::move(firings)] {
    for (const auto& firing : firings) {
      auto it = shared->connections.find(firing.connection);
      if (it == shared->connections.end()) continue;
      if (auto connection = it->second.lock()) connection->deliver(firing.event);
    }
  });
}

}  // namespace synod::zkserver
