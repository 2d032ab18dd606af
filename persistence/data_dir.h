// The data directory: creating it, locking it against a second process, and
// syncing its entries.
//
// The lock is flock(2) on the file LOCK in the directory, held for the life of
// a DirectoryLock. flock locks belong to an open file description, so a second
// open of the same directory is refused even from the same process, and the
// kernel drops the lock when the process dies (kill -9 included), so a crash
// never leaves a stale lock behind. The holder writes its pid into the file,
// only so that the refusal can name it.
//
// Owned by the thread that opened the store.
#pragma once

#include <string>

#include "persistence/status.h"

namespace synod::persistence {

// Creates `path` and its parents if missing; io_error if that fails or if
// `path` is not a directory.
Status prepare_directory(const std::string& path);

// A failed system call as a Status: no_space for a full disk, else io_error,
// with errno's words after `what`.
Status from_errno(int error, const std::string& what);

// fsync(2) on the directory, so that the files created in it survive a crash.
Status sync_directory(const std::string& path);

class DirectoryLock {
 public:
  DirectoryLock() = default;
  DirectoryLock(const DirectoryLock&) = delete;
  DirectoryLock& operator=(const DirectoryLock&) = delete;
  DirectoryLock(DirectoryLock&& other) noexcept;
  DirectoryLock& operator=(DirectoryLock&& other) noexcept;
  ~DirectoryLock();

  // Code::locked if another open file description holds it.
  static Status acquire(const std::string& directory, DirectoryLock& lock);

  bool held() const { return fd_ >= 0; }

 private:
  explicit DirectoryLock(int fd) : fd_(fd) {}
  void release();

  int fd_ = -1;
};

}  // namespace synod::persistence
