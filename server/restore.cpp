#include "server/restore.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>

#include "lockservice/backup_file.h"
#include "lockservice/state_machine.h"
#include "persistence/cluster_identity.h"
#include "persistence/lmdb_storage.h"
#include "persistence/records.h"
#include "server/module_options.h"

namespace synod::server {
namespace {

int refuse(const std::string& why) {
  std::fprintf(stderr, "synod restore: %s\n", why.c_str());
  return 2;
}

// Empty, or what keeps `dir` from being seeded.
std::string check_empty_directory(const std::string& dir) {
  std::error_code error;
  if (!std::filesystem::exists(dir, error)) return {};
  if (!std::filesystem::is_directory(dir, error)) return "data directory " + dir + " is not a directory";
  if (!std::filesystem::is_empty(dir, error)) {
    return "data directory " + dir + " is not empty: restore seeds a new member's directory only";
  }
  return {};
}

// Writes the store and the identity file; empty, or what failed.
std::string seed(const Config& config, const lockservice::DecodedBackup& backup, uint64_t cluster_id) {
  auto opened = persistence::LmdbStorage::open(storage_options(config));
  if (!opened.status.ok()) return opened.status.message;
  auto& store = *opened.storage;
  const auto loaded = store.load();
  if (loaded.status.code != persistence::Code::fresh) return "the store is not new: " + loaded.status.message;
  paxos::PersistBatch batch;
  batch.ready_id = 1;
  batch.promised = paxos::Ballot{0, config.id};
  if (auto persisted = store.persist(batch); !persisted.status.ok()) return persisted.status.message;
  persistence::Snapshot snapshot;
  snapshot.slot = backup.header.slot;
  // The restored cluster's bootstrap configuration governs every slot after
  // the backup's: the store has no log below it to learn another from.
  std::vector<paxos::NodeId> members;
  for (const auto& member : config.members) members.push_back(member.id);
  snapshot.configurations = {persistence::bootstrap_configuration(std::move(members))};
  snapshot.bytes = std::string(backup.image);
  if (auto saved = store.save_snapshot(snapshot); !saved.ok()) return saved.message;
  if (auto written = persistence::write_cluster_identity(config.data_dir, {cluster_id, config.cluster_id});
      !written.ok()) {
    return written.message;
  }
  return {};
}

}  // namespace

uint64_t restored_cluster_id(const Config& config, uint32_t checksum) {
  std::vector<uint64_t> members;
  for (const auto& member : config.members) members.push_back(member.id);
  char salt[32];
  std::snprintf(salt, sizeof salt, "\nrestored %08x", checksum);
  return persistence::derive_cluster_id(config.cluster_id + salt, members);
}

int run_restore(const std::string& snapshot_path, const Config& config) {
  std::ifstream in(snapshot_path, std::ios::binary);
  if (!in) return refuse(snapshot_path + ": cannot open it");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  const std::string file = std::move(bytes).str();
  const auto backup = lockservice::decode_backup(file);
  if (!backup.ok) return refuse(snapshot_path + ": " + backup.error + "; nothing was written");
  lockservice::StateMachine machine(config.service);
  if (!machine.restore(backup.image)) {
    return refuse(snapshot_path + ": its image does not restore (malformed, or past this configuration's limits); " +
                  "nothing was written");
  }
  if (backup.header.slot == 0 || machine.revision() != backup.header.revision) {
    return refuse(snapshot_path + ": its header and its image disagree on the revision; nothing was written");
  }
  if (auto problem = check_empty_directory(config.data_dir); !problem.empty()) {
    return refuse(problem + "; nothing was written");
  }
  const bool existed = std::filesystem::exists(config.data_dir);
  const uint64_t cluster_id = restored_cluster_id(config, backup.header.checksum);
  if (auto failed = seed(config, backup, cluster_id); !failed.empty()) {
    // Leave no half-seeded directory behind: a node would start from it.
    std::error_code ignored;
    if (existed) {
      for (const auto& entry : std::filesystem::directory_iterator(config.data_dir, ignored)) {
        std::filesystem::remove_all(entry.path(), ignored);
      }
    } else {
      std::filesystem::remove_all(config.data_dir, ignored);
    }
    return refuse("data directory " + config.data_dir + ": " + failed + "; it was left empty");
  }
  const auto counts = machine.counts();
  std::printf(
      "restored revision %llu (slot %llu) of cluster %s into %s: member %u of new cluster %s; "
      "%zu keys, %zu sessions, %zu locks, %zu elections\n",
      static_cast<unsigned long long>(backup.header.revision), static_cast<unsigned long long>(backup.header.slot),
      persistence::cluster_id_hex(backup.header.cluster_id).c_str(), config.data_dir.c_str(), config.id,
      persistence::cluster_id_hex(cluster_id).c_str(), counts.keys, counts.sessions, counts.locks, counts.elections);
  return 0;
}

}  // namespace synod::server
