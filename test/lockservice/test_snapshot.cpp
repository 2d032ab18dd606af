// Determinism, snapshots and restore: replicas that apply the same entries
// write byte-identical snapshots; a restored replica continues identically;
// malformed snapshots are refused without harm.
#include "harness.h"
#include "base/random.h"

namespace synod::lockservice::test {
namespace {

struct Item {
  uint64_t slot = 0;
  uint64_t index = 0;
  ClientId client_id = 0;
  uint64_t seq = 0;
  std::string payload;
  LogEntry entry() const { return LogEntry{slot, index, client_id, seq, payload}; }
};

// Drives a machine with a random mix of every command (batches of 1-4 per
// slot, retries included) and returns the log it applied.
std::vector<Item> random_log(uint64_t seed, size_t commands, const Config& config = {}) {
  Random random(seed);
  StateMachine machine(config);
  std::vector<Item> log;
  std::vector<SessionId> sessions;
  int64_t now = 1'000;
  uint64_t slot = 0;
  const std::vector<std::string> names{"a", "b", "c/d"};
  const std::vector<std::string> keys{"/k/1", "/k/2", "/k/3/x", "/q/"};
  auto pick_session = [&]() -> SessionId {
    if (sessions.empty() || random.chance(1, 20)) return static_cast<SessionId>(random.uniform(1, 1'000'000));
    return sessions[static_cast<size_t>(random.uniform(0, static_cast<int64_t>(sessions.size()) - 1))];
  };
  auto pick = [&](const std::vector<std::string>& from) -> const std::string& {
    return from[static_cast<size_t>(random.uniform(0, static_cast<int64_t>(from.size()) - 1))];
  };
  while (log.size() < commands) {
    ++slot;
    const auto batch = static_cast<uint64_t>(random.uniform(1, 4));
    now += random.uniform(0, 300);
    for (uint64_t index = 0; index < batch; ++index) {
      Command command;
      switch (random.uniform(0, 13)) {
        case 0: command = CreateSession{random.uniform(2'000, 6'000), random.uniform(0, 1'000),
                                        random.chance(1, 2) ? Behavior::release : Behavior::delete_keys}; break;
        case 1: command = DeleteSession{pick_session()}; break;
        case 2: {
          RenewSessions renew;
          for (SessionId s : sessions)
            if (random.chance(2, 3)) renew.sessions.push_back(s);
          command = renew;
          break;
        }
        case 3: command = ExpireSession{pick_session()}; break;
        case 4: {
          const auto kind = static_cast<LockKind>(random.uniform(0, 2));
          const auto wait = static_cast<WaitMode>(random.uniform(0, 2));
          command = Acquire{pick(names), pick_session(), kind,
                            kind == LockKind::shared && random.chance(1, 2) ? Access::read : Access::write,
                            kind == LockKind::semaphore ? 2u : 1u, wait,
                            wait == WaitMode::timeout ? random.uniform(1, 2'000) : 0};
          break;
        }
        case 5: command = Release{pick(names), pick_session()}; break;
        case 6: command = ForceRelease{random.chance(1, 2) ? Space::lock : Space::election, pick(names),
                                       random.chance(1, 2) ? pick_session() : kNoSession, "why", random.chance(1, 2)}; break;
        case 7: command = Campaign{pick(names), pick_session(), "v" + std::to_string(random.uniform(0, 9))}; break;
        case 8: command = Proclaim{pick(names), static_cast<FencingToken>(random.uniform(0, 1) ? 0 : machine.revision()),
                                   "p"}; break;
        case 9: command = Resign{pick(names), pick_session()}; break;
        case 10: {
          Put put{pick(keys), std::string(static_cast<size_t>(random.uniform(0, 20)), 'v'),
                  random.chance(1, 3) ? pick_session() : kNoSession, false, std::nullopt, {}};
          put.sequential = put.key.back() == '/';
          if (!put.sequential && random.chance(1, 4)) put.cas = random.chance(1, 2) ? 0 : machine.revision();
          if (random.chance(1, 5)) put.fence = Fence{pick(names), machine.revision()};
          command = put;
          break;
        }
        case 11: command = DeleteKey{random.chance(1, 2) ? "/k" : "/k/1", random.chance(1, 2), std::nullopt, {}}; break;
        case 12: {
          Txn txn;
          txn.guards = {Guard{GuardKind::exists, "/k/1", 0, 0}};
          txn.ops = {Put{"/k/2", "t", 0, false, std::nullopt, {}}, DeleteKey{"/k/3/x", false, std::nullopt, {}}};
          command = txn;
          break;
        }
        default: command = RenewSessions{};
      }
      Item item;
      item.slot = slot;
      item.index = index;
      if (random.chance(1, 3)) {
        // Clients with ids; a retry repeats the previous item's identity.
        item.client_id = static_cast<ClientId>(random.uniform(1, 5));
        item.seq = static_cast<uint64_t>(random.uniform(1, 40));
      }
      item.payload = encode(command, now);
      const Result result = machine.apply(item.entry());
      const bool fresh = result.revision == make_revision(slot, index);  // not a retry's recorded answer
      if (std::holds_alternative<CreateSession>(command) && result.status == Status::ok && fresh)
        sessions.push_back(result.session);
      log.push_back(std::move(item));
      if (log.size() == commands) break;
    }
    // Expire what is overdue, as the keeper would.
    for (auto it = sessions.begin(); it != sessions.end();) {
      const auto lease = machine.lease(*it);
      if (lease && lease->deadline_log_ms <= now) {
        Item item;
        item.slot = ++slot;
        item.payload = encode(ExpireSession{*it}, now);
        machine.apply(item.entry());
        log.push_back(std::move(item));
      }
      it = lease ? std::next(it) : sessions.erase(it);
    }
  }
  return log;
}

TEST_CASE("replicas that apply the same log write byte-identical snapshots", "[lockservice][snapshot]") {
  for (uint64_t seed : {1u, 2u, 3u}) {
    const auto log = random_log(seed, 3'000);
    StateMachine a, b;
    for (size_t i = 0; i < log.size(); ++i) {
      const Result ra = a.apply(log[i].entry());
      const Result rb = b.apply(log[i].entry());
      REQUIRE(ra == rb);
      if (i % 500 == 0) REQUIRE(a.snapshot() == b.snapshot());
    }
    CHECK(a.snapshot() == b.snapshot());
    const Counts counts = a.counts();
    CHECK(counts.events > 0);
    CHECK(counts.dedup_entries > 0);
  }
}

TEST_CASE("a restored replica continues exactly like the original", "[lockservice][snapshot]") {
  const auto log = random_log(11, 4'000);
  StateMachine original;
  StateMachine restored;
  for (size_t i = 0; i < log.size(); ++i) {
    original.apply(log[i].entry());
    if (i % 997 == 0) {
      const std::string bytes = original.snapshot();
      REQUIRE(restored.restore(bytes));
      REQUIRE(restored.snapshot() == bytes);  // restore then snapshot: the same bytes
      REQUIRE(restored.revision() == original.revision());
    } else {
      restored.apply(log[i].entry());
    }
  }
  CHECK(restored.snapshot() == original.snapshot());
}

TEST_CASE("a snapshot holds every part of the state", "[lockservice][snapshot]") {
  Harness h;
  const SessionId s = h.session(5'000, 1'000), t = h.session();
  h.acquire("held", s);
  h.acquire("held", t, WaitMode::timeout, 50'000, 3, 1);
  h.apply(Campaign{"e", s, "v"});
  h.put("/eph", "x", s);
  h.apply(ForceRelease{Space::election, "e", s, "r", false});
  StateMachine copy;
  REQUIRE(copy.restore(h.machine.snapshot()));
  CHECK(copy.lock("held")->waiters.at(0).deadline_log_ms == h.machine.lock("held")->waiters.at(0).deadline_log_ms);
  CHECK(copy.session(s)->losses.size() == 1);
  CHECK(copy.get("/eph")->stat.owner == s);
  CHECK(copy.recorded(3, 1)->status == Status::queued);
  CHECK(copy.election("e")->delay_until_log_ms == h.machine.election("e")->delay_until_log_ms);
  // The rebuilt timers fire: the waiter times out in the copy as in the original.
  std::string tick = encode(RenewSessions{}, h.now_ms + 60'000);
  const uint64_t slot = h.slot + 1;
  h.machine.apply(LogEntry{slot, 0, 0, 0, tick});
  copy.apply(LogEntry{slot, 0, 0, 0, tick});
  CHECK(copy.recorded(3, 1)->status == Status::timed_out);
  CHECK(copy.snapshot() == h.machine.snapshot());
}

TEST_CASE("malformed snapshots are refused and change nothing", "[lockservice][snapshot][fuzz]") {
  const auto log = random_log(5, 600);
  StateMachine source;
  for (const Item& item : log) source.apply(item.entry());
  const std::string good = source.snapshot();
  REQUIRE(good.size() > 100);

  StateMachine target;
  const std::string before = target.snapshot();
  CHECK_FALSE(target.restore(""));
  CHECK_FALSE(target.restore("SYNODLS"));
  std::string bad_version = good;
  bad_version[8] = 9;
  CHECK_FALSE(target.restore(bad_version));
  CHECK_FALSE(target.restore(good + '\0'));
  for (size_t length = 0; length < good.size(); length += 7) CHECK_FALSE(target.restore(good.substr(0, length)));
  CHECK(target.snapshot() == before);

  // Flipped bytes: refused, or accepted as a consistent state that then
  // applies commands without tripping any invariant.
  Random random(99);
  size_t accepted = 0;
  for (int i = 0; i < 3'000; ++i) {
    std::string mutated = good;
    const int flips = static_cast<int>(random.uniform(1, 3));
    for (int f = 0; f < flips; ++f)
      mutated[static_cast<size_t>(random.uniform(9, static_cast<int64_t>(mutated.size()) - 1))] =
          static_cast<char>(random.uniform(0, 255));
    StateMachine machine;
    if (!machine.restore(mutated)) continue;
    ++accepted;
    uint64_t slot = revision_slot(machine.revision());
    if (slot > kSlotMax - 100) continue;  // a flipped revision at the end of the log
    for (const Item& item : random_log(static_cast<uint64_t>(i), 40))
      machine.apply(LogEntry{++slot, 0, item.client_id, item.seq, item.payload});
    StateMachine again;
    REQUIRE(again.restore(machine.snapshot()));
  }
  CHECK(accepted > 0);  // some flips land in values and names and stay valid
}

}  // namespace
}  // namespace synod::lockservice::test
