// The commit log's frame format, and the scan that finds where the log ends.
//
// The log (log_device.h) is one preallocated file used as a ring. Each group
// commit appends ONE frame with ONE write and the store then syncs once, so a
// commit waits for the device once (issue 18). A frame:
//
//   offset  bytes  field
//   0       4      crc32c of bytes 4 .. 32 + body_bytes (header and body)
//   4       4      magic "SYNL"
//   8       8      epoch: how many times the ring has wrapped, plus one
//   16      8      seq: frames are numbered 1, 2, 3, ... across epochs
//   24      4      body_bytes
//   28      4      zero (reserved)
//   32      ...    body, then zeros up to a multiple of 8 bytes
//
// All integers little-endian (base/codec.h's fixed32/fixed64). The body is
// the group's persist batches, in ready-id order:
//
//   varint batch count, then per batch:
//     u8 has_promised, [varint round, varint node]
//     varint vote count, per vote:     varint slot, varint round, varint node, value
//     varint chosen count, per entry:  varint slot, value
//
// with values in paxos/value_codec.h's encoding, the same bytes as on the wire.
//
// WHERE THE LOG ENDS. The checkpoint (the state record in LMDB, records.h)
// names the epoch, offset and seq of the first frame LMDB does not hold yet.
// scan_log() reads frames from there while each has the expected epoch and
// seq and a matching checksum. The first one that does not is the end:
//   - if an intact frame of this epoch with a later seq lies anywhere beyond
//     it, a frame before the tail is damaged (a frame is written only after
//     the one before it synced): CORRUPT, and the replica repairs as a
//     non-voter (DESIGN §3);
//   - else zeros, or a frame of an older epoch (the ring's stale past): a
//     clean end;
//   - else the damage is inside the last write, which a crash can tear (and
//     a write can reach the disk out of order), and which was never
//     acknowledged: a TORN TAIL, cut by the caller.
// Frames are 8-byte aligned, so the search beyond tries every 8th offset.
//
// Pure functions; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "paxos/ready.h"

namespace synod::persistence {

inline constexpr size_t kFrameHeaderBytes = 32;
inline constexpr size_t kFrameAlignBytes = 8;
inline constexpr uint32_t kFrameMagic = 0x4c4e5953;  // "SYNL" little-endian

// Where a frame goes, or the first frame that a checkpoint does not hold.
struct LogPosition {
  uint64_t epoch = 1;
  uint64_t offset = 0;
  uint64_t seq = 1;

  bool operator==(const LogPosition&) const = default;
};

// Appends one frame holding `batches` to `out`, at seq/epoch of `at`.
void encode_frame(const LogPosition& at, const std::vector<const paxos::PersistBatch*>& batches, std::string& out);
// The bytes one batch adds to a frame body, at most (for splitting groups).
size_t batch_bytes_bound(const paxos::PersistBatch& batch);

struct LogFrame {
  LogPosition at;    // where the frame starts
  uint64_t end = 0;  // offset just past it (aligned)
  uint64_t body_bytes = 0;
  std::vector<paxos::PersistBatch> batches;  // ready ids are 0: they are replayed, not released
};

struct LogScan {
  enum class End { clean, torn, corrupt };
  End end = End::clean;
  std::vector<LogFrame> frames;  // the intact frames from the start, in order
  LogPosition next;              // where the next frame goes
  std::string problem;           // for torn and corrupt: what was found, and where
};

// Scans `bytes`, the log's contents from offset `from.offset` to the end of
// the ring, for frames of epoch `from.epoch` starting at seq `from.seq`.
LogScan scan_log(std::string_view bytes, const LogPosition& from);

// The highest epoch of any intact frame in `bytes` (the whole ring), 0 if none.
uint64_t highest_epoch(std::string_view bytes);

}  // namespace synod::persistence
