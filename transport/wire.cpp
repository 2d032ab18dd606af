#include "transport/wire.h"

#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "base/assert.h"
#include "base/codec.h"
#include "base/crc32c.h"
#include "paxos/value_codec.h"

namespace synod::transport {

namespace {

using namespace synod::paxos;

constexpr uint8_t kFrameHello = 1;
constexpr uint8_t kFrameEnvelope = 2;
constexpr size_t kLengthOffset = 5;
constexpr size_t kCrcOffset = 9;

// The smallest encoding of each repeated element, so that a count can be
// checked against the bytes that remain before anything is reserved (a
// value's commands are checked by paxos/value_codec.h).
constexpr size_t kAcceptedEntryBytesMin = 3 + kValueBytesMin;  // slot, ballot (2), no-op value
constexpr size_t kChosenEntryBytesMin = 1 + kValueBytesMin;    // slot, no-op value

// Explicit wire tags (see the table in wire.h).
constexpr uint8_t tag_of(const Probe&) { return 1; }
constexpr uint8_t tag_of(const ProbeReply&) { return 2; }
constexpr uint8_t tag_of(const Prepare&) { return 3; }
constexpr uint8_t tag_of(const Promise&) { return 4; }
constexpr uint8_t tag_of(const Accept&) { return 5; }
constexpr uint8_t tag_of(const Accepted&) { return 6; }
constexpr uint8_t tag_of(const Reject&) { return 7; }
constexpr uint8_t tag_of(const Heartbeat&) { return 8; }
constexpr uint8_t tag_of(const HeartbeatAck&) { return 9; }
constexpr uint8_t tag_of(const CatchupRequest&) { return 10; }
constexpr uint8_t tag_of(const CatchupReply&) { return 11; }
constexpr uint8_t tag_of(const Nominate&) { return 12; }
constexpr uint8_t tag_of(const RepairQuery&) { return 13; }
constexpr uint8_t tag_of(const RepairReport&) { return 14; }
constexpr uint8_t tag_of(const SnapshotRequest&) { return 15; }
constexpr uint8_t tag_of(const SnapshotChunk&) { return 16; }
constexpr uint8_t tag_of(const ForwardRequest&) { return 17; }
constexpr uint8_t tag_of(const ForwardReply&) { return 18; }
// A new message needs a tag above, an encoder, a decoder and a line in wire.h.
static_assert(std::variant_size_v<Message> + std::variant_size_v<ServerMessage> == 18,
              "give the new message a wire tag");

void put_fixed32_at(std::string& out, size_t at, uint32_t value) {
  for (size_t i = 0; i < 4; ++i) out[at + i] = static_cast<char>((value >> (8 * i)) & 0xff);
}

uint32_t get_fixed32_at(std::string_view in, size_t at) {
  uint32_t value = 0;
  for (size_t i = 0; i < 4; ++i) value |= static_cast<uint32_t>(static_cast<uint8_t>(in[at + i])) << (8 * i);
  return value;
}

// ---- encoding ----------------------------------------------------------

void put(const Ballot& ballot, Writer& out) {
  out.varint(ballot.round);
  out.varint(ballot.node);
}

void put(const ValuePtr& value, Writer& out) {
  SYNOD_ASSERT_MSG(value != nullptr, "a message carries a null value");
  encode_value(*value, out);
}

void put(const Probe& m, Writer& out) {
  put(m.ballot, out);
  out.varint(m.chosen_through);
}
void put(const ProbeReply& m, Writer& out) {
  put(m.ballot, out);
  out.boolean(m.granted);
  out.svarint(m.wait_us);
}
void put(const Prepare& m, Writer& out) {
  put(m.ballot, out);
  out.varint(m.first_slot);
  put(m.nominated_by, out);
}
void put(const Promise& m, Writer& out) {
  put(m.ballot, out);
  out.varint(m.first_slot);
  out.varint(m.chosen_through);
  out.varint(m.accepted.size());
  for (const auto& vote : m.accepted) {
    out.varint(vote.slot);
    put(vote.ballot, out);
    put(vote.value, out);
  }
}
void put(const Accept& m, Writer& out) {
  put(m.ballot, out);
  out.varint(m.slot);
  put(m.value, out);
  out.varint(m.commit_index);
}
void put(const Accepted& m, Writer& out) {
  put(m.ballot, out);
  out.varint(m.slot);
}
void put(const Reject& m, Writer& out) {
  put(m.ballot, out);
  put(m.promised, out);
  out.u8(static_cast<uint8_t>(m.reason));
  out.u8(static_cast<uint8_t>(m.refused));
}
void put(const Heartbeat& m, Writer& out) {
  put(m.ballot, out);
  out.varint(m.seq);
  out.varint(m.commit_index);
  out.boolean(m.serving);
}
void put(const HeartbeatAck& m, Writer& out) {
  put(m.ballot, out);
  out.varint(m.seq);
  out.varint(m.chosen_through);
}
void put(const CatchupRequest& m, Writer& out) { out.varint(m.from_slot); }
void put(const CatchupReply& m, Writer& out) {
  out.varint(m.commit_index);
  out.varint(m.entries.size());
  for (const auto& entry : m.entries) {
    out.varint(entry.slot);
    put(entry.value, out);
  }
  out.boolean(m.snapshot_needed);
}
void put(const RepairQuery& m, Writer& out) {
  out.fixed64(m.nonce);
  put(m.ballot_floor, out);
}
void put(const RepairReport& m, Writer& out) {
  out.fixed64(m.nonce);
  put(m.promised, out);
  out.varint(m.chosen_through);
  out.boolean(m.fresh);
}
void put(const SnapshotRequest& m, Writer& out) {
  out.varint(m.slot);
  out.varint(m.offset);
}
void put(const SnapshotChunk& m, Writer& out) {
  out.varint(m.slot);
  out.varint(m.configurations.size());
  for (const paxos::ConfigEntry& entry : m.configurations) paxos::encode_config_entry(entry, out);
  out.varint(m.offset);
  out.bytes(m.bytes);
  out.fixed32(m.crc32c);
  out.varint(m.total_bytes);
  out.fixed32(m.total_crc32c);
  out.boolean(m.last);
}
void put(const ForwardRequest& m, Writer& out) {
  out.varint(m.request_id);
  out.u8(static_cast<uint8_t>(m.kind));
  out.varint(m.client_id);
  out.varint(m.seq);
  out.bytes(m.payload);
}
void put(const ForwardReply& m, Writer& out) {
  out.varint(m.request_id);
  out.u8(m.outcome);
  out.varint(m.leader);
  out.varint(m.revision);
  out.bytes(m.payload);
}
void put(const Nominate& m, Writer& out) {
  put(m.ballot, out);
  out.varint(m.successor);
}

// Reserves the header, leaving `out` ready for the payload; returns where the
// frame starts.
size_t begin_frame(uint8_t version, std::string& out) {
  const size_t start = out.size();
  out.append(kFrameMagic);
  out.push_back(static_cast<char>(version));
  out.append(8, '\0');  // length and crc32c, filled in by end_frame
  return start;
}

size_t end_frame(size_t start, std::string& out) {
  const size_t payload_start = start + kFrameHeaderBytes;
  const size_t payload_bytes = out.size() - payload_start;
  SYNOD_ASSERT_MSG(payload_bytes <= std::numeric_limits<uint32_t>::max(), "frame payload over 4 GiB");
  const uint32_t crc = crc32c(std::string_view(out).substr(payload_start));
  put_fixed32_at(out, start + kLengthOffset, static_cast<uint32_t>(payload_bytes));
  put_fixed32_at(out, start + kCrcOffset, crc);
  return out.size() - start;
}

// ---- decoding ----------------------------------------------------------

// A Reader plus the first specific error. A Reader failure without one (a
// field past the end, a varint over 10 bytes, a flag not 0 or 1) is reported
// as `malformed` by finish().
struct Body {
  explicit Body(std::string_view payload) : reader(payload) {}

