// The record format (records.h): round trips, and every single-bit flip and
// every truncation of a record is rejected.
#include <catch2/catch.hpp>

#include "base/codec.h"
#include "persistence/records.h"
#include "support.h"

using namespace synod;
using namespace synod::persistence;

namespace {

// Every way of damaging `value` by one bit or by cutting it short must make
// `decode` fail.
template <typename Decode>
void check_every_damage_detected(const std::string& value, Decode decode) {
  for (size_t bit = 0; bit < value.size() * 8; ++bit) {
    std::string damaged = value;
    damaged[bit / 8] = static_cast<char>(damaged[bit / 8] ^ (1 << (bit % 8)));
    INFO("bit " << bit);
    CHECK_FALSE(decode(damaged).empty());
  }
  for (size_t kept = 0; kept < value.size(); ++kept) {
    INFO("kept " << kept << " of " << value.size());
    CHECK_FALSE(decode(value.substr(0, kept)).empty());
  }
}

}  // namespace

TEST_CASE("slot keys sort in numeric order", "[records]") {
  const std::vector<uint64_t> slots = {0, 1, 2, 255, 256, 65535, 65536, 1ULL << 40, UINT64_MAX};
  for (size_t i = 1; i < slots.size(); ++i) CHECK(slot_key(slots[i - 1]) < slot_key(slots[i]));
  for (uint64_t slot : slots) CHECK(parse_slot_key(slot_key(slot)) == slot);
  CHECK_FALSE(parse_slot_key("1234567"));
  CHECK_FALSE(parse_slot_key("format"));
}

TEST_CASE("values round trip: no-op, empty batch, batch of commands", "[records]") {
  const std::vector<paxos::ValuePtr> values = {paxos::make_noop(), paxos::make_batch({}),
                                               testing::batch_value(1ULL << 60, 99, 5, 300)};
  for (const auto& value : values) {
    std::string bytes;
    Writer writer(bytes);
    encode_value(*value, writer);
    Reader reader(bytes);
    paxos::ValuePtr decoded = decode_value(reader);
    REQUIRE(decoded);
    CHECK(reader.done());
    CHECK(*decoded == *value);
  }
}

TEST_CASE("a command count larger than the input is refused before allocating", "[records]") {
  std::string bytes;
  Writer writer(bytes);
  writer.u8(1);
  writer.varint(1ULL << 40);
  Reader reader(bytes);
  CHECK(decode_value(reader) == nullptr);
}

TEST_CASE("every record kind round trips", "[records]") {
  std::string value;

  encode_format(FormatRecord{kFormatVersion, 3}, value);
  FormatRecord format;
  REQUIRE(decode_format(value, format).empty());
  CHECK(format.version == kFormatVersion);
  CHECK(format.node_id == 3);

  const StateRecord state{paxos::Ballot{9, 2}, 40, 77, 3, LogPosition{4, 4096, 123}};
  encode_state(state, value);
  StateRecord state_out;
  REQUIRE(decode_state(value, kFormatVersion, state_out).empty());
  CHECK(state_out == state);
  // Version 1 had no sections: its state record is the first four fields.
  CHECK(decode_state(value, 1, state_out) == "trailing bytes after the body");

  const SnapshotRecord snapshot{40, testing::grown_history(), 5000, 0xdeadbeef, 1024, 5};
  encode_snapshot(snapshot, value);
  SnapshotRecord snapshot_out;
  REQUIRE(decode_snapshot(value, kFormatVersion, snapshot_out).empty());
  CHECK(snapshot_out == snapshot);
  CHECK(snapshot_out.configurations[1].configuration.addresses.at(4).peer == "n4:7101");

  const paxos::AcceptedEntry vote{12, paxos::Ballot{4, 1}, testing::value_for(12)};
  encode_vote(vote, value);
  paxos::AcceptedEntry vote_out;
  REQUIRE(decode_vote(slot_key(12), value, vote_out).empty());
  CHECK(vote_out.slot == 12);
  CHECK(vote_out.ballot == vote.ballot);
  CHECK(*vote_out.value == *vote.value);

  const paxos::ChosenEntry chosen{13, paxos::make_noop()};
  encode_chosen(chosen, value);
  paxos::ChosenEntry chosen_out;
  REQUIRE(decode_chosen(slot_key(13), value, chosen_out).empty());
  CHECK(chosen_out.slot == 13);
  CHECK(chosen_out.value->kind == paxos::Value::Kind::noop);

  encode_chunk(2, 40, "chunk bytes", value);
  ChunkRecord chunk_out;
  REQUIRE(decode_chunk(chunk_key(40, 2), value, chunk_out).empty());
  CHECK(chunk_out.snapshot_slot == 40);
  CHECK(chunk_out.bytes == "chunk bytes");
  CHECK(parse_chunk_key(chunk_key(40, 2))->snapshot_slot == 40);
  CHECK(parse_chunk_key(chunk_key(40, 2))->index == 2);
  // Under another snapshot's key, or an index alone (version 2), it fails.
  CHECK(!decode_chunk(chunk_key(41, 2), value, chunk_out).empty());
  CHECK(!decode_chunk(slot_key(2), value, chunk_out).empty());
}

