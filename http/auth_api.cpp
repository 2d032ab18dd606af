// Who a request is, which reads it may make, and the auth operations
// (api_impl.h; lockservice/auth.h; docs/security.md).
//
// A request names its principal with `Authorization: Bearer TOKEN` or with a
// client certificate. The token's SHA-256 travels with the command, and the
// state machine resolves it when it applies the command; reads are judged
// here, by the node that serves them, after the read's index is applied. A
// follower forwarding over HTTP passes the Authorization header on, and a
// client certificate's name in X-Synod-Certificate-Name, which is believed
// only on a connection whose own certificate is a member's of this cluster.
//
// Threads: take_credential runs on an HTTP thread; read_denial and the
// reads' callbacks on the owner thread.
#include <algorithm>

#include "http/api_impl.h"
#include "http/credentials.h"
#include "http/json_text.h"
#include "http/request_credential.h"
#include "tls/identity.h"
#include "tls/secrets.h"

namespace synod::http {

namespace ls = synod::lockservice;
using views::json;
using views::json_response;

namespace {

Response denial(ls::Status status, const std::string& why) {
  return views::error_body(status == ls::Status::unauthenticated ? 401 : 403, ls::status_name(status), why);
}

json strings(const std::vector<std::string>& items) {
  json out = json::array();
  for (const auto& item : items) out.push_back(item);
  return out;
}

}  // namespace

PresentedCredential presented_credential(const Request& request) {
  PresentedCredential presented;
  const auto count = std::count_if(request.headers.begin(), request.headers.end(),
                                   [](const Header& h) { return h.name == "authorization"; });
  if (count > 1) {
    // A proxy that reads the last one would disagree with one that reads the first.
    presented.ok = false;
    presented.why = "send one Authorization header";
    return presented;
  }
  presented.authorization = request.header("authorization");
  if (!presented.authorization.empty()) {
    const std::string_view token = bearer_token(presented.authorization, presented.why);
    if (token.empty()) {
      presented.ok = false;
      return presented;
    }
    presented.credential = ls::Credential{ls::Credential::Kind::token, tls::sha256(token)};
  } else if (request.certificate_member.empty() && !request.certificate_name.empty()) {
    presented.credential = ls::Credential{ls::Credential::Kind::certificate, request.certificate_name};
  }
  return presented;
}

bool Api::Impl::take_credential(const CallPtr& c, const Request& request) {
  PresentedCredential presented = presented_credential(request);
  if (!presented.ok) {
    fail(c, 401, "bad_authorization", presented.why, c->view.applied_revision, c->view.leader);
    return false;
  }
  if (!presented.authorization.empty() || request.certificate_member.empty()) {
    c->credential = std::move(presented.credential);
    c->authorization = std::string(presented.authorization);
    return true;
  }
  // A member's connection: a follower forwarding. Its own certificate names
  // no principal; the client's, if it had one, comes in the header.
  const std::string member_prefix = tls::member_uri(options.tls_cluster_id, 0);
  const std::string_view named = request.header("x-synod-certificate-name");
  const bool ours = options.tls_cluster_id != 0 &&
                    request.certificate_member.rfind(member_prefix.substr(0, member_prefix.size() - 1), 0) == 0;
  if (ours && !named.empty()) c->credential = ls::Credential{ls::Credential::Kind::certificate, std::string(named)};
  return true;
}

std::optional<Response> Api::Impl::read_denial(const CallPtr& c, const ReadContext& context) const {
  const ls::StateMachine& m = *context.machine;
  if (!m.auth_enabled()) return std::nullopt;
  const ls::Credential& credential = c->credential;
  std::string why;
  auto check = [&](ls::AclSpace space, std::string_view name, ls::Permission permission) {
    return m.authorize(credential, space, name, permission, why);
  };
  ls::Status status = ls::Status::ok;
  switch (c->req.op) {
    case Op::session_get:
    case Op::session_events:  // its owner, or an admin of sessions
      status = m.authorize_session(credential, c->req.session, why);
      break;
    case Op::lock_get:
    case Op::lock_validate:
      status = check(ls::AclSpace::locks, c->req.name, ls::Permission::read);
      break;
    case Op::election_get:
    case Op::election_observe:
      status = check(ls::AclSpace::elections, c->req.name, ls::Permission::read);
      break;
    case Op::kv_get:
      // One key is all or nothing; a listing leaves out what it may not read.
      if (!c->req.recurse) status = check(ls::AclSpace::keys, c->req.name, ls::Permission::read);
      else status = m.authenticated(credential, why);
      break;
    case Op::session_list:  // the principal's own sessions, without sessions read (read_scope.h)
    case Op::watch:         // leaves out the events it may not read (streams.cpp)
      status = m.authenticated(credential, why);
      break;
    case Op::auth_token_list:
    case Op::auth_rule_list:
    case Op::snapshot_get:  // everything, token hashes included
    case Op::leader_transfer:
    case Op::members_list:
    case Op::member_add:
    case Op::member_promote:
    case Op::member_remove:
    case Op::znode_get_root:  // as for changing znodes (lockservice/access.cpp)
    case Op::znode_get:
      status = check(ls::AclSpace::cluster, "", ls::Permission::admin);
      break;
    case Op::lock_list:
      status = check(ls::AclSpace::locks, "", ls::Permission::admin);
      break;
    default:
      break;
  }
  if (status == ls::Status::ok) return std::nullopt;
  return denial(status, why);
}

std::function<bool(const ReadContext&)> Api::Impl::admitted(const CallPtr& c) {
  return [this, c](const ReadContext& context) {
    auto denied = read_denial(c, context);
    if (denied) reply(c, std::move(*denied), context.revision, context.leader);
    return !denied;
  };
}

void Api::Impl::gate_stream(const CallPtr& c, std::function<void()> then) {
  node.read(true, [this, c, then = std::move(then)](const ReadContext& context) {
    if (auto denied = read_denial(c, context)) return reply(c, std::move(*denied), context.revision, context.leader);
    then();
  });
}

void Api::Impl::auth_operation(const CallPtr& c) {
  switch (c->req.op) {
    case Op::auth_token_create: {
      auto& create = std::get<ls::CreateToken>(*c->req.command);
      const std::string secret = tls::new_token();
      if (secret.empty()) return fail(c, 500, "no_randomness", "no random bytes for a token", 0, c->view.leader);
      create.hash = tls::sha256(secret);
      // The secret is in the answer only: never in the log or a log line.
      return write(c, [c, secret](const ls::Result& r) {
        const auto& token = std::get<ls::CreateToken>(*c->req.command);
        return views::json_text(json{{"id", r.count},
                                     {"principal", token.principal},
                                     {"roles", strings(token.roles)},
                                     {"token", secret}});
      });
    }
    case Op::auth_token_revoke:
      return write(c, [c](const ls::Result&) {
        return views::json_text(json{{"id", std::get<ls::RevokeToken>(*c->req.command).id}, {"revoked", true}});
      });
    case Op::auth_rule_create:
      return write(c, [](const ls::Result& r) { return views::json_text(json{{"id", r.count}}); });
    case Op::auth_rule_delete:
      return write(c, [c](const ls::Result&) {
        return views::json_text(json{{"id", std::get<ls::DeleteRule>(*c->req.command).id}, {"deleted", true}});
      });
    case Op::auth_enable:
    case Op::auth_disable:
      return write(c, [c](const ls::Result&) {
        return views::json_text(json{{"enabled", std::get<ls::SetAuth>(*c->req.command).enabled}});
      });
    case Op::lock_force_release:
    case Op::election_force_release:
      return write(c, [c](const ls::Result&) {
        const auto& force = std::get<ls::ForceRelease>(*c->req.command);
        return views::json_text(json{{force.space == ls::Space::lock ? "lock" : "election", force.name},
                                     {"forced", true},
                                     {"reason", force.reason}});
      });
    case Op::lock_list:
      return read(c, [c](const ReadContext& context) {
        auto names = context.machine->lock_names(c->req.after, c->req.limit + 1);
        const bool more = names.size() > c->req.limit;
        if (more) names.resize(c->req.limit);
        json locks = json::array();
        for (const auto& name : names) {
          locks.push_back(views::lock_json(name, context.machine->lock(name), context.machine->log_time_ms()));
        }
        return views::listing(json{{"locks", locks}}, more, names.empty() ? std::string() : names.back());
      });
    case Op::auth_token_list:
      return read(c, [](const ReadContext& context) {
        json tokens = json::array();
        for (const auto& t : context.machine->tokens()) {
          tokens.push_back({{"id", t.id},
                            {"principal", t.principal},
                            {"roles", strings(t.roles)},
                            {"root", t.root},
                            {"created_ms", t.created_log_ms}});
        }
        return json_response(200, {{"tokens", tokens}});
      });
    case Op::auth_rule_list:
      return read(c, [](const ReadContext& context) {
        json rules = json::array();
        for (const auto& r : context.machine->rules()) {
          rules.push_back({{"id", r.id},
                           {"subject", r.subject},
                           {"space", ls::acl_space_name(r.space)},
                           {"prefix", r.prefix},
                           {"permission", ls::permission_name(r.permission)}});
        }
        return json_response(200, {{"rules", rules}});
      });
    case Op::auth_whoami:
      return read(c, [c](const ReadContext& context) {
        const auto principal = context.machine->authenticate(c->credential);
        json body = {{"auth_enabled", context.machine->auth_enabled()}};
        if (!principal) {
          body["principal"] = nullptr;
          body["error"] = "the token is unknown or has been revoked";
          return json_response(200, body);
        }
        body["principal"] = principal->name.empty() ? json(nullptr) : json(principal->name);
        body["roles"] = strings(principal->roles);
        body["root"] = principal->root;
        body["via"] = c->credential.kind == ls::Credential::Kind::token         ? "token"
                      : c->credential.kind == ls::Credential::Kind::certificate ? "certificate"
                                                                                : "none";
        return json_response(200, body);
      });
    default:
      break;
  }
}

}  // namespace synod::http
