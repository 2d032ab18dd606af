#include "lockservice/backup_file.h"

#include "base/codec.h"
#include "base/crc32c.h"
#include "lockservice/state_machine.h"

namespace synod::lockservice {
namespace {

constexpr std::string_view kBackupMagic{"SYNODBAK", 8};

}  // namespace

std::string encode_backup(BackupHeader header, std::string_view image) {
  header.format_version = kBackupFormatVersion;
  header.snapshot_format = snapshot_format_of(image);
  header.image_bytes = image.size();
  std::string out;
  out.reserve(kBackupHeaderBytes + image.size() + kBackupTrailerBytes);
  Writer w(out);
  out.append(kBackupMagic);
  w.fixed32(header.format_version);
  w.fixed32(header.snapshot_format);
  w.fixed64(header.cluster_id);
  w.fixed64(header.slot);
  w.fixed64(header.revision);
  w.fixed64(static_cast<uint64_t>(header.log_time_ms));
  w.fixed64(static_cast<uint64_t>(header.taken_unix_ms));
  w.fixed64(header.image_bytes);
  out.append(image);
  w.fixed32(crc32c(out));
  return out;
}

DecodedBackup decode_backup(std::string_view file) {
  DecodedBackup d;
  if (file.size() < kBackupMagic.size() || file.substr(0, kBackupMagic.size()) != kBackupMagic) {
    d.error = "not a synod backup file (it does not begin with SYNODBAK)";
    return d;
  }
  if (file.size() < kBackupHeaderBytes + kBackupTrailerBytes) {
    d.error = "truncated: " + std::to_string(file.size()) + " bytes, shorter than a backup's header";
    return d;
  }
  Reader r(file.substr(kBackupMagic.size(), kBackupHeaderBytes - kBackupMagic.size()));
  BackupHeader& h = d.header;
  h.format_version = r.fixed32();
  h.snapshot_format = r.fixed32();
  h.cluster_id = r.fixed64();
  h.slot = r.fixed64();
  h.revision = r.fixed64();
  h.log_time_ms = static_cast<int64_t>(r.fixed64());
  h.taken_unix_ms = static_cast<int64_t>(r.fixed64());
  h.image_bytes = r.fixed64();
  // The version first: a newer file may be laid out otherwise, so nothing
  // after it is trusted.
  if (h.format_version != kBackupFormatVersion) {
    d.error = "backup format version " + std::to_string(h.format_version) + "; this build reads version " +
              std::to_string(kBackupFormatVersion) +
              (h.format_version > kBackupFormatVersion ? " (a newer synod wrote it)" : "");
    return d;
  }
  const uint64_t expected = kBackupHeaderBytes + h.image_bytes + kBackupTrailerBytes;
  if (h.image_bytes > file.size() || expected != file.size()) {
    d.error = (file.size() < expected ? "truncated: " : "trailing bytes: ") + std::to_string(file.size()) +
              " bytes, but the header says " + std::to_string(expected);
    return d;
  }
  const std::string_view body = file.substr(0, file.size() - kBackupTrailerBytes);
  Reader trailer(file.substr(body.size()));
  h.checksum = trailer.fixed32();
  if (crc32c(body) != h.checksum) {
    d.error = "checksum mismatch: the file was altered or damaged";
    return d;
  }
  if (h.snapshot_format < kSnapshotFormatVersionOldest || h.snapshot_format > kSnapshotFormatVersion) {
    d.error = "snapshot format version " + std::to_string(h.snapshot_format) + "; this build reads versions " +
              std::to_string(kSnapshotFormatVersionOldest) + " to " + std::to_string(kSnapshotFormatVersion);
    return d;
  }
  d.image = body.substr(kBackupHeaderBytes);
  d.ok = true;
  return d;
}

}  // namespace synod::lockservice
