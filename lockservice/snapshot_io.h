// The pieces of the snapshot codec that more than one section uses: a result
// and a key's stat, written and read, and SnapshotInput, a Reader plus the
// checks of meaning (snapshot.cpp has the format).
//
// Internal to lockservice/. Pure; any thread.
#pragma once

#include <algorithm>
#include <string>
#include <string_view>

#include "base/codec.h"
#include "lockservice/state_machine.h"
#include "lockservice/types.h"

namespace synod::lockservice::detail {

inline void put_stat(Writer& w, const KeyStat& stat) {
  w.varint(stat.create_index);
  w.varint(stat.modify_index);
  w.varint(stat.version);
  w.varint(stat.lock_generation);
  w.varint(stat.owner);
}

inline void put_znode_stat(Writer& w, const ZnodeStat& stat) {
  w.varint(stat.czxid);
  w.varint(stat.mzxid);
  w.svarint(stat.ctime_ms);
  w.svarint(stat.mtime_ms);
  w.svarint(stat.version);
  w.svarint(stat.cversion);
  w.svarint(stat.aversion);
  w.varint(stat.ephemeral_owner);
  w.svarint(stat.data_length);
  w.svarint(stat.num_children);
  w.varint(stat.pzxid);
}

// A result with a znode part (issue 22) sets this bit of its status byte and
// writes the part last: a result without one has the bytes it always had, so
// older images' exactly-once records and older peers' forwards read alike.
inline constexpr uint8_t kResultZnodeBit = 0x80;

inline void put_result(Writer& w, const Result& r) {
  const bool znode = r.zk_error != ZkError::ok || !r.znodes.empty();
  w.u8(static_cast<uint8_t>(static_cast<uint8_t>(r.status) | (znode ? kResultZnodeBit : 0)));
  w.varint(r.revision);
  w.varint(r.session);
  w.varint(r.token);
  w.svarint(r.valid_for_ms);
  w.varint(r.position);
  w.svarint(r.until_ms);
  w.varint(r.count);
  w.bytes(r.key);
  put_stat(w, r.stat);
  w.varint(r.failed_guard);
  w.varint(r.ops.size());
  for (const TxnOpResult& op : r.ops) {
    w.u8(static_cast<uint8_t>(op.status));
    w.bytes(op.key);
    put_stat(w, op.stat);
    w.varint(op.deleted);
  }
  w.bytes(r.message);
  if (!znode) return;
  w.svarint(static_cast<int32_t>(r.zk_error));
  w.varint(r.znodes.size());
  for (const ZnodeOpResult& op : r.znodes) {
    w.svarint(static_cast<int32_t>(op.error));
    w.bytes(op.path);
    put_znode_stat(w, op.stat);
  }
}

// An event without its revision: the snapshot's event window and the watch
// history on disk (encode_event) write it alike.
inline void put_event_body(Writer& w, const Event& e) {
  w.u8(static_cast<uint8_t>(e.type));
  w.u8(static_cast<uint8_t>(e.space));
  w.bytes(e.name);
  w.bytes(e.value);
  w.varint(e.session);
  w.varint(e.token);
}

// Reading: a Reader plus the checks of meaning. Every get leaves the reader
// failed on bad input; the caller checks ok() where it matters.
class SnapshotInput {
 public:
  explicit SnapshotInput(std::string_view bytes) : r(bytes) {}
  Reader r;

  template <typename Enum>
  Enum get_enum(uint8_t max) {
    const uint8_t raw = r.u8();
    if (raw > max) r.fail();
    return static_cast<Enum>(raw > max ? 0 : raw);
  }
  // A count of elements of at least one byte each, and at most `max`.
  size_t count(size_t max) {
    const uint64_t n = r.varint();
    if (n > r.remaining() || n > max) {
      r.fail();
      return 0;
    }
    return static_cast<size_t>(n);
  }
  std::string string(size_t max) {
    const std::string_view bytes = r.bytes();
    if (bytes.size() > max) r.fail();
    return r.ok() ? std::string(bytes) : std::string();
  }
  KeyStat stat() {
    KeyStat stat;
    stat.create_index = r.varint();
    stat.modify_index = r.varint();
    stat.version = r.varint();
    stat.lock_generation = r.varint();
    stat.owner = r.varint();
    return stat;
  }
  ZnodeStat znode_stat() {
    ZnodeStat stat;
    stat.czxid = r.varint();
    stat.mzxid = r.varint();
    stat.ctime_ms = r.svarint();
    stat.mtime_ms = r.svarint();
    stat.version = int32();
    stat.cversion = int32();
    stat.aversion = int32();
    stat.ephemeral_owner = r.varint();
    stat.data_length = int32();
    stat.num_children = int32();
    stat.pzxid = r.varint();
    return stat;
  }
  int32_t int32() {
    const int64_t raw = r.svarint();
    if (raw < INT32_MIN || raw > INT32_MAX) r.fail();
    return r.ok() ? static_cast<int32_t>(raw) : 0;
  }
  ZkError zk_error() {
    const int32_t raw = int32();
    if (!is_zk_error(raw)) r.fail();
    return r.ok() ? static_cast<ZkError>(raw) : ZkError::ok;
  }
  void check(bool condition) {
    if (!condition) r.fail();
  }
};

// `znodes` bounds a result's znode part.
inline Result get_result(SnapshotInput& in, const Limits& limits, const ZnodeLimits& znodes = {}) {
  Result r;
  const uint8_t status = in.r.u8();
  const bool znode = (status & kResultZnodeBit) != 0;
  in.check((status & ~kResultZnodeBit) <= kStatusMax);
  r.status = in.r.ok() ? static_cast<Status>(status & ~kResultZnodeBit) : Status::ok;
  r.revision = in.r.varint();
  r.session = in.r.varint();
  r.token = in.r.varint();
  r.valid_for_ms = in.r.svarint();
  r.position = in.r.varint();
  r.until_ms = in.r.svarint();
  r.count = in.r.varint();
  r.key = in.string(limits.key_bytes_max + 32);
  r.stat = in.stat();
  r.failed_guard = in.r.varint();
  const size_t ops = in.count(limits.txn_ops_max);
  for (size_t i = 0; i < ops && in.r.ok(); ++i) {
    TxnOpResult op;
    op.status = in.get_enum<Status>(kStatusMax);
    op.key = in.string(limits.key_bytes_max + 32);
    op.stat = in.stat();
    op.deleted = in.r.varint();
    r.ops.push_back(std::move(op));
  }
  r.message = in.string(4096);
  if (!znode) return r;
  r.zk_error = in.zk_error();
  const size_t count = in.count(std::max<size_t>(znodes.multi_ops_max, 1));
  for (size_t i = 0; i < count && in.r.ok(); ++i) {
    ZnodeOpResult op;
    op.error = in.zk_error();
    op.path = in.string(znodes.path_bytes_max);
    op.stat = in.znode_stat();
    r.znodes.push_back(std::move(op));
  }
  // A part is written only when it says something.
  in.check(r.zk_error != ZkError::ok || !r.znodes.empty());
  return r;
}

inline void get_event_body(SnapshotInput& in, const Limits& limits, Event& e) {
  e.type = in.get_enum<EventType>(kEventTypeMax);
  e.space = in.get_enum<Space>(kSpaceMax);
  e.name = in.string(std::max(limits.key_bytes_max, limits.name_bytes_max));
  e.value = in.string(std::max(limits.value_bytes_max, limits.reason_bytes_max));
  e.session = in.r.varint();
  e.token = in.r.varint();
}

}  // namespace synod::lockservice::detail
