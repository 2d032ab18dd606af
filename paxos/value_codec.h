// The one byte encoding of a Value, written by the peer wire codec
// (transport/wire.h: Promise, Accept, CatchupReply) and by the storage
// records (persistence/records.h: votes and chosen values). Both formats embed
// it, so a change here is a change to both: it bumps the wire's
// kProtocolVersion and the store's kFormatVersion.
//
//   value = u8 kind (0 no-op, 1 commands, 2 configuration); for commands:
//           varint count, count x (varint client_id, varint seq, bytes payload);
//           for a configuration: encode_configuration (configuration.h)
//
// Kind 2 came with membership changes (0.3.0) without a format or protocol
// bump: it is written only once an operator changes the membership, and an
// older node that meets one refuses it as an unknown kind. Upgrade every
// member before changing the membership (docs/operations.md).
//
// Integers and bytes are base/codec.h's. Decoding never trusts the input: a
// count is checked against the bytes that remain (each command takes at least
// kCommandBytesMin) before anything is reserved.
//
// Pure functions; any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/codec.h"
#include "paxos/types.h"

namespace synod::paxos {

// The smallest encodings, so that a count can be checked against the bytes
// that remain: a no-op is its kind byte; a command is one byte each for its
// client id, its seq and an empty payload's length.
inline constexpr size_t kValueBytesMin = 1;
inline constexpr size_t kCommandBytesMin = 3;

// Writes `value`. A no-op that carries commands is a bug (asserted).
void encode_value(const Value& value, Writer& writer);

// Why decode_value returned null.
enum class ValueError : uint8_t {
  none = 0,
  malformed,          // the Reader failed: a field past the end, a varint over 10 bytes
  unknown_kind,       // the kind byte is not 0, 1 or 2
  bad_configuration,  // a configuration value that decode_configuration refused
  count_too_large,    // the command count cannot fit in the bytes that remain
};

struct ValueProblem {
  ValueError error = ValueError::none;
  std::string message;  // names the kind or the count; empty for `malformed`
};

// Reads one value, leaving the Reader after it. Returns null on malformed
// input, with the Reader failed and, if `problem` is given, why.
ValuePtr decode_value(Reader& reader, ValueProblem* problem = nullptr);

}  // namespace synod::paxos
