// block_order.cpp — the topological sort of blocks. See block_order.h.
#include "tools/lincheck/block_order.h"

#include <algorithm>
#include <iterator>
#include <limits>

namespace synod::lincheck {

SourceQueue::SourceQueue(std::vector<Block> blocks) : blocks_(std::move(blocks)), by_invoke_(blocks_.size()) {
  for (std::size_t i = 0; i < blocks_.size(); ++i) {
    remaining_.emplace(blocks_[i].first_complete, i);
    by_invoke_[i] = i;
  }
  std::sort(by_invoke_.begin(), by_invoke_.end(),
            [&](std::size_t a, std::size_t b) { return blocks_[a].last_invoke < blocks_[b].last_invoke; });
}

bool SourceQueue::contains(std::size_t block) const {
  return remaining_.contains({blocks_[block].first_complete, block});
}

void SourceQueue::sweep() {
  std::int64_t complete_min = remaining_.begin()->first;
  while (swept_ < by_invoke_.size() && blocks_[by_invoke_[swept_]].last_invoke <= complete_min) {
    std::size_t block = by_invoke_[swept_++];
    if (contains(block)) ready_.emplace(blocks_[block].first_complete, block);
  }
}

std::optional<std::size_t> SourceQueue::pick(const std::function<bool(std::size_t)>& allowed) {
  if (remaining_.empty()) return std::nullopt;
  sweep();
  constexpr std::int64_t never = std::numeric_limits<std::int64_t>::max();
  std::size_t first = earliest();
  std::int64_t second_complete = remaining_.size() < 2 ? never : std::next(remaining_.begin())->first;
  if (blocks_[first].last_invoke <= second_complete && allowed(first)) return first;
  for (const Keyed& candidate : ready_) {
    if (candidate.second != first && allowed(candidate.second)) return candidate.second;
  }
  return std::nullopt;
}

void SourceQueue::remove(std::size_t block) {
  remaining_.erase({blocks_[block].first_complete, block});
  ready_.erase({blocks_[block].first_complete, block});
}

BlockOrder order_blocks(const std::vector<Block>& blocks) {
  SourceQueue queue(blocks);
  BlockOrder result;
  result.order.reserve(blocks.size());
  while (!queue.empty()) {
    std::optional<std::size_t> next = queue.pick([](std::size_t) { return true; });
    if (!next) {
      result.cyclic = true;
      result.before = queue.earliest();
      result.after = queue.second();
      return result;
    }
    queue.remove(*next);
    result.order.push_back(*next);
  }
  return result;
}

}  // namespace synod::lincheck
