// The record format of synod's storage, shared by LMDB and the in-memory twin.
//
// A store is four tables of (key, value) records, ordered by key bytes:
//
//   table            key                          record tag      body
//   ---------------  ---------------------------  --------------  ------------------------------------
//   meta             "format"                     format          bytes "synod", varint version,
//                                                                 varint node id
//   meta             "state"                      state           varint promised.round,
//                                                                 varint promised.node,
//                                                                 varint snapshot_slot,
//                                                                 varint chosen_last, varint votes,
//                                                                 varint section count, then per
//                                                                 section varint id, bytes body
//   meta             "snapshot"                   snapshot        varint slot, varint configuration
//                                                                 count, per configuration varint
//                                                                 from, varint chosen_at and the
//                                                                 configuration (version 4), varint
//                                                                 size, fixed32 crc32c of the image,
//                                                                 varint chunk bytes, varint chunk count
//   accepted         slot, 8 bytes big-endian     vote            varint ballot.round,
//                                                                 varint ballot.node, value
//   chosen           slot, 8 bytes big-endian     chosen          value
//   snapshot_chunks  snapshot slot, chunk index,  snapshot_chunk  varint snapshot slot, bytes data
//                    8 bytes b.-e. each
//
// Big-endian keys make byte order numeric order, so a cursor walks slots in
// order and "erase through slot S" is a prefix of the table. A chunk's key
// starts with its snapshot's slot, so a new snapshot's chunks are written
// beside the latest one's, in steps, and the old ones erased after (issue 18).
//
// A value, in a vote or a chosen record: u8 kind (0 no-op, 1 commands); for
// commands, varint count, then per command varint client id, varint seq and
// bytes payload. Integers and bytes are base/codec.h's; the value codec is
// paxos/value_codec.h, the same bytes as on the peer wire.
//
// Every record value is an envelope:
//
//   fixed32 crc32c | fixed32 body length | u8 tag | body
//
// The CRC32C covers the key, then everything after the CRC field. Covering
// the key means a record found under another key (a slot's value moved to a
// neighbour) fails its check; the tag means a record found in another table
// fails it; the length means a torn record (a prefix of what was written)
// fails even before the checksum is compared. A record passes only if the
// checksum matches, the length is exact, the tag is the expected one and the
// body decodes to its last byte.
//
// The state record is the store's table of contents: it is rewritten in every
// transaction that changes what it counts, so a record that disappeared (the
// last chosen slot, one vote) is detected as a count mismatch, not read as a
// shorter log.
//
// The format record's layout is frozen for every format version, so any
// build can read the version of any store and refuse one it does not know.
//
// VERSIONS. 1: the records above without the state record's sections; every
// commit was an LMDB transaction. 2 (issue 18): commits go to the log
// (log_format.h) and reach these tables at checkpoints; the state record's
// section 1 (log) names the first log frame the tables do not hold yet:
// varint epoch, varint offset, varint seq. A version 1 store is migrated on
// its first load (record_storage.h). 3 (issue 18): a chunk's key is its
// snapshot's slot and then its index (was: the index alone), so snapshots are
// saved in steps; a version 1 or 2 store's chunks are re-keyed on its first
// load. 4 (issue 20): the snapshot record keeps the configurations that
// govern the slots after its slot (paxos::encode_config_entry, the
// ConfigEntry list Replica::configurations_after returns), where versions 1
// to 3 kept the ids of the members in force (varint count, varint id...); an
// older store's snapshot record is rewritten on its first load with the
// bootstrap configuration of those members (voters = the members, next_id
// above them, governing from slot 1). Later issues add sections to the state
// record (and bump the version); a reader refuses a section id it does not
// know rather than skip state it does not understand.
//
// Pure functions; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/codec.h"
#include "paxos/config_history.h"
#include "paxos/types.h"
#include "paxos/value_codec.h"
#include "persistence/log_format.h"

