// Decoding a transaction, POST /v1/txn (decode_support.h): a JSON body of
// guards (all must hold) and operations (puts and deletes, applied at once).
// Pure; any thread.
#include "http/decode_support.h"

namespace synod::http::decoding {

namespace {

// The fields one guard kind needs, read from `in`.
class GuardFields {
 public:
  GuardFields(Inputs& in, const DecodeLimits& limits, const std::string& kind) : in_(in), limits_(limits), kind_(kind) {}

  std::string key() {
    const auto name = in_.string("key");
    if (!name) bad("missing_field", "a " + kind_ + " guard needs its key");
    if (name->size() > limits_.key_bytes_max) bad("key_too_long", "the key is too long");
    if (auto problem = key_problem(*name, limits_.key_bytes_max); !problem.empty()) bad("bad_key", problem);
    return *name;
  }
  std::string lock() {
    const auto name = in_.string("lock");
    if (!name) bad("missing_field", "a " + kind_ + " guard needs its lock");
    if (auto problem = name_problem(*name, limits_.name_bytes_max); !problem.empty()) bad("bad_name", problem);
    return *name;
  }
  uint64_t number(const char* field) {
    const auto value = in_.number(field);
    if (!value) bad("missing_field", "a " + kind_ + " guard needs its " + field);
    return *value;
  }
  ls::SessionId session() {
    const auto value = in_.session("session");
    if (!value) bad("missing_field", "a " + kind_ + " guard needs its session");
    return *value;
  }

 private:
  Inputs& in_;
  const DecodeLimits& limits_;
  const std::string& kind_;
};

ls::Guard decode_guard(const json& item, const DecodeLimits& limits) {
  if (!item.is_object()) bad("bad_type", "each guard is an object");
  Inputs in({}, item);
  const auto kind = in.string("kind");
  if (!kind) bad("missing_field", "a guard needs its kind");
  GuardFields field(in, limits, *kind);
  ls::Guard guard;
  if (*kind == "version_equals") {
    guard = {ls::GuardKind::version_equals, field.key(), field.number("version"), ls::kNoSession};
  } else if (*kind == "modify_index_equals") {
    guard = {ls::GuardKind::modify_index_equals, field.key(), field.number("modify_index"), ls::kNoSession};
  } else if (*kind == "exists") {
    guard = {ls::GuardKind::exists, field.key(), 0, ls::kNoSession};
  } else if (*kind == "missing") {
    guard = {ls::GuardKind::missing, field.key(), 0, ls::kNoSession};
  } else if (*kind == "holder") {
    guard.kind = ls::GuardKind::holder;
    guard.name = field.lock();
    guard.session = field.session();
  } else if (*kind == "session_alive") {
    guard.kind = ls::GuardKind::session_alive;
    guard.session = field.session();
  } else if (*kind == "token_current") {
    guard.kind = ls::GuardKind::token_current;
    guard.name = field.lock();
    guard.number = field.number("token");
  } else {
    bad("bad_value", "unknown guard kind '" + *kind + "'");
  }
  in.check_all_used();
  return guard;
}

// An operation's put: value (UTF-8 text) or value_base64 (any bytes).
ls::Put txn_put(Inputs& in, const DecodeLimits& limits) {
  ls::Put put;
  const auto text = in.string("value");
  const auto encoded = in.string("value_base64");
  if (text && encoded) bad("conflicting_parameters", "give value or value_base64, not both");
  if (encoded) {
    auto bytes = base64_decode(*encoded);
    if (!bytes) bad("bad_value", "value_base64 is not valid base64");
    put.value = std::move(*bytes);
  } else {
    put.value = text.value_or("");
  }
  if (put.value.size() > limits.value_bytes_max) refuse(413, "value_too_large", "a value is too large");
  put.session = in.session("session").value_or(ls::kNoSession);
  put.sequential = in.flag("sequential");
  return put;
}

ls::TxnOp decode_txn_op(const json& item, const DecodeLimits& limits) {
  if (!item.is_object()) bad("bad_type", "each operation is an object");
  Inputs in({}, item);
  const auto op = in.string("op");
  if (!op) bad("missing_field", "an operation needs its op: put or delete");
  const auto key = in.string("key");
  if (!key) bad("missing_field", "an operation needs its key");
  if (key->size() > limits.key_bytes_max) bad("key_too_long", "the key is too long");
  if (auto problem = key_problem(*key, limits.key_bytes_max); !problem.empty()) bad("bad_key", problem);
  std::optional<ls::Revision> cas = in.number("cas");
  ls::Fence fence;
  const auto lock = in.string("lock");
  const auto token = in.number("token");
  if (lock.has_value() != token.has_value()) bad("missing_field", "a fenced write needs both lock and token");
  if (lock) {
    if (auto problem = name_problem(*lock, limits.name_bytes_max); !problem.empty()) bad("bad_name", problem);
    fence = ls::Fence{*lock, *token};
  }
  ls::TxnOp result;
  if (*op == "put") {
    ls::Put put = txn_put(in, limits);
    put.key = *key;
    put.cas = cas;
    put.fence = fence;
    result = std::move(put);
  } else if (*op == "delete") {
    ls::DeleteKey erase;
    erase.key = *key;
    erase.cas = cas;
    erase.fence = fence;
    erase.prefix = in.flag("recurse");
    result = std::move(erase);
  } else {
    bad("bad_value", "op is put or delete");
  }
  in.check_all_used();
  return result;
}

}  // namespace

void decode_txn(const json& body, ApiRequest& r, const DecodeLimits& limits) {
  ls::Txn txn;
  for (const auto& [field, value] : body.items()) {
    if (field != "guards" && field != "ops") bad("unknown_field", "unknown field '" + field + "'");
    if (!value.is_array()) bad("bad_type", "'" + field + "' must be an array");
  }
  if (body.contains("guards")) {
    const json& guards = body.at("guards");
    if (guards.size() > limits.txn_guards_max)
      refuse(413, "txn_too_large", "at most " + std::to_string(limits.txn_guards_max) + " guards");
    for (size_t i = 0; i < guards.size(); ++i) txn.guards.push_back(decode_guard(guards.at(i), limits));
  }
  if (body.contains("ops")) {
    const json& ops = body.at("ops");
    if (ops.size() > limits.txn_ops_max)
      refuse(413, "txn_too_large", "at most " + std::to_string(limits.txn_ops_max) + " operations");
    for (size_t i = 0; i < ops.size(); ++i) txn.ops.push_back(decode_txn_op(ops.at(i), limits));
  }
  r.command = std::move(txn);
}

}  // namespace synod::http::decoding
