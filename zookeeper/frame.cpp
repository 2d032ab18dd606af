#include "zookeeper/frame.h"

#include <limits>

#include "base/assert.h"

namespace synod::zookeeper {

FrameReader::FrameReader(int32_t frame_bytes_max) : frame_bytes_max_(frame_bytes_max) {
  SYNOD_ASSERT(frame_bytes_max >= 0);
}

void FrameReader::append(std::string_view bytes) {
  if (failed()) return;
  // Drop what has been handed out before growing, so the buffer stays near
  // one frame.
  if (start_ > 0 && start_ == buffer_.size()) {
    buffer_.clear();
    start_ = 0;
  } else if (start_ > 0 && start_ >= buffer_.size() / 2) {
    buffer_.erase(0, start_);
    start_ = 0;
  }
  buffer_.append(bytes);
}

bool FrameReader::next(std::string& frame) {
  if (failed()) return false;
  const size_t held = buffer_.size() - start_;
  if (held < kFrameLengthBytes) return false;
  uint32_t bits = 0;
  for (size_t i = 0; i < kFrameLengthBytes; ++i) bits = (bits << 8) | static_cast<uint8_t>(buffer_[start_ + i]);
  const auto length = static_cast<int32_t>(bits);
  if (length < 0) {
    error_ = "a frame length of " + std::to_string(length) + " is negative";
    return false;
  }
  if (length > frame_bytes_max_) {
    error_ = "a frame length of " + std::to_string(length) + " exceeds the bound of " +
             std::to_string(frame_bytes_max_) + " bytes (jute.maxbuffer)";
    return false;
  }
  const auto body = static_cast<size_t>(length);
  if (held - kFrameLengthBytes < body) return false;
  frame.assign(buffer_, start_ + kFrameLengthBytes, body);
  start_ += kFrameLengthBytes + body;
  if (start_ == buffer_.size()) {
    buffer_.clear();
    start_ = 0;
  }
  return true;
}

std::string frame(std::string_view body) {
  SYNOD_ASSERT_MSG(body.size() <= static_cast<size_t>(std::numeric_limits<int32_t>::max()), "a frame over INT32_MAX");
  std::string out;
  out.reserve(kFrameLengthBytes + body.size());
  JuteWriter writer(out);
  writer.int32(static_cast<int32_t>(body.size()));
  out.append(body);
  return out;
}

}  // namespace synod::zookeeper
