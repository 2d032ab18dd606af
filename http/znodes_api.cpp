// GET /v1/znodes and GET /v1/znodes/{path}: the ZooKeeper namespace, read
// only (lockservice/znode_types.h; docs/api.md, "How the ZooKeeper namespace
// maps to REST"). A read like the others: linearizable through the leader,
// or the local replica with ?stale; with auth on, an administrator of the
// cluster only, as for changing znodes (lockservice/access.cpp).
//
// Threads: the path is checked on the HTTP thread; the read runs on the
// node's owner thread.
#include "http/api_impl.h"
#include "http/views.h"

namespace synod::http {

namespace ls = synod::lockservice;

void Api::Impl::znode_get(const CallPtr& c) {
  // ZooKeeper's path rules are the namespace's own (znode_path_problem):
  // the pure decoder leaves them to here.
  if (const std::string why = ls::znode_path_problem(c->req.name); !why.empty()) {
    return fail(c, 400, "bad_path", why + ": " + c->req.name, c->view.applied_revision, c->view.leader);
  }
  read(c, [c](const ReadContext& context) {
    const ls::StateMachine& machine = *context.machine;
    const auto view = machine.znode(c->req.name);
    if (!view) return views::error_body(404, "not_found", "no znode " + c->req.name);
    std::optional<ls::ZnodeChildren> children;
    if (c->req.children) children = machine.znode_children(c->req.name);
    return views::json_response(200, views::znode_json(*view, children ? &children->children : nullptr));
  });
}

}  // namespace synod::http