TEST_CASE("every bit flip and every truncation of every record kind is detected", "[records]") {
  std::string value;
  encode_format(FormatRecord{kFormatVersion, 3}, value);
  check_every_damage_detected(value, [](const std::string& v) {
    FormatRecord out;
    return decode_format(v, out);
  });
  encode_state(StateRecord{paxos::Ballot{9, 2}, 40, 77, 3, LogPosition{4, 4096, 123}}, value);
  check_every_damage_detected(value, [](const std::string& v) {
    StateRecord out;
    return decode_state(v, kFormatVersion, out);
  });
  encode_snapshot(SnapshotRecord{40, testing::grown_history(), 5000, 7, 1024, 5}, value);
  check_every_damage_detected(value, [](const std::string& v) {
    SnapshotRecord out;
    return decode_snapshot(v, kFormatVersion, out);
  });
  encode_vote(paxos::AcceptedEntry{12, paxos::Ballot{4, 1}, testing::value_for(12)}, value);
  check_every_damage_detected(value, [](const std::string& v) {
    paxos::AcceptedEntry out;
    return decode_vote(slot_key(12), v, out);
  });
  encode_chosen(paxos::ChosenEntry{13, testing::value_for(13)}, value);
  check_every_damage_detected(value, [](const std::string& v) {
    paxos::ChosenEntry out;
    return decode_chosen(slot_key(13), v, out);
  });
  encode_chunk(2, 40, "chunk bytes", value);
  check_every_damage_detected(value, [](const std::string& v) {
    ChunkRecord out;
    return decode_chunk(chunk_key(40, 2), v, out);
  });
}

TEST_CASE("a record under another key or in another table fails its check", "[records]") {
  std::string value;
  encode_chosen(paxos::ChosenEntry{13, testing::value_for(13)}, value);
  paxos::ChosenEntry chosen;
  CHECK(decode_chosen(slot_key(14), value, chosen) == "checksum mismatch");
  paxos::AcceptedEntry vote;
  CHECK(decode_vote(slot_key(13), value, vote) == "record is not a vote record");
}

