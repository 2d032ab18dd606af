// The client API's executor (api.h, api_impl.h): handling a request —
// decode, then one dispatch per operation — answering it, and the operations
// that are one plain read or write. Reaching the leader, long-polls and
// streams have their own files (api_impl.h lists them).
//
// Threads: handle() runs on an HTTP thread; the answers come from the node's
// owner thread (its callbacks) or from a forward's HTTP thread.
#include <algorithm>
#include <chrono>

#include "base/assert.h"
#include "http/api_impl.h"
#include "http/json_text.h"
#include "http/read_scope.h"

namespace synod::http {

namespace ls = synod::lockservice;
using views::json;
using views::json_response;
using views::session_string;

int64_t steady_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// ------------------------------------------------------------------ handling

void Api::Impl::handle(Request&& request, Responder respond) {
  auto c = std::make_shared<Call>(std::move(respond));
  c->view = node.cluster();
  if (c->view.leader != 0) last_leader.store(c->view.leader);
  // Over TLS a forward is believed only from a member's connection: a client
  // that claims one would be refused as if this node could not forward.
  const bool from_member = options.tls_cluster_id == 0 || !request.certificate_member.empty();
  const RawRequest raw{request.method,
                       request.path,
                       request.query,
                       request.body,
                       request.header("idempotency-key"),
                       from_member ? request.header("x-synod-forwarded") : std::string_view(),
                       request.header("last-event-id")};
  Decoded decoded = decode_request(raw, options.decode);
  if (!decoded.request) {
    Response response = views::error_body(decoded.error.status, decoded.error.code, decoded.error.message);
    if (!decoded.error.allow.empty()) response.set_header("allow", decoded.error.allow);
    return reply(c, std::move(response), c->view.applied_revision, c->view.leader);
  }
  c->req = std::move(*decoded.request);
  if (!take_credential(c, request)) return;
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

namespace {

// The 200 bodies of the plain writes, fields in name order.
std::string session_created(const ls::Result& r) {
  std::string text;
  JsonObjectText(text).field("session", session_string(r.session)).field("valid_for_ms", r.valid_for_ms).end();
  return text;
}
std::string session_deleted(const ls::Result& r) {
  std::string text;
  JsonObjectText(text).field("deleted", true).field("session", session_string(r.session)).end();
  return text;
}
std::string key_written(const ls::Result& r) { return views::stat_text(r.key, r.stat); }

std::string lock_released(const std::string& name, const ls::Result& r) {
  std::string text;
  text.reserve(96);
  JsonObjectText body(text);
  body.field("lock", name).field("released", true).field("session", session_string(r.session));
  if (r.token != 0) body.field("token", r.token);
  else body.field("was_waiting", true);
  body.end();
  return text;
}

std::string resigned(const std::string& name, const ls::Result& r) {
  std::string text;
  JsonObjectText body(text);
  body.field("election", name).field("resigned", true).field("session", session_string(r.session));
  if (r.token != 0) body.field("token", r.token);
  body.end();
  return text;
}

std::string proclaimed(const std::string& name, const ls::Result& r) {
  std::string text;
  JsonObjectText(text)
      .field("election", name)
      .field("session", session_string(r.session))
      .field("token", r.token)
      .end();
  return text;
}

std::string key_deleted(const std::string& name, const ls::Result& r) {
  std::string text;
  JsonObjectText(text).field("deleted", r.count).field("key", name).end();
  return text;
}

}  // namespace

void Api::Impl::execute(const CallPtr& c) {
  const std::string& name = c->req.name;
  switch (c->req.op) {
    case Op::healthz: return healthz(c);
    case Op::readyz: return readyz(c);
    case Op::cluster_get: return cluster(c);
    case Op::session_create: return write(c, session_created);
    case Op::session_delete: return write(c, session_deleted);
    case Op::session_keepalive: return keepalive(c);
    case Op::session_get: return session_get(c);
    case Op::session_list: return session_list(c);
    case Op::session_events:
      return gate_stream(c, [this, c] { session_events(c); });
    case Op::lock_acquire:
    case Op::election_campaign: return acquire(c);
    case Op::lock_release: return write(c, [c](const ls::Result& r) { return lock_released(c->req.name, r); });
    case Op::lock_get: return lock_get(c);
    case Op::lock_validate: return lock_validate(c);
    case Op::election_proclaim:
      return write(c, [name](const ls::Result& r) { return proclaimed(name, r); });
    case Op::election_resign: return write(c, [c](const ls::Result& r) { return resigned(c->req.name, r); });
    case Op::election_get: return election_get(c);
    case Op::election_observe:
      return gate_stream(c, [this, c] { observe(c); });
    case Op::kv_put: return write(c, key_written);
    case Op::kv_get: return kv_get(c);
    case Op::kv_delete:
      return write(c, [name](const ls::Result& r) { return key_deleted(name, r); });
    case Op::txn: return txn(c);
    case Op::watch:
      return gate_stream(c, [this, c] { watch(c); });
    case Op::auth_token_create:
    case Op::auth_token_list:
    case Op::auth_token_revoke:
    case Op::auth_rule_create:
    case Op::auth_rule_list:
    case Op::auth_rule_delete:
    case Op::auth_enable:
    case Op::auth_disable:
    case Op::auth_whoami:
    case Op::lock_force_release:
    case Op::election_force_release:
    case Op::lock_list:
      return auth_operation(c);
    case Op::snapshot_get:
      return snapshot_get(c);
    case Op::leader_transfer:
      return leader_transfer(c);
    case Op::members_list:
      return members_list(c);
    case Op::member_add:
    case Op::member_promote:
    case Op::member_remove:
      return member_change(c);
    case Op::znode_get_root:
    case Op::znode_get:
      return znode_get(c);
  }
  SYNOD_ASSERT_MSG(false, "an operation without an executor");
}

// ----------------------------------------------------------------- answering

void Api::Impl::stamp(Response& response, uint64_t revision, uint32_t leader) {
  reported.note(revision, leader);
  response.set_header("x-synod-index", std::to_string(revision));
  response.set_header("x-synod-leader", std::to_string(leader));
}

void Api::Impl::reply(const CallPtr& c, Response response, uint64_t revision, uint32_t leader) {
  stamp(response, revision, leader);
  if (c->handed_to != 0) response.set_header("x-synod-forwarded-to", std::to_string(c->handed_to));
  c->respond(std::move(response));
}

void Api::Impl::fail(const CallPtr& c, int status, std::string_view code, std::string_view message, uint64_t revision,
                     uint32_t leader) {
  reply(c, views::error_body(status, code, message), revision, leader);
}

void Api::Impl::answer_result(const CallPtr& c, const ls::Result& result, uint64_t revision, uint32_t leader,
                              const OkBody& ok_body) {
  if (result.status == ls::Status::ok) {
    SYNOD_ASSERT(ok_body);  // only a refusal may come without one
    return reply(c, views::json_text_response(200, ok_body(result)), revision, leader);
  }
  if (result.status == ls::Status::guard_failed && result.key.empty() &&
      (c->req.op == Op::kv_put || c->req.op == Op::kv_delete)) {
    // A key write's compare-and-set names the key's state, not its name
    // (the state machine's recorded result stays as it was): the request
    // knows the name.
    ls::Result named = result;
    named.key = c->req.name;
    return reply(c, json_response(412, views::result_error_json(named)), revision, leader);
  }
  reply(c, json_response(views::status_for(result.status), views::result_error_json(result)), revision, leader);
}

Response Api::Impl::refusal(int status, std::string_view code, std::string_view message) const {
  Response response = views::error_body(status, code, message);
  response.set_header("x-synod-index", std::to_string(reported.index()));
  response.set_header("x-synod-leader", std::to_string(reported.leader()));
  return response;
}

// ------------------------------------------------------- the plain operations

void Api::Impl::healthz(const CallPtr& c) {
  reply(c, json_response(200, {{"status", "ok"}, {"node", c->view.self}}), c->view.applied_revision, c->view.leader);
}

void Api::Impl::readyz(const CallPtr& c) {
  const ClusterView& view = c->view;
  const bool caught_up = view.commit_index >= view.leader_commit_index;
  // A voting member: not repairing, and a voter of the newest configuration (a learner is not ready).
  const bool voting = view.voting && std::find(view.voters.begin(), view.voters.end(), view.self) != view.voters.end();
  const bool ready = voting && view.sees_quorum && caught_up && view.leader != 0;
  reply(c,
        json_response(ready ? 200 : 503, {{"ready", ready},
                                          {"voting", voting},
                                          {"sees_quorum", view.sees_quorum},
                                          {"caught_up", caught_up},
                                          {"role", role_name(view.role)},
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
                            {"role", role_name(view.role)},
                            {"ballot", {{"round", view.ballot_round}, {"node", view.ballot_node}}},
                            {"commit_index", view.commit_index},
                            {"leader_commit_index", view.leader_commit_index},
                            {"applied_index", view.applied_revision},
                            {"serving", view.serving},
                            {"sees_quorum", view.sees_quorum},
                            {"last_leader_contact_ms", view.last_leader_contact_ms},
                            {"last_leader", last_leader.load()},
                            {"voters", view.voters},
                            {"learners", view.learners},
                            {"change_in_progress", view.change_in_progress},
                            {"cluster_id", view.cluster_id},
                            {"cluster_name", view.cluster_name},
                            {"version",
                             {{"synod", view.version.synod},
                              {"protocol", view.version.protocol},
                              {"storage_format", view.version.storage_format},
                              {"snapshot_format", view.version.snapshot_format},
                              {"backup_format", view.version.backup_format}}}}),
        view.applied_revision, view.leader);
}

void Api::Impl::write(const CallPtr& c, OkBody ok_body) {
  SYNOD_ASSERT(c->req.command);
  via_node(c, [this, c, ok_body = std::move(ok_body)] {
    propose(c, *c->req.command, [this, c, ok_body](const Outcome& outcome) {
      answer_result(c, outcome.result, outcome.revision, outcome.leader, ok_body);
    });
  });
}

void Api::Impl::keepalive(const CallPtr& c) {
  via_node(c, [this, c] {
    node.keep_alive(c->req.session, c->credential, [this, c](KeepAliveOutcome outcome) {
      switch (outcome.kind) {
        case KeepAliveOutcome::Kind::ok:
          return reply(c,
                       json_response(200, {{"session", session_string(c->req.session)},
                                           {"valid_for_ms", outcome.valid_for_ms}}),
                       c->view.applied_revision, outcome.leader);
        case KeepAliveOutcome::Kind::expired:
          return keepalive_refused(c, outcome.leader);
        case KeepAliveOutcome::Kind::unauthenticated:
          return fail(c, 401, "unauthenticated", "auth is on: this session's owner must send its token",
                      c->view.applied_revision, outcome.leader);
        case KeepAliveOutcome::Kind::permission_denied:
          return fail(c, 403, "permission_denied",
                      "session " + session_string(c->req.session) + " belongs to another principal",
                      c->view.applied_revision, outcome.leader);
        case KeepAliveOutcome::Kind::not_leader:
          return not_leader(c, outcome.leader, c->view.applied_revision);
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

void Api::Impl::session_get(const CallPtr& c) {
  read(c, [c](const ReadContext& context) {
    const auto view = context.machine->session(c->req.session);
    if (!view) return views::error_body(404, "not_found", "no session " + std::to_string(c->req.session));
    return json_response(200, views::session_json(*view));
  });
}

void Api::Impl::session_list(const CallPtr& c) {
  read(c, [c](const ReadContext& context) {
    auto found = context.machine->sessions(c->req.after_session, c->req.limit + 1);
    const bool more = found.size() > c->req.limit;
    if (more) found.resize(c->req.limit);
    const ReadScope scope(*context.machine, c->credential);
    json sessions = json::array();
    for (const auto& view : found) {
      if (scope.may_see(view.id)) sessions.push_back(views::session_json(view));  // the principal's own, with auth on
    }
    return views::listing(json{{"sessions", sessions}}, more,
                          found.empty() ? std::string() : std::to_string(found.back().id));
  });
}

void Api::Impl::lock_get(const CallPtr& c) {
  read(c, [c](const ReadContext& context) {
    auto view = context.machine->lock(c->req.name);
    if (view) ReadScope(*context.machine, c->credential).hide_sessions(*view);
    return json_response(200, views::lock_json(c->req.name, view, context.machine->log_time_ms()));
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

void Api::Impl::txn(const CallPtr& c) {
  write(c, [c](const ls::Result& r) {
    const auto& ops = std::get<ls::Txn>(*c->req.command).ops;
    json out = json::array();
    for (size_t i = 0; i < r.ops.size() && i < ops.size(); ++i) {
      const auto& op = r.ops[i];
      if (std::holds_alternative<ls::Put>(ops[i])) {
        json item = views::stat_json(op.key, op.stat);
        item["op"] = "put";
        out.push_back(std::move(item));
      } else {
        out.push_back({{"op", "delete"}, {"key", op.key}, {"deleted", op.deleted}});
      }
    }
    return views::json_text(json{{"ops", out}});
  });
}

// ------------------------------------------------------------------ the facade

Api::Api(NodeApi& node, ApiOptions options) : impl_(std::make_unique<Impl>(node, std::move(options))) {}
Api::~Api() = default;

void Api::handle(Request&& request, Responder respond) { impl_->handle(std::move(request), std::move(respond)); }

Response Api::error_response(int status, std::string_view code, std::string_view message) const {
  return impl_->refusal(status, code, message);
}

ErrorBody Api::error_body() const {
  return [impl = impl_.get()](int status, std::string_view code, std::string_view message) {
    return impl->refusal(status, code, message);
  };
}

}  // namespace synod::http
