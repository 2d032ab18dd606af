// Command encoding: round trips, time stamping, and malformed payloads.
#include "harness.h"
#include "base/random.h"

namespace synod::lockservice::test {
namespace {

std::vector<Command> one_of_each() {
  Acquire acquire{"locks/db", 7, LockKind::semaphore, Access::write, 3, WaitMode::timeout, 1500};
  Put put{"/app/config", std::string("v\0x", 3), 9, true, std::nullopt, Fence{"locks/db", 4711}};
  DeleteKey erase{"/app", true, Revision{42}, Fence{}};
  Txn txn;
  txn.guards = {Guard{GuardKind::version_equals, "/a", 3, 0}, Guard{GuardKind::holder, "l", 0, 12},
                Guard{GuardKind::token_current, "l", 99, 0}};
  txn.ops = {put, erase};
  std::vector<Command> commands = {CreateSession{15'000, 5'000, Behavior::delete_keys},
                                   DeleteSession{123},
                                   RenewSessions{{1, 2, 1'000'000'000'000ULL}},
                                   ExpireSession{UINT64_MAX},
                                   acquire,
                                   Release{"locks/db", 7},
                                   ForceRelease{Space::election, "leader", 0, "operator said so", true},
                                   Campaign{"leader", 8, "node-1:7001"},
                                   Proclaim{"leader", 77, "node-2"},
                                   Resign{"leader", 8},
                                   put,
                                   erase,
                                   txn,
                                   CreateSessionAnd{CreateSession{15'000, 0, Behavior::release}, acquire},
                                   SetAuth{true},
                                   CreateToken{std::string(kTokenHashBytes, '\x5a'), "alice", {"ops", "dev"}, false},
                                   RevokeToken{1'048'576},
                                   PutRule{"role:ops", AclSpace::keys, "/app", Permission::write},
                                   DeleteRule{2'097'152},
                                   ZnodeCreate{"/app/lock-",
                                               std::string("d\0", 2),
                                               {ZnodeAcl{31, "world", "anyone"}, ZnodeAcl{1, "digest", "bob:x"}},
                                               ZnodeMode::ephemeral_sequential,
                                               77,
                                               {ZnodeId{"ip", "127.0.0.1"}, ZnodeId{"digest", "bob:x"}}},
                                   ZnodeDelete{"/app", -1, 0, {}},
                                   ZnodeSetData{"/app", "v2", INT32_MAX, 78, {ZnodeId{"ip", "::1"}}},
                                   ZnodeCheck{"/app", INT32_MIN, 0, {}},
                                   ZnodeMulti{{ZnodeCreate{"/m", "", {}, ZnodeMode::container, 0, {}},
                                               ZnodeSetData{"/m", "x", 0, 0, {}}, ZnodeCheck{"/m", 1, 0, {}},
                                               ZnodeDelete{"/m", 1, 0, {}}},
                                              79,
                                              {ZnodeId{"digest", "carol:y"}}},
                                   ZnodeSetAcl{"/app", {ZnodeAcl{31, "auth", ""}}, 3, 80, {ZnodeId{"digest", "bob:x"}}},
                                   ZnodeReapContainer{"/app/locks"}};
  // The other inner command of CreateSessionAnd round-trips too (checked in
  // its own test below), so one_of_each stays one per alternative.
  return commands;
}

TEST_CASE("a command carries its request's credential; version 1 payloads decode with none", "[lockservice][command]") {
  const Credential token{Credential::Kind::token, std::string(kTokenHashBytes, '\x01')};
  const Credential certificate{Credential::Kind::certificate, "alice"};
  for (const Credential& credential : {Credential{}, token, certificate}) {
    const std::string payload = encode(Put{"/k", "v", 0, false, std::nullopt, Fence{}}, 5, credential);
    const Decoded decoded = decode(payload);
    REQUIRE(decoded.ok);
    CHECK(decoded.credential == credential);
    CHECK(command_tag(payload) == 10);  // Put's tag, past the credential
  }
  // Version 1: no credential byte.
  std::string v1 = encode(Put{"/k", "v", 0, false, std::nullopt, Fence{}}, 5);
  v1[0] = 1;
  v1.erase(kCommandHeaderBytes, 1);
  const Decoded old = decode(v1);
  REQUIRE(old.ok);
  CHECK(old.credential == Credential{});
  CHECK(std::get<Put>(old.command) == Put{"/k", "v", 0, false, std::nullopt, Fence{}});
  CHECK(command_tag(v1) == 10);
  // A credential kind past the last is refused.
  std::string bad = encode(Put{"/k", "v", 0, false, std::nullopt, Fence{}}, 5);
  bad[kCommandHeaderBytes] = 3;
  CHECK(std::string(decode(bad).error) == "bad command credential");
}

TEST_CASE("every command round-trips through its encoding", "[lockservice][command]") {
  const auto commands = one_of_each();
  REQUIRE(commands.size() == std::variant_size_v<Command>);
  for (const Command& command : commands) {
    INFO(command_name(command));
    const std::string payload = encode(command, 123'456);
    const Decoded decoded = decode(payload);
    REQUIRE(decoded.ok);
    CHECK(decoded.time_ms == 123'456);
    CHECK(decoded.command == command);
  }
}

TEST_CASE("both inner commands of CreateSessionAnd round-trip; an unknown inner tag is refused", "[lockservice][command]") {
  const CreateSessionAnd campaign{CreateSession{2'000, 60'000, Behavior::delete_keys}, Campaign{"leader", 0, "me"}};
  const Decoded decoded = decode(encode(campaign, 7));
  REQUIRE(decoded.ok);
  CHECK(std::get<CreateSessionAnd>(decoded.command) == campaign);
  std::string bad = encode(CreateSessionAnd{CreateSession{2'000, 0, Behavior::release}, Acquire{"l"}}, 7);
  // The inner tag follows the header, the outer tag and CreateSession's
  // three one-byte-or-more fields (2000 is a two-byte svarint).
  const size_t inner_tag = kCommandHeaderBytes + 1 + 1 + 2 + 1 + 1;  // + the credential kind (none)
  REQUIRE(bad[inner_tag] == 0);
  bad[inner_tag] = 2;
  CHECK_FALSE(decode(bad).ok);
}

TEST_CASE("the leader stamps time into an encoded command without decoding it", "[lockservice][command]") {
  std::string payload = encode(Release{"x", 1}, 5);
  stamp_time(payload, 9'876'543'210);
  const Decoded decoded = decode(payload);
  REQUIRE(decoded.ok);
  CHECK(decoded.time_ms == 9'876'543'210);
  CHECK(std::get<Release>(decoded.command) == Release{"x", 1});
}

TEST_CASE("malformed payloads are refused with a reason", "[lockservice][command]") {
  const std::string good = encode(Acquire{"l", 1, LockKind::shared, Access::read, 1, WaitMode::queue, 0}, 10);
  SECTION("empty") { CHECK_FALSE(decode("").ok); }
  SECTION("unknown format version") {
    std::string bad = good;
    bad[0] = 3;
    const Decoded d = decode(bad);
    CHECK_FALSE(d.ok);
    CHECK(std::string(d.error) == "unknown command format version");
  }
  SECTION("every truncation") {
    for (size_t length = 0; length < good.size(); ++length) CHECK_FALSE(decode(good.substr(0, length)).ok);
  }
  SECTION("trailing bytes") {
    const Decoded d = decode(good + "x");
    CHECK_FALSE(d.ok);
    CHECK(std::string(d.error) == "trailing bytes after the command");
  }
  SECTION("unknown tag") {
    std::string bad = good;
    bad[kCommandHeaderBytes + 1] = static_cast<char>(std::variant_size_v<Command>);
    CHECK(std::string(decode(bad).error) == "unknown command");
  }
  SECTION("time beyond kLogTimeMsMax") {
    std::string bad = good;
    bad[8] = static_cast<char>(0x40);  // the top byte of time_ms: 2^62 + 10
    CHECK(std::string(decode(bad).error) == "bad command time");
  }
  SECTION("an enum out of range") {
    std::string bad = encode(CreateSession{5000, 0, Behavior::release}, 1);
    bad.back() = 2;  // behavior
    CHECK_FALSE(decode(bad).ok);
  }
  SECTION("a count larger than the payload") {
    std::string bad = encode(RenewSessions{}, 1);
    bad.pop_back();
    bad += "\xff\xff\xff\xff\x0f";  // 4 billion sessions
    CHECK_FALSE(decode(bad).ok);
  }
  SECTION("a checkpoint listing a session twice") {
    std::string bad = encode(RenewSessions{{5}}, 1);
    bad[kCommandHeaderBytes + 2] = 2;   // count 2
    bad += '\0';                        // delta 0: the same session again
    CHECK_FALSE(decode(bad).ok);
  }
}

TEST_CASE("garbage bytes never crash decode or apply", "[lockservice][command][fuzz]") {
  Random random(20240601);
  const auto commands = one_of_each();
  StateMachine machine;
  uint64_t slot = 0;
  size_t decoded_ok = 0;
  for (int i = 0; i < 20'000; ++i) {
    std::string payload;
    if (random.chance(1, 2)) {
      // Pure noise, sometimes behind a valid header.
      const auto length = static_cast<size_t>(random.uniform(0, 64));
      for (size_t j = 0; j < length; ++j) payload.push_back(static_cast<char>(random.uniform(0, 255)));
      if (random.chance(1, 2) && payload.size() > kCommandHeaderBytes) payload[0] = 1;
    } else {
      // A valid command with a few bytes flipped, cut or appended.
      const auto& command = commands[static_cast<size_t>(random.uniform(0, static_cast<int64_t>(commands.size()) - 1))];
      payload = encode(command, random.uniform(0, 1'000'000));
      const int flips = static_cast<int>(random.uniform(1, 4));
      for (int f = 0; f < flips; ++f)
        payload[static_cast<size_t>(random.uniform(0, static_cast<int64_t>(payload.size()) - 1))] =
            static_cast<char>(random.uniform(0, 255));
      if (random.chance(1, 4)) payload.resize(static_cast<size_t>(random.uniform(0, static_cast<int64_t>(payload.size()))));
    }
    const Decoded d = decode(payload);
    if (d.ok) {
      ++decoded_ok;
      // What decodes re-encodes to something that decodes to the same.
      const Decoded again = decode(encode(d.command, d.time_ms));
      REQUIRE(again.ok);
      REQUIRE(again.command == d.command);
    } else {
      REQUIRE(std::string(d.error).size() > 0);
    }
    machine.apply(LogEntry{++slot, 0, 0, 0, payload});
  }
  CHECK(decoded_ok > 100);  // the mutations reach the field decoders, not just the header
  CHECK(machine.revision() == make_revision(slot, 0));
}

TEST_CASE("revisions pack the slot and the batch index", "[lockservice][command]") {
  const Revision r = make_revision(12345, kBatchCommandsMax - 1);
  CHECK(revision_slot(r) == 12345);
  CHECK(revision_index(r) == kBatchCommandsMax - 1);
  CHECK(make_revision(12346, 0) > r);
}

}  // namespace
}  // namespace synod::lockservice::test
