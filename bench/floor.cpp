// floor: the physical limits a commit cannot beat on this machine, measured
// in the same run as the systems (bench/compare.sh):
//   fsync   p50/p99 of write(4 KiB) + fdatasync on a file in DIR (the disk
//           the clusters' data lives on)
//   rtt     p50/p99 of a 64-byte ping-pong over loopback TCP
//
//   floor DIR [iterations]
// Prints two JSON lines (system "floor").
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

void report(const char* what, std::vector<double>& ms) {
  std::sort(ms.begin(), ms.end());
  auto at = [&](double p) { return ms[std::min(ms.size() - 1, static_cast<size_t>(p * static_cast<double>(ms.size() - 1)))]; };
  std::printf("{\"system\":\"floor\",\"workload\":\"%s\",\"clients\":1,\"ops_per_s\":%.1f,\"p50_ms\":%.4f,"
              "\"p99_ms\":%.4f,\"p999_ms\":%.4f,\"nodes\":1}\n",
              what, 1000.0 / at(0.5), at(0.5), at(0.99), at(0.999));
}

double since_ms(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

int fsync_floor(const std::string& dir, int iterations) {
  const std::string path = dir + "/floor-fsync.bin";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return std::perror("open"), 1;
  char block[4096];
  std::memset(block, 'x', sizeof block);
  std::vector<double> ms;
  for (int i = 0; i < iterations; ++i) {
    const auto start = Clock::now();
    if (::write(fd, block, sizeof block) != static_cast<ssize_t>(sizeof block) || ::fdatasync(fd) != 0) {
      return std::perror("write/fdatasync"), 1;
    }
    ms.push_back(since_ms(start));
  }
  ::close(fd);
  ::unlink(path.c_str());
  report("fdatasync-4KiB", ms);
  return 0;
}

int rtt_floor(int iterations) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  if (::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(listener, 1) != 0 ||
      ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    return std::perror("listen"), 1;
  }
  std::thread echo([listener] {
    const int peer = ::accept(listener, nullptr, nullptr);
    const int one = 1;
    ::setsockopt(peer, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    char buffer[64];
    while (::read(peer, buffer, sizeof buffer) == sizeof buffer) {
      if (::write(peer, buffer, sizeof buffer) != sizeof buffer) break;
    }
    ::close(peer);
  });
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) return std::perror("connect"), 1;
  char buffer[64] = {};
  std::vector<double> ms;
  for (int i = 0; i < iterations; ++i) {
    const auto start = Clock::now();
    if (::write(fd, buffer, sizeof buffer) != sizeof buffer) break;
    size_t got = 0;
    while (got < sizeof buffer) {
      const ssize_t n = ::read(fd, buffer + got, sizeof buffer - got);
      if (n <= 0) return std::perror("read"), 1;
      got += static_cast<size_t>(n);
    }
    ms.push_back(since_ms(start));
  }
  ::close(fd);
  echo.join();
  ::close(listener);
  report("loopback-rtt", ms);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: floor DIR [iterations]\n");
    return 2;
  }
  const int iterations = argc > 2 ? std::atoi(argv[2]) : 2000;
  return fsync_floor(argv[1], iterations) != 0 || rtt_floor(iterations * 5) != 0 ? 1 : 0;
}
