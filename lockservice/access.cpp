// Who may do what, judged as each command is applied (auth.h), and the auth
// commands themselves. Part of the Machine (machine.h).
#include <array>
#include <type_traits>

#include "lockservice/machine.h"

namespace synod::lockservice {
namespace detail {

namespace {

AclSpace acl_space(Space space) {
  switch (space) {
    case Space::key:
      return AclSpace::keys;
    case Space::lock:
      return AclSpace::locks;
    case Space::election:
      return AclSpace::elections;
    case Space::session:
      return AclSpace::sessions;
  }
  return AclSpace::cluster;
}

// A few items in place, more on the heap: a command needs one to three
// names and at most one session, but a transaction may need 128.
template <typename T>
class Few {
 public:
  void push_back(T item) {
    if (size_ < kInPlace) {
      in_place_[size_++] = item;
    } else {
      more_.push_back(item);
    }
  }
  template <typename F>
  bool all(const F& f) const {
    for (size_t i = 0; i < size_; ++i) {
      if (!f(in_place_[i])) return false;
    }
    for (const T& item : more_) {
      if (!f(item)) return false;
    }
    return true;
  }

 private:
  static constexpr size_t kInPlace = 4;
  std::array<T, kInPlace> in_place_{};
  size_t size_ = 0;
  std::vector<T> more_;
};

// The checks one command needs: permissions on names, and the sessions it
// acts for. Built only while auth is on.
struct Needs {
  struct Name {
    AclSpace space = AclSpace::keys;
    std::string_view name;
    Permission permission = Permission::read;
  };
  Few<Name> names;
  Few<SessionId> sessions;
  bool internal_only = false;  // the node's own commands (client id 0)

