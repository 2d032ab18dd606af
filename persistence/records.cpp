#include "persistence/records.h"

#include <algorithm>

#include "base/assert.h"
#include "base/crc32c.h"

namespace synod::persistence {

namespace {

uint32_t record_crc(std::string_view key, std::string_view value) {
  return crc32c(value.substr(4), crc32c(key));
}

void put_fixed32_at(std::string& out, size_t at, uint32_t value) {
  for (size_t i = 0; i < 4; ++i) out[at + i] = static_cast<char>((value >> (8 * i)) & 0xff);
}

// Starts a record: reserves the header, leaving the writer at the body.
Writer begin(RecordTag tag, std::string& out) {
  out.assign(kHeaderBytes, '\0');
  out[kHeaderBytes - 1] = static_cast<char>(tag);
  return Writer(out);
}

// Fills in the body length and the checksum once the body is written.
void seal(std::string_view key, std::string& out) {
  const size_t body_bytes = out.size() - kHeaderBytes;
  SYNOD_ASSERT_MSG(body_bytes <= UINT32_MAX, "record body over 4 GiB");
  put_fixed32_at(out, 4, static_cast<uint32_t>(body_bytes));
  put_fixed32_at(out, 0, record_crc(key, out));
}

std::string finish(const Reader& reader) {
  if (!reader.ok()) return "malformed body";
  if (!reader.done()) return "trailing bytes after the body";
  return {};
}

std::string slot_of(std::string_view key, paxos::Slot& slot) {
  const auto parsed = parse_slot_key(key);
  if (!parsed || *parsed == paxos::kNoSlot) return "key is not a slot";
  slot = *parsed;
  return {};
}

}  // namespace

void encode_ballot(const paxos::Ballot& ballot, Writer& writer) {
  writer.varint(ballot.round);
  writer.varint(ballot.node);
}

paxos::Ballot decode_ballot(Reader& reader) {
  paxos::Ballot ballot;
  ballot.round = reader.varint();
  const uint64_t node = reader.varint();
  if (node > UINT32_MAX) reader.fail();
  ballot.node = static_cast<paxos::NodeId>(node);
  return ballot;
}

const char* table_name(Table table) {
  switch (table) {
    case Table::meta:
      return "meta";
    case Table::accepted:
      return "accepted";
    case Table::chosen:
      return "chosen";
    case Table::snapshot_chunks:
      return "snapshot_chunks";
  }
  return "unknown";
}

const char* tag_name(RecordTag tag) {
  switch (tag) {
    case RecordTag::format:
      return "format";
    case RecordTag::state:
      return "state";
    case RecordTag::snapshot:
      return "snapshot";
    case RecordTag::vote:
      return "vote";
    case RecordTag::chosen:
      return "chosen";
    case RecordTag::snapshot_chunk:
      return "snapshot_chunk";
  }
  return "unknown";
}

std::string slot_key(uint64_t slot) {
  std::string key(kSlotKeyBytes, '\0');
  for (size_t i = 0; i < kSlotKeyBytes; ++i) key[i] = static_cast<char>((slot >> (8 * (7 - i))) & 0xff);
  return key;
}

std::optional<uint64_t> parse_slot_key(std::string_view key) {
  if (key.size() != kSlotKeyBytes) return std::nullopt;
  uint64_t slot = 0;
  for (char byte : key) slot = (slot << 8) | static_cast<uint8_t>(byte);
  return slot;
}

std::string chunk_key(paxos::Slot snapshot_slot, uint64_t index) {
  std::string key = slot_key(snapshot_slot);
  key += slot_key(index);
  return key;
}

std::optional<ChunkKey> parse_chunk_key(std::string_view key) {
  if (key.size() != kChunkKeyBytes) return std::nullopt;
  return ChunkKey{*parse_slot_key(key.substr(0, kSlotKeyBytes)), *parse_slot_key(key.substr(kSlotKeyBytes))};
}

std::string open_record(std::string_view key, std::string_view value, RecordTag tag, std::string_view& body) {
  if (value.size() < kHeaderBytes) return "record shorter than its header";
  Reader header(value.substr(0, 8));
  const uint32_t crc = header.fixed32();
  const uint32_t length = header.fixed32();
  if (value.size() - kHeaderBytes != length) return "record length does not match its header (torn?)";
  if (record_crc(key, value) != crc) return "checksum mismatch";
  if (static_cast<uint8_t>(value[kHeaderBytes - 1]) != static_cast<uint8_t>(tag)) {
    return std::string("record is not a ") + tag_name(tag) + " record";
  }
  body = value.substr(kHeaderBytes);
  return {};
}

// ---- encoders

void encode_format(const FormatRecord& record, std::string& out) {
  Writer writer = begin(RecordTag::format, out);
  writer.bytes(kFormatMagic);
  writer.varint(record.version);
  writer.varint(record.node_id);
  seal(kFormatKey, out);
}

void encode_state(const StateRecord& record, std::string& out) {
  Writer writer = begin(RecordTag::state, out);
  encode_ballot(record.promised, writer);
  writer.varint(record.snapshot_slot);
  writer.varint(record.chosen_last);
  writer.varint(record.votes);
  // Version 2: numbered sections. Each is (varint id, bytes body), in
  // ascending id order; a reader refuses an id it does not know.
  std::string section;
  Writer log(section);
  log.varint(record.log.epoch);
  log.varint(record.log.offset);
  log.varint(record.log.seq);
  writer.varint(1);
  writer.varint(static_cast<uint64_t>(StateSection::log));
  writer.bytes(section);
  seal(kStateKey, out);
}

void encode_snapshot(const SnapshotRecord& record, std::string& out) {
  Writer writer = begin(RecordTag::snapshot, out);
  writer.varint(record.slot);
  writer.varint(record.configurations.size());
  for (const paxos::ConfigEntry& entry : record.configurations) paxos::encode_config_entry(entry, writer);
  writer.varint(record.size_bytes);
  writer.fixed32(record.crc32c);
  writer.varint(record.chunk_bytes);
  writer.varint(record.chunk_count);
  seal(kSnapshotKey, out);
}

void encode_vote(const paxos::AcceptedEntry& entry, std::string& out) {
  SYNOD_ASSERT(entry.slot != paxos::kNoSlot && entry.value);
  Writer writer = begin(RecordTag::vote, out);
  encode_ballot(entry.ballot, writer);
  encode_value(*entry.value, writer);
  seal(slot_key(entry.slot), out);
}

void encode_chosen(const paxos::ChosenEntry& entry, std::string& out) {
  SYNOD_ASSERT(entry.slot != paxos::kNoSlot && entry.value);
  Writer writer = begin(RecordTag::chosen, out);
  encode_value(*entry.value, writer);
  seal(slot_key(entry.slot), out);
}

void encode_chunk(uint64_t index, paxos::Slot snapshot_slot, std::string_view bytes, std::string& out) {
  Writer writer = begin(RecordTag::snapshot_chunk, out);
  writer.varint(snapshot_slot);
  writer.bytes(bytes);
  seal(chunk_key(snapshot_slot, index), out);
}

// ---- decoders

std::string decode_format(std::string_view value, FormatRecord& out) {
  std::string_view body;
  if (auto problem = open_record(kFormatKey, value, RecordTag::format, body); !problem.empty()) return problem;
  Reader reader(body);
  if (reader.bytes() != kFormatMagic) return "not a synod store (magic)";
  const uint64_t version = reader.varint();
  const uint64_t node = reader.varint();
  if (version > UINT32_MAX || node > UINT32_MAX) reader.fail();
  out.version = static_cast<uint32_t>(version);
  out.node_id = static_cast<paxos::NodeId>(node);
  return finish(reader);
}

std::string decode_state(std::string_view value, uint32_t version, StateRecord& out) {
  std::string_view body;
  if (auto problem = open_record(kStateKey, value, RecordTag::state, body); !problem.empty()) return problem;
  Reader reader(body);
  out.promised = decode_ballot(reader);
  out.snapshot_slot = reader.varint();
  out.chosen_last = reader.varint();
  out.votes = reader.varint();
  out.log = LogPosition{};
  if (version < 2) return finish(reader);  // version 1 had no log: it starts empty
  const uint64_t sections = reader.varint();
  bool has_log = false;
  for (uint64_t i = 0; i < sections && reader.ok(); ++i) {
    const uint64_t id = reader.varint();
    Reader section(reader.bytes());
    if (id != static_cast<uint64_t>(StateSection::log)) return "unknown section " + std::to_string(id);
    out.log.epoch = section.varint();
    out.log.offset = section.varint();
    out.log.seq = section.varint();
    if (!section.done() || out.log.epoch == 0 || out.log.seq == 0) return "malformed log section";
    has_log = true;
  }
  if (reader.ok() && !has_log) return "the log section is missing";
  return finish(reader);
}

paxos::ConfigEntry bootstrap_configuration(std::vector<paxos::NodeId> members) {
  return paxos::ConfigEntry{1, paxos::kNoSlot, paxos::Configuration::of_voters(std::move(members)), nullptr};
}

namespace {

// Versions 1 to 3: the member ids in force, as their bootstrap configuration.
std::string decode_members(Reader& reader, std::vector<paxos::ConfigEntry>& out) {
  const uint64_t count = reader.varint();
  if (count > reader.remaining()) return "malformed body";
  std::vector<paxos::NodeId> members;
  for (uint64_t i = 0; i < count && reader.ok(); ++i) {
    const uint64_t member = reader.varint();
    if (member == paxos::kNoNode || member > UINT32_MAX) reader.fail();
    members.push_back(static_cast<paxos::NodeId>(member));
  }
  if (!reader.ok()) return "malformed body";
  if (members.empty()) return "the snapshot names no member";
  out.push_back(bootstrap_configuration(std::move(members)));
  // of_voters sorts; a repeated id is no configuration.
  if (std::adjacent_find(out.back().configuration.voters.begin(), out.back().configuration.voters.end()) !=
      out.back().configuration.voters.end()) {
    return "the snapshot names a member twice";
  }
  return {};
}

std::string decode_configurations(Reader& reader, std::vector<paxos::ConfigEntry>& out) {
  const uint64_t count = reader.varint();
  if (!reader.ok() || count > reader.remaining() / paxos::kConfigEntryBytesMin) return "malformed body";
  out.resize(static_cast<size_t>(count));
  for (auto& entry : out) {
    if (!paxos::decode_config_entry(reader, entry)) return "malformed configuration";
  }
  if (std::string problem = paxos::check_config_entries(out); !problem.empty()) return problem;
  return {};
}

}  // namespace

std::string decode_snapshot(std::string_view value, uint32_t version, SnapshotRecord& out) {
  std::string_view body;
  if (auto problem = open_record(kSnapshotKey, value, RecordTag::snapshot, body); !problem.empty()) return problem;
  Reader reader(body);
  out.slot = reader.varint();
  out.configurations.clear();
  std::string problem = version < 4 ? decode_members(reader, out.configurations)
                                    : decode_configurations(reader, out.configurations);
  if (!problem.empty()) return problem;
  out.size_bytes = reader.varint();
  out.crc32c = reader.fixed32();
  out.chunk_bytes = reader.varint();
  out.chunk_count = reader.varint();
  return finish(reader);
}

std::string decode_vote(std::string_view key, std::string_view value, paxos::AcceptedEntry& out) {
  std::string_view body;
  if (auto problem = open_record(key, value, RecordTag::vote, body); !problem.empty()) return problem;
  if (auto problem = slot_of(key, out.slot); !problem.empty()) return problem;
  Reader reader(body);
  out.ballot = decode_ballot(reader);
  out.value = decode_value(reader);
  if (!out.value) return "malformed value";
  return finish(reader);
}

std::string decode_chosen(std::string_view key, std::string_view value, paxos::ChosenEntry& out) {
  std::string_view body;
  if (auto problem = open_record(key, value, RecordTag::chosen, body); !problem.empty()) return problem;
  if (auto problem = slot_of(key, out.slot); !problem.empty()) return problem;
  Reader reader(body);
  out.value = decode_value(reader);
  if (!out.value) return "malformed value";
  return finish(reader);
}

namespace {

std::string decode_chunk_body(std::string_view body, ChunkRecord& out) {
  Reader reader(body);
  out.snapshot_slot = reader.varint();
  out.bytes = reader.bytes();
  return finish(reader);
}

}  // namespace

std::string decode_chunk(std::string_view key, std::string_view value, ChunkRecord& out) {
  std::string_view body;
  if (auto problem = open_record(key, value, RecordTag::snapshot_chunk, body); !problem.empty()) return problem;
  const auto parsed = parse_chunk_key(key);
  if (!parsed) return "key is not a snapshot slot and chunk index";
  if (auto problem = decode_chunk_body(body, out); !problem.empty()) return problem;
  return out.snapshot_slot == parsed->snapshot_slot ? "" : "its key names another snapshot";
}

std::string decode_chunk_v2(std::string_view key, std::string_view value, ChunkRecord& out) {
  std::string_view body;
  if (auto problem = open_record(key, value, RecordTag::snapshot_chunk, body); !problem.empty()) return problem;
  if (!parse_slot_key(key)) return "key is not a chunk index";
  return decode_chunk_body(body, out);
}

}  // namespace synod::persistence
