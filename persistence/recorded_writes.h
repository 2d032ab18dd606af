// RecordedWrites: a TableWriter that records puts and erases instead of
// doing them, to be replayed into a real transaction later.
//
// A group commit runs the record logic (RecordStorage::write_group) into one
// of these at once, so the store's picture follows the log, and a checkpoint
// replays the recorded writes into LMDB later without encoding anything twice
// (record_storage.h, THE LOG). Keys and values live in one arena string, so
// recording a group costs a few allocations, not one per record.
//
// Only writes are recorded: the record logic never reads inside a group commit
// (asserted).
//
// Owned by the store's thread.
#pragma once

#include <vector>

#include "base/assert.h"
#include "persistence/tables.h"

namespace synod::persistence {

class RecordedWrites final : public TableWriter {
 public:
  Status get(Table, std::string_view, std::optional<std::string_view>&) override { return unsupported(); }
  Status scan(Table, std::string_view, const Visit&) override { return unsupported(); }
  Status erase_through(Table, std::string_view, uint64_t, uint64_t&) override { return unsupported(); }
  Status clear(Table) override { return unsupported(); }

  Status put(Table table, std::string_view key, std::string_view value) override {
    ops_.push_back(Op{table, false, add(key), add(value)});
    return Status::success();
  }
  Status erase(Table table, std::string_view key) override {
    ops_.push_back(Op{table, true, add(key), {}});
    return Status::success();
  }

  // Does every recorded write, in order, in `into`.
  Status replay(TableWriter& into) const {
    for (const Op& op : ops_) {
      const Status status = op.erase ? into.erase(op.table, view(op.key))
                                     : into.put(op.table, view(op.key), view(op.value));
      if (!status.ok()) return status;
    }
    return Status::success();
  }

  size_t count() const { return ops_.size(); }
  void reset() {
    ops_.clear();
    arena_.clear();
  }

 private:
  struct Span {
    size_t at = 0;
    size_t size = 0;
  };
  struct Op {
    Table table;
    bool erase;
    Span key;
    Span value;
  };

  Span add(std::string_view bytes) {
    const Span span{arena_.size(), bytes.size()};
    arena_.append(bytes);
    return span;
  }
  std::string_view view(const Span& span) const { return std::string_view(arena_).substr(span.at, span.size); }
  static Status unsupported() {
    SYNOD_ASSERT_MSG(false, "a group commit's record logic only writes");
    return Status::error(Code::invalid_argument, "unsupported");
  }

  std::string arena_;
  std::vector<Op> ops_;
};

}  // namespace synod::persistence
