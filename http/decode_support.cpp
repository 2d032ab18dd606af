// The decoders' shared toolkit (decode_support.h).
#include "http/decode_support.h"

#include <algorithm>

#include "base/assert.h"

namespace synod::http::decoding {

void refuse(int status, std::string code, std::string message) {
  SYNOD_ASSERT(status >= 400 && status <= 499);  // decoding refuses bad input: always a client error
  throw Refusal{ApiError{status, std::move(code), std::move(message), {}}};
}

bool name_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '-': case '.': case '_': case '~': case ':': case '@': case '+': case '=': case ',': return true;
    default: return false;
  }
}

namespace {

bool all_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool blank(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; });
}

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

}  // namespace

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
  SYNOD_ASSERT(items.size() <= limits.query_params_max);
  return items;
}

// ---- Inputs ----
const QueryItem* Inputs::query(std::string_view name) {
  QueryItem* found = nullptr;
  for (auto& item : query_)
    if (item.name == name) found = &item;
  if (found) found->used = true;
  if (found && body_field(name)) bad("conflicting_parameters", "'" + std::string(name) + "' is given in both the query and the body");
  return found;
}

const json* Inputs::body_field(std::string_view name) {
  if (!body_) return nullptr;
  auto it = body_->find(name);
  if (it == body_->end()) return nullptr;
  used_.insert(std::string(name));
  return &*it;
}

bool Inputs::has(std::string_view name) const {
  for (const auto& item : query_)
    if (item.name == name) return true;
  return body_ && body_->contains(name);
}

std::optional<std::string> Inputs::string(std::string_view name) {
  if (const auto* q = query(name)) return q->value;
  if (const auto* j = body_field(name)) {
    if (!j->is_string()) bad("bad_type", "'" + std::string(name) + "' must be a string");
    return j->get<std::string>();
  }
  return std::nullopt;
}

std::optional<uint64_t> Inputs::number(std::string_view name) {
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

bool Inputs::flag(std::string_view name) {
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

std::optional<int64_t> Inputs::duration(std::string_view name) {
  std::optional<std::string> text;
  if (const auto* q = query(name)) {
    text = q->value;
  } else if (const auto* j = body_field(name)) {
    if (!j->is_string())
      bad("bad_type", "'" + std::string(name) + "' must be a duration string such as \"15s\" or \"500ms\"");
    text = j->get<std::string>();
  }
  if (!text) return std::nullopt;
  auto ms = parse_duration_ms(*text);
  if (!ms) bad("bad_duration", "'" + std::string(name) + "' must be a duration such as 15s, 500ms, 2m or 1h");
  return ms;
}

std::optional<ls::SessionId> Inputs::session(std::string_view name) {
  std::string text;
  if (const auto* q = query(name)) {
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

void Inputs::check_all_used() const {
  for (const auto& item : query_)
    if (!item.used) bad("unknown_parameter", "unknown query parameter '" + item.name + "'");
  if (!body_) return;
  for (const auto& [key, value] : body_->items())
    if (!used_.count(key)) bad("unknown_field", "unknown field '" + key + "'");
}

// ---- bodies ----
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

void index_param(Inputs& in, ApiRequest& r, const DecodeLimits& limits, bool long_poll) {
  r.index = in.number("index");
  if (!long_poll) return;
  r.wait_ms = wait_param(in, limits);
  if (r.wait_ms > 0 && !r.index) bad("missing_parameter", "wait needs an index: wait for a change after index N");
  if (r.index && r.wait_ms == 0) r.wait_ms = std::min<int64_t>(30'000, limits.wait_ms_max);
}

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

ls::SessionId session_or_new(Inputs& in, const DecodeLimits& limits, std::optional<ls::CreateSession>& create) {
  const auto session = in.session("session");
  if (session) {
    if (in.has("ttl") || in.has("lock_delay") || in.has("behavior"))
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

size_t list_limit(std::optional<uint64_t> limit, const DecodeLimits& limits) {
  const uint64_t value = limit.value_or(limits.list_limit_default);
  if (value == 0 || value > limits.list_limit_max)
    bad("bad_value", "limit is 1 to " + std::to_string(limits.list_limit_max));
  return static_cast<size_t>(value);
}

}  // namespace synod::http::decoding
