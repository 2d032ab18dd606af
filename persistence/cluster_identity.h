// The cluster identity file: which cluster a data directory belongs to.
//
// `cluster` in the data directory, written once, when the directory is first
// used, and read at every start after (issue 18). Peers compare the id in
// their handshake and refuse another cluster's nodes, so a node of another
// member set, or one started under another name against this directory, is
// refused instead of joining. The file lives beside
// the store, not in it: a repair that wipes a corrupt store (Storage::reset)
// keeps the identity, and an operator can read it. Its format, one field per
// line, the first naming the format and its version:
//
//   synod-cluster 1
//   id 0123456789abcdef
//   name synod
//
// A reader refuses another first line, a missing or malformed field, and a
// field it does not know. Written through a temporary file, fsync, rename and
// a sync of the directory, so a crash leaves either no file or the whole one.
//
// Pure functions over the file system; any thread (the node calls them once,
// on its owner thread, before it opens its ports).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "persistence/status.h"

namespace synod::persistence {

struct ClusterIdentity {
  uint64_t id = 0;
  std::string name;  // --cluster-id, the name every member shares

  bool operator==(const ClusterIdentity&) const = default;
};

inline constexpr const char* kClusterFileName = "cluster";

// Reads `dir`/cluster: nullopt in `out` if there is no such file; corrupt if
// it is malformed.
Status read_cluster_identity(const std::string& dir, std::optional<ClusterIdentity>& out);

// Writes `dir`/cluster: invalid_argument if one exists, unless `replace`
// (synod --force-new-cluster gives a survivor's data a new identity).
Status write_cluster_identity(const std::string& dir, const ClusterIdentity& identity, bool replace = false);

// The id a new cluster takes: a hash of its name and its initial members'
// ids, so that every member derives the same id without talking. Not their
// addresses: a member's address is what each peer dials, which differs with
// the viewer behind a proxy or a NAT (the chaos suite's proxied clusters
// derived three ids and never formed). Never zero.
uint64_t derive_cluster_id(const std::string& name, std::vector<uint64_t> member_ids);

// An id as 16 hex digits, as the file and the logs show it.
std::string cluster_id_hex(uint64_t id);

// The id of a cluster whose data predates the file (a hash of the name
// alone, as every build before issue 18 used for all clusters).
uint64_t legacy_cluster_id(const std::string& name);

}  // namespace synod::persistence
