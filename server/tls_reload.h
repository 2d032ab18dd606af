// The node's TLS files: loaded when the node opens, and again on SIGHUP
// (issue 19). A reload builds new contexts beside the old ones and swaps
// them in whole (tls/store.h); the HTTP server and the peer transport take
// the new ones for each new connection, and open connections keep theirs.
// A reload whose CA changed closes every peer link, so each is checked
// again against the new CA. A reload that fails (a key that does not match
// its certificate, an unreadable file) keeps the old contexts and logs why.
//
// Owner thread: SIGHUP is waited for on the node's io_context.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <functional>
#include <memory>
#include <string>

#include "server/config.h"
#include "server/log.h"

namespace synod::tls {
class Store;
}

namespace synod::server {

class TlsReload {
 public:
  TlsReload(boost::asio::io_context& io, Log& log) : log_(log), hangup_(io) {}

  // Loads the files the configuration names; "" or why not (exit 2). Without
  // TLS configured, store() stays null.
  std::string open(const Config& config);
  std::shared_ptr<tls::Store> store() const { return store_; }

  // Waits for SIGHUP; after a reload that changed the CA, calls on_ca_changed.
  void start(std::function<void()> on_ca_changed);
  void stop();

 private:
  void wait();
  void reload();

  Log& log_;
  boost::asio::signal_set hangup_;
  std::shared_ptr<tls::Store> store_;
  std::function<void()> on_ca_changed_;
};

}  // namespace synod::server
