// The peer wire codec (transport/wire.h): every message round-trips
// with edge values, and every malformed frame is refused with a status.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <set>

#include "base/codec.h"
#include "base/crc32c.h"
#include "base/random.h"
#include "transport/backoff.h"
#include "transport/wire.h"
#include "transport/samples.h"

using namespace synod;
using namespace synod::transport;
using namespace synod::transport::testing;
using Envelope = PeerEnvelope;

namespace {

const WireLimits kLimits{};

std::string frame_of(const Envelope& envelope) {
  std::string frame;
  const size_t bytes = encode_envelope(envelope, frame);
  REQUIRE(bytes == frame.size());
  return frame;
}

// A frame around `payload`, with a correct length and CRC, so that the
// payload decoder itself is what is tested.
std::string seal(std::string_view payload, uint8_t version = kProtocolVersion) {
  std::string frame(kFrameMagic);
  frame.push_back(static_cast<char>(version));
  Writer writer(frame);
  writer.fixed32(static_cast<uint32_t>(payload.size()));
  writer.fixed32(crc32c(payload));
  frame.append(payload);
  return frame;
}

// The payload of an envelope from 1 to 2 with `tag`, and `body` written by the caller.
template <typename Body>
std::string envelope_payload(uint8_t tag, Body body) {
  std::string payload;
  Writer writer(payload);
  writer.u8(2);  // envelope
  writer.varint(1);
  writer.varint(2);
  writer.u8(tag);
  body(writer);
  return payload;
}

WireError error_of(std::string_view bytes, const WireLimits& limits = kLimits) {
  return decode_frame(bytes, limits).status.error;
}

bool same_frame(const Frame& a, const Frame& b) {
  if (a.index() != b.index()) return false;
  if (const auto* hello = std::get_if<Hello>(&a)) {
    const auto& other = std::get<Hello>(b);
    return hello->protocol_version == other.protocol_version && hello->cluster_id == other.cluster_id &&
           hello->node == other.node;
  }
  return same(std::get<Envelope>(a), std::get<Envelope>(b));
}

std::string encode_frame(const Frame& frame) {
  std::string out;
  if (const auto* hello = std::get_if<Hello>(&frame)) {
    encode_hello(*hello, out);
  } else {
    encode_envelope(std::get<Envelope>(frame), out);
  }
  return out;
}

std::string read_file(const std::filesystem::path& path) {
  std::string bytes(std::filesystem::file_size(path), '\0');
  std::ifstream in(path, std::ios::binary);
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(in.gcount() == static_cast<std::streamsize>(bytes.size()));
  return bytes;
}

}  // namespace

TEST_CASE("every message type round-trips with edge values") {
  const auto samples = sample_envelopes();
  std::set<size_t> types;
  for (const auto& envelope : samples) {
    INFO(describe(envelope.message));
    const Decoded decoded = decode_frame(frame_of(envelope), kLimits);
    REQUIRE(decoded.status.ok());
    REQUIRE(std::holds_alternative<Envelope>(decoded.frame));
    CHECK(same(std::get<Envelope>(decoded.frame), envelope));
    types.insert(message_type(envelope.message));
  }
  CHECK(types.size() == std::variant_size_v<paxos::Message> + std::variant_size_v<ServerMessage>);
}

