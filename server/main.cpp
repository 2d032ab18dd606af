// synod: one node of a synod cluster. Thin: it parses the configuration,
// opens the node and runs it (server/node.h).
#include <algorithm>
#include <csignal>
#include <cstdio>

#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "persistence/cluster_identity.h"
#include "server/config.h"
#include "server/memory.h"
#include "server/node.h"
#include "server/restore.h"
#include "server/version.h"

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

// `synod restore --snapshot FILE FLAGS` (server/restore.h): takes the
// subcommand and its one option out of `args`; the rest are a node's flags.
// Sets `snapshot` and returns true if this is a restore; `error` if its
// --snapshot is missing.
bool take_restore(std::vector<const char*>& args, std::string& snapshot, std::string& error) {
  if (args.size() < 2 || std::strcmp(args[1], "restore") != 0) return false;
  args.erase(args.begin() + 1);
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string_view arg = args[i];
    if (arg == "--snapshot" && i + 1 < args.size()) {
      snapshot = args[i + 1];
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i), args.begin() + static_cast<std::ptrdiff_t>(i) + 2);
      return true;
    }
    if (arg.rfind("--snapshot=", 0) == 0) {
      snapshot = std::string(arg.substr(11));
      args.erase(args.begin() + static_cast<std::ptrdiff_t>(i));
      return true;
    }
  }
  error = "restore needs --snapshot FILE (usage: synod restore --snapshot FILE --id N --peers ... --data-dir DIR)";
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  synod::server::configure_allocator();
  std::signal(SIGPIPE, SIG_IGN);  // a peer or client that hangs up is an error code, not a death
  std::vector<const char*> args(argv, argv + argc);
  if (argc == 2 && !std::strcmp(argv[1], "--version")) {
    std::printf("%s\n", synod::server::version_line().c_str());
    return 0;
  }
  std::string restore_from, restore_error;
  const bool restore = take_restore(args, restore_from, restore_error);
  if (!restore_error.empty()) {
    std::fprintf(stderr, "synod: %s\n", restore_error.c_str());
    return 2;
  }
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
  if (restore) return synod::server::run_restore(restore_from, *parsed.config);
  synod::server::Node node(*parsed.config);
  if (const auto error = node.open(); !error.empty()) {
    std::fprintf(stderr, "synod: %s\n", error.c_str());
    return 2;
  }
  return node.run();
}
