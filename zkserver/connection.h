// Internal to zkserver/: one client connection, on the listener's thread.
//
// Life: the first frame is a ConnectRequest (or the first four bytes are a
// four-letter word, answered and closed). Its session is created, or an
// existing one is taken over if its password matches and it is live; after
// that, every frame is a RequestHeader and its record.
//
// Order (ZooKeeper's guarantees, per connection):
// - Replies go out in request order: each request takes a slot in
//   `pending_` and replies leave from the front as they complete.
// - A session's requests take effect in the order it sent them (ZooKeeper's
//   FIFO client order), also when pipelined: a read starts only once every
//   earlier write of the connection has been answered, and a write only once
//   every earlier read has; reads after reads, and writes after writes, run
//   together (the log orders writes by their (client, seq)). Whatever
//   arrives behind a held request waits behind it (`deferred_`).
// - A reply that carries zxid r goes out only after every watch event of
//   this connection through r: the reply of a write waits until this node
//   has applied r (ZkNode::wait_applied), and a read runs on this node's
//   state; the events of revisions up to r were posted to this thread by the
//   owner thread before either callback, and events are written at once.
//
// The session: renewed at the leader whenever its client is heard, at most
// every sixth of its timeout; a client silent for a whole timeout is cut
// off and its session then expires on its own, as ZooKeeper's does; and a
// connection whose renewals have not reached the leader for half the
// timeout is closed, so that its client moves on in time (session.cpp).
#pragma once

#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "zkserver/shared.h"
#include "zookeeper/frame.h"
#include "zookeeper/records.h"

namespace synod::zkserver {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  // Which requests a request must wait for (the FIFO order above).
  enum class Phase : uint8_t { read, write, free };

  Connection(std::shared_ptr<Listener::Shared> shared, boost::asio::ip::tcp::socket socket, uint64_t id);
  void start();
  // A watch fired (listener thread).
  void deliver(const lockservice::ZnodeEvent& event);
  void close(std::string_view why);
  uint64_t id() const { return id_; }

 private:
  using Error = zookeeper::Error;
  // ---- bytes (connection.cpp)
  void read_more();
  void on_bytes(size_t n);
  void on_frame(std::string frame);
  void send(std::string bytes);
  void write_more();
  // ---- replies in order (connection.cpp)
  uint64_t reserve();
  // Completes a slot from any thread: the reply goes out in order.
  void finish(uint64_t slot, std::string frame, int64_t zxid, bool close_after = false);
  void flush_ready();
  std::string reply(int32_t xid, int64_t zxid, Error error, std::string_view body = {}) const;
  // ---- the session (session.cpp)
  void on_connect(const std::string& frame);
  void accept_session(const zookeeper::ConnectRequest& request, lockservice::SessionId session, int64_t timeout_ms,
                      int64_t zxid);
  void refuse_session(const zookeeper::ConnectRequest& request);
  void start_renewals();
  void renew();
  void maybe_renew();
  std::string password(lockservice::SessionId session) const;
  // ---- requests (requests.cpp, reads.cpp)
  void on_request(std::string frame);
  bool held(Phase phase) const;
  void start_request(const std::string& frame, uint64_t slot, Phase phase);
  void start_deferred();
  void dispatch(const zookeeper::RequestHeader& header, zookeeper::JuteReader& reader, uint64_t slot);
  // `types`: the op codes of a multi's results, in order.
  void write(lockservice::Command command, int32_t xid, zookeeper::OpCode op, uint64_t slot,
             std::vector<zookeeper::OpCode> types = {});
  // On the owner thread: the reply of a write, from its result.
  void answer_write(const lockservice::Result& result, uint64_t revision, int32_t xid, zookeeper::OpCode op,
                    uint64_t slot, const std::vector<zookeeper::OpCode>& types);
  void read_op(const zookeeper::RequestHeader& header, zookeeper::JuteReader& reader, uint64_t slot);
  void set_watches(int32_t xid, zookeeper::JuteReader& reader, bool v2, uint64_t slot);
  void close_session(int32_t xid, uint64_t slot);
  void add_auth(int32_t xid, zookeeper::JuteReader& reader, uint64_t slot);
  // ---- the 3.6 and 3.7 ops (more_ops.cpp)
  void watch_op(const zookeeper::RequestHeader& header, zookeeper::JuteReader& reader, uint64_t slot);
  void who_am_i(int32_t xid, uint64_t slot);
  void read_op2(const zookeeper::RequestHeader& header, zookeeper::JuteReader& reader, uint64_t slot);
  zookeeper::MultiResponse multi_read(const lockservice::StateMachine& machine, const zookeeper::MultiRequest& request,
                                      const lockservice::ZnodeIds& ids) const;
  // ---- four-letter words (four_letter.cpp)
  void four_letter(std::string_view word);

  struct Pending {
    Phase phase = Phase::free;
    bool ready = false;
    bool close_after = false;
    int64_t zxid = 0;
    int64_t started_us = 0;
    std::string frame;
  };

  std::shared_ptr<Listener::Shared> shared_;
  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer renew_timer_;
  const uint64_t id_;
  zookeeper::FrameReader frames_;
  std::array<char, 16384> buffer_{};
  bool first_bytes_ = true;
  bool connecting_ = false;  // the ConnectRequest is being answered
  bool connected_ = false;   // a session is attached
  bool closed_ = false;
  bool reading_ = false;
  bool close_when_written_ = false;  // a close or a four-letter word was answered
  // Writing: `writing_` is on the wire, `queued_` waits for it.
  std::string writing_, queued_;
  std::deque<Pending> pending_;
  std::deque<std::string> early_;  // requests that came before the session was set up
  struct Deferred {
    std::string frame;
    uint64_t slot = 0;
    Phase phase = Phase::free;
  };
  std::deque<Deferred> deferred_;
  size_t reads_running_ = 0, writes_running_ = 0;
  uint64_t first_slot_ = 0;  // the slot of pending_.front()
  lockservice::SessionId session_ = lockservice::kNoSession;
  int64_t timeout_ms_ = 0;
  int64_t heard_us_ = 0;       // when the client last sent anything
  int64_t renew_sent_us_ = 0;  // the last renewal sent
  int64_t renewed_ok_us_ = 0;  // when the last renewal that the leader granted was sent
  // Who this connection's requests act as: its ip, and each addauth digest
  // (lockservice/znode_types.h). Every write carries them.
  lockservice::ZnodeIds ids_;
  int64_t last_zxid_ = 0;
  lockservice::ClientId client_id_ = 0;
  uint64_t seq_ = 0;
};

int64_t now_us();

}  // namespace synod::zkserver