TEST_CASE("a decoded value keeps its kind, every command and the payload bytes") {
  const auto value = paxos::make_batch({paxos::Command{1, 2, std::string("a\0b", 3)}, paxos::Command{3, 4, ""}});
  const Decoded decoded = decode_frame(frame_of(Envelope{1, 2, paxos::Accept{{1, 1}, 5, value, 4}}), kLimits);
  REQUIRE(decoded.status.ok());
  const auto& accept = std::get<paxos::Accept>(std::get<paxos::Message>(std::get<Envelope>(decoded.frame).message));
  REQUIRE(accept.value->kind == paxos::Value::Kind::commands);
  REQUIRE(accept.value->commands.size() == 2);
  CHECK(accept.value->commands[0].payload == std::string("a\0b", 3));
  CHECK(accept.value->commands[1].client_id == 3);
  CHECK(accept.value->commands[1].seq == 4);
  // A no-op decodes to a no-op, never to a null pointer.
  const Decoded noop = decode_frame(frame_of(Envelope{1, 2, paxos::Accept{{1, 1}, 5, paxos::make_noop(), 4}}), kLimits);
  REQUIRE(noop.status.ok());
  const auto& noop_value = std::get<paxos::Accept>(std::get<paxos::Message>(std::get<Envelope>(noop.frame).message)).value;
  REQUIRE(noop_value != nullptr);
  CHECK(noop_value->kind == paxos::Value::Kind::noop);
}

TEST_CASE("a hello round-trips with edge values") {
  for (const Hello& hello : {Hello{kProtocolVersion, 0, 1}, Hello{kProtocolVersion, kU64Max, kNodeMax}}) {
    std::string frame;
    encode_hello(hello, frame);
    const Decoded decoded = decode_frame(frame, kLimits);
    REQUIRE(decoded.status.ok());
    CHECK(same_frame(decoded.frame, hello));
  }
}

TEST_CASE("flipping any byte of a valid frame is refused, with the error of the field it hit") {
  std::vector<std::string> frames;
  for (const auto& envelope : sample_envelopes()) frames.push_back(frame_of(envelope));
  frames.emplace_back();
  encode_hello(Hello{kProtocolVersion, 7, 3}, frames.back());
  size_t refused = 0;
  for (const auto& frame : frames) {
    for (size_t at = 0; at < frame.size(); ++at) {
      for (const int mask : {0x01, 0x80, 0xff}) {
        std::string bad = frame;
        bad[at] = static_cast<char>(static_cast<uint8_t>(bad[at]) ^ mask);
        const WireError error = error_of(bad);
        INFO("byte " << at << " of " << frame.size() << ", mask " << mask);
        if (at < 4) {
          CHECK(error == WireError::bad_magic);
        } else if (at == 4) {
          CHECK(error == WireError::unknown_version);
        } else if (at < 9) {  // the length: the frame now looks cut short, too long, or over the limit
          CHECK((error == WireError::truncated || error == WireError::trailing_bytes ||
                 error == WireError::frame_too_large));
        } else {  // the CRC, or a payload byte the CRC covers
          CHECK(error == WireError::crc_mismatch);
        }
        refused += error != WireError::none ? 1 : 0;
      }
    }
  }
  CHECK(refused > 3000);
}

TEST_CASE("a frame cut short at any length is refused, and a stream waits for the rest") {
  for (const auto& envelope : sample_envelopes()) {
    const std::string frame = frame_of(envelope);
    for (size_t length = 0; length < frame.size(); ++length) {
      const std::string_view prefix = std::string_view(frame).substr(0, length);
      INFO(message_name(envelope.message) << " cut at " << length);
      CHECK(error_of(prefix) == WireError::truncated);
      CHECK(scan_frame(prefix, kLimits).state == FrameScan::State::incomplete);
    }
    const FrameScan whole = scan_frame(frame, kLimits);
    CHECK(whole.state == FrameScan::State::complete);
    CHECK(whole.frame_bytes == frame.size());
  }
}

TEST_CASE("bytes after a frame are refused by decode_frame and left for the next frame by scan_frame") {
  const std::string first = frame_of(Envelope{1, 2, paxos::Heartbeat{{1, 1}, 1, 0}});
  CHECK(error_of(first + "x") == WireError::trailing_bytes);
  const std::string two = first + frame_of(Envelope{1, 2, paxos::Heartbeat{{1, 1}, 2, 0}});
  const FrameScan scan = scan_frame(two, kLimits);
  REQUIRE(scan.state == FrameScan::State::complete);
  CHECK(scan.frame_bytes == first.size());
}

