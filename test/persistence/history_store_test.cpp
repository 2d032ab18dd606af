// HistoryStore (persistence/history_store.h): the watch history's records,
// their range, compaction, the age marks, reopening, and damage.
#include <lmdb.h>

#include <catch2/catch.hpp>

#include <functional>

#include "persistence/history_store.h"
#include "test/persistence/support.h"

namespace synod::persistence {
namespace {

using testing::TempDir;

std::unique_ptr<HistoryStore> open_store(const std::string& dir, uint64_t bytes_max = uint64_t{64} << 20) {
  std::unique_ptr<HistoryStore> store;
  const Status status = HistoryStore::open(HistoryOptions{dir, bytes_max}, store);
  REQUIRE(status.ok());
  return store;
}

std::vector<HistoryEntry> entries(uint64_t from, uint64_t to, size_t per_revision = 1) {
  std::vector<HistoryEntry> out;
  for (uint64_t r = from; r <= to; ++r) {
    for (size_t i = 0; i < per_revision; ++i)
      out.push_back({r, "event " + std::to_string(r) + "." + std::to_string(i)});
  }
  return out;
}

std::vector<std::pair<uint64_t, std::string>> read_all(const HistoryStore& store, uint64_t after,
                                                       size_t records_max = SIZE_MAX) {
  std::vector<std::pair<uint64_t, std::string>> out;
  const Status status = store.read(after, records_max, [&](uint64_t revision, std::string_view bytes) {
    out.emplace_back(revision, std::string(bytes));
    return true;
  });
  REQUIRE(status.ok());
  return out;
}

// Rewrites one record of database `db` underneath a closed store.
void edit_record(const std::string& path, const char* db, std::string key,
                 const std::function<void(std::string&)>& edit) {
  MDB_env* env = nullptr;
  REQUIRE(mdb_env_create(&env) == 0);
  REQUIRE(mdb_env_set_maxdbs(env, 3) == 0);
  REQUIRE(mdb_env_open(env, path.c_str(), 0, 0644) == 0);
  MDB_txn* txn = nullptr;
  REQUIRE(mdb_txn_begin(env, nullptr, 0, &txn) == 0);
  MDB_dbi dbi = 0;
  REQUIRE(mdb_dbi_open(txn, db, 0, &dbi) == 0);
  MDB_val k{key.size(), key.data()};
  MDB_val v;
  REQUIRE(mdb_get(txn, dbi, &k, &v) == 0);
  std::string value(static_cast<const char*>(v.mv_data), v.mv_size);
  edit(value);
  MDB_val edited{value.size(), value.data()};
  REQUIRE(mdb_put(txn, dbi, &k, &edited, 0) == 0);
  REQUIRE(mdb_txn_commit(txn) == 0);
  mdb_env_close(env);
}

TEST_CASE("history: appends are read back in order, and survive a reopen", "[history]") {
  TempDir dir;
  {
    auto store = open_store(dir.sub("history"));
    CHECK(store->range().first_after == 0);
    CHECK(store->range().last == 0);
    REQUIRE(store->append(entries(1, 10, 2), 10, 1'000).ok());
    // A revision without events still moves last.
    REQUIRE(store->append({}, 12, 2'000).ok());
    REQUIRE(store->append(entries(13, 13), 13, 3'000).ok());
    REQUIRE(store->sync().ok());
  }
  auto store = open_store(dir.sub("history"));
  CHECK(store->range().last == 13);
  const auto all = read_all(*store, 0);
  REQUIRE(all.size() == 21);
  CHECK(all.front() == std::make_pair(uint64_t{1}, std::string("event 1.0")));
  CHECK(all[1] == std::make_pair(uint64_t{1}, std::string("event 1.1")));
  CHECK(all.back() == std::make_pair(uint64_t{13}, std::string("event 13.0")));
  const auto after_nine = read_all(*store, 9);
  REQUIRE(after_nine.size() == 3);
  CHECK(after_nine.front().first == 10);
  CHECK(read_all(*store, 13).empty());
  CHECK(read_all(*store, 0, 3).size() == 3);
}

TEST_CASE("history: compaction erases up to a revision and moves first_after", "[history]") {
  TempDir dir;
  auto store = open_store(dir.sub("history"));
  REQUIRE(store->append(entries(1, 100, 3), 100, 0).ok());
  bool more = true;
  // A step bound cuts a revision in two: that revision is then gone whole.
  REQUIRE(store->compact(50, UINT64_MAX, 10, more).ok());
  CHECK(more);
  CHECK(store->range().first_after == 4);  // records 1.0 .. 4.0 erased
  const auto rest = read_all(*store, store->range().first_after);
  CHECK(rest.front().first == 5);
  while (more) REQUIRE(store->compact(50, UINT64_MAX, 10, more).ok());
  CHECK(store->range().first_after == 50);
  CHECK(read_all(*store, 50).size() == 150);
  // Compacting past the end of what is there stops at last.
  REQUIRE(store->compact(1'000, UINT64_MAX, 1'000, more).ok());
  CHECK_FALSE(more);
  CHECK(store->range().first_after == 100);
  CHECK(store->range().last == 100);
}

TEST_CASE("history: ordinals count revisions with events, and bound a compaction", "[history]") {
  TempDir dir;
  auto store = open_store(dir.sub("history"));
  // Sparse revisions, as a slot and an index make them.
  std::vector<HistoryEntry> sparse;
  for (uint64_t i = 1; i <= 10; ++i) {
    sparse.push_back({i << 20, "a"});
    sparse.push_back({i << 20, "b"});
  }
  REQUIRE(store->append(sparse, 10 << 20, 0).ok());
  CHECK(store->range().ordinals == 10);
  bool more = true;
  // Keep the newest 4: ordinals 1..6 go, whatever the revision bound allows.
  REQUIRE(store->compact(store->range().last, 6, 1'000, more).ok());
  CHECK_FALSE(more);
  CHECK(store->range().first_after == uint64_t{6} << 20);
  CHECK(read_all(*store, store->range().first_after).size() == 8);
  { auto reopened = std::move(store); }
  store = open_store(dir.sub("history"));
  CHECK(store->range().ordinals == 10);
}

TEST_CASE("history: restart_after leaves no gap readable, and compaction clears what came before", "[history]") {
  TempDir dir;
  auto store = open_store(dir.sub("history"));
  REQUIRE(store->append(entries(1, 10), 10, 0).ok());
  REQUIRE(store->restart_after(500).ok());
  CHECK(store->range().first_after == 500);
  CHECK(store->range().last == 500);
  REQUIRE(store->append(entries(501, 505), 505, 0).ok());
  CHECK(read_all(*store, 500).size() == 5);
  bool more = true;
  REQUIRE(store->compact(store->range().first_after, UINT64_MAX, 100, more).ok());
  CHECK_FALSE(more);
  // Only what came after the restart is left.
  std::vector<uint64_t> left;
  REQUIRE(store
              ->read(500, SIZE_MAX,
                     [&](uint64_t r, std::string_view) {
                       left.push_back(r);
                       return true;
                     })
              .ok());
  CHECK(left == std::vector<uint64_t>{501, 502, 503, 504, 505});
}

TEST_CASE("history: marks name the last revision at or before a log time", "[history]") {
  TempDir dir;
  auto store = open_store(dir.sub("history"));
  REQUIRE(store->append(entries(1, 10), 10, 1'000).ok());
  REQUIRE(store->append(entries(11, 20), 20, 1'500).ok());  // the same second: the mark moves
  REQUIRE(store->append(entries(21, 30), 30, 5'000).ok());
  uint64_t revision = 99;
  REQUIRE(store->revision_at(500, revision).ok());
  CHECK(revision == 0);
  REQUIRE(store->revision_at(1'999, revision).ok());
  CHECK(revision == 20);
  REQUIRE(store->revision_at(4'999, revision).ok());
  CHECK(revision == 20);
  REQUIRE(store->revision_at(60'000, revision).ok());
  CHECK(revision == 30);
  bool more = false;
  REQUIRE(store->compact(20, UINT64_MAX, 100, more).ok());
  REQUIRE(store->revision_at(1'999, revision).ok());
  CHECK(revision == 0);  // its mark went with the records
}

TEST_CASE("history: bytes grow with appends and fall with compaction", "[history]") {
  TempDir dir;
  auto store = open_store(dir.sub("history"));
  const uint64_t empty = store->bytes();
  std::vector<HistoryEntry> big;
  for (uint64_t r = 1; r <= 2'000; ++r) big.push_back({r, std::string(200, 'x')});
  REQUIRE(store->append(big, 2'000, 0).ok());
  const uint64_t full = store->bytes();
  CHECK(full > empty + 2'000 * 200);
  bool more = false;
  REQUIRE(store->compact(1'900, UINT64_MAX, 10'000, more).ok());
  CHECK(store->bytes() < full / 4);
}

TEST_CASE("history: a damaged record fails its CRC and is never returned", "[history]") {
  TempDir dir;
  const std::string path = dir.sub("history");
  {
    auto store = open_store(path);
    REQUIRE(store->append(entries(1, 3), 3, 0).ok());
  }
  // Flip a bit of revision 2's body underneath the store.
  std::string key(8, '\0');
  key[7] = 2;
  edit_record(path, "events", key + std::string(4, '\0'), [](std::string& value) { value.back() ^= 1; });
  auto store = open_store(path);
  std::vector<uint64_t> seen;
  const Status status = store->read(0, SIZE_MAX, [&](uint64_t r, std::string_view) {
    seen.push_back(r);
    return true;
  });
  CHECK(status.code == Code::corrupt);
  CHECK(seen == std::vector<uint64_t>{1});
}

TEST_CASE("history: a store of another format version is refused, and wipe starts afresh", "[history]") {
  TempDir dir;
  const std::string path = dir.sub("history");
  {
    auto store = open_store(path);
    REQUIRE(store->append(entries(1, 3), 3, 0).ok());
  }
  edit_record(path, "meta", "version",
              [](std::string& value) { value = std::string(1, static_cast<char>(kHistoryFormatVersion + 1)); });
  std::unique_ptr<HistoryStore> store;
  CHECK(HistoryStore::open(HistoryOptions{path, uint64_t{64} << 20}, store).code == Code::unknown_format_version);
  REQUIRE(HistoryStore::wipe(path).ok());
  store = open_store(path);
  CHECK(store->range().last == 0);
  CHECK(read_all(*store, 0).empty());
}

}  // namespace
}  // namespace synod::persistence
