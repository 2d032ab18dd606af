#include "persistence/data_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace synod::persistence {

namespace {

constexpr const char* kLockFileName = "LOCK";
constexpr size_t kPidBytesMax = 32;

std::string read_holder(int fd) {
  char buffer[kPidBytesMax] = {};
  const ssize_t got = pread(fd, buffer, sizeof(buffer) - 1, 0);
  if (got <= 0) return "another process";
  std::string pid(buffer, static_cast<size_t>(got));
  while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
  return "process " + pid;
}

void write_pid(int fd) {
  const std::string pid = std::to_string(getpid()) + "\n";
  // Best effort: the pid only improves the message a second opener prints.
  if (ftruncate(fd, 0) == 0) {
    [[maybe_unused]] const ssize_t written = pwrite(fd, pid.data(), pid.size(), 0);
  }
}

}  // namespace

Status from_errno(int error, const std::string& what) {
  const Code code = (error == ENOSPC || error == EDQUOT || error == EFBIG) ? Code::no_space : Code::io_error;
  return Status::error(code, what + ": " + std::strerror(error));
}

Status prepare_directory(const std::string& path) {
  if (path.empty()) return Status::error(Code::invalid_argument, "the data directory path is empty");
  std::error_code error;
  if (std::filesystem::exists(path, error) && !std::filesystem::is_directory(path, error)) {
    return Status::error(Code::io_error, "data directory " + path + " is not a directory");
  }
  std::filesystem::create_directories(path, error);
  if (error) return Status::error(Code::io_error, "cannot create data directory " + path + ": " + error.message());
  if (!std::filesystem::is_directory(path, error)) {
    return Status::error(Code::io_error, "data directory " + path + " is not a directory");
  }
  return Status::success();
}

Status sync_directory(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return from_errno(errno, "cannot open data directory " + path + " to sync it");
  const int result = fsync(fd);
  const int error = errno;
  close(fd);
  if (result != 0) return from_errno(error, "cannot sync data directory " + path);
  return Status::success();
}

Status DirectoryLock::acquire(const std::string& directory, DirectoryLock& lock) {
  const std::string path = directory + "/" + kLockFileName;
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return from_errno(errno, "cannot create the lock file " + path + " (is the data directory writable?)");
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    std::string holder = read_holder(fd);
    close(fd);
    if (error == EWOULDBLOCK) {
      return Status::error(Code::locked, "data directory " + directory + " is in use by " + holder + " (it holds " +
                                             path + "); one process per data directory");
    }
    return from_errno(error, "cannot lock " + path);
  }
  write_pid(fd);
  lock = DirectoryLock(fd);
  return Status::success();
}

DirectoryLock::DirectoryLock(DirectoryLock&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

DirectoryLock& DirectoryLock::operator=(DirectoryLock&& other) noexcept {
  if (this != &other) {
    release();
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

DirectoryLock::~DirectoryLock() { release(); }

void DirectoryLock::release() {
  if (fd_ >= 0) close(fd_);  // closing the last descriptor drops the flock
  fd_ = -1;
}

}  // namespace synod::persistence
