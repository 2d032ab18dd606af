// The znode commands' encoding (command.h has the format; issue 22).
#include <type_traits>

#include "base/variant_codec.h"
#include "lockservice/znode_codec.h"

namespace synod::lockservice {
namespace {

// A ZooKeeper int (a version, ACL perms) as a zigzag varint.
int32_t get_int32(Reader& r) {
  const int64_t raw = r.svarint();
  if (raw < INT32_MIN || raw > INT32_MAX) r.fail();
  return r.ok() ? static_cast<int32_t>(raw) : 0;
}
std::string get_string(Reader& r) { return std::string(r.bytes()); }
// A count of elements that each take at least one byte: more than the bytes
// left is malformed, so no vector is sized beyond the input.
size_t get_count(Reader& r) {
  const uint64_t count = r.varint();
  if (count > r.remaining()) {
    r.fail();
    return 0;
  }
  return static_cast<size_t>(count);
}

void put_acl(Writer& w, const std::vector<ZnodeAcl>& acl) {
  w.varint(acl.size());
  for (const ZnodeAcl& entry : acl) {
    w.svarint(entry.perms);
    w.bytes(entry.scheme);
    w.bytes(entry.id);
  }
}
void get_acl(Reader& r, std::vector<ZnodeAcl>& acl) {
  const size_t count = get_count(r);
  acl.reserve(count);
  for (size_t i = 0; i < count && r.ok(); ++i) {
    ZnodeAcl entry;
    entry.perms = get_int32(r);
    entry.scheme = get_string(r);
    entry.id = get_string(r);
    acl.push_back(std::move(entry));
  }
}
// Who the request acts as, after its session.
void put_actor(Writer& w, SessionId session, const ZnodeIds& ids) {
  w.varint(session);
  w.varint(ids.size());
  for (const ZnodeId& id : ids) {
    w.bytes(id.scheme);
    w.bytes(id.id);
  }
}
void get_actor(Reader& r, SessionId& session, ZnodeIds& ids) {
  session = r.varint();
  const size_t count = get_count(r);
  ids.reserve(count);
  for (size_t i = 0; i < count && r.ok(); ++i) {
    ZnodeId id;
    id.scheme = get_string(r);
    id.id = get_string(r);
    ids.push_back(std::move(id));
  }
}

// ---- the fields without the session and ids (a multi's ops) ----
void put_body(Writer& w, const ZnodeCreate& c) {
  w.bytes(c.path);
  w.bytes(c.data);
  put_acl(w, c.acl);
  w.u8(static_cast<uint8_t>(c.mode));
}
void put_body(Writer& w, const ZnodeDelete& c) {
  w.bytes(c.path);
  w.svarint(c.version);
}
void put_body(Writer& w, const ZnodeSetData& c) {
  w.bytes(c.path);
  w.bytes(c.data);
  w.svarint(c.version);
}
void put_body(Writer& w, const ZnodeCheck& c) {
  w.bytes(c.path);
  w.svarint(c.version);
}

void get_body(Reader& r, ZnodeCreate& c) {
  c.path = get_string(r);
  c.data = get_string(r);
  get_acl(r, c.acl);
  const uint8_t mode = r.u8();
  if (mode > kZnodeModeMax) r.fail();
  c.mode = static_cast<ZnodeMode>(mode > kZnodeModeMax ? 0 : mode);
}
void get_body(Reader& r, ZnodeDelete& c) {
  c.path = get_string(r);
  c.version = get_int32(r);
}
void get_body(Reader& r, ZnodeSetData& c) {
  c.path = get_string(r);
  c.data = get_string(r);
  c.version = get_int32(r);
}
void get_body(Reader& r, ZnodeCheck& c) {
  c.path = get_string(r);
  c.version = get_int32(r);
}

// Decodes the op of ZnodeOp the tag names.
bool get_op(Reader& r, uint8_t tag, ZnodeOp& out) {
  return get_alternative(r, tag, out, [](Reader& reader, auto& op) { get_body(reader, op); });
}

}  // namespace

void put_fields(Writer& w, const ZnodeCreate& c) {
  put_body(w, c);
  put_actor(w, c.session, c.ids);
}
void put_fields(Writer& w, const ZnodeDelete& c) {
  put_body(w, c);
  put_actor(w, c.session, c.ids);
}
void put_fields(Writer& w, const ZnodeSetData& c) {
  put_body(w, c);
  put_actor(w, c.session, c.ids);
}
void put_fields(Writer& w, const ZnodeCheck& c) {
  put_body(w, c);
  put_actor(w, c.session, c.ids);
}
void put_fields(Writer& w, const ZnodeMulti& c) {
  w.varint(c.ops.size());
  for (const ZnodeOp& op : c.ops) {
    w.u8(static_cast<uint8_t>(op.index()));
    std::visit([&w](const auto& o) { put_body(w, o); }, op);
  }
  put_actor(w, c.session, c.ids);
}
void put_fields(Writer& w, const ZnodeSetAcl& c) {
  w.bytes(c.path);
  put_acl(w, c.acl);
  w.svarint(c.version);
  put_actor(w, c.session, c.ids);
}
void put_fields(Writer& w, const ZnodeReapContainer& c) { w.bytes(c.path); }

void get_fields(Reader& r, ZnodeCreate& c) {
  get_body(r, c);
  get_actor(r, c.session, c.ids);
}
void get_fields(Reader& r, ZnodeDelete& c) {
  get_body(r, c);
  get_actor(r, c.session, c.ids);
}
void get_fields(Reader& r, ZnodeSetData& c) {
  get_body(r, c);
  get_actor(r, c.session, c.ids);
}
void get_fields(Reader& r, ZnodeCheck& c) {
  get_body(r, c);
  get_actor(r, c.session, c.ids);
}
void get_fields(Reader& r, ZnodeMulti& c) {
  const size_t count = get_count(r);
  c.ops.reserve(count);
  for (size_t i = 0; i < count && r.ok(); ++i) {
    ZnodeOp op;
    if (!get_op(r, r.u8(), op)) r.fail();
    c.ops.push_back(std::move(op));
  }
  get_actor(r, c.session, c.ids);
}
void get_fields(Reader& r, ZnodeSetAcl& c) {
  c.path = get_string(r);
  get_acl(r, c.acl);
  c.version = get_int32(r);
  get_actor(r, c.session, c.ids);
}
void get_fields(Reader& r, ZnodeReapContainer& c) { c.path = get_string(r); }

}  // namespace synod::lockservice
