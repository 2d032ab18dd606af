// The route table of synod's client API: every (method, path template) the
// server serves, and the matcher that maps a request path onto it.
//
// The table is the single source of truth: the router uses it, and a unit
// test (test/api/test_decode.cpp) checks it against docs/openapi.yaml in both
// directions, so the published document can neither miss a route nor list
// one that is not served.
//
// Path templates use OpenAPI's {param} syntax. A parameter is one path
// segment (percent-decoded, so a lock name "a/b" is sent as a%2Fb), except a
// trailing {key}, {prefix} or {path}, which takes the rest of the path:
// /v1/kv/a/b names the key "/a/b" (ZooKeeper-style absolute keys), and
// /v1/znodes/a/b the znode "/a/b".
//
// Pure; any thread.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace synod::http {

enum class Op : uint8_t {
  healthz,
  readyz,
  cluster_get,
  session_create,
  session_list,
  session_get,
  session_delete,
  session_keepalive,
  session_events,
  lock_acquire,
  lock_release,
  lock_get,
  lock_validate,
  election_campaign,
  election_proclaim,
  election_resign,
  election_get,
  election_observe,
  kv_put,
  kv_get,
  kv_delete,
  txn,
  watch,
  auth_token_create,
  auth_token_list,
  auth_token_revoke,
  auth_rule_create,
  auth_rule_list,
  auth_rule_delete,
  auth_enable,
  auth_disable,
  auth_whoami,
  lock_force_release,
  election_force_release,
  lock_list,
  snapshot_get,
  leader_transfer,
  members_list,
  member_add,
  member_promote,
  member_remove,
  znode_get_root,
  znode_get,
};

struct Route {
  std::string_view method;  // "GET", "POST", "PUT", "DELETE"
  std::string_view path;    // template, e.g. "/v1/locks/{name}"
  Op op;
};

// Every route, in the order the API document lists them.
std::span<const Route> routes();

const char* op_name(Op op);

struct RouteMatch {
  enum class Kind : uint8_t { found, no_route, method_not_allowed } kind = Kind::no_route;
  Op op = Op::healthz;
  // The path parameter, still percent-encoded: one segment, or for {key},
  // {prefix} and {path} the rest of the path after the fixed part (may hold
  // '/', may be empty).
  std::string_view param;
  std::string allow;  // method_not_allowed: the methods the path has, "GET, POST"
};

// Matches a path (without the query) and method against the table.
RouteMatch match_route(std::string_view method, std::string_view path);

}  // namespace synod::http
