// Request decoding (request.h): route, query, JSON body → ApiRequest.
//
// Internally a refusal is thrown as a Refusal and caught once, in
// decode_request: every check is then one line, and nothing half-decoded can
// leak out.
#include "http/request.h"

#include <algorithm>
#include <array>
#include <nlohmann/json.hpp>
#include <set>
#include <utility>
#include <vector>

namespace synod::http {

using json = nlohmann::json;
namespace ls = synod::lockservice;

namespace {

struct Refusal {
  ApiError error;
};

[[noreturn]] void refuse(int status, std::string code, std::string message) {
  throw Refusal{ApiError{status, std::move(code), std::move(message), {}}};
}
[[noreturn]] void bad(std::string code, std::string message) { refuse(400, std::move(code), std::move(message)); }

bool name_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '-': case '.': case '_': case '~': case ':': case '@': case '+': case '=': case ',': return true;
    default: return false;
  }
}

bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<uint64_t> parse_u64(std::string_view text) {
  if (!all_digits(text) || text.size() > 20) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    const auto digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

// ---- the query string ----
struct QueryItem {
  std::string name;
  std::string value;
  bool has_value = false;
  bool used = false;
};

std::vector<QueryItem> parse_query(std::string_view query, const DecodeLimits& limits) {
  std::vector<QueryItem> items;
  size_t start = 0;
  while (start < query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view item = query.substr(start, end - start);
    start = end + 1;
    if (item.empty()) continue;
    if (items.size() >= limits.query_params_max)
      bad("too_many_parameters", "at most " + std::to_string(limits.query_params_max) + " query parameters");
    const size_t equals = item.find('=');
    auto name = percent_decode(item.substr(0, equals));
    auto value = percent_decode(equals == std::string_view::npos ? std::string_view{} : item.substr(equals + 1));
    if (!name || !value) bad("bad_query", "the query has a malformed %-escape");
    for (const auto& other : items)
      if (other.name == *name) bad("duplicate_parameter", "the query parameter '" + *name + "' is given twice");
    items.push_back(QueryItem{std::move(*name), std::move(*value), equals != std::string_view::npos, false});
  }
  return items;
}

// ---- where parameters come from: the query, and for some operations a JSON body ----
class Inputs {
 public:
  Inputs(std::vector<QueryItem> query, std::optional<json> body)
      : query_(std::move(query)), body_(std::move(body)) {}

  // The raw query value or JSON value of `name`; refuses one given in both.
  const QueryItem* query(std::string_view name) {
    QueryItem* found = nullptr;
    for (auto& item : query_)
      if (item.name == name) found = &item;
    if (found) found->used = true;
    if (found && body_field(name)) bad("conflicting_parameters", "'" + std::string(name) + "' is given in both the query and the body");
    return found;
  }
  const json* body_field(std::string_view name) {
    if (!body_) return nullptr;
    auto it = body_->find(name);
    if (it == body_->end()) return nullptr;
    used_.insert(std::string(name));
    return &*it;
  }
  bool has(std::string_view name) {
    for (const auto& item : query_)
      if (item.name == name) return true;
    return body_ && body_->contains(name);
  }

  std::optional<std::string> string(std::string_view name) {
    if (const auto* q = query(name)) return q->value;
    if (const auto* j = body_field(name)) {
      if (!j->is_string()) bad("bad_type", "'" + std::string(name) + "' must be a string");
      return j->get<std::string>();
    }
    return std::nullopt;
  }
  std::optional<uint64_t> number(std::string_view name) {
    if (const auto* q = query(name)) {
      auto value = parse_u64(q->value);
      if (!value) bad("bad_number", "'" + std::string(name) + "' must be a non-negative integer");
      return value;
    }
    if (const auto* j = body_field(name)) {
      if (!j->is_number_unsigned() && !(j->is_number_integer() && j->get<int64_t>() >= 0))
        bad("bad_type", "'" + std::string(name) + "' must be a non-negative integer");
      return j->get<uint64_t>();
    }
    return std::nullopt;
  }
  bool flag(std::string_view name) {
    if (const auto* q = query(name)) {
      if (!q->has_value || q->value.empty() || q->value == "true" || q->value == "1") return true;
      if (q->value == "false" || q->value == "0") return false;
      bad("bad_value", "'" + std::string(name) + "' is a flag: give it alone, or =true / =false");
    }
    if (const auto* j = body_field(name)) {
      if (!j->is_boolean()) bad("bad_type", "'" + std::string(name) + "' must be true or false");
      return j->get<bool>();
    }
    return false;
  }
  std::optional<int64_t> duration(std::string_view name) {
    const auto text = [&]() -> std::optional<std::string> {
      if (const auto* q = query(name)) return q->value;
      if (const auto* j = body_field(name)) {
        if (!j->is_string())
          bad("bad_type", "'" + std::string(name) + "' must be a duration string such as \"15s\" or \"500ms\"");
        return j->get<std::string>();
      }
      return std::nullopt;
    }();
    if (!text) return std::nullopt;
    auto ms = parse_duration_ms(*text);
    if (!ms) bad("bad_duration", "'" + std::string(name) + "' must be a duration such as 15s, 500ms, 2m or 1h");
    return ms;
  }
  std::optional<ls::SessionId> session(std::string_view name) {
    const auto* q = query(name);
    std::string text;
    if (q) {
      text = q->value;
    } else if (const auto* j = body_field(name)) {
      if (!j->is_string()) bad("bad_type", "'" + std::string(name) + "' must be a session id string such as \"1048577\"");
      text = j->get<std::string>();
    } else {
      return std::nullopt;
    }
    auto id = parse_u64(text);
    if (!id || *id == 0) bad("bad_session", "a session id is a positive decimal number");
    return id;
  }

  // Every query parameter and body field was read by the operation.
  void check_all_used() const {
    for (const auto& item : query_)
      if (!item.used) bad("unknown_parameter", "unknown query parameter '" + item.name + "'");
    if (!body_) return;
    for (const auto& [key, value] : body_->items())
      if (!used_.count(key)) bad("unknown_field", "unknown field '" + key + "'");
  }

 private:
  std::vector<QueryItem> query_;
  std::optional<json> body_;
  std::set<std::string, std::less<>> used_;
};

// ---- JSON bodies ----
// Nesting depth, counted without parsing: refused before the parser runs.
size_t json_depth(std::string_view text) {
  size_t depth = 0, deepest = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') deepest = std::max(deepest, ++depth);
    else if ((c == '}' || c == ']') && depth > 0) --depth;
  }
  return deepest;
}

