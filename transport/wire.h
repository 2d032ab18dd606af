// The peer wire format: how one node's messages cross a TCP link to another.
//
// Owns the frame layout, the handshake frame and the hand-written, versioned
// codec of every paxos::Message. Pure functions over bytes, with no Asio and
// no allocation beyond what the input justifies; any thread may call them.
//
// FRAME (every integer little-endian):
//
//   offset  bytes  field
//   0       4      magic "SYNP" (0x53 0x59 0x4e 0x50)
//   4       1      protocol version (kProtocolVersion)
//   5       4      payload length (bytes after the header)
//   9       4      CRC32C of the payload
//   13      n      payload
//
// The magic comes first so that a stray client (curl on the wrong port, a
// port scanner) is refused after its first byte. The version comes next so
// that a peer speaking another version is refused with a message naming its
// version, before anything version-specific is read. The length is checked
// against frame_bytes_max before a single payload byte is buffered.
//
// PAYLOAD (integers and byte strings are base/codec.h's: varint = LEB128,
// svarint = zig-zag LEB128, bytes = varint length then the bytes):
//
//   u8 frame type: 1 = hello, 2 = envelope
//   hello:    varint protocol version (must equal the header's),
//             fixed64 cluster id, varint node id, fixed64 config digest
//   envelope: varint from, varint to, u8 message tag, message body
//
//   tag  message         body
//   1    Probe           ballot, varint chosen_through
//   2    ProbeReply      ballot, u8 granted (0|1), svarint wait_us
//   3    Prepare         ballot, varint first_slot, ballot nominated_by
//   4    Promise         ballot, varint first_slot, varint chosen_through,
//                        varint count, count x (varint slot, ballot, value)
//   5    Accept          ballot, varint slot, value, varint commit_index
//   6    Accepted        ballot, varint slot
//   7    Reject          ballot, ballot promised, u8 reason (0..3), u8 refused (0..2)
//   8    Heartbeat       ballot, varint seq, varint commit_index, u8 serving (0|1)
//   9    HeartbeatAck    ballot, varint seq, varint chosen_through
//   10   CatchupRequest  varint from_slot
//   11   CatchupReply    varint commit_index, varint count,
//                        count x (varint slot, value), u8 snapshot_needed (0|1)
//   12   Nominate        ballot, varint successor
//   13   RepairQuery     fixed64 nonce, ballot ballot_floor
//   14   RepairReport    fixed64 nonce, ballot promised, varint chosen_through, u8 fresh (0|1)
//   15   SnapshotRequest varint slot, varint offset
//   16   SnapshotChunk   varint slot, varint count, count x config entry,
//                        varint offset, bytes, fixed32 crc32c, varint total_bytes,
//                        fixed32 total_crc32c, u8 last (0|1)
//   17   ForwardRequest  varint request_id, u8 kind (0..1), varint client_id, varint seq, bytes payload
//   18   ForwardReply    varint request_id, u8 outcome, varint leader, varint revision, bytes payload
//
//   ballot = varint round, varint node (at most 2^32 - 1)
//   value  = u8 kind (0 no-op, 1 commands); for commands: varint count,
//            count x (varint client_id, varint seq, bytes payload)
//            (paxos/value_codec.h, the same bytes as in the storage records)
//   config entry = varint from, varint chosen_at, configuration
//            (paxos/config_history.h, the same bytes as in the snapshot
//            record); count 0 only when slot is 0
//
// Tags are explicit numbers, not variant indexes, so reordering the Message
// variant cannot silently change the wire. A change to anything above bumps
// kProtocolVersion; peers of different versions refuse each other at the
// handshake, with a log line naming both versions.
//
// DECODING never trusts the input. A frame decodes only if the magic,
// version, length and CRC are right, the payload decodes to its last byte,
// every enum is in range, and every count fits the bytes that remain (each
// element has a known minimum encoded size, so a count of 2^60 is refused
// before anything is reserved). Anything else is an error status, never a
// crash: bytes from the network are an operating error (STYLE §6).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "paxos/messages.h"
#include "paxos/types.h"
#include "transport/peer_message.h"