  void fail(WireError error, std::string message) {
    if (status.ok()) status = WireStatus{error, std::move(message)};
    reader.fail();
  }
  bool ok() const { return reader.ok(); }

  Reader reader;
  WireStatus status;
};

NodeId get_node(Body& body) {
  const uint64_t node = body.reader.varint();
  if (node > std::numeric_limits<NodeId>::max()) {
    body.fail(WireError::malformed, "node id " + std::to_string(node) + " is over 2^32 - 1");
    return kNoNode;
  }
  return static_cast<NodeId>(node);
}

Ballot get_ballot(Body& body) {
  Ballot ballot;
  ballot.round = body.reader.varint();
  ballot.node = get_node(body);
  return ballot;
}

// A count of elements, each at least `element_bytes_min` long.
size_t get_count(Body& body, size_t element_bytes_min, const char* what) {
  const uint64_t count = body.reader.varint();
  if (!body.ok()) return 0;
  const size_t room = body.reader.remaining() / element_bytes_min;
  if (count > room) {
    body.fail(WireError::count_too_large, std::string("a count of ") + std::to_string(count) + " " + what +
                                              " cannot fit in the " + std::to_string(body.reader.remaining()) +
                                              " bytes that remain");
    return 0;
  }
  return static_cast<size_t>(count);
}

// A value (paxos/value_codec.h). Malformed, it fails the body and stands in
// as a no-op, which the failed body never delivers.
ValuePtr get_value(Body& body) {
  ValueProblem problem;
  if (ValuePtr value = decode_value(body.reader, &problem)) return value;
  switch (problem.error) {
    case ValueError::unknown_kind:
    case ValueError::bad_configuration:
      body.fail(WireError::malformed, std::move(problem.message));
      break;
    case ValueError::count_too_large:
      body.fail(WireError::count_too_large, std::move(problem.message));
      break;
    case ValueError::none:
    case ValueError::malformed:
      break;  // the Reader failed; finish() reports `malformed`
  }
  return make_noop();
}

template <typename Enum>
Enum get_enum(Body& body, uint8_t last, const char* what) {
  const uint8_t raw = body.reader.u8();
  if (raw > last && body.ok())
    body.fail(WireError::malformed, std::string(what) + " " + std::to_string(raw) + " is unknown");
  return static_cast<Enum>(raw <= last ? raw : 0);
}

void get(Body& body, Probe& m) {
  m.ballot = get_ballot(body);
  m.chosen_through = body.reader.varint();
}
void get(Body& body, ProbeReply& m) {
  m.ballot = get_ballot(body);
  m.granted = body.reader.boolean();
  m.wait_us = body.reader.svarint();
}
void get(Body& body, Prepare& m) {
  m.ballot = get_ballot(body);
  m.first_slot = body.reader.varint();
  m.nominated_by = get_ballot(body);
}
void get(Body& body, Promise& m) {
  m.ballot = get_ballot(body);
  m.first_slot = body.reader.varint();
  m.chosen_through = body.reader.varint();
  const size_t count = get_count(body, kAcceptedEntryBytesMin, "accepted entries");
  m.accepted.reserve(count);
  for (size_t i = 0; i < count && body.ok(); ++i) {
    AcceptedEntry vote;
    vote.slot = body.reader.varint();
    vote.ballot = get_ballot(body);
    vote.value = get_value(body);
    m.accepted.push_back(std::move(vote));
  }
}
void get(Body& body, Accept& m) {
  m.ballot = get_ballot(body);
  m.slot = body.reader.varint();
  m.value = get_value(body);
  m.commit_index = body.reader.varint();
}
void get(Body& body, Accepted& m) {
  m.ballot = get_ballot(body);
  m.slot = body.reader.varint();
}
void get(Body& body, Reject& m) {
  m.ballot = get_ballot(body);
  m.promised = get_ballot(body);
  m.reason = get_enum<Reject::Reason>(body, static_cast<uint8_t>(Reject::Reason::repairing), "reject reason");
  m.refused = get_enum<Reject::Refused>(body, static_cast<uint8_t>(Reject::Refused::heartbeat), "refused kind");
}
void get(Body& body, Heartbeat& m) {
  m.ballot = get_ballot(body);
  m.seq = body.reader.varint();
  m.commit_index = body.reader.varint();
  m.serving = body.reader.boolean();
}
void get(Body& body, HeartbeatAck& m) {
  m.ballot = get_ballot(body);
  m.seq = body.reader.varint();
  m.chosen_through = body.reader.varint();
}
void get(Body& body, CatchupRequest& m) { m.from_slot = body.reader.varint(); }
void get(Body& body, CatchupReply& m) {
  m.commit_index = body.reader.varint();
  const size_t count = get_count(body, kChosenEntryBytesMin, "chosen entries");
  m.entries.reserve(count);
  for (size_t i = 0; i < count && body.ok(); ++i) {
    ChosenEntry entry;
    entry.slot = body.reader.varint();
    entry.value = get_value(body);
    m.entries.push_back(std::move(entry));
  }
  m.snapshot_needed = body.reader.boolean();
}
void get(Body& body, Nominate& m) {
  m.ballot = get_ballot(body);
  m.successor = get_node(body);
}
void get(Body& body, ForwardRequest& m) {
  m.request_id = body.reader.varint();
  m.kind = get_enum<ForwardRequest::Kind>(body, static_cast<uint8_t>(ForwardRequest::Kind::read_index), "forward kind");
  m.client_id = body.reader.varint();
  m.seq = body.reader.varint();
  m.payload = std::string(body.reader.bytes());
}
void get(Body& body, ForwardReply& m) {
  m.request_id = body.reader.varint();
  m.outcome = body.reader.u8();
  m.leader = get_node(body);
  m.revision = body.reader.varint();
  m.payload = std::string(body.reader.bytes());
}
void get(Body& body, RepairQuery& m) {
  m.nonce = body.reader.fixed64();
  m.ballot_floor = get_ballot(body);
}
void get(Body& body, RepairReport& m) {
  m.nonce = body.reader.fixed64();
  m.promised = get_ballot(body);
  m.chosen_through = body.reader.varint();
  m.fresh = body.reader.boolean();
}
void get(Body& body, SnapshotRequest& m) {
  m.slot = body.reader.varint();
  m.offset = body.reader.varint();
}
void get(Body& body, SnapshotChunk& m) {
  m.slot = body.reader.varint();
  const size_t count = get_count(body, paxos::kConfigEntryBytesMin, "configurations");
  m.configurations.resize(count);
  for (size_t i = 0; i < count && body.ok(); ++i) {
    if (!paxos::decode_config_entry(body.reader, m.configurations[i])) {
      body.fail(WireError::malformed, "a snapshot's configuration " + std::to_string(i) + " is malformed");
    }
  }
  // A snapshot comes with the configurations after its slot; "no snapshot"
  // (slot 0) with none.
  if (body.ok()) {
    std::string problem = m.slot == paxos::kNoSlot ? (count == 0 ? "" : "configurations without a snapshot")
                                                   : paxos::check_config_entries(m.configurations);
    if (!problem.empty()) body.fail(WireError::malformed, "SnapshotChunk: " + problem);
  }
  m.offset = body.reader.varint();
  m.bytes = std::string(body.reader.bytes());
  m.crc32c = body.reader.fixed32();
  m.total_bytes = body.reader.varint();
  m.total_crc32c = body.reader.fixed32();
  m.last = body.reader.boolean();
}

template <typename T>
PeerMessage get_as(Body& body) {
  T message;
  get(body, message);
  if constexpr (std::is_constructible_v<Message, T>) {
    return PeerMessage{Message{std::move(message)}};
  } else {
    return PeerMessage{ServerMessage{std::move(message)}};
  }
}

PeerMessage get_message(Body& body, uint8_t tag) {
  switch (tag) {
    case 1: return get_as<Probe>(body);
    case 2: return get_as<ProbeReply>(body);
    case 3: return get_as<Prepare>(body);
    case 4: return get_as<Promise>(body);
    case 5: return get_as<Accept>(body);
    case 6: return get_as<Accepted>(body);
    case 7: return get_as<Reject>(body);
    case 8: return get_as<Heartbeat>(body);
    case 9: return get_as<HeartbeatAck>(body);
    case 10: return get_as<CatchupRequest>(body);
    case 11: return get_as<CatchupReply>(body);
    case 12: return get_as<Nominate>(body);
    case 13: return get_as<RepairQuery>(body);
    case 14: return get_as<RepairReport>(body);
    case 15: return get_as<SnapshotRequest>(body);
    case 16: return get_as<SnapshotChunk>(body);
    case 17: return get_as<ForwardRequest>(body);
    case 18: return get_as<ForwardReply>(body);
    default:
      body.fail(WireError::unknown_message_tag, "unknown message tag " + std::to_string(tag));
      return PeerMessage{Message{Probe{}}};
  }
}

// The status once a payload was read: the first specific error, else a
// Reader failure, else bytes left over.
WireStatus finish(const Body& body, const char* what) {
  if (!body.status.ok()) return WireStatus{body.status.error, std::string(what) + ": " + body.status.message};
  if (!body.reader.ok()) {
    return WireStatus{WireError::malformed, std::string(what) +
                                                " is malformed (a field runs past the payload's end, a varint is "
                                                "over 10 bytes, or a flag is not 0 or 1)"};
  }
  if (!body.reader.done()) {
    return WireStatus{WireError::trailing_bytes,
                      std::to_string(body.reader.remaining()) + " bytes follow the last field of " + what};
  }
  return WireStatus{};
}

Decoded decode_hello(Body& body, uint8_t header_version) {
  Hello hello;
  const uint64_t version = body.reader.varint();
  hello.cluster_id = body.reader.fixed64();
  hello.node = get_node(body);
  hello.config_digest = body.reader.fixed64();
  if (body.ok() && version != header_version) {
    body.fail(WireError::malformed, "says protocol version " + std::to_string(version) + " in a version " +
                                        std::to_string(header_version) + " frame");
  }
  hello.protocol_version = static_cast<uint32_t>(version);
  return Decoded{finish(body, "hello"), hello};
}

Decoded decode_envelope(Body& body) {
  PeerEnvelope envelope;
  envelope.from = get_node(body);
  envelope.to = get_node(body);
  const uint8_t tag = body.reader.u8();
  if (!body.ok()) return Decoded{finish(body, "envelope"), envelope};
  envelope.message = get_message(body, tag);
  const char* what = body.status.error == WireError::unknown_message_tag ? "envelope" : message_name(envelope.message);
  return Decoded{finish(body, what), std::move(envelope)};
}

Decoded decode_payload(std::string_view payload, uint8_t header_version) {
  Body body(payload);
  const uint8_t type = body.reader.u8();
  if (type == kFrameHello) return decode_hello(body, header_version);
  if (type == kFrameEnvelope) return decode_envelope(body);
  if (!body.ok()) return Decoded{WireStatus{WireError::malformed, "empty payload"}, Hello{}};
  return Decoded{WireStatus{WireError::unknown_frame_type, "unknown frame type " + std::to_string(type)}, Hello{}};
}

FrameScan invalid(WireError error, std::string message) {
  return FrameScan{FrameScan::State::invalid, 0, WireStatus{error, std::move(message)}};
}

}  // namespace

const char* wire_error_name(WireError error) {
  switch (error) {
    case WireError::none: return "none";
    case WireError::bad_magic: return "bad_magic";
    case WireError::unknown_version: return "unknown_version";
    case WireError::frame_too_large: return "frame_too_large";
    case WireError::truncated: return "truncated";
    case WireError::trailing_bytes: return "trailing_bytes";
    case WireError::crc_mismatch: return "crc_mismatch";
    case WireError::unknown_frame_type: return "unknown_frame_type";
    case WireError::unknown_message_tag: return "unknown_message_tag";
    case WireError::count_too_large: return "count_too_large";
    case WireError::malformed: return "malformed";
  }
  return "unknown";
}

size_t encode_hello(const Hello& hello, std::string& out) {
  SYNOD_ASSERT_MSG(hello.protocol_version <= std::numeric_limits<uint8_t>::max(), "protocol version over 255");
  const size_t start = begin_frame(static_cast<uint8_t>(hello.protocol_version), out);
  Writer writer(out);
  writer.u8(kFrameHello);
  writer.varint(hello.protocol_version);
  writer.fixed64(hello.cluster_id);
  writer.varint(hello.node);
  writer.fixed64(hello.config_digest);
  return end_frame(start, out);
}

namespace {

// The core's messages and the server's share one tag space (wire.h).
template <typename Variant>
void put_tagged(const Variant& message, Writer& writer) {
  std::visit(
      [&](const auto& m) {
        writer.u8(tag_of(m));
        put(m, writer);
      },
      message);
}

size_t encode_frame(paxos::NodeId from, paxos::NodeId to, const auto& put_message, std::string& out) {
  const size_t start = begin_frame(kProtocolVersion, out);
  Writer writer(out);
  writer.u8(kFrameEnvelope);
  writer.varint(from);
  writer.varint(to);
  put_message(writer);
  return end_frame(start, out);
}

}  // namespace

size_t encode_envelope(const Envelope& envelope, std::string& out) {
  return encode_frame(
      envelope.from, envelope.to, [&](Writer& writer) { put_tagged(envelope.message, writer); }, out);
}

size_t encode_envelope(const PeerEnvelope& envelope, std::string& out) {
  return encode_frame(
      envelope.from, envelope.to,
      [&](Writer& writer) { std::visit([&](const auto& message) { put_tagged(message, writer); }, envelope.message); },
      out);
}

FrameScan scan_frame(std::string_view buffered, const WireLimits& limits) {
  const size_t magic_bytes = std::min(buffered.size(), kFrameMagic.size());
  if (buffered.substr(0, magic_bytes) != kFrameMagic.substr(0, magic_bytes)) {
    return invalid(WireError::bad_magic, "bad magic: not a synod peer frame");
  }
  if (buffered.size() <= kFrameMagic.size()) return FrameScan{};
  const auto version = static_cast<uint8_t>(buffered[kFrameMagic.size()]);
  if (version != kProtocolVersion) {
    return invalid(WireError::unknown_version, "unknown protocol version " + std::to_string(version) +
                                                   " (this node speaks version " + std::to_string(kProtocolVersion) +
                                                   ")");
  }
  if (buffered.size() < kFrameHeaderBytes) return FrameScan{};
  const size_t payload_bytes = get_fixed32_at(buffered, kLengthOffset);
  const size_t payload_bytes_max =
      limits.frame_bytes_max > kFrameHeaderBytes ? limits.frame_bytes_max - kFrameHeaderBytes : 0;
  if (payload_bytes > payload_bytes_max) {
    return invalid(WireError::frame_too_large, "frame of " + std::to_string(kFrameHeaderBytes + payload_bytes) +
                                                   " bytes is over frame_bytes_max " +
                                                   std::to_string(limits.frame_bytes_max));
  }
  const size_t frame_bytes = kFrameHeaderBytes + payload_bytes;
  const auto state = buffered.size() < frame_bytes ? FrameScan::State::incomplete : FrameScan::State::complete;
  return FrameScan{state, frame_bytes, WireStatus{}};
}

Decoded decode_frame(std::string_view bytes, const WireLimits& limits) {
  const FrameScan scan = scan_frame(bytes, limits);
  if (scan.state == FrameScan::State::invalid) return Decoded{scan.status, Hello{}};
  if (scan.state == FrameScan::State::incomplete) {
    const std::string expected = scan.frame_bytes == 0 ? "a " + std::to_string(kFrameHeaderBytes) + "-byte header"
                                                       : std::to_string(scan.frame_bytes) + " bytes";
    return Decoded{WireStatus{WireError::truncated, "truncated frame: " + std::to_string(bytes.size()) +
                                                        " bytes where " + expected + " were expected"},
                   Hello{}};
  }
  if (bytes.size() > scan.frame_bytes) {
    return Decoded{WireStatus{WireError::trailing_bytes,
                              std::to_string(bytes.size() - scan.frame_bytes) + " bytes follow the frame"},
                   Hello{}};
  }
  const std::string_view payload = bytes.substr(kFrameHeaderBytes);
  const uint32_t crc_expected = get_fixed32_at(bytes, kCrcOffset);
  const uint32_t crc_actual = crc32c(payload);
  if (crc_actual != crc_expected) {
    return Decoded{
        WireStatus{WireError::crc_mismatch, "CRC32C mismatch: the header says " + std::to_string(crc_expected) +
                                                ", the payload has " + std::to_string(crc_actual)},
        Hello{}};
  }
  return decode_payload(payload, static_cast<uint8_t>(bytes[kFrameMagic.size()]));
}

}  // namespace synod::transport
