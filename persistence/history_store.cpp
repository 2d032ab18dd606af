#include "persistence/history_store.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <functional>

#include "base/assert.h"
#include "base/codec.h"
#include "base/crc32c.h"
#include "persistence/lmdb_support.h"
#include "persistence/records.h"

namespace synod::persistence {

namespace {

constexpr uint64_t kMapSlackBytes = uint64_t{64} << 20;

Status history_error(int rc, const std::string& what) { return lmdb_error(rc, "watch history: " + what); }

// (revision, sequence): the revision as a slot key is (8 bytes,
// big-endian), then the sequence in 4.
std::string event_key(uint64_t revision, uint32_t sequence) {
  std::string key = slot_key(revision);
  for (int shift = 24; shift >= 0; shift -= 8) key.push_back(static_cast<char>((sequence >> shift) & 0xff));
  return key;
}

// The revision of an event key, or of a mark's value (8 bytes); 0 if malformed.
uint64_t revision_of(std::string_view bytes) { return parse_slot_key(bytes.substr(0, kSlotKeyBytes)).value_or(0); }

// A transaction that aborts unless committed.
struct Txn {
  MDB_txn* txn = nullptr;
  ~Txn() {
    if (txn) mdb_txn_abort(txn);
  }
  int commit() {
    const int rc = mdb_txn_commit(txn);
    txn = nullptr;
    return rc;
  }
};

// A cursor that closes itself.
struct Cursor {
  MDB_cursor* cursor = nullptr;
  ~Cursor() {
    if (cursor) mdb_cursor_close(cursor);
  }
};

// Erases the records at the front of `dbi` while `wanted` says so, at most
// `records_max` of them.
struct FrontErase {
  int rc = 0;  // MDB_NOTFOUND: the walk reached the end; 0: it stopped at `next`; else an error
  size_t erased = 0;
  bool bounded = false;     // records_max stopped it, at a record `wanted`
  std::string last_erased;  // the key of the last record erased
  std::string next;         // the key of the first record kept (rc 0)
};

FrontErase erase_front(MDB_txn* txn, MDB_dbi dbi, size_t records_max,
                       const std::function<bool(std::string_view key, std::string_view value)>& wanted) {
  FrontErase out;
  Cursor cursor;
  if (out.rc = mdb_cursor_open(txn, dbi, &cursor.cursor); out.rc != 0) return out;
  MDB_val key;
  MDB_val value;
  for (out.rc = mdb_cursor_get(cursor.cursor, &key, &value, MDB_FIRST); out.rc == 0;
       // After a delete, MDB_NEXT gives the record that took its place.
       out.rc = mdb_cursor_get(cursor.cursor, &key, &value, MDB_NEXT)) {
    if (!wanted(as_view(key), as_view(value))) break;
    if (out.erased == records_max) {
      out.bounded = true;
      break;
    }
    out.last_erased = std::string(as_view(key));
    if (out.rc = mdb_cursor_del(cursor.cursor, 0); out.rc != 0) return out;
    ++out.erased;
  }
  if (out.rc == 0) out.next = std::string(as_view(key));
  return out;
}

}  // namespace

struct HistoryStore::Env {
  MDB_env* env = nullptr;
  MDB_dbi events = 0, marks = 0, meta = 0;
  ~Env() {
    if (env) mdb_env_close(env);
  }
};

HistoryStore::HistoryStore(std::unique_ptr<Env> env) : env_(std::move(env)) {}
HistoryStore::~HistoryStore() = default;

Status HistoryStore::wipe(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  if (ec) return Status::error(Code::io_error, "watch history: cannot remove " + dir + ": " + ec.message());
  return Status::success();
}

Status HistoryStore::open(const HistoryOptions& options, std::unique_ptr<HistoryStore>& out) {
  if (::mkdir(options.dir.c_str(), 0755) != 0 && errno != EEXIST) {
    return Status::error(Code::io_error, "watch history: cannot create " + options.dir + ": " + std::strerror(errno));
  }
  auto env = std::make_unique<Env>();
  if (int rc = mdb_env_create(&env->env); rc != 0) return history_error(rc, "cannot create an LMDB environment");
  int rc = mdb_env_set_maxdbs(env->env, 3);
  if (rc == 0) rc = mdb_env_set_mapsize(env->env, options.bytes_max * 2 + kMapSlackBytes);
  if (rc == 0) rc = mdb_env_open(env->env, options.dir.c_str(), MDB_NOTLS | MDB_NOSYNC, 0644);
  if (rc != 0) return history_error(rc, "cannot open " + options.dir);
  // The store owns the environment first, so that the transaction below,
  // declared after it, always ends before the environment closes.
  std::unique_ptr<HistoryStore> store(new HistoryStore(std::move(env)));
  Env& e = *store->env_;
  Txn txn;
  if (rc = mdb_txn_begin(e.env, nullptr, 0, &txn.txn); rc != 0) return history_error(rc, "cannot begin");
  rc = mdb_dbi_open(txn.txn, "events", MDB_CREATE, &e.events);
  if (rc == 0) rc = mdb_dbi_open(txn.txn, "marks", MDB_CREATE, &e.marks);
  if (rc == 0) rc = mdb_dbi_open(txn.txn, "meta", MDB_CREATE, &e.meta);
  if (rc != 0) return history_error(rc, "cannot open its databases");

  MDB_val key = as_val("version");
  MDB_val value;
  rc = mdb_get(txn.txn, e.meta, &key, &value);
  if (rc == MDB_NOTFOUND) {
    // A new store: its version, and an empty range.
    std::string version;
    Writer(version).varint(kHistoryFormatVersion);
    MDB_val v = as_val(version);
    if (rc = mdb_put(txn.txn, e.meta, &key, &v, 0); rc != 0) return history_error(rc, "cannot write");
    if (auto status = store->write_range(txn.txn, HistoryRange{}); !status.ok()) return status;
  } else if (rc != 0) {
    return history_error(rc, "cannot read its version");
  } else {
    Reader r(as_view(value));
    const uint64_t version = r.varint();
    if (!r.ok() || version != kHistoryFormatVersion) {
      return Status::error(Code::unknown_format_version, "watch history: format version " + std::to_string(version) +
                                                             " is not this build's (" +
                                                             std::to_string(kHistoryFormatVersion) + ")");
    }
    key = as_val("range");
    if (rc = mdb_get(txn.txn, e.meta, &key, &value); rc != 0) return history_error(rc, "no range record");
    Reader range(as_view(value));
    store->range_.first_after = range.varint();
    store->range_.last = range.varint();
    store->range_.ordinals = range.varint();
    if (!range.ok() || store->range_.first_after > store->range_.last) {
      return Status::error(Code::corrupt, "watch history: a malformed range record");
    }
  }
  if (rc = txn.commit(); rc != 0) return history_error(rc, "cannot commit");
  out = std::move(store);
  return Status::success();
}

Status HistoryStore::write_range(void* raw, const HistoryRange& range) {
  std::string bytes;
  Writer w(bytes);
  w.varint(range.first_after);
  w.varint(range.last);
  w.varint(range.ordinals);
  MDB_val key = as_val("range");
  MDB_val value = as_val(bytes);
  if (int rc = mdb_put(static_cast<MDB_txn*>(raw), env_->meta, &key, &value, 0); rc != 0) {
    return history_error(rc, "cannot write its range");
  }
  return Status::success();
}

Status HistoryStore::append(const std::vector<HistoryEntry>& entries, uint64_t through, int64_t log_ms) {
  SYNOD_ASSERT(through >= range_.last);
  Txn txn;
  if (int rc = mdb_txn_begin(env_->env, nullptr, 0, &txn.txn); rc != 0) return history_error(rc, "cannot begin");
  uint64_t previous = range_.last;
  uint32_t sequence = 0;
  uint64_t ordinal = range_.ordinals;
  std::string value;
  for (const HistoryEntry& entry : entries) {
    SYNOD_ASSERT(entry.revision > range_.last && entry.revision >= previous && entry.revision <= through);
    sequence = entry.revision == previous ? sequence + 1 : 0;
    if (entry.revision != previous) ++ordinal;
    previous = entry.revision;
    value.assign(4, '\0');
    Writer(value).fixed64(ordinal);
    value += entry.bytes;
    std::string crc;
    Writer(crc).fixed32(crc32c(std::string_view(value).substr(4)));
    value.replace(0, 4, crc);
    const std::string key_bytes = event_key(entry.revision, sequence);
    MDB_val key = as_val(key_bytes);
    MDB_val v = as_val(value);
    // Keys only grow: MDB_APPEND fills pages to the brim and skips the search.
    if (int rc = mdb_put(txn.txn, env_->events, &key, &v, MDB_APPEND); rc != 0)
      return history_error(rc, "cannot append");
  }
  if (log_ms >= 0 && through > range_.last) {
    const std::string second = slot_key(static_cast<uint64_t>(log_ms) / 1000);
    const std::string revision = slot_key(through);
    MDB_val key = as_val(second);
    MDB_val v = as_val(revision);
    if (int rc = mdb_put(txn.txn, env_->marks, &key, &v, 0); rc != 0) return history_error(rc, "cannot mark");
  }
  HistoryRange next = range_;
  next.last = through;
  next.ordinals = ordinal;
  if (auto status = write_range(txn.txn, next); !status.ok()) return status;
  if (int rc = txn.commit(); rc != 0) return history_error(rc, "cannot commit an append");
  range_ = next;
  return Status::success();
}

Status HistoryStore::restart_after(uint64_t revision) {
  SYNOD_ASSERT(revision >= range_.last);
  Txn txn;
  if (int rc = mdb_txn_begin(env_->env, nullptr, 0, &txn.txn); rc != 0) return history_error(rc, "cannot begin");
  const HistoryRange next{revision, revision, range_.ordinals};
  if (auto status = write_range(txn.txn, next); !status.ok()) return status;
  if (int rc = txn.commit(); rc != 0) return history_error(rc, "cannot commit a restart");
  range_ = next;
  return Status::success();
}

Status HistoryStore::read(uint64_t after, size_t records_max, const Visit& visit) const {
  SYNOD_ASSERT(after >= range_.first_after);
  Txn txn;
  if (int rc = mdb_txn_begin(env_->env, nullptr, MDB_RDONLY, &txn.txn); rc != 0)
    return history_error(rc, "cannot begin");
  Cursor cursor;
  if (int rc = mdb_cursor_open(txn.txn, env_->events, &cursor.cursor); rc != 0) return history_error(rc, "no cursor");
  const std::string from = event_key(after + 1, 0);
  MDB_val key = as_val(from);
  MDB_val value;
  int rc = mdb_cursor_get(cursor.cursor, &key, &value, MDB_SET_RANGE);
  for (size_t seen = 0; rc == 0 && seen < records_max; ++seen) {
    const std::string_view k = as_view(key);
    const std::string_view v = as_view(value);
    if (k.size() != 12 || v.size() < 12) return Status::error(Code::corrupt, "watch history: a malformed record");
    const uint64_t revision = revision_of(k);
    if (revision > range_.last) break;
    const uint32_t crc = Reader(v.substr(0, 4)).fixed32();
    const std::string_view body = v.substr(12);
    if (crc32c(v.substr(4)) != crc) {
      return Status::error(Code::corrupt,
                           "watch history: the record of revision " + std::to_string(revision) + " fails its CRC");
    }
    if (!visit(revision, body)) return Status::success();
    rc = mdb_cursor_get(cursor.cursor, &key, &value, MDB_NEXT);
  }
  if (rc != 0 && rc != MDB_NOTFOUND) return history_error(rc, "cannot read");
  return Status::success();
}

Status HistoryStore::revision_at(int64_t log_ms, uint64_t& revision) const {
  revision = 0;
  if (log_ms < 0) return Status::success();
  Txn txn;
  if (int rc = mdb_txn_begin(env_->env, nullptr, MDB_RDONLY, &txn.txn); rc != 0)
    return history_error(rc, "cannot begin");
  Cursor cursor;
  if (int rc = mdb_cursor_open(txn.txn, env_->marks, &cursor.cursor); rc != 0) return history_error(rc, "no cursor");
  // The first mark after log_ms's second, then the one before it.
  const std::string from = slot_key(static_cast<uint64_t>(log_ms) / 1000 + 1);
  MDB_val key = as_val(from);
  MDB_val value;
  int rc = mdb_cursor_get(cursor.cursor, &key, &value, MDB_SET_RANGE);
  rc = rc == 0 ? mdb_cursor_get(cursor.cursor, &key, &value, MDB_PREV)
               : mdb_cursor_get(cursor.cursor, &key, &value, MDB_LAST);
  if (rc == MDB_NOTFOUND) return Status::success();
  if (rc != 0) return history_error(rc, "cannot read a mark");
  if (value.mv_size != 8) return Status::error(Code::corrupt, "watch history: a malformed mark");
  revision = revision_of(as_view(value));
  return Status::success();
}

Status HistoryStore::compact(uint64_t through, uint64_t through_ordinal, size_t records_max, bool& more) {
  more = false;
  Txn txn;
  if (int rc = mdb_txn_begin(env_->env, nullptr, 0, &txn.txn); rc != 0) return history_error(rc, "cannot begin");
  const FrontErase events =
      erase_front(txn.txn, env_->events, records_max, [&](std::string_view key, std::string_view value) {
        const uint64_t revision = key.size() == 12 ? revision_of(key) : 0;
        const uint64_t ordinal = value.size() >= 12 ? Reader(value.substr(4, 8)).fixed64() : 0;
        return revision <= through && (revision <= range_.first_after || ordinal <= through_ordinal);
      });
  if (events.rc != 0 && events.rc != MDB_NOTFOUND) return history_error(events.rc, "cannot compact");
  more = events.bounded;
  uint64_t erased_through = std::max(range_.first_after, revision_of(events.last_erased));
  // Every revision up to `through` went, unless the ordinal or the step
  // bound stopped the walk first.
  if (events.rc == MDB_NOTFOUND || (!more && revision_of(events.next) > through)) {
    erased_through = std::max(erased_through, std::min(through, range_.last));
  }
  // Marks of the seconds before the first one still needed.
  const FrontErase marks = erase_front(txn.txn, env_->marks, records_max,
                                       [&](std::string_view, std::string_view value) {
                                         return value.size() == 8 && revision_of(value) <= erased_through;
                                       });
  if (marks.rc != 0 && marks.rc != MDB_NOTFOUND) return history_error(marks.rc, "cannot compact its marks");
  HistoryRange next = range_;
  next.first_after = erased_through;
  if (events.erased + marks.erased == 0 && next.first_after == range_.first_after) {
    return Status::success();  // aborts: nothing to write
  }
  if (auto status = write_range(txn.txn, next); !status.ok()) return status;
  if (int rc = txn.commit(); rc != 0) return history_error(rc, "cannot commit a compaction");
  range_ = next;
  return Status::success();
}

uint64_t HistoryStore::bytes() const {
  Txn txn;
  if (mdb_txn_begin(env_->env, nullptr, MDB_RDONLY, &txn.txn) != 0) return 0;
  uint64_t total = 0;
  for (MDB_dbi dbi : {env_->events, env_->marks}) {
    MDB_stat stat;
    if (mdb_stat(txn.txn, dbi, &stat) != 0) continue;
    total += (stat.ms_branch_pages + stat.ms_leaf_pages + stat.ms_overflow_pages) * uint64_t{stat.ms_psize};
  }
  return total;
}

Status HistoryStore::sync() {
  if (int rc = mdb_env_sync(env_->env, 1); rc != 0) return history_error(rc, "cannot sync");
  return Status::success();
}

}  // namespace synod::persistence
