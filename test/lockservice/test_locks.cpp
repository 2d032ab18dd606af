// Sessions, locks, semaphores, readers/writer locks, lock-delay, fencing
// tokens, exactly-once and elections.
#include <map>

#include "harness.h"
#include "lockservice/session_keeper.h"
#include "base/random.h"

namespace synod::lockservice::test {
namespace {

// ---- sessions ----
TEST_CASE("sessions: bounds, views, renewals, deletion", "[lockservice][session]") {
  Harness h;
  CHECK(h.apply(CreateSession{kTtlMsMin - 1, 0, Behavior::release}).status == Status::invalid_argument);
  CHECK(h.apply(CreateSession{kTtlMsMax + 1, 0, Behavior::release}).status == Status::invalid_argument);
  CHECK(h.apply(CreateSession{kTtlMsMin, kLockDelayMsMax + 1, Behavior::release}).status == Status::invalid_argument);
  CHECK(h.apply(CreateSession{kTtlMsMin, -1, Behavior::release}).status == Status::invalid_argument);

  const Result created = h.apply(CreateSession{10'000, 2'000, Behavior::delete_keys});
  REQUIRE(created.status == Status::ok);
  CHECK(created.session == created.revision);  // a session id is its creation's revision
  CHECK(created.valid_for_ms == 10'000 * 100 / 110);
  auto view = h.machine.session(created.session);
  REQUIRE(view);
  CHECK(view->ttl_ms == 10'000);
  CHECK(view->lock_delay_ms == 2'000);
  CHECK(view->behavior == Behavior::delete_keys);
  CHECK(view->deadline_log_ms == h.now_ms + 10'000);

  h.now_ms += 4'000;
  CHECK(h.renew({created.session}).count == 1);
  view = h.machine.session(created.session);
  CHECK(view->renewed_log_ms == h.now_ms);
  CHECK(view->deadline_log_ms == h.now_ms + 10'000);

  const SessionId other = h.session();
  const auto page = h.machine.sessions(kNoSession, 1);
  REQUIRE(page.size() == 1);
  CHECK(page[0].id == created.session);
  CHECK(h.machine.sessions(created.session, 10).at(0).id == other);

  CHECK(h.apply(DeleteSession{other}).status == Status::ok);
  CHECK_FALSE(h.machine.session(other));
  CHECK(h.apply(DeleteSession{other}).status == Status::not_found);
}

TEST_CASE("an expiry before the logged deadline is refused", "[lockservice][session]") {
  Harness h;
  const SessionId s = h.session(5'000);
  h.now_ms += 4'999;
  const Result early = h.expire(s);
  CHECK(early.status == Status::too_early);
  CHECK(early.until_ms == 1'000 + 5'000);
  CHECK(h.machine.session(s));
  h.now_ms += 1;
  CHECK(h.expire(s).status == Status::ok);
  CHECK_FALSE(h.machine.session(s));
  CHECK(h.expire(s).status == Status::not_found);
}

TEST_CASE("a renewal that is applied first makes the expiry too early", "[lockservice][session]") {
  Harness h;
  const SessionId s = h.session(5'000);
  h.now_ms += 6'000;
  h.renew({s});
  CHECK(h.expire(s).status == Status::too_early);
  // Renewals of ended sessions are ignored.
  h.apply(DeleteSession{s});
  CHECK(h.renew({s}).count == 0);
}

TEST_CASE("log time never goes backwards", "[lockservice][session]") {
  Harness h;
  h.now_ms = 50'000;
  h.advance(0);
  h.now_ms = 10'000;  // a command stamped with an older time
  const SessionId s = h.session(5'000);
  CHECK(h.machine.log_time_ms() == 50'000);
  CHECK(h.machine.session(s)->renewed_log_ms == 50'000);
}

// ---- exclusive locks and tokens ----
TEST_CASE("an exclusive lock: grant, conflict, re-acquire, release", "[lockservice][lock]") {
  Harness h;
  const SessionId a = h.session(), b = h.session();
  const Result granted = h.acquire("db", a);
  REQUIRE(granted.status == Status::ok);
  CHECK(granted.token == granted.revision);
  CHECK(granted.valid_for_ms > 0);

  const Result held = h.acquire("db", b);
  CHECK(held.status == Status::conflict);
  CHECK(held.session == a);
  CHECK(held.token == granted.token);

  const Result again = h.acquire("db", a);  // re-acquiring returns the current grant
  CHECK(again.status == Status::ok);
  CHECK(again.token == granted.token);

  CHECK(h.machine.validate_token("db", granted.token));
  CHECK(h.release("db", a).status == Status::ok);
  CHECK_FALSE(h.machine.validate_token("db", granted.token));
  CHECK_FALSE(h.machine.lock("db"));  // nothing left: the lock is gone
  CHECK(h.release("db", a).status == Status::not_found);

  const Result next = h.acquire("db", b);
  REQUIRE(next.status == Status::ok);
  CHECK(next.token > granted.token);
  CHECK(h.machine.validate_token("db", next.token));
}

TEST_CASE("requests with bad arguments are refused", "[lockservice][lock]") {
  Harness h;
  const SessionId s = h.session();
  CHECK(h.acquire("", s).status == Status::invalid_argument);
  CHECK(h.acquire("bad name", s).status == Status::invalid_argument);
  CHECK(h.acquire(std::string(h.machine.config().limits.name_bytes_max + 1, 'x'), s).status == Status::too_large);
  CHECK(h.acquire("l", 999).status == Status::session_expired);
  CHECK(h.acquire("l", s, WaitMode::timeout, 0).status == Status::invalid_argument);
  CHECK(h.acquire("l", s, WaitMode::timeout, kWaitMsMax + 1).status == Status::invalid_argument);
  CHECK(h.acquire("l", s, WaitMode::queue, 5).status == Status::invalid_argument);
  CHECK(h.acquire_kind("l", s, LockKind::exclusive, Access::read, 1).status == Status::invalid_argument);
  CHECK(h.acquire_kind("l", s, LockKind::semaphore, Access::write, 0).status == Status::invalid_argument);
  CHECK(h.acquire_kind("l", s, LockKind::semaphore, Access::write, 100'000).status == Status::invalid_argument);
  CHECK_FALSE(h.machine.lock("l"));
}

TEST_CASE("FIFO queue: visible order, grants in order, records updated", "[lockservice][lock][fifo]") {
  Harness h;
  const SessionId a = h.session(), b = h.session(), c = h.session(), d = h.session();
  REQUIRE(h.acquire("q", a).status == Status::ok);
  const Result qb = h.acquire("q", b, WaitMode::queue, 0, 77, 1);
  const Result qc = h.acquire("q", c, WaitMode::queue, 0, 77, 2);
  const Result qd = h.acquire("q", d, WaitMode::timeout, 60'000, 77, 3);
  CHECK(qb.status == Status::queued);
  CHECK(qb.position == 1);
  CHECK(qc.position == 2);
  CHECK(qd.position == 3);
  CHECK(qd.until_ms == h.now_ms + 60'000);
  CHECK(h.waiters("q") == std::vector<SessionId>{b, c, d});

  // A try does not jump the queue.
  CHECK(h.acquire("q", h.session()).status == Status::conflict);

  FencingToken previous = 0;
  for (SessionId next : {b, c, d}) {
    const SessionId holder = h.holders("q").at(0);
    const Revision before = h.machine.revision();
    REQUIRE(h.release("q", holder).status == Status::ok);
    REQUIRE(h.holders("q") == std::vector<SessionId>{next});
    const auto view = h.machine.lock("q");
    CHECK(view->holders[0].token == h.machine.revision());
    CHECK(view->holders[0].token > previous);
    previous = view->holders[0].token;
    // The queued acquire's record now holds the grant.
    const uint64_t seq = next == b ? 1 : next == c ? 2 : 3;
    const Result* record = h.machine.recorded(77, seq);
    REQUIRE(record);
    CHECK(record->status == Status::ok);
    CHECK(record->token == previous);
    // And observers see the grant.
    bool seen = false;
    for (const Event& e : h.events_after(before))
      seen = seen || (e.type == EventType::granted && e.session == next && e.token == previous);
    CHECK(seen);
  }
}

TEST_CASE("a wait with a timeout ends when log time passes its deadline", "[lockservice][lock][timeout]") {
  Harness h;
  const SessionId a = h.session(60'000), b = h.session(60'000), c = h.session(60'000);
  REQUIRE(h.acquire("t", a).status == Status::ok);
  REQUIRE(h.acquire("t", b, WaitMode::timeout, 1'000, 5, 1).status == Status::queued);
  REQUIRE(h.acquire("t", c, WaitMode::queue, 0, 5, 2).status == Status::queued);
  h.advance(999);
  CHECK(h.waiters("t") == std::vector<SessionId>{b, c});
  const Revision before = h.machine.revision();
  h.advance(1);
  CHECK(h.waiters("t") == std::vector<SessionId>{c});
  CHECK(h.machine.recorded(5, 1)->status == Status::timed_out);
  const auto events = h.events_after(before);
  REQUIRE_FALSE(events.empty());
  CHECK(events[0].type == EventType::timed_out);
  CHECK(events[0].session == b);
  // The holder leaving grants the next waiter; the timed-out one is gone.
  h.release("t", a);
  CHECK(h.holders("t") == std::vector<SessionId>{c});
  CHECK(h.machine.session(b)->waits == 0);
}

TEST_CASE("a waiter withdraws with release; a session's end clears its waits", "[lockservice][lock]") {
  Harness h;
  const SessionId a = h.session(), b = h.session(), c = h.session();
  h.acquire("w", a);
  h.acquire("w", b, WaitMode::queue, 0, 9, 1);
  h.acquire("w", c, WaitMode::queue, 0, 9, 2);
  CHECK(h.release("w", b).status == Status::ok);
  CHECK(h.machine.recorded(9, 1)->status == Status::cancelled);
  h.apply(DeleteSession{c});
  CHECK(h.machine.recorded(9, 2)->status == Status::session_expired);
  CHECK(h.waiters("w").empty());
  CHECK(h.holders("w") == std::vector<SessionId>{a});
}

// ---- readers/writer and semaphores ----
TEST_CASE("a shared lock: readers together, writers alone, FIFO between them", "[lockservice][lock][shared]") {
  Harness h;
  const SessionId r1 = h.session(), r2 = h.session(), w = h.session(), r3 = h.session();
  CHECK(h.acquire_kind("rw", r1, LockKind::shared, Access::read, 1).status == Status::ok);
  CHECK(h.acquire_kind("rw", r2, LockKind::shared, Access::read, 1).status == Status::ok);
  CHECK(h.acquire_kind("rw", w, LockKind::shared, Access::write, 1).status == Status::conflict);
  CHECK(h.acquire_kind("rw", w, LockKind::shared, Access::write, 1, WaitMode::queue).status == Status::queued);
  // A reader behind a queued writer waits too: writers do not starve.
  CHECK(h.acquire_kind("rw", r3, LockKind::shared, Access::read, 1, WaitMode::queue).status == Status::queued);
  CHECK(h.acquire_kind("rw", r1, LockKind::shared, Access::write, 1).status == Status::conflict);  // no upgrade
  h.release("rw", r1);
  CHECK(h.holders("rw") == std::vector<SessionId>{r2});
  h.release("rw", r2);
  CHECK(h.holders("rw") == std::vector<SessionId>{w});
  h.release("rw", w);
  CHECK(h.holders("rw") == std::vector<SessionId>{r3});
  CHECK(h.acquire("rw", r1).status == Status::conflict);  // another kind
}

TEST_CASE("a counting semaphore grants up to its limit", "[lockservice][lock][semaphore]") {
  Harness h;
  std::vector<SessionId> s;
  for (int i = 0; i < 4; ++i) s.push_back(h.session());
  CHECK(h.acquire_kind("pool", s[0], LockKind::semaphore, Access::write, 2).status == Status::ok);
  CHECK(h.acquire_kind("pool", s[1], LockKind::semaphore, Access::write, 2).status == Status::ok);
  const Result full = h.acquire_kind("pool", s[2], LockKind::semaphore, Access::write, 2);
  CHECK(full.status == Status::conflict);
  CHECK(full.count == 2);
  CHECK(h.acquire_kind("pool", s[2], LockKind::semaphore, Access::write, 3).status == Status::conflict);  // limit differs
  CHECK(h.acquire_kind("pool", s[2], LockKind::semaphore, Access::write, 2, WaitMode::queue).status == Status::queued);
  CHECK(h.acquire_kind("pool", s[3], LockKind::semaphore, Access::write, 2, WaitMode::queue).status == Status::queued);
  h.release("pool", s[0]);
  CHECK(h.holders("pool") == std::vector<SessionId>{s[1], s[2]});
  h.release("pool", s[1]);
  CHECK(h.holders("pool") == std::vector<SessionId>{s[2], s[3]});
}

// ---- lock-delay ----
TEST_CASE("lock-delay follows an expiry, not a clean release", "[lockservice][lock][lock-delay]") {
  Harness h;
  const SessionId a = h.session(5'000, 3'000), b = h.session(60'000), c = h.session(60'000);

  SECTION("after expiry: nobody for the delay, then the queue") {
    REQUIRE(h.acquire("x", a).status == Status::ok);
    REQUIRE(h.acquire("x", c, WaitMode::queue).status == Status::queued);
    h.now_ms += 5'000;
    REQUIRE(h.expire(a).status == Status::ok);
    const int64_t expired_at = h.now_ms;
    const Result tried = h.acquire("x", b);
    CHECK(tried.status == Status::lock_delay);
    CHECK(tried.until_ms == expired_at + 3'000);
    CHECK(h.holders("x").empty());
    h.advance(2'999);
    CHECK(h.holders("x").empty());
    h.advance(1);
    CHECK(h.holders("x") == std::vector<SessionId>{c});  // granted by the first command past the delay
  }
  SECTION("after a clean release: at once") {
    REQUIRE(h.acquire("x", a).status == Status::ok);
    h.release("x", a);
    CHECK(h.acquire("x", b).status == Status::ok);
  }
  SECTION("after a clean session delete: at once") {
    REQUIRE(h.acquire("x", a).status == Status::ok);
    h.apply(DeleteSession{a});
    CHECK(h.acquire("x", b).status == Status::ok);
  }
}

TEST_CASE("a forced release records why, and applies the lock-delay", "[lockservice][lock][force]") {
  Harness h;
  const SessionId a = h.session(60'000, 4'000), b = h.session();
  const Result granted = h.acquire("f", a);
  const Revision before = h.machine.revision();
  const Result forced = h.apply(ForceRelease{Space::lock, "f", a, "stuck for 2 h", false});
  CHECK(forced.status == Status::ok);
  CHECK(forced.count == 1);
  const auto view = h.machine.session(a);
  REQUIRE(view->losses.size() == 1);
  CHECK(view->losses[0].name == "f");
  CHECK(view->losses[0].token == granted.token);
  CHECK(view->losses[0].reason == "stuck for 2 h");
  CHECK(view->locks.empty());
  const auto events = h.events_after(before);
  REQUIRE(events.size() == 1);
  CHECK(events[0].type == EventType::forced);
  CHECK(events[0].value == "stuck for 2 h");
  CHECK(h.acquire("f", b).status == Status::lock_delay);

  SECTION("skip_lock_delay grants at once") {
    h.now_ms += 4'000;
    h.acquire("g", a);
    h.apply(ForceRelease{Space::lock, "g", kNoSession, "", true});
    CHECK(h.acquire("g", b).status == Status::ok);
  }
  SECTION("errors") {
    CHECK(h.apply(ForceRelease{Space::lock, "nope", a, "", false}).status == Status::not_found);
    CHECK(h.apply(ForceRelease{Space::key, "f", a, "", false}).status == Status::invalid_argument);
    CHECK(h.apply(ForceRelease{Space::lock, "f", a, std::string(1000, 'r'), false}).status == Status::too_large);
  }
}

TEST_CASE("the losses a session remembers are bounded", "[lockservice][lock][force][limits]") {
  Harness h;
  const SessionId a = h.session();
  for (int i = 0; i < 20; ++i) {
    h.acquire("l" + std::to_string(i), a);
    h.apply(ForceRelease{Space::lock, "l" + std::to_string(i), a, std::to_string(i), true});
  }
  const auto losses = h.machine.session(a)->losses;
  REQUIRE(losses.size() == h.machine.config().limits.losses_per_session_max);
  CHECK(losses.back().reason == "19");  // newest kept
}

// ---- minimum validity ----
TEST_CASE("a grant needs the minimum validity left", "[lockservice][lock][validity]") {
  Config config;
  config.grant_validity_ms_min = 1'000;
  Harness h(config);
  const SessionId a = h.session(5'000), b = h.session(60'000);
  h.now_ms += 4'200;  // a has 800 ms left
  const Result low = h.acquire("v", a);
  CHECK(low.status == Status::validity_low);
  CHECK(low.valid_for_ms == 800 * 100 / 110);
  CHECK_FALSE(h.machine.lock("v"));
  // Queued, it keeps its place at the head until a renewal...
  CHECK(h.acquire("v", a, WaitMode::queue).status == Status::queued);
  CHECK(h.acquire("v", b, WaitMode::queue).status == Status::queued);
  CHECK(h.holders("v").empty());
  h.renew({a});  // ... is applied: then it is granted.
  CHECK(h.holders("v") == std::vector<SessionId>{a});
}

// ---- token order ----
TEST_CASE("a grant released in its own revision waits one command for a higher token", "[lockservice][lock][tokens]") {
  Harness h;
  const SessionId a = h.session(5'000, 1'000), b = h.session(60'000), c = h.session(60'000);
  h.acquire("z", a);
  h.acquire("z", b, WaitMode::queue);
  h.acquire("z", c, WaitMode::queue);
  h.now_ms += 5'000;
  h.expire(a);
  h.now_ms += 1'000;
  // This command's timers grant b at its own revision; then it evicts b.
  const Result forced = h.apply(ForceRelease{Space::lock, "z", b, "", true});
  REQUIRE(forced.status == Status::ok);
  const auto losses = h.machine.session(b)->losses;
  REQUIRE(losses.size() == 1);
  CHECK(losses[0].token == forced.revision);
  CHECK(h.holders("z").empty());  // c waits for the next command
  h.advance(0);
  const auto view = h.machine.lock("z");
  REQUIRE(view->holders.size() == 1);
  CHECK(view->holders[0].session == c);
  CHECK(view->holders[0].token > losses[0].token);
}

TEST_CASE("fencing tokens of every lock strictly rise (random workload)", "[lockservice][lock][tokens]") {
  Harness h;
  Random random(7);
  std::vector<SessionId> sessions;
  for (int i = 0; i < 12; ++i) sessions.push_back(h.session(3'000 + 1'000 * i, 500 * (i % 3)));
  const std::vector<std::string> names{"a", "b", "c"};
  std::map<std::string, FencingToken> last;
  Revision seen = h.machine.revision();
  for (int step = 0; step < 4'000; ++step) {
    const SessionId s = sessions[static_cast<size_t>(random.uniform(0, 11))];
    const std::string& name = names[static_cast<size_t>(random.uniform(0, 2))];
    switch (random.uniform(0, 5)) {
      case 0: h.acquire(name, s); break;
      case 1: h.acquire(name, s, WaitMode::queue); break;
      case 2: h.acquire(name, s, WaitMode::timeout, random.uniform(1, 3'000)); break;
      case 3: h.release(name, s); break;
      case 4: h.apply(ForceRelease{Space::lock, name, kNoSession, "", random.chance(1, 2)}); break;
      default: {
        h.now_ms += random.uniform(0, 400);
        std::vector<SessionId> renewed;
        for (SessionId id : sessions)
          if (random.chance(3, 4)) renewed.push_back(id);
        h.renew(renewed);
        // The keeper would expire the overdue ones.
        for (size_t i = 0; i < sessions.size(); ++i) {
          const auto lease = h.machine.lease(sessions[i]);
          if (lease && lease->deadline_log_ms <= h.now_ms) {
            REQUIRE(h.expire(sessions[i]).status == Status::ok);
            sessions[i] = h.session(3'000 + 1'000 * static_cast<int64_t>(i), 500 * static_cast<int64_t>(i % 3));
          }
        }
      }
    }
    for (const Event& e : h.events_after(seen)) {
      if (e.type != EventType::granted) continue;
      REQUIRE(e.token > last[e.name]);  // exclusive locks: one holder at a time
      last[e.name] = e.token;
    }
    seen = h.machine.revision();
  }
  for (const auto& name : names) CHECK(last[name] > 0);
}

// ---- exactly once ----
TEST_CASE("exactly once: a retried acquire returns the same grant and queues once", "[lockservice][dedup]") {
  Harness h;
  const SessionId a = h.session(), b = h.session();
  const Result first = h.acquire("e", a, WaitMode::try_once, 0, 42, 1);
  const Result retry = h.acquire("e", a, WaitMode::try_once, 0, 42, 1);
  CHECK(retry == first);

  const Result queued = h.acquire("e", b, WaitMode::queue, 0, 43, 1);
  CHECK(queued.status == Status::queued);
  CHECK(h.acquire("e", b, WaitMode::queue, 0, 43, 1) == queued);
  // A new request of the same session does not queue twice either.
  CHECK(h.acquire("e", b, WaitMode::queue, 0, 43, 2).position == 1);
  CHECK(h.waiters("e") == std::vector<SessionId>{b});
  h.release("e", a);
  const Result after = h.acquire("e", b, WaitMode::queue, 0, 43, 1);
  CHECK(after.status == Status::ok);
  CHECK(after.token == h.machine.lock("e")->holders[0].token);

  // A retried put is not applied twice.
  Put put{"/counter", "1", 0, false, Revision{0}, {}};
  const Result created = h.apply(put, 44, 1);
  CHECK(created.status == Status::ok);
  CHECK(h.apply(put, 44, 1) == created);
  CHECK(h.apply(put, 44, 2).status == Status::guard_failed);
}

// What a blocking request that found its session already queued relies on
// (http/grant_wait.cpp): its answer is `queued` at its own revision, the
// request that queued holds the record the wait resolves, and the first event
// of the session for that name after the answer is how the wait ended.
TEST_CASE("a repeated acquire or campaign joins the wait; the session's next event ends it", "[lockservice][dedup]") {
  Harness h;
  const auto next_event = [&h](Revision after, const std::string& name, SessionId session) {
    for (const Event& e : h.events_after(after))
      if (e.name == name && e.session == session) return std::optional<Event>(e);
    return std::optional<Event>();
  };
  const SessionId a = h.session(60'000), b = h.session(60'000), c = h.session(60'000), d = h.session(60'000);
  REQUIRE(h.acquire("j", a).status == Status::ok);
  REQUIRE(h.acquire("j", b, WaitMode::queue, 0, 50, 1).status == Status::queued);
  const Result repeat = h.acquire("j", b, WaitMode::timeout, 4'000, 50, 2);
  CHECK(repeat.status == Status::queued);
  CHECK(repeat.position == 1);
  CHECK(repeat.until_ms == kNoDeadline);  // the wait it joined is a queue: no timeout ends it
  CHECK(repeat.revision == h.machine.revision());
  CHECK(h.waiters("j") == std::vector<SessionId>{b});
  h.apply(DeleteSession{a});
  REQUIRE(h.holders("j") == std::vector<SessionId>{b});
  const FencingToken token = h.machine.lock("j")->holders[0].token;
  CHECK(h.machine.recorded(50, 1)->token == token);
  CHECK(h.machine.recorded(50, 2)->status == Status::queued);  // it did not queue
  const auto granted = next_event(repeat.revision, "j", b);
  REQUIRE(granted);
  CHECK(granted->type == EventType::granted);
  CHECK(granted->token == token);

  // A timeout of the wait it joined, and an end of its session.
  REQUIRE(h.acquire("j", c, WaitMode::timeout, 1'000, 51, 1).status == Status::queued);
  REQUIRE(h.acquire("j", d, WaitMode::queue, 0, 52, 1).status == Status::queued);
  const Result c_again = h.acquire("j", c, WaitMode::queue, 0, 51, 2);
  const Result d_again = h.acquire("j", d, WaitMode::timeout, 500, 52, 2);
  CHECK(c_again.until_ms == h.machine.recorded(51, 1)->until_ms);  // the deadline it joined
  CHECK(d_again.position == 2);
  h.advance(1'000);
  h.apply(DeleteSession{d});
  CHECK(next_event(c_again.revision, "j", c)->type == EventType::timed_out);
  CHECK(next_event(d_again.revision, "j", d)->type == EventType::cancelled);
  CHECK(h.machine.recorded(51, 1)->status == Status::timed_out);
  CHECK(h.machine.recorded(52, 1)->status == Status::session_expired);

  // An election: a candidate campaigns again, and the leader resigns.
  const SessionId e = h.session(60'000);
  REQUIRE(h.apply(Campaign{"lead", b, "b"}).status == Status::ok);
  REQUIRE(h.apply(Campaign{"lead", e, "e"}, 53, 1).status == Status::queued);
  const Result campaign_again = h.apply(Campaign{"lead", e, "e"}, 53, 2);
  CHECK(campaign_again.status == Status::queued);
  h.apply(Resign{"lead", b});
  const auto leader = next_event(campaign_again.revision, "lead", e);
  REQUIRE(leader);
  CHECK(leader->type == EventType::leader);
  CHECK(leader->token == h.machine.election("lead")->token);
  CHECK(h.machine.recorded(53, 1)->status == Status::ok);
}

// ---- limits ----
TEST_CASE("count limits give limit_exceeded, never a crash", "[lockservice][limits]") {
  Config config;
  config.limits.sessions_max = 3;
  config.limits.locks_max = 2;
  config.limits.waiters_per_lock_max = 1;
  config.limits.locks_per_session_max = 1;
  config.limits.holders_per_lock_max = 2;
  Harness h(config);
  const SessionId a = h.session(), b = h.session(), c = h.session();
  CHECK(h.apply(CreateSession{5'000, 0, Behavior::release}).status == Status::limit_exceeded);
  CHECK(h.acquire("one", a).status == Status::ok);
  CHECK(h.acquire("two", a).status == Status::limit_exceeded);  // locks per session
  CHECK(h.acquire("two", b).status == Status::ok);
  CHECK(h.acquire("three", c).status == Status::limit_exceeded);  // locks
  CHECK(h.acquire("one", b).status == Status::limit_exceeded);   // b has its one lock
  CHECK(h.acquire("one", c, WaitMode::queue).status == Status::queued);
  h.release("two", b);
  CHECK(h.acquire("one", b, WaitMode::queue).status == Status::limit_exceeded);  // waiters per lock
  CHECK(h.acquire_kind("s", b, LockKind::semaphore, Access::write, 3).status == Status::invalid_argument);
  CHECK(h.apply(Campaign{"e", b, std::string(config.limits.value_bytes_max + 1, 'v')}).status == Status::too_large);
}

// ---- elections ----
TEST_CASE("elections: campaign, proclaim, resign, observe including no leader", "[lockservice][election]") {
  Harness h;
  const SessionId a = h.session(5'000), b = h.session(60'000);
  const Revision start = h.machine.revision();
  const Result led = h.apply(Campaign{"master", a, "node-a"});
  REQUIRE(led.status == Status::ok);
  const Result queued = h.apply(Campaign{"master", b, "node-b"});
  CHECK(queued.status == Status::queued);
  auto view = h.machine.election("master");
  CHECK(view->leader == a);
  CHECK(view->value == "node-a");
  CHECK(view->candidates.size() == 1);
  CHECK(h.apply(Campaign{"master", a, "other"}).token == led.token);  // already leading

  CHECK(h.apply(Proclaim{"master", led.token, "node-a:v2"}).status == Status::ok);
  CHECK(h.apply(Proclaim{"master", led.token + 1, "evil"}).status == Status::stale_token);
  view = h.machine.election("master");
  CHECK(view->value == "node-a:v2");
  CHECK(view->changed == h.machine.revision() - 1 * kBatchCommandsMax);

  CHECK(h.apply(Resign{"master", a}).status == Status::ok);
  view = h.machine.election("master");
  CHECK(view->leader == b);
  CHECK(view->value == "node-b");
  CHECK(h.apply(Proclaim{"master", led.token, "late"}).status == Status::stale_token);

  h.apply(DeleteSession{b});
  CHECK_FALSE(h.machine.election("master"));  // nobody leads or campaigns
  CHECK(h.apply(Proclaim{"master", 1, "x"}).status == Status::not_found);

  std::vector<std::pair<EventType, std::string>> seen;
  for (const Event& e : h.machine.events(start, EventFilter{Space::election, "master"}, 100).events)
    if (e.type == EventType::leader || e.type == EventType::proclaimed || e.type == EventType::no_leader)
      seen.emplace_back(e.type, e.value);
  const std::vector<std::pair<EventType, std::string>> expected{{EventType::leader, "node-a"},
                                                                {EventType::proclaimed, "node-a:v2"},
                                                                {EventType::leader, "node-b"},
                                                                {EventType::no_leader, ""}};
  CHECK(seen == expected);
}

TEST_CASE("a leader whose session expires hands over after its lock-delay", "[lockservice][election]") {
  Harness h;
  const SessionId a = h.session(5'000, 1'000), b = h.session(60'000);
  h.apply(Campaign{"m", a, "a"});
  h.apply(Campaign{"m", b, "b"});
  h.now_ms += 5'000;
  const Revision before = h.machine.revision();
  h.expire(a);
  auto view = h.machine.election("m");
  CHECK(view->leader == kNoSession);  // observers are told: no leader
  CHECK(view->changed > before);
  h.advance(1'000);
  CHECK(h.machine.election("m")->leader == b);
}

}  // namespace
}  // namespace synod::lockservice::test

namespace synod::lockservice::test {
namespace {

TEST_CASE("the remaining limits: checkpoint size, pages, readers, configuration", "[lockservice][limits]") {
  Config config;
  config.limits.renewals_per_checkpoint_max = 2;
  config.limits.list_results_max = 2;
  config.limits.holders_per_lock_max = 2;
  Harness h(config);
  const SessionId a = h.session(), b = h.session(), c = h.session();
  CHECK(h.renew({a, b, c}).status == Status::too_large);
  CHECK(h.renew({a, b}).count == 2);
  CHECK(h.machine.sessions(kNoSession, 100).size() == 2);
  for (const char* key : {"/1", "/2", "/3"}) h.put(key, "");
  const KeyList page = h.machine.list("/", "", 100);
  CHECK(page.keys.size() == 2);
  CHECK(page.more);
  CHECK(h.acquire_kind("r", a, LockKind::shared, Access::read, 1).status == Status::ok);
  CHECK(h.acquire_kind("r", b, LockKind::shared, Access::read, 1).status == Status::ok);
  CHECK(h.acquire_kind("r", c, LockKind::shared, Access::read, 1).status == Status::conflict);  // readers are bounded

  Config bad;
  CHECK(validate(bad).empty());
  bad.limits.events_bytes_max = 10;
  CHECK_FALSE(validate(bad).empty());
  bad = Config{};
  bad.grant_validity_ms_min = kTtlMsMin;
  CHECK_FALSE(validate(bad).empty());
  bad = Config{};
  bad.limits.dedup_entries_max = 0;
  CHECK_FALSE(validate(bad).empty());
  KeeperConfig keeper;
  CHECK(validate(keeper).empty());
  keeper.checkpoint_interval_ms = kTtlMsMin / 3 + 1;  // fewer than three checkpoints per minimum TTL
  CHECK_FALSE(validate(keeper).empty());
  CHECK(std::string(status_name(Status::stale_token)) == "stale_token");
  CHECK(retryable(Status::lock_delay));
  CHECK_FALSE(retryable(Status::invalid_argument));
}

}  // namespace
}  // namespace synod::lockservice::test