TEST_CASE("a stream of frames fed in arbitrary pieces splits at the frame boundaries") {
  const auto samples = sample_envelopes();
  std::string stream;
  for (const auto& envelope : samples) encode_envelope(envelope, stream);
  Random random(42);
  std::string buffered;
  size_t next = 0;
  size_t at = 0;
  while (at < stream.size()) {
    const auto piece = static_cast<size_t>(random.uniform(1, 97));
    buffered.append(stream, at, piece);
    at += piece;
    for (FrameScan scan = scan_frame(buffered, kLimits); scan.state == FrameScan::State::complete;
         scan = scan_frame(buffered, kLimits)) {
      const Decoded decoded = decode_frame(std::string_view(buffered).substr(0, scan.frame_bytes), kLimits);
      REQUIRE(decoded.status.ok());
      REQUIRE(next < samples.size());
      CHECK(same(std::get<Envelope>(decoded.frame), samples[next++]));
      buffered.erase(0, scan.frame_bytes);
    }
  }
  CHECK(next == samples.size());
  CHECK(buffered.empty());
}

TEST_CASE("the header is refused as soon as it is wrong, before the payload arrives") {
  SECTION("a wrong first byte is a bad magic at once") {
    const FrameScan scan = scan_frame("G", kLimits);
    CHECK(scan.state == FrameScan::State::invalid);
    CHECK(scan.status.error == WireError::bad_magic);
    CHECK(scan_frame("GET / HTTP/1.1\r\n\r\n", kLimits).status.error == WireError::bad_magic);
  }
  SECTION("an unknown version is refused by number") {
    std::string frame;
    encode_hello(Hello{9, 7, 2}, frame);
    const FrameScan scan = scan_frame(std::string_view(frame).substr(0, 5), kLimits);
    CHECK(scan.status.error == WireError::unknown_version);
    CHECK(scan.status.message.find("version 9") != std::string::npos);
    CHECK(scan.status.message.find("version " + std::to_string(kProtocolVersion)) != std::string::npos);
  }
  SECTION("a length over frame_bytes_max is refused from the header alone") {
    const WireLimits limits{1000};
    const std::string frame =
        frame_of(Envelope{1, 2, paxos::Accept{{1, 1}, 1, paxos::make_batch({{1, 1, std::string(1000, 'x')}}), 0}});
    const FrameScan scan = scan_frame(std::string_view(frame).substr(0, kFrameHeaderBytes), limits);
    CHECK(scan.state == FrameScan::State::invalid);
    CHECK(scan.status.error == WireError::frame_too_large);
    CHECK(error_of(frame, limits) == WireError::frame_too_large);
    CHECK(error_of(frame, WireLimits{frame.size()}) == WireError::none);  // the limit includes the header
  }
}

