#include "tls/store.h"

#include <boost/asio/ssl/context.hpp>

namespace synod::tls {

Contexts::Contexts(CtxPtr server_ctx, CtxPtr client_ctx, std::string ca_digest_hex, uint64_t number)
    // Asio's context takes ownership of the native handle it is given.
    : server(std::make_unique<boost::asio::ssl::context>(server_ctx.release())),
      client(std::make_unique<boost::asio::ssl::context>(client_ctx.release())),
      ca_digest(std::move(ca_digest_hex)),
      generation(number) {}

Contexts::~Contexts() = default;

std::shared_ptr<const Contexts> Store::make(uint64_t generation, std::string& error) const {
  CtxPtr server = make_context(files_, Side::server, error);
  if (!server) return nullptr;
  CtxPtr client = make_context(files_, Side::client, error);
  if (!client) return nullptr;
  return std::make_shared<const Contexts>(std::move(server), std::move(client), file_digest(files_.ca), generation);
}

std::shared_ptr<Store> Store::open(const Files& files, std::string& error) {
  std::shared_ptr<Store> store(new Store(files));
  store->current_ = store->make(1, error);
  if (!store->current_) return nullptr;
  return store;
}

std::string Store::reload(bool& ca_changed) {
  ca_changed = false;
  const auto old = current();
  std::string error;
  auto next = make(old->generation + 1, error);
  if (!next) return error;
  ca_changed = next->ca_digest != old->ca_digest;
  std::lock_guard<std::mutex> lock(mutex_);
  current_ = std::move(next);
  return {};
}

std::shared_ptr<const Contexts> Store::current() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return current_;
}

}  // namespace synod::tls
