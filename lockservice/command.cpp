// Command encoding and decoding (format in command.h).
#include "lockservice/command.h"

#include <iterator>

#include "base/assert.h"
#include "base/codec.h"
#include "base/variant_codec.h"
#include "lockservice/znode_codec.h"

namespace synod::lockservice {
namespace {

// ---- writing ----
void put_optional(Writer& w, const std::optional<uint64_t>& value) {
  w.boolean(value.has_value());
  if (value) w.varint(*value);
}
void put_fence(Writer& w, const Fence& fence) {
  w.bytes(fence.lock);
  w.varint(fence.token);
}

void put_fields(Writer& w, const CreateSession& c) {
  w.svarint(c.ttl_ms);
  w.svarint(c.lock_delay_ms);
  w.u8(static_cast<uint8_t>(c.behavior));
}
void put_fields(Writer& w, const DeleteSession& c) { w.varint(c.session); }
void put_fields(Writer& w, const RenewSessions& c) {
  w.varint(c.sessions.size());
  SessionId previous = 0;
  for (SessionId session : c.sessions) {
    SYNOD_ASSERT_MSG(session > previous, "a checkpoint lists ascending, distinct sessions");
    w.varint(session - previous);
    previous = session;
  }
}
void put_fields(Writer& w, const ExpireSession& c) { w.varint(c.session); }
void put_fields(Writer& w, const SetAuth& c) { w.boolean(c.enabled); }
void put_fields(Writer& w, const CreateToken& c) {
  w.bytes(c.hash);
  w.bytes(c.principal);
  w.varint(c.roles.size());
  for (const auto& role : c.roles) w.bytes(role);
  w.boolean(c.root);
}
void put_fields(Writer& w, const RevokeToken& c) { w.varint(c.id); }
void put_fields(Writer& w, const PutRule& c) {
  w.bytes(c.subject);
  w.u8(static_cast<uint8_t>(c.space));
  w.bytes(c.prefix);
  w.u8(static_cast<uint8_t>(c.permission));
}
void put_fields(Writer& w, const DeleteRule& c) { w.varint(c.id); }
void put_fields(Writer& w, const Acquire& c) {
  w.bytes(c.lock);
  w.varint(c.session);
  w.u8(static_cast<uint8_t>(c.kind));
  w.u8(static_cast<uint8_t>(c.access));
  w.varint(c.limit);
  w.u8(static_cast<uint8_t>(c.wait));
  w.svarint(c.wait_ms);
}
void put_fields(Writer& w, const Release& c) {
  w.bytes(c.lock);
  w.varint(c.session);
}
void put_fields(Writer& w, const ForceRelease& c) {
  w.u8(static_cast<uint8_t>(c.space));
  w.bytes(c.name);
  w.varint(c.session);
  w.bytes(c.reason);
  w.boolean(c.skip_lock_delay);
}
void put_fields(Writer& w, const Campaign& c) {
  w.bytes(c.election);
  w.varint(c.session);
  w.bytes(c.value);
}
void put_fields(Writer& w, const Proclaim& c) {
  w.bytes(c.election);
  w.varint(c.token);
  w.bytes(c.value);
}
void put_fields(Writer& w, const Resign& c) {
  w.bytes(c.election);
  w.varint(c.session);
}
void put_fields(Writer& w, const Put& c) {
  w.bytes(c.key);
  w.bytes(c.value);
  w.varint(c.session);
  w.boolean(c.sequential);
  put_optional(w, c.cas);
  put_fence(w, c.fence);
}
void put_fields(Writer& w, const DeleteKey& c) {
  w.bytes(c.key);
  w.boolean(c.prefix);
  put_optional(w, c.cas);
  put_fence(w, c.fence);
}
void put_fields(Writer& w, const Txn& c) {
  w.varint(c.guards.size());
  for (const Guard& guard : c.guards) {
    w.u8(static_cast<uint8_t>(guard.kind));
    w.bytes(guard.name);
    w.varint(guard.number);
    w.varint(guard.session);
  }
  w.varint(c.ops.size());
  for (const TxnOp& op : c.ops) {
    w.u8(static_cast<uint8_t>(op.index()));
    std::visit([&w](const auto& alternative) { put_fields(w, alternative); }, op);
  }
}
void put_fields(Writer& w, const CreateSessionAnd& c) {
  put_fields(w, c.create);
  w.u8(static_cast<uint8_t>(c.then.index()));
  std::visit([&w](const auto& alternative) { put_fields(w, alternative); }, c.then);
}

// ---- reading ----
// Each returns a value and leaves the Reader failed on bad input; the caller
// checks once at the end.
template <typename Enum>
Enum get_enum(Reader& r, uint8_t max) {
  const uint8_t raw = r.u8();
  if (raw > max) r.fail();
  return static_cast<Enum>(raw > max ? 0 : raw);
}
std::string get_string(Reader& r) { return std::string(r.bytes()); }
int64_t get_duration(Reader& r) { return r.svarint(); }
uint32_t get_u32(Reader& r) {
  const uint64_t raw = r.varint();
  if (raw > UINT32_MAX) r.fail();
  return static_cast<uint32_t>(raw);
}
std::optional<uint64_t> get_optional(Reader& r) {
  if (!r.boolean()) return std::nullopt;
  return r.varint();
}
Fence get_fence(Reader& r) {
  Fence fence;
  fence.lock = get_string(r);
  fence.token = r.varint();
  return fence;
}
// A count of elements that each take at least one byte: more than the bytes
// left is malformed, so no vector is ever sized beyond the input.
size_t get_count(Reader& r) {
  const uint64_t count = r.varint();
  if (count > r.remaining()) {
    r.fail();
    return 0;
  }
  return static_cast<size_t>(count);
}

void get_fields(Reader& r, CreateSession& c) {
  c.ttl_ms = get_duration(r);
  c.lock_delay_ms = get_duration(r);
  c.behavior = get_enum<Behavior>(r, kBehaviorMax);
}
void get_fields(Reader& r, DeleteSession& c) { c.session = r.varint(); }
void get_fields(Reader& r, RenewSessions& c) {
  const size_t count = get_count(r);
  c.sessions.reserve(count);
  SessionId previous = 0;
  for (size_t i = 0; i < count && r.ok(); ++i) {
    const uint64_t delta = r.varint();
    if (delta == 0 || delta > UINT64_MAX - previous) r.fail();
    previous += delta;
    c.sessions.push_back(previous);
  }
}
void get_fields(Reader& r, ExpireSession& c) { c.session = r.varint(); }
void get_fields(Reader& r, SetAuth& c) { c.enabled = r.boolean(); }
void get_fields(Reader& r, CreateToken& c) {
  c.hash = get_string(r);
  c.principal = get_string(r);
  const size_t roles = get_count(r);
  c.roles.reserve(roles);
  for (size_t i = 0; i < roles && r.ok(); ++i) c.roles.push_back(get_string(r));
  c.root = r.boolean();
}
void get_fields(Reader& r, RevokeToken& c) { c.id = r.varint(); }
void get_fields(Reader& r, PutRule& c) {
  c.subject = get_string(r);
  c.space = get_enum<AclSpace>(r, kAclSpaceMax);
  c.prefix = get_string(r);
  const uint8_t permission = r.u8();
  if (permission < 1 || permission > kPermissionMax) r.fail();
  c.permission = static_cast<Permission>(permission);
}
void get_fields(Reader& r, DeleteRule& c) { c.id = r.varint(); }
void get_fields(Reader& r, Acquire& c) {
  c.lock = get_string(r);
  c.session = r.varint();
  c.kind = get_enum<LockKind>(r, kLockKindMax);
  c.access = get_enum<Access>(r, kAccessMax);
  c.limit = get_u32(r);
  c.wait = get_enum<WaitMode>(r, kWaitModeMax);
  c.wait_ms = get_duration(r);
}
void get_fields(Reader& r, Release& c) {
  c.lock = get_string(r);
  c.session = r.varint();
}
void get_fields(Reader& r, ForceRelease& c) {
  c.space = get_enum<Space>(r, kSpaceMax);
  c.name = get_string(r);
  c.session = r.varint();
  c.reason = get_string(r);
  c.skip_lock_delay = r.boolean();
}
void get_fields(Reader& r, Campaign& c) {
  c.election = get_string(r);
  c.session = r.varint();
  c.value = get_string(r);
}
void get_fields(Reader& r, Proclaim& c) {
  c.election = get_string(r);
  c.token = r.varint();
  c.value = get_string(r);
}
void get_fields(Reader& r, Resign& c) {
  c.election = get_string(r);
  c.session = r.varint();
}
void get_fields(Reader& r, Put& c) {
  c.key = get_string(r);
  c.value = get_string(r);
  c.session = r.varint();
  c.sequential = r.boolean();
  c.cas = get_optional(r);
  c.fence = get_fence(r);
}
void get_fields(Reader& r, DeleteKey& c) {
  c.key = get_string(r);
  c.prefix = r.boolean();
  c.cas = get_optional(r);
  c.fence = get_fence(r);
}
void get_fields(Reader& r, Txn& c) {
  const size_t guards = get_count(r);
  c.guards.reserve(guards);
  for (size_t i = 0; i < guards && r.ok(); ++i) {
    Guard guard;
    guard.kind = get_enum<GuardKind>(r, kGuardKindMax);
    guard.name = get_string(r);
    guard.number = r.varint();
    guard.session = r.varint();
    c.guards.push_back(std::move(guard));
  }
  const size_t ops = get_count(r);
  c.ops.reserve(ops);
  for (size_t i = 0; i < ops && r.ok(); ++i) {
    const uint8_t tag = r.u8();
    if (tag == 0) {
      Put put;
      get_fields(r, put);
      c.ops.emplace_back(std::move(put));
    } else if (tag == 1) {
      DeleteKey erase;
      get_fields(r, erase);
      c.ops.emplace_back(std::move(erase));
    } else {
      r.fail();
    }
  }
}

void get_fields(Reader& r, CreateSessionAnd& c) {
  get_fields(r, c.create);
  const uint8_t tag = r.u8();
  if (tag == 0) {
    Acquire acquire;
    get_fields(r, acquire);
    c.then = std::move(acquire);
  } else if (tag == 1) {
    Campaign campaign;
    get_fields(r, campaign);
    c.then = std::move(campaign);
  } else {
    r.fail();
  }
}

// Decodes the alternative of Command the tag names.
bool get_command(Reader& r, uint8_t tag, Command& out) {
  return get_alternative(r, tag, out, [](Reader& reader, auto& command) { get_fields(reader, command); });
}

}  // namespace

std::string encode(const Command& command, int64_t time_ms, const Credential& credential) {
  SYNOD_ASSERT(time_ms >= 0 && time_ms <= kLogTimeMsMax);
  return encode_exact([&](Writer& w) {
    w.u8(kCommandFormatVersion);
    w.fixed64(static_cast<uint64_t>(time_ms));
    w.u8(static_cast<uint8_t>(credential.kind));
    if (credential.kind != Credential::Kind::none) w.bytes(credential.value);
    w.u8(static_cast<uint8_t>(command.index()));
    std::visit([&w](const auto& alternative) { put_fields(w, alternative); }, command);
  });
}

void stamp_time(std::string& payload, int64_t time_ms) {
  SYNOD_ASSERT(time_ms >= 0 && time_ms <= kLogTimeMsMax);
  SYNOD_ASSERT_MSG(payload.size() > kCommandHeaderBytes &&
                       static_cast<uint8_t>(payload[0]) >= kCommandFormatVersionOldest &&
                       static_cast<uint8_t>(payload[0]) <= kCommandFormatVersion,
                   "stamp_time needs an encoded command");
  std::string header;
  Writer w(header);
  w.fixed64(static_cast<uint64_t>(time_ms));
  payload.replace(1, 8, header);
}

Decoded decode(std::string_view payload) {
  Decoded decoded;
  Reader r(payload);
  const uint8_t version = r.u8();
  if (!r.ok() || version < kCommandFormatVersionOldest || version > kCommandFormatVersion) {
    decoded.error = "unknown command format version";
    return decoded;
  }
  const uint64_t time = r.fixed64();
  if (!r.ok() || time > static_cast<uint64_t>(kLogTimeMsMax)) {
    decoded.error = "bad command time";
    return decoded;
  }
  if (version >= 2) {
    const uint8_t kind = r.u8();
    if (!r.ok() || kind > kCredentialKindMax) {
      decoded.error = "bad command credential";
      return decoded;
    }
    decoded.credential.kind = static_cast<Credential::Kind>(kind);
    if (decoded.credential.kind != Credential::Kind::none) decoded.credential.value = get_string(r);
  }
  const uint8_t tag = r.u8();
  if (!r.ok() || !get_command(r, tag, decoded.command)) {
    decoded.error = "unknown command";
    return decoded;
  }
  if (!r.done()) {
    decoded.error = r.ok() ? "trailing bytes after the command" : "malformed command fields";
    return decoded;
  }
  decoded.ok = true;
  decoded.time_ms = static_cast<int64_t>(time);
  return decoded;
}

uint8_t command_tag(std::string_view payload) {
  Reader r(payload);
  const uint8_t version = r.u8();
  if (!r.ok() || version < kCommandFormatVersionOldest || version > kCommandFormatVersion) return 0xff;
  r.fixed64();
  if (version >= 2 && r.u8() != 0) r.bytes();  // a credential
  const uint8_t tag = r.u8();
  return r.ok() ? tag : 0xff;
}

const char* command_name(const Command& command) {
  static constexpr const char* kNames[] = {"create_session",
                                           "delete_session",
                                           "renew_sessions",
                                           "expire_session",
                                           "acquire",
                                           "release",
                                           "force_release",
                                           "campaign",
                                           "proclaim",
                                           "resign",
                                           "put",
                                           "delete_key",
                                           "txn",
                                           "create_session_and",
                                           "set_auth",
                                           "create_token",
                                           "revoke_token",
                                           "put_rule",
                                           "delete_rule",
                                           "znode_create",
                                           "znode_delete",
                                           "znode_set_data",
                                           "znode_check",
                                           "znode_multi",
                                           "znode_set_acl",
                                           "znode_reap_container"};
  static_assert(std::size(kNames) == std::variant_size_v<Command>);
  return kNames[command.index()];
}

}  // namespace synod::lockservice
