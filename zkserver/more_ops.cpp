// The 3.6 and 3.7 ops (connection.h): persistent watches (addWatch),
// removeWatches and checkWatches, whoAmI, getEphemerals,
// getAllChildrenNumber and multiRead. Reads run on the owner thread like
// reads.cpp's, with the same ACL checks.
#include <boost/asio/post.hpp>

#include "zkserver/connection.h"
#include "zkserver/convert.h"

namespace synod::zkserver {

namespace asio = boost::asio;
namespace ls = lockservice;
namespace zk = zookeeper;
using zk::OpCode;

namespace {

std::optional<WatcherType> watcher_type(int32_t type) {
  if (type < static_cast<int32_t>(WatcherType::children) || type > static_cast<int32_t>(WatcherType::any)) {
    return std::nullopt;
  }
  return static_cast<WatcherType>(type);
}

}  // namespace

// removeWatches and checkWatches: the connection's own watches, here.
void Connection::watch_op(const zk::RequestHeader& header, zk::JuteReader& reader, uint64_t slot) {
  auto answer = [&](zk::Error error) { finish(slot, reply(header.xid, last_zxid_, error), last_zxid_); };
  zk::RemoveWatchesRequest request;  // checkWatches' record has the same fields
  if (header.type == static_cast<int32_t>(OpCode::check_watches)) {
    zk::CheckWatchesRequest check;
    if (!decode_whole(reader, check)) return answer(zk::Error::marshalling_error);
    request = zk::RemoveWatchesRequest{check.path, check.type};
  } else if (!decode_whole(reader, request)) {
    return answer(zk::Error::marshalling_error);
  }
  // ZooKeeper 3.8 answers a type it does not take with marshallingError,
  // and looks any path up as given.
  const auto type = watcher_type(request.type);
  const std::string path = request.path.value_or("");
  if (!type) return answer(zk::Error::marshalling_error);
  auto& watches = shared_->watches;
  const bool found = header.type == static_cast<int32_t>(OpCode::check_watches) ? watches.holds(*type, path, id_)
                                                                                : watches.remove(*type, path, id_);
  answer(found ? zk::Error::ok : zk::Error::no_watcher);
}

// whoAmI: the connection's ids, as ZooKeeper's providers name their users.
void Connection::who_am_i(int32_t xid, uint64_t slot) {
  zk::WhoAmIResponse response;
  response.client_info.emplace();
  for (const auto& id : ids_) {
    const std::string user = id.scheme == "digest" ? id.id.substr(0, id.id.find(':')) : id.id;
    response.client_info->push_back(zk::ClientInfo{id.scheme, user});
  }
  finish(slot, reply(xid, last_zxid_, zk::Error::ok, zk::encode_record(response)), last_zxid_);
}

// addWatch, getEphemerals, getAllChildrenNumber and multiRead: at one
// linearizable read, like reads.cpp's.
void Connection::read_op2(const zk::RequestHeader& header, zk::JuteReader& reader, uint64_t slot) {
  const auto op = static_cast<OpCode>(header.type);
  const int32_t xid = header.xid;
  auto fail = [&](zk::Error error) { finish(slot, reply(xid, last_zxid_, error), last_zxid_); };
  std::string path;
  int32_t mode = 0;
  zk::MultiRequest multi;
  switch (op) {
    case OpCode::add_watch: {
      zk::AddWatchRequest r;
      if (!decode_whole(reader, r)) return fail(zk::Error::marshalling_error);
      path = r.path.value_or("");
      mode = r.mode;
      if (mode != static_cast<int32_t>(zk::AddWatchMode::persistent) &&
          mode != static_cast<int32_t>(zk::AddWatchMode::persistent_recursive)) {
        return fail(zk::Error::marshalling_error);  // ZooKeeper's answer to a mode it lacks
      }
      break;
    }
    case OpCode::get_ephemerals: {
      zk::GetEphemeralsRequest r;
      if (!decode_whole(reader, r)) return fail(zk::Error::marshalling_error);
      path = r.prefix_path.value_or("/");
      break;
    }
    case OpCode::get_all_children_number: {
      zk::GetAllChildrenNumberRequest r;
      if (!decode_whole(reader, r)) return fail(zk::Error::marshalling_error);
      path = r.path.value_or("");
      break;
    }
    default: {  // multiRead: getData and getChildren only
      if (!decode_whole(reader, multi)) return fail(zk::Error::marshalling_error);
      for (const auto& one : multi.ops) {
        if (!std::holds_alternative<zk::GetDataRequest>(one.request) &&
            !std::holds_alternative<zk::GetChildrenRequest>(one.request)) {
          return fail(zk::Error::marshalling_error);  // as ZooKeeper 3.8 answers a write in a multiRead
        }
      }
      break;
    }
  }
  // ZooKeeper looks addWatch's path up as given; a bad one is never fired.
  if (op == OpCode::get_all_children_number && !ls::znode_path_problem(path).empty()) {
    return fail(zk::Error::bad_arguments);
  }
  auto self = shared_from_this();
  shared_->node.read([self, op, xid, slot, path = std::move(path), mode, multi = std::move(multi), ids = ids_,
                      session = session_](const Snapshot& snapshot) {
    if (!snapshot.ok) return asio::post(self->shared_->io, [self] { self->close("no linearizable read here"); });
    const auto zxid = static_cast<int64_t>(snapshot.revision);
    const auto& machine = *snapshot.machine;
    auto answer = [&](zk::Error error, std::string body = {}) {
      self->finish(slot, self->reply(xid, zxid, error, body), zxid);
    };
    switch (op) {
      case OpCode::add_watch:
        // DataTree.addWatch: both tables for a persistent watch, the data
        // table alone for a recursive one.
        if (mode == static_cast<int32_t>(zk::AddWatchMode::persistent)) {
          self->shared_->watches.add(WatchKind::persistent, path, self->id());
          self->shared_->watches.add(WatchKind::persistent_child, path, self->id());
        } else {
          self->shared_->watches.add(WatchKind::persistent_recursive, path, self->id());
        }
        return answer(zk::Error::ok);
      case OpCode::get_ephemerals:
        return answer(zk::Error::ok,
                      zk::encode_record(zk::GetEphemeralsResponse{machine.session_znodes(session, path)}));
      case OpCode::get_all_children_number: {
        const auto view = machine.znode_stat(path);
        const auto count = machine.znode_descendants(path);
        if (!view || !count) return answer(zk::Error::no_node);
        const auto acl = machine.znode_children(path);
        if (acl && !ls::znode_acl_allows(acl->acl, ids, ls::kZnodePermRead)) return answer(zk::Error::no_auth);
        return answer(zk::Error::ok, zk::encode_record(zk::GetAllChildrenNumberResponse{static_cast<int32_t>(*count)}));
      }
      default:
        return answer(zk::Error::ok, zk::encode_record(self->multi_read(machine, multi, ids)));
    }
  });
}

// multiRead: each op answers on its own, an error in its place (ZooKeeper's
// reads are not all or nothing).
zk::MultiResponse Connection::multi_read(const ls::StateMachine& machine, const zk::MultiRequest& request,
                                         const ls::ZnodeIds& ids) const {
  zk::MultiResponse response;
  for (const auto& one : request.ops) {
    zk::MultiResult out;
    out.type = one.type;
    const bool data = std::holds_alternative<zk::GetDataRequest>(one.request);
    const std::string path = data ? std::get<zk::GetDataRequest>(one.request).path.value_or("")
                                  : std::get<zk::GetChildrenRequest>(one.request).path.value_or("");
    zk::Error error = zk::Error::ok;
    if (!ls::znode_path_problem(path).empty()) {
      error = zk::Error::bad_arguments;
    } else if (data) {
      const auto view = machine.znode(path);
      if (!view) error = zk::Error::no_node;
      else if (!ls::znode_acl_allows(view->acl, ids, ls::kZnodePermRead)) error = zk::Error::no_auth;
      else out.response = zk::GetDataResponse{view->data, to_wire(view->stat)};
    } else {
      auto children = machine.znode_children(path);
      if (!children) error = zk::Error::no_node;
      else if (!ls::znode_acl_allows(children->acl, ids, ls::kZnodePermRead)) error = zk::Error::no_auth;
      else out.response = zk::GetChildrenResponse{std::move(children->children)};
    }
    if (error != zk::Error::ok) {
      out.type = static_cast<int32_t>(OpCode::error);
      out.err = static_cast<int32_t>(error);
      out.response = zk::ErrorResponse{out.err};
    }
    response.results.push_back(std::move(out));
  }
  return response;
}

}  // namespace synod::zkserver
