// Reaching the leader (api_impl.h). Writes and linearizable reads go to the
// leader: served here when this node leads; a command or keep-alive is
// handed to the node, which passes it to the leader over the peer link; a
// linearizable read or a blocking acquire is FORWARDED over HTTP, once (a
// forwarded request carries X-Synod-Forwarded and is never forwarded again).
// A node that sees no quorum refuses at once (503), naming the last leader it
// knew, and never answers from its own, maybe stale, state.
//
// Threads: the routing decisions run on the HTTP thread that handles the
// request; node callbacks on the node's owner thread; a forward's answer on
// an HTTP thread.
#include <optional>
#include <utility>

#include "base/assert.h"
#include "http/api_impl.h"
#include "tls/identity.h"

namespace synod::http {

namespace ls = synod::lockservice;
using views::json;

namespace {

std::optional<std::pair<std::string, uint16_t>> split_address(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  const std::string port = address.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  const int value = std::stoi(port);
  if (value <= 0 || value > 65535) return std::nullopt;
  return std::make_pair(address.substr(0, colon), static_cast<uint16_t>(value));
}

std::string member_address(const ClusterView& view, uint32_t id) {
  for (const auto& m : view.members)
    if (m.id == id) return m.client_addr;
  return {};
}

}  // namespace

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
    Response response = views::error_body(503, "not_leader",
                                          "node " + std::to_string(c->view.self) + " no longer leads" +
                                              (leader != 0 ? "; the leader is node " + std::to_string(leader) : ""));
    response.set_header("retry-after", "1");
    return reply(c, std::move(response), revision, leader);
  }
  unavailable(c, "not_leader", "node " + std::to_string(c->view.self) + " does not lead and knows no leader");
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
  Response response = views::json_response(503, body);
  response.set_header("x-synod-last-leader", std::to_string(last));
  response.set_header("retry-after", "1");
  reply(c, std::move(response), c->view.applied_revision, c->view.leader);
}

void Api::Impl::forward(const CallPtr& c, uint32_t leader) {
  // One hop, never to ourselves: a loop would forward forever.
  SYNOD_ASSERT(leader != 0 && leader != c->view.self && !c->req.forwarded);
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
  // Who sent it: the leader judges the same credential (auth_api.cpp). A
  // client certificate's name is taken from a member's forward only.
  if (!c->authorization.empty()) out.headers.push_back(Header{"authorization", c->authorization});
  if (c->credential.kind == lockservice::Credential::Kind::certificate) {
    out.headers.push_back(Header{"x-synod-certificate-name", c->credential.value});
  }
  out.timeout_ms = options.forward_timeout_ms + c->req.wait_ms + options.grant_margin_ms;
  if (options.tls_cluster_id != 0) out.tls_identity = tls::member_uri(options.tls_cluster_id, leader);
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
  node.propose(std::move(command), c->credential, c->client_id, c->seq,
               [this, c, applied = std::move(applied)](Outcome outcome) {
                 switch (outcome.kind) {
                   case Outcome::Kind::applied:
                     return applied(outcome);
                   case Outcome::Kind::not_leader:
                     return not_leader(c, outcome.leader, outcome.revision);
                   case Outcome::Kind::busy:
                     return fail(c, 503, "busy", "the leader's queue is full; try again", outcome.revision,
                                 outcome.leader);
                   case Outcome::Kind::stopping:
                     return fail(c, 503, "stopping",
                                 "the node is shutting down; the write may or may not have taken effect",
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
      if (auto denied = read_denial(c, context)) return reply(c, std::move(*denied), context.revision, context.leader);
      Response response = build(context);
      stale_headers(c, response);
      reply(c, std::move(response), context.revision, context.leader);
    });
  }
  to_leader(c, [this, c, build] {
    node.read(false, [this, c, build](const ReadContext& context) {
      if (!context.ok) return not_leader(c, context.leader, context.revision);
      if (auto denied = read_denial(c, context)) return reply(c, std::move(*denied), context.revision, context.leader);
      reply(c, build(context), context.revision, context.leader);
    });
  });
}

}  // namespace synod::http
