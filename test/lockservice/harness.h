// A test harness around one StateMachine: it numbers slots, stamps log time
// and offers one-line helpers for the commands the tests use most.
#pragma once

#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "lockservice/command.h"
#include "lockservice/state_machine.h"

namespace synod::lockservice::test {

// One command's result, the znode events it fired, and its revision.
struct Applied {
  Result result;
  ZnodeEvents events;
  Revision revision = kNoRevision;
};

struct Harness {
  explicit Harness(Config config = {}) : machine(config) {}

  StateMachine machine;
  uint64_t slot = 0;
  int64_t now_ms = 1'000;
  std::vector<std::string> log;  // every payload applied, for replays

  Result apply(const Command& command, ClientId client_id = 0, uint64_t seq = 0) {
    ++slot;
    log.push_back(encode(command, now_ms));
    return machine.apply(LogEntry{slot, 0, client_id, seq, log.back()});
  }
  // Applies one command as apply() does, and keeps the znode events it fires.
  Applied apply_fired(const Command& command, ClientId client_id = 0, uint64_t seq = 0) {
    ++slot;
    log.push_back(encode(command, now_ms));
    Applied applied;
    applied.revision = make_revision(slot, 0);
    applied.result = machine.apply(LogEntry{slot, 0, client_id, seq, log.back()}, applied.events);
    return applied;
  }
  // Moves log time on with an empty checkpoint, as the keeper's would.
  Result advance(int64_t ms) {
    now_ms += ms;
    return apply(RenewSessions{});
  }
  Result renew(std::vector<SessionId> sessions) { return apply(RenewSessions{std::move(sessions)}); }

  SessionId session(int64_t ttl_ms = 10'000, int64_t lock_delay_ms = 0, Behavior behavior = Behavior::release) {
    const Result r = apply(CreateSession{ttl_ms, lock_delay_ms, behavior});
    REQUIRE(r.status == Status::ok);
    return r.session;
  }
  Result expire(SessionId session) { return apply(ExpireSession{session}); }

  Result acquire(const std::string& lock, SessionId session, WaitMode wait = WaitMode::try_once, int64_t wait_ms = 0,
                 ClientId client_id = 0, uint64_t seq = 0) {
    Acquire a;
    a.lock = lock;
    a.session = session;
    a.wait = wait;
    a.wait_ms = wait_ms;
    return apply(a, client_id, seq);
  }
  Result acquire_kind(const std::string& lock, SessionId session, LockKind kind, Access access, uint32_t limit,
                      WaitMode wait = WaitMode::try_once) {
    Acquire a;
    a.lock = lock;
    a.session = session;
    a.kind = kind;
    a.access = access;
    a.limit = limit;
    a.wait = wait;
    return apply(a);
  }
  Result release(const std::string& lock, SessionId session) { return apply(Release{lock, session}); }

  Result put(const std::string& key, const std::string& value, SessionId session = kNoSession) {
    Put p;
    p.key = key;
    p.value = value;
    p.session = session;
    return apply(p);
  }
  Result erase(const std::string& key, bool prefix = false) {
    DeleteKey d;
    d.key = key;
    d.prefix = prefix;
    return apply(d);
  }

  std::vector<SessionId> holders(const std::string& lock) const {
    std::vector<SessionId> out;
    if (auto view = machine.lock(lock))
      for (const auto& h : view->holders) out.push_back(h.session);
    return out;
  }
  std::vector<SessionId> waiters(const std::string& lock) const {
    std::vector<SessionId> out;
    if (auto view = machine.lock(lock))
      for (const auto& w : view->waiters) out.push_back(w.session);
    return out;
  }
  // Events after `after`, every space.
  std::vector<Event> events_after(Revision after) const {
    return machine.events(after, EventFilter{}, 1'000'000).events;
  }
};

}  // namespace synod::lockservice::test
