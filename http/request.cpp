// Request decoding (request.h): route, query, JSON body → ApiRequest.
//
// This file matches the route, checks the headers and dispatches to one
// decoder per operation, in a file per resource (decode_sessions.cpp,
// decode_locks.cpp, decode_elections.cpp, decode_keys.cpp, decode_txn.cpp),
// which share the toolkit of decode_support.h. It also holds the key and name
// rules and the helpers execution shares.
//
// A refusal is thrown as a decoding::Refusal and caught once, here.
#include "http/request.h"

#include <algorithm>
#include <utility>

#include "http/decode_support.h"
#include "base/assert.h"

namespace synod::http {

namespace ls = synod::lockservice;
using decoding::bad;
using decoding::Decoding;

namespace {

// Operations that take a JSON body (all others take none, but kv_put, whose
// body is the value).
bool takes_json(Op op) {
  switch (op) {
    case Op::session_create:
    case Op::session_keepalive:
    case Op::lock_acquire:
    case Op::election_campaign:
    case Op::election_proclaim:
    case Op::election_resign:
    case Op::txn:
    case Op::auth_token_create:
    case Op::auth_rule_create:
    case Op::member_add:
      return true;
    default: return false;
  }
}

// The operations that propose a command (request.h: `command` is set exactly
// for these).
bool proposes(Op op) {
  switch (op) {
    case Op::session_create:
    case Op::session_delete:
    case Op::lock_acquire:
    case Op::lock_release:
    case Op::election_campaign:
    case Op::election_proclaim:
    case Op::election_resign:
    case Op::kv_put:
    case Op::kv_delete:
    case Op::txn:
    case Op::auth_token_create:
    case Op::auth_token_revoke:
    case Op::auth_rule_create:
    case Op::auth_rule_delete:
    case Op::auth_enable:
    case Op::auth_disable:
    case Op::lock_force_release:
    case Op::election_force_release:
      return true;
    default: return false;
  }
}

bool streams(Op op) { return op == Op::watch || op == Op::election_observe || op == Op::session_events; }

void decode_params(Op op, Decoding& d) {
  switch (op) {
    case Op::healthz:
    case Op::readyz:
    case Op::cluster_get: return;
    case Op::session_create: return decoding::decode_session_create(d);
    case Op::session_list: return decoding::decode_session_list(d);
    case Op::session_get: return decoding::decode_session_get(d);
    case Op::session_delete: return decoding::decode_session_delete(d);
    case Op::session_keepalive: return decoding::decode_session_keepalive(d);
    case Op::session_events: return decoding::decode_session_events(d);
    case Op::lock_acquire: return decoding::decode_lock_acquire(d);
    case Op::lock_release: return decoding::decode_lock_release(d);
    case Op::lock_get: return decoding::decode_lock_get(d);
    case Op::lock_validate: return decoding::decode_lock_validate(d);
    case Op::election_campaign: return decoding::decode_election_campaign(d);
    case Op::election_proclaim: return decoding::decode_election_proclaim(d);
    case Op::election_resign: return decoding::decode_election_resign(d);
    case Op::election_get: return decoding::decode_election_get(d);
    case Op::election_observe: return decoding::decode_election_observe(d);
    case Op::kv_put: return decoding::decode_kv_put(d);
    case Op::kv_get: return decoding::decode_kv_get(d);
    case Op::kv_delete: return decoding::decode_kv_delete(d);
    case Op::watch: return decoding::decode_watch(d);
    case Op::auth_token_list:
    case Op::auth_rule_list:
    case Op::auth_whoami:
    case Op::snapshot_get:
      return;
    case Op::auth_token_create:
      return decoding::decode_auth_token_create(d);
    case Op::auth_token_revoke:
      return decoding::decode_auth_token_revoke(d);
    case Op::auth_rule_create:
      return decoding::decode_auth_rule_create(d);
    case Op::auth_rule_delete:
      return decoding::decode_auth_rule_delete(d);
    case Op::auth_enable:
      return decoding::decode_auth_enable(d);
    case Op::auth_disable:
      return decoding::decode_auth_disable(d);
    case Op::lock_force_release:
      return decoding::decode_force_release(d, ls::Space::lock);
    case Op::election_force_release:
      return decoding::decode_force_release(d, ls::Space::election);
    case Op::lock_list:
      return decoding::decode_lock_list(d);
    case Op::leader_transfer:
      return decoding::decode_leader_transfer(d);
    case Op::members_list:
      return;
    case Op::member_add:
      return decoding::decode_member_add(d);
    case Op::member_promote:
      return decoding::decode_member_promote(d);
    case Op::member_remove:
      return decoding::decode_member_remove(d);
    case Op::znode_get_root:
    case Op::znode_get:
      return decoding::decode_znode_get(d);
    case Op::txn: break;
  }
  SYNOD_ASSERT_MSG(false, "a transaction is decoded from its body alone");
}

ApiRequest decode_op(Op op, std::string_view param, const RawRequest& raw, const DecodeLimits& limits) {
  ApiRequest r;
  r.op = op;
  std::optional<decoding::json> body;
  if (takes_json(op)) body = decoding::parse_object(raw.body, limits);
  else if (op != Op::kv_put) decoding::no_body(raw.body);
  if (op == Op::txn) {
    if (!raw.query.empty()) bad("unknown_parameter", "a transaction takes no query parameters");
    decoding::decode_txn(*body, r, limits);
    return r;
  }
  decoding::Inputs in(decoding::parse_query(raw.query, limits), std::move(body));
  Decoding d{in, param, raw, limits, r};
  decode_params(op, d);
  in.check_all_used();
  if (streams(op) && !raw.last_event_id.empty()) {
    // An EventSource reconnecting: resume after the last event it saw.
    auto last = decoding::parse_u64(raw.last_event_id);
    if (!last) bad("bad_value", "Last-Event-ID must be a revision");
    r.index = *last;
  }
  return r;
}

void check_idempotency_key(std::string_view key, const DecodeLimits& limits) {
  if (key.size() > limits.idempotency_key_bytes_max ||
      !std::all_of(key.begin(), key.end(), [](char c) { return c > 0x20 && c < 0x7f; }))
    bad("bad_idempotency_key", "an Idempotency-Key is 1 to " + std::to_string(limits.idempotency_key_bytes_max) +
                                   " visible ASCII characters");
}

}  // namespace

Decoded decode_request(const RawRequest& raw, const DecodeLimits& limits) {
  Decoded decoded;
  try {
    const RouteMatch match = match_route(raw.method, raw.path);
    if (match.kind == RouteMatch::Kind::no_route)
      decoding::refuse(404, "no_route", "no route for " + std::string(raw.method) + " " + std::string(raw.path));
    if (match.kind == RouteMatch::Kind::method_not_allowed) {
      ApiError error{405, "method_not_allowed", std::string(raw.method) + " is not allowed here; use " + match.allow,
                     match.allow};
      throw decoding::Refusal{std::move(error)};
    }
    check_idempotency_key(raw.idempotency_key, limits);
    ApiRequest request = decode_op(match.op, match.param, raw, limits);
    SYNOD_ASSERT(request.command.has_value() == proposes(request.op));
    request.idempotency_key = std::string(raw.idempotency_key);
    request.forwarded = !raw.forwarded.empty();
    decoded.request = std::move(request);
  } catch (decoding::Refusal& refusal) {
    decoded.error = std::move(refusal.error);
  }
  return decoded;
}

// ---- the helpers ----
std::string key_problem(std::string_view key, size_t key_bytes_max) {
  if (key.size() > key_bytes_max) return "the key is longer than " + std::to_string(key_bytes_max) + " bytes";
  if (key.find('\0') != std::string_view::npos) return "a key may not hold NUL";
  if (!valid_utf8(key)) return "the key is not valid UTF-8";
  if (key.size() < 2 || key.front() != '/') return "a key is '/' then segments separated by '/'";
  if (key.back() == '/') return "a key has no trailing '/'";
  size_t start = 1;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string_view::npos) end = key.size();
    const std::string_view segment = key.substr(start, end - start);
    if (segment.empty()) return "a key has no empty segment ('//')";
    if (segment == "." || segment == "..") return "a key segment is never '.' or '..'";
    if (!std::all_of(segment.begin(), segment.end(), decoding::name_char))
      return "a key segment holds only letters, digits and - . _ ~ : @ + = ,";
    start = end + 1;
  }
  return {};
}

