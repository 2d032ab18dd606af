#include "paxos/value_codec.h"

#include <utility>
#include <vector>

#include "base/assert.h"
#include "paxos/configuration.h"

namespace synod::paxos {

namespace {

ValuePtr refuse(Reader& reader, ValueProblem* problem, ValueError error, std::string message) {
  reader.fail();
  if (problem != nullptr) *problem = ValueProblem{error, std::move(message)};
  return nullptr;
}

}  // namespace

void encode_value(const Value& value, Writer& writer) {
  writer.u8(static_cast<uint8_t>(value.kind));
  if (value.kind == Value::Kind::noop) {
    SYNOD_ASSERT_MSG(value.commands.empty(), "a no-op value carries commands");
    return;
  }
  if (value.kind == Value::Kind::configuration) {
    SYNOD_ASSERT_MSG(value.configuration && value.commands.empty(), "a configuration value without its configuration");
    encode_configuration(*value.configuration, writer);
    return;
  }
  writer.varint(value.commands.size());
  for (const auto& command : value.commands) {
    writer.varint(command.client_id);
    writer.varint(command.seq);
    writer.bytes(command.payload);
  }
}

ValuePtr decode_value(Reader& reader, ValueProblem* problem) {
  const uint8_t kind = reader.u8();
  if (!reader.ok()) return refuse(reader, problem, ValueError::malformed, {});
  if (kind == static_cast<uint8_t>(Value::Kind::noop)) return make_noop();
  if (kind == static_cast<uint8_t>(Value::Kind::configuration)) {
    Configuration configuration;
    if (!decode_configuration(reader, configuration)) {
      return refuse(reader, problem, ValueError::bad_configuration, "the configuration value is malformed");
    }
    return make_configuration_value(configuration);
  }
  if (kind != static_cast<uint8_t>(Value::Kind::commands)) {
    return refuse(reader, problem, ValueError::unknown_kind,
                  "value kind " + std::to_string(kind) + " is not 0, 1 or 2");
  }
  const uint64_t count = reader.varint();
  if (!reader.ok()) return refuse(reader, problem, ValueError::malformed, {});
  if (count > reader.remaining() / kCommandBytesMin) {
    return refuse(reader, problem, ValueError::count_too_large,
                  "a count of " + std::to_string(count) + " commands cannot fit in the " +
                      std::to_string(reader.remaining()) + " bytes that remain");
  }
  std::vector<Command> commands(static_cast<size_t>(count));
  for (auto& command : commands) {
    command.client_id = reader.varint();
    command.seq = reader.varint();
    command.payload = std::string(reader.bytes());
  }
  if (!reader.ok()) return refuse(reader, problem, ValueError::malformed, {});
  return make_batch(std::move(commands));
}

}  // namespace synod::paxos
