#include "http/api.h"

#include <nlohmann/json.hpp>

namespace synod::http {

using json = nlohmann::json;
namespace ls = synod::lockservice;

namespace {

bool retryable(std::string_view code) {
  return code == "not_leader" || code == "no_quorum" || code == "busy" || code == "timeout" || code == "stopping";
}

Response json_response(int status, const json& body) {
  Response response;
  response.status = status;
  response.body = body.dump();
  response.body += '\n';
  return response;
}

void stamp(Response& response, uint64_t revision, uint32_t leader) {
  response.headers.push_back(Header{"x-synod-index", std::to_string(revision)});
  response.headers.push_back(Header{"x-synod-leader", std::to_string(leader)});
}

// Decodes %XX escapes; false if an escape is malformed.
bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size() || !std::isxdigit(static_cast<unsigned char>(in[i + 1])) ||
        !std::isxdigit(static_cast<unsigned char>(in[i + 2]))) {
      return false;
    }
    out += static_cast<char>(std::stoi(std::string(in.substr(i + 1, 2)), nullptr, 16));
    i += 2;
  }
  return true;
}

bool has_flag(std::string_view query, std::string_view name) {
  size_t start = 0;
  while (start <= query.size()) {
    const size_t end = std::min(query.find('&', start), query.size());
    const auto item = query.substr(start, end - start);
    if (item == name || item.substr(0, item.find('=')) == name) return true;
    start = end + 1;
  }
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
  }
  return 500;
}

const char* code_for(ls::Status status) {
  switch (status) {
    case ls::Status::ok: return "ok";
    case ls::Status::queued: return "queued";
    case ls::Status::not_found: return "not_found";
    case ls::Status::session_expired: return "session_expired";
    case ls::Status::conflict: return "conflict";
    case ls::Status::lock_delay: return "lock_delay";
    case ls::Status::validity_low: return "validity_low";
    case ls::Status::timed_out: return "timed_out";
    case ls::Status::cancelled: return "cancelled";
    case ls::Status::guard_failed: return "guard_failed";
    case ls::Status::stale_token: return "stale_token";
    case ls::Status::limit_exceeded: return "limit_exceeded";
    case ls::Status::too_large: return "too_large";
    case ls::Status::invalid_argument: return "invalid_argument";
    case ls::Status::too_early: return "too_early";
    case ls::Status::compacted: return "compacted";
  }
  return "internal";
}

json key_json(const std::string& key, const ls::KeyStat& stat, const std::string* value) {
  json body = {{"key", key},
               {"create_index", stat.create_index},
               {"modify_index", stat.modify_index},
               {"version", stat.version},
               {"lock_generation", stat.lock_generation}};
  if (stat.owner != ls::kNoSession) body["session"] = std::to_string(stat.owner);
  if (value) body["value"] = *value;
  return body;
}

// Answers a proposal's outcome: the result as JSON, or the error.
void answer(Responder& respond, const Outcome& outcome, const std::function<json(const ls::Result&)>& ok_body) {
  if (outcome.kind != Outcome::Kind::applied) {
    static constexpr const char* kCodes[] = {"applied", "not_leader", "busy", "timeout", "stopping"};
    const char* code = kCodes[static_cast<int>(outcome.kind)];
    std::string message = outcome.kind == Outcome::Kind::not_leader
                              ? "this node does not lead; the leader is " +
                                    (outcome.leader ? "node " + std::to_string(outcome.leader) : std::string("unknown"))
                          : outcome.kind == Outcome::Kind::timeout ? "no answer in time: the write may or may not have taken effect"
                                                                   : std::string("try again");
    auto response = error_response(outcome.kind == Outcome::Kind::timeout ? 504 : 503, code, message);
    stamp(response, outcome.revision, outcome.leader);
    return respond(std::move(response));
  }
  const auto& result = outcome.result;
  Response response;
  if (result.status == ls::Status::ok || result.status == ls::Status::queued) {
    response = json_response(status_for(result.status), ok_body(result));
  } else {
    response = error_response(status_for(result.status), code_for(result.status), result.message);
  }
  stamp(response, outcome.revision, outcome.leader);
  respond(std::move(response));
}

}  // namespace

Response error_response(int status, std::string_view code, std::string_view message) {
  json body = {{"error", {{"code", code}, {"message", message}, {"retryable", retryable(code)}}}};
  return json_response(status, body);
}

