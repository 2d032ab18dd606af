// nil_periods.cpp — the greedy linearization of a key with deletes. See nil_periods.h.
#include "tools/lincheck/nil_periods.h"

namespace synod::lincheck {
namespace {

enum class Item : std::uint8_t { chain, nil_chain, erasure, nil_read };

struct Items {
  std::vector<Block> blocks;
  std::vector<Item> kinds;
  std::vector<std::size_t> sources;  // chain index, or position of an erasure or read
  std::size_t mandatory = 0;         // items that must be placed: all but erasures of unknown outcome
};

void add(Items& items, Block block, Item kind, std::size_t source, bool mandatory) {
  items.blocks.push_back(block);
  items.kinds.push_back(kind);
  items.sources.push_back(source);
  if (mandatory) ++items.mandatory;
}

Items items_of(const RegisterValues& values, const std::vector<Chain>& chains, const std::vector<bool>& from_nil) {
  Items items;
  for (std::size_t i = 0; i < chains.size(); ++i) {
    add(items, block_of(values, chains[i]), from_nil[i] ? Item::nil_chain : Item::chain, i, true);
  }
  for (std::size_t position : values.erasures) {
    const RegisterOp& op = values.ops[position];
    add(items, Block{op.latest_time, op.invoke_time}, Item::erasure, position, !op.optional);
  }
  for (std::size_t position : values.reads[nil_value]) {
    const RegisterOp& op = values.ops[position];
    add(items, Block{op.latest_time, op.invoke_time}, Item::nil_read, position, true);
  }
  return items;
}

}  // namespace

std::optional<std::vector<std::size_t>> find_with_deletes(const RegisterValues& values,
                                                          const std::vector<Chain>& chains,
                                                          const std::vector<bool>& from_nil) {
  Items items = items_of(values, chains, from_nil);
  SourceQueue queue(items.blocks);
  std::vector<std::size_t> sequence;
  std::size_t left = items.mandatory;
  bool missing = true;  // the key starts missing
  auto place = [&](std::size_t item) {
    queue.remove(item);
    Item kind = items.kinds[item];
    if (kind != Item::erasure || !values.ops[items.sources[item]].optional) --left;
    if (kind == Item::chain || kind == Item::nil_chain) {
      append_in_order(values, chains[items.sources[item]], sequence);
    } else {
      sequence.push_back(items.sources[item]);
    }
    missing = kind == Item::erasure || kind == Item::nil_read;
  };
  while (left > 0) {
    while (missing) {
      std::optional<std::size_t> read = queue.pick([&](std::size_t i) { return items.kinds[i] == Item::nil_read; });
      if (!read) break;
      place(*read);
    }
    if (left == 0) break;
    std::optional<std::size_t> next = queue.pick([&](std::size_t i) {
      return items.kinds[i] == Item::chain || items.kinds[i] == Item::erasure ||
             (items.kinds[i] == Item::nil_chain && missing);
    });
    if (!next) return std::nullopt;
    place(*next);
  }
  return sequence;
}

}  // namespace synod::lincheck
