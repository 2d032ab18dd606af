// Jute, the binary encoding of ZooKeeper's client protocol (Apache
// ZooKeeper's BinaryInputArchive and BinaryOutputArchive), for the records in
// zookeeper/records.h:
//
//   int      4 bytes, big-endian, signed
//   long     8 bytes, big-endian, signed
//   boolean  1 byte: 0 false, anything else true (Java's readBoolean); written as 0 or 1
//   ustring  int length, then that many bytes of UTF-8; length -1 is null
//   buffer   int length, then that many bytes; length -1 is null
//   vector   int count, then count items; count -1 is null
//
// This is not base/codec.h's encoding (little-endian, varints): ZooKeeper's
// clients speak this one, so it gets its own Reader and Writer.
//
// The reader never trusts its input, because it comes from any client that
// can reach the port: every length and count is checked against the bytes
// that remain (a count against the smallest size of its items) before
// anything is reserved, so a decode allocates at most about the input's own
// size. A failed read makes the reader fail for good, keeps the first
// sentence saying what was wrong ("GetDataRequest.path: a ustring length of
// 2000000 exceeds the 12 bytes that remain") and returns zeros and nulls from
// then on, so a caller decodes a whole record and checks ok() once. Bad input
// never asserts or throws; the caller answers with an error or closes the
// connection.
//
// Pure; any thread may use its own JuteReader and JuteWriter.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace synod::zookeeper {

// ZooKeeper's jute.maxbuffer default, 0xfffff bytes (1 MiB - 1): the largest
// frame a ZooKeeper server accepts from a client (NIOServerCnxn refuses a
// longer length prefix) and so the largest buffer or ustring a request can
// carry. Clients refuse replies past their own jute.maxbuffer, the same
// default, so the server that answers keeps under it too.
inline constexpr int32_t kBufferBytesMax = 0xfffff;

// The smallest encodings, for checking a vector's count against the bytes
// that remain: a ustring is its length, an Id two ustrings, an ACL its perms
// and an Id.
inline constexpr size_t kUstringBytesMin = 4;
inline constexpr size_t kIdBytesMin = 2 * kUstringBytesMin;
inline constexpr size_t kAclBytesMin = 4 + kIdBytesMin;

class JuteWriter {
 public:
  explicit JuteWriter(std::string& out) : out_(out) {}

  void int32(int32_t value);
  void int64(int64_t value);
  void boolean(bool value);
  // A null ustring or buffer is written as length -1. A value longer than
  // INT32_MAX bytes is a bug (asserted): nothing of ours holds one.
  void ustring(const std::optional<std::string>& value);
  void buffer(const std::optional<std::string>& value);
  // A vector's count; -1 for null. Its items follow, written by the caller.
  void vector_count(std::optional<size_t> count);

  size_t size() const { return out_.size(); }

 private:
  void bytes(const std::optional<std::string>& value);

  std::string& out_;
};

class JuteReader {
 public:
  // Reads `in` in place: the bytes must outlive the reader (a temporary
  // string is refused at compile time).
  explicit JuteReader(std::string_view in) : in_(in) {}
  explicit JuteReader(std::string&& in) = delete;

  bool ok() const { return error_.empty(); }
  // Read to the end without a failure.
  bool done() const { return ok() && pos_ == in_.size(); }
  size_t remaining() const { return ok() ? in_.size() - pos_ : 0; }
  size_t position() const { return pos_; }
  // The first failure's sentence; empty while ok().
  const std::string& error() const { return error_; }
  // Fails the reader (for checks a record makes itself, such as a multi op
  // of a type that may not appear there). The first failure's sentence stays.
  void fail(std::string sentence);

  // Each read names its field (`field` is a tag such as "Stat.czxid") so that
  // a failure says which one was wrong.
  int32_t int32(const char* field);
  int64_t int64(const char* field);
  bool boolean(const char* field);
  // Null (length -1) is nullopt. A length below -1, past the bytes that
  // remain or over kBufferBytesMax fails.
  std::optional<std::string> ustring(const char* field);
  std::optional<std::string> buffer(const char* field);
  // A vector's count, nullopt for null (-1) or on failure (check ok()). A
  // count below -1, or one whose items, each at least `item_bytes_min`
  // bytes, could not fit in the bytes that remain, fails; so a caller may
  // reserve the count it gets.
  std::optional<size_t> vector_count(const char* field, size_t item_bytes_min);

 private:
  bool need(size_t count, const char* what, const char* field);
  std::optional<std::string> bytes(const char* kind, const char* field);

  std::string_view in_;
  size_t pos_ = 0;
  std::string error_;
};

}  // namespace synod::zookeeper
