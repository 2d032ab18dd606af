// The versions this build speaks and writes (issue 21: an upgrade path):
// the package's, the peer wire protocol's (transport/wire.h), the store's
// on-disk format (persistence/records.h), the snapshot image's
// (lockservice/state_machine.h) and the backup file's
// (lockservice/backup_file.h). `synod --version` prints them and
// GET /v1/cluster reports them, so an operator in the middle of a rolling
// upgrade can see which member runs what.
//
// Pure; any thread.
#pragma once

#include <string>

#include "http/node_api.h"

namespace synod::server {

http::VersionView versions();
// One line: "synod 0.2.0 (protocol 2, storage format 3, snapshot format 3, backup format 1)".
std::string version_line();

}  // namespace synod::server
