// Requests after the handshake: their dispatch, and the writes (connection.h).
#include <boost/asio/post.hpp>

#include "zkserver/connection.h"
#include "zkserver/convert.h"

namespace synod::zkserver {

namespace asio = boost::asio;
namespace ls = lockservice;
namespace zk = zookeeper;
using zk::OpCode;

namespace {

// The create ops of a request or of a multi, as a znode command.
std::optional<ls::ZnodeCreate> create_command(OpCode op, const zk::CreateRequest& request, ls::SessionId session,
                                              const ls::ZnodeIds& ids, zk::Error& error) {
  bool ttl = false;
  auto mode = create_mode(op, request.flags, &ttl);
  if (!mode) {
    error = ttl ? zk::Error::unimplemented : zk::Error::bad_arguments;
    return std::nullopt;
  }
  return ls::ZnodeCreate{
      request.path.value_or(""), request.data.value_or(""), from_wire(request.acl), *mode, session, ids};
}

}  // namespace

namespace {

Connection::Phase phase_of(int32_t type) {
  using Phase = Connection::Phase;
  const auto op = zk::op_code_from(type);
  if (!op) return Phase::free;
  switch (*op) {
    case OpCode::exists:
    case OpCode::get_data:
    case OpCode::get_acl:
    case OpCode::get_children:
    case OpCode::get_children2:
    case OpCode::sync:
    case OpCode::set_watches:
    case OpCode::set_watches2:
    case OpCode::add_watch:
    case OpCode::get_ephemerals:
    case OpCode::get_all_children_number:
    case OpCode::multi_read:
      return Phase::read;
    case OpCode::create:
    case OpCode::create2:
    case OpCode::create_container:
    case OpCode::delete_node:
    case OpCode::set_data:
    case OpCode::set_acl:
    case OpCode::check:
    case OpCode::multi:
    case OpCode::close_session:
      return Phase::write;
    default:
      return Phase::free;  // ping, auth and what is answered unimplemented
  }
}

}  // namespace

void Connection::on_request(std::string frame) {
  zk::JuteReader reader(frame);
  zk::RequestHeader header;
  header.decode(reader);
  if (!reader.ok()) return close("a bad RequestHeader: " + reader.error());
  const uint64_t slot = reserve();
  const Phase phase = phase_of(header.type);
  if (!deferred_.empty() || held(phase)) {
    deferred_.push_back(Deferred{std::move(frame), slot, phase});
    return;
  }
  start_request(frame, slot, phase);
}

bool Connection::held(Phase phase) const {
  return (phase == Phase::read && writes_running_ > 0) || (phase == Phase::write && reads_running_ > 0);
}

void Connection::start_request(const std::string& frame, uint64_t slot, Phase phase) {
  pending_[slot - first_slot_].phase = phase;
  if (phase == Phase::read) ++reads_running_;
  if (phase == Phase::write) ++writes_running_;
  zk::JuteReader reader(frame);
  zk::RequestHeader header;
  header.decode(reader);
  dispatch(header, reader, slot);
}

void Connection::start_deferred() {
  while (!closed_ && !deferred_.empty() && !held(deferred_.front().phase)) {
    Deferred next = std::move(deferred_.front());
    deferred_.pop_front();
    start_request(next.frame, next.slot, next.phase);
  }
}

void Connection::dispatch(const zk::RequestHeader& header, zk::JuteReader& reader, uint64_t slot) {
  const int32_t xid = header.xid;
  auto fail = [&](zk::Error error) { finish(slot, reply(xid, last_zxid_, error), last_zxid_); };
  const auto op = zk::op_code_from(header.type);
  if (!op) return fail(zk::Error::unimplemented);
  switch (*op) {
    case OpCode::ping:
      return finish(slot, reply(xid, last_zxid_, zk::Error::ok), last_zxid_);  // kPingXid
    case OpCode::close_session:
      return close_session(xid, slot);
    case OpCode::auth:
      return add_auth(xid, reader, slot);
    case OpCode::set_watches:
    case OpCode::set_watches2:
      return set_watches(xid, reader, *op == OpCode::set_watches2, slot);
    case OpCode::exists:
    case OpCode::get_data:
    case OpCode::get_acl:
    case OpCode::get_children:
    case OpCode::get_children2:
    case OpCode::sync:
      return read_op(header, reader, slot);
    case OpCode::add_watch:
    case OpCode::get_ephemerals:
    case OpCode::get_all_children_number:
    case OpCode::multi_read:
      return read_op2(header, reader, slot);
    case OpCode::check_watches:
    case OpCode::remove_watches:
      return watch_op(header, reader, slot);
    case OpCode::who_am_i:
      return who_am_i(xid, slot);
    case OpCode::create:
    case OpCode::create2:
    case OpCode::create_container: {
      zk::CreateRequest request;
      if (!decode_whole(reader, request)) return fail(zk::Error::marshalling_error);
      zk::Error error = zk::Error::ok;
      auto command = create_command(*op, request, session_, ids_, error);
      if (!command) return fail(error);
      return write(std::move(*command), xid, *op, slot);
    }
    case OpCode::delete_node: {
      zk::DeleteRequest request;
      if (!decode_whole(reader, request)) return fail(zk::Error::marshalling_error);
      return write(command_of(request, session_, ids_), xid, *op, slot);
    }
    case OpCode::set_data: {
      zk::SetDataRequest request;
      if (!decode_whole(reader, request)) return fail(zk::Error::marshalling_error);
      return write(command_of(request, session_, ids_), xid, *op, slot);
    }
    case OpCode::check: {
      zk::CheckVersionRequest request;
      if (!decode_whole(reader, request)) return fail(zk::Error::marshalling_error);
      return write(command_of(request, session_, ids_), xid, *op, slot);
    }
    case OpCode::set_acl: {
      zk::SetAclRequest request;
      if (!decode_whole(reader, request)) return fail(zk::Error::marshalling_error);
      return write(ls::ZnodeSetAcl{request.path.value_or(""), from_wire(request.acl), request.version, session_, ids_},
                   xid, *op, slot);
    }
    case OpCode::multi: {
      zk::MultiRequest request;
      if (!decode_whole(reader, request)) return fail(zk::Error::marshalling_error);
      ls::ZnodeMulti multi;
      multi.session = session_;
      multi.ids = ids_;
      std::vector<OpCode> types;
      for (const auto& one : request.ops) {
        const auto type = static_cast<OpCode>(one.type);
        types.push_back(type);
        zk::Error error = zk::Error::ok;
        if (const auto* create = std::get_if<zk::CreateRequest>(&one.request)) {
          auto command = create_command(type, *create, session_, {}, error);
          if (!command) return fail(error);
          // ZooKeeper rebuilds a multi's create from its flags alone
          // (MultiOperationRecord): a container answers as create2, with a
          // Stat, and every other mode as create, with the path only.
          types.back() = command->mode == ls::ZnodeMode::container ? OpCode::create2 : OpCode::create;
          multi.ops.push_back(std::move(*command));
        } else if (const auto* del = std::get_if<zk::DeleteRequest>(&one.request)) {
          multi.ops.push_back(command_of(*del, session_, {}));
        } else if (const auto* set = std::get_if<zk::SetDataRequest>(&one.request)) {
          multi.ops.push_back(command_of(*set, session_, {}));
        } else if (const auto* check = std::get_if<zk::CheckVersionRequest>(&one.request)) {
          multi.ops.push_back(command_of(*check, session_, {}));
        } else {
          // createTTL; or a read op (multiRead's) in a multi, which
          // ZooKeeper 3.8 answers marshallingError.
          return fail(std::holds_alternative<zk::CreateTtlRequest>(one.request) ? zk::Error::unimplemented
                                                                                : zk::Error::marshalling_error);
        }
      }
      // An empty multi changes nothing; ZooKeeper answers it with no results.
      if (multi.ops.empty()) {
        return finish(slot, reply(xid, last_zxid_, zk::Error::ok, zk::encode_record(zk::MultiResponse{})), last_zxid_);
      }
      return write(std::move(multi), xid, *op, slot, std::move(types));
    }
    default:
      // reconfig, createTTL, deleteContainer, sasl: docs/zookeeper.md.
      return fail(zk::Error::unimplemented);
  }
}

void Connection::write(ls::Command command, int32_t xid, OpCode op, uint64_t slot, std::vector<OpCode> types) {
  auto self = shared_from_this();
  shared_->node.propose(std::move(command), client_id_, ++seq_,
                        [self, xid, op, slot, types = std::move(types)](Proposed proposed) mutable {
                          if (proposed.kind != Proposed::Kind::applied) {
                            // No leader, or the outcome is unknown: as a ZooKeeper server that
                            // lost its quorum, close, and the client retries on another node.
                            return asio::post(self->shared_->io, [self] { self->close("a write found no leader"); });
                          }
                          // The reply waits until this node has applied the write, so that the
                          // watch events it fired here go out before it (connection.h). A
                          // connection that holds no watch has no event to wait for: nothing can
                          // fire for it through this revision, and a watch it sets later is set
                          // by a read that starts after this reply, at a later revision. So a
                          // follower answers it from the leader's result at once, rather than
                          // when the leader's next message tells it the slot is chosen.
                          if (!self->shared_->watches.holds_any(self->id())) {
                            return self->answer_write(proposed.result, proposed.revision, xid, op, slot, types);
                          }
                          self->shared_->node.wait_applied(proposed.revision, 10'000,
                                                           [self, xid, op, slot, types = std::move(types),
                                                            proposed = std::move(proposed)](const Snapshot&) {
                                                             self->answer_write(proposed.result, proposed.revision, xid,
                                                                                op, slot, types);
                                                           });
                        });
}

void Connection::answer_write(const ls::Result& result, uint64_t revision, int32_t xid, OpCode op, uint64_t slot,
                              const std::vector<OpCode>& types) {
  const auto zxid = static_cast<int64_t>(revision);
  const zk::Error error = error_of(result);
  if (op == OpCode::multi) {
    // A multi's header says ok; each op's result says how it ended.
    if (error != zk::Error::ok && result.znodes.empty()) return finish(slot, reply(xid, zxid, error), zxid);
    zk::MultiResponse response;
    for (size_t i = 0; i < result.znodes.size(); ++i) {
      const auto& one = result.znodes[i];
      zk::MultiResult out;
      if (error != zk::Error::ok) {
        out.type = static_cast<int32_t>(OpCode::error);
        out.err = static_cast<int32_t>(error_of(one.error));
        out.response = zk::ErrorResponse{out.err};
        response.results.push_back(std::move(out));
        continue;
      }
      const OpCode type = i < types.size() ? types[i] : OpCode::check;
      out.type = static_cast<int32_t>(type);
      switch (type) {
        case OpCode::create:
          out.response = zk::CreateResponse{one.path};
          break;
        case OpCode::create2:
          out.response = zk::Create2Response{one.path, to_wire(one.stat)};
          break;
        case OpCode::set_data:
          out.response = zk::SetDataResponse{to_wire(one.stat)};
          break;
        default:
          break;  // delete, check: nothing
      }
      response.results.push_back(std::move(out));
    }
    return finish(slot, reply(xid, zxid, zk::Error::ok, zk::encode_record(response)), zxid);
  }
  if (error != zk::Error::ok) return finish(slot, reply(xid, zxid, error), zxid);
  const ls::ZnodeOpResult one = result.znodes.empty() ? ls::ZnodeOpResult{} : result.znodes.front();
  std::string body;
  switch (op) {
    case OpCode::create:
      body = zk::encode_record(zk::CreateResponse{one.path});
      break;
    case OpCode::create2:
    case OpCode::create_container:
      body = zk::encode_record(zk::Create2Response{one.path, to_wire(one.stat)});
      break;
    case OpCode::set_data:
      body = zk::encode_record(zk::SetDataResponse{to_wire(one.stat)});
      break;
    case OpCode::set_acl:
      body = zk::encode_record(zk::SetAclResponse{to_wire(one.stat)});
      break;
    default:
      break;  // delete, check: the header alone
  }
  finish(slot, reply(xid, zxid, zk::Error::ok, body), zxid);
}

void Connection::close_session(int32_t xid, uint64_t slot) {
  auto self = shared_from_this();
  shared_->node.propose(ls::DeleteSession{session_}, client_id_, ++seq_, [self, xid, slot](Proposed proposed) {
    const auto zxid = static_cast<int64_t>(proposed.revision);
    // Whatever the outcome, the client is done with this connection; an
    // unknown one leaves the session to expire.
    self->shared_->node.wait_applied(proposed.revision, 10'000, [self, xid, slot, zxid](const Snapshot&) {
      self->finish(slot, self->reply(xid, zxid, zk::Error::ok), zxid, /*close_after=*/true);
    });
  });
}

}  // namespace synod::zkserver
