// storage_bench: what the LMDB storage costs on this disk, next to what the
// disk can do. Not a test: it asserts nothing, it measures.
//
//   storage_bench [DIR] [--seconds S] [--rounds R]
//
// DIR (default: a new directory under /var/tmp) must be on the filesystem the
// data would live on. Everything it creates there is removed at the end.
//
// Parts 1 and 2 run in R rounds (default 3) of S seconds per row (default
// 1), every row once per round, and print each row's median, min and max
// over the rounds. Virtual disks change speed over time; interleaving puts
// the disk's limit and the storage on the same disk at the same moments.
//
//   1. The physical limit: write(4 KiB) + fdatasync in a loop, appending to a
//      file and overwriting one block in place; syncs/s, p50, p99.
//   2. persist() throughput, one log frame and one sync per batch, for
//      batches of 1, 16, 64 and 512 commands of 64 bytes. Each batch is what a
//      follower persists in steady state: its vote for slot s and the chosen
//      value of slot s - 1. Then persist_group() of 8 such batches of 64
//      commands, and, for the CPU cost alone, batches of 512 with the store
//      opened unsafe_no_sync_for_benchmarks.
//   3. Recovery: a store of 1,000,000 chosen entries (one 64-byte command
//      each) above a 30 MB snapshot (100,000 sessions and 100,000 locks at
//      ~150 bytes each) is loaded by a fresh process, so that its VmHWM is
//      the load's alone; once with the data file in the page cache and once
//      after dropping it (posix_fadvise DONTNEED).
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "persistence/lmdb_storage.h"

using namespace synod;
using namespace synod::persistence;
using Clock = std::chrono::steady_clock;

namespace {

constexpr size_t kPayloadBytes = 64;
constexpr size_t kSyncBlockBytes = 4096;
constexpr uint64_t kRecoveryEntries = 1'000'000;
constexpr uint64_t kRecoverySnapshotBytes = 200'000ULL * 150;  // 100,000 sessions + 100,000 locks
constexpr paxos::Slot kRecoverySnapshotSlot = 1000;
constexpr uint64_t kBuildEntriesPerBatch = 10'000;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Latencies {
  std::vector<double> us;
  void add(Clock::time_point start) { us.push_back(seconds_since(start) * 1e6); }
  double percentile(double p) {
    if (us.empty()) return 0;
    std::sort(us.begin(), us.end());
    return us[std::min(us.size() - 1, static_cast<size_t>(p * static_cast<double>(us.size())))];
  }
};

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "storage_bench: %s\n", what.c_str());
  std::exit(1);
}

std::string vm_line(const char* name) {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(name, 0) == 0) {
      line.erase(0, std::strlen(name));
      line.erase(0, line.find_first_not_of(" \t"));
      return line;
    }
  }
  return "?";
}

paxos::ValuePtr make_value(uint64_t client, uint64_t seq, size_t commands) {
  std::vector<paxos::Command> list;
  list.reserve(commands);
  for (size_t i = 0; i < commands; ++i) {
    std::string payload(kPayloadBytes, '\0');
    for (size_t b = 0; b < kPayloadBytes; ++b) payload[b] = static_cast<char>('a' + (seq + i + b) % 26);
    list.push_back(paxos::Command{client, seq + i, std::move(payload)});
  }
  return paxos::make_batch(std::move(list));
}

LmdbOptions options_for(const std::string& dir) {
  LmdbOptions options;
  options.data_dir = dir;
  options.storage.node_id = 1;
  options.storage.log_slots_max = 10'000'000;  // the recovery store holds 1,000,000 on purpose
  options.storage.log_bytes_max = 16ULL << 30;
  return options;
}

std::unique_ptr<LmdbStorage> open_loaded(const LmdbOptions& options) {
  auto opened = LmdbStorage::open(options);
  if (!opened.status.ok()) die(opened.status.to_string());
  LoadResult loaded = opened.storage->load();
  if (!loaded.status.usable()) die(loaded.status.to_string());
  return std::move(opened.storage);
}

// ------------------------------------------------------------------ 1. the disk

struct Figures {
  double per_s = 0;       // syncs, or batches
  double commands_per_s = 0;
  double p50_us = 0;
  double p99_us = 0;
};

Figures bench_fdatasync(const std::string& dir, double seconds, bool in_place) {
  const std::string path = dir + "/fdatasync-probe";
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) die("cannot create " + path + ": " + std::strerror(errno));
  std::string block(kSyncBlockBytes, 'x');
  Latencies latencies;
  const auto start = Clock::now();
  off_t offset = 0;
  while (seconds_since(start) < seconds) {
    const auto t0 = Clock::now();
    if (pwrite(fd, block.data(), block.size(), offset) != static_cast<ssize_t>(block.size())) die("write failed");
    if (fdatasync(fd) != 0) die("fdatasync failed");
    latencies.add(t0);
    if (!in_place) offset += static_cast<off_t>(block.size());
  }
  const double elapsed = seconds_since(start);
  close(fd);
  unlink(path.c_str());
  return Figures{static_cast<double>(latencies.us.size()) / elapsed, 0, latencies.percentile(0.50),
                 latencies.percentile(0.99)};
}

