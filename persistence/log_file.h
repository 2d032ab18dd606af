// LogFile: the commit log's ring on disk, the file `wal` in the data directory.
//
// ONE DEVICE WAIT PER COMMIT. A commit is one pwrite(2) of a frame and one
// fdatasync(2). fdatasync waits only for the data blocks as long as the
// file's size and block map do not change, so the file is written with zeros
// before any frame goes there: space that fallocate(2) reserved but nobody
// wrote is an "unwritten extent" on ext4, and the first write into it changes
// the block map, which makes fdatasync commit the journal too: a second wait.
// The file therefore grows by zero-filled steps of grow_bytes (4 MiB) up to
// its capacity, each step written just before the first frame that needs it,
// so the metadata wait comes once per step, not once per commit. After its
// first lap the ring reuses its blocks and the file never changes size again.
//
// Opened by LmdbStorage::open; owned by the storage thread, like the store.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "persistence/log_device.h"

namespace synod::persistence {

class LogFile final : public LogDevice {
 public:
  struct Opened {
    Status status;
    std::unique_ptr<LogFile> log;  // set exactly when status is ok
  };
  // Opens (or creates, empty) `path`. A file longer than `capacity_bytes`
  // keeps its length as its capacity, so that a store written with a larger
  // ring is read whole. `sync` false: fdatasync is skipped (benchmarks only,
  // LmdbOptions::unsafe_no_sync_for_benchmarks).
  static Opened open(const std::string& path, uint64_t capacity_bytes, bool sync);
  ~LogFile() override;

  uint64_t capacity_bytes() const override { return capacity_bytes_; }
  uint64_t extent_bytes() const override { return file_bytes_; }
  Status read(uint64_t offset, uint64_t length, std::string& out) override;
  Status write(uint64_t offset, std::string_view bytes) override;
  // fdatasync, if anything was written since the last one.
  Status sync() override;
  Status clear() override;

  uint64_t file_bytes() const { return file_bytes_; }

 private:
  LogFile(std::string path, int fd, uint64_t capacity_bytes, uint64_t file_bytes, bool sync);
  // Zero-fills the file up to at least `end` (in grow_bytes steps, at most
  // the capacity).
  Status grow_to(uint64_t end);
  Status write_all(uint64_t offset, std::string_view bytes);

  static constexpr uint64_t kGrowBytes = 4ULL << 20;

  const std::string path_;
  const int fd_;
  const uint64_t capacity_bytes_;
  uint64_t file_bytes_;
  const bool sync_;
  bool dirty_ = false;  // written since the last sync
};

}  // namespace synod::persistence
