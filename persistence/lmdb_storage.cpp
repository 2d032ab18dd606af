#include "persistence/lmdb_storage.h"

#include <lmdb.h>

#include <algorithm>
#include <cerrno>
#include <type_traits>

#include "base/assert.h"
#include "persistence/lmdb_support.h"

namespace synod::persistence {

namespace {

// Bounds the doublings of one transaction's retries; map_bytes_max bounds
// them first, this only guards against a map that never grows.
constexpr int kWriteAttemptsMax = 64;

static_assert(std::is_same_v<MDB_dbi, unsigned int>, "lmdb_storage.h declares MDB_dbi as unsigned int");

// One LMDB transaction, read or write, seen through the Tables interface.
class LmdbTransaction final : public TableWriter {
 public:
  LmdbTransaction(MDB_txn* txn, const std::array<MDB_dbi, kTableCount>& databases) : txn_(txn), databases_(databases) {}

  bool map_full() const { return map_full_; }

  Status get(Table table, std::string_view key, std::optional<std::string_view>& value) override {
    MDB_val k = as_val(key);
    MDB_val v;
    const int rc = mdb_get(txn_, dbi(table), &k, &v);
    if (rc == MDB_NOTFOUND) {
      value.reset();
      return Status::success();
    }
    if (rc != 0) return error(rc, "read", table);
    value = as_view(v);
    return Status::success();
  }

  Status scan(Table table, std::string_view from_key, const Visit& visit) override {
    MDB_cursor* cursor = nullptr;
    if (int rc = mdb_cursor_open(txn_, dbi(table), &cursor); rc != 0) return error(rc, "open a cursor on", table);
    MDB_val k = as_val(from_key);
    MDB_val v;
    int rc = mdb_cursor_get(cursor, &k, &v, from_key.empty() ? MDB_FIRST : MDB_SET_RANGE);
    while (rc == 0 && visit(as_view(k), as_view(v))) rc = mdb_cursor_get(cursor, &k, &v, MDB_NEXT);
    mdb_cursor_close(cursor);
    if (rc != 0 && rc != MDB_NOTFOUND) return error(rc, "scan", table);
    return Status::success();
  }

  Status put(Table table, std::string_view key, std::string_view value) override {
    MDB_val k = as_val(key);
    MDB_val v = as_val(value);
    if (int rc = mdb_put(txn_, dbi(table), &k, &v, 0); rc != 0) return error(rc, "write to", table);
    return Status::success();
  }

  Status erase(Table table, std::string_view key) override {
    MDB_val k = as_val(key);
    const int rc = mdb_del(txn_, dbi(table), &k, nullptr);
    if (rc != 0 && rc != MDB_NOTFOUND) return error(rc, "erase from", table);
    return Status::success();
  }

  Status erase_through(Table table, std::string_view last_key, uint64_t records_max, uint64_t& erased) override {
    MDB_cursor* cursor = nullptr;
    if (int rc = mdb_cursor_open(txn_, dbi(table), &cursor); rc != 0) return error(rc, "open a cursor on", table);
    int rc = 0;
    for (uint64_t count = 0; count < records_max; ++count) {
      // Seeking the first record again after each delete is O(log n), and
      // avoids relying on where a cursor points after mdb_cursor_del.
      MDB_val k;
      MDB_val v;
      rc = mdb_cursor_get(cursor, &k, &v, MDB_FIRST);
      if (rc != 0 || as_view(k) > last_key) break;
      if (rc = mdb_cursor_del(cursor, 0); rc != 0) break;
      ++erased;
    }
    mdb_cursor_close(cursor);
    if (rc != 0 && rc != MDB_NOTFOUND) return error(rc, "erase from", table);
    return Status::success();
  }

  Status clear(Table table) override {
    if (int rc = mdb_drop(txn_, dbi(table), 0); rc != 0) return error(rc, "clear", table);
    return Status::success();
  }

 private:
  MDB_dbi dbi(Table table) const { return databases_[static_cast<size_t>(table)]; }

  Status error(int rc, const char* what, Table table) {
    if (rc == MDB_MAP_FULL) map_full_ = true;
    return lmdb_error(rc, std::string("cannot ") + what + " table " + table_name(table));
  }

  MDB_txn* txn_;
  const std::array<MDB_dbi, kTableCount>& databases_;
  bool map_full_ = false;
};

Status open_databases(MDB_env* env, std::array<MDB_dbi, kTableCount>& databases) {
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(env, nullptr, 0, &txn); rc != 0) return lmdb_error(rc, "cannot begin a transaction");
  for (size_t t = 0; t < kTableCount; ++t) {
    const char* name = table_name(static_cast<Table>(t));
    if (int rc = mdb_dbi_open(txn, name, MDB_CREATE, &databases[t]); rc != 0) {
      mdb_txn_abort(txn);
      return lmdb_error(rc, std::string("cannot open table ") + name);
    }
  }
  if (int rc = mdb_txn_commit(txn); rc != 0) return lmdb_error(rc, "cannot create the tables");
  return Status::success();
}

Status open_environment(const LmdbOptions& options, MDB_env*& env) {
  if (int rc = mdb_env_create(&env); rc != 0) return lmdb_error(rc, "cannot create an LMDB environment");
  unsigned int flags = MDB_NOTLS;
  if (options.unsafe_no_sync_for_benchmarks) flags |= MDB_NOSYNC;
  int rc = mdb_env_set_maxdbs(env, kTableCount);
  if (rc == 0) rc = mdb_env_set_mapsize(env, options.map_bytes_initial);
  if (rc == 0) rc = mdb_env_open(env, options.data_dir.c_str(), flags, 0644);
  if (rc != 0) {
    mdb_env_close(env);
    env = nullptr;
    return lmdb_error(rc, "cannot open the LMDB store in " + options.data_dir);
  }
  return Status::success();
}

}  // namespace

