// The node's TLS contexts, made from its files at start and again at each
// SIGHUP (issue 19).
//
// A generation is published whole and never changed: a reload builds new
// contexts beside the old, checks that key and certificate match, and swaps
// the pointer. Connections hold the generation they were made with, so
// connections already open keep working, and new ones use the new files.
// If anything is wrong with the new files, the old generation stays and the
// reload says why.
//
// Thread-safe: the HTTP server's threads and the owner thread (the peer
// transport) read current(); the owner thread reloads.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "tls/files.h"

namespace boost::asio::ssl {
class context;
}

namespace synod::tls {

struct Contexts {
  Contexts(CtxPtr server_ctx, CtxPtr client_ctx, std::string ca_digest_hex, uint64_t number);
  ~Contexts();
  Contexts(const Contexts&) = delete;
  Contexts& operator=(const Contexts&) = delete;

  std::unique_ptr<boost::asio::ssl::context> server;  // accepting: the client port, the peer port
  std::unique_ptr<boost::asio::ssl::context> client;  // dialing: peers, and forwards to the leader
  const std::string ca_digest;                        // of the CA file (files.h: file_digest)
  const uint64_t generation;                          // 1 at start, +1 at each successful reload
};

class Store {
 public:
  // The contexts from `files`, or null with `error` (the node exits 2).
  static std::shared_ptr<Store> open(const Files& files, std::string& error);

  // A new generation from the same paths. Returns "" or why it kept the old
  // one; `ca_changed` says whether the CA file's contents changed.
  std::string reload(bool& ca_changed);

  std::shared_ptr<const Contexts> current() const;
  const Files& files() const { return files_; }

 private:
  explicit Store(Files files) : files_(std::move(files)) {}
  std::shared_ptr<const Contexts> make(uint64_t generation, std::string& error) const;

  const Files files_;
  mutable std::mutex mutex_;
  std::shared_ptr<const Contexts> current_;
};

}  // namespace synod::tls
