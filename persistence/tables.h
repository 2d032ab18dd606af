// Tables: the transactional key-value view that RecordStorage is written
// against, so that LMDB and the in-memory twin run the same record logic.
//
// A backend offers two kinds of transaction (RecordStorage::run_read and
// run_write). Inside one, a TableReader sees one consistent state; a
// TableWriter also sees its own writes, and its transaction is all or
// nothing. Keys within a table are ordered by their bytes.
//
// Internal to persistence/. Owned by the thread running the transaction.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

#include "persistence/records.h"
#include "persistence/status.h"

namespace synod::persistence {

class TableReader {
 public:
  virtual ~TableReader() = default;

  // Sets `value` to the record under `key`, or to nullopt. The view stays
  // valid until the transaction ends.
  virtual Status get(Table table, std::string_view key, std::optional<std::string_view>& value) = 0;

  // Calls `visit` on each record whose key is at least `from_key`, in key
  // order, until it returns false.
  using Visit = std::function<bool(std::string_view key, std::string_view value)>;
  virtual Status scan(Table table, std::string_view from_key, const Visit& visit) = 0;
};

class TableWriter : public TableReader {
 public:
  virtual Status put(Table table, std::string_view key, std::string_view value) = 0;
  // Erasing a key that is absent is not an error.
  virtual Status erase(Table table, std::string_view key) = 0;
  // Erases records with keys up to and including `last_key`, lowest first,
  // stopping after `records_max`; adds the number erased to `erased`.
  virtual Status erase_through(Table table, std::string_view last_key, uint64_t records_max,
                               uint64_t& erased) = 0;
  virtual Status clear(Table table) = 0;
};

}  // namespace synod::persistence