bool blank(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

json parse_object(std::string_view body, const DecodeLimits& limits) {
  if (blank(body)) return json::object();
  if (json_depth(body) > limits.json_depth_max)
    bad("json_too_deep", "the JSON nests deeper than " + std::to_string(limits.json_depth_max) + " levels");
  json parsed = json::parse(body, nullptr, false);
  if (parsed.is_discarded()) bad("bad_json", "the body is not valid JSON (UTF-8)");
  if (!parsed.is_object()) bad("bad_json", "the body must be a JSON object");
  return parsed;
}

void no_body(std::string_view body) {
  if (!body.empty()) bad("unexpected_body", "this request takes no body");
}

// ---- names from the path ----
std::string path_name(std::string_view param, const DecodeLimits& limits, const char* what) {
  auto decoded = percent_decode(param);
  if (!decoded) bad("bad_name", std::string("the ") + what + " name has a malformed %-escape");
  if (decoded->size() > limits.name_bytes_max)
    bad("name_too_long", std::string("the ") + what + " name is longer than " + std::to_string(limits.name_bytes_max) + " bytes");
  if (auto problem = name_problem(*decoded, limits.name_bytes_max); !problem.empty()) bad("bad_name", problem);
  return std::move(*decoded);
}

// The rest of a /v1/kv/ or /v1/watch/ path as an absolute key: each segment
// percent-decoded, joined with '/'. An empty rest is "" (the whole space).
std::string path_key(std::string_view rest, bool* malformed) {
  *malformed = false;
  if (rest.empty()) return {};
  std::string key;
  size_t start = 0;
  while (start <= rest.size()) {
    size_t end = rest.find('/', start);
    if (end == std::string_view::npos) end = rest.size();
    auto segment = percent_decode(rest.substr(start, end - start));
    if (!segment) *malformed = true;
    key += '/';
    if (segment) key += *segment;
    start = end + 1;
  }
  return key;
}

std::string checked_key(std::string_view rest, const DecodeLimits& limits, bool allow_empty) {
  bool malformed = false;
  std::string key = path_key(rest, &malformed);
  if (malformed) bad("bad_key", "the key has a malformed %-escape");
  if (key.empty()) {
    if (allow_empty) return key;
    bad("bad_key", "the key is empty");
  }
  if (key.size() > limits.key_bytes_max)
    bad("key_too_long", "the key is longer than " + std::to_string(limits.key_bytes_max) + " bytes");
  if (auto problem = key_problem(key, limits.key_bytes_max); !problem.empty()) bad("bad_key", problem);
  return key;
}

ls::SessionId path_session(std::string_view param) {
  auto id = parse_u64(param);
  if (!id || *id == 0) bad("bad_session", "a session id is a positive decimal number");
  return *id;
}

// ---- shared parameter groups ----
int64_t wait_param(Inputs& in, const DecodeLimits& limits) {
  const auto wait = in.duration("wait");
  if (!wait) return 0;
  if (*wait > limits.wait_ms_max)
    bad("bad_wait", "wait is at most " + std::to_string(limits.wait_ms_max / 1000) + "s");
  return *wait;
}

// ?index=N and, for long-polls, ?wait (default 30 s with an index).
void index_param(Inputs& in, ApiRequest& r, const DecodeLimits& limits, bool long_poll) {
  r.index = in.number("index");
  if (!long_poll) return;
  r.wait_ms = wait_param(in, limits);
  if (r.wait_ms > 0 && !r.index) bad("missing_parameter", "wait needs an index: wait for a change after index N");
  if (r.index && r.wait_ms == 0) r.wait_ms = std::min<int64_t>(30'000, limits.wait_ms_max);
}

// The session parameters of a new session: ttl, lock_delay, behavior.
ls::CreateSession new_session(Inputs& in, const DecodeLimits& limits, bool ttl_required) {
  ls::CreateSession create;
  const auto ttl = in.duration("ttl");
  if (!ttl && ttl_required) bad("missing_parameter", "give a session, or a ttl to create one");
  create.ttl_ms = ttl.value_or(limits.ttl_ms_default);
  if (create.ttl_ms < ls::kTtlMsMin || create.ttl_ms > ls::kTtlMsMax)
    bad("bad_ttl", "ttl must be between 2s and 24h");
  create.lock_delay_ms = in.duration("lock_delay").value_or(0);
  if (create.lock_delay_ms > ls::kLockDelayMsMax) bad("bad_lock_delay", "lock_delay must be between 0s and 60s");
  if (const auto behavior = in.string("behavior")) {
    if (*behavior == "release") create.behavior = ls::Behavior::release;
    else if (*behavior == "delete") create.behavior = ls::Behavior::delete_keys;
    else bad("bad_value", "behavior is \"release\" or \"delete\"");
  }
  return create;
}

bool has_new_session_params(Inputs& in) { return in.has("ttl") || in.has("lock_delay") || in.has("behavior"); }

// A session, or the parameters of a new one (then `create` is set).
ls::SessionId session_or_new(Inputs& in, const DecodeLimits& limits, std::optional<ls::CreateSession>& create) {
  const auto session = in.session("session");
  if (session) {
    if (has_new_session_params(in))
      bad("conflicting_parameters", "ttl, lock_delay and behavior create a new session: give them without a session");
    return *session;
  }
  create = new_session(in, limits, true);
  return ls::kNoSession;
}

std::string value_param(Inputs& in, const DecodeLimits& limits) {
  auto value = in.string("value").value_or("");
  if (value.size() > limits.value_bytes_max)
    refuse(413, "value_too_large", "the value is larger than " + std::to_string(limits.value_bytes_max) + " bytes");
  return value;
}

// ?cas=M, ?lock=NAME&token=T: the write guards of a key write.
void key_guards(Inputs& in, const DecodeLimits& limits, std::optional<ls::Revision>& cas, ls::Fence& fence) {
  cas = in.number("cas");
  const auto lock = in.string("lock");
  const auto token = in.number("token");
  if (lock.has_value() != token.has_value())
    bad("missing_parameter", "a fenced write needs both lock and token");
  if (lock) {
    if (lock->size() > limits.name_bytes_max) bad("name_too_long", "the lock name is too long");
    if (auto problem = name_problem(*lock, limits.name_bytes_max); !problem.empty()) bad("bad_name", problem);
    if (*token == 0) bad("bad_number", "a fencing token is positive");
    fence = ls::Fence{*lock, *token};
  }
}

// ---- one decoder per operation ----
void decode_session_create(Inputs& in, ApiRequest& r, const DecodeLimits& limits) {
  r.command = new_session(in, limits, false);
}

void decode_lock_acquire(Inputs& in, ApiRequest& r, const DecodeLimits& limits) {
  std::optional<ls::CreateSession> create;
  ls::Acquire acquire;
  acquire.lock = r.name;
  acquire.session = session_or_new(in, limits, create);
  const auto mode = in.string("mode").value_or("exclusive");
  if (mode == "exclusive") {
    acquire.kind = ls::LockKind::exclusive;
  } else if (mode == "read" || mode == "write") {
    acquire.kind = ls::LockKind::shared;
    acquire.access = mode == "read" ? ls::Access::read : ls::Access::write;
  } else if (mode == "semaphore") {
    acquire.kind = ls::LockKind::semaphore;
  } else {
    bad("bad_value", "mode is exclusive, read, write or semaphore");
  }
  const auto limit = in.number("limit");
  if (acquire.kind == ls::LockKind::semaphore) {
    if (!limit) bad("missing_parameter", "a semaphore needs its limit");
    if (*limit == 0 || *limit > 1024) bad("bad_value", "a semaphore's limit is 1 to 1024");
    acquire.limit = static_cast<uint32_t>(*limit);
  } else if (limit) {
    bad("conflicting_parameters", "limit is only for mode semaphore");
  }
  r.wait_ms = wait_param(in, limits);
  const bool queue = in.flag("queue");
  if (queue) {
    acquire.wait = ls::WaitMode::queue;
  } else if (r.wait_ms > 0) {
    acquire.wait = ls::WaitMode::timeout;
    acquire.wait_ms = r.wait_ms;
  }
  if (create) r.command = ls::CreateSessionAnd{*create, acquire};
  else r.command = acquire;
  r.session = acquire.session;
}

void decode_campaign(Inputs& in, ApiRequest& r, const DecodeLimits& limits) {
  std::optional<ls::CreateSession> create;
  ls::Campaign campaign;
  campaign.election = r.name;
  campaign.session = session_or_new(in, limits, create);
  campaign.value = value_param(in, limits);
  r.wait_ms = wait_param(in, limits);
  if (create) r.command = ls::CreateSessionAnd{*create, campaign};
  else r.command = campaign;
  r.session = campaign.session;
}

ls::Guard decode_guard(const json& item, const DecodeLimits& limits) {
  if (!item.is_object()) bad("bad_type", "each guard is an object");
  Inputs in({}, item);
  const auto kind = in.string("kind");
  if (!kind) bad("missing_field", "a guard needs its kind");
  ls::Guard guard;
  auto key = [&] {
    const auto name = in.string("key");
    if (!name) bad("missing_field", "a " + *kind + " guard needs its key");
    if (name->size() > limits.key_bytes_max) bad("key_too_long", "the key is too long");
    if (auto problem = key_problem(*name, limits.key_bytes_max); !problem.empty()) bad("bad_key", problem);
    return *name;
  };
  auto lock = [&] {
    const auto name = in.string("lock");
    if (!name) bad("missing_field", "a " + *kind + " guard needs its lock");
    if (auto problem = name_problem(*name, limits.name_bytes_max); !problem.empty()) bad("bad_name", problem);
    return *name;
  };
  auto required_number = [&](const char* field) {
    const auto value = in.number(field);
    if (!value) bad("missing_field", "a " + *kind + " guard needs its " + field);
    return *value;
  };
  auto required_session = [&] {
    const auto value = in.session("session");
    if (!value) bad("missing_field", "a " + *kind + " guard needs its session");
    return *value;
  };
  if (*kind == "version_equals") {
    guard = {ls::GuardKind::version_equals, key(), required_number("version"), ls::kNoSession};
  } else if (*kind == "modify_index_equals") {
    guard = {ls::GuardKind::modify_index_equals, key(), required_number("modify_index"), ls::kNoSession};
  } else if (*kind == "exists") {
    guard = {ls::GuardKind::exists, key(), 0, ls::kNoSession};
  } else if (*kind == "missing") {
    guard = {ls::GuardKind::missing, key(), 0, ls::kNoSession};
  } else if (*kind == "holder") {
    guard.kind = ls::GuardKind::holder;
    guard.name = lock();
    guard.session = required_session();
  } else if (*kind == "session_alive") {
    guard.kind = ls::GuardKind::session_alive;
    guard.session = required_session();
  } else if (*kind == "token_current") {
    guard.kind = ls::GuardKind::token_current;
    guard.name = lock();
    guard.number = required_number("token");
  } else {
    bad("bad_value", "unknown guard kind '" + *kind + "'");
  }
  in.check_all_used();
  return guard;
}

ls::TxnOp decode_txn_op(const json& item, const DecodeLimits& limits) {
  if (!item.is_object()) bad("bad_type", "each operation is an object");
  Inputs in({}, item);
  const auto op = in.string("op");
  if (!op) bad("missing_field", "an operation needs its op: put or delete");
  const auto key = in.string("key");
  if (!key) bad("missing_field", "an operation needs its key");
  if (key->size() > limits.key_bytes_max) bad("key_too_long", "the key is too long");
  if (auto problem = key_problem(*key, limits.key_bytes_max); !problem.empty()) bad("bad_key", problem);
  std::optional<ls::Revision> cas = in.number("cas");
  ls::Fence fence;
  const auto lock = in.string("lock");
  const auto token = in.number("token");
  if (lock.has_value() != token.has_value()) bad("missing_field", "a fenced write needs both lock and token");
  if (lock) {
    if (auto problem = name_problem(*lock, limits.name_bytes_max); !problem.empty()) bad("bad_name", problem);
    fence = ls::Fence{*lock, *token};
  }
  ls::TxnOp result;
  if (*op == "put") {
    ls::Put put;
    put.key = *key;
    put.cas = cas;
    put.fence = fence;
    const auto text = in.string("value");
    const auto encoded = in.string("value_base64");
    if (text && encoded) bad("conflicting_parameters", "give value or value_base64, not both");
    if (encoded) {
      auto bytes = base64_decode(*encoded);
      if (!bytes) bad("bad_value", "value_base64 is not valid base64");
      put.value = std::move(*bytes);
    } else {
      put.value = text.value_or("");
    }
    if (put.value.size() > limits.value_bytes_max) refuse(413, "value_too_large", "a value is too large");
    put.session = in.session("session").value_or(ls::kNoSession);
    put.sequential = in.flag("sequential");
    result = std::move(put);
  } else if (*op == "delete") {
    ls::DeleteKey erase;
    erase.key = *key;
    erase.cas = cas;
    erase.fence = fence;
    erase.prefix = in.flag("recurse");
    result = std::move(erase);
  } else {
    bad("bad_value", "op is put or delete");
  }
  in.check_all_used();
  return result;
}

void decode_txn(const json& body, ApiRequest& r, const DecodeLimits& limits) {
  ls::Txn txn;
  for (const auto& [field, value] : body.items()) {
    if (field != "guards" && field != "ops") bad("unknown_field", "unknown field '" + field + "'");
    if (!value.is_array()) bad("bad_type", "'" + field + "' must be an array");
  }
  if (auto guards = body.find("guards"); guards != body.end()) {
    if (guards->size() > limits.txn_guards_max)
      refuse(413, "txn_too_large", "at most " + std::to_string(limits.txn_guards_max) + " guards");
    for (const auto& item : *guards) txn.guards.push_back(decode_guard(item, limits));
  }
  if (auto ops = body.find("ops"); ops != body.end()) {
    if (ops->size() > limits.txn_ops_max)
      refuse(413, "txn_too_large", "at most " + std::to_string(limits.txn_ops_max) + " operations");
    for (const auto& item : *ops) txn.ops.push_back(decode_txn_op(item, limits));
  }
  r.command = std::move(txn);
}

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
    case Op::txn: return true;
    default: return false;
  }
}