TEST_CASE("payloads behind a valid CRC are refused with their own error") {
  const auto error_of_payload = [](std::string_view payload) { return error_of(seal(payload)); };
  CHECK(error_of_payload("") == WireError::malformed);
  CHECK(error_of_payload("\x03") == WireError::unknown_frame_type);
  for (const int tag : {0, 19, 255}) {
    CHECK(error_of_payload(envelope_payload(static_cast<uint8_t>(tag), [](Writer&) {})) ==
          WireError::unknown_message_tag);
  }
  // A valid Accepted, to show the cases below fail for the reason they name.
  const auto accepted = envelope_payload(6, [](Writer& w) { w.varint(1), w.varint(1), w.varint(5); });
  CHECK(error_of_payload(accepted) == WireError::none);
  CHECK(error_of_payload(accepted + "x") == WireError::trailing_bytes);
  CHECK(error_of_payload(accepted.substr(0, accepted.size() - 1)) == WireError::malformed);

  SECTION("counts the remaining bytes cannot hold") {
    const auto promise = [](uint64_t count) {
      return envelope_payload(4, [count](Writer& w) {
        w.varint(1), w.varint(1), w.varint(1), w.varint(0), w.varint(count);
        w.varint(1), w.varint(1), w.varint(1), w.u8(0);  // one no-op vote
      });
    };
    CHECK(error_of_payload(promise(1)) == WireError::none);
    CHECK(error_of_payload(promise(2)) == WireError::count_too_large);
    CHECK(error_of_payload(promise(uint64_t{1} << 60)) == WireError::count_too_large);
    const auto commands = envelope_payload(
        5, [](Writer& w) { w.varint(1), w.varint(1), w.varint(1), w.u8(1), w.varint(kU64Max), w.varint(0); });
    CHECK(error_of_payload(commands) == WireError::count_too_large);
    const auto entries = envelope_payload(11, [](Writer& w) { w.varint(0), w.varint(1'000'000), w.u8(0); });
    CHECK(error_of_payload(entries) == WireError::count_too_large);
  }
  SECTION("fields out of range") {
    const auto accept_kind = [](uint8_t kind) {
      return envelope_payload(5, [kind](Writer& w) { w.varint(1), w.varint(1), w.varint(1), w.u8(kind), w.varint(0); });
    };
    CHECK(error_of_payload(accept_kind(0)) == WireError::none);
    CHECK(error_of_payload(accept_kind(2)) == WireError::malformed);
    const auto reject = [](uint8_t reason, uint8_t refused) {
      return envelope_payload(
          7, [=](Writer& w) { w.varint(1), w.varint(1), w.varint(2), w.varint(2), w.u8(reason), w.u8(refused); });
    };
    CHECK(error_of_payload(reject(3, 2)) == WireError::none);
    CHECK(error_of_payload(reject(4, 0)) == WireError::malformed);
    CHECK(error_of_payload(reject(0, 3)) == WireError::malformed);
    const auto probe_reply = [](uint8_t granted) {
      return envelope_payload(2, [=](Writer& w) { w.varint(1), w.varint(1), w.u8(granted), w.svarint(-1); });
    };
    CHECK(error_of_payload(probe_reply(1)) == WireError::none);
    CHECK(error_of_payload(probe_reply(2)) == WireError::malformed);
    const auto nominate = [](uint64_t successor) {
      return envelope_payload(12, [=](Writer& w) { w.varint(1), w.varint(1), w.varint(successor); });
    };
    CHECK(error_of_payload(nominate(kNodeMax)) == WireError::none);
    CHECK(error_of_payload(nominate(uint64_t{kNodeMax} + 1)) == WireError::malformed);
  }
  SECTION("a varint over 10 bytes, and a byte string past the end") {
    const auto long_varint = envelope_payload(10, [](Writer& w) {
      for (int i = 0; i < 11; ++i) w.u8(0x80);
      w.u8(0);
    });
    CHECK(error_of_payload(long_varint) == WireError::malformed);
    const auto short_payload = envelope_payload(5, [](Writer& w) {
      w.varint(1), w.varint(1), w.varint(1), w.u8(1), w.varint(1), w.varint(1), w.varint(1), w.varint(100), w.u8('x');
    });
    CHECK(error_of_payload(short_payload) == WireError::malformed);
  }
  SECTION("a snapshot chunk's configurations (protocol 3)") {
    // slot, then `entries` written by the caller, then an empty last chunk.
    const auto chunk = [](uint64_t slot, uint64_t count, const std::function<void(Writer&)>& entries) {
      return envelope_payload(16, [&](Writer& w) {
        w.varint(slot), w.varint(count);
        entries(w);
        w.varint(0), w.bytes(""), w.fixed32(0), w.varint(0), w.fixed32(0), w.u8(1);
      });
    };
    // from, chosen_at, voters, learners, next_id, and no addresses.
    const auto entry = [](Writer& w, uint64_t from, uint64_t chosen_at, std::vector<uint64_t> voters,
                          std::vector<uint64_t> learners, uint64_t next_id) {
      w.varint(from), w.varint(chosen_at), w.varint(voters.size());
      for (uint64_t id : voters) w.varint(id);
      w.varint(learners.size());
      for (uint64_t id : learners) w.varint(id);
      w.varint(next_id), w.varint(0);
    };
    const auto two = [&](uint64_t second_from, uint64_t second_chosen_at) {
      return [&entry, second_from, second_chosen_at](Writer& w) {
        entry(w, 1, 0, {1, 2, 3}, {}, 4);
        entry(w, second_from, second_chosen_at, {1, 2, 3}, {4}, 5);
      };
    };
    CHECK(error_of_payload(chunk(40, 2, two(46, 30))) == WireError::none);
    const Decoded decoded = decode_frame(seal(chunk(40, 2, two(46, 30))), kLimits);
    REQUIRE(decoded.status.ok());
    const auto& message = std::get<ServerMessage>(std::get<Envelope>(decoded.frame).message);
    const auto& configurations = std::get<SnapshotChunk>(message).configurations;
    REQUIRE(configurations.size() == 2);
    CHECK(configurations[1].from == 46);
    CHECK(configurations[1].chosen_at == 30);
    CHECK(configurations[1].configuration.learners == std::vector<paxos::NodeId>{4});
    // "No snapshot" carries none; a snapshot at least one.
    CHECK(error_of_payload(chunk(0, 0, [](Writer&) {})) == WireError::none);
    CHECK(error_of_payload(chunk(40, 0, [](Writer&) {})) == WireError::malformed);
    CHECK(error_of_payload(chunk(0, 2, two(46, 30))) == WireError::malformed);
    // A configuration decode_configuration refuses: voter 7 is not below next_id 4.
    CHECK(error_of_payload(chunk(40, 1, [&](Writer& w) { entry(w, 1, 0, {1, 7}, {}, 4); })) == WireError::malformed);
    // A learner that is also a voter.
    CHECK(error_of_payload(chunk(40, 1, [&](Writer& w) { entry(w, 1, 0, {1, 2}, {2}, 4); })) == WireError::malformed);
    // A change that governs before the slot that chose it, and two out of order.
    CHECK(error_of_payload(chunk(40, 2, two(30, 30))) == WireError::malformed);
    CHECK(error_of_payload(chunk(40, 2, [&](Writer& w) {
            entry(w, 46, 30, {1, 2, 3}, {4}, 5);
            entry(w, 20, 4, {1, 2, 3}, {}, 4);
          })) == WireError::malformed);
    // A bootstrap configuration after a chosen one.
    CHECK(error_of_payload(chunk(40, 2, [&](Writer& w) {
            entry(w, 20, 4, {1, 2, 3}, {}, 4);
            entry(w, 1, 0, {1, 2, 3}, {}, 4);
          })) == WireError::malformed);
    CHECK(error_of_payload(chunk(40, uint64_t{1} << 40, two(46, 30))) == WireError::count_too_large);
  }
  SECTION("a hello whose version disagrees with its frame's") {
    std::string payload;
    Writer w(payload);
    const uint8_t other = kProtocolVersion + 1;
    w.u8(1), w.varint(other), w.fixed64(7), w.varint(1), w.fixed64(0);
    CHECK(error_of_payload(payload) == WireError::malformed);
    CHECK(error_of(seal(payload, other)) == WireError::unknown_version);
  }
}