// ------------------------------------------------------------------ 2. persist

Figures bench_persist(const std::string& dir, size_t commands, size_t group, double seconds, bool unsafe_no_sync) {
  std::filesystem::remove_all(dir);
  LmdbOptions options = options_for(dir);
  options.unsafe_no_sync_for_benchmarks = unsafe_no_sync;
  auto store = open_loaded(options);
  // Values are built ahead, so the loop times the storage only.
  const paxos::ValuePtr value = make_value(42, 1, commands);
  const paxos::Ballot ballot{1, 1};
  Latencies latencies;
  uint64_t ready_id = 0;
  paxos::Slot slot = 0;
  std::vector<paxos::PersistBatch> batches(group);
  std::vector<const paxos::PersistBatch*> pointers;
  for (auto& batch : batches) pointers.push_back(&batch);
  const auto start = Clock::now();
  while (seconds_since(start) < seconds) {
    for (auto& batch : batches) {
      ++slot;
      batch = paxos::PersistBatch{};
      batch.ready_id = ++ready_id;
      if (slot == 1) batch.promised = ballot;
      batch.accepted.push_back(paxos::AcceptedEntry{slot, ballot, value});
      if (slot > 1) batch.chosen.push_back(paxos::ChosenEntry{slot - 1, value});
    }
    const auto t0 = Clock::now();
    PersistResult result = store->persist_group(pointers);
    if (!result.status.ok()) die(result.status.to_string());
    latencies.add(t0);
    // As the server's storage thread does: one checkpoint step after a group
    // once due, timed with the loop but not with the commit.
    if (store->checkpoint_due() && !store->checkpoint().ok()) die("checkpoint failed");
  }
  const double elapsed = seconds_since(start);
  Figures figures;
  figures.per_s = static_cast<double>(latencies.us.size() * group) / elapsed;
  figures.commands_per_s = figures.per_s * static_cast<double>(commands);
  figures.p50_us = latencies.percentile(0.50);
  figures.p99_us = latencies.percentile(0.99);
  store.reset();
  std::filesystem::remove_all(dir);
  return figures;
}

// One row of the table: what it measures, and its figures in every round.
struct Row {
  std::string name;
  std::function<Figures()> measure;
  std::vector<Figures> rounds;
};

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

void print_row(const Row& row) {
  std::vector<double> per_s;
  std::vector<double> commands;
  std::vector<double> p50;
  std::vector<double> p99;
  for (const Figures& f : row.rounds) {
    per_s.push_back(f.per_s);
    commands.push_back(f.commands_per_s);
    p50.push_back(f.p50_us);
    p99.push_back(f.p99_us);
  }
  std::printf("  %-44s %8.0f/s [%6.0f..%6.0f]", row.name.c_str(), median(per_s),
              *std::min_element(per_s.begin(), per_s.end()), *std::max_element(per_s.begin(), per_s.end()));
  if (median(commands) > 0) std::printf("  %9.0f cmd/s", median(commands));
  std::printf("  p50 %6.0f us  p99 %6.0f us\n", median(p50), median(p99));
}

void bench_rounds(const std::string& dir, double seconds, int rounds) {
  std::vector<Row> rows;
  rows.push_back({"disk: append 4 KiB + fdatasync (syncs)", [=] { return bench_fdatasync(dir, seconds, false); }, {}});
  rows.push_back({"disk: 4 KiB in place + fdatasync (syncs)", [=] { return bench_fdatasync(dir, seconds, true); }, {}});
  for (size_t commands : {size_t{1}, size_t{16}, size_t{64}, size_t{512}}) {
    rows.push_back({"persist: batch of " + std::to_string(commands) + " commands (batches)",
                    [=] { return bench_persist(dir + "/persist", commands, 1, seconds, false); }, {}});
  }
  rows.push_back({"persist_group: 8 batches of 64 (batches)",
                  [=] { return bench_persist(dir + "/persist", 64, 8, seconds, false); }, {}});
  rows.push_back({"UNSAFE no sync: batch of 512 (CPU only)",
                  [=] { return bench_persist(dir + "/persist", 512, 1, seconds, true); }, {}});
  for (int round = 0; round < rounds; ++round) {
    for (Row& row : rows) row.rounds.push_back(row.measure());
  }
  std::printf("  %-44s %8s   %-15s %15s  %s\n", "", "median", "[min..max]", "", "(medians over rounds)");
  for (const Row& row : rows) print_row(row);
}

// ------------------------------------------------------------------ 3. recovery