// Issue 20: the snapshot record keeps the configurations after its slot
// (version 4); versions 1 to 3 kept member ids, read as their bootstrap
// configuration.
TEST_CASE("a snapshot record of versions 1 to 3 reads as the bootstrap configuration of its members", "[records]") {
  const SnapshotRecord layout{40, {}, 5000, 7, 1024, 5};
  SnapshotRecord out;
  const std::string v3 = testing::sealed_record(kSnapshotKey, RecordTag::snapshot,
                                                testing::snapshot_body_v3(layout, {5, 2, 3}));
  for (uint32_t version : {1U, 2U, 3U}) {
    REQUIRE(decode_snapshot(v3, version, out).empty());
    REQUIRE(out.configurations.size() == 1);
    const paxos::ConfigEntry& bootstrap = out.configurations[0];
    CHECK(bootstrap.from == 1);
    CHECK(bootstrap.chosen_at == paxos::kNoSlot);
    CHECK(bootstrap.configuration.voters == std::vector<paxos::NodeId>{2, 3, 5});
    CHECK(bootstrap.configuration.learners.empty());
    CHECK(bootstrap.configuration.next_id == 6);
    CHECK(out.slot == 40);
    CHECK(out.size_bytes == 5000);
    CHECK(out.chunk_count == 5);
  }
  // Read as version 4, those bytes are not a list of configurations.
  CHECK_FALSE(decode_snapshot(v3, kFormatVersion, out).empty());
  // No member, or one named twice, is no configuration.
  CHECK(decode_snapshot(testing::sealed_record(kSnapshotKey, RecordTag::snapshot,
                                               testing::snapshot_body_v3(layout, {})),
                        3, out) == "the snapshot names no member");
  CHECK(decode_snapshot(testing::sealed_record(kSnapshotKey, RecordTag::snapshot,
                                               testing::snapshot_body_v3(layout, {1, 2, 2})),
                        3, out) == "the snapshot names a member twice");
}

TEST_CASE("a snapshot record whose configurations are wrong behind a valid checksum is refused", "[records]") {
  const SnapshotRecord layout{40, {}, 5000, 7, 1024, 5};
  // from, chosen_at, voters, learners, next_id, no addresses.
  const auto entry = [](Writer& w, uint64_t from, uint64_t chosen_at, std::vector<uint64_t> voters,
                        std::vector<uint64_t> learners, uint64_t next_id) {
    w.varint(from), w.varint(chosen_at), w.varint(voters.size());
    for (uint64_t id : voters) w.varint(id);
    w.varint(learners.size());
    for (uint64_t id : learners) w.varint(id);
    w.varint(next_id), w.varint(0);
  };
  const auto decode = [&](uint64_t count, const std::function<void(Writer&)>& entries) {
    SnapshotRecord out;
    return decode_snapshot(testing::sealed_record(kSnapshotKey, RecordTag::snapshot,
                                                  testing::snapshot_body_v4(layout, count, entries)),
                           kFormatVersion, out);
  };
  // The hand-built layout is the encoder's: a good one decodes.
  CHECK(decode(2, [&](Writer& w) {
          entry(w, 20, 4, {1, 2, 3}, {4}, 5);
          entry(w, 46, 30, {1, 2, 3, 4}, {}, 5);
        }) == "");
  CHECK(decode(0, [](Writer&) {}) == "no configuration");
  CHECK(decode(1, [&](Writer& w) { entry(w, 1, 0, {1, 7}, {}, 4); }) == "malformed configuration");  // 7 >= next_id
  CHECK(decode(1, [&](Writer& w) { entry(w, 1, 0, {}, {}, 4); }) == "malformed configuration");      // no voter
  CHECK(decode(1, [&](Writer& w) { entry(w, 1, 0, {2, 1}, {}, 4); }) == "malformed configuration");  // unsorted
  CHECK(decode(1, [&](Writer& w) { entry(w, 0, 0, {1}, {}, 4); }) == "malformed configuration");     // from 0
  CHECK(decode(1, [&](Writer& w) { entry(w, 30, 30, {1}, {}, 4); }) == "malformed configuration");   // not after
  CHECK(decode(2, [&](Writer& w) {
          entry(w, 46, 30, {1, 2, 3, 4}, {}, 5);
          entry(w, 20, 4, {1, 2, 3}, {4}, 5);
        }) != "");  // out of slot order
  CHECK(decode(2, [&](Writer& w) {
          entry(w, 20, 4, {1, 2, 3}, {4}, 5);
          entry(w, 1, 0, {1, 2, 3}, {}, 4);
        }) == "a bootstrap configuration after another configuration");
  CHECK(decode(uint64_t{1} << 40, [&](Writer& w) { entry(w, 1, 0, {1}, {}, 2); }) == "malformed body");
}
