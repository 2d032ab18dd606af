// The cluster's administration: POST /v1/cluster/leader/transfer[?to=ID]
// moves leadership to member ID, or to the most caught-up member (as
// `etcdctl move-leader` and `consul operator raft transfer-leader` do). A
// follower forwards it to the leader; the leader answers once the successor
// leads.
#include "http/api_impl.h"
#include "http/views.h"

namespace synod::http {

void Api::Impl::leader_transfer(const CallPtr& c) {
  node.transfer_leadership(c->req.member, admitted(c), [this, c](TransferOutcome outcome) {
    const uint64_t revision = c->view.applied_revision;
    using Kind = TransferOutcome::Kind;
    switch (outcome.kind) {
      case Kind::moved:
        return reply(c,
                     views::json_response(200, {{"from", outcome.from},
                                                {"leader", outcome.to},
                                                {"took_ms", outcome.took_ms}}),
                     revision, outcome.leader);
      case Kind::not_leader:
        return not_leader(c, outcome.leader, revision);
      case Kind::refused:
        return fail(c, 400, "bad_value", outcome.error, revision, outcome.leader);
      case Kind::timed_out:
        return fail(c, 503, "timed_out",
                    "node " + std::to_string(outcome.from) + " handed leadership to node " +
                        std::to_string(outcome.to) + ", which did not lead within " + std::to_string(outcome.took_ms) +
                        " ms; an election follows",
                    revision, outcome.leader);
    }
  });
}

}  // namespace synod::http
