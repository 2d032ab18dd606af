#include "persistence/log_format.h"

#include <algorithm>

#include "base/assert.h"
#include "base/codec.h"
#include "base/crc32c.h"
#include "paxos/value_codec.h"
#include "persistence/records.h"

namespace synod::persistence {

namespace {

constexpr size_t kVarintBytesMax = 10;

uint64_t aligned(uint64_t bytes) { return (bytes + kFrameAlignBytes - 1) / kFrameAlignBytes * kFrameAlignBytes; }

uint32_t read32(std::string_view bytes, size_t at) {
  Reader reader(bytes.substr(at, 4));
  return reader.fixed32();
}

uint64_t read64(std::string_view bytes, size_t at) {
  Reader reader(bytes.substr(at, 8));
  return reader.fixed64();
}

void encode_batch(const paxos::PersistBatch& batch, Writer& writer) {
  writer.u8(batch.promised ? 1 : 0);
  if (batch.promised) encode_ballot(*batch.promised, writer);
  writer.varint(batch.accepted.size());
  for (const auto& vote : batch.accepted) {
    writer.varint(vote.slot);
    encode_ballot(vote.ballot, writer);
    paxos::encode_value(*vote.value, writer);
  }
  writer.varint(batch.chosen.size());
  for (const auto& entry : batch.chosen) {
    writer.varint(entry.slot);
    paxos::encode_value(*entry.value, writer);
  }
}

// Counts are bounded by the bytes left, so a frame cannot make us reserve more
// than it could hold (every entry takes at least two bytes).
bool count_fits(uint64_t count, const Reader& reader, std::string_view body) {
  return count <= body.size() / 2 && reader.ok();
}

bool decode_body(std::string_view body, std::vector<paxos::PersistBatch>& batches) {
  Reader reader(body);
  const uint64_t count = reader.varint();
  if (!count_fits(count, reader, body)) return false;
  batches.resize(count);
  for (auto& batch : batches) {
    const uint8_t has_promised = reader.u8();
    if (has_promised > 1) return false;
    if (has_promised == 1) batch.promised = decode_ballot(reader);
    const uint64_t votes = reader.varint();
    if (!count_fits(votes, reader, body)) return false;
    batch.accepted.resize(votes);
    for (auto& vote : batch.accepted) {
      vote.slot = reader.varint();
      vote.ballot = decode_ballot(reader);
      vote.value = paxos::decode_value(reader);
      if (!vote.value || vote.slot == paxos::kNoSlot) return false;
    }
    const uint64_t chosen = reader.varint();
    if (!count_fits(chosen, reader, body)) return false;
    batch.chosen.resize(chosen);
    for (auto& entry : batch.chosen) {
      entry.slot = reader.varint();
      entry.value = paxos::decode_value(reader);
      if (!entry.value || entry.slot == paxos::kNoSlot) return false;
    }
  }
  return reader.done();
}

enum class Check { intact, zeros, stale, damaged };

// True if `bytes` starts with a frame whose checksum matches; sets its epoch,
// seq and aligned size.
bool frame_intact(std::string_view bytes, uint64_t& epoch, uint64_t& seq, uint64_t& frame_bytes) {
  if (bytes.size() < kFrameHeaderBytes) return false;
  if (read32(bytes, 4) != kFrameMagic || read32(bytes, 28) != 0) return false;
  const uint64_t body_bytes = read32(bytes, 24);
  frame_bytes = aligned(kFrameHeaderBytes + body_bytes);
  if (frame_bytes > bytes.size()) return false;
  if (crc32c(bytes.substr(4, kFrameHeaderBytes - 4 + body_bytes)) != read32(bytes, 0)) return false;
  epoch = read64(bytes, 8);
  seq = read64(bytes, 16);
  return true;
}

// What lies at the start of `bytes`, read as the frame of `epoch` and `seq`.
Check check_frame(std::string_view bytes, uint64_t epoch, uint64_t seq, uint64_t& frame_bytes) {
  const std::string_view header = bytes.substr(0, kFrameHeaderBytes);
  if (header.find_first_not_of('\0') == std::string_view::npos) return Check::zeros;
  uint64_t frame_epoch = 0;
  uint64_t frame_seq = 0;
  if (!frame_intact(bytes, frame_epoch, frame_seq, frame_bytes)) return Check::damaged;
  // An intact frame of an older epoch is the ring's past: the log ends here.
  if (frame_epoch < epoch) return Check::stale;
  return frame_epoch == epoch && frame_seq == seq ? Check::intact : Check::damaged;
}

}  // namespace

size_t batch_bytes_bound(const paxos::PersistBatch& batch) {
  // A value: its kind and count, then per command two ids and a length.
  const auto value_bound = [](const paxos::Value& value) {
    return 1 + kVarintBytesMax + value.commands.size() * 3 * kVarintBytesMax + value.payload_bytes();
  };
  size_t bytes = 1 + 4 * kVarintBytesMax;
  for (const auto& vote : batch.accepted) bytes += 3 * kVarintBytesMax + value_bound(*vote.value);
  for (const auto& entry : batch.chosen) bytes += kVarintBytesMax + value_bound(*entry.value);
  return bytes;
}

void encode_frame(const LogPosition& at, const std::vector<const paxos::PersistBatch*>& batches, std::string& out) {
  const size_t start = out.size();
  out.append(kFrameHeaderBytes, '\0');
  Writer writer(out);
  writer.varint(batches.size());
  for (const paxos::PersistBatch* batch : batches) encode_batch(*batch, writer);
  const size_t body_bytes = out.size() - start - kFrameHeaderBytes;
  SYNOD_ASSERT_MSG(body_bytes <= UINT32_MAX, "a log frame over 4 GiB");
  std::string header;
  Writer fields(header);
  fields.fixed32(0);
  fields.fixed32(kFrameMagic);
  fields.fixed64(at.epoch);
  fields.fixed64(at.seq);
  fields.fixed32(static_cast<uint32_t>(body_bytes));
  fields.fixed32(0);
  out.replace(start, kFrameHeaderBytes, header);
  const uint32_t crc = crc32c(std::string_view(out).substr(start + 4, kFrameHeaderBytes - 4 + body_bytes));
  for (size_t i = 0; i < 4; ++i) out[start + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
  out.append(aligned(out.size() - start) - (out.size() - start), '\0');
}

LogScan scan_log(std::string_view bytes, const LogPosition& from) {
  LogScan scan;
  scan.next = from;
  uint64_t at = 0;  // relative to `bytes`
  for (;;) {
    uint64_t frame_bytes = 0;
    const Check check = check_frame(bytes.substr(at), from.epoch, scan.next.seq, frame_bytes);
    if (check != Check::intact) {
      scan.end = check == Check::damaged ? LogScan::End::torn : LogScan::End::clean;
      break;
    }
    LogFrame frame;
    frame.at = scan.next;
    frame.end = scan.next.offset + frame_bytes;
    frame.body_bytes = read32(bytes.substr(at), 24);
    if (!decode_body(bytes.substr(at + kFrameHeaderBytes, frame.body_bytes), frame.batches)) {
      // The checksum matched, so these are the bytes a writer wrote: a bug
      // or a foreign file, never a torn write.
      scan.end = LogScan::End::corrupt;
      scan.problem = "log frame " + std::to_string(frame.at.seq) + " at offset " + std::to_string(frame.at.offset) +
                     " passes its checksum but does not decode";
      return scan;
    }
    scan.frames.push_back(std::move(frame));
    at += frame_bytes;
    scan.next = LogPosition{from.epoch, from.offset + at, scan.next.seq + 1};
  }
  // The end, at `at`. A frame is written only after the one before it was
  // synced, so an intact frame of this epoch beyond the end means that
  // frames before it were damaged, even if the end looks clean (zeros).
  for (uint64_t probe = at + kFrameAlignBytes; probe + kFrameHeaderBytes <= bytes.size(); probe += kFrameAlignBytes) {
    if (read32(bytes, static_cast<size_t>(probe) + 4) != kFrameMagic) continue;
    uint64_t epoch = 0;
    uint64_t seq = 0;
    uint64_t frame_bytes = 0;
    if (frame_intact(bytes.substr(probe), epoch, seq, frame_bytes) && epoch == from.epoch && seq > scan.next.seq) {
      scan.end = LogScan::End::corrupt;
      scan.problem = "log frame " + std::to_string(scan.next.seq) + " at offset " + std::to_string(scan.next.offset) +
                     " is damaged, yet frame " + std::to_string(seq) + " at offset " +
                     std::to_string(from.offset + probe) + " follows it intact";
      return scan;
    }
  }
  if (scan.end == LogScan::End::clean) return scan;
  scan.problem = "the log's last write, at offset " + std::to_string(scan.next.offset) + " (frame " +
                 std::to_string(scan.next.seq) + "), is torn; it was never acknowledged and is cut";
  return scan;
}

uint64_t highest_epoch(std::string_view bytes) {
  uint64_t highest = 0;
  for (uint64_t at = 0; at + kFrameHeaderBytes <= bytes.size(); at += kFrameAlignBytes) {
    if (read32(bytes, static_cast<size_t>(at) + 4) != kFrameMagic) continue;
    uint64_t epoch = 0;
    uint64_t seq = 0;
    uint64_t frame_bytes = 0;
    if (frame_intact(bytes.substr(at), epoch, seq, frame_bytes)) highest = std::max(highest, epoch);
  }
  return highest;
}

}  // namespace synod::persistence
