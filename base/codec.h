// Binary encoding primitives shared by everything that writes bytes: the
// peer wire codec, the storage records and the lock service's commands and
// snapshots.
//
// Integers are little-endian fixed width or LEB128 varints; byte strings are a
// varint length then the bytes. Decoding never trusts the input: every read is
// bounds-checked, a varint longer than 10 bytes or a length past the end makes
// the Reader fail, and a failed Reader returns zeros from then on, so a caller
// decodes a whole record and checks ok() once at the end. Nothing here
// allocates more than the input's own size.
//
// Header-only and pure; any thread may use its own Reader and Writer.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace synod {

class Writer {
 public:
  explicit Writer(std::string& out) : out_(out) {}

  void u8(uint8_t value) { out_.push_back(static_cast<char>(value)); }
  void fixed32(uint32_t value) {
    char bytes[4];
    for (int i = 0; i < 4; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xff);
    out_.append(bytes, 4);
  }
  void fixed64(uint64_t value) {
    char bytes[8];
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xff);
    out_.append(bytes, 8);
  }
  void varint(uint64_t value) {
    while (value >= 0x80) {
      out_.push_back(static_cast<char>((value & 0x7f) | 0x80));
      value >>= 7;
    }
    out_.push_back(static_cast<char>(value));
  }
  // Zig-zag, so small negative numbers stay short.
  void svarint(int64_t value) {
    varint((static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63));
  }
  void bytes(std::string_view value) {
    varint(value.size());
    out_.append(value.data(), value.size());
  }
  void boolean(bool value) { u8(value ? 1 : 0); }

  size_t size() const { return out_.size(); }

 private:
  std::string& out_;
};

// Encodes with `put(Writer&)` into a buffer this thread reuses, and returns
// a copy at exactly its size: one allocation, where a string grown from
// empty is reallocated at 30, 60, 120... bytes (a profile of puts named
// Writer::varint and Writer::bytes among the allocator's callers, issue 18).
// A buffer grown past 1 MiB is not kept.
template <typename Put>
std::string encode_exact(Put&& put) {
  thread_local std::string scratch;
  scratch.clear();
  Writer writer(scratch);
  put(writer);
  std::string out(scratch);
  if (scratch.capacity() > (size_t{1} << 20)) std::string().swap(scratch);
  return out;
}

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool ok() const { return ok_; }
  bool done() const { return ok_ && pos_ == in_.size(); }
  size_t remaining() const { return ok_ ? in_.size() - pos_ : 0; }
  // Marks the input malformed (for checks the caller makes itself).
  void fail() { ok_ = false; }

  uint8_t u8() {
    if (!need(1)) return 0;
    return static_cast<uint8_t>(in_[pos_++]);
  }
  uint32_t fixed32() {
    if (!need(4)) return 0;
    uint32_t value = 0;
    for (int i = 0; i < 4; ++i) value |= static_cast<uint32_t>(static_cast<uint8_t>(in_[pos_ + static_cast<size_t>(i)])) << (8 * i);
    pos_ += 4;
    return value;
  }
  uint64_t fixed64() {
    if (!need(8)) return 0;
    uint64_t value = 0;
    for (int i = 0; i < 8; ++i) value |= static_cast<uint64_t>(static_cast<uint8_t>(in_[pos_ + static_cast<size_t>(i)])) << (8 * i);
    pos_ += 8;
    return value;
  }
  uint64_t varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (!need(1)) return 0;
      const auto byte = static_cast<uint8_t>(in_[pos_++]);
      if (shift == 63 && byte > 1) break;  // would overflow 64 bits
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return value;
    }
    ok_ = false;
    return 0;
  }
  int64_t svarint() {
    const uint64_t raw = varint();
    return static_cast<int64_t>((raw >> 1) ^ (~(raw & 1) + 1));
  }
  // A view into the input; valid while the input is.
  std::string_view bytes() { return raw(varint()); }
  // The next `length` bytes, as a view into the input.
  std::string_view raw(uint64_t length) {
    if (!ok_ || length > in_.size() - pos_) {
      ok_ = false;
      return {};
    }
    std::string_view value = in_.substr(pos_, static_cast<size_t>(length));
    pos_ += static_cast<size_t>(length);
    return value;
  }
  bool boolean() {
    const uint8_t value = u8();
    if (value > 1) ok_ = false;
    return value == 1;
  }

 private:
  bool need(size_t count) {
    if (!ok_ || in_.size() - pos_ < count) {
      ok_ = false;
      return false;
    }
    return true;
  }

  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace synod