void Api::handle(Request&& request, Responder respond) {
  const auto& path = request.path;
  const auto& method = request.method;
  if (path == "/healthz") {
    if (method != "GET") return respond(error_response(405, "method_not_allowed", "use GET"));
    const auto view = node_.cluster();
    auto response = json_response(200, {{"status", "ok"}, {"node", view.self}});
    stamp(response, view.applied_revision, view.leader);
    return respond(std::move(response));
  }
  if (path == "/readyz") {
    if (method != "GET") return respond(error_response(405, "method_not_allowed", "use GET"));
    const auto view = node_.cluster();
    const bool caught_up = view.commit_index >= view.leader_commit_index;
    const bool ready = view.voting && view.sees_quorum && caught_up && view.leader != 0;
    auto response = json_response(ready ? 200 : 503, {{"ready", ready},
                                                      {"voting", view.voting},
                                                      {"sees_quorum", view.sees_quorum},
                                                      {"caught_up", caught_up},
                                                      {"role", view.role},
                                                      {"leader", view.leader},
                                                      {"commit_index", view.commit_index},
                                                      {"leader_commit_index", view.leader_commit_index}});
    stamp(response, view.applied_revision, view.leader);
    return respond(std::move(response));
  }
  if (path == "/v1/cluster") {
    if (method != "GET") return respond(error_response(405, "method_not_allowed", "use GET"));
    const auto view = node_.cluster();
    json members = json::array();
    json leader = nullptr;
    for (const auto& m : view.members) {
      json member = {{"id", m.id},         {"peer_addr", m.peer_addr},         {"client_addr", m.client_addr},
                     {"self", m.self},     {"connected", m.connected},         {"chosen_through", m.chosen_through},
                     {"last_contact_ms", m.last_contact_ms}};
      if (m.id == view.leader) leader = {{"id", m.id}, {"client_addr", m.client_addr}, {"peer_addr", m.peer_addr}};
      members.push_back(std::move(member));
    }
    auto response = json_response(200, {{"leader", leader},
                                        {"members", members},
                                        {"self", view.self},
                                        {"role", view.role},
                                        {"ballot", {{"round", view.ballot_round}, {"node", view.ballot_node}}},
                                        {"commit_index", view.commit_index},
                                        {"applied_index", view.applied_revision},
                                        {"serving", view.serving}});
    stamp(response, view.applied_revision, view.leader);
    return respond(std::move(response));
  }
  if (path.rfind("/v1/kv/", 0) == 0) {
    // /v1/kv/a/b names the key /a/b: keys are absolute, ZooKeeper-style.
    std::string key;
    if (!percent_decode(std::string_view(path).substr(6), key)) {
      return respond(error_response(400, "bad_key", "the key has a malformed %-escape"));
    }
    if (key.empty() || key.size() > options_.key_bytes_max) {
      return respond(error_response(400, "bad_key", "keys are 1 to " + std::to_string(options_.key_bytes_max) + " bytes"));
    }
    if (method == "PUT") {
      ls::Put put;
      put.key = key;
      put.value = std::move(request.body);
      node_.propose(put, node_.new_client_id(), 1, [respond](Outcome outcome) mutable {
        answer(respond, outcome, [](const ls::Result& r) { return key_json(r.key, r.stat, nullptr); });
      });
      return;
    }
    if (method == "DELETE") {
      ls::DeleteKey del;
      del.key = key;
      node_.propose(del, node_.new_client_id(), 1, [respond](Outcome outcome) mutable {
        answer(respond, outcome, [](const ls::Result& r) { return json{{"deleted", r.count}}; });
      });
      return;
    }
    if (method == "GET") {
      const bool stale = has_flag(request.query, "stale");
      node_.read(stale, [respond, key](const ReadContext& context) mutable {
        if (!context.ok) {
          auto response = error_response(503, "not_leader", "this node cannot serve a linearizable read now");
          stamp(response, context.revision, context.leader);
          return respond(std::move(response));
        }
        const auto found = context.machine->get(key);
        Response response = found ? json_response(200, key_json(found->key, found->stat, &found->value))
                                  : error_response(404, "not_found", "no key " + key);
        stamp(response, context.revision, context.leader);
        respond(std::move(response));
      });
      return;
    }
    return respond(error_response(405, "method_not_allowed", "use GET, PUT or DELETE"));
  }
  respond(error_response(404, "no_route", "no route for " + method + " " + path));
}

}  // namespace synod::http
