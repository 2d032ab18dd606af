// The connect handshake and the session's renewals (connection.h).
#include <algorithm>
#include <boost/asio/post.hpp>

#include "tls/secrets.h"
#include "zkserver/connection.h"

namespace synod::zkserver {

namespace asio = boost::asio;
namespace ls = lockservice;
using zookeeper::ConnectRequest;
using zookeeper::ConnectResponse;

// ZooKeeper's passwords are 16 bytes. Ours is derived, so that any member
// checks it without a table: SHA-256 of the cluster's id and the session's.
// It keeps a client from taking over another cluster's session by mistake;
// it is no secret from a client that knows the cluster id (docs/zookeeper.md).
std::string Connection::password(ls::SessionId session) const {
  std::string text = "synod-zookeeper-session\n" + shared_->node.cluster_id() + "\n" + std::to_string(session);
  return tls::sha256(text).substr(0, 16);
}

void Connection::on_connect(const std::string& frame) {
  ConnectRequest request;
  std::string error;
  if (!zookeeper::decode_record(frame, request, &error)) return close("a bad ConnectRequest: " + error);
  connecting_ = true;
  const auto& options = shared_->options;
  auto self = shared_from_this();
  if (request.session_id == 0) {
    const int64_t timeout_ms = std::clamp<int64_t>(request.timeout_ms, options.session_timeout_ms_min,
                                                   options.session_timeout_ms_max);
    ls::CreateSession create{timeout_ms, 0, ls::Behavior::release};
    client_id_ = shared_->node.new_client_id();
    shared_->node.propose(create, client_id_, ++seq_, [self, request, timeout_ms](Proposed proposed) {
      if (proposed.kind != Proposed::Kind::applied || proposed.result.status != ls::Status::ok) {
        // No leader, or the outcome is unknown: the client tries another node.
        return asio::post(self->shared_->io, [self] { self->close("no session could be created here"); });
      }
      const auto session = proposed.result.session;
      const int64_t zxid = static_cast<int64_t>(proposed.revision);
      // Answer once this node has applied the session, so that the client's
      // next request here finds it.
      self->shared_->node.wait_applied(proposed.revision, timeout_ms,
                                       [self, request, session, timeout_ms, zxid](const Snapshot&) {
                                         asio::post(self->shared_->io, [self, request, session, timeout_ms, zxid] {
                                           self->accept_session(request, session, timeout_ms, zxid);
                                         });
                                       });
    });
    return;
  }
  // A client moving here with its session: it must name it with its
  // password, the session must be live, and this node must have applied
  // everything the client has seen (the linearizable read waits for that).
  const auto session = static_cast<ls::SessionId>(request.session_id);
  if (request.passwd.value_or("") != password(session)) return refuse_session(request);
  shared_->node.read([self, request, session](const Snapshot& snapshot) {
    int64_t timeout_ms = 0;
    if (snapshot.ok) {
      if (auto view = snapshot.machine->session(session)) timeout_ms = view->ttl_ms;
    }
    const bool caught_up = snapshot.ok && static_cast<int64_t>(snapshot.revision) >= request.last_zxid_seen;
    const auto zxid = static_cast<int64_t>(snapshot.revision);
    asio::post(self->shared_->io, [self, request, session, timeout_ms, caught_up, snapshot_ok = snapshot.ok, zxid] {
      // No read here: another node may serve it (as a ZooKeeper server
      // without quorum closes the connection).
      if (!snapshot_ok) return self->close("no linearizable read for a session moving here");
      if (!caught_up) return self->close("the client has seen a later zxid than this node");
      if (timeout_ms == 0) return self->refuse_session(request);
      self->accept_session(request, session, timeout_ms, zxid);
      self->renew();
    });
  });
}

void Connection::accept_session(const ConnectRequest& request, ls::SessionId session, int64_t timeout_ms,
                                int64_t zxid) {
  if (closed_) return;
  session_ = session;
  timeout_ms_ = timeout_ms;
  last_zxid_ = zxid;
  if (client_id_ == 0) client_id_ = shared_->node.new_client_id();
  ConnectResponse response{0, static_cast<int32_t>(timeout_ms), static_cast<int64_t>(session), password(session),
                           request.read_only ? std::optional<bool>(false) : std::nullopt};
  connecting_ = false;
  connected_ = true;
  renewed_ok_us_ = now_us();  // created, or found live by the read just made
  send(zookeeper::frame(zookeeper::encode_record(response)));
  start_renewals();
  auto early = std::move(early_);
  early_.clear();
  for (auto& frame : early) {
    if (!closed_) on_request(std::move(frame));
  }
  read_more();
}

// An expired or unknown session, or a wrong password: ZooKeeper answers
// with a timeout of 0, which its clients read as "session expired".
void Connection::refuse_session(const ConnectRequest& request) {
  ConnectResponse response{0, 0, 0, std::string(16, '\0'),
                           request.read_only ? std::optional<bool>(false) : std::nullopt};
  close_when_written_ = true;
  send(zookeeper::frame(zookeeper::encode_record(response)));
}

// The session is renewed as ZooKeeper touches it: when its client is heard
// (a ping or a request; maybe_renew), at most every sixth of its timeout.
// So an idle client, which pings every third, renews with each ping, and a
// session ends between five sixths of a timeout and one timeout after its
// client was last heard. Every sixth of the timeout a tick checks:
// - a client silent for a whole timeout is cut off (its session expires);
// - a session no renewal has reached the leader for half its timeout (this
//   node cannot reach a leader, or it was paused) has its connection closed,
//   so that the client moves to a node that can renew it while it still
//   lives, rather than believing it holds what the leader has let go. A
//   ZooKeeper server drops its clients when it loses its leader likewise.
void Connection::start_renewals() {
  renew_timer_.expires_after(std::chrono::milliseconds(std::max<int64_t>(timeout_ms_ / 6, 1)));
  renew_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || self->closed_) return;
    const int64_t now = now_us();
    if (now - self->heard_us_ > self->timeout_ms_ * 1000) return self->close("");
    if (now - self->renewed_ok_us_ > self->timeout_ms_ * 500) {
      return self->close("no renewal of the session reached the leader for half its timeout");
    }
    self->start_renewals();
  });
}

void Connection::maybe_renew() {
  if (!connected_ || now_us() - renew_sent_us_ < timeout_ms_ * 1000 / 6) return;
  renew();
}

void Connection::renew() {
  const int64_t sent_us = now_us();
  renew_sent_us_ = sent_us;
  shared_->node.keep_alive(session_, [self = shared_from_this(), sent_us](Renewal renewal) {
    if (renewal.kind == Renewal::Kind::unknown) return;  // the tick closes if none gets through
    asio::post(self->shared_->io, [self, sent_us, expired = renewal.kind == Renewal::Kind::expired] {
      // The session ended (expired, or closed from elsewhere): ZooKeeper
      // closes its connections, and the client learns it on reconnecting.
      if (expired) return self->close("");
      // Valid for a timeout from when the renewal was sent, at least.
      self->renewed_ok_us_ = std::max(self->renewed_ok_us_, sent_us);
    });
  });
}

}  // namespace synod::zkserver
