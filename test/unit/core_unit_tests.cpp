// Unit tests of the core's small parts: quorum math, the acceptor's rules,
// the learner's ordering, encoding primitives, checksums and options.
#include <catch2/catch.hpp>

#include "paxos/acceptor.h"
#include "base/codec.h"
#include "base/crc32c.h"
#include "paxos/learner.h"
#include "paxos/lease.h"
#include "paxos/options.h"
#include "paxos/quorum.h"
#include "base/random.h"

using namespace synod;
using namespace synod::paxos;

namespace {

ValuePtr batch(const std::string& payload) { return make_batch({Command{1, 1, payload}}); }

}  // namespace

TEST_CASE("a majority is floor(n/2)+1, and any two majorities intersect") {
  for (size_t n = 1; n <= 7; ++n) {
    std::vector<NodeId> members;
    for (size_t i = 1; i <= n; ++i) members.push_back(static_cast<NodeId>(i));
    Quorum quorum(members);
    CHECK(quorum.threshold() == n / 2 + 1);
    CHECK(2 * quorum.threshold() > n);
  }
  Votes votes;
  CHECK(votes.add(1));
  CHECK_FALSE(votes.add(1));  // a voter counts once, however often it answers
  CHECK(votes.add(2));
  CHECK(votes.reached(Quorum({1, 2, 3})));
  CHECK_FALSE(votes.reached(Quorum({1, 2, 3, 4, 5})));
}

TEST_CASE("the acceptor promises only upward and accepts only at or above its promise") {
  Acceptor acceptor(Ballot{}, {});
  CHECK(acceptor.prepare(Ballot{2, 1}));
  CHECK(acceptor.take_promised_change() == Ballot{2, 1});
  CHECK_FALSE(acceptor.prepare(Ballot{1, 3}));
  CHECK(acceptor.prepare(Ballot{2, 1}));  // the same ballot again is answered again
  CHECK_FALSE(acceptor.take_promised_change().has_value());
  CHECK_FALSE(acceptor.accept(Ballot{1, 9}, 1, batch("old")));
  CHECK(acceptor.accept(Ballot{2, 1}, 1, batch("a")));
  CHECK(acceptor.accept(Ballot{3, 2}, 1, batch("b")));  // a higher ballot also raises the promise
  CHECK(acceptor.promised() == Ballot{3, 2});
  const auto votes = acceptor.take_accepted_changes();
  REQUIRE(votes.size() == 2);
  CHECK(votes[1].ballot == Ballot{3, 2});
  CHECK(acceptor.accepted_from(1, 0).size() == 1);
  CHECK(acceptor.accepted_from(1, 1).empty());  // slot 1 is known chosen: not reported
  acceptor.forget_through(1);
  CHECK(acceptor.accepted_at(1) == nullptr);
}

TEST_CASE("the learner hands out chosen values in slot order, without gaps") {
  Learner learner(0, {}, 100, 1 << 20);
  learner.learn(2, batch("b"));
  CHECK(learner.chosen_through() == 0);
  CHECK(learner.take_newly_chosen().empty());
  learner.learn(1, batch("a"));
  learner.learn(3, batch("c"));
  const auto entries = learner.take_newly_chosen();
  REQUIRE(entries.size() == 3);
  CHECK(entries[0].slot == 1);
  CHECK(entries[2].slot == 3);
  CHECK(learner.entries_from(2, 10, 1 << 20).size() == 2);
  CHECK(learner.entries_from(2, 1, 1 << 20).size() == 1);  // bounded
}

TEST_CASE("the learner keeps only the retention window once values are handed out") {
  Learner learner(0, {}, 2, 1 << 20);
  for (Slot slot = 1; slot <= 5; ++slot) learner.learn(slot, batch("x"));
  CHECK(learner.first_retained() == 1);  // nothing handed out yet: nothing may go
  CHECK(learner.take_newly_chosen().size() == 5);
  CHECK(learner.first_retained() == 4);
  CHECK(learner.entries_from(1, 10, 1 << 20).empty());  // below the window: a snapshot is needed
}

TEST_CASE("the learner's retention is bounded in heap bytes too, whatever the slot bound (issue 23)") {
  const std::string payload(1000, 'p');
  const size_t per_value = Learner::retained_bytes_of(*batch(payload));
  CHECK(per_value > payload.size());  // the payload is not all a value holds
  Learner learner(0, {}, 1 << 20, 10 * per_value);
  for (Slot slot = 1; slot <= 100; ++slot) learner.learn(slot, batch(payload));
  CHECK(learner.retained_slots() == 100);  // nothing handed out yet: nothing may go
  CHECK(learner.take_newly_chosen().size() == 100);
  CHECK(learner.retained_slots() == 10);
  CHECK(learner.retained_bytes() == 10 * per_value);
  CHECK(learner.first_retained() == 91);
  learner.jump_to(200);  // a snapshot install empties the log and its count
  CHECK(learner.retained_bytes() == 0);
}

TEST_CASE("a recovered learner replays its durable chosen log") {
  Learner learner(10, {ChosenEntry{11, batch("a")}, ChosenEntry{12, batch("b")}}, 100, 1 << 20);
  CHECK(learner.chosen_through() == 12);
  const auto replay = learner.take_newly_chosen();
  REQUIRE(replay.size() == 2);
  CHECK(replay[0].slot == 11);
}

