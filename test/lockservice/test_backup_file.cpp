// The backup file (backup_file.h): a file written from an image decodes to
// the same header and image; every single-byte change, every truncation and
// a newer format are refused with a sentence, never misread.
#include "harness.h"
#include "lockservice/backup_file.h"

namespace synod::lockservice::test {
namespace {

std::string some_image() {
  StateMachine machine;
  // Any valid image will do; an empty machine's is short, which keeps the
  // byte-flipping loop below exhaustive and quick.
  return machine.snapshot();
}

BackupHeader some_header() {
  BackupHeader header;
  header.cluster_id = 0x0123456789abcdefULL;
  header.slot = 42;
  header.revision = (uint64_t{42} << 20) | 3;
  header.log_time_ms = 123'456;
  header.taken_unix_ms = 1'800'000'000'000;
  return header;
}

TEST_CASE("a backup file round-trips its header and image", "[backup]") {
  const std::string image = some_image();
  const std::string file = encode_backup(some_header(), image);
  REQUIRE(file.size() == kBackupHeaderBytes + image.size() + kBackupTrailerBytes);
  const DecodedBackup decoded = decode_backup(file);
  REQUIRE(decoded.ok);
  CHECK(decoded.image == image);
  CHECK(decoded.header.cluster_id == some_header().cluster_id);
  CHECK(decoded.header.slot == 42);
  CHECK(decoded.header.revision == some_header().revision);
  CHECK(decoded.header.log_time_ms == 123'456);
  CHECK(decoded.header.taken_unix_ms == some_header().taken_unix_ms);
  CHECK(decoded.header.snapshot_format == kSnapshotFormatVersion);
  CHECK(decoded.header.image_bytes == image.size());
  StateMachine restored;
  CHECK(restored.restore(decoded.image));
}

TEST_CASE("every flipped byte and every truncation of a backup is refused", "[backup]") {
  const std::string file = encode_backup(some_header(), some_image());
  for (size_t i = 0; i < file.size(); ++i) {
    std::string altered = file;
    altered[i] = static_cast<char>(altered[i] ^ 0x01);
    const DecodedBackup decoded = decode_backup(altered);
    INFO("byte " << i);
    CHECK_FALSE(decoded.ok);
    CHECK_FALSE(decoded.error.empty());
  }
  for (size_t length = 0; length < file.size(); ++length) {
    INFO("length " << length);
    CHECK_FALSE(decode_backup(std::string_view(file).substr(0, length)).ok);
  }
  CHECK_FALSE(decode_backup(file + "x").ok);
  const std::string cut = file.substr(0, file.size() - 10);
  CHECK(decode_backup(cut).error.rfind("truncated", 0) == 0);
}

TEST_CASE("a backup of a newer format is refused by name, not misread", "[backup]") {
  std::string file = encode_backup(some_header(), some_image());
  file[8] = static_cast<char>(kBackupFormatVersion + 1);  // the format version's low byte
  const DecodedBackup decoded = decode_backup(file);
  CHECK_FALSE(decoded.ok);
  CHECK(decoded.error.find("newer") != std::string::npos);
}

}  // namespace
}  // namespace synod::lockservice::test
