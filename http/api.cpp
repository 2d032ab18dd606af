// The client API's execution (api.h): decoded requests against the node.
#include "http/api.h"

#include <chrono>
#include <nlohmann/json.hpp>

namespace synod::http {

using json = nlohmann::json;
namespace ls = synod::lockservice;

namespace {

// What this process last reported, for the refusals the server makes before
// the Api sees a request (error_response has no node to ask).
std::atomic<uint64_t> g_last_index{0};
std::atomic<uint32_t> g_last_leader{0};

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

std::string dump(const json& body) {
  // Every string we put in JSON is UTF-8 (values that are not go out as
  // base64); replace is the belt to that brace, never a throw.
  return body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

Response json_response(int status, const json& body) {
  Response response;
  response.status = status;
  response.body = dump(body);
  return response;
}

void stamp(Response& response, uint64_t revision, uint32_t leader) {
  g_last_index.store(revision, std::memory_order_relaxed);
  g_last_leader.store(leader, std::memory_order_relaxed);
  response.set_header("x-synod-index", std::to_string(revision));
  response.set_header("x-synod-leader", std::to_string(leader));
}

bool retryable_code(std::string_view code) {
  static constexpr std::string_view kRetryable[] = {
      "not_leader", "no_quorum",        "leader_unreachable", "busy",           "unknown_outcome", "stopping",
      "timed_out",  "too_many_streams", "too_many_forwards",  "too_many_connections", "conflict", "lock_delay",
      "validity_low", "limit_exceeded"};
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
  }
  return 400;
}

std::string session_string(ls::SessionId id) { return std::to_string(id); }

// "value" as a string when it is UTF-8, else base64, and "encoding" says which.
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

json key_json(const ls::KeyView& view) {
  json body = stat_json(view.key, view.stat);
  put_value(body, view.value);
  return body;
}

const char* space_name(ls::Space space) {
  switch (space) {
    case ls::Space::key: return "key";
    case ls::Space::lock: return "lock";
    case ls::Space::election: return "election";
    case ls::Space::session: return "session";
  }
  return "key";
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
  if (view && view->leader != ls::kNoSession) {
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

// One server-sent event.
std::string sse(std::string_view type, uint64_t id, const json& data) {
  std::string out;
  if (id != 0) out += "id: " + std::to_string(id) + "\n";
  out += "event: ";
  out += type;
  out += "\ndata: ";
  out += data.dump(-1, ' ', false, json::error_handler_t::replace);
  out += "\n\n";
  return out;
}

std::optional<std::pair<std::string, uint16_t>> split_address(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  const std::string port = address.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  const int value = std::stoi(port);
  if (value <= 0 || value > 65535) return std::nullopt;
  return std::make_pair(address.substr(0, colon), static_cast<uint16_t>(value));
}

}  // namespace

Response error_response(int status, std::string_view code, std::string_view message) {
  json body = {{"error", {{"code", code}, {"message", message}, {"retryable", retryable_code(code)}}}};
  Response response = json_response(status, body);
  response.set_header("x-synod-index", std::to_string(g_last_index.load(std::memory_order_relaxed)));
  response.set_header("x-synod-leader", std::to_string(g_last_leader.load(std::memory_order_relaxed)));
  return response;
}

// ============================================================== the executor

struct Api::Impl {
  Impl(NodeApi& n, ApiOptions o) : node(n), options(std::move(o)) {}

  // One request in flight.
  struct Call {
    ApiRequest req;
    std::string method, target, body, content_type;
    Responder respond;
    ClusterView view;
    ls::ClientId client_id = 0;
    uint64_t seq = 1;
    uint32_t handed_to = 0;  // the leader this follower's node handed the command to
    explicit Call(Responder r) : respond(std::move(r)) {}
  };
  using CallPtr = std::shared_ptr<Call>;
  using Build = std::function<Response(const ReadContext&)>;

  NodeApi& node;
  ApiOptions options;
  std::atomic<uint32_t> last_leader{0};

  void handle(Request&& request, Responder respond);
  void execute(const CallPtr& c);

  // ---- answering ----
  void reply(const CallPtr& c, Response response, uint64_t revision, uint32_t leader) {
    stamp(response, revision, leader);
    if (c->handed_to != 0) response.set_header("x-synod-forwarded-to", std::to_string(c->handed_to));
    c->respond(std::move(response));
  }
  void fail(const CallPtr& c, int status, std::string_view code, std::string_view message, uint64_t revision,
            uint32_t leader) {
    reply(c, error_response(status, code, message), revision, leader);
  }
  void answer_result(const CallPtr& c, const ls::Result& result, uint64_t revision, uint32_t leader,
                     const std::function<json(const ls::Result&)>& ok_body);
  // 503: this node cannot serve it; names the last leader it knew.
  void unavailable(const CallPtr& c, std::string_view code, const std::string& why);
  std::string member_address(const ClusterView& view, uint32_t id) const {
    for (const auto& m : view.members)
      if (m.id == id) return m.client_addr;
    return {};
  }

  // ---- reaching the leader ----
  bool leads(const ClusterView& view) const { return view.role == "leader"; }
  // Runs `local` here if this node leads, else forwards (or refuses).
  void to_leader(const CallPtr& c, const std::function<void()>& local);
  // For commands and keep-alives: runs `local` if a leader is known, here or
  // elsewhere; a follower's node then hands them to the leader over the peer
  // link, which is cheaper than forwarding the HTTP request.
  void via_node(const CallPtr& c, const std::function<void()>& local);
  void forward(const CallPtr& c, uint32_t leader);
  void not_leader(const CallPtr& c, uint32_t leader, uint64_t revision);
  void propose(const CallPtr& c, ls::Command command, std::function<void(const Outcome&)> applied);
  void read(const CallPtr& c, Build build);
  void stale_headers(const CallPtr& c, Response& response) const;

  // ---- waiting ----
  void wait_for_event(const CallPtr& c, uint64_t after, ls::EventFilter filter,
                      std::function<bool(const ls::Event&)> match, int64_t deadline_ms, std::function<void()> then);
  void await_grant(const CallPtr& c, uint64_t after, int64_t deadline_ms, bool answer_queued_at_deadline);

  // ---- the operations ----
  void cluster(const CallPtr& c);
  void healthz(const CallPtr& c);
  void readyz(const CallPtr& c);
  void write(const CallPtr& c, std::function<json(const ls::Result&)> ok_body);
  void keepalive(const CallPtr& c);
  void keepalive_refused(const CallPtr& c, uint32_t leader);
  void acquire(const CallPtr& c);
  json grant_json(const CallPtr& c, const ls::Result& result) const;
  void session_get(const CallPtr& c);
  void session_list(const CallPtr& c);
  void lock_get(const CallPtr& c);
  void lock_validate(const CallPtr& c);
  void election_get(const CallPtr& c);
  void kv_get(const CallPtr& c);
  void txn(const CallPtr& c);

  // ---- streams ----
  struct Feed;
  void watch(const CallPtr& c);
  void observe(const CallPtr& c);
  void session_events(const CallPtr& c);
  void start_feed(const CallPtr& c, std::shared_ptr<Feed> feed, std::vector<std::string> first, uint64_t after);
  void pump(std::shared_ptr<Feed> feed, uint64_t after);
};

// ------------------------------------------------------------------ handling

void Api::Impl::handle(Request&& request, Responder respond) {
  auto c = std::make_shared<Call>(std::move(respond));
  c->view = node.cluster();
  if (c->view.leader != 0) last_leader.store(c->view.leader);
  const RawRequest raw{request.method,
                       request.path,
                       request.query,
                       request.body,
                       request.header("idempotency-key"),
                       request.header("x-synod-forwarded"),
                       request.header("last-event-id")};
  Decoded decoded = decode_request(raw, options.decode);
  if (!decoded.request) {
    Response response = error_response(decoded.error.status, decoded.error.code, decoded.error.message);
    if (!decoded.error.allow.empty()) response.set_header("allow", decoded.error.allow);
    return reply(c, std::move(response), c->view.applied_revision, c->view.leader);
  }
  c->req = std::move(*decoded.request);
  c->method = std::move(request.method);
  c->target = std::move(request.target);
  c->content_type = std::string(request.header("content-type"));
  if (c->req.op == Op::kv_put) c->body = std::move(request.body);  // the only body a forward needs raw
  else c->body = std::string(raw.body);
  if (!c->req.idempotency_key.empty()) {
    c->client_id = idempotency_client_id(c->req.idempotency_key);
  } else if (c->req.command) {
    c->client_id = node.new_client_id();
  }
  execute(c);
}

void Api::Impl::execute(const CallPtr& c) {
  switch (c->req.op) {
    case Op::healthz: return healthz(c);
    case Op::readyz: return readyz(c);
    case Op::cluster_get: return cluster(c);
    case Op::session_create:
      return write(c, [](const ls::Result& r) {
        return json{{"session", session_string(r.session)}, {"valid_for_ms", r.valid_for_ms}};
      });
    case Op::session_delete:
      return write(c, [](const ls::Result& r) { return json{{"session", session_string(r.session)}, {"deleted", true}}; });
    case Op::session_keepalive: return keepalive(c);
    case Op::session_get: return session_get(c);
    case Op::session_list: return session_list(c);
    case Op::session_events: return session_events(c);
    case Op::lock_acquire:
    case Op::election_campaign: return acquire(c);
    case Op::lock_release:
      return write(c, [c](const ls::Result& r) {
        json body = {{"lock", c->req.name}, {"session", session_string(r.session)}, {"released", true}};
        if (r.token != 0) body["token"] = r.token;
        else body["was_waiting"] = true;
        return body;
      });
    case Op::lock_get: return lock_get(c);
    case Op::lock_validate: return lock_validate(c);
    case Op::election_proclaim:
      return write(c, [c](const ls::Result& r) {
        return json{{"election", c->req.name}, {"session", session_string(r.session)}, {"token", r.token}};
      });
    case Op::election_resign:
      return write(c, [c](const ls::Result& r) {
        json body = {{"election", c->req.name}, {"session", session_string(r.session)}, {"resigned", true}};
        if (r.token != 0) body["token"] = r.token;
        return body;
      });
    case Op::election_get: return election_get(c);
    case Op::election_observe: return observe(c);
    case Op::kv_put: return write(c, [](const ls::Result& r) { return stat_json(r.key, r.stat); });
    case Op::kv_get: return kv_get(c);
    case Op::kv_delete:
      return write(c, [c](const ls::Result& r) { return json{{"key", c->req.name}, {"deleted", r.count}}; });
    case Op::txn: return txn(c);
    case Op::watch: return watch(c);
  }
}

void Api::Impl::answer_result(const CallPtr& c, const ls::Result& result, uint64_t revision, uint32_t leader,
                              const std::function<json(const ls::Result&)>& ok_body) {
  if (result.status == ls::Status::ok) return reply(c, json_response(200, ok_body(result)), revision, leader);
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
  reply(c, json_response(status_for(result.status), body), revision, leader);
}

void Api::Impl::unavailable(const CallPtr& c, std::string_view code, const std::string& why) {
  const uint32_t last = last_leader.load();
  std::string message = why;
  json body = {{"error", {{"code", code}, {"retryable", true}}}};
  if (last != 0) {
    const std::string address = member_address(c->view, last);
    message += "; the last leader this node knew is node " + std::to_string(last) +
               (address.empty() ? std::string() : " (" + address + ")");
    body["last_leader"] = {{"id", last}, {"client_addr", address}};
  } else {
    message += "; this node has not known a leader";
    body["last_leader"] = nullptr;
  }
  body["error"]["message"] = message;
  Response response = json_response(503, body);
  response.set_header("x-synod-last-leader", std::to_string(last));
  response.set_header("retry-after", "1");
  reply(c, std::move(response), c->view.applied_revision, c->view.leader);
}

// ---------------------------------------------------------- reaching the leader

void Api::Impl::to_leader(const CallPtr& c, const std::function<void()>& local) {
  const ClusterView& view = c->view;
  if (leads(view)) return local();
  if (!view.sees_quorum || view.leader == 0 || view.leader == view.self) {
    return unavailable(c, "no_quorum", "node " + std::to_string(view.self) + " sees no quorum and no leader");
  }
  if (c->req.forwarded) return not_leader(c, view.leader, view.applied_revision);
  forward(c, view.leader);
}

void Api::Impl::via_node(const CallPtr& c, const std::function<void()>& local) {
  const ClusterView& view = c->view;
  if (leads(view)) return local();
  if (view.sees_quorum && view.leader != 0 && view.leader != view.self && !c->req.forwarded) {
    c->handed_to = view.leader;
    return local();
  }
  to_leader(c, local);  // no quorum, no leader: the same refusals
}

void Api::Impl::not_leader(const CallPtr& c, uint32_t leader, uint64_t revision) {
  if (leader != 0 && leader != c->view.self && !c->req.forwarded && c->view.sees_quorum) return forward(c, leader);
  if (c->req.forwarded) {
    // Forwarded here because this node led a moment ago: never a second hop.
    Response response = error_response(503, "not_leader",
                                       "node " + std::to_string(c->view.self) + " no longer leads" +
                                           (leader != 0 ? "; the leader is node " + std::to_string(leader) : ""));
    response.set_header("retry-after", "1");
    return reply(c, std::move(response), revision, leader);
  }
  unavailable(c, "not_leader", "node " + std::to_string(c->view.self) + " does not lead and knows no leader");
}

void Api::Impl::forward(const CallPtr& c, uint32_t leader) {
  const auto address = split_address(member_address(c->view, leader));
  if (!address) return unavailable(c, "leader_unreachable", "the leader's client address is unknown");
  Outbound out;
  out.host = address->first;
  out.port = address->second;
  out.method = c->method;
  out.target = c->target;
  out.body = c->body;
  if (!c->content_type.empty()) out.headers.push_back(Header{"content-type", c->content_type});
  if (!c->req.idempotency_key.empty()) out.headers.push_back(Header{"idempotency-key", c->req.idempotency_key});
  out.headers.push_back(Header{"x-synod-forwarded", std::to_string(c->view.self)});
  out.timeout_ms = options.forward_timeout_ms + c->req.wait_ms + options.grant_margin_ms;
  c->respond.forward(std::move(out), [this, c, leader](ForwardResult result) {
    switch (result.kind) {
      case ForwardResult::Kind::ok:
        result.response.set_header("x-synod-forwarded-to", std::to_string(leader));
        return c->respond(std::move(result.response));
      case ForwardResult::Kind::busy:
        return fail(c, 429, "too_many_forwards", result.detail, c->view.applied_revision, c->view.leader);
      case ForwardResult::Kind::unreachable:
        return unavailable(c, "leader_unreachable", "the leader could not be reached: " + result.detail);
      case ForwardResult::Kind::lost:
        if (!c->req.command) {
          return unavailable(c, "leader_unreachable", "the leader did not answer: " + result.detail);
        }
        return fail(c, 504, "unknown_outcome",
                    "the leader did not answer, so the write may or may not have taken effect (retry with the same "
                    "Idempotency-Key to find out): " + result.detail,
                    c->view.applied_revision, c->view.leader);
    }
  });
}

void Api::Impl::propose(const CallPtr& c, ls::Command command, std::function<void(const Outcome&)> applied) {
  node.propose(std::move(command), c->client_id, c->seq, [this, c, applied = std::move(applied)](Outcome outcome) {
    switch (outcome.kind) {
      case Outcome::Kind::applied: return applied(outcome);
      case Outcome::Kind::not_leader: return not_leader(c, outcome.leader, outcome.revision);
      case Outcome::Kind::busy:
        return fail(c, 503, "busy", "the leader's queue is full; try again", outcome.revision, outcome.leader);
      case Outcome::Kind::stopping:
        return fail(c, 503, "stopping", "the node is shutting down; the write may or may not have taken effect",
                    outcome.revision, outcome.leader);
      case Outcome::Kind::timeout:
        return fail(c, 504, "unknown_outcome",
                    "no answer in time: the write may or may not have taken effect (retry with the same "
                    "Idempotency-Key to find out)",
                    outcome.revision, outcome.leader);
    }
  });
}

void Api::Impl::stale_headers(const CallPtr& c, Response& response) const {
  const ClusterView& view = c->view;
  const int64_t stale_ms = leads(view) && view.lease_valid ? 0 : view.last_leader_contact_ms;
  response.set_header("x-synod-stale-ms", std::to_string(stale_ms));
  const uint64_t lag = view.leader_commit_index > view.commit_index ? view.leader_commit_index - view.commit_index : 0;
  response.set_header("x-synod-lag-slots", std::to_string(lag));
}

void Api::Impl::read(const CallPtr& c, Build build) {
  if (c->req.stale) {
    return node.read(true, [this, c, build = std::move(build)](const ReadContext& context) {
      Response response = build(context);
      stale_headers(c, response);
      reply(c, std::move(response), context.revision, context.leader);
    });
  }
  to_leader(c, [this, c, build] {
    node.read(false, [this, c, build](const ReadContext& context) {
      if (!context.ok) return not_leader(c, context.leader, context.revision);
      reply(c, build(context), context.revision, context.leader);
    });
  });
}

// ------------------------------------------------------------------- waiting

void Api::Impl::wait_for_event(const CallPtr& c, uint64_t after, ls::EventFilter filter,
                               std::function<bool(const ls::Event&)> match, int64_t deadline_ms,
                               std::function<void()> then) {
  const int64_t remaining = std::max<int64_t>(0, deadline_ms - now_ms());
  node.wait_for(after, remaining, [this, c, after, filter, match, deadline_ms, then](const ReadContext& context) {
    // Scan what came after `after`, a bounded number of pages per wake-up.
    uint64_t scanned = after;
    for (int page = 0; page < 16; ++page) {
      const ls::Events events = context.machine->events(scanned, filter, options.stream_batch_events_max);
      if (events.status == ls::Status::compacted) return then();  // cannot tell: answer now
      for (const auto& event : events.events)
        if (match(event)) return then();
      if (events.next_index <= scanned) break;
      scanned = events.next_index;
      if (scanned >= context.revision) break;
    }
    if (now_ms() >= deadline_ms) return then();
    wait_for_event(c, std::max(scanned, context.revision), filter, match, deadline_ms, then);
  });
}

json Api::Impl::grant_json(const CallPtr& c, const ls::Result& result) const {
  const bool created = c->req.command && std::holds_alternative<ls::CreateSessionAnd>(*c->req.command);
  const bool election = c->req.op == Op::election_campaign;
  json body = {{election ? "election" : "lock", c->req.name}, {"session", session_string(result.session)}};
  if (result.status == ls::Status::ok) {
    if (election) body["leader"] = true;
    body["token"] = result.token;
    body["valid_for_ms"] = result.valid_for_ms;
  } else {
    body[election ? "candidate" : "queued"] = true;
    body["position"] = result.position;
  }
  body["session_created"] = created;
  return body;
}

// A queued acquire or campaign: its exactly-once record is updated when it
// is granted, times out or is cancelled (lockservice/state_machine.h).
void Api::Impl::await_grant(const CallPtr& c, uint64_t after, int64_t deadline_ms, bool answer_queued_at_deadline) {
  const int64_t remaining = std::max<int64_t>(0, deadline_ms - now_ms());
  node.wait_for(after, remaining, [this, c, deadline_ms, answer_queued_at_deadline](const ReadContext& context) {
    const ls::Result* record = context.machine->recorded(c->client_id, c->seq);
    if (record && record->status != ls::Status::queued) {
      if (record->status == ls::Status::ok) {
        return reply(c, json_response(200, grant_json(c, *record)), context.revision, context.leader);
      }
      return answer_result(c, *record, context.revision, context.leader, nullptr);
    }
    if (now_ms() < deadline_ms) return await_grant(c, context.revision, deadline_ms, answer_queued_at_deadline);
    // The HTTP wait ended first: say where the request stands now.
    ls::Result where;
    where.status = ls::Status::queued;
    where.session = c->req.session;
    const auto waiters = c->req.op == Op::election_campaign
                             ? (context.machine->election(c->req.name) ? context.machine->election(c->req.name)->candidates
                                                                       : std::vector<ls::WaiterView>{})
                             : (context.machine->lock(c->req.name) ? context.machine->lock(c->req.name)->waiters
                                                                   : std::vector<ls::WaiterView>{});
    if (record) where.session = record->session;
    for (size_t i = 0; i < waiters.size(); ++i)
      if (waiters[i].session == where.session) where.position = i + 1;
    if (!answer_queued_at_deadline || where.position == 0) {
      where.status = ls::Status::timed_out;
      where.message = "the wait ended without a grant";
      return answer_result(c, where, context.revision, context.leader, nullptr);
    }
    reply(c, json_response(202, grant_json(c, where)), context.revision, context.leader);
  });
}

// ---------------------------------------------------------------- operations

void Api::Impl::healthz(const CallPtr& c) {
  reply(c, json_response(200, {{"status", "ok"}, {"node", c->view.self}}), c->view.applied_revision, c->view.leader);
}

void Api::Impl::readyz(const CallPtr& c) {
  const ClusterView& view = c->view;
  const bool caught_up = view.commit_index >= view.leader_commit_index;
  const bool ready = view.voting && view.sees_quorum && caught_up && view.leader != 0;
  reply(c,
        json_response(ready ? 200 : 503, {{"ready", ready},
                                          {"voting", view.voting},
                                          {"sees_quorum", view.sees_quorum},
                                          {"caught_up", caught_up},
                                          {"role", view.role},
                                          {"leader", view.leader},
                                          {"commit_index", view.commit_index},
                                          {"leader_commit_index", view.leader_commit_index}}),
        view.applied_revision, view.leader);
}

void Api::Impl::cluster(const CallPtr& c) {
  const ClusterView& view = c->view;
  json members = json::array();
  json leader = nullptr;
  for (const auto& m : view.members) {
    members.push_back({{"id", m.id},
                       {"peer_addr", m.peer_addr},
                       {"client_addr", m.client_addr},
                       {"self", m.self},
                       {"connected", m.connected},
                       {"chosen_through", m.chosen_through},
                       {"last_contact_ms", m.last_contact_ms}});
    if (m.id == view.leader) leader = {{"id", m.id}, {"client_addr", m.client_addr}, {"peer_addr", m.peer_addr}};
  }
  reply(c,
        json_response(200, {{"leader", leader},
                             {"members", members},
                             {"self", view.self},
                             {"role", view.role},
                             {"ballot", {{"round", view.ballot_round}, {"node", view.ballot_node}}},
                             {"commit_index", view.commit_index},
                             {"leader_commit_index", view.leader_commit_index},
                             {"applied_index", view.applied_revision},
                             {"serving", view.serving},
                             {"sees_quorum", view.sees_quorum},
                             {"last_leader_contact_ms", view.last_leader_contact_ms},
                             {"last_leader", last_leader.load()}}),
        view.applied_revision, view.leader);
}

void Api::Impl::write(const CallPtr& c, std::function<json(const ls::Result&)> ok_body) {
  via_node(c, [this, c, ok_body = std::move(ok_body)] {
    propose(c, *c->req.command, [this, c, ok_body](const Outcome& outcome) {
      answer_result(c, outcome.result, outcome.revision, outcome.leader, ok_body);
    });
  });
}

void Api::Impl::keepalive(const CallPtr& c) {
  via_node(c, [this, c] {
    node.keep_alive(c->req.session, [this, c](KeepAliveOutcome outcome) {
      switch (outcome.kind) {
        case KeepAliveOutcome::Kind::ok:
          return reply(c,
                       json_response(200, {{"session", session_string(c->req.session)},
                                           {"valid_for_ms", outcome.valid_for_ms}}),
                       c->view.applied_revision, outcome.leader);
        case KeepAliveOutcome::Kind::expired: return keepalive_refused(c, outcome.leader);
        case KeepAliveOutcome::Kind::not_leader: return not_leader(c, outcome.leader, c->view.applied_revision);
      }
    });
  });
}

// The leader found no live session: 404 not_found if the id was never one
// (ls::SessionHistory::never), session_expired if it ended or nobody can tell.
// The local replica decides ids it has applied exactly (every replica holds
// the same event window at a revision). An id above its revision is decided
// only where this node's own keeper refused it: a leader has applied every
// session a client can have been told of. Elsewhere the node may simply lag.
void Api::Impl::keepalive_refused(const CallPtr& c, uint32_t leader) {
  node.read(true, [this, c, leader](const ReadContext& context) {
    const ls::SessionId id = c->req.session;
    const bool decidable = id <= context.revision || leader == c->view.self;
    if (decidable && context.machine->session_history(id) == ls::SessionHistory::never) {
      return fail(c, 404, "not_found", "no session " + session_string(id) + " ever existed", context.revision, leader);
    }
    fail(c, 404, "session_expired", "the session is gone (expired or deleted)", context.revision, leader);
  });
}

void Api::Impl::acquire(const CallPtr& c) {
  // A waiting acquire long-polls for its grant on the node that answers it:
  // the leader sees the grant first, so it goes there; a try needs no wait.
  const auto route = c->req.wait_ms == 0 ? &Impl::via_node : &Impl::to_leader;
  (this->*route)(c, [this, c] {
    const int64_t started = now_ms();
    propose(c, *c->req.command, [this, c, started](const Outcome& outcome) {
      const ls::Result& result = outcome.result;
      if (result.status == ls::Status::ok) {
        return reply(c, json_response(200, grant_json(c, result)), outcome.revision, outcome.leader);
      }
      if (result.status != ls::Status::queued) {
        return answer_result(c, result, outcome.revision, outcome.leader, nullptr);
      }
      c->req.session = result.session;
      if (c->req.wait_ms == 0) {
        return reply(c, json_response(202, grant_json(c, result)), outcome.revision, outcome.leader);
      }
      // A timed wait is ended by the lock service (timed_out); the HTTP wait
      // lasts a margin longer so that it is. A queue or a campaign stays
      // queued after the HTTP wait: that answers 202 with the position.
      const auto* acquire = std::get_if<ls::Acquire>(&*c->req.command);
      const auto* both = std::get_if<ls::CreateSessionAnd>(&*c->req.command);
      const ls::Acquire* inner = acquire ? acquire : both ? std::get_if<ls::Acquire>(&both->then) : nullptr;
      const bool timed = inner && inner->wait == ls::WaitMode::timeout;
      const int64_t deadline = started + c->req.wait_ms + (timed ? options.grant_margin_ms : 0);
      await_grant(c, outcome.revision, deadline, !timed);
    });
  });
}

void Api::Impl::session_get(const CallPtr& c) {
  read(c, [c](const ReadContext& context) {
    const auto view = context.machine->session(c->req.session);
    if (!view) return error_response(404, "not_found", "no session " + std::to_string(c->req.session));
    return json_response(200, session_json(*view));
  });
}

void Api::Impl::session_list(const CallPtr& c) {
  read(c, [c](const ReadContext& context) {
    auto views = context.machine->sessions(c->req.after_session, c->req.limit + 1);
    const bool more = views.size() > c->req.limit;
    if (more) views.resize(c->req.limit);
    json sessions = json::array();
    for (const auto& view : views) sessions.push_back(session_json(view));
    return json_response(200, {{"sessions", sessions}, {"more", more}});
  });
}

void Api::Impl::lock_get(const CallPtr& c) {
  read(c, [c](const ReadContext& context) {
    return json_response(200, lock_json(c->req.name, context.machine->lock(c->req.name), context.machine->log_time_ms()));
  });
}

void Api::Impl::lock_validate(const CallPtr& c) {
  read(c, [c](const ReadContext& context) {
    const bool valid = context.machine->validate_token(c->req.name, c->req.token);
    json body = {{"lock", c->req.name}, {"token", c->req.token}, {"valid", valid}};
    if (const auto view = context.machine->lock(c->req.name)) {
      json current = json::array();
      for (const auto& h : view->holders) current.push_back(h.token);
      body["current_tokens"] = current;
    } else {
      body["current_tokens"] = json::array();
    }
    return json_response(200, body);
  });
}

void Api::Impl::election_get(const CallPtr& c) {
  auto answer = [this, c] {
    read(c, [c](const ReadContext& context) {
      return json_response(200, election_json(c->req.name, context.machine->election(c->req.name)));
    });
  };
  if (!c->req.index) return answer();
  const std::string name = c->req.name;
  wait_for_event(
      c, *c->req.index, ls::EventFilter{ls::Space::election, name},
      [name](const ls::Event& e) {
        return e.name == name && (e.type == ls::EventType::leader || e.type == ls::EventType::proclaimed ||
                                  e.type == ls::EventType::no_leader);
      },
      now_ms() + c->req.wait_ms, answer);
}

void Api::Impl::kv_get(const CallPtr& c) {
  auto answer = [this, c] {
    read(c, [c](const ReadContext& context) {
      if (c->req.recurse) {
        // The key and every key under key + "/"; "" lists the whole space.
        const std::string& key = c->req.name;
        json keys = json::array();
        bool more = false;
        if (!key.empty() && c->req.after.empty()) {
          if (auto self = context.machine->get(key)) keys.push_back(key_json(*self));
        }
        const std::string prefix = key + "/";
        const std::string after = c->req.after > prefix ? c->req.after : std::string();
        const size_t room = c->req.limit > keys.size() ? c->req.limit - keys.size() : 0;
        if (room > 0) {
          const auto list = context.machine->list(prefix, after, room);
          for (const auto& view : list.keys) keys.push_back(key_json(view));
          more = list.more;
        } else {
          more = true;
        }
        return json_response(200, {{"keys", keys}, {"more", more}});
      }
      const auto found = context.machine->get(c->req.name);
      if (!found) return error_response(404, "not_found", "no key " + c->req.name);
      if (c->req.raw) {
        Response response;
        response.content_type = "application/octet-stream";
        response.body = found->value;
        response.set_header("x-synod-modify-index", std::to_string(found->stat.modify_index));
        return response;
      }
      return json_response(200, key_json(*found));
    });
  };
  if (!c->req.index) return answer();
  const std::string key = c->req.name;
  const bool recurse = c->req.recurse;
  wait_for_event(
      c, *c->req.index, ls::EventFilter{ls::Space::key, key},
      [key, recurse](const ls::Event& e) {
        return e.name == key || (recurse && e.name.size() > key.size() && e.name[key.size()] == '/');
      },
      now_ms() + c->req.wait_ms, answer);
}

void Api::Impl::txn(const CallPtr& c) {
  write(c, [c](const ls::Result& r) {
    const auto& ops = std::get<ls::Txn>(*c->req.command).ops;
    json out = json::array();
    for (size_t i = 0; i < r.ops.size() && i < ops.size(); ++i) {
      const auto& op = r.ops[i];
      if (std::holds_alternative<ls::Put>(ops[i])) {
        json item = stat_json(op.key, op.stat);
        item["op"] = "put";
        out.push_back(std::move(item));
      } else {
        out.push_back({{"op", "delete"}, {"key", op.key}, {"deleted", op.deleted}});
      }
    }
    return json{{"ops", out}};
  });
}

// ------------------------------------------------------------------- streams

// A stream fed from the event window: which events it wants, how to write
// them, and when it ends.
struct Api::Impl::Feed {
  std::shared_ptr<Stream> stream;
  ls::EventFilter filter;
  std::function<bool(const ls::Event&)> wanted;
  std::function<std::string(const ls::Event&)> format;
  std::function<bool(const ls::Event&)> last;  // the stream ends after this event
};

void Api::Impl::start_feed(const CallPtr& c, std::shared_ptr<Feed> feed, std::vector<std::string> first,
                           uint64_t after) {
  Response head;
  head.content_type = "text/event-stream";
  stamp(head, after, c->view.leader);
  feed->stream = c->respond.stream(std::move(head));
  if (!feed->stream) {
    return fail(c, 429, "too_many_streams", "the node serves its maximum number of streams", c->view.applied_revision,
                c->view.leader);
  }
  for (auto& event : first) feed->stream->send(std::move(event));
  pump(std::move(feed), after);
}

// One turn of a stream: wait for revisions after `after`, copy the events on
// the owner thread, format and send them on the stream's thread, go again.
void Api::Impl::pump(std::shared_ptr<Feed> feed, uint64_t after) {
  if (!feed->stream->open()) return;
  node.wait_for(after, options.stream_poll_ms, [this, feed, after](const ReadContext& context) {
    if (!feed->stream->open()) return;
    auto events = std::make_shared<ls::Events>(context.machine->events(after, feed->filter, options.stream_batch_events_max));
    feed->stream->post([this, feed, events, after] {
      if (events->status == ls::Status::compacted) {
        // Never a silent gap: say so, and end the stream; the client re-reads
        // the state and resumes from next_index.
        feed->stream->send(sse("compacted", 0,
                               {{"compacted_index", events->compacted_revision},
                                {"next_index", events->next_index},
                                {"message", "events after your index were dropped from the window: re-read the "
                                            "state, then resume from next_index"}}));
        return feed->stream->close();
      }
      for (const auto& event : events->events) {
        if (!feed->wanted(event)) continue;
        if (!feed->stream->send(feed->format(event))) return;
        if (feed->last && feed->last(event)) return feed->stream->close();
      }
      pump(feed, std::max(after, events->next_index));
    });
  });
}

void Api::Impl::watch(const CallPtr& c) {
  auto feed = std::make_shared<Feed>();
  if (c->req.watch_space) feed->filter.space = *c->req.watch_space;
  feed->filter.prefix = c->req.name;
  feed->wanted = [](const ls::Event&) { return true; };
  feed->format = [](const ls::Event& e) { return sse(ls::event_type_name(e.type), e.revision, event_json(e)); };
  // Without an index the watch starts now: at the revision this node applied.
  const uint64_t after = c->req.index.value_or(c->view.applied_revision);
  start_feed(c, feed, {}, after);
}

void Api::Impl::observe(const CallPtr& c) {
  const std::string name = c->req.name;
  auto feed = std::make_shared<Feed>();
  feed->filter = ls::EventFilter{ls::Space::election, name};
  feed->wanted = [name](const ls::Event& e) {
    return e.name == name && (e.type == ls::EventType::leader || e.type == ls::EventType::proclaimed ||
                              e.type == ls::EventType::no_leader);
  };
  feed->format = [](const ls::Event& e) { return sse(ls::event_type_name(e.type), e.revision, event_json(e)); };
  if (c->req.index) return start_feed(c, feed, {}, *c->req.index);
  // First the state as it is (leader or "no leader"), in the same shape as
  // the events that follow, then every change.
  node.read(true, [this, c, feed, name](const ReadContext& context) {
    const auto view = context.machine->election(name);
    ls::Event state;
    state.revision = context.revision;
    state.space = ls::Space::election;
    state.name = name;
    state.type = ls::EventType::no_leader;
    if (view && view->leader != ls::kNoSession) {
      state.type = ls::EventType::leader;
      state.value = view->value;
      state.session = view->leader;
      state.token = view->token;
    }
    start_feed(c, feed, {feed->format(state)}, context.revision);
  });
}

void Api::Impl::session_events(const CallPtr& c) {
  const ls::SessionId id = c->req.session;
  auto feed = std::make_shared<Feed>();
  feed->wanted = [id](const ls::Event& e) { return e.session == id; };
  feed->format = [](const ls::Event& e) { return sse(ls::event_type_name(e.type), e.revision, event_json(e)); };
  feed->last = [id](const ls::Event& e) {
    return e.space == ls::Space::session && e.session == id &&
           (e.type == ls::EventType::deleted || e.type == ls::EventType::expired);
  };
  // Served from this replica: wait (briefly) until it has applied the index
  // the client names, so a session created a moment ago through the leader
  // is known here.
  const uint64_t index = c->req.index.value_or(0);
  node.wait_for(index == 0 ? 0 : index - 1, 2'000, [this, c, feed, id, index](const ReadContext& context) {
    const auto view = context.machine->session(id);
    if (!view) {
      return fail(c, 404, "not_found", "no session " + std::to_string(id) + " on this node", context.revision,
                  context.leader);
    }
    json state = session_json(*view);
    state["revision"] = context.revision;
    auto first = sse("session", context.revision, state);
    start_feed(c, feed, {std::move(first)}, index != 0 ? index : context.revision);
  });
}

// ------------------------------------------------------------------ the facade

Api::Api(NodeApi& node, ApiOptions options) : impl_(std::make_unique<Impl>(node, std::move(options))) {}
Api::~Api() = default;

void Api::handle(Request&& request, Responder respond) { impl_->handle(std::move(request), std::move(respond)); }

}  // namespace synod::http
