// synod: one node of a synod cluster. Thin: it parses the configuration,
// opens the node and runs it (server/node.h).
#include <csignal>
#include <cstdio>

#include "server/config.h"
#include "server/memory.h"
#include "server/node.h"

extern char** environ;

int main(int argc, char** argv) {
  synod::server::configure_allocator();
  std::signal(SIGPIPE, SIG_IGN);  // a peer or client that hangs up is an error code, not a death
  const auto parsed = synod::server::parse_config(argc, argv, environ);
  for (const auto& warning : parsed.warnings) std::fprintf(stderr, "synod: warning: %s\n", warning.c_str());
  if (parsed.help) {
    std::fputs(synod::server::usage().c_str(), stdout);
    return 0;
  }
  if (!parsed.config) {
    std::fprintf(stderr, "synod: %s\n", parsed.error.c_str());
    return 2;
  }
  synod::server::Node node(*parsed.config);
  if (const auto error = node.open(); !error.empty()) {
    std::fprintf(stderr, "synod: %s\n", error.c_str());
    return 2;
  }
  return node.run();
}
