// A backup file: one snapshot image of the state machine (snapshot.cpp) at
// one revision, with a header that says where it came from and a checksum
// over the whole file (issue 21). GET /v1/snapshot answers one, `synodctl
// snapshot save` writes it, `synodctl snapshot inspect` reads it and
// `synod restore` seeds a new cluster's data directories from it.
//
// FORMAT (version 1), little-endian, fixed offsets so that a reader can tell
// a truncated file from an altered one before it trusts any length:
//    0  8  magic "SYNODBAK"
//    8  4  backup format version (kBackupFormatVersion)
//   12  4  the image's snapshot format version (state_machine.h)
//   16  8  cluster id of the cluster it was taken from
//   24  8  slot: the image holds every chosen slot up to and including it
//   32  8  revision of the last command the image holds
//   40  8  log time of that command, ms
//   48  8  when the backup was taken, Unix ms (the serving node's clock)
//   56  8  image length, bytes
//   64  .  the image
//  end  4  CRC-32C of every byte before it
// A reader refuses a file whose length is not 68 + the image's, whose CRC
// does not match, or whose versions are newer than this build reads; it
// never guesses. The restored cluster continues the slots after `slot`, so
// revisions and fencing tokens keep rising across a restore.
//
// Pure; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace synod::lockservice {

inline constexpr uint32_t kBackupFormatVersion = 1;
inline constexpr size_t kBackupHeaderBytes = 64;
inline constexpr size_t kBackupTrailerBytes = 4;

struct BackupHeader {
  uint32_t format_version = kBackupFormatVersion;
  uint32_t snapshot_format = 0;  // filled from the image by encode_backup
  uint64_t cluster_id = 0;
  uint64_t slot = 0;
  uint64_t revision = 0;
  int64_t log_time_ms = 0;
  int64_t taken_unix_ms = 0;
  uint64_t image_bytes = 0;  // filled by encode_backup
  uint32_t checksum = 0;     // filled by encode_backup / decode_backup
};

// The whole file for `image`, with `header`'s cluster id, slot, revision and
// times (its format, snapshot format, length and checksum are computed).
std::string encode_backup(BackupHeader header, std::string_view image);

struct DecodedBackup {
  bool ok = false;
  std::string error;  // a sentence for the operator when !ok
  BackupHeader header;
  std::string_view image;  // into the decoded file's bytes
};

// Checks `file` whole (magic, versions, length, checksum); the image is not
// decoded here (StateMachine::restore checks its meaning).
DecodedBackup decode_backup(std::string_view file);

}  // namespace synod::lockservice
