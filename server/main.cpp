// synod: one node of a synod cluster. Thin: it parses the configuration,
// opens the node and runs it (server/node.h).
#include <algorithm>
#include <csignal>
#include <cstdio>

#include <cstring>
#include <optional>
#include <vector>

#include "persistence/cluster_identity.h"
#include "server/config.h"
#include "server/memory.h"
#include "server/node.h"

extern char** environ;

namespace {

// `synod --print-cluster-id FLAGS`: the cluster id a node with FLAGS has
// (its data directory's) or will take at its first start, in the hex that
// TLS certificates name members with (synod://CLUSTER-ID/node/ID). Used by
// deploy/certs.sh's callers before the cluster first starts.
int print_cluster_id(const synod::server::Config& config) {
  std::optional<synod::persistence::ClusterIdentity> identity;
  if (auto status = synod::persistence::read_cluster_identity(config.data_dir, identity); !status.ok()) {
    std::fprintf(stderr, "synod: %s\n", status.message.c_str());
    return 2;
  }
  std::vector<uint64_t> members;
  for (const auto& member : config.members) members.push_back(member.id);
  const uint64_t id = identity ? identity->id : synod::persistence::derive_cluster_id(config.cluster_id, members);
  std::printf("%s\n", synod::persistence::cluster_id_hex(id).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  synod::server::configure_allocator();
  std::signal(SIGPIPE, SIG_IGN);  // a peer or client that hangs up is an error code, not a death
  std::vector<const char*> args(argv, argv + argc);
  const auto print = std::find_if(args.begin(), args.end(),
                                  [](const char* a) { return !std::strcmp(a, "--print-cluster-id"); });
  const bool print_id = print != args.end();
  if (print_id) args.erase(print);
  const auto parsed = synod::server::parse_config(static_cast<int>(args.size()), args.data(), environ);
  for (const auto& warning : parsed.warnings) std::fprintf(stderr, "synod: warning: %s\n", warning.c_str());
  if (parsed.help) {
    std::fputs(synod::server::usage().c_str(), stdout);
    return 0;
  }
  if (!parsed.config) {
    std::fprintf(stderr, "synod: %s\n", parsed.error.c_str());
    return 2;
  }
  if (print_id) return print_cluster_id(*parsed.config);
  synod::server::Node node(*parsed.config);
  if (const auto error = node.open(); !error.empty()) {
    std::fprintf(stderr, "synod: %s\n", error.c_str());
    return 2;
  }
  return node.run();
}
