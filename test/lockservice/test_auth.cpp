// Auth in the state machine (lockservice/auth.h): rules, prefixes, roles,
// root, session ownership, revocation ordered in the log, and the snapshot
// section.
#include <catch2/catch.hpp>

#include "harness.h"

namespace synod::lockservice::test {
namespace {

std::string hash_of(char c) { return std::string(kTokenHashBytes, c); }

Credential token(char c) { return Credential{Credential::Kind::token, hash_of(c)}; }

// A harness whose commands carry a credential and a client id (so the
// machine judges them; client id 0 is the node's own).
struct AuthHarness : Harness {
  uint64_t next_seq = 1;
  Result as(const Credential& credential, const Command& command) {
    ++slot;
    log.push_back(encode(command, now_ms, credential));
    const uint64_t seq = next_seq++;
    return machine.apply(LogEntry{slot, 0, 77, seq, log.back()});
  }
  // Root (node-made), alice (no roles) and bob (role ops); rules; auth on.
  void setup() {
    REQUIRE(apply(CreateToken{hash_of('r'), "root", {}, true}).status == Status::ok);
    REQUIRE(as(token('r'), CreateToken{hash_of('a'), "alice", {}, false}).status == Status::ok);
    REQUIRE(as(token('r'), CreateToken{hash_of('b'), "bob", {"ops"}, false}).status == Status::ok);
    for (const PutRule& rule : {PutRule{"user:alice", AclSpace::keys, "/app", Permission::write},
                                PutRule{"user:alice", AclSpace::locks, "app", Permission::write},
                                PutRule{"user:alice", AclSpace::sessions, "", Permission::write},
                                PutRule{"role:ops", AclSpace::keys, "/app", Permission::read},
                                PutRule{"role:ops", AclSpace::locks, "app", Permission::write},
                                PutRule{"role:ops", AclSpace::sessions, "", Permission::write}}) {
      REQUIRE(as(token('r'), rule).status == Status::ok);
    }
    REQUIRE(as(token('r'), SetAuth{true}).status == Status::ok);
  }
};

Put put_of(const std::string& key) { return Put{key, "v", kNoSession, false, std::nullopt, Fence{}}; }

}  // namespace

TEST_CASE("a rule's prefix covers whole path segments", "[lockservice][auth]") {
  CHECK(prefix_covers("", "/anything"));
  CHECK(prefix_covers("/app", "/app"));
  CHECK(prefix_covers("/app", "/app/x"));
  CHECK_FALSE(prefix_covers("/app", "/apple"));
  CHECK(prefix_covers("/app/", "/app/x"));
  CHECK_FALSE(prefix_covers("/app/", "/app"));
  CHECK(prefix_covers("app", "app/db"));
  CHECK_FALSE(prefix_covers("app", "apps"));
}

TEST_CASE("auth off: everything is allowed; on: denied unless a rule allows it", "[lockservice][auth]") {
  AuthHarness h;
  CHECK(h.as(Credential{}, put_of("/x")).status == Status::ok);  // off, anonymous
  h.setup();
  CHECK(h.as(Credential{}, put_of("/app/x")).status == Status::unauthenticated);
  CHECK(h.as(token('z'), put_of("/app/x")).status == Status::unauthenticated);  // unknown token
  CHECK(h.as(token('a'), put_of("/app/x")).status == Status::ok);
  CHECK(h.as(token('a'), put_of("/apple")).status == Status::permission_denied);
  CHECK(h.as(token('b'), put_of("/app/x")).status == Status::permission_denied);  // read only
  CHECK(h.as(token('r'), put_of("/anything")).status == Status::ok);              // root
  CHECK(h.as(token('a'), SetAuth{false}).status == Status::permission_denied);    // needs cluster admin
  // The node's own commands (client id 0) are not judged.
  CHECK(h.apply(RenewSessions{}).status == Status::ok);
  // A client may not send them.
  CHECK(h.as(token('a'), RenewSessions{}).status == Status::permission_denied);
  // Reads are judged by the node serving them, against the same state.
  std::string why;
  CHECK(h.machine.authorize(token('b'), AclSpace::keys, "/app/x", Permission::read, why) == Status::ok);
  CHECK(h.machine.authorize(token('b'), AclSpace::keys, "/other", Permission::read, why) == Status::permission_denied);
  CHECK(why == "principal 'bob' may not read keys '/other'");
}

TEST_CASE("a session belongs to the principal that created it", "[lockservice][auth]") {
  AuthHarness h;
  h.setup();
  const Result created = h.as(token('a'), CreateSessionAnd{CreateSession{10'000, 0, Behavior::release},
                                                           Acquire{"app/db", kNoSession}});
  REQUIRE(created.status == Status::ok);
  const SessionId alice = created.session;
  CHECK(h.machine.session_owner(alice) == "alice");
  // Bob may write locks under app, but not act for alice's session.
  CHECK(h.as(token('b'), Release{"app/db", alice}).status == Status::permission_denied);
  CHECK(h.as(token('b'), DeleteSession{alice}).status == Status::permission_denied);
  std::string why;
  CHECK(h.machine.authorize_session(token('b'), alice, why) == Status::permission_denied);
  CHECK(h.machine.authorize_session(token('a'), alice, why) == Status::ok);
  CHECK(h.machine.authorize_session(token('r'), alice, why) == Status::ok);  // root
  // An administrator's forced release needs admin on the lock.
  CHECK(h.as(token('a'), ForceRelease{Space::lock, "app/db", kNoSession, "no", false}).status ==
        Status::permission_denied);
  CHECK(h.as(token('r'), ForceRelease{Space::lock, "app/db", kNoSession, "incident", false}).status == Status::ok);
  CHECK(h.as(token('a'), DeleteSession{alice}).status == Status::ok);
  CHECK(h.machine.session_owner(alice).empty());  // forgotten with the session
}

TEST_CASE("a revocation holds for every command applied after it", "[lockservice][auth]") {
  AuthHarness h;
  h.setup();
  CHECK(h.as(token('a'), put_of("/app/1")).status == Status::ok);
  const auto tokens = h.machine.tokens();
  const auto alice = std::find_if(tokens.begin(), tokens.end(),
                                  [](const TokenView& t) { return t.principal == "alice"; });
  REQUIRE(alice != tokens.end());
  CHECK(h.as(token('r'), RevokeToken{alice->id}).status == Status::ok);
  // A command alice sent before the revocation but ordered after it is refused.
  CHECK(h.as(token('a'), put_of("/app/2")).status == Status::unauthenticated);
  CHECK(h.as(token('r'), RevokeToken{alice->id}).status == Status::not_found);
}

TEST_CASE("a root token is made by the node alone, once", "[lockservice][auth]") {
  AuthHarness h;
  CHECK(h.as(Credential{}, SetAuth{true}).status == Status::invalid_argument);  // no root yet
  // A client (auth off, so it may make tokens) cannot make a root token.
  CHECK(h.as(Credential{}, CreateToken{hash_of('x'), "root", {}, true}).status == Status::permission_denied);
  CHECK(h.apply(CreateToken{hash_of('r'), "root", {}, true}).status == Status::ok);
  CHECK(h.apply(CreateToken{hash_of('s'), "root", {}, true}).status == Status::permission_denied);  // one exists
  CHECK(h.machine.has_root_token());
}

TEST_CASE("the auth state survives a snapshot, byte for byte", "[lockservice][auth][snapshot]") {
  AuthHarness h;
  h.setup();
  const SessionId session = h.as(token('a'), CreateSessionAnd{CreateSession{10'000, 0, Behavior::release},
                                                              Acquire{"app/db", kNoSession}})
                                .session;
  const std::string image = h.machine.snapshot();
  StateMachine restored;
  REQUIRE(restored.restore(image));
  CHECK(restored.snapshot() == image);
  CHECK(restored.auth_enabled());
  CHECK(restored.session_owner(session) == "alice");
  CHECK(restored.rules() == h.machine.rules());
  CHECK(restored.tokens() == h.machine.tokens());
  std::string why;
  CHECK(restored.authorize(token('b'), AclSpace::keys, "/app/x", Permission::read, why) == Status::ok);
}

}  // namespace synod::lockservice::test
