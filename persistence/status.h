// Status: how a storage operation ended, as a code the driver branches on and
// a sentence an operator can act on.
//
// Storage reports operating errors (a full disk, a corrupt record, a data
// directory held by another process) as a Status and never throws or aborts
// for them. Programmer errors (persisting before load, a snapshot older than
// the one on disk) are SYNOD_ASSERTs instead (STYLE §6).
//
// A plain value; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

namespace synod::persistence {

enum class Code : uint8_t {
  ok = 0,
  // load(): the data directory held no store. It now holds an empty one for
  // this node id. The driver decides whether that is a first start or a lost
  // disk (DESIGN §3: a lost disk rejoins as a non-voter).
  fresh,
  // A checksum or a structural check failed. The message names the record.
  // Corrupt data is never returned as valid.
  corrupt,
  // The store was written by a format version this build does not read.
  unknown_format_version,
  // The store belongs to another node id.
  node_id_mismatch,
  // Another process holds the data directory's lock file.
  locked,
  // A system call failed (open, read, write, sync); the message has errno's words.
  io_error,
  // The disk is full, or the LMDB map reached map_bytes_max.
  no_space,
  // An earlier write failed; the store takes no writes until it is reopened,
  // rather than go on from a state it cannot vouch for.
  refused,
  // read_snapshot_chunk(): the snapshot asked for has been replaced (or there
  // is none); the transfer starts again from the newest one.
  snapshot_changed,
  // A caller's argument is outside what the store accepts (a snapshot above
  // snapshot_bytes_max, a chunk offset past the end). Operating errors,
  // because such arguments can come from a peer.
  invalid_argument,
};

const char* code_name(Code code);

struct Status {
  Code code = Code::ok;
  std::string message;  // empty when ok

  static Status success() { return Status{}; }
  static Status error(Code code, std::string message) { return Status{code, std::move(message)}; }

  bool ok() const { return code == Code::ok; }
  // Both ok and fresh mean "the store is usable".
  bool usable() const { return code == Code::ok || code == Code::fresh; }
  // "corrupt: chosen record at slot 17: checksum mismatch"
  std::string to_string() const;
};

}  // namespace synod::persistence
