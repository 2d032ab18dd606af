// register_chains.cpp — values, observers and chains of a register partition. See register_chains.h.
#include "tools/lincheck/register_chains.h"

#include <algorithm>
#include <unordered_map>

#include "tools/lincheck/witness.h"

namespace synod::lincheck {
namespace {

using Kind = RegisterOp::Kind;

std::optional<Kind> kind_of(const Operation& operation) {
  if (operation.f == "read") return Kind::read;
  if (operation.f == "write") return operation.input.is_nil() ? Kind::erase : Kind::write;
  if (operation.f == "cas") return Kind::cas;
  if (operation.f == "delete") return Kind::erase;
  return std::nullopt;
}

class ValueIds {
 public:
  ValueIds() { ids_.emplace(Value(), nil_value); }
  std::uint32_t id(const Value& value) {
    return ids_.try_emplace(value, static_cast<std::uint32_t>(ids_.size())).first->second;
  }
  std::size_t size() const { return ids_.size(); }

 private:
  std::unordered_map<Value, std::uint32_t, ValueHash> ids_;
};

std::string quoted(const History& history, const RegisterValues& values, std::uint32_t value) {
  std::size_t writer = values.writer[value];
  if (writer == no_position) return "a value";
  const Operation& operation = history.operations[values.ops[writer].index];
  return "value " + to_string(operation.f == "cas" ? operation.input.items[1] : operation.input);
}

}  // namespace

std::optional<RegisterValues> classify_values(const History& history, const Partition& partition) {
  RegisterValues values;
  ValueIds ids;
  values.ops.reserve(partition.operations.size());
  for (std::size_t index : partition.operations) {
    const Operation& operation = history.operations[index];
    std::optional<Kind> kind = kind_of(operation);
    if (!kind) return std::nullopt;
    RegisterOp op{*kind, nil_value, nil_value, operation.invoke_time, latest_effect_time(operation), index,
                  operation.status == Status::info, true};
    if (*kind == Kind::read) op.value = ids.id(operation.output);
    if (*kind == Kind::write) op.value = ids.id(operation.input);
    if (*kind == Kind::cas) {
      op.expected = ids.id(operation.input.items[0]);
      op.value = ids.id(operation.input.items[1]);
      if (op.value == nil_value) return std::nullopt;
    }
    values.ops.push_back(op);
  }
  values.writer.assign(ids.size(), no_position);
  values.reads.resize(ids.size());
  values.compares.resize(ids.size());
  for (std::size_t position = 0; position < values.ops.size(); ++position) {
    const RegisterOp& op = values.ops[position];
    if (op.kind == Kind::read) values.reads[op.value].push_back(position);
    if (op.kind == Kind::erase) values.erasures.push_back(position);
    if (op.kind == Kind::cas) values.compares[op.expected].push_back(position);
    if (op.kind == Kind::write || op.kind == Kind::cas) {
      if (values.writer[op.value] != no_position) return std::nullopt;  // written twice: not unique
      values.writer[op.value] = position;
    }
  }
  return values;
}

void drop_unobserved(RegisterValues& values) {
  std::vector<std::size_t> observers(values.writer.size());
  std::vector<std::uint32_t> unobserved;
  for (std::uint32_t value = 1; value < values.writer.size(); ++value) {
    observers[value] = values.reads[value].size() + values.compares[value].size();
    if (observers[value] == 0) unobserved.push_back(value);
  }
  while (!unobserved.empty()) {
    std::uint32_t value = unobserved.back();
    unobserved.pop_back();
    std::size_t writer = values.writer[value];
    if (writer == no_position || !values.ops[writer].optional) continue;
    RegisterOp& op = values.ops[writer];
    op.taken = false;
    // A compare-and-set that never happened observed nothing either.
    if (op.kind == Kind::cas && op.expected != nil_value && --observers[op.expected] == 0) {
      unobserved.push_back(op.expected);
    }
  }
}

namespace {

// The one taken compare-and-set from `value`, no_position if none; sets `violation` if several.
std::size_t successor(const History& history, const RegisterValues& values, std::uint32_t value,
                      std::string& violation) {
  std::size_t found = no_position;
  for (std::size_t position : values.compares[value]) {
    if (!values.ops[position].taken) continue;
    if (found != no_position) {
      violation = describe(history, values.ops[found].index) + " and " + describe(history, values.ops[position].index) +
                  " both compare-and-set from " + quoted(history, values, value) +
                  ", but only one can follow its write: every value is written once";
      return no_position;
    }
    found = position;
  }
  return found;
}

std::string never_written(const History& history, const RegisterValues& values, std::uint32_t value) {
  std::size_t observer = !values.reads[value].empty() ? values.reads[value].front() : no_position;
  for (std::size_t position : values.compares[value]) {
    if (observer == no_position && values.ops[position].taken) observer = position;
  }
  if (observer == no_position) return "";
  return describe(history, values.ops[observer].index) + " observes a value that no operation wrote (or whose write failed)";
}

}  // namespace

Chains build_chains(const History& history, const RegisterValues& values, std::vector<bool>& from_nil) {
  Chains result;
  std::vector<bool> reached(values.writer.size(), false);
  for (std::uint32_t value = 1; value < values.writer.size(); ++value) {
    std::size_t writer = values.writer[value];
    if (writer == no_position) {
      result.violation = never_written(history, values, value);
      if (!result.violation.empty()) return result;
      continue;
    }
    const RegisterOp& head = values.ops[writer];
    if (!head.taken || (head.kind == Kind::cas && head.expected != nil_value)) continue;
    Chain chain;
    for (std::uint32_t link = value; link != nil_value;) {
      if (reached[link]) break;  // cannot happen: every value has one writer, and a head's is a write
      reached[link] = true;
      chain.groups.push_back({values.writer[link]});
      if (!values.reads[link].empty()) chain.groups.push_back(values.reads[link]);
      std::size_t next = successor(history, values, link, result.violation);
      if (!result.violation.empty()) return result;
      link = next == no_position ? nil_value : values.ops[next].value;
    }
    result.chains.push_back(std::move(chain));
    from_nil.push_back(head.kind == Kind::cas);
  }
  // What no chain reached is a cycle of compare-and-sets, each from the value the one before
  // wrote: none of them can come first, so none happened. Fine for those of unknown outcome, as
  // long as nobody read their values.
  for (std::uint32_t value = 1; value < values.writer.size(); ++value) {
    std::size_t writer = values.writer[value];
    if (writer == no_position || !values.ops[writer].taken || reached[value]) continue;
    if (!values.ops[writer].optional || !values.reads[value].empty()) {
      std::size_t witness = values.ops[writer].optional ? values.reads[value].front() : writer;
      result.violation = describe(history, values.ops[witness].index) +
                         " needs a value that only a cycle of compare-and-sets writes, each from the value the "
                         "one before wrote: none of them can come first";
      return result;
    }
  }
  return result;
}

std::string chain_out_of_order(const History& history, const RegisterValues& values, const Chain& chain) {
  std::size_t latest_invoked = no_position;  // in the groups before the current one
  for (const std::vector<std::size_t>& group : chain.groups) {
    if (latest_invoked != no_position) {
      for (std::size_t position : group) {
        if (values.ops[position].latest_time < values.ops[latest_invoked].invoke_time) {
          return describe(history, values.ops[position].index) + " must be linearized after " +
                 describe(history, values.ops[latest_invoked].index) +
                 " (it observes what that wrote, or what followed it), but completed before it was invoked";
        }
      }
    }
    for (std::size_t position : group) {
      if (latest_invoked == no_position || values.ops[position].invoke_time > values.ops[latest_invoked].invoke_time) {
        latest_invoked = position;
      }
    }
  }
  return "";
}

Block block_of(const RegisterValues& values, const Chain& chain) {
  Block block{time_open, std::numeric_limits<std::int64_t>::min()};
  for (const std::vector<std::size_t>& group : chain.groups) {
    for (std::size_t position : group) {
      block.first_complete = std::min(block.first_complete, values.ops[position].latest_time);
      block.last_invoke = std::max(block.last_invoke, values.ops[position].invoke_time);
    }
  }
  return block;
}

void append_in_order(const RegisterValues& values, const Chain& chain, std::vector<std::size_t>& sequence) {
  for (const std::vector<std::size_t>& group : chain.groups) {
    std::size_t first = sequence.size();
    sequence.insert(sequence.end(), group.begin(), group.end());
    std::sort(sequence.begin() + static_cast<std::ptrdiff_t>(first), sequence.end(),
              [&](std::size_t a, std::size_t b) { return values.ops[a].invoke_time < values.ops[b].invoke_time; });
  }
}

}  // namespace synod::lincheck
