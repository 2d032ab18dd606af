// block_order.h — ordering blocks of operations that must each be linearized contiguously.
//
// Owns SourceQueue and order_blocks(), the step Gibbons and Korach ("Testing shared memories",
// 1997) reduce a read-mapped register to. When every value is written once, a write and the reads
// of its value form a block that no other operation can enter, so a linearization is an order of
// whole blocks. Block C must come before block D exactly when some operation of C completes
// before some operation of D is invoked: first_complete(C) < last_invoke(D). A linearization
// exists iff that relation has no cycle, and then any topological order is one.
//
// A block is a source (no remaining block must precede it) when its last_invoke is at most the
// first_complete of every other remaining block. Only two kinds of block can be a source: the one
// with the smallest first_complete, if its last_invoke is at most the second smallest, and any
// other whose last_invoke is at most the smallest. When neither exists, the two blocks with the
// smallest first_complete must each precede the other: that cycle explains the violation.
// O(n log n) over the whole sort.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <utility>
#include <vector>

namespace synod::lincheck {

struct Block {
  std::int64_t first_complete = 0;  // the earliest completion in the block; time_open if none
  std::int64_t last_invoke = 0;     // the latest invocation in the block
};

// The remaining blocks, and which of them may come next. Single-threaded.
class SourceQueue {
 public:
  explicit SourceQueue(std::vector<Block> blocks);

  bool empty() const { return remaining_.empty(); }
  bool contains(std::size_t block) const;
  // The remaining block with the smallest first_complete, and the one with the next smallest
  // (the two of a cycle when no block is a source). Not on an empty queue; `second` needs two.
  std::size_t earliest() const { return remaining_.begin()->second; }
  std::size_t second() const { return std::next(remaining_.begin())->second; }
  // The source with the smallest first_complete among the blocks `allowed` accepts, if any.
  std::optional<std::size_t> pick(const std::function<bool(std::size_t)>& allowed);
  void remove(std::size_t block);

 private:
  using Keyed = std::pair<std::int64_t, std::size_t>;  // (first_complete, block)

  void sweep();

  std::vector<Block> blocks_;
  std::set<Keyed> remaining_;
  // Blocks by last_invoke, moved into ready_ once the smallest remaining first_complete reaches
  // them. That smallest value never shrinks as blocks leave, so the sweep only moves forward.
  std::vector<std::size_t> by_invoke_;
  std::size_t swept_ = 0;
  std::set<Keyed> ready_;
};

struct BlockOrder {
  std::vector<std::size_t> order;  // indices into the blocks: a linearization order unless cyclic
  bool cyclic = false;
  // When cyclic: `before` completes before `after` is invoked, and `after` completes before
  // `before` is invoked, so each would have to come first.
  std::size_t before = 0;
  std::size_t after = 0;
};

BlockOrder order_blocks(const std::vector<Block>& blocks);

}  // namespace synod::lincheck
