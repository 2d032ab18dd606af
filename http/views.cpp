// The client API's JSON views (views.h). Pure; any thread.
#include "http/views.h"

#include "base/assert.h"
#include "http/json_text.h"
#include "http/request.h"

namespace synod::http::views {

namespace {

std::string dump(const json& body) {
  // Every string we put in JSON is UTF-8 (values that are not go out as
  // base64); replace is the belt to that brace, never a throw.
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

std::string json_text(const json& body) { return dump(body) + "\n"; }

Response json_response(int status, const json& body) { return json_text_response(status, json_text(body)); }

Response json_text_response(int status, std::string text) {
  SYNOD_ASSERT(status >= 200 && status <= 599);
  Response response;
  response.status = status;
  response.body = std::move(text);
  return response;
}

Response error_body(int status, std::string_view code, std::string_view message) {
  SYNOD_ASSERT(status >= 400 && status <= 599);  // a refusal is an error
  SYNOD_ASSERT(!code.empty());
  return json_response(status, {{"error", {{"code", code}, {"message", message}, {"retryable", retryable_code(code)}}}});
}

Response listing(json body, bool more, const std::string& next_after) {
  body["more"] = more;
  if (more) body["next_after"] = next_after;
  return json_response(200, body);
}

bool retryable_code(std::string_view code) {
  static constexpr std::string_view kRetryable[] = {"not_leader",         "no_quorum",
                                                    "leader_unreachable", "busy",
                                                    "unknown_outcome",    "stopping",
                                                    "timed_out",          "too_many_streams",
                                                    "too_many_forwards",  "too_many_connections",
                                                    "conflict",           "lock_delay",
                                                    "validity_low",       "limit_exceeded",
                                                    "change_in_progress"};
  for (auto candidate : kRetryable)
    if (candidate == code) return true;
  return false;
}

int status_for(ls::Status status) {
  switch (status) {
    case ls::Status::ok: return 200;
    case ls::Status::queued: return 202;
    case ls::Status::not_found:
    case ls::Status::session_expired: return 404;
    case ls::Status::conflict:
    case ls::Status::lock_delay:
    case ls::Status::validity_low:
    case ls::Status::cancelled: return 409;
    case ls::Status::timed_out: return 408;
    case ls::Status::guard_failed:
    case ls::Status::stale_token: return 412;
    case ls::Status::limit_exceeded: return 429;
    case ls::Status::too_large: return 413;
    case ls::Status::invalid_argument:
    case ls::Status::too_early: return 400;
    case ls::Status::compacted: return 410;
    case ls::Status::unauthenticated:
      return 401;
    case ls::Status::permission_denied:
      return 403;
  }
  return 400;
}

json result_error_json(const ls::Result& result) {
  json body = {{"error",
                {{"code", ls::status_name(result.status)},
                 {"message", result.message.empty() ? ls::status_name(result.status) : result.message},
                 {"retryable", ls::retryable(result.status)}}}};
  switch (result.status) {
    case ls::Status::conflict:
      if (result.session != ls::kNoSession) {
        body["holder"] = {{"session", session_string(result.session)}, {"token", result.token},
                          {"holders", result.count}};
      }
      if (result.position != 0) body["waiters"] = result.position;
      break;
    case ls::Status::lock_delay: body["lock_delay_until_log_ms"] = result.until_ms; break;
    case ls::Status::validity_low: body["valid_for_ms"] = result.valid_for_ms; break;
    case ls::Status::guard_failed:
      if (result.failed_guard != 0) body["failed_guard"] = result.failed_guard;
      if (result.stat.modify_index != 0) body["current"] = stat_json(result.key, result.stat);
      break;
    case ls::Status::timed_out:
    case ls::Status::cancelled:
      if (result.session != ls::kNoSession) body["session"] = session_string(result.session);
      break;
    default: break;
  }
  return body;
}

std::string session_string(ls::SessionId id) { return std::to_string(id); }

const char* space_name(ls::Space space) {
  switch (space) {
    case ls::Space::key: return "key";
    case ls::Space::lock: return "lock";
    case ls::Space::election: return "election";
    case ls::Space::session: return "session";
  }
  return "key";
}

void put_value(json& out, std::string_view value) {
  if (valid_utf8(value)) {
    out["value"] = std::string(value);
    out["encoding"] = "utf-8";
  } else {
    out["value"] = base64_encode(value);
    out["encoding"] = "base64";
  }
}

json stat_json(std::string_view key, const ls::KeyStat& stat) {
  json body = {{"key", key},
               {"create_index", stat.create_index},
               {"modify_index", stat.modify_index},
               {"version", stat.version},
               {"lock_generation", stat.lock_generation}};
  if (stat.owner != ls::kNoSession) body["session"] = session_string(stat.owner);
  return body;
}

std::string stat_text(std::string_view key, const ls::KeyStat& stat) {
  std::string text;
  text.reserve(128);
  JsonObjectText body(text);
  body.field("create_index", stat.create_index).field("key", key).field("lock_generation", stat.lock_generation);
  body.field("modify_index", stat.modify_index);
  if (stat.owner != ls::kNoSession) body.field("session", session_string(stat.owner));
  body.field("version", stat.version);
  body.end();
  return text;
}

json key_json(const ls::KeyView& view) {
  json body = stat_json(view.key, view.stat);
  put_value(body, view.value);
  return body;
}

json znode_json(const ls::ZnodeView& view, const std::vector<std::string>* children) {
  const ls::ZnodeStat& s = view.stat;
  json acl = json::array();
  for (const auto& entry : view.acl)
    acl.push_back({{"perms", entry.perms}, {"scheme", entry.scheme}, {"id", entry.id}});
  json body = {{"path", view.path},
               {"data", base64_encode(view.data)},
               {"stat",
                {{"czxid", s.czxid},
                 {"mzxid", s.mzxid},
                 {"ctime_ms", s.ctime_ms},
                 {"mtime_ms", s.mtime_ms},
                 {"version", s.version},
                 {"cversion", s.cversion},
                 {"aversion", s.aversion},
                 {"ephemeral_owner", session_string(s.ephemeral_owner)},
                 {"data_length", s.data_length},
                 {"num_children", s.num_children},
                 {"pzxid", s.pzxid}}},
               {"acl", std::move(acl)}};
  if (children) body["children"] = *children;
  return body;
}

json session_json(const ls::SessionView& view) {
  json losses = json::array();
  for (const auto& loss : view.losses) {
    losses.push_back({{"space", space_name(loss.space)}, {"name", loss.name}, {"token", loss.token},
                      {"revision", loss.revision}, {"reason", loss.reason}});
  }
  return {{"session", session_string(view.id)},
          {"ttl_ms", view.ttl_ms},
          {"lock_delay_ms", view.lock_delay_ms},
          {"behavior", view.behavior == ls::Behavior::release ? "release" : "delete"},
          {"valid_for_ms", view.valid_for_ms},
          {"locks", view.locks},
          {"elections", view.elections},
          {"waits", view.waits},
          {"ephemeral_keys", view.ephemeral_keys},
          {"losses", losses}};
}

json waiters_json(const std::vector<ls::WaiterView>& waiters) {
  json out = json::array();
  for (size_t i = 0; i < waiters.size(); ++i) {
    json waiter = {{"session", session_string(waiters[i].session)},
                   {"access", access_name(waiters[i].access)},
                   {"position", i + 1},
                   {"enqueued_index", waiters[i].enqueued}};
    if (waiters[i].deadline_log_ms != ls::kNoDeadline) waiter["deadline_log_ms"] = waiters[i].deadline_log_ms;
    out.push_back(std::move(waiter));
  }
  return out;
}

json lock_json(std::string_view name, const std::optional<ls::LockView>& view, int64_t log_time_ms) {
  json body = {{"lock", name}, {"held", view && !view->holders.empty()}};
  json holders = json::array();
  if (view) {
    body["kind"] = lock_kind_name(view->kind);
    body["limit"] = view->limit;
    for (const auto& h : view->holders) {
      holders.push_back({{"session", session_string(h.session)}, {"token", h.token},
                         {"access", access_name(h.access)}, {"granted_log_ms", h.granted_log_ms}});
    }
    if (view->delay_until_log_ms > log_time_ms) body["lock_delay_until_log_ms"] = view->delay_until_log_ms;
  }
  body["holders"] = std::move(holders);
  body["waiters"] = view ? waiters_json(view->waiters) : json::array();
  body["log_time_ms"] = log_time_ms;
  return body;
}

json election_json(std::string_view name, const std::optional<ls::ElectionView>& view) {
  json body = {{"election", name}};
  // A leader's grant has a token; its session may read as 0, hidden from a
  // reader who may not see it (read_scope.h), and it still leads.
  if (view && (view->leader != ls::kNoSession || view->token != 0)) {
    json leader = {{"session", session_string(view->leader)}, {"token", view->token}};
    put_value(leader, view->value);
    body["leader"] = std::move(leader);
  } else {
    body["leader"] = nullptr;
  }
  body["changed_index"] = view ? view->changed : 0;
  body["candidates"] = view ? waiters_json(view->candidates) : json::array();
  return body;
}

json event_json(const ls::Event& event) {
  json body = {{"revision", event.revision},
               {"type", ls::event_type_name(event.type)},
               {"space", space_name(event.space)}};
  if (event.space == ls::Space::key) body["key"] = event.name;
  else if (event.space != ls::Space::session) body["name"] = event.name;
  if (!event.value.empty() || event.type == ls::EventType::put) put_value(body, event.value);
  if (event.session != ls::kNoSession) body["session"] = session_string(event.session);
  if (event.token != 0) body["token"] = event.token;
  return body;
}

std::string sse(std::string_view type, uint64_t id, const json& data) {
  std::string out;
  if (id != 0) out += "id: " + std::to_string(id) + "\n";
  out += "event: ";
  out += type;
  out += "\ndata: ";
  out += dump(data);
  out += "\n\n";
  return out;
}

std::string event_sse(const ls::Event& event) { return sse(ls::event_type_name(event.type), event.revision, event_json(event)); }

}  // namespace synod::http::views