  void name(AclSpace space, std::string_view n, Permission p) { names.push_back(Name{space, n, p}); }
  void session(SessionId s) {
    if (s != kNoSession) sessions.push_back(s);
  }
  void key_write(const Put& c) {
    name(AclSpace::keys, c.key, Permission::write);
    session(c.session);
  }
  void key_write(const DeleteKey& c) { name(AclSpace::keys, c.key, Permission::write); }
};

Needs needs_of(const Command& command) {
  Needs needs;
  std::visit(
      [&needs](const auto& c) {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, CreateSession>) {
          needs.name(AclSpace::sessions, "", Permission::write);
        } else if constexpr (std::is_same_v<T, DeleteSession>) {
          needs.session(c.session);
        } else if constexpr (std::is_same_v<T, RenewSessions> || std::is_same_v<T, ExpireSession> ||
                             std::is_same_v<T, ZnodeReapContainer>) {
          needs.internal_only = true;
        } else if constexpr (std::is_same_v<T, Acquire> || std::is_same_v<T, Release>) {
          needs.name(AclSpace::locks, c.lock, Permission::write);
          needs.session(c.session);
        } else if constexpr (std::is_same_v<T, ForceRelease>) {
          needs.name(acl_space(c.space), c.name, Permission::admin);
        } else if constexpr (std::is_same_v<T, Campaign> || std::is_same_v<T, Resign>) {
          needs.name(AclSpace::elections, c.election, Permission::write);
          needs.session(c.session);
        } else if constexpr (std::is_same_v<T, Proclaim>) {
          needs.name(AclSpace::elections, c.election, Permission::write);
        } else if constexpr (std::is_same_v<T, Put> || std::is_same_v<T, DeleteKey>) {
          needs.key_write(c);
        } else if constexpr (std::is_same_v<T, Txn>) {
          for (const Guard& guard : c.guards) {
            const bool on_lock = guard.kind == GuardKind::holder || guard.kind == GuardKind::token_current;
            if (guard.kind != GuardKind::session_alive) {
              needs.name(on_lock ? AclSpace::locks : AclSpace::keys, guard.name, Permission::read);
            }
          }
          for (const TxnOp& op : c.ops) std::visit([&needs](const auto& o) { needs.key_write(o); }, op);
        } else if constexpr (std::is_same_v<T, CreateSessionAnd>) {
          needs.name(AclSpace::sessions, "", Permission::write);
          if (const auto* acquire = std::get_if<Acquire>(&c.then)) {
            needs.name(AclSpace::locks, acquire->lock, Permission::write);
          } else {
            needs.name(AclSpace::elections, std::get<Campaign>(c.then).election, Permission::write);
          }
        } else if constexpr (std::is_same_v<T, ZnodeCreate> || std::is_same_v<T, ZnodeDelete> ||
                             std::is_same_v<T, ZnodeSetData> || std::is_same_v<T, ZnodeCheck> ||
                             std::is_same_v<T, ZnodeMulti> || std::is_same_v<T, ZnodeSetAcl>) {
          // Both must allow (issue 22): synod's rules, where with auth on only
          // an administrator of the cluster changes the namespace, and then
          // each znode's own ACL (znodes.cpp).
          needs.name(AclSpace::cluster, "", Permission::admin);
          needs.session(c.session);
        } else {
          needs.name(AclSpace::cluster, "", Permission::admin);  // the auth commands
        }
      },
      command);
  return needs;
}

}  // namespace

std::string who(const Principal& principal) {
  return principal.name.empty() ? std::string("an anonymous request") : "principal '" + principal.name + "'";
}

Result Machine::judge_and_dispatch(const Decoded& decoded, ClientId client_id, uint64_t seq) {
  std::optional<Principal> principal = auth_.resolve(decoded.credential);
  if (!principal) {
    if (auth_.enabled()) return fail(Status::unauthenticated, "the token is unknown or has been revoked");
    principal = Principal{};  // auth off: an unknown token is no one in particular
  }
  if (client_id != 0) {
    if (Result denied = check_access(decoded.command, *principal, client_id); denied.status != Status::ok) {
      return denied;
    }
  }
  const auto* create_token = std::get_if<CreateToken>(&decoded.command);
  if (create_token != nullptr && create_token->root && (client_id != 0 || auth_.has_root())) {
    return fail(Status::permission_denied, "a root token is made only by the cluster itself, once");
  }
  Result result = dispatch(decoded.command, client_id, seq);
  const bool creates = std::holds_alternative<CreateSession>(decoded.command) ||
                       std::holds_alternative<CreateSessionAnd>(decoded.command);
  if (creates && result.session != kNoSession && find_session(result.session) != nullptr) {
    auth_.session_created(result.session, *principal);
  }
  return result;
}

Result Machine::check_access(const Command& command, const Principal& principal, ClientId client_id) const {
  if (!auth_.enabled()) return Result{};
  const Needs needs = needs_of(command);
  if (needs.internal_only && client_id != 0) {
    return fail(Status::permission_denied, std::string(command_name(command)) + " is the cluster's own command");
  }
  if (principal.name.empty() && !principal.root) {
    return fail(Status::unauthenticated,
                "auth is on: send a token (Authorization: Bearer ...) or a client certificate");
  }
  const Needs::Name* refused_name = nullptr;
  needs.names.all([&](const Needs::Name& need) {
    if (auth_.allows(principal, need.space, need.name, need.permission)) return true;
    refused_name = &need;
    return false;
  });
  if (refused_name != nullptr) {
    const Needs::Name& need = *refused_name;
    return fail(Status::permission_denied, who(principal) + " may not " + permission_name(need.permission) + " " +
                                               acl_space_name(need.space) +
                                               (need.name.empty() ? "" : " '" + std::string(need.name) + "'"));
  }
  SessionId refused_session = kNoSession;
  needs.sessions.all([&](SessionId session) {
    if (auth_.may_act_for(principal, session)) return true;
    refused_session = session;
    return false;
  });
  if (refused_session != kNoSession) {
    return fail(Status::permission_denied, who(principal) + " may not act for session " +
                                               std::to_string(refused_session) + ", which belongs to '" +
                                               auth_.owner_of(refused_session) + "'");
  }
  return Result{};
}

Result Machine::set_auth(const SetAuth& c) {
  if (c.enabled && !auth_.has_root()) return fail(Status::invalid_argument, "auth needs a root token first");
  auth_.set_enabled(c.enabled);
  return Result{};
}

Result Machine::create_token(const CreateToken& c) {
  std::string why;
  const Status status = auth_.add_token(revision_, c.hash, c.principal, c.roles, c.root, log_time_ms_, why);
  if (status != Status::ok) return fail(status, why);
  Result result;
  result.count = revision_;  // the token's id
  return result;
}

Result Machine::revoke_token(const RevokeToken& c) {
  if (!auth_.revoke_token(c.id)) return fail(Status::not_found, "no token " + std::to_string(c.id));
  return Result{};
}

Result Machine::put_rule(const PutRule& c) {
  std::string why;
  const Status status = auth_.add_rule(Rule{revision_, c.subject, c.space, c.prefix, c.permission}, why);
  if (status != Status::ok) return fail(status, why);
  Result result;
  result.count = revision_;  // the rule's id
  return result;
}

Result Machine::delete_rule(const DeleteRule& c) {
  if (!auth_.delete_rule(c.id)) return fail(Status::not_found, "no rule " + std::to_string(c.id));
  return Result{};
}

}  // namespace detail

