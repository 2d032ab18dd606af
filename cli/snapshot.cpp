// `synodctl snapshot save FILE` and `synodctl snapshot inspect FILE` (issue
// 21): a backup file (lockservice/backup_file.h) from GET /v1/snapshot,
// checked whole before it is kept, and its header and contents read back.
// `synod restore --snapshot FILE` (server/restore.h) seeds a new cluster
// from one.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <fcntl.h>
#include <unistd.h>

#include "cli/synodctl.h"
#include "lockservice/backup_file.h"
#include "lockservice/state_machine.h"

namespace synod::cli {
namespace {

// A backup is the whole state: it may take far longer than a request, and
// be far larger than an answer (the server's image bound, fork_image.cpp).
constexpr int64_t kSaveTimeoutMsMin = 300'000;
constexpr size_t kBackupBytesMax = size_t{1} << 36;

std::string hex16(uint64_t id) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(id));
  return text;
}

// Writes `bytes` to PATH.part, syncs it and renames it over PATH, so a crash
// or a full disk never leaves a partial file under the name a restore reads.
std::string write_whole(const std::string& path, const std::string& bytes) {
  const std::string part = path + ".part";
  const int fd = ::open(part.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return part + ": " + std::strerror(errno);
  size_t written = 0;
  while (written < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + written, bytes.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = part + ": " + std::strerror(errno);
      ::close(fd);
      ::unlink(part.c_str());
      return why;
    }
    written += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(part.c_str());
    return part + ": " + std::strerror(errno);
  }
  if (::rename(part.c_str(), path.c_str()) != 0) return path + ": " + std::strerror(errno);
  return {};
}

json header_json(const lockservice::BackupHeader& h, size_t file_bytes) {
  return {{"format_version", h.format_version},
          {"snapshot_format", h.snapshot_format},
          {"cluster_id", hex16(h.cluster_id)},
          {"slot", h.slot},
          {"revision", h.revision},
          {"log_time_ms", h.log_time_ms},
          {"taken_unix_ms", h.taken_unix_ms},
          {"image_bytes", h.image_bytes},
          {"file_bytes", file_bytes},
          {"checksum", hex16(h.checksum).substr(8)}};
}

int save(const Options& options, Cluster& cluster, const std::string& path) {
  const ClientResponse response = cluster.call("GET", "/v1/snapshot", {}, {},
                                               std::max(options.timeout_ms, kSaveTimeoutMsMin), kBackupBytesMax);
  if (response.status != 200) return refused(response);
  const auto backup = lockservice::decode_backup(response.body);
  if (!backup.ok) {
    std::fprintf(stderr, "synodctl: the server's backup is not whole (%s); nothing was written\n",
                 backup.error.c_str());
    return 1;
  }
  if (auto error = write_whole(path, response.body); !error.empty()) {
    std::fprintf(stderr, "synodctl: %s\n", error.c_str());
    return 1;
  }
  const json saved = {{"file", path}, {"header", header_json(backup.header, response.body.size())}};
  if (options.json_output) {
    print_json_line(saved);
  } else {
    std::printf("saved revision %llu (slot %llu) of cluster %s to %s: %zu bytes\n",
                static_cast<unsigned long long>(backup.header.revision),
                static_cast<unsigned long long>(backup.header.slot), hex16(backup.header.cluster_id).c_str(),
                path.c_str(), response.body.size());
  }
  return 0;
}

// Limits far above any a server runs with: inspect reads what a server
// with raised limits wrote (a server's own restore checks its limits).
lockservice::Config inspect_config() {
  lockservice::Config config;
  auto& l = config.limits;
  constexpr size_t kBig = size_t{1} << 40;
  for (size_t* count :
       {&l.sessions_max, &l.locks_max, &l.waiters_per_lock_max, &l.locks_per_session_max, &l.keys_max,
        &l.ephemeral_keys_per_session_max, &l.losses_per_session_max, &l.events_max, &l.dedup_entries_max,
        &l.idempotency_entries_max, &l.records_per_session_max, &l.store_bytes_max, &l.events_bytes_max}) {
    *count = kBig;
  }
  l.holders_per_lock_max = UINT32_MAX;  // a semaphore's limit is 32 bits
  for (size_t* bytes : {&l.key_bytes_max, &l.name_bytes_max, &l.value_bytes_max, &l.reason_bytes_max}) {
    *bytes = size_t{1} << 30;
  }
  return config;
}

int inspect(const Options& options, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "synodctl: %s: cannot open it\n", path.c_str());
    return 1;
  }
  std::ostringstream bytes;
  bytes << in.rdbuf();
  const std::string file = std::move(bytes).str();
  const auto backup = lockservice::decode_backup(file);
  if (!backup.ok) {
    std::fprintf(stderr, "synodctl: %s: %s\n", path.c_str(), backup.error.c_str());
    return 1;
  }
  lockservice::StateMachine machine(inspect_config());
  if (!machine.restore(backup.image)) {
    std::fprintf(stderr, "synodctl: %s: the checksum matches but the image does not restore\n", path.c_str());
    return 1;
  }
  const auto counts = machine.counts();
  const json report = {{"file", path},
                       {"header", header_json(backup.header, file.size())},
                       {"checksum_ok", true},
                       {"counts",
                        {{"keys", counts.keys},
                         {"sessions", counts.sessions},
                         {"locks", counts.locks},
                         {"elections", counts.elections}}}};
  if (options.json_output) {
    print_json_line(report);
    return 0;
  }
  const auto& h = backup.header;
  std::printf(
      "file %s\n  format %u, snapshot format %u, checksum %s ok\n  cluster %s, slot %llu, revision %llu\n"
      "  image %llu bytes, file %zu bytes\n  keys %zu, sessions %zu, locks %zu, elections %zu\n",
      path.c_str(), h.format_version, h.snapshot_format, hex16(h.checksum).substr(8).c_str(),
      hex16(h.cluster_id).c_str(), static_cast<unsigned long long>(h.slot), static_cast<unsigned long long>(h.revision),
      static_cast<unsigned long long>(h.image_bytes), file.size(), counts.keys, counts.sessions, counts.locks,
      counts.elections);
  return 0;
}

}  // namespace

int snapshot_command(const Options& options, Cluster& cluster, const std::string& verb, Args& args) {
  const std::string path = args.positional(0, "FILE");
  args.done(1);
  if (verb == "save") return save(options, cluster, path);
  if (verb == "inspect") return inspect(options, path);
  usage_error("unknown snapshot command '" + verb + "' (save or inspect)");
}

}  // namespace synod::cli
