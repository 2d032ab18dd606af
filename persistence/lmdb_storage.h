// LmdbStorage: the durable Storage of a synod node, on LMDB.
//
// ON DISK. A data directory holds four files:
//
//   wal        the commit log (log_file.h, frames of log_format.h): every
//              commit is one frame there, and nothing else waits for the disk
//   data.mdb   LMDB's B+trees: four named databases, one per table of
//              records.h (meta, accepted, chosen, snapshot_chunks), brought
//              up to date from the log at checkpoints
//   lock.mdb   LMDB's reader table (LMDB's own; not ours to lock with)
//   LOCK       our lock file: flock(2) held while a process has the store
//              open (data_dir.h), so that a second process is refused with
//              the holder's pid instead of sharing the store
//
// The records, keys and encodings are those of records.h; in brief:
//
//   meta            "format"    format version and node id (layout frozen)
//                   "state"     promised ballot, snapshot slot, last chosen
//                               slot, number of votes: the store's table of
//                               contents, rewritten by every transaction
//                               that changes one of them
//                   "snapshot"  the latest snapshot's slot, the configurations
//                               after it, size, CRC32C of the image, chunk
//                               size and count
//   accepted        slot (8 bytes, big-endian) -> ballot and value of a vote
//   chosen          slot (8 bytes, big-endian) -> the chosen value
//   snapshot_chunks chunk index (8 bytes, b.-e.) -> snapshot slot and bytes
//
// CHECKSUMS. LMDB checks nothing in the bytes it stores. Every record value
// therefore carries its own CRC32C (over the key and the value), its length
// and a tag naming its kind, and load() and read_snapshot_chunk() check them
// on every read. A snapshot also carries the CRC32C of the whole image.
// load() reads every record of the store, even chosen slots below the
// snapshot that it does not return, so a flipped bit anywhere is found at
// the next start rather than when it is served.
//
// VERSIONS AND IDENTITY. The format record holds the format version
// (records.h: kFormatVersion) and the node id. A store of another version is
// refused with Code::unknown_format_version, and another node's store with
// Code::node_id_mismatch; neither is ever read further.
//
// A COMMIT is one frame appended to `wal` and one fdatasync (record_storage.h,
// THE LOG). A CHECKPOINT is one LMDB write transaction.
// LMDB is copy-on-write: the transaction writes its new pages into free space
// and never over a page that the last committed state uses. mdb_txn_commit
// then writes the dirty pages and fdatasync()s the data file, and only after
// that writes one of the two meta pages, through a descriptor opened with
// O_DSYNC, to point at the new root. So a checkpoint costs two waits on the
// device (the data sync and the meta write), which is why commits no longer
// are LMDB transactions (issue 18). LMDB offers flags that skip
// either wait; they would make a receipt a lie after a power loss, so they are
// set only by LmdbOptions::unsafe_no_sync_for_benchmarks, and nothing else
// in synod may set them.
//
// A CRASH MID-WRITE of a frame leaves a torn tail, which the next load cuts:
// its receipt was never handed out. A CRASH MID-CHECKPOINT: before the meta page is written, the new pages are
// unreferenced free space: the store reopens at the previous commit, and the
// batch, whose receipt was never handed out, is gone as a whole. After it,
// the store reopens at the new commit. No state in between exists, so no
// record is ever torn by a crash; a torn or rotten record can only come from
// the device, and its CRC reports it (Code::corrupt). LMDB assumes a meta
// page's first sector is written atomically, as every disk we run on does.
//
// OPERATING ERRORS. When the map fills (MDB_MAP_FULL) the transaction is
// aborted, the map is doubled (mdb_env_set_mapsize) and the transaction is run
// again, up to map_bytes_max; past that, Code::no_space. A failed write or
// sync (a full disk: ENOSPC, EFBIG; a failing one: EIO) aborts the
// transaction, so nothing of it is on disk, and returns io_error or no_space.
// After any failed write the store refuses writes until it is reopened
// (storage.h says why).
//
// Owned by one thread at a time: the server's storage thread. Read
// transactions are not tied to a thread (MDB_NOTLS), so the object may be
// handed from the thread that opened it to the one that uses it.
#pragma once

#include <array>
#include <memory>
#include <string>

#include "persistence/data_dir.h"
#include "persistence/log_file.h"
#include "persistence/record_storage.h"

struct MDB_env;

namespace synod::persistence {

inline constexpr const char* kLogFileName = "wal";

struct LmdbOptions {
  std::string data_dir;
  StorageOptions storage;
  // The map starts at this size and doubles when full, up to the maximum.
  // LMDB's data file grows with what is written, not with the map.
  uint64_t map_bytes_initial = 64ULL << 20;
  uint64_t map_bytes_max = 64ULL << 30;
  // UNSAFE: commits without waiting for the disk, so a receipt can be handed
  // out for a batch that a power loss then erases. For measuring the CPU cost
  // of the storage path in benchmarks only; never in a server.
  bool unsafe_no_sync_for_benchmarks = false;
};

// Empty if usable, else a sentence saying what is wrong.
std::string validate(const LmdbOptions& options);

class LmdbStorage final : public RecordStorage {
 public:
  struct Opened {
    Status status;
    std::unique_ptr<LmdbStorage> storage;  // set exactly when status is ok
  };
  // Creates the directory if missing, takes its lock and opens LMDB. Then
  // call load(). io_error if the directory cannot be created or written,
  // locked if another process holds it.
  static Opened open(const LmdbOptions& options);

  ~LmdbStorage() override;

  const std::string& data_dir() const { return lmdb_options_.data_dir; }
  uint64_t map_bytes() const { return map_bytes_; }

 protected:
  Status run_read(const ReadBody& body) override;
  Status run_write(const WriteBody& body) override;

 private:
  using Databases = std::array<unsigned int, kTableCount>;  // MDB_dbi per table
  LmdbStorage(const LmdbOptions& options, DirectoryLock lock, std::unique_ptr<LogFile> log, MDB_env* env,
              const Databases& databases, uint64_t map_bytes);

  Status grow_map();

  std::unique_ptr<LogFile> log_file_;  // RecordStorage holds a reference to it
  const LmdbOptions lmdb_options_;
  DirectoryLock lock_;
  MDB_env* env_;
  Databases databases_;
  uint64_t map_bytes_;
};

}  // namespace synod::persistence
