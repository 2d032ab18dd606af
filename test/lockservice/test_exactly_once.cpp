// The exactly-once table's three classes (lockservice/exactly_once.h): what
// each keeps, for how long, what a session's end does, and that snapshots
// (version 2, and version 1's single list) carry all of it.
#include <catch2/catch.hpp>

#include "base/codec.h"
#include "harness.h"
#include "lockservice/snapshot_io.h"

using namespace synod;
using namespace synod::lockservice;
using synod::lockservice::test::Harness;

namespace {

constexpr ClientId kKeyed = kKeyedClientBit | 77;

Put put_of(const std::string& key) {
  Put p;
  p.key = key;
  p.value = "v";
  return p;
}

}  // namespace

TEST_CASE("anonymous results are bounded and the oldest go first", "[lockservice][dedup]") {
  Config config;
  config.limits.dedup_entries_max = 3;
  Harness h(config);
  for (uint64_t seq = 1; seq <= 4; ++seq) h.apply(put_of("/k"), 1, seq);
  CHECK(h.machine.counts().dedup_entries == 3);
  CHECK_FALSE(h.machine.recorded(1, 1));
  CHECK(h.machine.recorded(1, 4));
  // An evicted request is applied again: the key's version moves on.
  const uint64_t version = h.machine.get("/k")->stat.version;
  h.apply(put_of("/k"), 1, 1);
  CHECK(h.machine.get("/k")->stat.version == version + 1);
}