namespace synod::persistence {

// Bump on any change to a key, tag or body above; a store with another
// version is refused (Code::unknown_format_version), never misread.
inline constexpr uint32_t kFormatVersion = 4;
// The oldest version this build reads, and migrates on load.
inline constexpr uint32_t kFormatVersionOldest = 1;

enum class StateSection : uint8_t { log = 1 };

enum class Table : uint8_t { meta = 0, accepted = 1, chosen = 2, snapshot_chunks = 3 };
inline constexpr size_t kTableCount = 4;
const char* table_name(Table table);

enum class RecordTag : uint8_t { format = 1, state = 2, snapshot = 3, vote = 4, chosen = 5, snapshot_chunk = 6 };
const char* tag_name(RecordTag tag);

inline constexpr std::string_view kFormatKey = "format";
inline constexpr std::string_view kStateKey = "state";
inline constexpr std::string_view kSnapshotKey = "snapshot";
inline constexpr std::string_view kFormatMagic = "synod";
inline constexpr size_t kHeaderBytes = 9;  // crc32c, body length, tag
inline constexpr size_t kSlotKeyBytes = 8;

// The 8-byte big-endian key of a slot or chunk index.
std::string slot_key(uint64_t slot);
// nullopt unless `key` is exactly 8 bytes.
std::optional<uint64_t> parse_slot_key(std::string_view key);

// The 16-byte key of a snapshot chunk (version 3): its snapshot's slot, then
// its index, 8 bytes big-endian each.
struct ChunkKey {
  paxos::Slot snapshot_slot = paxos::kNoSlot;
  uint64_t index = 0;
};
inline constexpr size_t kChunkKeyBytes = 2 * kSlotKeyBytes;
std::string chunk_key(paxos::Slot snapshot_slot, uint64_t index);
// nullopt unless `key` is exactly 16 bytes.
std::optional<ChunkKey> parse_chunk_key(std::string_view key);

struct FormatRecord {
  uint32_t version = kFormatVersion;
  paxos::NodeId node_id = paxos::kNoNode;
};

struct StateRecord {
  paxos::Ballot promised;
  paxos::Slot snapshot_slot = paxos::kNoSlot;  // kNoSlot: no snapshot
  paxos::Slot chosen_last = paxos::kNoSlot;    // the highest chosen slot ever written
  uint64_t votes = 0;                          // records in the accepted table
  LogPosition log;                             // the first log frame not in the tables (version 2)

  bool operator==(const StateRecord&) const = default;
};

struct SnapshotRecord {
  paxos::Slot slot = paxos::kNoSlot;
  // The configurations that govern the slots after `slot`, oldest first
  // (quorums unset); never empty.
  std::vector<paxos::ConfigEntry> configurations;
  uint64_t size_bytes = 0;
  uint32_t crc32c = 0;
  uint64_t chunk_bytes = 0;  // every chunk holds this many bytes but the last
  uint64_t chunk_count = 0;

  bool operator==(const SnapshotRecord&) const = default;
};

struct ChunkRecord {
  paxos::Slot snapshot_slot = paxos::kNoSlot;
  std::string_view bytes;  // a view into the record's value
};

// A ballot as two varints (round, node), in records and in log frames. The
// decoder fails the Reader on a node id above 32 bits.
void encode_ballot(const paxos::Ballot& ballot, Writer& writer);
paxos::Ballot decode_ballot(Reader& reader);

// ---- encoding: each fills `out` (cleared first) with the whole record value.

void encode_format(const FormatRecord& record, std::string& out);
void encode_state(const StateRecord& record, std::string& out);
void encode_snapshot(const SnapshotRecord& record, std::string& out);
void encode_vote(const paxos::AcceptedEntry& entry, std::string& out);
void encode_chosen(const paxos::ChosenEntry& entry, std::string& out);
void encode_chunk(uint64_t index, paxos::Slot snapshot_slot, std::string_view bytes, std::string& out);

// The value codec alone (paxos/value_codec.h, shared with the peer wire), for
// anyone who stores values (tests, fuzzers). decode_value returns nullptr if
// malformed; the command count is bounded by the input's size, so a corrupt
// count cannot make it allocate more than a small multiple of it.
using paxos::decode_value;
using paxos::encode_value;

// ---- decoding: each returns an empty string on success, or what is wrong
// with the record ("checksum mismatch", "body shorter than its length").
// `key` is the key the value was found under.

std::string decode_format(std::string_view value, FormatRecord& out);
// `version` is the store's (the format record's): version 1 has no sections.
std::string decode_state(std::string_view value, uint32_t version, StateRecord& out);
// `version` is the store's: before version 4 the record held member ids,
// returned as their bootstrap configuration (bootstrap_configuration).
std::string decode_snapshot(std::string_view value, uint32_t version, SnapshotRecord& out);
// What a version 1 to 3 snapshot record's member ids mean now: one voter
// each, no learners, next_id above the largest, governing from slot 1.
paxos::ConfigEntry bootstrap_configuration(std::vector<paxos::NodeId> members);
std::string decode_vote(std::string_view key, std::string_view value, paxos::AcceptedEntry& out);
std::string decode_chosen(std::string_view key, std::string_view value, paxos::ChosenEntry& out);
std::string decode_chunk(std::string_view key, std::string_view value, ChunkRecord& out);
// A chunk of a version 1 or 2 store, under its 8-byte index key (migration).
std::string decode_chunk_v2(std::string_view key, std::string_view value, ChunkRecord& out);

// Checks the envelope only (checksum, length, tag) and returns the body, for
// records that are verified but not needed (chosen slots below a snapshot).
std::string open_record(std::string_view key, std::string_view value, RecordTag tag, std::string_view& body);

}  // namespace synod::persistence
