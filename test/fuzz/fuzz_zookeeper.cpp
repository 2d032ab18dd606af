// libFuzzer target: the ZooKeeper client protocol's decoder (zookeeper/frame.h,
// jute.h, records.h), the way a server reads a client's connection.
//
// Each input is a client's byte stream, tried two ways:
//   1. as it is: the FrameReader (jute.maxbuffer bound, as the server's) cuts
//      it into frames, fed whole and fed in small pieces, which must agree; a
//      reader with a small bound must yield a prefix of the same frames and
//      fail at the first longer one. Then, as zkserver/ reads them, the first
//      frame is decoded as a ConnectRequest, and every later one as a
//      RequestHeader and the request record its op code names (kRoutes: one
//      entry per op code). A bad ConnectRequest or RequestHeader ends the
//      stream (the listener closes the connection); a bad record does not
//      (it answers marshallingError and reads on);
//   2. re-sealed: everything after the first frame becomes one request frame
//      with a correct length, so mutations that grow or shrink a record reach
//      its decoder instead of breaking the framing.
// Every record that decodes must re-encode to as many bytes as it was read
// from (jute has no variable-length forms), decode back equal, and re-encode
// identically. A refusal must carry its sentence. A violated property aborts,
// which libFuzzer reports as a crash.
//
// Built by run_fuzzer.sh with clang++-14 -fsanitize=fuzzer,address,undefined
// from zookeeper/*.cpp only.
#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "zookeeper/frame.h"
#include "zookeeper/jute.h"
#include "zookeeper/records.h"

