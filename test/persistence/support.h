// Helpers for the storage tests: temporary directories, batches, and direct
// LMDB access for editing records underneath a closed store.
#pragma once

#include <lmdb.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/codec.h"
#include "base/crc32c.h"
#include "paxos/config_history.h"
#include "paxos/ready.h"
#include "persistence/lmdb_storage.h"
#include "persistence/records.h"

namespace synod::persistence::testing {

// A fresh directory under /tmp (mkdtemp), removed with everything in it.
class TempDir {
 public:
  TempDir() {
    std::string pattern = "/tmp/synod-persistence-XXXXXX";
    if (mkdtemp(pattern.data()) == nullptr) std::abort();
    path_ = pattern;
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all, ignored);
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline paxos::ValuePtr batch_value(uint64_t client, uint64_t seq, size_t commands, size_t payload_bytes) {
  std::vector<paxos::Command> list;
  for (size_t i = 0; i < commands; ++i) {
    std::string payload(payload_bytes, static_cast<char>('a' + (seq + i) % 26));
    list.push_back(paxos::Command{client, seq + i, payload});
  }
  return paxos::make_batch(std::move(list));
}

inline paxos::ValuePtr value_for(paxos::Slot slot) { return batch_value(7, slot * 10, 2, 12); }

// A snapshot's configurations when no change was ever made: these voters,
// from slot 1.
inline std::vector<paxos::ConfigEntry> voters(std::vector<paxos::NodeId> ids) {
  return {bootstrap_configuration(std::move(ids))};
}

// The configurations after slot 40 of a cluster that grew: the bootstrap
// {1, 2, 3} governs through slot 19; learner 4, added at slot 4, from 20;
// 4 promoted at slot 30, from 46 (kConfigAlphaSlots = 16).
inline std::vector<paxos::ConfigEntry> grown_history() {
  paxos::Configuration learner = paxos::Configuration::of_voters({1, 2, 3});
  learner.learners = {4};
  learner.next_id = 5;
  learner.addresses[1] = paxos::MemberAddresses{"n1:7101", "n1:7100"};
  learner.addresses[4] = paxos::MemberAddresses{"n4:7101", "n4:7100"};
  paxos::Configuration promoted = learner;
  promoted.voters = {1, 2, 3, 4};
  promoted.learners.clear();
  return {paxos::ConfigEntry{20, 4, learner, nullptr}, paxos::ConfigEntry{46, 30, promoted, nullptr}};
}

// A record value around `body`, sealed as records.h seals one (its checksum
// covers the key): a body that is wrong behind a valid checksum, or one in an
// older version's layout.
inline std::string sealed_record(std::string_view key, RecordTag tag, std::string_view body) {
  std::string value;
  Writer writer(value);
  writer.fixed32(0);
  writer.fixed32(static_cast<uint32_t>(body.size()));
  writer.u8(static_cast<uint8_t>(tag));
  value.append(body);
  const uint32_t crc = crc32c(std::string_view(value).substr(4), crc32c(key));
  for (size_t i = 0; i < 4; ++i) value[i] = static_cast<char>((crc >> (8 * i)) & 0xff);
  return value;
}

// A snapshot record's body as versions 1 to 3 wrote it: member ids.
inline std::string snapshot_body_v3(const SnapshotRecord& record, const std::vector<uint64_t>& members) {
  std::string body;
  Writer writer(body);
  writer.varint(record.slot);
  writer.varint(members.size());
  for (uint64_t member : members) writer.varint(member);
  writer.varint(record.size_bytes);
  writer.fixed32(record.crc32c);
  writer.varint(record.chunk_bytes);
  writer.varint(record.chunk_count);
  return body;
}

// A version 4 snapshot record's body with its configurations written by
// `entries` (count first), the rest from `record`.
inline std::string snapshot_body_v4(const SnapshotRecord& record, uint64_t count,
                                    const std::function<void(Writer&)>& entries) {
  std::string body;
  Writer writer(body);
  writer.varint(record.slot);
  writer.varint(count);
  entries(writer);
  writer.varint(record.size_bytes);
  writer.fixed32(record.crc32c);
  writer.varint(record.chunk_bytes);
  writer.varint(record.chunk_count);
  return body;
}

inline paxos::PersistBatch promise_batch(uint64_t ready_id, paxos::Ballot ballot) {
  paxos::PersistBatch batch;
  batch.ready_id = ready_id;
  batch.promised = ballot;
  return batch;
}

inline paxos::PersistBatch vote_batch(uint64_t ready_id, paxos::Ballot ballot, paxos::Slot slot) {
  paxos::PersistBatch batch;
  batch.ready_id = ready_id;
  batch.promised = ballot;
  batch.accepted.push_back(paxos::AcceptedEntry{slot, ballot, value_for(slot)});
  return batch;
}

inline paxos::PersistBatch chosen_batch(uint64_t ready_id, paxos::Slot first, paxos::Slot last) {
  paxos::PersistBatch batch;
  batch.ready_id = ready_id;
  for (paxos::Slot slot = first; slot <= last; ++slot) batch.chosen.push_back(paxos::ChosenEntry{slot, value_for(slot)});
  return batch;
}

inline LmdbOptions lmdb_options(const std::string& dir, paxos::NodeId node = 1) {
  LmdbOptions options;
  options.data_dir = dir;
  options.storage.node_id = node;
  options.map_bytes_initial = 4ULL << 20;
  options.map_bytes_max = 256ULL << 20;
  return options;
}

// Opens an LmdbStorage, failing the test (with the reason) if it cannot.
inline std::unique_ptr<LmdbStorage> open_ok(const LmdbOptions& options) {
  auto opened = LmdbStorage::open(options);
  INFO(opened.status.to_string());
  REQUIRE(opened.status.ok());
  return std::move(opened.storage);
}

// Direct LMDB access to a store that no LmdbStorage holds open, to damage it
// the way a disk would, below our checks.
class RawLmdb {
 public:
  explicit RawLmdb(const std::string& dir) {
    check(mdb_env_create(&env_));
    check(mdb_env_set_maxdbs(env_, kTableCount));
    check(mdb_env_open(env_, dir.c_str(), MDB_NOTLS, 0644));
  }
  RawLmdb(const RawLmdb&) = delete;
  RawLmdb& operator=(const RawLmdb&) = delete;
  ~RawLmdb() { mdb_env_close(env_); }