ApiRequest decode_op(Op op, std::string_view param, const RawRequest& raw, const DecodeLimits& limits) {
  ApiRequest r;
  r.op = op;
  std::optional<json> body;
  if (takes_json(op)) body = parse_object(raw.body, limits);
  else if (op != Op::kv_put) no_body(raw.body);
  if (op == Op::txn) {
    if (!raw.query.empty()) bad("unknown_parameter", "a transaction takes no query parameters");
    decode_txn(*body, r, limits);
    return r;
  }
  Inputs in(parse_query(raw.query, limits), std::move(body));
  switch (op) {
    case Op::healthz:
    case Op::readyz:
    case Op::cluster_get: break;
    case Op::session_create: decode_session_create(in, r, limits); break;
    case Op::session_list: {
      r.stale = in.flag("stale");
      r.after_session = in.session("after").value_or(0);
      r.limit = static_cast<size_t>(in.number("limit").value_or(limits.list_limit_default));
      if (r.limit == 0 || r.limit > limits.list_limit_max)
        bad("bad_value", "limit is 1 to " + std::to_string(limits.list_limit_max));
      break;
    }
    case Op::session_get:
      r.session = path_session(param);
      r.stale = in.flag("stale");
      break;
    case Op::session_delete:
      r.session = path_session(param);
      r.command = ls::DeleteSession{r.session};
      break;
    case Op::session_keepalive: r.session = path_session(param); break;
    case Op::session_events:
      r.session = path_session(param);
      index_param(in, r, limits, false);
      break;
    case Op::lock_acquire:
      r.name = path_name(param, limits, "lock");
      decode_lock_acquire(in, r, limits);
      break;
    case Op::lock_release: {
      r.name = path_name(param, limits, "lock");
      const auto session = in.session("session");
      if (!session) bad("missing_parameter", "release needs the holder's session: ?session=ID");
      r.session = *session;
      r.command = ls::Release{r.name, r.session};
      break;
    }
    case Op::lock_get:
      r.name = path_name(param, limits, "lock");
      r.stale = in.flag("stale");
      break;
    case Op::lock_validate: {
      r.name = path_name(param, limits, "lock");
      r.stale = in.flag("stale");
      const auto token = in.number("token");
      if (!token) bad("missing_parameter", "validate needs ?token=N");
      r.token = *token;
      break;
    }
    case Op::election_campaign:
      r.name = path_name(param, limits, "election");
      decode_campaign(in, r, limits);
      break;
    case Op::election_proclaim: {
      r.name = path_name(param, limits, "election");
      const auto token = in.number("token");
      if (!token) bad("missing_parameter", "proclaim needs the leader's token");
      r.command = ls::Proclaim{r.name, *token, value_param(in, limits)};
      break;
    }
    case Op::election_resign: {
      r.name = path_name(param, limits, "election");
      const auto session = in.session("session");
      if (!session) bad("missing_parameter", "resign needs the session");
      r.session = *session;
      r.command = ls::Resign{r.name, r.session};
      break;
    }
    case Op::election_get:
      r.name = path_name(param, limits, "election");
      r.stale = in.flag("stale");
      index_param(in, r, limits, true);
      break;
    case Op::election_observe:
      r.name = path_name(param, limits, "election");
      index_param(in, r, limits, false);
      break;
    case Op::kv_put: {
      r.name = checked_key(param, limits, false);
      if (raw.body.size() > limits.value_bytes_max)
        refuse(413, "value_too_large", "the value is larger than " + std::to_string(limits.value_bytes_max) + " bytes");
      ls::Put put;
      put.key = r.name;
      put.value = std::string(raw.body);
      put.session = in.session("session").value_or(ls::kNoSession);
      put.sequential = in.flag("sequential");
      key_guards(in, limits, put.cas, put.fence);
      if (put.sequential && put.cas) bad("conflicting_parameters", "a sequential put creates a new key: no cas");
      r.command = std::move(put);
      break;
    }
    case Op::kv_get: {
      r.stale = in.flag("stale");
      r.raw = in.flag("raw");
      r.recurse = in.flag("recurse");
      r.name = checked_key(param, limits, r.recurse);
      index_param(in, r, limits, true);
      if (r.raw && r.recurse) bad("conflicting_parameters", "raw reads one key: not with recurse");
      const auto after = in.string("after");
      const auto limit = in.number("limit");
      if ((after || limit) && !r.recurse) bad("conflicting_parameters", "after and limit page a recurse listing");
      r.after = after.value_or("");
      if (r.after.size() > limits.key_bytes_max) bad("key_too_long", "after is longer than a key");
      r.limit = static_cast<size_t>(limit.value_or(limits.list_limit_default));
      if (r.limit == 0 || r.limit > limits.list_limit_max)
        bad("bad_value", "limit is 1 to " + std::to_string(limits.list_limit_max));
      break;
    }
    case Op::kv_delete: {
      r.name = checked_key(param, limits, false);
      ls::DeleteKey erase;
      erase.key = r.name;
      erase.prefix = r.recurse = in.flag("recurse");
      key_guards(in, limits, erase.cas, erase.fence);
      r.command = std::move(erase);
      break;
    }
    case Op::watch: {
      index_param(in, r, limits, false);
      const auto space = in.string("space").value_or("key");
      if (space == "key") r.watch_space = ls::Space::key;
      else if (space == "lock") r.watch_space = ls::Space::lock;
      else if (space == "election") r.watch_space = ls::Space::election;
      else if (space == "session") r.watch_space = ls::Space::session;
      else if (space != "all") bad("bad_value", "space is key, lock, election, session or all");
      if (r.watch_space == ls::Space::key) {
        // A prefix may end in '/': /v1/watch/app/ watches what is under /app.
        const bool slash = param.size() > 1 && param.back() == '/';
        r.name = checked_key(slash ? param.substr(0, param.size() - 1) : param, limits, true);
        if (slash) r.name += '/';
      } else if (!param.empty()) {
        if (r.watch_space == ls::Space::session || !r.watch_space)
          bad("bad_name", "a watch of sessions or of every space takes no prefix");
        r.name = path_name(param, limits, "prefix");
      }
      break;
    }
    case Op::txn: break;  // decoded above
  }
  in.check_all_used();
  if (op == Op::watch || op == Op::election_observe || op == Op::session_events) {
    if (!raw.last_event_id.empty()) {
      // An EventSource reconnecting: resume after the last event it saw.
      auto last = parse_u64(raw.last_event_id);
      if (!last) bad("bad_value", "Last-Event-ID must be a revision");
      r.index = *last;
    }
  }
  return r;
}

}  // namespace

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
    if (!std::all_of(segment.begin(), segment.end(), name_char))
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
  if (!std::all_of(name.begin(), name.end(), [](char c) { return c == '/' || name_char(c); }))
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
  return hash == 0 ? 1 : hash;
}

