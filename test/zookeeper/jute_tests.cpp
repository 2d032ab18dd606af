// The jute codec and ZooKeeper's records (zookeeper/): bytes written by hand
// from zookeeper.jute, round trips of every record, and the refusals of
// truncated, oversized and negative input.
#include <catch2/catch.hpp>

#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "zookeeper/frame.h"
#include "zookeeper/jute.h"
#include "zookeeper/records.h"

namespace zk = synod::zookeeper;

namespace {

std::string hex(std::string_view bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    const auto byte = static_cast<uint8_t>(c);
    out.push_back(digits[byte >> 4]);
    out.push_back(digits[byte & 0xf]);
  }
  return out;
}

std::string unhex(std::string_view text) {
  std::string out;
  for (size_t i = 0; i + 1 < text.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(text.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// Big-endian int32, written here by hand rather than by the code under test.
std::string be32(int32_t value) {
  const auto bits = static_cast<uint32_t>(value);
  return std::string{static_cast<char>(bits >> 24), static_cast<char>((bits >> 16) & 0xff),
                     static_cast<char>((bits >> 8) & 0xff), static_cast<char>(bits & 0xff)};
}

zk::Stat sample_stat(int64_t seed) {
  zk::Stat stat;
  stat.czxid = 0x100000001 + seed;
  stat.mzxid = 0x100000002 + seed;
  stat.ctime_ms = 1700000000000 + seed;
  stat.mtime_ms = 1700000000500 + seed;
  stat.version = 3;
  stat.cversion = -1;
  stat.aversion = 7;
  stat.ephemeral_owner = static_cast<int64_t>(0x8000000000000001ULL);  // negative: a session id's high bit
  stat.data_length = 5;
  stat.num_children = 2;
  stat.pzxid = 0x100000003 + seed;
  return stat;
}

std::vector<zk::Acl> sample_acls() {
  return {zk::Acl{zk::kPermAll, zk::Id{"world", "anyone"}},
          zk::Acl{zk::kPermRead | zk::kPermWrite, zk::Id{"digest", "user:c2VjcmV0"}}};
}

// Samples of each record: ordinary values, nulls and empties, extremes.
template <typename Record>
std::vector<Record> samples();

template <>
std::vector<zk::Id> samples() {
  return {{"world", "anyone"}, {std::nullopt, ""}, {"ip", std::nullopt}};
}
template <>
std::vector<zk::Acl> samples() {
  return {sample_acls()[0], sample_acls()[1], zk::Acl{0, zk::Id{}}};
}
template <>
std::vector<zk::Stat> samples() {
  zk::Stat extremes;
  extremes.czxid = INT64_MIN;
  extremes.pzxid = INT64_MAX;
  extremes.version = INT32_MIN;
  extremes.num_children = INT32_MAX;
  return {sample_stat(0), zk::Stat{}, extremes};
}
template <>
std::vector<zk::ConnectRequest> samples() {
  return {zk::ConnectRequest{0, 0, 30000, 0, std::string(16, '\0'), false},
          zk::ConnectRequest{0, 0x1234, 10000, 0x0123456789abcdef, "0123456789abcdef", true},
          zk::ConnectRequest{0, 5, 6000, 77, std::nullopt, std::nullopt}};
}
template <>
std::vector<zk::ConnectResponse> samples() {
  return {zk::ConnectResponse{0, 30000, 0x0123456789abcdef, std::string(16, 'p'), false},
          zk::ConnectResponse{0, 0, 0, std::string(16, '\0'), true},
          zk::ConnectResponse{0, 4000, 9, "pw", std::nullopt}};
}
template <>
std::vector<zk::RequestHeader> samples() {
  return {{1, 4}, {zk::kPingXid, 11}, {INT32_MAX, -11}};
}
template <>
std::vector<zk::ReplyHeader> samples() {
  return {{1, 0x100000005, 0}, {zk::kNotificationXid, -1, 0}, {7, 0, -101}};
}
template <>
std::vector<zk::MultiHeader> samples() {
  return {{1, false, -1}, {-1, true, -1}, {-1, false, -110}};
}
template <>
std::vector<zk::ErrorResponse> samples() {
  return {{0}, {-101}, {-2}};
}
template <>
std::vector<zk::CreateRequest> samples() {
  return {zk::CreateRequest{"/app/lock-", "hello", sample_acls(), 3},
          zk::CreateRequest{"/empty", "", std::vector<zk::Acl>{}, 0},
          zk::CreateRequest{std::nullopt, std::nullopt, std::nullopt, 4}};
}
template <>
std::vector<zk::CreateTtlRequest> samples() {
  return {zk::CreateTtlRequest{"/ttl", "x", sample_acls(), 5, 60000},
          zk::CreateTtlRequest{"/ttl-", std::nullopt, std::nullopt, 6, INT64_MAX}};
}
template <>
std::vector<zk::CreateResponse> samples() {
  return {{"/app/lock-0000000001"}, {std::nullopt}, {""}};
}
template <>
std::vector<zk::Create2Response> samples() {
  return {{"/a", sample_stat(1)}, {std::nullopt, zk::Stat{}}};
}
template <>
std::vector<zk::DeleteRequest> samples() {
  return {{"/a/b", -1}, {"/a", 12}, {std::nullopt, 0}};
}
template <>
std::vector<zk::ExistsRequest> samples() {
  return {{"/a", true}, {"/b", false}, {std::nullopt, false}};
}
template <>
std::vector<zk::ExistsResponse> samples() {
  return {{sample_stat(2)}, {zk::Stat{}}};
}
template <>
std::vector<zk::GetDataRequest> samples() {
  return {{"/config", true}, {"/", false}};
}
template <>
std::vector<zk::GetDataResponse> samples() {
  return {{std::string("\0\1\2binary\xff", 10), sample_stat(3)}, {std::nullopt, zk::Stat{}}, {"", sample_stat(4)}};
}
template <>
std::vector<zk::SetDataRequest> samples() {
  return {{"/config", "v=2", 4}, {"/n", std::nullopt, -1}, {"/e", "", 0}};
}
template <>
std::vector<zk::SetDataResponse> samples() {
  return {{sample_stat(5)}};
}
template <>
std::vector<zk::GetChildrenRequest> samples() {
  return {{"/app", true}, {"/", false}};
}
template <>
std::vector<zk::GetChildrenResponse> samples() {
  return {{std::vector<std::string>{"a", "lock-0000000001", ""}}, {std::vector<std::string>{}}, {std::nullopt}};
}
template <>
std::vector<zk::GetChildren2Request> samples() {
  return {{"/app", false}, {"/x", true}};
}
template <>
std::vector<zk::GetChildren2Response> samples() {
  return {{std::vector<std::string>{"one", "two"}, sample_stat(6)}, {std::nullopt, zk::Stat{}}};
}
template <>
std::vector<zk::GetAclRequest> samples() {
  return {{"/secured"}, {std::nullopt}};
}
template <>
std::vector<zk::GetAclResponse> samples() {
  return {{sample_acls(), sample_stat(7)}, {std::vector<zk::Acl>{}, zk::Stat{}}, {std::nullopt, zk::Stat{}}};
}
template <>
std::vector<zk::SetAclRequest> samples() {
  return {{"/secured", sample_acls(), 2}, {"/x", std::nullopt, -1}};
}
template <>
std::vector<zk::SetAclResponse> samples() {
  return {{sample_stat(8)}};
}
template <>
std::vector<zk::SyncRequest> samples() {
  return {{"/app"}, {std::nullopt}};
}
template <>
std::vector<zk::SyncResponse> samples() {
  return {{"/app"}, {""}};
}
template <>
std::vector<zk::CheckVersionRequest> samples() {
  return {{"/app", 3}, {"/x", -1}};
}
template <>
std::vector<zk::MultiRequest> samples() {
  zk::MultiRequest every;
  every.ops = {
      {1, zk::CreateRequest{"/t/a", "1", sample_acls(), 0}},
      {15, zk::CreateRequest{"/t/b", std::nullopt, sample_acls(), 2}},
      {19, zk::CreateRequest{"/t/c", "", sample_acls(), 4}},
      {21, zk::CreateTtlRequest{"/t/d", "", sample_acls(), 5, 1000}},
      {2, zk::DeleteRequest{"/t/e", 3}},
      {5, zk::SetDataRequest{"/t/f", "v", -1}},
      {13, zk::CheckVersionRequest{"/t", 9}},
  };
  zk::MultiRequest reads;
  reads.ops = {{8, zk::GetChildrenRequest{"/t", false}}, {4, zk::GetDataRequest{"/t/a", false}}};
  return {every, reads, zk::MultiRequest{}};
}
template <>
std::vector<zk::MultiResponse> samples() {
  zk::MultiResponse every;
  every.results = {
      {1, 0, zk::CreateResponse{"/t/a"}},
      {15, 0, zk::Create2Response{"/t/b0000000001", sample_stat(9)}},
      {2, 0, std::monostate{}},
      {13, 0, std::monostate{}},
      {5, 0, zk::SetDataResponse{sample_stat(10)}},
      {8, 0, zk::GetChildrenResponse{std::vector<std::string>{"a", "b"}}},
      {4, 0, zk::GetDataResponse{"1", sample_stat(11)}},
  };
  zk::MultiResponse failed;
  failed.results = {{-1, 0, zk::ErrorResponse{0}},
                    {-1, -110, zk::ErrorResponse{-110}},
                    {-1, -2, zk::ErrorResponse{-2}}};
  return {every, failed, zk::MultiResponse{}};
}
template <>
std::vector<zk::SetWatches> samples() {
  return {{0x100000007, std::vector<std::string>{"/a", "/b"}, std::vector<std::string>{"/c"},
           std::vector<std::string>{}},
          {0, std::nullopt, std::nullopt, std::nullopt}};
}
template <>
std::vector<zk::SetWatches2> samples() {
  return {{9, std::vector<std::string>{"/a"}, std::vector<std::string>{}, std::vector<std::string>{"/c"},
           std::vector<std::string>{"/p"}, std::vector<std::string>{"/r", "/s"}},
          {0, std::nullopt, std::nullopt, std::nullopt, std::nullopt, std::nullopt}};
}
template <>
std::vector<zk::AddWatchRequest> samples() {
  return {{"/app", 0}, {"/", 1}};
}
template <>
std::vector<zk::CheckWatchesRequest> samples() {
  return {{"/app", 3}};
}
template <>
std::vector<zk::RemoveWatchesRequest> samples() {
  return {{"/app", 1}, {std::nullopt, 2}};
}
template <>
std::vector<zk::WatcherEvent> samples() {
  return {{1, 3, "/app/new"}, {-1, -112, std::nullopt}, {4, 3, "/"}};
}
template <>
std::vector<zk::AuthPacket> samples() {
  return {{0, "digest", "user:password"}, {0, "ip", std::nullopt}};
}

// A record whose last byte is an optional trailing boolean: cutting that byte
// leaves a shorter record that is still whole.
template <typename Record>
bool ends_in_optional_read_only(const Record& record) {
  if constexpr (std::is_same_v<Record, zk::ConnectRequest> || std::is_same_v<Record, zk::ConnectResponse>) {
    return record.read_only.has_value();
  }
  return false;
}

template <typename Record>
bool open_to_a_trailing_read_only(const Record& record) {
  if constexpr (std::is_same_v<Record, zk::ConnectRequest> || std::is_same_v<Record, zk::ConnectResponse>) {
    return !record.read_only.has_value();
  }
  return false;
}

template <typename Record>
void check_is_without_read_only(const Record& partial, const Record& record) {
  if constexpr (std::is_same_v<Record, zk::ConnectRequest> || std::is_same_v<Record, zk::ConnectResponse>) {
    Record expected = record;
    expected.read_only = std::nullopt;
    CHECK(partial == expected);
  }
}

}  // namespace

TEMPLATE_TEST_CASE("every record survives a round trip and refuses every truncation", "[zookeeper][jute]", zk::Id,
                   zk::Acl, zk::Stat, zk::ConnectRequest, zk::ConnectResponse, zk::RequestHeader, zk::ReplyHeader,
                   zk::MultiHeader, zk::ErrorResponse, zk::CreateRequest, zk::CreateTtlRequest, zk::CreateResponse,
                   zk::Create2Response, zk::DeleteRequest, zk::ExistsRequest, zk::ExistsResponse, zk::GetDataRequest,
                   zk::GetDataResponse, zk::SetDataRequest, zk::SetDataResponse, zk::GetChildrenRequest,
                   zk::GetChildrenResponse, zk::GetChildren2Request, zk::GetChildren2Response, zk::GetAclRequest,
                   zk::GetAclResponse, zk::SetAclRequest, zk::SetAclResponse, zk::SyncRequest, zk::SyncResponse,
                   zk::CheckVersionRequest, zk::MultiRequest, zk::MultiResponse, zk::SetWatches, zk::SetWatches2,
                   zk::AddWatchRequest, zk::CheckWatchesRequest, zk::RemoveWatchesRequest, zk::WatcherEvent,
                   zk::AuthPacket) {
  const std::vector<TestType> records = samples<TestType>();
  REQUIRE_FALSE(records.empty());
  for (const TestType& record : records) {
    const std::string bytes = zk::encode_record(record);
    INFO("bytes: " << hex(bytes));
    REQUIRE_FALSE(bytes.empty());

    TestType decoded;
    std::string error;
    REQUIRE(zk::decode_record(bytes, decoded, &error));
    CHECK(error.empty());
    CHECK(decoded == record);
    CHECK(zk::encode_record(decoded) == bytes);

    for (size_t cut = 0; cut < bytes.size(); ++cut) {
      INFO("cut at " << cut << " of " << bytes.size());
      TestType partial;
      std::string why;
      const bool whole = zk::decode_record(std::string_view(bytes).substr(0, cut), partial, &why);
      if (cut + 1 == bytes.size() && ends_in_optional_read_only(record)) {
        // An old client's connect: everything but readOnly.
        CHECK(whole);
        check_is_without_read_only(partial, record);
        continue;
      }
      CHECK_FALSE(whole);
      CHECK_FALSE(why.empty());
    }

    // A byte after the record is refused, except where it reads as the
    // optional readOnly.
    TestType longer;
    std::string why;
    const bool whole = zk::decode_record(bytes + '\1', longer, &why);
    if (open_to_a_trailing_read_only(record)) {
      CHECK(whole);
    } else {
      CHECK_FALSE(whole);
      CHECK(why == "1 byte follows the record");
    }
  }
}

TEST_CASE("jute integers are big-endian and signed", "[zookeeper][jute]") {
  std::string out;
  zk::JuteWriter writer(out);
  writer.int32(0x01020304);
  writer.int32(-1);
  writer.int64(0x0102030405060708);
  writer.int64(-2);
  writer.boolean(true);
  writer.boolean(false);
  CHECK(hex(out) == "01020304ffffffff0102030405060708fffffffffffffffe0100");

  zk::JuteReader reader(out);
  CHECK(reader.int32("a") == 0x01020304);
  CHECK(reader.int32("b") == -1);
  CHECK(reader.int64("c") == 0x0102030405060708);
  CHECK(reader.int64("d") == -2);
  CHECK(reader.boolean("e"));
  CHECK_FALSE(reader.boolean("f"));
  CHECK(reader.done());
}

TEST_CASE("a boolean is true for any byte but 0, as Java's readBoolean", "[zookeeper][jute]") {
  const std::string bytes = unhex("02ff00");
  zk::JuteReader reader(bytes);
  CHECK(reader.boolean("a"));
  CHECK(reader.boolean("b"));
  CHECK_FALSE(reader.boolean("c"));
  CHECK(reader.done());
}

TEST_CASE("records are laid out as zookeeper.jute says, field by field", "[zookeeper][jute]") {
  // GetDataRequest {ustring path; boolean watch}
  CHECK(hex(zk::encode_record(zk::GetDataRequest{"/a", true})) == "000000022f6101");
  // A null ustring or buffer is length -1; an empty one is length 0.
  CHECK(hex(zk::encode_record(zk::SetDataRequest{std::nullopt, "", 5})) == "ffffffff0000000000000005");
  // ReplyHeader {int xid; long zxid; int err}
  CHECK(hex(zk::encode_record(zk::ReplyHeader{7, 0x100000002, -101})) == "000000070000000100000002ffffff9b");
  // CreateRequest {path; data; vector<ACL> acl; int flags}, ACL {int perms; Id {scheme; id}}
  CHECK(hex(zk::encode_record(zk::CreateRequest{"/x", "d", std::vector<zk::Acl>{{31, {"world", "anyone"}}}, 1})) ==
        "000000022f78"
        "0000000164"
        "00000001"
        "0000001f"
        "00000005776f726c64"
        "00000006616e796f6e65"
        "00000001");
  // ConnectRequest {int protocolVersion; long lastZxidSeen; int timeOut; long sessionId; buffer passwd; boolean
  // readOnly}
  CHECK(hex(zk::encode_record(zk::ConnectRequest{0, 1, 30000, 2, "pw", false})) ==
        "00000000"
        "0000000000000001"
        "00007530"
        "0000000000000002"
        "000000027077"
        "00");
  // Stat: 11 fields, 68 bytes.
  CHECK(zk::encode_record(zk::Stat{}).size() == 68);
  // Multi: each op behind MultiHeader {type, done false, err -1}, then {-1, true, -1}.
  zk::MultiRequest multi;
  multi.ops = {{2, zk::DeleteRequest{"/a", -1}}};
  CHECK(hex(zk::encode_record(multi)) ==
        "0000000200ffffffff"
        "000000022f61ffffffff"
        "ffffffff01ffffffff");
  // WatcherEvent {int type; int state; ustring path}
  CHECK(hex(zk::encode_record(zk::WatcherEvent{3, 3, "/w"})) == "0000000300000003000000022f77");
}

TEST_CASE("a length past the remaining bytes is refused before anything is read", "[zookeeper][jute]") {
  // A buffer length of 2,000,000 with 12 bytes behind it.
  const std::string bytes = be32(2000000) + std::string(12, 'x');
  zk::JuteReader reader(bytes);
  CHECK_FALSE(reader.buffer("GetDataResponse.data").has_value());
  CHECK_FALSE(reader.ok());
  CHECK(reader.error() == "GetDataResponse.data: a buffer length of 2000000 exceeds the 12 bytes that remain");

  // The same through a record: the path claims more than the frame holds.
  zk::GetDataRequest request;
  std::string why;
  CHECK_FALSE(zk::decode_record(be32(100) + "/a" + '\1', request, &why));
  CHECK(why == "GetDataRequest.path: a ustring length of 100 exceeds the 3 bytes that remain");

  // One byte short of the claimed length.
  CHECK_FALSE(zk::decode_record(be32(3) + "/a", request, &why));
  CHECK(why == "GetDataRequest.path: a ustring length of 3 exceeds the 2 bytes that remain");
}

TEST_CASE("negative lengths other than -1 are refused", "[zookeeper][jute]") {
  for (const int32_t length : {-2, -100, INT32_MIN}) {
    INFO("length " << length);
    const std::string bytes = be32(length) + "abcd";
    zk::JuteReader strings(bytes);
    CHECK_FALSE(strings.ustring("CreateRequest.path").has_value());
    CHECK(strings.error() == "CreateRequest.path: a ustring length of " + std::to_string(length) +
                                 " is negative, and only -1 (null) may be");

    zk::JuteReader buffers(bytes);
    CHECK_FALSE(buffers.buffer("SetDataRequest.data").has_value());
    CHECK_FALSE(buffers.ok());

    zk::JuteReader vectors(bytes);
    CHECK_FALSE(vectors.vector_count("GetChildrenResponse.children", zk::kUstringBytesMin).has_value());
    CHECK(vectors.error() == "GetChildrenResponse.children: a vector count of " + std::to_string(length) +
                                 " is negative, and only -1 (null) may be");
  }
  // -1 is null, and not a failure.
  const std::string nulls = be32(-1) + be32(-1) + be32(-1);
  zk::JuteReader null(nulls);
  CHECK_FALSE(null.ustring("a").has_value());
  CHECK_FALSE(null.buffer("b").has_value());
  CHECK_FALSE(null.vector_count("c", 4).has_value());
  CHECK(null.done());
}

TEST_CASE("a vector count that cannot fit in the remaining bytes is refused", "[zookeeper][jute]") {
  // 1,000,000 children announced, 12 bytes follow: nothing is reserved.
  zk::GetChildrenResponse children;
  std::string why;
  CHECK_FALSE(zk::decode_record(be32(1000000) + std::string(12, '\0'), children, &why));
  CHECK(why ==
        "GetChildrenResponse.children: a vector count of 1000000 cannot fit in the 12 bytes that remain, at 4 bytes or "
        "more each");

  // Two ACLs announced and room for one (an ACL takes 12 bytes or more).
  const std::string one_acl = be32(31) + be32(0) + be32(0);
  zk::SetAclRequest set_acl;
  CHECK_FALSE(zk::decode_record(be32(1) + "/" + be32(2) + one_acl, set_acl, &why));
  CHECK(why.find("SetACLRequest.acl: a vector count of 2 cannot fit") == 0);
  // A count that fits, then items that do not, is refused by the items.
  CHECK_FALSE(zk::decode_record(be32(1) + "/" + be32(1) + be32(31) + be32(5) + "worl" + be32(0), set_acl, &why));
  CHECK_FALSE(why.empty());
}

TEST_CASE("a null string inside a vector is refused", "[zookeeper][jute]") {
  zk::SetWatches watches;
  std::string why;
  const std::string bytes = std::string(8, '\0') + be32(2) + be32(2) + "/a" + be32(-1) + be32(0) + be32(0);
  CHECK_FALSE(zk::decode_record(bytes, watches, &why));
  CHECK(why == "SetWatches.dataWatches: item 1 is a null ustring");
}

TEST_CASE("a buffer over jute.maxbuffer is refused even when the bytes are there", "[zookeeper][jute]") {
  CHECK(zk::kBufferBytesMax == 1048575);
  const std::string at_bound = be32(zk::kBufferBytesMax) + std::string(zk::kBufferBytesMax, 'x');
  zk::JuteReader fits(at_bound);
  CHECK(fits.buffer("data")->size() == static_cast<size_t>(zk::kBufferBytesMax));
  CHECK(fits.done());

  const std::string over = be32(zk::kBufferBytesMax + 1) + std::string(zk::kBufferBytesMax + 1, 'x');
  zk::JuteReader refused(over);
  CHECK_FALSE(refused.buffer("SetDataRequest.data").has_value());
  CHECK(refused.error() == "SetDataRequest.data: a buffer length of 1048576 exceeds jute.maxbuffer, 1048575 bytes");
}

TEST_CASE("a failed reader stays failed and keeps its first sentence", "[zookeeper][jute]") {
  const std::string two = std::string("\0\0", 2);
  zk::JuteReader reader(two);
  CHECK(reader.int32("RequestHeader.xid") == 0);
  CHECK(reader.error() == "RequestHeader.xid: an int needs 4 bytes but 2 remain");
  CHECK(reader.int64("other") == 0);
  CHECK_FALSE(reader.boolean("other"));
  CHECK_FALSE(reader.ustring("other").has_value());
  reader.fail("a later sentence");
  CHECK(reader.error() == "RequestHeader.xid: an int needs 4 bytes but 2 remain");
  CHECK(reader.remaining() == 0);
  CHECK_FALSE(reader.done());
}

TEST_CASE("a connect without readOnly is an old client's, and the answer matches it", "[zookeeper][jute]") {
  // A 3.3 client's ConnectRequest: no trailing boolean.
  const std::string old_client = be32(0) + std::string(8, '\0') + be32(30000) + std::string(8, '\0') + be32(16) +
                                 std::string(16, '\0');
  zk::ConnectRequest request;
  REQUIRE(zk::decode_record(old_client, request));
  CHECK_FALSE(request.read_only.has_value());
  CHECK(request.timeout_ms == 30000);
  CHECK(request.passwd == std::string(16, '\0'));

  REQUIRE(zk::decode_record(old_client + '\1', request));
  CHECK(request.read_only == true);

  zk::ConnectResponse answer{0, 30000, 42, std::string(16, 's'), std::nullopt};
  CHECK(zk::encode_record(answer).size() == 4 + 4 + 8 + 4 + 16);
  answer.read_only = false;
  CHECK(zk::encode_record(answer).size() == 4 + 4 + 8 + 4 + 16 + 1);
}

TEST_CASE("a multi refuses ops that may not appear in one", "[zookeeper][jute]") {
  const std::string exists_op = be32(3) + '\0' + be32(-1) + be32(2) + "/a" + '\0' + be32(-1) + '\1' + be32(-1);
  zk::MultiRequest multi;
  std::string why;
  CHECK_FALSE(zk::decode_record(exists_op, multi, &why));
  CHECK(why == "MultiHeader.type: an op of type 3 (exists) may not appear in a multi");
  CHECK(multi.ops.empty());

  // A multi without its end header is truncated.
  const std::string unended = be32(2) + '\0' + be32(-1) + be32(2) + "/a" + be32(-1);
  CHECK_FALSE(zk::decode_record(unended, multi, &why));
  CHECK(why == "MultiHeader.type: an int needs 4 bytes but 0 remain");

  zk::MultiResponse response;
  CHECK_FALSE(zk::decode_record(be32(9) + '\0' + be32(0) + be32(-1) + '\1' + be32(-1), response, &why));
  CHECK(why == "MultiHeader.type: a result of type 9 (sync) may not appear in a multi");
}

TEST_CASE("op codes and errors carry ZooKeeper's numbers and names", "[zookeeper]") {
  const std::vector<std::pair<int32_t, std::string>> ops = {
      {0, "notification"},
      {1, "create"},
      {2, "delete"},
      {3, "exists"},
      {4, "getData"},
      {5, "setData"},
      {6, "getACL"},
      {7, "setACL"},
      {8, "getChildren"},
      {9, "sync"},
      {11, "ping"},
      {12, "getChildren2"},
      {13, "check"},
      {14, "multi"},
      {15, "create2"},
      {16, "reconfig"},
      {17, "checkWatches"},
      {18, "removeWatches"},
      {19, "createContainer"},
      {20, "deleteContainer"},
      {21, "createTTL"},
      {22, "multiRead"},
      {100, "auth"},
      {101, "setWatches"},
      {102, "sasl"},
      {103, "getEphemerals"},
      {104, "getAllChildrenNumber"},
      {105, "setWatches2"},
      {106, "addWatch"},
      {107, "whoAmI"},
      {-10, "createSession"},
      {-11, "closeSession"},
      {-1, "error"},
  };
  for (const auto& [number, name] : ops) {
    INFO(number);
    REQUIRE(zk::op_code_from(number).has_value());
    CHECK(zk::op_code_name(*zk::op_code_from(number)) == name);
  }
  for (const int32_t number : {10, 23, 99, 108, -2, -12}) CHECK_FALSE(zk::op_code_from(number).has_value());

  const std::vector<std::pair<int32_t, std::string>> errors = {
      {0, "ok"},
      {-1, "systemError"},
      {-2, "runtimeInconsistency"},
      {-3, "dataInconsistency"},
      {-4, "connectionLoss"},
      {-5, "marshallingError"},
      {-6, "unimplemented"},
      {-7, "operationTimeout"},
      {-8, "badArguments"},
      {-12, "unknownSession"},
      {-13, "newConfigNoQuorum"},
      {-14, "reconfigInProgress"},
      {-100, "apiError"},
      {-101, "noNode"},
      {-102, "noAuth"},
      {-103, "badVersion"},
      {-108, "noChildrenForEphemerals"},
      {-110, "nodeExists"},
      {-111, "notEmpty"},
      {-112, "sessionExpired"},
      {-113, "invalidCallback"},
      {-114, "invalidACL"},
      {-115, "authFailed"},
      {-118, "sessionMoved"},
      {-119, "notReadOnly"},
      {-120, "ephemeralOnLocalSession"},
      {-121, "noWatcher"},
      {-122, "requestTimeout"},
      {-123, "reconfigDisabled"},
      {-124, "sessionClosedRequireSaslAuth"},
      {-125, "quotaExceeded"},
      {-127, "throttledOp"},
  };
  for (const auto& [number, name] : errors) {
    INFO(number);
    REQUIRE(zk::error_from(number).has_value());
    CHECK(zk::error_name(*zk::error_from(number)) == name);
  }
  for (const int32_t number : {1, -9, -109, -126, -128}) CHECK_FALSE(zk::error_from(number).has_value());
}

TEST_CASE("frames come out whole, however the bytes arrive", "[zookeeper][frame]") {
  const std::string first = zk::encode_record(zk::RequestHeader{1, 4}) +
                            zk::encode_record(zk::GetDataRequest{"/a", true});
  const std::string second = zk::encode_record(zk::RequestHeader{zk::kPingXid, 11});
  const std::string stream = zk::frame(first) + zk::frame("") + zk::frame(second);
  CHECK(hex(zk::frame(second)) == "00000008fffffffe0000000b");

  for (const size_t piece : {size_t{1}, size_t{3}, size_t{5}, stream.size()}) {
    INFO("pieces of " << piece);
    zk::FrameReader reader;
    std::vector<std::string> frames;
    std::string frame;
    for (size_t at = 0; at < stream.size(); at += piece) {
      reader.append(std::string_view(stream).substr(at, piece));
      while (reader.next(frame)) frames.push_back(frame);
      REQUIRE_FALSE(reader.failed());
    }
    CHECK(frames == std::vector<std::string>{first, "", second});
    CHECK(reader.buffered() == 0);
  }
}

TEST_CASE("a frame length below 0 or over the bound breaks the stream", "[zookeeper][frame]") {
  {
    zk::FrameReader reader;
    reader.append(be32(zk::kBufferBytesMax + 1) + "abc");
    std::string frame;
    CHECK_FALSE(reader.next(frame));
    CHECK(reader.failed());
    CHECK(reader.error() == "a frame length of 1048576 exceeds the bound of 1048575 bytes (jute.maxbuffer)");
    // Nothing after a bad length can be framed: the stream stays broken.
    reader.append(zk::frame("ok"));
    CHECK_FALSE(reader.next(frame));
    CHECK(reader.failed());
  }
  {
    zk::FrameReader reader;
    reader.append(be32(-5));
    std::string frame;
    CHECK_FALSE(reader.next(frame));
    CHECK(reader.error() == "a frame length of -5 is negative");
  }
  {
    // A smaller bound is honoured, and a length at the bound waits for its body.
    zk::FrameReader reader(16);
    std::string frame;
    reader.append(be32(16) + "0123456789");
    CHECK_FALSE(reader.next(frame));
    CHECK_FALSE(reader.failed());
    CHECK(reader.buffered() == 14);
    reader.append("abcdef");
    CHECK(reader.next(frame));
    CHECK(frame == "0123456789abcdef");
    reader.append(be32(17));
    CHECK_FALSE(reader.next(frame));
    CHECK(reader.error() == "a frame length of 17 exceeds the bound of 16 bytes (jute.maxbuffer)");
  }
  {
    // A length at the default bound is accepted.
    zk::FrameReader reader;
    std::string frame;
    reader.append(be32(zk::kBufferBytesMax));
    CHECK_FALSE(reader.next(frame));
    CHECK_FALSE(reader.failed());
  }
}