namespace synod::transport {

// 2: the hello carries the config digest (issue 14). 3: a SnapshotChunk
// carries the snapshot's configurations, not its member ids (issue 20).
// 4: a forward may ask for the leader's read index, and commands may be the
// ZooKeeper namespace's (issue 22), which a build before it cannot apply.
inline constexpr uint8_t kProtocolVersion = 4;
inline constexpr std::string_view kFrameMagic = "SYNP";
inline constexpr size_t kFrameHeaderBytes = 13;  // magic, version, length, crc32c

struct WireLimits {
  // The largest frame, header included, that is sent or accepted. It must
  // hold the largest message the core emits: a Promise carries every vote
  // above the chosen log (with the core's defaults, up to a pipeline window of
  // 64 values of up to batch_bytes_max = 1 MiB each) and a CatchupReply up to
  // catchup_bytes_max = 4 MiB of payloads plus one value. A frame over this
  // limit is never sent (the sender counts and logs it) and is refused on
  // receipt before its payload is buffered.
  size_t frame_bytes_max = size_t{80} << 20;
};
// Every message without a value or a list, and the hello, fits in this many
// bytes; frame_bytes_max below it would make a link useless.
inline constexpr size_t kFrameBytesMin = 256;

enum class WireError : uint8_t {
  none = 0,
  bad_magic,            // not a synod peer frame
  unknown_version,      // a protocol version this build does not speak
  frame_too_large,      // the header's length is above frame_bytes_max
  truncated,            // fewer bytes than the header (or a field) says
  trailing_bytes,       // bytes after the frame, or after the payload's last field
  crc_mismatch,         // the payload's CRC32C is not the header's
  unknown_frame_type,   // the payload's first byte is neither hello nor envelope
  unknown_message_tag,  // an envelope's message tag names no message
  count_too_large,      // a count of entries or commands the remaining bytes cannot hold
  malformed,            // a varint too long, an enum or node id out of range, ...
};
const char* wire_error_name(WireError error);

// How decoding ended: `none`, or an error with a sentence for the log.
struct WireStatus {
  WireError error = WireError::none;
  std::string message;

  bool ok() const { return error == WireError::none; }
};

// The first frame each side of a link sends (see peer_transport.h). The
// cluster id is a uint64 that the server derives from its configuration; two
// nodes with different ids never exchange a message.
struct Hello {
  uint32_t protocol_version = kProtocolVersion;
  uint64_t cluster_id = 0;
  paxos::NodeId node = paxos::kNoNode;
  // A digest of the configuration every member must share (the server's:
  // lockservice::config_digest). Nodes whose digests differ never exchange a
  // message, so a limit that decides results cannot differ silently.
  uint64_t config_digest = 0;
};

using Frame = std::variant<Hello, PeerEnvelope>;

// Appends one frame to `out` and returns its size in bytes. Encoding cannot
// fail: an envelope whose value pointer is null is a programmer error (it
// asserts). Whether the frame fits frame_bytes_max is the caller's check.
size_t encode_hello(const Hello& hello, std::string& out);
size_t encode_envelope(const PeerEnvelope& envelope, std::string& out);
// The core's envelope, without first copying it into a PeerEnvelope.
size_t encode_envelope(const paxos::Envelope& envelope, std::string& out);

// What the front of a byte stream holds. `complete`: the first
// `frame_bytes` bytes are one whole frame (not yet checked past the header;
// pass them to decode_frame). `incomplete`: more bytes are needed, and what
// is there is a valid start of a frame. `invalid`: the stream can never
// become a valid frame (bad magic, unknown version, too large); `status`
// says why. A bad magic is reported as soon as the first wrong byte arrives.
struct FrameScan {
  enum class State : uint8_t { incomplete, complete, invalid };
  State state = State::incomplete;
  size_t frame_bytes = 0;
  WireStatus status;
};
FrameScan scan_frame(std::string_view buffered, const WireLimits& limits);

// Decodes exactly one frame: `bytes` must be the whole frame, no more (extra
// bytes are `trailing_bytes`, fewer `truncated`).
struct Decoded {
  WireStatus status;
  Frame frame;  // meaningful only when status.ok()
};
Decoded decode_frame(std::string_view bytes, const WireLimits& limits);

}  // namespace synod::transport
