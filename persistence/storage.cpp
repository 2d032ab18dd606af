#include "persistence/storage.h"

#include "base/crc32c.h"

namespace synod::persistence {

namespace {

// A stored chunk is one record; LMDB keeps values this large on overflow
// pages, and a bound keeps one record's copy on load reasonable.
constexpr uint64_t kChunkBytesMax = 64ULL << 20;

}  // namespace

bool chunk_intact(const SnapshotChunk& chunk) { return crc32c(chunk.bytes) == chunk.crc32c; }

std::string validate(const StorageOptions& options) {
  if (options.node_id == paxos::kNoNode) return "node_id must be set (node ids start at 1)";
  if (options.log_slots_max == 0 || options.log_bytes_max == 0) return "log_slots_max and log_bytes_max must be positive";
  if (options.snapshot_chunk_bytes == 0 || options.snapshot_chunk_bytes > kChunkBytesMax) {
    return "snapshot_chunk_bytes must be in [1, 64 MiB]";
  }
  if (options.transfer_chunk_bytes_max == 0) return "transfer_chunk_bytes_max must be positive";
  if (options.compact_records_max == 0) return "compact_records_max must be positive";
  if (options.snapshot_step_bytes == 0) return "snapshot_step_bytes must be positive";
  if (options.group_batches_max == 0) return "group_batches_max must be positive";
  if (options.log_capacity_bytes < (64ULL << 10)) return "log_capacity_bytes must be at least 64 KiB";
  if (options.checkpoint_bytes == 0 || options.checkpoint_bytes > options.log_capacity_bytes / 4) {
    return "checkpoint_bytes must be positive and at most a quarter of log_capacity_bytes";
  }
  if (options.checkpoint_records_max == 0) return "checkpoint_records_max must be positive";
  return {};
}

}  // namespace synod::persistence
