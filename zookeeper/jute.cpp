#include "zookeeper/jute.h"

#include <limits>
#include <utility>

#include "base/assert.h"

namespace synod::zookeeper {

void JuteWriter::int32(int32_t value) {
  const auto bits = static_cast<uint32_t>(value);
  char bytes[4];
  for (int i = 0; i < 4; ++i) bytes[i] = static_cast<char>((bits >> (8 * (3 - i))) & 0xff);
  out_.append(bytes, 4);
}

void JuteWriter::int64(int64_t value) {
  const auto bits = static_cast<uint64_t>(value);
  char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((bits >> (8 * (7 - i))) & 0xff);
  out_.append(bytes, 8);
}

void JuteWriter::boolean(bool value) { out_.push_back(value ? '\1' : '\0'); }

void JuteWriter::bytes(const std::optional<std::string>& value) {
  if (!value) {
    int32(-1);
    return;
  }
  SYNOD_ASSERT_MSG(value->size() <= static_cast<size_t>(std::numeric_limits<int32_t>::max()),
                   "a jute ustring or buffer over INT32_MAX bytes");
  int32(static_cast<int32_t>(value->size()));
  out_.append(*value);
}

void JuteWriter::ustring(const std::optional<std::string>& value) { bytes(value); }
void JuteWriter::buffer(const std::optional<std::string>& value) { bytes(value); }

void JuteWriter::vector_count(std::optional<size_t> count) {
  if (!count) {
    int32(-1);
    return;
  }
  SYNOD_ASSERT_MSG(*count <= static_cast<size_t>(std::numeric_limits<int32_t>::max()),
                   "a jute vector over INT32_MAX items");
  int32(static_cast<int32_t>(*count));
}

void JuteReader::fail(std::string sentence) {
  if (error_.empty()) error_ = sentence.empty() ? std::string("malformed input") : std::move(sentence);
}

bool JuteReader::need(size_t count, const char* what, const char* field) {
  if (!ok()) return false;
  const size_t left = in_.size() - pos_;
  if (left < count) {
    fail(std::string(field) + ": " + what + " needs " + std::to_string(count) + " bytes but " + std::to_string(left) +
         (left == 1 ? " remains" : " remain"));
    return false;
  }
  return true;
}

int32_t JuteReader::int32(const char* field) {
  if (!need(4, "an int", field)) return 0;
  uint32_t bits = 0;
  for (size_t i = 0; i < 4; ++i) bits = (bits << 8) | static_cast<uint8_t>(in_[pos_ + i]);
  pos_ += 4;
  return static_cast<int32_t>(bits);
}

int64_t JuteReader::int64(const char* field) {
  if (!need(8, "a long", field)) return 0;
  uint64_t bits = 0;
  for (size_t i = 0; i < 8; ++i) bits = (bits << 8) | static_cast<uint8_t>(in_[pos_ + i]);
  pos_ += 8;
  return static_cast<int64_t>(bits);
}

bool JuteReader::boolean(const char* field) {
  if (!need(1, "a boolean", field)) return false;
  return in_[pos_++] != 0;
}

std::optional<std::string> JuteReader::bytes(const char* kind, const char* field) {
  const int32_t length = int32(field);
  if (!ok() || length == -1) return std::nullopt;
  const std::string prefix = std::string(field) + ": a " + kind + " length of " + std::to_string(length);
  if (length < 0) {
    fail(prefix + " is negative, and only -1 (null) may be");
    return std::nullopt;
  }
  const size_t left = in_.size() - pos_;
  if (static_cast<size_t>(length) > left) {
    fail(prefix + " exceeds the " + std::to_string(left) + (left == 1 ? " byte that remains" : " bytes that remain"));
    return std::nullopt;
  }
  if (length > kBufferBytesMax) {
    fail(prefix + " exceeds jute.maxbuffer, " + std::to_string(kBufferBytesMax) + " bytes");
    return std::nullopt;
  }
  std::string value(in_.substr(pos_, static_cast<size_t>(length)));
  pos_ += static_cast<size_t>(length);
  return value;
}

std::optional<std::string> JuteReader::ustring(const char* field) { return bytes("ustring", field); }
std::optional<std::string> JuteReader::buffer(const char* field) { return bytes("buffer", field); }

std::optional<size_t> JuteReader::vector_count(const char* field, size_t item_bytes_min) {
  SYNOD_ASSERT(item_bytes_min > 0);
  const int32_t count = int32(field);
  if (!ok() || count == -1) return std::nullopt;
  const std::string prefix = std::string(field) + ": a vector count of " + std::to_string(count);
  if (count < 0) {
    fail(prefix + " is negative, and only -1 (null) may be");
    return std::nullopt;
  }
  const size_t left = in_.size() - pos_;
  if (static_cast<size_t>(count) > left / item_bytes_min) {
    fail(prefix + " cannot fit in the " + std::to_string(left) + (left == 1 ? " byte" : " bytes") +
         " that remain, at " + std::to_string(item_bytes_min) + " bytes or more each");
    return std::nullopt;
  }
  return static_cast<size_t>(count);
}

}  // namespace synod::zookeeper
