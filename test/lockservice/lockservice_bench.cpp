// lockservice_bench: the apply cost per command and the memory per session,
// lock and key of the lock-service state machine (issue 5's figures).
//
// Not a test: it asserts no timings. It applies pre-encoded commands to one
// StateMachine, as a replica's driver would, and reads VmRSS/VmHWM from
// /proc/self/status between phases.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "lockservice/command.h"
#include "lockservice/state_machine.h"

namespace {

using namespace synod::lockservice;
using Clock = std::chrono::steady_clock;

constexpr size_t kSessions = 100'000;
constexpr size_t kLocks = 100'000;
constexpr size_t kKeys = 1'000'000;

long status_kib(const char* field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const std::string prefix = std::string(field) + ":";
  while (std::getline(in, line))
    if (line.rfind(prefix, 0) == 0) return std::stol(line.substr(prefix.size()));
  return -1;
}

struct Driver {
  StateMachine machine;
  uint64_t slot = 0;
  int64_t now_ms = 1'000;

  Result apply(const std::string& payload) { return machine.apply(LogEntry{++slot, 0, 0, 0, payload}); }
};

// Applies every payload and returns ns per command.
double timed(Driver& driver, const std::vector<std::string>& payloads, size_t* failures) {
  const auto start = Clock::now();
  for (const std::string& payload : payloads)
    if (driver.apply(payload).status != Status::ok) ++*failures;
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
  return static_cast<double>(ns) / static_cast<double>(payloads.size());
}

std::string lock_name(size_t i) { return "locks/service-" + std::to_string(i); }
std::string key_name(size_t i) { return "/bench/app-" + std::to_string(i % 1000) + "/key-" + std::to_string(i); }

}  // namespace

int main() {
  // Every payload is encoded first, so that the memory deltas below count
  // only what the state machine keeps.
  std::vector<std::string> creates, first_acquires, releases, acquires, checkpoints, puts, overwrites;
  for (size_t i = 0; i < kSessions; ++i) creates.push_back(encode(CreateSession{3'600'000, 5'000, Behavior::release}, 1'000));
  // Session ids are the revisions of their creation: slots 1..kSessions.
  auto session_of = [](size_t i) { return make_revision(i + 1, 0); };
  for (size_t i = 0; i < kLocks; ++i) {
    first_acquires.push_back(encode(Acquire{lock_name(i), session_of(i), LockKind::exclusive, Access::write, 1, WaitMode::try_once, 0}, 1'000));
    releases.push_back(encode(Release{lock_name(i), session_of(i)}, 1'000));
    acquires.push_back(encode(Acquire{lock_name(i), session_of((i + 1) % kSessions), LockKind::exclusive, Access::write, 1, WaitMode::try_once, 0}, 1'000));
  }
  // A renewal checkpoint of every session (the keeper's biggest command),
  // in chunks of the default limit.
  for (size_t i = 0; i < kSessions; i += 16'384) {
    RenewSessions renew;
    for (size_t j = i; j < std::min(kSessions, i + 16'384); ++j) renew.sessions.push_back(session_of(j));
    checkpoints.push_back(encode(renew, 1'500));
  }
  const std::string value(16, 'v');
  for (size_t i = 0; i < kKeys; ++i) puts.push_back(encode(Put{key_name(i), value, 0, false, std::nullopt, {}}, 1'500));
  for (size_t i = 0; i < 100'000; ++i) overwrites.push_back(encode(Put{key_name(i * 7), "w", 0, false, std::nullopt, {}}, 1'500));

  Driver driver;
  size_t failures = 0;
  const long rss_start = status_kib("VmRSS");
  const double create_ns = timed(driver, creates, &failures);
  const long rss_sessions = status_kib("VmRSS");
  const double acquire_ns = timed(driver, first_acquires, &failures);
  const long rss_locks = status_kib("VmRSS");
  const double release_ns = timed(driver, releases, &failures);
  const double reacquire_ns = timed(driver, acquires, &failures);
  const double checkpoint_ns = timed(driver, checkpoints, &failures) * static_cast<double>(checkpoints.size()) / kSessions;
  const long rss_before_keys = status_kib("VmRSS");
  const double put_ns = timed(driver, puts, &failures);
  const long rss_keys = status_kib("VmRSS");
  const double overwrite_ns = timed(driver, overwrites, &failures);
  const long rss_end = status_kib("VmRSS");

  const auto snapshot_start = Clock::now();
  const std::string snapshot = driver.machine.snapshot();
  const double snapshot_ms = static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - snapshot_start).count());
  const auto restore_start = Clock::now();
  StateMachine restored;
  const bool restored_ok = restored.restore(snapshot);
  const double restore_ms = static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - restore_start).count());
  const bool identical = restored_ok && restored.snapshot() == snapshot;

  const Counts counts = driver.machine.counts();
  const auto per = [](long after, long before, size_t n) { return static_cast<double>(after - before) * 1024.0 / static_cast<double>(n); };
  std::printf("lockservice_bench: %zu sessions, %zu locks, %zu keys, %zu events in the window (failures: %zu)\n",
              counts.sessions, counts.locks, counts.keys, counts.events, failures);
  std::printf("apply ns/command: create_session %.0f, acquire %.0f, release %.0f, acquire_again %.0f, "
              "renew (per session in a checkpoint) %.0f, put_new %.0f, put_overwrite %.0f\n",
              create_ns, acquire_ns, release_ns, reacquire_ns, checkpoint_ns, put_ns, overwrite_ns);
  std::printf("memory B/item: session %.0f, lock held %.0f, key (~30 B name, 16 B value) %.0f\n",
              per(rss_sessions, rss_start, kSessions), per(rss_locks, rss_sessions, kLocks), per(rss_keys, rss_before_keys, kKeys));
  std::printf("memory KiB: state machine %ld (VmRSS %ld less %ld of payloads and runtime), VmHWM %ld\n", rss_end - rss_start,
              rss_end, rss_start, status_kib("VmHWM"));
  std::printf("snapshot: %zu bytes, %.0f ms to write, %.0f ms to restore, restored copy %s\n", snapshot.size(), snapshot_ms,
              restore_ms, identical ? "byte-identical" : "DIFFERS");
  return failures == 0 && identical ? 0 : 1;
}
