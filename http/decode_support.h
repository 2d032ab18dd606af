// The toolkit the per-resource request decoders share (request.cpp dispatches
// to decode_sessions.cpp, decode_locks.cpp, decode_elections.cpp,
// decode_keys.cpp and decode_txn.cpp): where parameters come from (the query
// and a JSON body, each name given once and each one read), the checks of
// names and keys from the path, and the parameter groups several operations
// take (wait and index, a new session, a value, key write guards).
//
// A refusal is thrown as a Refusal and caught once, in decode_request: every
// check is then one line, and nothing half-decoded can leak out.
//
// Private to synod_http_decode. Pure; any thread.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "http/request.h"

namespace synod::http::decoding {

using json = nlohmann::json;
namespace ls = synod::lockservice;

struct Refusal {
  ApiError error;
};

[[noreturn]] void refuse(int status, std::string code, std::string message);
[[noreturn]] inline void bad(std::string code, std::string message) { refuse(400, std::move(code), std::move(message)); }

// A letter, digit or - . _ ~ : @ + = , (the characters of a key segment).
bool name_char(char c);
// Decimal digits alone, that fit in 64 bits.
std::optional<uint64_t> parse_u64(std::string_view text);

// ---- where parameters come from: the query, and for some operations a JSON body ----
struct QueryItem {
  std::string name;
  std::string value;
  bool has_value = false;
  bool used = false;
};

// Splits and percent-decodes a query; refuses duplicates and more than
// query_params_max items.
std::vector<QueryItem> parse_query(std::string_view query, const DecodeLimits& limits);

class Inputs {
 public:
  Inputs(std::vector<QueryItem> query, std::optional<json> body) : query_(std::move(query)), body_(std::move(body)) {}

  bool has(std::string_view name) const;
  std::optional<std::string> string(std::string_view name);
  std::optional<uint64_t> number(std::string_view name);
  bool flag(std::string_view name);
  std::optional<int64_t> duration(std::string_view name);
  std::optional<ls::SessionId> session(std::string_view name);
  // Refuses any query parameter or body field the operation did not read.
  void check_all_used() const;

 private:
  // The raw query item of `name`; refuses one given in both the query and the body.
  const QueryItem* query(std::string_view name);
  const json* body_field(std::string_view name);

  std::vector<QueryItem> query_;
  std::optional<json> body_;
  std::set<std::string, std::less<>> used_;
};

// ---- bodies ----
// A JSON object (blank is {}), its depth bounded before the parser runs.
json parse_object(std::string_view body, const DecodeLimits& limits);
void no_body(std::string_view body);

// ---- names from the path ----
std::string path_name(std::string_view param, const DecodeLimits& limits, const char* what);
// The rest of a /v1/kv/ or /v1/watch/ path as a checked absolute key.
std::string checked_key(std::string_view rest, const DecodeLimits& limits, bool allow_empty);
ls::SessionId path_session(std::string_view param);

// ---- shared parameter groups ----
int64_t wait_param(Inputs& in, const DecodeLimits& limits);
// ?index=N and, for long-polls, ?wait (default 30 s with an index).
void index_param(Inputs& in, ApiRequest& r, const DecodeLimits& limits, bool long_poll);
// A session, or the parameters of a new one (then `create` is set).
ls::SessionId session_or_new(Inputs& in, const DecodeLimits& limits, std::optional<ls::CreateSession>& create);
ls::CreateSession new_session(Inputs& in, const DecodeLimits& limits, bool ttl_required);
std::string value_param(Inputs& in, const DecodeLimits& limits);
// ?cas=M, ?lock=NAME&token=T: the write guards of a key write.
void key_guards(Inputs& in, const DecodeLimits& limits, std::optional<ls::Revision>& cas, ls::Fence& fence);
// 1 to list_limit_max, default list_limit_default.
size_t list_limit(std::optional<uint64_t> limit, const DecodeLimits& limits);

// ---- one decoder per operation, in a file per resource ----
// What an operation's decoder reads and fills.
struct Decoding {
  Inputs& in;
  std::string_view param;  // the path parameter, still percent-encoded
  const RawRequest& raw;
  const DecodeLimits& limits;
  ApiRequest& request;
};

// decode_sessions.cpp
void decode_session_create(Decoding& d);
void decode_session_list(Decoding& d);
void decode_session_get(Decoding& d);
void decode_session_delete(Decoding& d);
void decode_session_keepalive(Decoding& d);
void decode_session_events(Decoding& d);
// decode_locks.cpp
void decode_lock_acquire(Decoding& d);
void decode_lock_release(Decoding& d);
void decode_lock_get(Decoding& d);
void decode_lock_validate(Decoding& d);
// decode_elections.cpp
void decode_election_campaign(Decoding& d);
void decode_election_proclaim(Decoding& d);
void decode_election_resign(Decoding& d);
void decode_election_get(Decoding& d);
void decode_election_observe(Decoding& d);
// decode_keys.cpp
void decode_kv_put(Decoding& d);
void decode_kv_get(Decoding& d);
void decode_kv_delete(Decoding& d);
void decode_watch(Decoding& d);
// GET /v1/znodes and /v1/znodes/{path}: the znode path, not yet checked
// against ZooKeeper's rules (execution does, with the lock service's
// znode_path_problem).
void decode_znode_get(Decoding& d);
// decode_auth.cpp
void decode_auth_token_create(Decoding& d);
void decode_auth_token_revoke(Decoding& d);
void decode_auth_rule_create(Decoding& d);
void decode_auth_rule_delete(Decoding& d);
void decode_auth_enable(Decoding& d);
void decode_auth_disable(Decoding& d);
// An administrator's release of a lock or an election's leader.
void decode_force_release(Decoding& d, ls::Space space);
// GET /v1/locks?after=NAME&limit=N: an administrator's listing.
void decode_lock_list(Decoding& d);
// decode_cluster.cpp
void decode_leader_transfer(Decoding& d);
// decode_members.cpp
void decode_member_add(Decoding& d);
void decode_member_promote(Decoding& d);
void decode_member_remove(Decoding& d);
// decode_txn.cpp: the body is the whole request (no query)
void decode_txn(const json& body, ApiRequest& r, const DecodeLimits& limits);

}  // namespace synod::http::decoding
