// The first root token (issue 19). Auth is off until someone enables it, and
// enabling needs a root token, so a cluster makes one itself: each node
// holds a bootstrap token, read from --bootstrap-token-file or written once
// into DATA_DIR/bootstrap-token (mode 0600) at its first start, and the
// first leader that finds no root token in the state proposes the SHA-256 of
// ITS token as root's (lockservice::CreateToken, client id 0, applied only
// while no root token exists). So the root token is the first leader's: give
// every node the same --bootstrap-token-file to know it in advance, or read
// it from the node the log names (auth_root_token_created). The token itself
// is never logged.
//
// Pure file work at open; owner thread.
#pragma once

#include <string>

#include "server/config.h"

namespace synod::server {

struct BootstrapToken {
  std::string hash;  // SHA-256 of the token
  std::string path;  // where it is read from
};

// Reads (or makes) the node's bootstrap token; "" or why not (exit 2).
std::string load_bootstrap_token(const Config& config, BootstrapToken& out);

}  // namespace synod::server
