// HistoryStore: the watch history on disk (issue 18, "watch history that
// lasts"). Every event the state machine emitted, as opaque bytes keyed by
// (revision, sequence), in an LMDB environment of its own: DATA_DIR/history/.
//
// Why its own environment, beside the store of the Paxos log and snapshots:
//   - LMDB has one writer per environment. History is written by its own
//     thread, so it never queues behind a group commit, nor one behind it.
//   - It is written without a sync (MDB_NOSYNC) and synced by its owner every
//     few seconds: no device wait on the commit path.
//   - Its map has its own bound (bytes_max), so a long history can never
//     fill the map that acceptor state needs.
//
// The history is derived data. What a crash takes from its tail, the owner
// feeds again from the state machine's event window after the restart; what
// the window no longer holds, the owner gives up with restart_after(), and a
// watcher asking for it is told "compacted". It is never handed a gap: each
// record carries a CRC, and a record that fails it ends the read with
// Code::corrupt.
//
// Invariant: the records with revision in (first_after, last] are exactly the
// events of those revisions. Records at or below first_after are garbage that
// compact() erases.
//
// Format (kHistoryFormatVersion): three databases.
//   events  key: the revision (8 bytes big-endian, records.h slot_key), then
//           a sequence (4 bytes big-endian); value: a little-endian u32
//           CRC-32C of the rest, the revision's ordinal (little-endian u64),
//           then the body.
//   marks   key: a log second (slot_key); value: the last revision appended
//           in that second (slot_key).
//   meta    "version", "range".
// A store of another version is refused (Code::unknown_format_version).
//
// Thread: one owner thread (server/event_history.h). Not thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "persistence/status.h"

namespace synod::persistence {

inline constexpr uint64_t kHistoryFormatVersion = 1;

struct HistoryOptions {
  std::string dir;                         // created if missing
  uint64_t bytes_max = uint64_t{1} << 30;  // the history's pages, before its owner compacts
};

struct HistoryEntry {
  uint64_t revision = 0;
  std::string bytes;
};

struct HistoryRange {
  uint64_t first_after = 0;  // every revision up to this one is gone
  uint64_t last = 0;         // every revision up to this one is here
  // Revisions with events appended since the store began: the newest one's
  // ordinal. Revisions are sparse (a slot and an index), so a bound "the
  // newest N revisions" is counted in ordinals.
  uint64_t ordinals = 0;
};

class HistoryStore {
 public:
  static Status open(const HistoryOptions& options, std::unique_ptr<HistoryStore>& out);
  // Deletes what open() would read (a store it refused).
  static Status wipe(const std::string& dir);
  ~HistoryStore();
  HistoryStore(const HistoryStore&) = delete;
  HistoryStore& operator=(const HistoryStore&) = delete;

  HistoryRange range() const { return range_; }

  // Appends `entries` (revisions above last, nondecreasing) in one
  // transaction and moves last to `through` (at least every entry's
  // revision), marking the log time `log_ms`. Code::no_space: the map is
  // full; nothing was written.
  Status append(const std::vector<HistoryEntry>& entries, uint64_t through, int64_t log_ms);

  // The history no longer continues from last: from now on it holds only
  // what comes after `revision` (at least last).
  Status restart_after(uint64_t revision);

  // Visits the records with revision > after (at least first_after), in
  // order, at most `records_max` of them, until `visit` returns false.
  using Visit = std::function<bool(uint64_t revision, std::string_view bytes)>;
  Status read(uint64_t after, size_t records_max, const Visit& visit) const;

  // The last revision appended at or before log time `log_ms`; 0 if none.
  Status revision_at(int64_t log_ms, uint64_t& revision) const;

  // Erases, oldest first, up to `records_max` records whose revision is at
  // most `through` and whose ordinal is at most `through_ordinal` (and the
  // marks before them), in one transaction; first_after becomes at least the
  // last revision erased. `more`: the step bound stopped it.
  Status compact(uint64_t through, uint64_t through_ordinal, size_t records_max, bool& more);

  // Bytes of the pages the records and marks use.
  uint64_t bytes() const;

  Status sync();

 private:
  struct Env;
  explicit HistoryStore(std::unique_ptr<Env> env);
  Status write_range(void* txn, const HistoryRange& range);

  std::unique_ptr<Env> env_;
  HistoryRange range_;
};

}  // namespace synod::persistence
