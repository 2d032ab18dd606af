// The route table and the matcher (routes.h).
#include "http/routes.h"

#include <array>
#include <iterator>

namespace synod::http {
namespace {

constexpr std::array kRoutes = {
    Route{"GET", "/healthz", Op::healthz},
    Route{"GET", "/readyz", Op::readyz},
    Route{"GET", "/v1/cluster", Op::cluster_get},
    Route{"POST", "/v1/sessions", Op::session_create},
    Route{"GET", "/v1/sessions", Op::session_list},
    Route{"GET", "/v1/sessions/{id}", Op::session_get},
    Route{"DELETE", "/v1/sessions/{id}", Op::session_delete},
    Route{"POST", "/v1/sessions/{id}/keepalive", Op::session_keepalive},
    Route{"GET", "/v1/sessions/{id}/events", Op::session_events},
    Route{"POST", "/v1/locks/{name}", Op::lock_acquire},
    Route{"DELETE", "/v1/locks/{name}", Op::lock_release},
    Route{"GET", "/v1/locks/{name}", Op::lock_get},
    Route{"GET", "/v1/locks/{name}/validate", Op::lock_validate},
    Route{"POST", "/v1/elections/{name}/campaign", Op::election_campaign},
    Route{"POST", "/v1/elections/{name}/proclaim", Op::election_proclaim},
    Route{"POST", "/v1/elections/{name}/resign", Op::election_resign},
    Route{"GET", "/v1/elections/{name}", Op::election_get},
    Route{"GET", "/v1/elections/{name}/observe", Op::election_observe},
    Route{"PUT", "/v1/kv/{key}", Op::kv_put},
    Route{"GET", "/v1/kv/{key}", Op::kv_get},
    Route{"DELETE", "/v1/kv/{key}", Op::kv_delete},
    Route{"POST", "/v1/txn", Op::txn},
    Route{"GET", "/v1/watch/{prefix}", Op::watch},
    Route{"POST", "/v1/auth/tokens", Op::auth_token_create},
    Route{"GET", "/v1/auth/tokens", Op::auth_token_list},
    Route{"DELETE", "/v1/auth/tokens/{id}", Op::auth_token_revoke},
    Route{"POST", "/v1/auth/rules", Op::auth_rule_create},
    Route{"GET", "/v1/auth/rules", Op::auth_rule_list},
    Route{"DELETE", "/v1/auth/rules/{id}", Op::auth_rule_delete},
    Route{"POST", "/v1/auth/enable", Op::auth_enable},
    Route{"POST", "/v1/auth/disable", Op::auth_disable},
    Route{"GET", "/v1/auth/whoami", Op::auth_whoami},
    Route{"POST", "/v1/locks/{name}/force-release", Op::lock_force_release},
    Route{"POST", "/v1/elections/{name}/force-release", Op::election_force_release},
    Route{"GET", "/v1/locks", Op::lock_list},
    Route{"GET", "/v1/snapshot", Op::snapshot_get},
    Route{"POST", "/v1/cluster/leader/transfer", Op::leader_transfer},
    Route{"GET", "/v1/cluster/members", Op::members_list},
    Route{"POST", "/v1/cluster/members", Op::member_add},
    Route{"POST", "/v1/cluster/members/{id}/promote", Op::member_promote},
    Route{"DELETE", "/v1/cluster/members/{id}", Op::member_remove},
    Route{"GET", "/v1/znodes", Op::znode_get_root},
    Route{"GET", "/v1/znodes/{path}", Op::znode_get},
};

bool is_rest_param(std::string_view segment) {
  return segment == "{key}" || segment == "{prefix}" || segment == "{path}";
}

// Splits off the next segment of a path that starts with '/'.
std::string_view next_segment(std::string_view& rest) {
  rest.remove_prefix(1);
  const size_t end = rest.find('/');
  const std::string_view segment = rest.substr(0, end);
  rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
  return segment;
}

// Does `path` fit `pattern`? Sets `param` to the captured parameter.
bool fits(std::string_view pattern, std::string_view path, std::string_view& param) {
  param = {};
  while (!pattern.empty()) {
    if (path.empty()) return false;
    const std::string_view want = next_segment(pattern);
    if (is_rest_param(want)) {
      param = path.substr(1);  // everything after the '/'
      return true;
    }
    const std::string_view have = next_segment(path);
    if (want.size() >= 2 && want.front() == '{') {
      if (have.empty()) return false;
      param = have;
    } else if (want != have) {
      return false;
    }
  }
  return path.empty();
}

}  // namespace

std::span<const Route> routes() { return kRoutes; }

const char* op_name(Op op) {
  static constexpr const char* kNames[] = {"healthz",
                                           "readyz",
                                           "cluster_get",
                                           "session_create",
                                           "session_list",
                                           "session_get",
                                           "session_delete",
                                           "session_keepalive",
                                           "session_events",
                                           "lock_acquire",
                                           "lock_release",
                                           "lock_get",
                                           "lock_validate",
                                           "election_campaign",
                                           "election_proclaim",
                                           "election_resign",
                                           "election_get",
                                           "election_observe",
                                           "kv_put",
                                           "kv_get",
                                           "kv_delete",
                                           "txn",
                                           "watch",
                                           "auth_token_create",
                                           "auth_token_list",
                                           "auth_token_revoke",
                                           "auth_rule_create",
                                           "auth_rule_list",
                                           "auth_rule_delete",
                                           "auth_enable",
                                           "auth_disable",
                                           "auth_whoami",
                                           "lock_force_release",
                                           "election_force_release",
                                           "lock_list",
                                           "snapshot_get",
                                           "leader_transfer",
                                           "members_list",
                                           "member_add",
                                           "member_promote",
                                           "member_remove",
                                           "znode_get_root",
                                           "znode_get"};
  static_assert(std::size(kNames) == static_cast<size_t>(Op::znode_get) + 1);
  return kNames[static_cast<size_t>(op)];
}

RouteMatch match_route(std::string_view method, std::string_view path) {
  RouteMatch match;
  if (path.empty() || path.front() != '/') return match;
  for (const Route& route : kRoutes) {
    std::string_view param;
    if (!fits(route.path, path, param)) continue;
    if (route.method == method) {
      match.kind = RouteMatch::Kind::found;
      match.op = route.op;
      match.param = param;
      match.allow.clear();
      return match;
    }
    match.kind = RouteMatch::Kind::method_not_allowed;
    if (!match.allow.empty()) match.allow += ", ";
    match.allow += route.method;
  }
  return match;
}

}  // namespace synod::http