  std::optional<std::string> get(Table table, std::string_view key) {
    std::optional<std::string> result;
    run(table, [&](MDB_txn* txn, MDB_dbi dbi) {
      MDB_val k{key.size(), const_cast<char*>(key.data())};
      MDB_val v;
      if (mdb_get(txn, dbi, &k, &v) == 0) result = std::string(static_cast<const char*>(v.mv_data), v.mv_size);
    });
    return result;
  }
  void put(Table table, std::string_view key, std::string_view value) {
    run(table, [&](MDB_txn* txn, MDB_dbi dbi) {
      MDB_val k{key.size(), const_cast<char*>(key.data())};
      MDB_val v{value.size(), const_cast<char*>(value.data())};
      check(mdb_put(txn, dbi, &k, &v, 0));
    });
  }
  void erase(Table table, std::string_view key) {
    run(table, [&](MDB_txn* txn, MDB_dbi dbi) {
      MDB_val k{key.size(), const_cast<char*>(key.data())};
      check(mdb_del(txn, dbi, &k, nullptr));
    });
  }
  std::vector<std::string> keys(Table table) {
    std::vector<std::string> result;
    run(table, [&](MDB_txn* txn, MDB_dbi dbi) {
      MDB_cursor* cursor = nullptr;
      check(mdb_cursor_open(txn, dbi, &cursor));
      MDB_val k;
      MDB_val v;
      for (int rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST); rc == 0; rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT)) {
        result.emplace_back(static_cast<const char*>(k.mv_data), k.mv_size);
      }
      mdb_cursor_close(cursor);
    });
    return result;
  }
  // Rewrites one record's value with `edit` applied.
  void edit(Table table, std::string_view key, const std::function<void(std::string&)>& edit_value) {
    std::optional<std::string> value = get(table, key);
    if (!value) std::abort();
    edit_value(*value);
    put(table, key, *value);
  }

 private:
  static void check(int rc) {
    if (rc != 0) {
      std::fprintf(stderr, "lmdb: %s\n", mdb_strerror(rc));
      std::abort();
    }
  }
  void run(Table table, const std::function<void(MDB_txn*, MDB_dbi)>& body) {
    MDB_txn* txn = nullptr;
    check(mdb_txn_begin(env_, nullptr, 0, &txn));
    MDB_dbi dbi = 0;
    check(mdb_dbi_open(txn, table_name(table), 0, &dbi));
    body(txn, dbi);
    check(mdb_txn_commit(txn));
  }

  MDB_env* env_ = nullptr;
};

}  // namespace synod::persistence::testing
