#include "server/tls_reload.h"

#include <csignal>

#include "tls/store.h"

namespace synod::server {

std::string TlsReload::open(const Config& config) {
  if (!config.tls()) return {};
  std::string error;
  store_ = tls::Store::open(tls::Files{config.tls_cert, config.tls_key, config.tls_ca}, error);
  if (!store_) return "TLS: " + error;
  log_.write(Level::info, "tls_loaded", {{"cert", config.tls_cert}, {"ca", config.tls_ca}});
  return {};
}

void TlsReload::start(std::function<void()> on_ca_changed) {
  on_ca_changed_ = std::move(on_ca_changed);
  // Without TLS, SIGHUP keeps its meaning for a process: it ends it.
  if (!store_) return;
  hangup_.add(SIGHUP);
  wait();
}

void TlsReload::stop() {
  boost::system::error_code ignored;
  hangup_.cancel(ignored);
}

void TlsReload::wait() {
  hangup_.async_wait([this](const boost::system::error_code& error, int) {
    if (error) return;
    reload();
    wait();
  });
}

void TlsReload::reload() {
  bool ca_changed = false;
  if (auto error = store_->reload(ca_changed); !error.empty()) {
    log_.write(Level::error, "tls_reload_failed", {{"reason", error}, {"action", "kept the previous certificates"}});
    return;
  }
  log_.write(Level::info, "tls_reloaded", {{"generation", store_->current()->generation}, {"ca_changed", ca_changed}});
  if (ca_changed && on_ca_changed_) on_ca_changed_();
}

}  // namespace synod::server