TEST_CASE("a live session's results outlast the anonymous bound, and move to it when the session ends",
          "[lockservice][dedup][sessions]") {
  Config config;
  config.limits.dedup_entries_max = 2;
  Harness h(config);
  const Result created = h.apply(CreateSession{5'000, 0, Behavior::release}, 9, 1);
  REQUIRE(created.status == Status::ok);
  const Result acquired = h.acquire("db", created.session, WaitMode::try_once, 0, 9, 2);
  REQUIRE(acquired.status == Status::ok);
  for (uint64_t seq = 1; seq <= 10; ++seq) h.apply(put_of("/other"), 1, seq);  // fills the anonymous class
  // A late retry of the creation and of the acquire answers the first result
  // and creates no second session.
  const size_t sessions = h.machine.counts().sessions;
  CHECK(h.apply(CreateSession{5'000, 0, Behavior::release}, 9, 1) == created);
  CHECK(h.acquire("db", created.session, WaitMode::try_once, 0, 9, 2) == acquired);
  CHECK(h.machine.counts().sessions == sessions);
  // Once the session ends its records join the anonymous class, newest
  // last, so the next two anonymous results push them out.
  h.advance(6'000);
  REQUIRE(h.expire(created.session).status == Status::ok);
  CHECK(h.machine.recorded(9, 1));
  CHECK(h.machine.recorded(9, 2));
  h.apply(put_of("/other"), 1, 11);
  CHECK_FALSE(h.machine.recorded(9, 1));
  CHECK(h.machine.recorded(9, 2));
  h.apply(put_of("/other"), 1, 12);
  CHECK_FALSE(h.machine.recorded(9, 2));
}

TEST_CASE("a session keeps at most records_per_session_max results", "[lockservice][dedup][sessions]") {
  Config config;
  config.limits.records_per_session_max = 2;
  config.limits.dedup_entries_max = 1;
  Harness h(config);
  const SessionId session = h.session();
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    REQUIRE(h.acquire("l" + std::to_string(seq), session, WaitMode::try_once, 0, 5, seq).status == Status::ok);
  }
  // The first moved to the anonymous class (of one), then stays there until
  // the next anonymous result.
  CHECK(h.machine.recorded(5, 1));
  CHECK(h.machine.recorded(5, 2));
  CHECK(h.machine.recorded(5, 3));
  h.apply(put_of("/k"), 1, 1);
  CHECK_FALSE(h.machine.recorded(5, 1));
  CHECK(h.machine.recorded(5, 3));
}

TEST_CASE("keyed results last idempotency_retention_ms of log time, whatever else is applied",
          "[lockservice][dedup][idempotency]") {
  Config config;
  config.limits.dedup_entries_max = 4;
  config.limits.idempotency_retention_ms = 60'000;
  Harness h(config);
  const Result first = h.apply(put_of("/once"), kKeyed, 1);
  REQUIRE(first.status == Status::ok);
  for (uint64_t seq = 1; seq <= 100; ++seq) h.apply(put_of("/other"), 1, seq);
  h.advance(59'000);
  CHECK(h.apply(put_of("/once"), kKeyed, 1) == first);
  CHECK(h.machine.get("/once")->stat.version == 1);
  h.advance(1'000);
  CHECK_FALSE(h.machine.recorded(kKeyed, 1));
  h.apply(put_of("/once"), kKeyed, 1);
  CHECK(h.machine.get("/once")->stat.version == 2);
}

TEST_CASE("keyed results are bounded by idempotency_entries_max", "[lockservice][dedup][idempotency]") {
  Config config;
  config.limits.idempotency_entries_max = 2;
  Harness h(config);
  for (uint64_t seq = 1; seq <= 3; ++seq) h.apply(put_of("/k"), kKeyed, seq);
  CHECK_FALSE(h.machine.recorded(kKeyed, 1));
  CHECK(h.machine.recorded(kKeyed, 2));
  CHECK(h.machine.recorded(kKeyed, 3));
}

TEST_CASE("a snapshot carries every class, with the keyed expiries", "[lockservice][dedup][snapshot]") {
  Config config;
  config.limits.idempotency_retention_ms = 60'000;
  Harness h(config);
  const Result created = h.apply(CreateSession{5'000, 0, Behavior::release}, 9, 1);
  h.apply(put_of("/anonymous"), 1, 1);
  h.apply(put_of("/keyed"), kKeyed, 1);
  h.advance(30'000);
  const std::string image = h.machine.snapshot();
  StateMachine restored(config);
  REQUIRE(restored.restore(image));
  CHECK(restored.snapshot() == image);
  CHECK(*restored.recorded(9, 1) == created);
  CHECK(restored.recorded(1, 1));
  CHECK(restored.recorded(kKeyed, 1));
  CHECK(restored.counts().dedup_entries == 3);
  // The keyed result still expires 60 s after it was recorded.
  Harness later(config);
  later.machine = std::move(restored);
  later.slot = h.slot;
  later.now_ms = h.now_ms;
  later.advance(29'000);
  CHECK(later.machine.recorded(kKeyed, 1));
  later.advance(1'000);
  CHECK_FALSE(later.machine.recorded(kKeyed, 1));
}

// A version 1 image (before issue 18): the same state without section ids
// and lengths, and the table as one list. Written here field by field.
TEST_CASE("a version 1 image restores, its table into the keyed and anonymous classes",
          "[lockservice][dedup][snapshot]") {
  std::string image("SYNODLS\0", 8);
  Writer w(image);
  w.u8(1);
  w.varint(make_revision(7, 0));  // revision
  w.svarint(5'000);               // log time
  w.varint(0);                    // sessions
  w.varint(0);                    // locks
  w.varint(0);                    // elections
  w.varint(1);                    // keys
  w.bytes("/k");
  w.bytes("v");
  detail::put_stat(w, KeyStat{make_revision(3, 0), make_revision(3, 0), 1, 0, kNoSession});
  w.varint(0);  // compacted revision
  w.varint(0);  // events
  w.varint(2);  // the exactly-once table, oldest first
  Result anonymous;
  anonymous.revision = make_revision(3, 0);
  Result keyed;
  keyed.revision = make_revision(5, 0);
  w.varint(4);
  w.varint(1);
  detail::put_result(w, anonymous);
  w.varint(kKeyed);
  w.varint(1);
  detail::put_result(w, keyed);

  StateMachine machine;
  REQUIRE(machine.restore(image));
  CHECK(machine.get("/k")->value == "v");
  CHECK(*machine.recorded(4, 1) == anonymous);
  CHECK(*machine.recorded(kKeyed, 1) == keyed);
  // Rewritten as version 2, it restores the same.
  StateMachine again;
  REQUIRE(again.restore(machine.snapshot()));
  CHECK(*again.recorded(kKeyed, 1) == keyed);
  // Damage: a version 2 image with an unknown section, or one cut short, is refused.
  std::string unknown = machine.snapshot();
  Writer extra(unknown);
  extra.u8(7);
  extra.fixed64(0);
  CHECK_FALSE(StateMachine().restore(unknown));
  const std::string whole = machine.snapshot();
  CHECK_FALSE(StateMachine().restore(whole.substr(0, whole.size() - 1)));
}