TEST_CASE("random garbage is refused or decodes to something that re-encodes identically") {
  Random random(20240611);
  std::vector<std::string> valid;
  for (const auto& envelope : sample_envelopes()) valid.push_back(frame_of(envelope));
  size_t refused = 0;
  size_t decoded_ok = 0;
  for (int round = 0; round < 30'000; ++round) {
    std::string bytes;
    const int64_t kind = random.uniform(0, 3);
    if (kind == 0) {  // noise
      bytes.resize(static_cast<size_t>(random.uniform(0, 300)));
      for (auto& byte : bytes) byte = static_cast<char>(random.next());
    } else if (kind == 1) {  // a plausible header, then noise
      bytes = seal("");
      bytes.resize(static_cast<size_t>(random.uniform(0, 300)) + kFrameHeaderBytes);
      for (size_t i = 5; i < bytes.size(); ++i) bytes[i] = static_cast<char>(random.next());
    } else {  // a valid frame's payload, mutated, behind a valid CRC
      const std::string& base = valid[static_cast<size_t>(random.uniform(0, static_cast<int64_t>(valid.size()) - 1))];
      std::string payload = base.substr(kFrameHeaderBytes);
      const int64_t mutations = random.uniform(1, 4);
      for (int64_t m = 0; m < mutations && !payload.empty(); ++m) {
        const auto at = static_cast<size_t>(random.uniform(0, static_cast<int64_t>(payload.size()) - 1));
        if (kind == 2) {
          payload[at] = static_cast<char>(random.next());
        } else {
          payload.erase(at, static_cast<size_t>(random.uniform(1, 8)));
        }
      }
      bytes = seal(payload);
    }
    const Decoded decoded = decode_frame(bytes, kLimits);
    if (!decoded.status.ok()) {
      CHECK_FALSE(decoded.status.message.empty());
      ++refused;
      continue;
    }
    ++decoded_ok;
    // Varints may be non-minimal on the wire, so compare re-encodings.
    const std::string again = encode_frame(decoded.frame);
    const Decoded twice = decode_frame(again, kLimits);
    REQUIRE(twice.status.ok());
    CHECK(same_frame(twice.frame, decoded.frame));
    CHECK(encode_frame(twice.frame) == again);
  }
  CHECK(refused > 10'000);
  CHECK(decoded_ok > 100);  // the mutations reach past the CRC into the decoder
}

TEST_CASE("every seed of the fuzz corpus is a valid frame, and the corpus covers every message type") {
  std::set<size_t> types;
  size_t hellos = 0;
  size_t files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(SYNOD_PEER_FRAME_CORPUS)) {
    const std::string bytes = read_file(entry.path());
    INFO(entry.path());
    const Decoded decoded = decode_frame(bytes, kLimits);
    REQUIRE(decoded.status.ok());
    if (const auto* envelope = std::get_if<Envelope>(&decoded.frame)) {
      types.insert(message_type(envelope->message));
    } else {
      ++hellos;
    }
    ++files;
  }
  CHECK(files >= 30);
  CHECK(hellos >= 1);
  CHECK(types.size() == std::variant_size_v<paxos::Message> + std::variant_size_v<ServerMessage>);
}

TEST_CASE("backoff doubles from backoff_ms_min to backoff_ms_max, jittered within [cap/2, cap]") {
  Random random(7);
  Backoff backoff(10, 1000);
  const int64_t caps[] = {10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000};
  for (const int64_t cap : caps) {
    const int64_t delay = backoff.next_ms(random);
    CHECK(delay >= cap / 2);
    CHECK(delay <= cap);
  }
  backoff.reset();
  const int64_t after_reset = backoff.next_ms(random);
  CHECK(after_reset >= 5);
  CHECK(after_reset <= 10);
  // The jitter is the seeded generator's: one seed, one sequence; capped draws spread out.
  Random a(1), b(1), c(2);
  Backoff x(10, 1000), y(10, 1000), z(10, 1000);
  std::vector<int64_t> xs, ys, zs;
  for (int i = 0; i < 30; ++i) {
    xs.push_back(x.next_ms(a));
    ys.push_back(y.next_ms(b));
    zs.push_back(z.next_ms(c));
  }
  CHECK(xs == ys);
  CHECK(xs != zs);
  CHECK(std::set<int64_t>(xs.begin() + 10, xs.end()).size() > 5);
}