void build_recovery_store(const std::string& dir) {
  std::filesystem::remove_all(dir);
  auto store = open_loaded(options_for(dir));
  const auto start = Clock::now();
  std::string image(kRecoverySnapshotBytes, '\0');
  for (size_t i = 0; i < image.size(); ++i) image[i] = static_cast<char>((i * 2654435761ULL) >> 13);
  Status saved =
      store->save_snapshot(Snapshot{kRecoverySnapshotSlot, {bootstrap_configuration({1, 2, 3})}, std::move(image)});
  if (!saved.ok()) die(saved.to_string());
  uint64_t ready_id = 0;
  for (paxos::Slot first = kRecoverySnapshotSlot + 1; first <= kRecoverySnapshotSlot + kRecoveryEntries;
       first += kBuildEntriesPerBatch) {
    paxos::PersistBatch batch;
    batch.ready_id = ++ready_id;
    for (paxos::Slot slot = first; slot < first + kBuildEntriesPerBatch; ++slot) {
      batch.chosen.push_back(paxos::ChosenEntry{slot, make_value(slot % 1000, slot, 1)});
    }
    PersistResult result = store->persist(batch);
    if (!result.status.ok()) die(result.status.to_string());
    while (store->checkpoint_due()) {
      if (!store->checkpoint().ok()) die("checkpoint failed");
    }
  }
  std::printf("  built: %llu chosen entries + %.1f MB snapshot in %.1f s; data.mdb is %.0f MB\n",
              static_cast<unsigned long long>(kRecoveryEntries), static_cast<double>(kRecoverySnapshotBytes) / 1e6,
              seconds_since(start), static_cast<double>(std::filesystem::file_size(dir + "/data.mdb")) / 1e6);
}

void drop_page_cache(const std::string& file) {
  const int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("cannot open " + file);
  fdatasync(fd);
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  close(fd);
}

// Runs in a fresh process: open + load, then report.
int recover_only(const std::string& dir) {
  const std::string hwm_before = vm_line("VmHWM:");
  const auto start = Clock::now();
  auto opened = LmdbStorage::open(options_for(dir));
  if (!opened.status.ok()) die(opened.status.to_string());
  LoadResult loaded = opened.storage->load();
  const double elapsed = seconds_since(start);
  if (!loaded.status.ok()) die(loaded.status.to_string());
  std::printf("load %.3f s  entries %zu  snapshot %zu bytes  VmHWM %s (before load %s)  RssAnon %s  RssFile %s\n",
              elapsed, loaded.durable.chosen.size(), loaded.snapshot ? loaded.snapshot->bytes.size() : 0,
              vm_line("VmHWM:").c_str(), hwm_before.c_str(), vm_line("RssAnon:").c_str(), vm_line("RssFile:").c_str());
  return 0;
}

void run_recovery(const std::string& dir, bool cold) {
  if (cold) {
    drop_page_cache(dir + "/data.mdb");
    drop_page_cache(dir + "/" + kLogFileName);
  }
  std::fflush(stdout);
  const pid_t child = fork();
  if (child < 0) die("fork failed");
  if (child == 0) {
    std::printf("  %-5s ", cold ? "cold" : "warm");
    std::fflush(stdout);
    execl("/proc/self/exe", "storage_bench", "--recover-only", dir.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die("the recovery process failed");
}

std::string default_dir() {
  std::string pattern = "/var/tmp/synod-storage-bench-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) die("mkdtemp failed");
  return pattern;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 3 && std::string(argv[1]) == "--recover-only") return recover_only(argv[2]);
  std::string parent;
  double seconds = 1;
  int rounds = 3;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--seconds" && i + 1 < argc) {
      seconds = std::atof(argv[++i]);
    } else if (arg == "--rounds" && i + 1 < argc) {
      rounds = std::max(1, std::atoi(argv[++i]));
    } else if (!arg.empty() && arg[0] != '-') {
      parent = arg;
    } else {
      die("usage: storage_bench [DIR] [--seconds S] [--rounds R]");
    }
  }
  std::string dir;
  if (parent.empty()) {
    dir = default_dir();
  } else {
    std::filesystem::create_directories(parent);
    dir = parent + "/synod-storage-bench-" + std::to_string(getpid());
    std::filesystem::create_directories(dir);
  }
  std::printf("storage_bench in %s: %d rounds, %.1f s per row per round\n", dir.c_str(), rounds, seconds);
  std::printf("1-2. the disk's limit and LmdbStorage::persist (one commit per batch, 64-byte commands)\n");
  bench_rounds(dir, seconds, rounds);
  std::printf("3. recovery\n");
  build_recovery_store(dir + "/recovery");
  run_recovery(dir + "/recovery", false);
  run_recovery(dir + "/recovery", true);
  std::filesystem::remove_all(dir);
  return 0;
}
