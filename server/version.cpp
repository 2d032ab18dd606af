#include "server/version.h"

#include "lockservice/backup_file.h"
#include "lockservice/state_machine.h"
#include "persistence/records.h"
#include "transport/wire.h"

#ifndef SYNOD_VERSION
#error "SYNOD_VERSION comes from the project's VERSION (server/CMakeLists.txt)"
#endif

namespace synod::server {

http::VersionView versions() {
  return http::VersionView{SYNOD_VERSION, transport::kProtocolVersion, persistence::kFormatVersion,
                           lockservice::kSnapshotFormatVersion, lockservice::kBackupFormatVersion};
}

std::string version_line() {
  const http::VersionView v = versions();
  return "synod " + v.synod + " (protocol " + std::to_string(v.protocol) + ", storage format " +
         std::to_string(v.storage_format) + ", snapshot format " + std::to_string(v.snapshot_format) +
         ", backup format " + std::to_string(v.backup_format) + ")";
}

}  // namespace synod::server
