// unique_values.cpp — the register path: chains, their order, and the initial nil period.
// The argument is in unique_values.h.
#include "tools/lincheck/unique_values.h"

#include <utility>

#include "tools/lincheck/nil_periods.h"
#include "tools/lincheck/register_chains.h"

namespace synod::lincheck {
namespace {

using Kind = RegisterOp::Kind;

PathDecision refuted(const Partition& partition, const std::string& why) {
  std::string object = partition.key.empty() ? std::string("the register") : "key \"" + partition.key + "\"";
  return PathDecision{Verdict::not_linearizable, object + " is not linearizable: " + why};
}

PathDecision linearizable_if(const History& history, const Partition& partition,
                             const std::vector<std::size_t>& sequence) {
  // Never fails where the argument is exact; if it did, the search decides instead.
  if (!witness_holds(history, partition, sequence)) return PathDecision{};
  return PathDecision{Verdict::linearizable, ""};
}

std::size_t first_completing(const RegisterValues& values, const Chain& chain) {
  std::size_t found = chain.groups.front().front();
  for (const auto& group : chain.groups) {
    for (std::size_t position : group) {
      if (values.ops[position].latest_time < values.ops[found].latest_time) found = position;
    }
  }
  return found;
}

std::size_t last_invoked(const RegisterValues& values, const Chain& chain) {
  std::size_t found = chain.groups.front().front();
  for (const auto& group : chain.groups) {
    for (std::size_t position : group) {
      if (values.ops[position].invoke_time > values.ops[found].invoke_time) found = position;
    }
  }
  return found;
}

// Why `first` must come before `then`: an operation of `first` completed before one of `then`
// began.
std::string precedes(const History& history, const RegisterValues& values, const Chain& first, const Chain& then) {
  return describe(history, values.ops[first_completing(values, first)].index) + " completed before " +
         describe(history, values.ops[last_invoked(values, then)].index) + " was invoked";
}

std::string cycle(const History& history, const RegisterValues& values, const Chain& a, const Chain& b) {
  return "the block of " + describe(history, values.ops[a.groups.front().front()].index) + " and the block of " +
         describe(history, values.ops[b.groups.front().front()].index) +
         " must each come before the other (a block is a write and the reads of its value, which no other "
         "write can enter): " + precedes(history, values, a, b) + ", and " + precedes(history, values, b, a);
}

std::vector<Block> blocks_of(const RegisterValues& values, const std::vector<Chain>& chains) {
  std::vector<Block> blocks;
  blocks.reserve(chains.size());
  for (const Chain& chain : chains) blocks.push_back(block_of(values, chain));
  return blocks;
}

// The initial period: the reads of nil, then the one compare-and-set from nil and its chain, if
// any. With no delete taking effect it must be linearized first. Returns why not, or "".
std::string initial_chain(const History& history, const RegisterValues& values, std::vector<Chain>& chains,
                          const std::vector<bool>& from_nil, Chain& initial) {
  const std::vector<std::size_t>& nil_reads = values.reads[nil_value];
  if (!nil_reads.empty()) initial.groups.push_back(nil_reads);
  std::size_t found = chains.size();
  for (std::size_t i = 0; i < chains.size(); ++i) {
    if (!from_nil[i]) continue;
    if (found != chains.size()) {
      return describe(history, values.ops[chains[found].groups.front().front()].index) + " and " +
             describe(history, values.ops[chains[i].groups.front().front()].index) +
             " both compare-and-set from nil, but the key is never deleted: only one can find it missing";
    }
    found = i;
  }
  if (found != chains.size()) {
    for (auto& group : chains[found].groups) initial.groups.push_back(std::move(group));
    chains.erase(chains.begin() + static_cast<std::ptrdiff_t>(found));
  }
  return initial.groups.empty() ? "" : chain_out_of_order(history, values, initial);
}

// Exact: no delete takes effect where a read of nil could see it.
PathDecision decide_exactly(const History& history, const Partition& partition, const RegisterValues& values,
                            std::vector<Chain> chains, const std::vector<bool>& from_nil) {
  Chain initial;
  if (std::string why = initial_chain(history, values, chains, from_nil, initial); !why.empty()) {
    return refuted(partition, why);
  }
  for (std::size_t position : values.erasures) {
    if (!values.ops[position].optional) chains.push_back(Chain{{{position}}});  // nothing reads its nil
  }
  std::vector<Block> blocks = blocks_of(values, chains);
  std::vector<std::size_t> sequence;
  if (!initial.groups.empty()) {
    Block first = block_of(values, initial);
    for (std::size_t i = 0; i < chains.size(); ++i) {
      if (blocks[i].first_complete < first.last_invoke) {
        return refuted(partition, "the initial value nil is observed after a write: " +
                                      precedes(history, values, chains[i], initial));
      }
    }
    append_in_order(values, initial, sequence);
  }
  BlockOrder order = order_blocks(blocks);
  if (order.cyclic) return refuted(partition, cycle(history, values, chains[order.before], chains[order.after]));
  for (std::size_t chain : order.order) append_in_order(values, chains[chain], sequence);
  return linearizable_if(history, partition, sequence);
}

// Deletes whose nil may be read: refute from the non-nil chains if they cannot be ordered,
// else try the greedy of nil_periods.h.
PathDecision decide_with_deletes(const History& history, const Partition& partition, const RegisterValues& values,
                                 const std::vector<Chain>& chains, const std::vector<bool>& from_nil) {
  BlockOrder order = order_blocks(blocks_of(values, chains));
  if (order.cyclic) return refuted(partition, cycle(history, values, chains[order.before], chains[order.after]));
  std::optional<std::vector<std::size_t>> sequence = find_with_deletes(values, chains, from_nil);
  if (!sequence) return PathDecision{};
  return linearizable_if(history, partition, *sequence);
}

bool nil_observed(const RegisterValues& values) {
  if (!values.reads[nil_value].empty()) return true;
  for (std::size_t position : values.compares[nil_value]) {
    if (values.ops[position].taken) return true;
  }
  return false;
}

}  // namespace

PathDecision decide_unique_values(const History& history, const Partition& partition) {
  std::optional<RegisterValues> classified = classify_values(history, partition);
  if (!classified) return PathDecision{};
  RegisterValues& values = *classified;
  drop_unobserved(values);
  std::vector<bool> from_nil;
  Chains chains = build_chains(history, values, from_nil);
  if (!chains.violation.empty()) return refuted(partition, chains.violation);
  for (const Chain& chain : chains.chains) {
    if (std::string why = chain_out_of_order(history, values, chain); !why.empty()) return refuted(partition, why);
  }
  if (values.erasures.empty() || !nil_observed(values)) {
    return decide_exactly(history, partition, values, std::move(chains.chains), from_nil);
  }
  return decide_with_deletes(history, partition, values, chains.chains, from_nil);
}

}  // namespace synod::lincheck
