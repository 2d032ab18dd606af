#include "persistence/log_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include "base/assert.h"
#include "persistence/data_dir.h"

namespace synod::persistence {

LogFile::Opened LogFile::open(const std::string& path, uint64_t capacity_bytes, bool sync) {
  Opened opened;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    opened.status = from_errno(errno, "cannot open the log " + path);
    return opened;
  }
  struct stat info {};
  if (::fstat(fd, &info) != 0) {
    opened.status = from_errno(errno, "cannot stat the log " + path);
    ::close(fd);
    return opened;
  }
  const auto file_bytes = static_cast<uint64_t>(info.st_size);
  opened.log.reset(new LogFile(path, fd, std::max(capacity_bytes, file_bytes), file_bytes, sync));
  return opened;
}

LogFile::LogFile(std::string path, int fd, uint64_t capacity_bytes, uint64_t file_bytes, bool sync)
    : path_(std::move(path)), fd_(fd), capacity_bytes_(capacity_bytes), file_bytes_(file_bytes), sync_(sync) {}

LogFile::~LogFile() { ::close(fd_); }

Status LogFile::read(uint64_t offset, uint64_t length, std::string& out) {
  SYNOD_ASSERT(offset <= capacity_bytes_ && length <= capacity_bytes_ - offset);
  out.assign(length, '\0');
  const uint64_t stored = offset < file_bytes_ ? std::min(length, file_bytes_ - offset) : 0;
  uint64_t done = 0;
  while (done < stored) {
    const ssize_t n = ::pread(fd_, out.data() + done, stored - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return from_errno(errno, "cannot read the log " + path_);
    if (n == 0) break;  // shorter than fstat said: the rest reads as zeros
    done += static_cast<uint64_t>(n);
  }
  return Status::success();
}

Status LogFile::write_all(uint64_t offset, std::string_view bytes) {
  uint64_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::pwrite(fd_, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return from_errno(errno, "cannot write the log " + path_);
    done += static_cast<uint64_t>(n);
  }
  return Status::success();
}

Status LogFile::grow_to(uint64_t end) {
  if (end <= file_bytes_) return Status::success();
  const uint64_t target = std::min(capacity_bytes_, std::max(end, file_bytes_ + kGrowBytes));
  static const std::string zeros(1 << 20, '\0');
  while (file_bytes_ < target) {
    const uint64_t step = std::min<uint64_t>(zeros.size(), target - file_bytes_);
    if (Status status = write_all(file_bytes_, std::string_view(zeros).substr(0, step)); !status.ok()) return status;
    file_bytes_ += step;
  }
  return Status::success();
}

Status LogFile::write(uint64_t offset, std::string_view bytes) {
  SYNOD_ASSERT(offset <= capacity_bytes_ && bytes.size() <= capacity_bytes_ - offset);
  dirty_ = true;
  if (Status status = grow_to(offset + bytes.size()); !status.ok()) return status;
  return write_all(offset, bytes);
}

Status LogFile::sync() {
  if (!sync_ || !dirty_) return Status::success();
  if (::fdatasync(fd_) != 0) return from_errno(errno, "cannot sync the log " + path_);
  dirty_ = false;
  return Status::success();
}

Status LogFile::clear() {
  if (::ftruncate(fd_, 0) != 0) return from_errno(errno, "cannot clear the log " + path_);
  file_bytes_ = 0;
  if (sync_ && ::fsync(fd_) != 0) return from_errno(errno, "cannot sync the log " + path_);
  return Status::success();
}

}  // namespace synod::persistence
