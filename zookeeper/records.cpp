#include "zookeeper/records.h"

#include <type_traits>
#include <utility>

#include "base/assert.h"

namespace synod::zookeeper {

std::string_view op_code_name(OpCode code) {
  switch (code) {
    case OpCode::notification:
      return "notification";
    case OpCode::create:
      return "create";
    case OpCode::delete_node:
      return "delete";
    case OpCode::exists:
      return "exists";
    case OpCode::get_data:
      return "getData";
    case OpCode::set_data:
      return "setData";
    case OpCode::get_acl:
      return "getACL";
    case OpCode::set_acl:
      return "setACL";
    case OpCode::get_children:
      return "getChildren";
    case OpCode::sync:
      return "sync";
    case OpCode::ping:
      return "ping";
    case OpCode::get_children2:
      return "getChildren2";
    case OpCode::check:
      return "check";
    case OpCode::multi:
      return "multi";
    case OpCode::create2:
      return "create2";
    case OpCode::reconfig:
      return "reconfig";
    case OpCode::check_watches:
      return "checkWatches";
    case OpCode::remove_watches:
      return "removeWatches";
    case OpCode::create_container:
      return "createContainer";
    case OpCode::delete_container:
      return "deleteContainer";
    case OpCode::create_ttl:
      return "createTTL";
    case OpCode::multi_read:
      return "multiRead";
    case OpCode::auth:
      return "auth";
    case OpCode::set_watches:
      return "setWatches";
    case OpCode::sasl:
      return "sasl";
    case OpCode::get_ephemerals:
      return "getEphemerals";
    case OpCode::get_all_children_number:
      return "getAllChildrenNumber";
    case OpCode::set_watches2:
      return "setWatches2";
    case OpCode::add_watch:
      return "addWatch";
    case OpCode::who_am_i:
      return "whoAmI";
    case OpCode::create_session:
      return "createSession";
    case OpCode::close_session:
      return "closeSession";
    case OpCode::error:
      return "error";
  }
  return "unknown";
}

std::optional<OpCode> op_code_from(int32_t number) {
  const auto code = static_cast<OpCode>(number);
  if (op_code_name(code) == "unknown") return std::nullopt;
  return code;
}

std::string_view error_name(Error error) {
  switch (error) {
    case Error::ok:
      return "ok";
    case Error::system_error:
      return "systemError";
    case Error::runtime_inconsistency:
      return "runtimeInconsistency";
    case Error::data_inconsistency:
      return "dataInconsistency";
    case Error::connection_loss:
      return "connectionLoss";
    case Error::marshalling_error:
      return "marshallingError";
    case Error::unimplemented:
      return "unimplemented";
    case Error::operation_timeout:
      return "operationTimeout";
    case Error::bad_arguments:
      return "badArguments";
    case Error::unknown_session:
      return "unknownSession";
    case Error::new_config_no_quorum:
      return "newConfigNoQuorum";
    case Error::reconfig_in_progress:
      return "reconfigInProgress";
    case Error::api_error:
      return "apiError";
    case Error::no_node:
      return "noNode";
    case Error::no_auth:
      return "noAuth";
    case Error::bad_version:
      return "badVersion";
    case Error::no_children_for_ephemerals:
      return "noChildrenForEphemerals";
    case Error::node_exists:
      return "nodeExists";
    case Error::not_empty:
      return "notEmpty";
    case Error::session_expired:
      return "sessionExpired";
    case Error::invalid_callback:
      return "invalidCallback";
    case Error::invalid_acl:
      return "invalidACL";
    case Error::auth_failed:
      return "authFailed";
    case Error::session_moved:
      return "sessionMoved";
    case Error::not_read_only:
      return "notReadOnly";
    case Error::ephemeral_on_local_session:
      return "ephemeralOnLocalSession";
    case Error::no_watcher:
      return "noWatcher";
    case Error::request_timeout:
      return "requestTimeout";
    case Error::reconfig_disabled:
      return "reconfigDisabled";
    case Error::session_closed_require_sasl_auth:
      return "sessionClosedRequireSaslAuth";
    case Error::quota_exceeded:
      return "quotaExceeded";
    case Error::throttled_op:
      return "throttledOp";
  }
  return "unknown";
}

std::optional<Error> error_from(int32_t number) {
  const auto error = static_cast<Error>(number);
  if (error_name(error) == "unknown") return std::nullopt;
  return error;
}

bool check_whole(const JuteReader& reader, std::string* error) {
  if (!reader.ok()) {
    if (error) *error = reader.error();
    return false;
  }
  if (!reader.done()) {
    if (error) {
      const size_t left = reader.remaining();
      *error = std::to_string(left) + (left == 1 ? " byte follows" : " bytes follow") + " the record";
    }
    return false;
  }
  return true;
}

namespace {

void encode_strings(const Strings& strings, JuteWriter& writer) {
  writer.vector_count(strings ? std::optional<size_t>(strings->size()) : std::nullopt);
  if (!strings) return;
  for (const std::string& item : *strings) writer.ustring(item);
}

Strings decode_strings(JuteReader& reader, const char* field) {
  const std::optional<size_t> count = reader.vector_count(field, kUstringBytesMin);
  if (!count) return std::nullopt;
  std::vector<std::string> strings;
  strings.reserve(*count);
  for (size_t i = 0; i < *count && reader.ok(); ++i) {
    Text item = reader.ustring(field);
    if (!reader.ok()) break;
    if (!item) {
      reader.fail(std::string(field) + ": item " + std::to_string(i) + " is a null ustring");
      break;
    }
    strings.push_back(std::move(*item));
  }
  if (!reader.ok()) return std::nullopt;
  return strings;
}

void encode_acls(const Acls& acls, JuteWriter& writer) {
  writer.vector_count(acls ? std::optional<size_t>(acls->size()) : std::nullopt);
  if (!acls) return;
  for (const Acl& acl : *acls) acl.encode(writer);
}

Acls decode_acls(JuteReader& reader, const char* field) {
  const std::optional<size_t> count = reader.vector_count(field, kAclBytesMin);
  if (!count) return std::nullopt;
  std::vector<Acl> acls(*count);
  for (Acl& acl : acls) {
    if (!reader.ok()) break;
    acl.decode(reader);
  }
  if (!reader.ok()) return std::nullopt;
  return acls;
}

}  // namespace

void Id::encode(JuteWriter& writer) const {
  writer.ustring(scheme);
  writer.ustring(id);
}
void Id::decode(JuteReader& reader) {
  scheme = reader.ustring("Id.scheme");
  id = reader.ustring("Id.id");
}

void Acl::encode(JuteWriter& writer) const {
  writer.int32(perms);
  id.encode(writer);
}
void Acl::decode(JuteReader& reader) {
  perms = reader.int32("ACL.perms");
  id.decode(reader);
}

void Stat::encode(JuteWriter& writer) const {
  writer.int64(czxid);
  writer.int64(mzxid);
  writer.int64(ctime_ms);
  writer.int64(mtime_ms);
  writer.int32(version);
  writer.int32(cversion);
  writer.int32(aversion);
  writer.int64(ephemeral_owner);
  writer.int32(data_length);
  writer.int32(num_children);
  writer.int64(pzxid);
}
void Stat::decode(JuteReader& reader) {
  czxid = reader.int64("Stat.czxid");
  mzxid = reader.int64("Stat.mzxid");
  ctime_ms = reader.int64("Stat.ctime");
  mtime_ms = reader.int64("Stat.mtime");
  version = reader.int32("Stat.version");
  cversion = reader.int32("Stat.cversion");
  aversion = reader.int32("Stat.aversion");
  ephemeral_owner = reader.int64("Stat.ephemeralOwner");
  data_length = reader.int32("Stat.dataLength");
  num_children = reader.int32("Stat.numChildren");
  pzxid = reader.int64("Stat.pzxid");
}

void ConnectRequest::encode(JuteWriter& writer) const {
  writer.int32(protocol_version);
  writer.int64(last_zxid_seen);
  writer.int32(timeout_ms);
  writer.int64(session_id);
  writer.buffer(passwd);
  if (read_only) writer.boolean(*read_only);
}
void ConnectRequest::decode(JuteReader& reader) {
  protocol_version = reader.int32("ConnectRequest.protocolVersion");
  last_zxid_seen = reader.int64("ConnectRequest.lastZxidSeen");
  timeout_ms = reader.int32("ConnectRequest.timeOut");
  session_id = reader.int64("ConnectRequest.sessionId");
  passwd = reader.buffer("ConnectRequest.passwd");
  // Present when the frame holds another byte (ProtocolManager reads it
  // unless the input has ended).
  read_only = std::nullopt;
  if (reader.remaining() > 0) read_only = reader.boolean("ConnectRequest.readOnly");
}

void ConnectResponse::encode(JuteWriter& writer) const {
  writer.int32(protocol_version);
  writer.int32(timeout_ms);
  writer.int64(session_id);
  writer.buffer(passwd);
  if (read_only) writer.boolean(*read_only);
}
void ConnectResponse::decode(JuteReader& reader) {
  protocol_version = reader.int32("ConnectResponse.protocolVersion");
  timeout_ms = reader.int32("ConnectResponse.timeOut");
  session_id = reader.int64("ConnectResponse.sessionId");
  passwd = reader.buffer("ConnectResponse.passwd");
  read_only = std::nullopt;
  if (reader.remaining() > 0) read_only = reader.boolean("ConnectResponse.readOnly");
}

void RequestHeader::encode(JuteWriter& writer) const {
  writer.int32(xid);
  writer.int32(type);
}
void RequestHeader::decode(JuteReader& reader) {
  xid = reader.int32("RequestHeader.xid");
  type = reader.int32("RequestHeader.type");
}

void ReplyHeader::encode(JuteWriter& writer) const {
  writer.int32(xid);
  writer.int64(zxid);
  writer.int32(err);
}
void ReplyHeader::decode(JuteReader& reader) {
  xid = reader.int32("ReplyHeader.xid");
  zxid = reader.int64("ReplyHeader.zxid");
  err = reader.int32("ReplyHeader.err");
}

void MultiHeader::encode(JuteWriter& writer) const {
  writer.int32(type);
  writer.boolean(done);
  writer.int32(err);
}
void MultiHeader::decode(JuteReader& reader) {
  type = reader.int32("MultiHeader.type");
  done = reader.boolean("MultiHeader.done");
  err = reader.int32("MultiHeader.err");
}

void ErrorResponse::encode(JuteWriter& writer) const { writer.int32(err); }
void ErrorResponse::decode(JuteReader& reader) { err = reader.int32("ErrorResponse.err"); }

void CreateRequest::encode(JuteWriter& writer) const {
  writer.ustring(path);
  writer.buffer(data);
  encode_acls(acl, writer);
  writer.int32(flags);
}
void CreateRequest::decode(JuteReader& reader) {
  path = reader.ustring("CreateRequest.path");
  data = reader.buffer("CreateRequest.data");
  acl = decode_acls(reader, "CreateRequest.acl");
  flags = reader.int32("CreateRequest.flags");
}

void CreateTtlRequest::encode(JuteWriter& writer) const {
  writer.ustring(path);
  writer.buffer(data);
  encode_acls(acl, writer);
  writer.int32(flags);
  writer.int64(ttl_ms);
}
void CreateTtlRequest::decode(JuteReader& reader) {
  path = reader.ustring("CreateTTLRequest.path");
  data = reader.buffer("CreateTTLRequest.data");
  acl = decode_acls(reader, "CreateTTLRequest.acl");
  flags = reader.int32("CreateTTLRequest.flags");
  ttl_ms = reader.int64("CreateTTLRequest.ttl");
}

void CreateResponse::encode(JuteWriter& writer) const { writer.ustring(path); }
void CreateResponse::decode(JuteReader& reader) { path = reader.ustring("CreateResponse.path"); }

void Create2Response::encode(JuteWriter& writer) const {
  writer.ustring(path);
  stat.encode(writer);
}
void Create2Response::decode(JuteReader& reader) {
  path = reader.ustring("Create2Response.path");
  stat.decode(reader);
}

void DeleteRequest::encode(JuteWriter& writer) const {
  writer.ustring(path);
  writer.int32(version);
}
void DeleteRequest::decode(JuteReader& reader) {
  path = reader.ustring("DeleteRequest.path");
  version = reader.int32("DeleteRequest.version");
}

void ExistsRequest::encode(JuteWriter& writer) const {
  writer.ustring(path);
  writer.boolean(watch);
}
void ExistsRequest::decode(JuteReader& reader) {
  path = reader.ustring("ExistsRequest.path");
  watch = reader.boolean("ExistsRequest.watch");
}

void ExistsResponse::encode(JuteWriter& writer) const { stat.encode(writer); }
void ExistsResponse::decode(JuteReader& reader) { stat.decode(reader); }

void GetDataRequest::encode(JuteWriter& writer) const {
  writer.ustring(path);
  writer.boolean(watch);
}
void GetDataRequest::decode(JuteReader& reader) {
  path = reader.ustring("GetDataRequest.path");
  watch = reader.boolean("GetDataRequest.watch");
}

void GetDataResponse::encode(JuteWriter& writer) const {
  writer.buffer(data);
  stat.encode(writer);
}
void GetDataResponse::decode(JuteReader& reader) {
  data = reader.buffer("GetDataResponse.data");
  stat.decode(reader);
}

void SetDataRequest::encode(JuteWriter& writer) const {
  writer.ustring(path);
  writer.buffer(data);
  writer.int32(version);
}
void SetDataRequest::decode(JuteReader& reader) {
  path = reader.ustring("SetDataRequest.path");
  data = reader.buffer("SetDataRequest.data");
  version = reader.int32("SetDataRequest.version");
}

void SetDataResponse::encode(JuteWriter& writer) const { stat.encode(writer); }
void SetDataResponse::decode(JuteReader& reader) { stat.decode(reader); }

void GetChildrenRequest::encode(JuteWriter& writer) const {
  writer.ustring(path);
  writer.boolean(watch);
}
void GetChildrenRequest::decode(JuteReader& reader) {
  path = reader.ustring("GetChildrenRequest.path");
  watch = reader.boolean("GetChildrenRequest.watch");
}

void GetChildrenResponse::encode(JuteWriter& writer) const { encode_strings(children, writer); }
void GetChildrenResponse::decode(JuteReader& reader) {
  children = decode_strings(reader, "GetChildrenResponse.children");
}

void GetChildren2Request::encode(JuteWriter& writer) const {
  writer.ustring(path);
  writer.boolean(watch);
}
void GetChildren2Request::decode(JuteReader& reader) {
  path = reader.ustring("GetChildren2Request.path");
  watch = reader.boolean("GetChildren2Request.watch");
}

void GetChildren2Response::encode(JuteWriter& writer) const {
  encode_strings(children, writer);
  stat.encode(writer);
}
void GetChildren2Response::decode(JuteReader& reader) {
  children = decode_strings(reader, "GetChildren2Response.children");
  stat.decode(reader);
}

void GetAclRequest::encode(JuteWriter& writer) const { writer.ustring(path); }
void GetAclRequest::decode(JuteReader& reader) { path = reader.ustring("GetACLRequest.path"); }

void GetAclResponse::encode(JuteWriter& writer) const {
  encode_acls(acl, writer);
  stat.encode(writer);
}
void GetAclResponse::decode(JuteReader& reader) {
  acl = decode_acls(reader, "GetACLResponse.acl");
  stat.decode(reader);
}

void SetAclRequest::encode(JuteWriter& writer) const {
  writer.ustring(path);
  encode_acls(acl, writer);
  writer.int32(version);
}
void SetAclRequest::decode(JuteReader& reader) {
  path = reader.ustring("SetACLRequest.path");
  acl = decode_acls(reader, "SetACLRequest.acl");
  version = reader.int32("SetACLRequest.version");
}

void SetAclResponse::encode(JuteWriter& writer) const { stat.encode(writer); }
void SetAclResponse::decode(JuteReader& reader) { stat.decode(reader); }

void GetEphemeralsRequest::encode(JuteWriter& writer) const { writer.ustring(prefix_path); }
void GetEphemeralsRequest::decode(JuteReader& reader) {
  prefix_path = reader.ustring("GetEphemeralsRequest.prefixPath");
}

void GetEphemeralsResponse::encode(JuteWriter& writer) const { encode_strings(ephemerals, writer); }
void GetEphemeralsResponse::decode(JuteReader& reader) {
  ephemerals = decode_strings(reader, "GetEphemeralsResponse.ephemerals");
}

void GetAllChildrenNumberRequest::encode(JuteWriter& writer) const { writer.ustring(path); }
void GetAllChildrenNumberRequest::decode(JuteReader& reader) {
  path = reader.ustring("GetAllChildrenNumberRequest.path");
}

void GetAllChildrenNumberResponse::encode(JuteWriter& writer) const { writer.int32(total_number); }
void GetAllChildrenNumberResponse::decode(JuteReader& reader) {
  total_number = reader.int32("GetAllChildrenNumberResponse.totalNumber");
}

void ClientInfo::encode(JuteWriter& writer) const {
  writer.ustring(auth_scheme);
  writer.ustring(user);
}
void ClientInfo::decode(JuteReader& reader) {
  auth_scheme = reader.ustring("ClientInfo.authScheme");
  user = reader.ustring("ClientInfo.user");
}

void WhoAmIResponse::encode(JuteWriter& writer) const {
  writer.vector_count(client_info ? std::optional<size_t>(client_info->size()) : std::nullopt);
  if (client_info) {
    for (const auto& info : *client_info) info.encode(writer);
  }
}
void WhoAmIResponse::decode(JuteReader& reader) {
  // Each ClientInfo is at least two string lengths.
  const auto count = reader.vector_count("WhoAmIResponse.clientInfo", 8);
  if (!count) {
    client_info.reset();
    return;
  }
  client_info.emplace();
  for (size_t i = 0; i < *count && reader.ok(); ++i) {
    ClientInfo info;
    info.decode(reader);
    client_info->push_back(std::move(info));
  }
}

void SyncRequest::encode(JuteWriter& writer) const { writer.ustring(path); }
void SyncRequest::decode(JuteReader& reader) { path = reader.ustring("SyncRequest.path"); }

void SyncResponse::encode(JuteWriter& writer) const { writer.ustring(path); }
void SyncResponse::decode(JuteReader& reader) { path = reader.ustring("SyncResponse.path"); }

void CheckVersionRequest::encode(JuteWriter& writer) const {
  writer.ustring(path);
  writer.int32(version);
}
void CheckVersionRequest::decode(JuteReader& reader) {
  path = reader.ustring("CheckVersionRequest.path");
  version = reader.int32("CheckVersionRequest.version");
}

namespace {

// The request record an op of this type carries (MultiOperationRecord's
// switch), or nullopt for a type that may not appear in a multi.
std::optional<MultiOp::Request> multi_request_for(int32_t type) {
  switch (static_cast<OpCode>(type)) {
    case OpCode::create:
    case OpCode::create2:
    case OpCode::create_container:
      return CreateRequest{};
    case OpCode::create_ttl:
      return CreateTtlRequest{};
    case OpCode::delete_node:
      return DeleteRequest{};
    case OpCode::set_data:
      return SetDataRequest{};
    case OpCode::check:
      return CheckVersionRequest{};
    case OpCode::get_children:
      return GetChildrenRequest{};
    case OpCode::get_data:
      return GetDataRequest{};
    default:
      return std::nullopt;
  }
}

// The response record a result of this type carries (MultiResponse's
// switch): monostate for delete and check, nullopt for a type that may not
// appear.
std::optional<MultiResult::Response> multi_response_for(int32_t type) {
  switch (static_cast<OpCode>(type)) {
    case OpCode::create:
      return CreateResponse{};
    case OpCode::create2:
      return Create2Response{};
    case OpCode::delete_node:
    case OpCode::check:
      return std::monostate{};
    case OpCode::set_data:
      return SetDataResponse{};
    case OpCode::get_children:
      return GetChildrenResponse{};
    case OpCode::get_data:
      return GetDataResponse{};
    case OpCode::error:
      return ErrorResponse{};
    default:
      return std::nullopt;
  }
}

const MultiHeader kMultiEnd{-1, true, -1};

}  // namespace

void MultiRequest::encode(JuteWriter& writer) const {
  for (const MultiOp& op : ops) {
    const std::optional<MultiOp::Request> expected = multi_request_for(op.type);
    SYNOD_ASSERT_MSG(expected && expected->index() == op.request.index(), "a multi op whose type and request disagree");
    MultiHeader{op.type, false, -1}.encode(writer);
    std::visit([&](const auto& request) { request.encode(writer); }, op.request);
  }
  kMultiEnd.encode(writer);
}

void MultiRequest::decode(JuteReader& reader) {
  ops.clear();
  MultiHeader header;
  header.decode(reader);
  // Each op takes at least its 9-byte header, so the input bounds the loop.
  while (reader.ok() && !header.done) {
    std::optional<MultiOp::Request> request = multi_request_for(header.type);
    if (!request) {
      reader.fail("MultiHeader.type: an op of type " + std::to_string(header.type) + " (" +
                  std::string(op_code_name(static_cast<OpCode>(header.type))) + ") may not appear in a multi");
      break;
    }
    std::visit([&](auto& record) { record.decode(reader); }, *request);
    if (!reader.ok()) break;
    ops.push_back(MultiOp{header.type, std::move(*request)});
    header.decode(reader);
  }
  if (!reader.ok()) ops.clear();
}

void MultiResponse::encode(JuteWriter& writer) const {
  for (const MultiResult& result : results) {
    const std::optional<MultiResult::Response> expected = multi_response_for(result.type);
    SYNOD_ASSERT_MSG(expected && expected->index() == result.response.index(),
                     "a multi result whose type and response disagree");
    MultiHeader{result.type, false, result.err}.encode(writer);
    std::visit(
        [&](const auto& response) {
          if constexpr (!std::is_same_v<std::decay_t<decltype(response)>, std::monostate>) response.encode(writer);
        },
        result.response);
  }
  kMultiEnd.encode(writer);
}

void MultiResponse::decode(JuteReader& reader) {
  results.clear();
  MultiHeader header;
  header.decode(reader);
  while (reader.ok() && !header.done) {
    std::optional<MultiResult::Response> response = multi_response_for(header.type);
    if (!response) {
      reader.fail("MultiHeader.type: a result of type " + std::to_string(header.type) + " (" +
                  std::string(op_code_name(static_cast<OpCode>(header.type))) + ") may not appear in a multi");
      break;
    }
    std::visit(
        [&](auto& record) {
          if constexpr (!std::is_same_v<std::decay_t<decltype(record)>, std::monostate>) record.decode(reader);
        },
        *response);
    if (!reader.ok()) break;
    results.push_back(MultiResult{header.type, header.err, std::move(*response)});
    header.decode(reader);
  }
  if (!reader.ok()) results.clear();
}

void SetWatches::encode(JuteWriter& writer) const {
  writer.int64(relative_zxid);
  encode_strings(data_watches, writer);
  encode_strings(exist_watches, writer);
  encode_strings(child_watches, writer);
}
void SetWatches::decode(JuteReader& reader) {
  relative_zxid = reader.int64("SetWatches.relativeZxid");
  data_watches = decode_strings(reader, "SetWatches.dataWatches");
  exist_watches = decode_strings(reader, "SetWatches.existWatches");
  child_watches = decode_strings(reader, "SetWatches.childWatches");
}

void SetWatches2::encode(JuteWriter& writer) const {
  writer.int64(relative_zxid);
  encode_strings(data_watches, writer);
  encode_strings(exist_watches, writer);
  encode_strings(child_watches, writer);
  encode_strings(persistent_watches, writer);
  encode_strings(persistent_recursive_watches, writer);
}
void SetWatches2::decode(JuteReader& reader) {
  relative_zxid = reader.int64("SetWatches2.relativeZxid");
  data_watches = decode_strings(reader, "SetWatches2.dataWatches");
  exist_watches = decode_strings(reader, "SetWatches2.existWatches");
  child_watches = decode_strings(reader, "SetWatches2.childWatches");
  persistent_watches = decode_strings(reader, "SetWatches2.persistentWatches");
  persistent_recursive_watches = decode_strings(reader, "SetWatches2.persistentRecursiveWatches");
}

void AddWatchRequest::encode(JuteWriter& writer) const {
  writer.ustring(path);
  writer.int32(mode);
}
void AddWatchRequest::decode(JuteReader& reader) {
  path = reader.ustring("AddWatchRequest.path");
  mode = reader.int32("AddWatchRequest.mode");
}

void CheckWatchesRequest::encode(JuteWriter& writer) const {
  writer.ustring(path);
  writer.int32(type);
}
void CheckWatchesRequest::decode(JuteReader& reader) {
  path = reader.ustring("CheckWatchesRequest.path");
  type = reader.int32("CheckWatchesRequest.type");
}

void RemoveWatchesRequest::encode(JuteWriter& writer) const {
  writer.ustring(path);
  writer.int32(type);
}
void RemoveWatchesRequest::decode(JuteReader& reader) {
  path = reader.ustring("RemoveWatchesRequest.path");
  type = reader.int32("RemoveWatchesRequest.type");
}

void WatcherEvent::encode(JuteWriter& writer) const {
  writer.int32(type);
  writer.int32(state);
  writer.ustring(path);
}
void WatcherEvent::decode(JuteReader& reader) {
  type = reader.int32("WatcherEvent.type");
  state = reader.int32("WatcherEvent.state");
  path = reader.ustring("WatcherEvent.path");
}

void AuthPacket::encode(JuteWriter& writer) const {
  writer.int32(type);
  writer.ustring(scheme);
  writer.buffer(auth);
}
void AuthPacket::decode(JuteReader& reader) {
  type = reader.int32("AuthPacket.type");
  scheme = reader.ustring("AuthPacket.scheme");
  auth = reader.buffer("AuthPacket.auth");
}

}  // namespace synod::zookeeper