namespace {

using namespace synod::zookeeper;

void require(bool condition) {
  if (!condition) std::abort();
}

// Whether `body` decodes as one Record; if it does, it must round-trip.
template <typename Record>
bool round_trip(std::string_view body) {
  Record record;
  std::string error;
  if (!decode_record(body, record, &error)) {
    require(!error.empty());
    return false;
  }
  const std::string once = encode_record(record);
  require(once.size() == body.size());
  Record again;
  require(decode_record(once, again));
  require(again == record);
  require(encode_record(again) == once);
  return true;
}

template <typename Record>
void decode_request(std::string_view body) {
  round_trip<Record>(body);
}

// Ping and closeSession: the header is the whole request.
void no_record(std::string_view) {}

struct Route {
  OpCode code;
  void (*decode)(std::string_view body);
};

// The request record of each op code a client may send, as the listener's
// dispatch (zkserver/requests.cpp, reads.cpp) decodes them. It answers
// setACL, createTTL, multiRead, addWatch, checkWatches and removeWatches
// unimplemented today without reading their records; they are decoded here
// all the same, so their decoders are proven before it does. Any other type
// (reconfig, sasl, getEphemerals, whoAmI, deleteContainer, unknown numbers)
// has no record: unimplemented.
constexpr std::array kRoutes{
    Route{OpCode::create, decode_request<CreateRequest>},
    Route{OpCode::create2, decode_request<CreateRequest>},
    Route{OpCode::create_container, decode_request<CreateRequest>},
    Route{OpCode::create_ttl, decode_request<CreateTtlRequest>},
    Route{OpCode::delete_node, decode_request<DeleteRequest>},
    Route{OpCode::exists, decode_request<ExistsRequest>},
    Route{OpCode::get_data, decode_request<GetDataRequest>},
    Route{OpCode::set_data, decode_request<SetDataRequest>},
    Route{OpCode::get_children, decode_request<GetChildrenRequest>},
    Route{OpCode::get_children2, decode_request<GetChildren2Request>},
    Route{OpCode::get_acl, decode_request<GetAclRequest>},
    Route{OpCode::set_acl, decode_request<SetAclRequest>},
    Route{OpCode::sync, decode_request<SyncRequest>},
    Route{OpCode::check, decode_request<CheckVersionRequest>},
    Route{OpCode::multi, decode_request<MultiRequest>},
    Route{OpCode::multi_read, decode_request<MultiRequest>},
    Route{OpCode::set_watches, decode_request<SetWatches>},
    Route{OpCode::set_watches2, decode_request<SetWatches2>},
    Route{OpCode::add_watch, decode_request<AddWatchRequest>},
    Route{OpCode::check_watches, decode_request<CheckWatchesRequest>},
    Route{OpCode::remove_watches, decode_request<RemoveWatchesRequest>},
    Route{OpCode::auth, decode_request<AuthPacket>},
    Route{OpCode::ping, no_record},
    Route{OpCode::close_session, no_record},
};

// False when the header is bad: the listener closes the connection.
bool serve_request(std::string_view frame) {
  JuteReader reader(frame);
  RequestHeader header;
  header.decode(reader);
  if (!reader.ok()) {
    require(!reader.error().empty());
    return false;
  }
  require(reader.position() == 8);
  const std::string_view body = frame.substr(reader.position());
  const auto* route = std::find_if(kRoutes.begin(), kRoutes.end(),
                                   [&](const Route& r) { return static_cast<int32_t>(r.code) == header.type; });
  if (route != kRoutes.end()) {
    require(op_code_from(header.type).has_value());
    route->decode(body);
  }
  return true;
}

struct Framed {
  std::vector<std::string> frames;
  bool failed = false;
  std::string error;
};

// The frames of `stream` appended `chunk` bytes at a time, each drained at
// once, as a connection's reader does.
Framed frame_stream(std::string_view stream, size_t chunk, int32_t bound) {
  FrameReader reader(bound);
  Framed out;
  std::string frame;
  for (size_t at = 0; at < stream.size() && !reader.failed(); at += chunk) {
    reader.append(stream.substr(at, chunk));
    while (reader.next(frame)) {
      require(frame.size() <= static_cast<size_t>(bound));
      out.frames.push_back(frame);
    }
    // What stays is at most one partial frame under the bound.
    if (!reader.failed()) require(reader.buffered() < kFrameLengthBytes + static_cast<size_t>(bound));
  }
  out.failed = reader.failed();
  out.error = reader.error();
  require(out.failed == !out.error.empty());
  return out;
}

void check_framing(std::string_view stream, const Framed& whole) {
  const Framed pieces = frame_stream(stream, 1 + stream.size() % 7, kBufferBytesMax);
  require(pieces.frames == whole.frames && pieces.failed == whole.failed && pieces.error == whole.error);
  // A reader with a small bound stops at the first frame over it, having
  // yielded the same frames before it.
  constexpr int32_t kSmallBound = 48;
  const Framed small = frame_stream(stream, stream.size() + 1, kSmallBound);
  require(small.frames.size() <= whole.frames.size());
  require(std::equal(small.frames.begin(), small.frames.end(), whole.frames.begin()));
  if (!small.failed) require(small.frames == whole.frames && !whole.failed);
  if (small.failed && small.frames.size() < whole.frames.size()) {
    require(whole.frames[small.frames.size()].size() > static_cast<size_t>(kSmallBound));
  }
}

void serve(std::string_view stream) {
  const Framed whole = frame_stream(stream, stream.size() + 1, kBufferBytesMax);
  check_framing(stream, whole);
  if (whole.frames.empty() || !round_trip<ConnectRequest>(whole.frames[0])) return;
  for (size_t i = 1; i < whole.frames.size(); ++i) {
    if (!serve_request(whole.frames[i])) return;
  }
}

// The first frame as it is, then the rest without its 4-byte length as one
// frame; empty if there is no whole first frame and 4 bytes after it.
std::string reseal(std::string_view input) {
  if (input.size() < kFrameLengthBytes) return {};
  uint32_t length = 0;
  for (size_t i = 0; i < kFrameLengthBytes; ++i) length = (length << 8) | static_cast<uint8_t>(input[i]);
  if (length > input.size() - kFrameLengthBytes) return {};
  const size_t first = kFrameLengthBytes + length;
  if (input.size() - first < kFrameLengthBytes) return {};
  return std::string(input.substr(0, first)) + frame(input.substr(first + kFrameLengthBytes));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  serve(input);
  const std::string sealed = reseal(input);
  if (!sealed.empty() && sealed != input) serve(sealed);
  return 0;
}
