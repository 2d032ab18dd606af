// libFuzzer target: the peer frame and message decoder (transport/wire.h).
//
// Each input is tried three ways:
//   1. as raw bytes off the wire: scan_frame and decode_frame must agree and
//      never crash, under the full and under the handshake-sized limit;
//   2. re-sealed: bytes 13.. become the payload of a frame with a correct
//      header and CRC32C, so mutations reach the message decoder instead of
//      stopping at the checksum;
//   3. whatever decodes must re-encode to bytes that decode to the same frame
//      and re-encode identically (varints may be non-minimal in the input).
// A violated property aborts, which libFuzzer reports as a crash.
//
// Built by run_fuzzer.sh with clang++-14 -fsanitize=fuzzer,address,undefined
// from the pure sources only (no Asio).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "base/codec.h"
#include "base/crc32c.h"
#include "transport/wire.h"
#include "transport/samples.h"

namespace {

using namespace synod;
using namespace synod::transport;

void require(bool condition) {
  if (!condition) std::abort();
}

std::string encode(const Frame& frame) {
  std::string out;
  if (const auto* hello = std::get_if<Hello>(&frame)) {
    encode_hello(*hello, out);
  } else {
    encode_envelope(std::get<PeerEnvelope>(frame), out);
  }
  return out;
}

bool same_frame(const Frame& a, const Frame& b) {
  if (a.index() != b.index()) return false;
  if (const auto* hello = std::get_if<Hello>(&a)) {
    const auto& other = std::get<Hello>(b);
    return hello->protocol_version == other.protocol_version && hello->cluster_id == other.cluster_id &&
           hello->node == other.node;
  }
  return testing::same(std::get<PeerEnvelope>(a), std::get<PeerEnvelope>(b));
}

void check_round_trip(const Frame& frame, const WireLimits& limits) {
  const std::string once = encode(frame);
  // Re-encoding makes varints minimal, so it is never longer than the input
  // and fits the same limit.
  const Decoded again = decode_frame(once, limits);
  require(again.status.ok());
  require(same_frame(again.frame, frame));
  require(encode(again.frame) == once);
}

void decode_raw(std::string_view input, const WireLimits& limits) {
  const FrameScan scan = scan_frame(input, limits);
  const Decoded decoded = decode_frame(input, limits);
  require(decoded.status.ok() || !decoded.status.message.empty());
  if (scan.state == FrameScan::State::invalid) require(decoded.status.error == scan.status.error);
  if (scan.state == FrameScan::State::incomplete) require(decoded.status.error == WireError::truncated);
  if (decoded.status.ok()) {
    require(scan.state == FrameScan::State::complete && scan.frame_bytes == input.size());
    check_round_trip(decoded.frame, limits);
  }
  // A stream cut in half waits for more, or is already refused or complete.
  const FrameScan half = scan_frame(input.substr(0, input.size() / 2), limits);
  if (scan.state == FrameScan::State::incomplete) require(half.state == FrameScan::State::incomplete);
}

std::string reseal(std::string_view input) {
  const std::string_view payload = input.substr(kFrameHeaderBytes);
  std::string frame(kFrameMagic);
  frame.push_back(static_cast<char>(kProtocolVersion));
  Writer writer(frame);
  writer.fixed32(static_cast<uint32_t>(payload.size()));
  writer.fixed32(crc32c(payload));
  frame.append(payload);
  return frame;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const WireLimits full{size_t{1} << 20};
  const WireLimits handshake{kFrameBytesMin};
  decode_raw(input, full);
  decode_raw(input, handshake);
  if (size >= kFrameHeaderBytes) {
    const std::string sealed = reseal(input);
    const Decoded decoded = decode_frame(sealed, full);
    require(decoded.status.ok() ||
            (decoded.status.error != WireError::crc_mismatch && decoded.status.error != WireError::bad_magic &&
             decoded.status.error != WireError::unknown_version && decoded.status.error != WireError::truncated));
    if (decoded.status.ok()) check_round_trip(decoded.frame, full);
  }
  return 0;
}
