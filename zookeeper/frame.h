// The framing of ZooKeeper's client protocol: every message either way is a
// 4-byte big-endian length, then that many bytes (a ConnectRequest or
// ConnectResponse first, then a RequestHeader or ReplyHeader and its record).
//
// FrameReader owns one connection's bytes that have arrived but do not yet
// make a whole frame. It refuses a length below 0 or over its bound (by
// default kBufferBytesMax, ZooKeeper's jute.maxbuffer, which a ZooKeeper
// server refuses past too) with a sentence saying so; the stream is then
// broken for good, since nothing after a bad length can be framed, and the
// caller closes the connection. A caller that takes every whole frame after
// each append leaves it holding at most one partial frame (bounded) and one
// append's bytes: announcing a huge frame gets a client nowhere, because the
// length is checked before the body is waited for.
//
// One connection's owner uses it; it is not shared between threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "zookeeper/jute.h"

namespace synod::zookeeper {

inline constexpr size_t kFrameLengthBytes = 4;

class FrameReader {
 public:
  explicit FrameReader(int32_t frame_bytes_max = kBufferBytesMax);

  // Bytes as they arrived from the stream, in any pieces.
  void append(std::string_view bytes);

  // Moves the next whole frame, without its length, into `frame` and returns
  // true; returns false when more bytes are needed or the stream is broken
  // (failed()). Check failed() after each false.
  bool next(std::string& frame);

  bool failed() const { return !error_.empty(); }
  // Why the stream is broken ("a frame length of 2000000 exceeds the bound
  // of 1048575 bytes"); empty while it is not.
  const std::string& error() const { return error_; }
  // Bytes held that are not yet a whole frame.
  size_t buffered() const { return buffer_.size() - start_; }

 private:
  int32_t frame_bytes_max_;
  std::string buffer_;
  size_t start_ = 0;  // where the unread bytes begin in buffer_
  std::string error_;
};

// `body` with its 4-byte length in front. A body over INT32_MAX bytes is a
// bug (asserted); keeping replies under the client's jute.maxbuffer is the
// caller's.
std::string frame(std::string_view body);

}  // namespace synod::zookeeper
