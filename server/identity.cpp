#include "server/identity.h"

#include <optional>
#include <random>
#include <vector>

#include "persistence/cluster_identity.h"

namespace synod::server {
namespace {

uint64_t random_cluster_id() {
  std::random_device device;
  uint64_t id = 0;
  while (id == 0) id = (static_cast<uint64_t>(device()) << 32) | device();
  return id;
}

std::string force_new_cluster(const Config& config, bool fresh_store, Log& log,
                              persistence::ClusterIdentity& identity) {
  if (fresh_store) {
    return "--force-new-cluster recovers a member's data, and data directory " + config.data_dir +
           " held none: start a new cluster without it";
  }
  const uint64_t previous = identity.id;
  identity.id = random_cluster_id();
  if (auto status = persistence::write_cluster_identity(config.data_dir, identity, /*replace=*/true); !status.ok()) {
    return "data directory " + config.data_dir + ": " + status.message;
  }
  log.write(Level::warn, "forced_new_cluster",
            {{"previous_cluster_id", persistence::cluster_id_hex(previous)},
             {"cluster_id", persistence::cluster_id_hex(identity.id)},
             {"detail",
              "a one-member cluster from this member's data; the old members are refused from now on. "
              "Start without --force-new-cluster from now on"}});
  return {};
}

}  // namespace

std::string open_identity(const Config& config, bool fresh_store, Log& log, uint64_t& cluster_id) {
  const std::string& dir = config.data_dir;
  std::optional<persistence::ClusterIdentity> identity;
  if (auto status = persistence::read_cluster_identity(dir, identity); !status.ok()) {
    return "data directory " + dir + ": " + status.message;
  }
  if (!identity) {
    // A store older than the file keeps the id its cluster has always used.
    std::vector<uint64_t> members;
    for (const auto& m : config.members) members.push_back(m.id);
    identity = persistence::ClusterIdentity{fresh_store ? persistence::derive_cluster_id(config.cluster_id, members)
                                                        : persistence::legacy_cluster_id(config.cluster_id),
                                            config.cluster_id};
    if (auto status = persistence::write_cluster_identity(dir, *identity); !status.ok()) {
      return "data directory " + dir + ": " + status.message;
    }
    log.write(Level::info, "cluster_identity_created",
              {{"cluster_id", persistence::cluster_id_hex(identity->id)},
               {"name", identity->name},
               {"from", fresh_store ? "the name and the initial members" : "the name (data older than the file)"}});
  } else if (identity->name != config.cluster_id) {
    return "data directory " + dir + " belongs to cluster '" + identity->name + "' (id " +
           persistence::cluster_id_hex(identity->id) + "), not to '" + config.cluster_id +
           "': start it with --cluster-id " + identity->name + ", or give this node another data directory";
  }
  if (config.force_new_cluster) {
    if (auto error = force_new_cluster(config, fresh_store, log, *identity); !error.empty()) return error;
  }
  cluster_id = identity->id;
  return {};
}

}  // namespace synod::server