std::string name_problem(std::string_view name, size_t name_bytes_max) {
  if (name.empty()) return "the name is empty";
  if (name.size() > name_bytes_max) return "the name is longer than " + std::to_string(name_bytes_max) + " bytes";
  if (name.find('\0') != std::string_view::npos) return "a name may not hold NUL";
  if (!valid_utf8(name)) return "the name is not valid UTF-8";
  if (name == "." || name == "..") return "a name is never '.' or '..'";
  if (!std::all_of(name.begin(), name.end(), [](char c) { return c == '/' || decoding::name_char(c); }))
    return "a name holds only letters, digits, '/' and - . _ ~ : @ + = ,";
  return {};
}

ls::ClientId idempotency_client_id(std::string_view key) {
  uint64_t hash = 1469598103934665603ULL;  // FNV-1a, then a SplitMix64 finaliser to spread the bits
  for (char c : key) hash = (hash ^ static_cast<uint8_t>(c)) * 1099511628211ULL;
  hash ^= hash >> 30;
  hash *= 0xbf58476d1ce4e5b9ULL;
  hash ^= hash >> 27;
  hash *= 0x94d049bb133111ebULL;
  hash ^= hash >> 31;
  return hash | ls::kKeyedClientBit;  // kept for retries (lockservice/exactly_once.h)
}

const char* lock_kind_name(ls::LockKind kind) {
  switch (kind) {
    case ls::LockKind::exclusive: return "exclusive";
    case ls::LockKind::shared: return "shared";
    case ls::LockKind::semaphore: return "semaphore";
  }
  return "exclusive";
}

const char* access_name(ls::Access access) { return access == ls::Access::read ? "read" : "write"; }

}  // namespace synod::http
