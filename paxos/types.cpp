#include "paxos/types.h"

#include "paxos/configuration.h"

namespace synod::paxos {

std::string to_string(const Ballot& ballot) {
  return "(" + std::to_string(ballot.round) + "," + std::to_string(ballot.node) + ")";
}

size_t Value::payload_bytes() const {
  size_t bytes = 0;
  for (const auto& command : commands) bytes += command.payload.size();
  return bytes;
}

bool Value::operator==(const Value& other) const {
  if (kind != other.kind || commands != other.commands) return false;
  if (!configuration || !other.configuration) return configuration == other.configuration;
  return *configuration == *other.configuration;
}

ValuePtr make_noop() {
  static const ValuePtr noop = std::make_shared<const Value>();
  return noop;
}

ValuePtr make_batch(std::vector<Command> commands) {
  auto value = std::make_shared<Value>();
  value->kind = Value::Kind::commands;
  value->commands = std::move(commands);
  return value;
}

ValuePtr make_configuration_value(const Configuration& configuration) {
  auto value = std::make_shared<Value>();
  value->kind = Value::Kind::configuration;
  value->configuration = std::make_shared<const Configuration>(configuration);
  return value;
}

bool same_value(const ValuePtr& a, const ValuePtr& b) {
  if (a == b) return true;
  if (!a || !b) return false;
  return *a == *b;
}

}  // namespace synod::paxos
