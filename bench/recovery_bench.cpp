// recovery_bench: how long a synod node takes to come back with a long log
// and a large snapshot (issue #3: 1,000,000 log entries and a snapshot of
// 100,000 sessions and 100,000 locks, ready in under 2 s).
//
//   recovery_bench --synod build/server/synod [--dir DIR]
//                  [--entries 1000000] [--sessions 100000]
//
// 1. Builds a data directory for node 1 of a one-node cluster with the real
//    LMDB storage: a snapshot of a real lock-service state machine holding
//    `sessions` sessions each holding one lock, then `entries` chosen log
//    entries above it, one key write each.
// 2. Starts `synod` on it and measures, from exec: the "recovered" log line
//    (storage loaded, snapshot restored, log replayed into the state
//    machine), and the first 200 from /readyz (which for a one-node cluster
//    also includes the restart guard of one lease plus drift, 330 ms, before
//    it may elect itself). Reports the process's peak memory (VmHWM).
// Prints one JSON line.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "lockservice/command.h"
#include "lockservice/state_machine.h"
#include "persistence/lmdb_storage.h"

namespace ls = synod::lockservice;
namespace px = synod::paxos;
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  std::string synod;
  std::string dir = "/tmp/synod-recovery-bench";
  uint64_t entries = 1'000'000;
  uint64_t sessions = 100'000;
  int client_port = 7391;
  int peer_port = 7392;
};

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Applies `commands` to `machine` as one slot's batch.
void apply_slot(ls::StateMachine& machine, uint64_t slot, const std::vector<std::string>& payloads) {
  for (size_t i = 0; i < payloads.size(); ++i) {
    machine.apply(ls::LogEntry{slot, i, 0, 0, payloads[i]});
  }
}

// A snapshot with `sessions` sessions, each holding its own lock.
std::pair<uint64_t, std::string> build_snapshot(uint64_t sessions) {
  ls::StateMachine machine;
  uint64_t slot = 0;
  const size_t per_slot = 1000;
  std::vector<ls::SessionId> ids;
  for (uint64_t done = 0; done < sessions;) {
    std::vector<std::string> batch;
    for (size_t i = 0; i < per_slot && done < sessions; ++i, ++done) {
      batch.push_back(ls::encode(ls::CreateSession{3'600'000, 0, ls::Behavior::release}, 1000));
    }
    ++slot;
    for (size_t i = 0; i < batch.size(); ++i) {
      auto result = machine.apply(ls::LogEntry{slot, i, 0, 0, batch[i]});
      ids.push_back(result.session);
    }
  }
  for (size_t done = 0; done < ids.size();) {
    std::vector<std::string> batch;
    for (size_t i = 0; i < per_slot && done < ids.size(); ++i, ++done) {
      ls::Acquire acquire;
      acquire.lock = "lock-" + std::to_string(done);
      acquire.session = ids[done];
      batch.push_back(ls::encode(acquire, 1001));
    }
    apply_slot(machine, ++slot, batch);
  }
  const auto counts = machine.counts();
  std::fprintf(stderr, "snapshot: %zu sessions, %zu locks at slot %lu\n", counts.sessions, counts.locks,
               static_cast<unsigned long>(slot));
  return {slot, machine.snapshot()};
}

