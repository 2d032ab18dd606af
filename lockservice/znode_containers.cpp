// Containers (issue 22): the znodes a ZnodeReapContainer may delete, kept
// up to date as the tree changes, and the reap itself. Part of the Machine
// (machine.h).
//
// ZooKeeper's ContainerManager (read at 53a78e36) takes as candidates the
// containers with no children whose persisted cversion (our `creates`) is
// above 0, so a container made just before a check is not deleted before its
// first child arrives; its leader then proposes deleteContainer for each, and
// PrepRequestProcessor deletes it unless it is gone (NoNode) or has children
// (NotEmpty). Here the candidates are a set kept as znodes change
// (reapable_), so the leader asks for them without scanning the tree, and the
// apply checks the whole rule again: still a container, still childless,
// creates still above 0. So the decision is the log's, and every replica
// makes the same one whatever the leader saw.
//
// Where this differs: ZooKeeper's deleteContainer deletes any childless znode
// but an ephemeral (a persistent one too, and it does not look at the
// cversion); this one deletes only a reapable container. ZooKeeper 3.10 also
// reaps containers that never had a child after
// znode.container.maxNeverUsedIntervalMs (5 minutes; off before 3.10): not
// here, such a container stays until it is deleted. No session and no ACL
// are judged, as for ZooKeeper's internal request.
#include "base/assert.h"
#include "lockservice/machine.h"

namespace synod::lockservice::detail {
namespace {

bool reapable(const Znode& node) {
  return node.kind == ZnodeKind::container && node.children.empty() && node.creates > 0;
}

Result reap_refused(ZkError error, Status status, std::string message) {
  Result result;
  result.status = status;
  result.message = std::move(message);
  result.zk_error = error;
  result.znodes.push_back(ZnodeOpResult{error, {}, {}});
  return result;
}

}  // namespace

void Machine::note_container(const std::string& path, const Znode& node) {
  if (node.kind != ZnodeKind::container) return;
  if (reapable(node)) {
    reapable_.insert(path);
  } else {
    reapable_.erase(path);
  }
}

std::vector<std::string> Machine::reapable_containers(size_t limit) const {
  std::vector<std::string> out;
  for (auto it = reapable_.begin(); it != reapable_.end() && out.size() < limit; ++it) out.push_back(*it);
  return out;
}

// A reap that finds nothing to do answers why and changes nothing: the
// container was deleted, got a child, or the path names something else
// (the leader saw an older state, or a client sent it).
Result Machine::znode_reap_container(const ZnodeReapContainer& c, ClientId client_id) {
  if (client_id != 0) {
    return reap_refused(ZkError::bad_arguments, Status::invalid_argument,
                        "znode_reap_container is the cluster's own command; a client deletes with znode_delete");
  }
  auto it = znodes_.find(c.path);
  if (it == znodes_.end()) return reap_refused(ZkError::no_node, Status::not_found, "no znode " + c.path);
  const Znode& node = it->second;
  if (node.kind != ZnodeKind::container) {
    return reap_refused(ZkError::bad_arguments, Status::invalid_argument, "znode " + c.path + " is not a container");
  }
  if (!node.children.empty()) {
    return reap_refused(ZkError::not_empty, Status::conflict, "container " + c.path + " has children");
  }
  if (node.creates <= 0) {
    return reap_refused(ZkError::bad_arguments, Status::invalid_argument,
                        "container " + c.path + " has never had a child (or its cversion wrapped)");
  }
  SYNOD_ASSERT(reapable_.count(c.path) == 1);
  // As a delete: the parent's pzxid moves, its creates do not.
  const size_t slash = c.path.rfind('/');
  const std::string parent_path = slash == 0 ? "/" : c.path.substr(0, slash);
  znodes_.at(parent_path).pzxid = revision_;
  erase_znode(c.path);
  fire(ZnodeEventType::node_deleted, c.path);
  fire(ZnodeEventType::node_children_changed, parent_path);
  Result result;
  result.znodes.push_back(ZnodeOpResult{});
  return result;
}

}  // namespace synod::lockservice::detail