// ---- the StateMachine's auth queries ----
bool StateMachine::auth_enabled() const { return machine_->auth().enabled(); }
bool StateMachine::has_root_token() const { return machine_->auth().has_root(); }
std::optional<Principal> StateMachine::authenticate(const Credential& credential) const {
  return machine_->auth().resolve(credential);
}

namespace {

// The principal a credential names with auth on; nullopt, and why, if it
// names none (an unknown or revoked token, or no credential at all).
std::optional<Principal> named(const detail::Auth& auth, const Credential& credential, std::string& why) {
  auto principal = auth.resolve(credential);
  if (!principal) {
    why = "the token is unknown or has been revoked";
  } else if (principal->name.empty() && !principal->root) {
    why = "auth is on: send a token (Authorization: Bearer ...) or a client certificate";
    principal.reset();
  }
  return principal;
}

}  // namespace

Status StateMachine::authenticated(const Credential& credential, std::string& why) const {
  const detail::Auth& auth = machine_->auth();
  return !auth.enabled() || named(auth, credential, why) ? Status::ok : Status::unauthenticated;
}

Status StateMachine::authorize(const Credential& credential, AclSpace space, std::string_view name,
                               Permission permission, std::string& why) const {
  const detail::Auth& auth = machine_->auth();
  if (!auth.enabled()) return Status::ok;
  const auto principal = named(auth, credential, why);
  if (!principal) return Status::unauthenticated;
  if (auth.allows(*principal, space, name, permission)) return Status::ok;
  why = detail::who(*principal) + " may not " + permission_name(permission) + " " + acl_space_name(space) +
        (name.empty() ? "" : " '" + std::string(name) + "'");
  return Status::permission_denied;
}

Status StateMachine::authorize_session(const Credential& credential, SessionId session, std::string& why) const {
  const detail::Auth& auth = machine_->auth();
  if (!auth.enabled()) return Status::ok;
  const auto principal = named(auth, credential, why);
  if (!principal) return Status::unauthenticated;
  if (auth.may_act_for(*principal, session)) return Status::ok;
  why = detail::who(*principal) + " may not act for session " + std::to_string(session);
  return Status::permission_denied;
}

std::vector<TokenView> StateMachine::tokens() const { return machine_->auth().tokens(); }
std::vector<Rule> StateMachine::rules() const { return machine_->auth().rules(); }
std::string StateMachine::session_owner(SessionId session) const { return machine_->auth().owner_of(session); }

}  // namespace synod::lockservice
