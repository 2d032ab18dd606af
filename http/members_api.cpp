// Membership (issue 20): GET /v1/cluster/members lists the members as the
// leader sees them; POST /v1/cluster/members adds a learner, POST
// /v1/cluster/members/{id}/promote makes a learner vote, DELETE
// /v1/cluster/members/{id} removes a member. A follower forwards each to the
// leader (the lag is the leader's view, and only a leader proposes); a
// change is answered once the new configuration is in effect. One change
// at a time: a second one while another is in progress gets 409 with
// Retry-After, as etcd refuses a concurrent change.
#include "base/assert.h"
#include "http/api_impl.h"
#include "http/views.h"

namespace synod::http {

namespace {

using views::json;

json member_json(const MemberInfo& m) {
  json out = {{"id", m.id},
              {"role", m.voter ? "voter" : "learner"},
              {"peer_addr", m.peer_addr},
              {"client_addr", m.client_addr},
              {"chosen_through", m.chosen_through},
              {"lag_slots", m.lag_slots}};
  if (m.last_ack_ms_ago >= 0) out["last_ack_ms_ago"] = m.last_ack_ms_ago;
  return out;
}

}  // namespace

void Api::Impl::members_list(const CallPtr& c) {
  node.members(admitted(c), [this, c](MembersOutcome outcome) {
    const uint64_t revision = c->view.applied_revision;
    if (outcome.kind == MembersOutcome::Kind::not_leader) return not_leader(c, outcome.leader, revision);
    json members = json::array();
    for (const auto& m : outcome.members) members.push_back(member_json(m));
    reply(c,
          views::json_response(200, {{"members", members},
                                     {"next_id", outcome.next_id},
                                     {"configuration_slot", outcome.configuration_slot},
                                     {"change_in_progress", outcome.change_in_progress},
                                     {"leader", outcome.leader}}),
          revision, outcome.leader);
  });
}

void Api::Impl::member_change(const CallPtr& c) {
  SYNOD_ASSERT(c->req.member_change.has_value());
  const MemberChange change = *c->req.member_change;
  node.change_member(change, admitted(c), [this, c, change](MembersOutcome outcome) {
    const uint64_t revision = c->view.applied_revision;
    using Kind = MembersOutcome::Kind;
    const std::string who = "member " + std::to_string(change.id);
    switch (outcome.kind) {
      case Kind::ok: {
        json body = outcome.members.empty() ? json::object() : member_json(outcome.members.front());
        if (change.kind == MemberChange::Kind::remove) body = {{"id", change.id}, {"removed", true}};
        body["took_ms"] = outcome.took_ms;
        body["next_id"] = outcome.next_id;
        return reply(c, views::json_response(change.kind == MemberChange::Kind::add ? 201 : 200, body), revision,
                     outcome.leader);
      }
      case Kind::not_leader:
        return not_leader(c, outcome.leader, revision);
      case Kind::busy: {
        Response response = views::error_body(409, "change_in_progress", outcome.error);
        response.set_header("retry-after", "1");
        return reply(c, std::move(response), revision, outcome.leader);
      }
      case Kind::invalid:
        return fail(c, 400, "invalid_argument", outcome.error, revision, outcome.leader);
      case Kind::not_found:
        return fail(c, 404, "not_found", outcome.error, revision, outcome.leader);
      case Kind::conflict:
        return fail(c, 409, "member_exists", outcome.error, revision, outcome.leader);
      case Kind::timed_out:
        return fail(c, 504, "timed_out", outcome.error, revision, outcome.leader);
    }
  });
}

}  // namespace synod::http