TEST_CASE("leases: the leader's runs from the send time, the acceptor's from receipt plus drift") {
  LeaderLease lease;
  CHECK_FALSE(lease.valid(0));
  lease.extend(1000, 300'000);
  CHECK(lease.valid(300'999));
  CHECK_FALSE(lease.valid(301'000));
  lease.extend(500, 300'000);  // an older round never shortens it
  CHECK(lease.valid(300'999));

  LeasePromise promise;
  promise.grant(Ballot{1, 1}, 2000, 330'000);
  CHECK(promise.blocks(Ballot{2, 2}, 331'999));
  CHECK_FALSE(promise.blocks(Ballot{2, 1}, 100'000));  // the holder may prepare again
  CHECK_FALSE(promise.blocks(Ballot{2, 2}, 332'000));
  promise.guard_restart(0, 330'000);
  CHECK(promise.restart_guard(1));
  CHECK(promise.blocks(Ballot{9, 1}, 1));  // nobody, not even the last holder
}

TEST_CASE("codec: integers and bytes round trip, and malformed input fails instead of crashing") {
  std::string buffer;
  Writer writer(buffer);
  writer.u8(7);
  writer.fixed32(0xdeadbeef);
  writer.fixed64(0x0123456789abcdefULL);
  writer.varint(0);
  writer.varint(300);
  writer.varint(UINT64_MAX);
  writer.svarint(-5);
  writer.svarint(INT64_MIN);
  writer.bytes("hello");
  writer.boolean(true);
  Reader reader(buffer);
  CHECK(reader.u8() == 7);
  CHECK(reader.fixed32() == 0xdeadbeef);
  CHECK(reader.fixed64() == 0x0123456789abcdefULL);
  CHECK(reader.varint() == 0);
  CHECK(reader.varint() == 300);
  CHECK(reader.varint() == UINT64_MAX);
  CHECK(reader.svarint() == -5);
  CHECK(reader.svarint() == INT64_MIN);
  CHECK(reader.bytes() == "hello");
  CHECK(reader.boolean());
  CHECK(reader.done());

  // Every truncation fails cleanly.
  for (size_t cut = 0; cut < buffer.size(); ++cut) {
    Reader truncated(std::string_view(buffer).substr(0, cut));
    truncated.u8();
    truncated.fixed32();
    truncated.fixed64();
    for (int i = 0; i < 3; ++i) truncated.varint();
    truncated.svarint();
    truncated.svarint();
    truncated.bytes();
    truncated.boolean();
    CHECK_FALSE(truncated.ok());
  }
  // A length past the end, an 11-byte varint, a boolean that is neither 0 nor 1.
  std::string bad_length;
  Writer(bad_length).varint(1000);
  Reader r1(bad_length);
  CHECK(r1.bytes().empty());
  CHECK_FALSE(r1.ok());
  const std::string long_varint(11, '\xff');
  Reader r2(long_varint);
  r2.varint();
  CHECK_FALSE(r2.ok());
  const std::string two = "\x02";
  Reader r3(two);
  r3.boolean();
  CHECK_FALSE(r3.ok());
}

TEST_CASE("crc32c matches the Castagnoli check value and extends over pieces") {
  CHECK(crc32c("123456789") == 0xE3069283u);
  CHECK(crc32c("") == 0u);
  const std::string text = "the quick brown fox jumps over the lazy dog, twice over for length";
  CHECK(crc32c(text.substr(13), crc32c(text.substr(0, 13))) == crc32c(text));
}

TEST_CASE("options: defaults are valid, and each bad setting is named") {
  Options options;
  options.self = 1;
  options.members = {1, 2, 3};
  CHECK(validate(options).empty());
  auto bad = options;
  bad.self = 4;
  CHECK(validate(bad) == "this node's id is not in the member list");
  bad = options;
  bad.members = {1, 2, 2};
  CHECK(validate(bad) == "a member id appears twice");
  bad = options;
  bad.timing.election_timeout_min_ms = 100;
  CHECK(validate(bad).find("election timeout") != std::string::npos);
  bad = options;
  bad.timing.lease_ms = 40;
  CHECK(validate(bad).find("lease") != std::string::npos);
}

TEST_CASE("options: at most 7 voting members (quorum.h)") {
  Options options;
  options.self = 1;
  options.members = {1, 2, 3, 4, 5, 6, 7};
  CHECK(options.members.size() == kVotersMax);
  CHECK(validate(options).empty());
  options.members.push_back(8);
  CHECK(validate(options) == "the member list names 8 voting members; at most 7 may vote");
}

TEST_CASE("the seeded generator replays exactly and stays in range") {
  Random a(42), b(42), c(43);
  bool differs = false;
  for (int i = 0; i < 1000; ++i) {
    const auto x = a.uniform(300, 450);
    CHECK(x == b.uniform(300, 450));
    CHECK(x >= 300);
    CHECK(x <= 450);
    differs = differs || x != c.uniform(300, 450);
  }
  CHECK(differs);
}