bool build_store(const Args& args) {
  std::string command = "rm -rf '" + args.dir + "'";
  if (std::system(command.c_str()) != 0) return false;
  synod::persistence::LmdbOptions options;
  options.data_dir = args.dir;
  options.storage.node_id = 1;
  options.storage.log_slots_max = args.entries * 2;
  options.storage.log_bytes_max = 16ULL << 30;
  auto opened = synod::persistence::LmdbStorage::open(options);
  if (!opened.status.ok()) {
    std::fprintf(stderr, "open: %s\n", opened.status.message.c_str());
    return false;
  }
  auto& store = *opened.storage;
  if (!store.load().status.usable()) return false;
  auto [slot, bytes] = build_snapshot(args.sessions);
  const synod::persistence::Snapshot snapshot{slot, {synod::persistence::bootstrap_configuration({1})}, bytes};
  if (!store.save_snapshot(snapshot).ok()) return false;
  // Promised ballot (1,1), then the log above the snapshot in batches.
  uint64_t ready_id = 0;
  const uint64_t per_batch = 10'000;
  for (uint64_t next = slot + 1; next <= slot + args.entries;) {
    px::PersistBatch batch;
    batch.ready_id = ++ready_id;
    if (ready_id == 1) batch.promised = px::Ballot{1, 1};
    for (uint64_t i = 0; i < per_batch && next <= slot + args.entries; ++i, ++next) {
      ls::Put put;
      put.key = "/bench/" + std::to_string(next % 100'000);
      put.value = "0123456789abcdef";
      batch.chosen.push_back(px::ChosenEntry{next, px::make_batch({px::Command{0, 0, ls::encode(put, 2000)}})});
    }
    if (!store.persist(batch).status.ok()) return false;
  }
  std::fprintf(stderr, "store: snapshot of %zu bytes at slot %lu, %lu log entries above it\n", bytes.size(),
               static_cast<unsigned long>(slot), static_cast<unsigned long>(args.entries));
  return true;
}

int http_status(int port, const char* path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int status = 0;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) {
    const std::string request = std::string("GET ") + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    if (::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
      char buffer[64] = {};
      if (::read(fd, buffer, sizeof buffer - 1) > 12) status = std::atoi(buffer + 9);
    }
  }
  ::close(fd);
  return status;
}

long peak_kib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  Args args;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--synod") args.synod = argv[i + 1];
    else if (flag == "--dir") args.dir = argv[i + 1];
    else if (flag == "--entries") args.entries = std::stoull(argv[i + 1]);
    else if (flag == "--sessions") args.sessions = std::stoull(argv[i + 1]);
  }
  if (args.synod.empty()) {
    std::fprintf(stderr, "usage: recovery_bench --synod PATH [--dir DIR] [--entries N] [--sessions N]\n");
    return 2;
  }
  const auto build_started = Clock::now();
  if (!build_store(args)) return 1;
  std::fprintf(stderr, "built the store in %.1f s\n", seconds_since(build_started));

  const std::string log_path = args.dir + ".log";
  const auto started = Clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ::dup2(log_fd, 2);
    const std::string peers = "1=127.0.0.1:" + std::to_string(args.peer_port);
    const std::string clients = "1=127.0.0.1:" + std::to_string(args.client_port);
    ::execl(args.synod.c_str(), "synod", "--id", "1", "--peers", peers.c_str(), "--clients", clients.c_str(),
            "--data-dir", args.dir.c_str(), "--snapshot-after-slots", std::to_string(args.entries * 2).c_str(),
            "--log-format", "text", static_cast<char*>(nullptr));
    _exit(127);
  }
  double listening_s = -1, ready_s = -1;
  while (seconds_since(started) < 120) {
    const int status = http_status(args.client_port, "/readyz");
    if (status != 0 && listening_s < 0) listening_s = seconds_since(started);
    if (status == 200) {
      ready_s = seconds_since(started);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const long peak = peak_kib(pid);
  ::kill(pid, SIGTERM);
  ::waitpid(pid, nullptr, 0);
  std::ifstream log(log_path);
  std::stringstream text;
  text << log.rdbuf();
  const std::string all = text.str();
  const auto at = all.find("recovered ");
  const std::string recovered = at == std::string::npos ? "" : all.substr(at, all.find('\n', at) - at);
  std::printf(
      "{\"benchmark\":\"recovery\",\"log_entries\":%lu,\"sessions\":%lu,\"locks\":%lu,\"listening_s\":%.3f,"
      "\"ready_s\":%.3f,\"peak_rss_mib\":%.0f,\"recovered\":\"%s\"}\n",
      static_cast<unsigned long>(args.entries), static_cast<unsigned long>(args.sessions),
      static_cast<unsigned long>(args.sessions), listening_s, ready_s, static_cast<double>(peak) / 1024.0,
      recovered.c_str());
  return ready_s < 0 ? 1 : 0;
}
