// CreateSessionAnd: one log entry that opens a session and acquires a lock
// (or campaigns) in it, all or nothing. It is what lets one HTTP request
// take a fenced lock (DESIGN §5, POST /v1/locks/{name}?ttl=15s).
#include "harness.h"

namespace synod::lockservice::test {
namespace {

CreateSessionAnd lock_in_new_session(const std::string& lock, WaitMode wait = WaitMode::try_once, int64_t wait_ms = 0) {
  Acquire acquire;
  acquire.lock = lock;
  acquire.session = 12345;  // ignored: the new session is used
  acquire.wait = wait;
  acquire.wait_ms = wait_ms;
  return CreateSessionAnd{CreateSession{10'000, 0, Behavior::release}, acquire};
}

TEST_CASE("a free lock is granted in a new session, with a token and the validity", "[lockservice][session-and]") {
  Harness h;
  const Result r = h.apply(lock_in_new_session("db"));
  REQUIRE(r.status == Status::ok);
  CHECK(r.session == r.revision);  // the session is the command's revision ...
  CHECK(r.token == r.revision);    // ... and so is the grant
  CHECK(r.valid_for_ms == conservative_ms(10'000, 10));
  CHECK(h.holders("db") == std::vector<SessionId>{r.session});
  const auto session = h.machine.session(r.session);
  REQUIRE(session);
  CHECK(session->locks == std::vector<std::string>{"db"});
  CHECK(h.machine.validate_token("db", r.token));
  // The session works like any other: releasing the lock keeps it.
  CHECK(h.release("db", r.session).status == Status::ok);
  CHECK(h.machine.session(r.session));
}

TEST_CASE("a refused try leaves no session behind", "[lockservice][session-and]") {
  Harness h;
  const SessionId holder = h.session();
  const Result granted = h.acquire("db", holder);
  REQUIRE(granted.status == Status::ok);
  const size_t sessions_before = h.machine.counts().sessions;
  const Revision before = h.machine.revision();

  const Result r = h.apply(lock_in_new_session("db"));
  CHECK(r.status == Status::conflict);
  CHECK(r.session == holder);  // the conflict names the holder
  CHECK(r.token == granted.token);
  CHECK(h.machine.counts().sessions == sessions_before);
  // Observers saw the session come and go within the one revision.
  const auto events = h.events_after(before);
  REQUIRE(events.size() == 2);
  CHECK(events[0].type == EventType::created);
  CHECK(events[1].type == EventType::deleted);
  CHECK(events[0].revision == events[1].revision);

  // Bad arguments are refused the same way.
  CreateSessionAnd bad = lock_in_new_session("db2");
  std::get<Acquire>(bad.then).kind = LockKind::exclusive;
  std::get<Acquire>(bad.then).access = Access::read;
  CHECK(h.apply(bad).status == Status::invalid_argument);
  CHECK(h.machine.counts().sessions == sessions_before);
  // A bad TTL is refused before any session exists.
  CreateSessionAnd short_ttl = lock_in_new_session("db3");
  short_ttl.create.ttl_ms = kTtlMsMin - 1;
  CHECK(h.apply(short_ttl).status == Status::invalid_argument);
  CHECK(h.machine.counts().sessions == sessions_before);
}

TEST_CASE("a waiting acquire queues the new session; its record resolves to the grant", "[lockservice][session-and]") {
  Harness h;
  const SessionId holder = h.session();
  REQUIRE(h.acquire("db", holder).status == Status::ok);
  const Result queued = h.apply(lock_in_new_session("db", WaitMode::timeout, 5'000), 77, 1);
  REQUIRE(queued.status == Status::queued);
  CHECK(queued.position == 1);
  CHECK(h.waiters("db") == std::vector<SessionId>{queued.session});
  // A retry of the same request is answered from the record and queues nothing.
  CHECK(h.apply(lock_in_new_session("db", WaitMode::timeout, 5'000), 77, 1).session == queued.session);
  CHECK(h.machine.counts().sessions == 2);

  const Result released = h.release("db", holder);
  REQUIRE(released.status == Status::ok);
  h.advance(1);  // the next grant needs a higher token: it comes with the next command
  const Result* record = h.machine.recorded(77, 1);
  REQUIRE(record);
  CHECK(record->status == Status::ok);
  CHECK(record->session == queued.session);
  CHECK(h.machine.validate_token("db", record->token));
}

TEST_CASE("a campaign in a new session leads or queues", "[lockservice][session-and][election]") {
  Harness h;
  const Result first = h.apply(CreateSessionAnd{CreateSession{10'000, 0, Behavior::release}, Campaign{"e", 0, "one"}});
  REQUIRE(first.status == Status::ok);
  const auto election = h.machine.election("e");
  REQUIRE(election);
  CHECK(election->leader == first.session);
  CHECK(election->value == "one");
  const Result second = h.apply(CreateSessionAnd{CreateSession{10'000, 0, Behavior::release}, Campaign{"e", 0, "two"}});
  CHECK(second.status == Status::queued);
  CHECK(second.position == 1);
  CHECK(h.machine.counts().sessions == 2);
}

}  // namespace
}  // namespace synod::lockservice::test