Decoded decode_request(const RawRequest& raw, const DecodeLimits& limits) {
  Decoded decoded;
  try {
    const RouteMatch match = match_route(raw.method, raw.path);
    if (match.kind == RouteMatch::Kind::no_route)
      refuse(404, "no_route", "no route for " + std::string(raw.method) + " " + std::string(raw.path));
    if (match.kind == RouteMatch::Kind::method_not_allowed) {
      ApiError error{405, "method_not_allowed", std::string(raw.method) + " is not allowed here; use " + match.allow,
                     match.allow};
      throw Refusal{std::move(error)};
    }
    if (raw.idempotency_key.size() > limits.idempotency_key_bytes_max ||
        !std::all_of(raw.idempotency_key.begin(), raw.idempotency_key.end(), [](char c) { return c > 0x20 && c < 0x7f; }))
      bad("bad_idempotency_key", "an Idempotency-Key is 1 to " + std::to_string(limits.idempotency_key_bytes_max) +
                                     " visible ASCII characters");
    ApiRequest request = decode_op(match.op, match.param, raw, limits);
    request.idempotency_key = std::string(raw.idempotency_key);
    request.forwarded = !raw.forwarded.empty();
    decoded.request = std::move(request);
  } catch (Refusal& refusal) {
    decoded.error = std::move(refusal.error);
  }
  return decoded;
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
