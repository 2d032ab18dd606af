#include "zkserver/connection.h"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <cctype>
#include <chrono>

namespace synod::zkserver {

namespace asio = boost::asio;

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Connection::Connection(std::shared_ptr<Listener::Shared> shared, asio::ip::tcp::socket socket, uint64_t id)
    : shared_(std::move(shared)), socket_(std::move(socket)), renew_timer_(shared_->io), id_(id) {}

void Connection::start() {
  heard_us_ = now_us();
  // A connection that brings no ConnectRequest in time is closed, as
  // ZooKeeper closes one after its connect timeout.
  renew_timer_.expires_after(std::chrono::milliseconds(shared_->options.handshake_ms_max));
  renew_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec && !self->connected_) self->close("no session was established in time");
  });
  boost::system::error_code ec;
  const auto remote = socket_.remote_endpoint(ec);
  if (!ec) ids_.push_back(lockservice::ZnodeId{"ip", remote.address().to_string()});
  read_more();
}

void Connection::close(std::string_view why) {
  if (closed_) return;
  closed_ = true;
  if (!why.empty()) shared_->log("zookeeper_connection_closed", why);
  boost::system::error_code ignored;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  renew_timer_.cancel();
  shared_->watches.forget(id_);
  shared_->connections.erase(id_);
  shared_->outstanding -= pending_.size();
  pending_.clear();
  --shared_->alive;
}

// ------------------------------------------------------------------ bytes

void Connection::read_more() {
  // Reading stops while too many replies are outstanding (the throttle).
  if (closed_ || reading_ || close_when_written_ || pending_.size() >= shared_->options.outstanding_per_connection_max)
    return;
  reading_ = true;
  socket_.async_read_some(asio::buffer(buffer_), [self = shared_from_this()](boost::system::error_code ec, size_t n) {
    self->reading_ = false;
    if (ec) return self->close("");
    self->on_bytes(n);
  });
}

void Connection::on_bytes(size_t n) {
  heard_us_ = now_us();
  maybe_renew();
  std::string_view bytes(buffer_.data(), n);
  if (first_bytes_) {
    first_bytes_ = false;
    // A four-letter word comes instead of a frame: no frame of ours starts
    // with four lower-case letters (its length would be over 1.8 GB).
    if (n >= 4 && std::islower(static_cast<unsigned char>(bytes[0])) &&
        std::islower(static_cast<unsigned char>(bytes[1])) && std::islower(static_cast<unsigned char>(bytes[2])) &&
        std::islower(static_cast<unsigned char>(bytes[3]))) {
      return four_letter(bytes.substr(0, 4));
    }
  }
  frames_.append(bytes);
  std::string frame;
  while (!closed_ && frames_.next(frame)) on_frame(std::move(frame));
  if (frames_.failed()) return close(frames_.error());
  read_more();
}

void Connection::on_frame(std::string frame) {
  ++shared_->received;
  if (connected_) return on_request(std::move(frame));
  // ZooKeeper's Netty client sends its auth and setWatches packets, and any
  // queued request, right behind the ConnectRequest: they wait for the
  // session, as ZooKeeper's server stops reading until it is set up.
  if (connecting_) {
    if (early_.size() >= shared_->options.outstanding_per_connection_max) {
      return close("too many requests before the session was established");
    }
    early_.push_back(std::move(frame));
    return;
  }
  on_connect(frame);
}

void Connection::send(std::string bytes) {
  if (closed_) return;
  ++shared_->sent;
  queued_ += bytes;
  write_more();
}

void Connection::write_more() {
  if (closed_ || !writing_.empty() || queued_.empty()) return;
  writing_.swap(queued_);
  asio::async_write(socket_, asio::buffer(writing_), [self = shared_from_this()](boost::system::error_code ec, size_t) {
    self->writing_.clear();
    if (ec) return self->close("");
    self->write_more();
    if (self->close_when_written_ && self->writing_.empty()) self->close("");
  });
}

void Connection::deliver(const lockservice::ZnodeEvent& event) {
  if (!connected_) return;
  zookeeper::WatcherEvent watched;
  watched.type = static_cast<int32_t>(event.type);
  watched.state = static_cast<int32_t>(zookeeper::KeeperState::sync_connected);
  watched.path = event.path;
  // ZooKeeper's notifications carry zxid -1.
  send(reply(zookeeper::kNotificationXid, -1, Error::ok, zookeeper::encode_record(watched)));
}

// ------------------------------------------------------- replies in order

uint64_t Connection::reserve() {
  pending_.push_back(Pending{Phase::free, false, false, 0, now_us(), {}});
  ++shared_->outstanding;
  return first_slot_ + pending_.size() - 1;
}

void Connection::finish(uint64_t slot, std::string frame, int64_t zxid, bool close_after) {
  asio::post(shared_->io, [self = shared_from_this(), slot, frame = std::move(frame), zxid, close_after]() mutable {
    if (self->closed_ || slot < self->first_slot_) return;
    auto& pending = self->pending_[slot - self->first_slot_];
    if (pending.phase == Phase::read) --self->reads_running_;
    if (pending.phase == Phase::write) --self->writes_running_;
    pending.ready = true;
    pending.frame = std::move(frame);
    pending.zxid = zxid;
    pending.close_after = close_after;
    self->start_deferred();
    self->flush_ready();
  });
}

void Connection::flush_ready() {
  while (!closed_ && !pending_.empty() && pending_.front().ready) {
    auto pending = std::move(pending_.front());
    pending_.pop_front();
    ++first_slot_;
    --shared_->outstanding;
    const int64_t took_us = now_us() - pending.started_us;
    shared_->latency_us_sum += took_us;
    ++shared_->latency_count;
    if (took_us > shared_->latency_us_max) shared_->latency_us_max = took_us;
    if (pending.zxid > last_zxid_) last_zxid_ = pending.zxid;
    send(std::move(pending.frame));
    if (pending.close_after) {
      // No more requests: the reply leaves, then the connection closes.
      close_when_written_ = true;
      write_more();
      return;
    }
  }
  read_more();
}

std::string Connection::reply(int32_t xid, int64_t zxid, Error error, std::string_view body) const {
  std::string bytes;
  zookeeper::JuteWriter writer(bytes);
  zookeeper::ReplyHeader{xid, zxid, static_cast<int32_t>(error)}.encode(writer);
  bytes += body;
  return zookeeper::frame(bytes);
}

}  // namespace synod::zkserver
