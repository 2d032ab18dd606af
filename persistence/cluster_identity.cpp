#include "persistence/cluster_identity.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>

#include "persistence/data_dir.h"

namespace synod::persistence {

namespace {

constexpr std::string_view kFirstLine = "synod-cluster 1";

uint64_t fnv1a(std::string_view bytes, uint64_t hash = 1469598103934665603ULL) {
  for (char c : bytes) hash = (hash ^ static_cast<uint8_t>(c)) * 1099511628211ULL;
  return hash;
}

Status malformed(const std::string& path, const std::string& what) {
  return Status::error(Code::corrupt, "the cluster identity file " + path + " " + what);
}

}  // namespace

std::string cluster_id_hex(uint64_t id) {
  char out[17];
  for (int i = 15; i >= 0; --i, id >>= 4) out[i] = "0123456789abcdef"[id & 0xf];
  out[16] = '\0';
  return out;
}

Status read_cluster_identity(const std::string& dir, std::optional<ClusterIdentity>& out) {
  out.reset();
  const std::string path = dir + "/" + kClusterFileName;
  std::ifstream file(path);
  if (!file) {
    if (errno == ENOENT) return Status::success();
    return from_errno(errno, "cannot read " + path);
  }
  std::string line;
  if (!std::getline(file, line) || line != kFirstLine) {
    return malformed(path, "does not begin with '" + std::string(kFirstLine) + "'");
  }
  ClusterIdentity identity;
  bool have_id = false, have_name = false;
  while (std::getline(file, line)) {
    const size_t space = line.find(' ');
    const std::string field = line.substr(0, space);
    const std::string value = space == std::string::npos ? std::string() : line.substr(space + 1);
    if (field == "id" && !have_id) {
      const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), identity.id, 16);
      if (error != std::errc{} || end != value.data() + value.size() || value.size() != 16 || identity.id == 0) {
        return malformed(path, "has a malformed id '" + value + "'");
      }
      have_id = true;
    } else if (field == "name" && !have_name && !value.empty()) {
      identity.name = value;
      have_name = true;
    } else {
      return malformed(path, "has an unknown, repeated or empty field '" + field + "'");
    }
  }
  if (!have_id || !have_name) return malformed(path, "lacks its id or its name");
  out = std::move(identity);
  return Status::success();
}

Status write_cluster_identity(const std::string& dir, const ClusterIdentity& identity, bool replace) {
  const std::string path = dir + "/" + kClusterFileName;
  if (!replace && ::access(path.c_str(), F_OK) == 0)
    return Status::error(Code::invalid_argument, path + " exists already");
  const std::string temporary = path + ".tmp";
  const std::string text = std::string(kFirstLine) + "\nid " + cluster_id_hex(identity.id) + "\nname " + identity.name +
                           "\n";
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return from_errno(errno, "cannot create " + temporary);
  const bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  const int error = errno;
  const bool synced = written && ::fsync(fd) == 0;
  ::close(fd);
  if (!written || !synced) return from_errno(written ? errno : error, "cannot write " + temporary);
  if (::rename(temporary.c_str(), path.c_str()) != 0) return from_errno(errno, "cannot rename " + temporary);
  return sync_directory(dir);
}

uint64_t derive_cluster_id(const std::string& name, std::vector<uint64_t> member_ids) {
  std::sort(member_ids.begin(), member_ids.end());
  uint64_t hash = fnv1a(name + "\n");
  for (const uint64_t id : member_ids) hash = fnv1a(std::to_string(id) + "\n", hash);
  return hash == 0 ? 1 : hash;
}

uint64_t legacy_cluster_id(const std::string& name) { return fnv1a(name); }

}  // namespace synod::persistence
