// Writes the seed corpus of fuzz_peer_frame: one valid frame per file, of
// every message type with edge values (test/transport/samples.h) and a few
// hellos. Deterministic, so a regenerated corpus differs from the checked-in
// one only when the wire format changed:
//
//   make_peer_frame_corpus test/fuzz/corpus/peer_frame
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "paxos/messages.h"
#include "transport/wire.h"
#include "transport/samples.h"

namespace {

bool write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace synod::transport;
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_peer_frame_corpus DIRECTORY\n");
    return 2;
  }
  const std::filesystem::path directory(argv[1]);
  std::filesystem::create_directories(directory);
  int index = 0;
  const auto name = [&](const std::string& what) {
    char prefix[8];
    std::snprintf(prefix, sizeof prefix, "%02d-", index++);
    return directory / (prefix + what);
  };
  for (const auto& envelope : testing::sample_envelopes()) {
    std::string frame;
    encode_envelope(envelope, frame);
    if (!write_file(name(synod::transport::message_name(envelope.message)), frame)) return 1;
  }
  for (const Hello& hello : {Hello{kProtocolVersion, 0, 1, 0}, Hello{kProtocolVersion, 7, 3, 11},
                             Hello{kProtocolVersion, testing::kU64Max, testing::kNodeMax, testing::kU64Max}}) {
    std::string frame;
    encode_hello(hello, frame);
    if (!write_file(name("hello"), frame)) return 1;
  }
  std::printf("wrote %d frames to %s\n", index, directory.c_str());
  return 0;
}
