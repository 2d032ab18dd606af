#include "server/fork_image.h"

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

namespace synod::server {

namespace {
// The child: the pipe's write end is all it keeps.
[[noreturn]] void run_child(const std::function<std::string()>& make_bytes, const int fds[2]) {
  const int out = fds[1];
  // The child competes for the same cores as the serving threads of this
  // process (and, on one machine, of the other nodes): it yields to them.
  [[maybe_unused]] const int niceness = ::nice(19);  // best effort: a failure only costs priority
  if (fds[0] < out) ::close(fds[0]);
  if (out > 3) ::close_range(3, static_cast<unsigned>(out - 1), 0);
  ::close_range(static_cast<unsigned>(out + 1), ~0U, 0);
  try {
    const std::string bytes = make_bytes();
    const uint64_t length = bytes.size();  // first, so the parent allocates the image once
    auto write_all = [out](const char* data, size_t size) {
      while (size > 0) {
        const ssize_t written = ::write(out, data, size);
        if (written < 0 && errno == EINTR) continue;
        if (written <= 0) ::_exit(1);
        data += written;
        size -= static_cast<size_t>(written);
      }
    };
    write_all(reinterpret_cast<const char*>(&length), sizeof length);
    write_all(bytes.data(), bytes.size());
  } catch (...) {
    ::_exit(1);
  }
  ::_exit(0);
}
}  // namespace

// SERIALIZING OFF THE OWNER THREAD. Serializing the state machine costs time
// in proportion to its size (about 0.4 s for 65 MB, docs/lockservice.md
// §10), and the owner loop is what sends heartbeats: serialized inline, a
// state of millions of keys stalled it for seconds and cost elections. So a
// forked child serializes the state as it was at the fork (the pages are
// shared copy-on-write) and writes it to a pipe, which a thread of the
// caller's reads, so the owner loop pays only for fork() itself. The child
// touches nothing but the state machine, malloc (glibc makes it safe across
// fork) and the pipe: it closes every other descriptor first, so it holds no
// socket or file of the parent's open, takes no lock, writes no log, runs at
// nice 19 so that it never takes a core from a serving thread, and _exits.
// A child that dies midway is a short read, never truncated bytes taken for
// whole ones.
ForkedImage fork_image(const std::function<std::string()>& make_bytes) {
  ForkedImage forked;
  int fds[2] = {-1, -1};
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    forked.error = errno;
    return forked;
  }
  const pid_t child = ::fork();
  if (child == 0) run_child(make_bytes, fds);  // never returns
  if (child < 0) {
    forked.error = errno;
    ::close(fds[0]);
    ::close(fds[1]);
    return forked;
  }
  ::close(fds[1]);
  forked.fd = fds[0];
  forked.child = child;
  return forked;
}

// The child sends the length first, so the reader allocates the image once
// at its exact size. Reading it into a buffer that grows by doubling left a
// trail of freed blocks of 64 KiB to 16 MiB behind every snapshot, and once
// glibc had raised its mmap threshold (it does after the first large block
// is freed) those holes stayed in the heap: a node's RSS rose by 26 MiB in
// one step after 25 minutes (issue 23).
std::string collect_image(const ForkedImage& forked, std::string& image) {
  const int fd = forked.fd;
  auto read_exactly = [fd](char* data, size_t size) -> std::string {
    while (size > 0) {
      const ssize_t got = ::read(fd, data, size);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) return std::string("read: ") + std::strerror(errno);
      if (got == 0) return "the pipe ended early";
      data += got;
      size -= static_cast<size_t>(got);
    }
    return {};
  };
  std::string error = [&]() -> std::string {
    uint64_t length = 0;
    if (auto e = read_exactly(reinterpret_cast<char*>(&length), sizeof length); !e.empty()) return e;
    if (length > kForkedImageBytesMax) return "the image is " + std::to_string(length) + " bytes, too many";
    image.resize(length);  // one allocation, at the exact size
    if (auto e = read_exactly(image.data(), image.size()); !e.empty()) return e;
    char extra = 0;
    if (read_exactly(&extra, 1) != "the pipe ended early") return "more bytes than the image's length";
    return {};
  }();
  ::close(fd);
  int status = 0;
  while (::waitpid(forked.child, &status, 0) < 0 && errno == EINTR) {
  }
  if (error.empty() && (!WIFEXITED(status) || WEXITSTATUS(status) != 0))
    error = "exit status " + std::to_string(status);
  return error;
}

void kill_image_child(pid_t child) {
  if (child > 0) ::kill(child, SIGKILL);
}

}  // namespace synod::server