std::string validate(const LmdbOptions& options) {
  if (options.data_dir.empty()) return "data_dir must be set";
  if (options.map_bytes_initial == 0 || options.map_bytes_initial > options.map_bytes_max) {
    return "map_bytes_initial must be positive and at most map_bytes_max";
  }
  return validate(options.storage);
}

LmdbStorage::Opened LmdbStorage::open(const LmdbOptions& options) {
  if (std::string problem = validate(options); !problem.empty()) {
    return {Status::error(Code::invalid_argument, problem), nullptr};
  }
  if (Status status = prepare_directory(options.data_dir); !status.ok()) return {status, nullptr};
  DirectoryLock lock;
  if (Status status = DirectoryLock::acquire(options.data_dir, lock); !status.ok()) return {status, nullptr};
  auto log = LogFile::open(options.data_dir + "/" + kLogFileName, options.storage.log_capacity_bytes,
                           !options.unsafe_no_sync_for_benchmarks);
  if (!log.status.ok()) return {log.status, nullptr};
  MDB_env* env = nullptr;
  if (Status status = open_environment(options, env); !status.ok()) return {status, nullptr};
  Databases databases{};
  Status status = open_databases(env, databases);
  // The directory entries of data.mdb, lock.mdb and wal must survive a crash too.
  if (status.ok()) status = sync_directory(options.data_dir);
  MDB_envinfo info;
  if (status.ok()) {
    if (int rc = mdb_env_info(env, &info); rc != 0) status = lmdb_error(rc, "cannot read the LMDB map size");
  }
  if (!status.ok()) {
    mdb_env_close(env);
    return {status, nullptr};
  }
  return {Status::success(), std::unique_ptr<LmdbStorage>(new LmdbStorage(options, std::move(lock), std::move(log.log),
                                                                          env, databases, info.me_mapsize))};
}

LmdbStorage::LmdbStorage(const LmdbOptions& options, DirectoryLock lock, std::unique_ptr<LogFile> log, MDB_env* env,
                         const Databases& databases, uint64_t map_bytes)
    : RecordStorage(options.storage, *log),
      log_file_(std::move(log)),
      lmdb_options_(options),
      lock_(std::move(lock)),
      env_(env),
      databases_(databases),
      map_bytes_(map_bytes) {
  SYNOD_ASSERT(env_ != nullptr && lock_.held());
}

LmdbStorage::~LmdbStorage() {
  // The environment closes before the lock goes, so that no second process
  // can open the files while this one still has them mapped.
  mdb_env_close(env_);
}

Status LmdbStorage::run_read(const ReadBody& body) {
  MDB_txn* txn = nullptr;
  if (int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn); rc != 0) {
    return lmdb_error(rc, "cannot begin a read transaction");
  }
  LmdbTransaction reader(txn, databases_);
  Status status = body(reader);
  mdb_txn_abort(txn);
  return status;
}

Status LmdbStorage::run_write(const WriteBody& body) {
  for (int attempt = 0; attempt < kWriteAttemptsMax; ++attempt) {
    MDB_txn* txn = nullptr;
    if (int rc = mdb_txn_begin(env_, nullptr, 0, &txn); rc != 0) {
      return lmdb_error(rc, "cannot begin a write transaction");
    }
    LmdbTransaction writer(txn, databases_);
    if (Status status = body(writer); !status.ok()) {
      mdb_txn_abort(txn);
      if (!writer.map_full()) return status;
    } else if (int rc = mdb_txn_commit(txn); rc != MDB_MAP_FULL) {
      // The commit writes the pages, syncs them, then writes the meta page
      // (lmdb_storage.h, A COMMIT). On failure it has already freed the
      // transaction, and the last committed state is intact.
      return rc == 0 ? Status::success() : lmdb_error(rc, "cannot commit to " + lmdb_options_.data_dir);
    }
    if (Status grown = grow_map(); !grown.ok()) return grown;
  }
  return Status::error(Code::no_space,
                       "the LMDB map stayed full after growing it " + std::to_string(kWriteAttemptsMax) + " times");
}

Status LmdbStorage::grow_map() {
  if (map_bytes_ >= lmdb_options_.map_bytes_max) {
    return Status::error(Code::no_space, "the LMDB map is full at map_bytes_max (" +
                                             std::to_string(lmdb_options_.map_bytes_max) + " bytes) in " +
                                             lmdb_options_.data_dir +
                                             "; raise map_bytes_max or free space, then restart");
  }
  const uint64_t grown = std::min(lmdb_options_.map_bytes_max, std::max<uint64_t>(map_bytes_ * 2, map_bytes_ + 1));
  // No transaction is open here: run_write aborted or committed its own, and
  // read transactions never outlive run_read.
  if (int rc = mdb_env_set_mapsize(env_, grown); rc != 0) return lmdb_error(rc, "cannot grow the LMDB map");
  MDB_envinfo info;
  if (int rc = mdb_env_info(env_, &info); rc != 0) return lmdb_error(rc, "cannot read the LMDB map size");
  map_bytes_ = std::max<uint64_t>(info.me_mapsize, grown);
  return Status::success();
}

}  // namespace synod::persistence
