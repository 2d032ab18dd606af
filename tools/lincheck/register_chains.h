// register_chains.h — a register partition seen through its unique values (unique_values.h).
//
// Owns RegisterValues, the partition's operations by the value they write or observe, and
// Chains, the blocks that compare-and-sets join. Used by unique_values.cpp and nil_periods.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "tools/lincheck/block_order.h"
#include "tools/lincheck/history.h"
#include "tools/lincheck/models.h"

namespace synod::lincheck {

inline constexpr std::uint32_t nil_value = 0;  // the value id of nil: a missing key
inline constexpr std::size_t no_position = std::numeric_limits<std::size_t>::max();

struct RegisterOp {
  enum class Kind : std::uint8_t { read, write, cas, erase };  // erase: a delete or a write of nil

  Kind kind = Kind::read;
  std::uint32_t value = nil_value;     // read: the value read; write and cas: the value written
  std::uint32_t expected = nil_value;  // cas: the value compared
  std::int64_t invoke_time = 0;
  std::int64_t latest_time = 0;  // latest_effect_time(): time_open when the outcome is unknown
  std::size_t index = 0;         // in History::operations
  bool optional = false;         // outcome unknown
  bool taken = true;             // false: dropped as unobserved, it never happened
};

struct RegisterValues {
  std::vector<RegisterOp> ops;                     // by position in the partition
  std::vector<std::size_t> writer;                 // by value id: the write or cas of it, or no_position
  std::vector<std::vector<std::size_t>> reads;     // by value id: the reads that returned it
  std::vector<std::vector<std::size_t>> compares;  // by value id: the compare-and-sets from it
  std::vector<std::size_t> erasures;               // deletes and writes of nil
};

// nullopt when two operations write the same non-nil value, or a compare-and-set writes nil:
// then the partition is not for this path.
std::optional<RegisterValues> classify_values(const History& history, const Partition& partition);

// Marks not taken every write and compare-and-set of unknown outcome whose value no taken
// operation observes, and so on down the compare-and-sets it observed itself.
void drop_unobserved(RegisterValues& values);

// A chain: groups of positions in their only possible order. The first group is a write or a
// compare-and-set (the initial value's chain starts with the reads of nil instead); then come the
// reads of its value, the compare-and-set that replaced it, the reads of that value, and so on.
struct Chain {
  std::vector<std::vector<std::size_t>> groups;
};

struct Chains {
  std::vector<Chain> chains;
  std::string violation;  // set when the values alone refute the partition
};

// The chains of every taken non-nil value. A chain whose head compares against nil is marked in
// `from_nil` (it must follow a nil period).
Chains build_chains(const History& history, const RegisterValues& values, std::vector<bool>& from_nil);

// Real time inside a chain: "" when every group may follow the ones before it, else why not.
std::string chain_out_of_order(const History& history, const RegisterValues& values, const Chain& chain);

Block block_of(const RegisterValues& values, const Chain& chain);
// The positions of a chain in a linearization order (reads within a group by invocation).
void append_in_order(const RegisterValues& values, const Chain& chain, std::vector<std::size_t>& sequence);

}  // namespace synod::lincheck
