// Reads and watch registrations (connection.h). Every read is linearizable
// (ZkNode::read) and runs on the node's owner thread, where the watch it
// sets is registered before any later change can be applied. Reads are
// judged by the znode's ACL here, as ZooKeeper's FinalRequestProcessor
// does (exists and sync by none).
#include <boost/asio/post.hpp>

#include "zkserver/connection.h"
#include "zkserver/convert.h"

namespace synod::zkserver {

namespace asio = boost::asio;
namespace ls = lockservice;
namespace zk = zookeeper;
using zk::OpCode;

namespace {

template <typename Record>
bool take(zk::JuteReader& reader, Record& record, std::string& path, bool& watch) {
  record.decode(reader);
  path = record.path.value_or("");
  if constexpr (requires { record.watch; }) watch = record.watch;
  return zk::check_whole(reader, nullptr);
}

}  // namespace

void Connection::read_op(const zk::RequestHeader& header, zk::JuteReader& reader, uint64_t slot) {
  const auto op = static_cast<OpCode>(header.type);
  const int32_t xid = header.xid;
  std::string path;
  bool watch = false;
  bool ok = false;
  switch (op) {
    case OpCode::exists: {
      zk::ExistsRequest r;
      ok = take(reader, r, path, watch);
      break;
    }
    case OpCode::get_data: {
      zk::GetDataRequest r;
      ok = take(reader, r, path, watch);
      break;
    }
    case OpCode::get_acl: {
      zk::GetAclRequest r;
      ok = take(reader, r, path, watch);
      break;
    }
    case OpCode::get_children: {
      zk::GetChildrenRequest r;
      ok = take(reader, r, path, watch);
      break;
    }
    case OpCode::get_children2: {
      zk::GetChildren2Request r;
      ok = take(reader, r, path, watch);
      break;
    }
    default: {
      zk::SyncRequest r;
      ok = take(reader, r, path, watch);
      break;
    }
  }
  if (!ok) return finish(slot, reply(xid, last_zxid_, zk::Error::marshalling_error), last_zxid_);
  if (!ls::znode_path_problem(path).empty()) {
    return finish(slot, reply(xid, last_zxid_, zk::Error::bad_arguments), last_zxid_);
  }
  auto self = shared_from_this();
  shared_->node.read([self, op, xid, path = std::move(path), watch, slot, ids = ids_](const Snapshot& snapshot) {
    if (!snapshot.ok) {
      return asio::post(self->shared_->io, [self] { self->close("no linearizable read here"); });
    }
    const auto zxid = static_cast<int64_t>(snapshot.revision);
    const auto& machine = *snapshot.machine;
    auto& watches = self->shared_->watches;
    auto answer = [&](zk::Error error, std::string body = {}) {
      self->finish(slot, self->reply(xid, zxid, error, body), zxid);
    };
    switch (op) {
      case OpCode::exists: {
        const auto stat = machine.znode_stat(path);
        if (watch) watches.add(stat ? WatchKind::data : WatchKind::exist, path, self->id());
        if (!stat) return answer(zk::Error::no_node);
        return answer(zk::Error::ok, zk::encode_record(zk::ExistsResponse{to_wire(*stat)}));
      }
      case OpCode::get_data:
      case OpCode::get_acl: {
        const auto view = machine.znode(path);
        if (!view) return answer(zk::Error::no_node);
        // getACL needs READ or ADMIN (ZOOKEEPER-1392), getData READ; no
        // watch is set on a refusal.
        const int32_t perms = op == OpCode::get_acl ? ls::kZnodePermRead | ls::kZnodePermAdmin : ls::kZnodePermRead;
        if (!ls::znode_acl_allows(view->acl, ids, perms)) return answer(zk::Error::no_auth);
        if (op == OpCode::get_acl) {
          return answer(zk::Error::ok, zk::encode_record(zk::GetAclResponse{to_wire(view->acl), to_wire(view->stat)}));
        }
        if (watch) watches.add(WatchKind::data, path, self->id());
        return answer(zk::Error::ok, zk::encode_record(zk::GetDataResponse{view->data, to_wire(view->stat)}));
      }
      case OpCode::get_children:
      case OpCode::get_children2: {
        auto children = machine.znode_children(path);
        if (!children) return answer(zk::Error::no_node);
        if (!ls::znode_acl_allows(children->acl, ids, ls::kZnodePermRead)) return answer(zk::Error::no_auth);
        if (watch) watches.add(WatchKind::child, path, self->id());
        if (op == OpCode::get_children) {
          return answer(zk::Error::ok, zk::encode_record(zk::GetChildrenResponse{std::move(children->children)}));
        }
        return answer(zk::Error::ok, zk::encode_record(zk::GetChildren2Response{std::move(children->children),
                                                                                to_wire(children->stat)}));
      }
      default:  // sync: the linearizable read itself is the barrier
        return answer(zk::Error::ok, zk::encode_record(zk::SyncResponse{path}));
    }
  });
}

// A client that reconnects names the watches it held and the last zxid it
// saw: what changed since fires now, the rest is registered
// (DataTree.setWatches).
void Connection::set_watches(int32_t xid, zk::JuteReader& reader, bool v2, uint64_t slot) {
  zk::SetWatches request;
  std::vector<std::string> persistent, recursive;  // setWatches2's: registered again, nothing fires
  bool ok = false;
  if (v2) {
    zk::SetWatches2 request2;
    request2.decode(reader);
    ok = zk::check_whole(reader, nullptr);
    request = zk::SetWatches{request2.relative_zxid, request2.data_watches, request2.exist_watches,
                             request2.child_watches};
    persistent = request2.persistent_watches.value_or(std::vector<std::string>{});
    recursive = request2.persistent_recursive_watches.value_or(std::vector<std::string>{});
  } else {
    request.decode(reader);
    ok = zk::check_whole(reader, nullptr);
  }
  if (!ok) return finish(slot, reply(xid, last_zxid_, zk::Error::marshalling_error), last_zxid_);
  auto self = shared_from_this();
  shared_->node.read([self, xid, request = std::move(request), persistent = std::move(persistent),
                      recursive = std::move(recursive), slot](const Snapshot& snapshot) {
    if (!snapshot.ok) return asio::post(self->shared_->io, [self] { self->close("no linearizable read here"); });
    const auto& machine = *snapshot.machine;
    const auto relative = static_cast<uint64_t>(std::max<int64_t>(request.relative_zxid, 0));
    auto& watches = self->shared_->watches;
    std::vector<ls::ZnodeEvent> now;
    using Type = ls::ZnodeEventType;
    for (const auto& path : request.data_watches.value_or(std::vector<std::string>{})) {
      const auto stat = machine.znode_stat(path);
      if (!stat) now.push_back({Type::node_deleted, path, snapshot.revision});
      else if (stat->mzxid > relative) now.push_back({Type::node_data_changed, path, snapshot.revision});
      else watches.add(WatchKind::data, path, self->id());
    }
    for (const auto& path : request.exist_watches.value_or(std::vector<std::string>{})) {
      if (machine.znode_stat(path)) now.push_back({Type::node_created, path, snapshot.revision});
      else watches.add(WatchKind::exist, path, self->id());
    }
    for (const auto& path : request.child_watches.value_or(std::vector<std::string>{})) {
      const auto stat = machine.znode_stat(path);
      if (!stat) now.push_back({Type::node_deleted, path, snapshot.revision});
      else if (stat->pzxid > relative) now.push_back({Type::node_children_changed, path, snapshot.revision});
      else watches.add(WatchKind::child, path, self->id());
    }
    for (const auto& path : persistent) {
      watches.add(WatchKind::persistent, path, self->id());
      watches.add(WatchKind::persistent_child, path, self->id());
    }
    for (const auto& path : recursive) watches.add(WatchKind::persistent_recursive, path, self->id());
    const auto zxid = static_cast<int64_t>(snapshot.revision);
    asio::post(self->shared_->io, [self, xid, now = std::move(now), slot, zxid] {
      for (const auto& event : now) self->deliver(event);
      self->finish(slot, self->reply(xid, zxid, zk::Error::ok), zxid);
    });
  });
}

}  // namespace synod::zkserver
