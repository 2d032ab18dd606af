// The vocabulary of the core: nodes, ballots, slots, commands and values.
//
// A ballot is (round, node id), totally ordered by round then node, so two
// proposers never pick the same ballot. A slot is a position in the log,
// numbered from 1; slot 0 means "none". A value is what Paxos chooses for one
// slot: a batch of client commands, or a no-op that a new leader uses to fill
// a hole. Values are immutable once built and shared by pointer, so a batch is
// never copied on its way from the proposer to the acceptors and learners of
// one process (the simulator runs whole clusters in one process).
#pragma once

#include <compare>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace synod::paxos {

using NodeId = uint32_t;
using Slot = uint64_t;
// Microseconds on one node's monotonic clock. Clocks of different nodes are
// not comparable; they only agree on rates within the drift bound.
using TimeUs = int64_t;

inline constexpr NodeId kNoNode = 0;  // node ids start at 1
inline constexpr Slot kNoSlot = 0;    // slots start at 1

struct Ballot {
  uint64_t round = 0;
  NodeId node = kNoNode;

  auto operator<=>(const Ballot&) const = default;
  bool is_zero() const { return round == 0; }
};

std::string to_string(const Ballot& ballot);

// A client command. (client_id, seq) names it across retries: a retried
// command carries the same pair, and the state machine applies it at most once.
struct Command {
  uint64_t client_id = 0;
  uint64_t seq = 0;
  std::string payload;

  bool operator==(const Command&) const = default;
};

struct Configuration;  // configuration.h

struct Value {
  // A configuration value changes who votes from α slots on (configuration.h).
  enum class Kind : uint8_t { noop = 0, commands = 1, configuration = 2 };

  Kind kind = Kind::noop;
  std::vector<Command> commands;                       // empty unless kind is commands
  std::shared_ptr<const Configuration> configuration;  // set only for kind configuration

  bool operator==(const Value& other) const;  // compares the configuration, not the pointer
  size_t payload_bytes() const;
};

using ValuePtr = std::shared_ptr<const Value>;

ValuePtr make_noop();
ValuePtr make_batch(std::vector<Command> commands);
ValuePtr make_configuration_value(const Configuration& configuration);
bool same_value(const ValuePtr& a, const ValuePtr& b);

// An acceptor's vote: it accepted `value` for `slot` in `ballot`.
struct AcceptedEntry {
  Slot slot = kNoSlot;
  Ballot ballot;
  ValuePtr value;
};

// A value known to be chosen for a slot.
struct ChosenEntry {
  Slot slot = kNoSlot;
  ValuePtr value;
};

}  // namespace synod::paxos
