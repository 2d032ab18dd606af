// The records of ZooKeeper's client protocol, as kazoo, Curator and zkCli
// send and receive them, each with its jute encoding (zookeeper/jute.h).
//
// They follow zookeeper-jute/src/main/resources/zookeeper.jute of Apache
// ZooKeeper (read at commit 53a78e36, 3.10.0-SNAPSHOT; these records have
// kept their layout since 3.6, which added SetWatches2 and AddWatchRequest),
// field for field and in order, with these from the Java code beside it:
//   ConnectRequest, ConnectResponse  the trailing readOnly is optional, as in
//       ZooKeeper's compat/ProtocolManager: clients before 3.4 neither send
//       nor expect it; std::nullopt means absent, and a response is written
//       with it only when it has one (the server answers as it was asked).
//   MultiRequest, MultiResponse  MultiOperationRecord and MultiResponse: each
//       op or result behind a MultiHeader, ended by {type -1, done, err -1}.
//   Close and ping are a RequestHeader (closeSession, ping) and a ReplyHeader
//       with no record after either: there is no record for them here.
//
// Records: Id, Acl, Stat, ConnectRequest, ConnectResponse, RequestHeader,
// ReplyHeader, MultiHeader, ErrorResponse, CreateRequest, CreateTtlRequest,
// CreateResponse, Create2Response, DeleteRequest, ExistsRequest,
// ExistsResponse, GetDataRequest, GetDataResponse, SetDataRequest,
// SetDataResponse, GetChildrenRequest, GetChildrenResponse,
// GetChildren2Request, GetChildren2Response, GetAclRequest, GetAclResponse,
// SetAclRequest, SetAclResponse, SyncRequest, SyncResponse,
// CheckVersionRequest, MultiRequest, MultiResponse, SetWatches, SetWatches2,
// AddWatchRequest, CheckWatchesRequest, RemoveWatchesRequest, WatcherEvent,
// AuthPacket. Not here yet (no listener needs them so far): ReconfigRequest,
// the SASL records, GetEphemerals, GetAllChildrenNumber, WhoAmI and the
// server-to-server and transaction-log records.
//
// Every ustring and buffer field, and every vector, can be null on the wire
// (length or count -1) and so is a std::optional here: decoding then encoding
// gives back the same bytes, and the server can tell a null path (kazoo
// writes "" as null) from an empty one. The strings inside a vector<ustring>
// are plain std::string: a null one there fails the decode, as no client
// sends one.
//
// Each record has encode(JuteWriter&) and decode(JuteReader&); decode leaves
// the reader after the record, or failed with a sentence naming the field.
// Pure; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "zookeeper/jute.h"

namespace synod::zookeeper {

// ZooDefs.OpCode: a RequestHeader's type.
enum class OpCode : int32_t {
  notification = 0,
  create = 1,
  delete_node = 2,  // ZooKeeper's "delete"
  exists = 3,
  get_data = 4,
  set_data = 5,
  get_acl = 6,
  set_acl = 7,
  get_children = 8,
  sync = 9,
  ping = 11,
  get_children2 = 12,
  check = 13,
  multi = 14,
  create2 = 15,
  reconfig = 16,
  check_watches = 17,
  remove_watches = 18,
  create_container = 19,
  delete_container = 20,
  create_ttl = 21,
  multi_read = 22,
  auth = 100,
  set_watches = 101,
  sasl = 102,
  get_ephemerals = 103,
  get_all_children_number = 104,
  set_watches2 = 105,
  add_watch = 106,
  who_am_i = 107,
  create_session = -10,
  close_session = -11,
  error = -1,
};

// ZooKeeper's name ("getData"); "unknown" for a number that is no OpCode.
std::string_view op_code_name(OpCode code);
// The OpCode with this number, or nullopt: a RequestHeader's type is any int.
std::optional<OpCode> op_code_from(int32_t number);

// KeeperException.Code: a ReplyHeader's err.
enum class Error : int32_t {
  ok = 0,
  system_error = -1,
  runtime_inconsistency = -2,
  data_inconsistency = -3,
  connection_loss = -4,
  marshalling_error = -5,
  unimplemented = -6,
  operation_timeout = -7,
  bad_arguments = -8,
  unknown_session = -12,
  new_config_no_quorum = -13,
  reconfig_in_progress = -14,
  api_error = -100,
  no_node = -101,
  no_auth = -102,
  bad_version = -103,
  no_children_for_ephemerals = -108,
  node_exists = -110,
  not_empty = -111,
  session_expired = -112,
  invalid_callback = -113,
  invalid_acl = -114,
  auth_failed = -115,
  session_moved = -118,
  not_read_only = -119,
  ephemeral_on_local_session = -120,
  no_watcher = -121,
  request_timeout = -122,  // raised by clients only; never on the wire from a server
  reconfig_disabled = -123,
  session_closed_require_sasl_auth = -124,
  quota_exceeded = -125,
  throttled_op = -127,
};

// ZooKeeper's name in lower camel case ("noNode"); "unknown" for a number
// that is no Error.
std::string_view error_name(Error error);
std::optional<Error> error_from(int32_t number);

// The xids ClientCnxn reserves; ordinary requests count up from 1.
inline constexpr int32_t kNotificationXid = -1;  // a WatcherEvent from the server
inline constexpr int32_t kPingXid = -2;
inline constexpr int32_t kAuthXid = -4;
inline constexpr int32_t kSetWatchesXid = -8;

// Watcher.Event.EventType: a WatcherEvent's type.
enum class EventType : int32_t {
  none = -1,
  node_created = 1,
  node_deleted = 2,
  node_data_changed = 3,
  node_children_changed = 4,
  data_watch_removed = 5,
  child_watch_removed = 6,
  persistent_watch_removed = 7,
};

// Watcher.Event.KeeperState: a WatcherEvent's state (the server sends
// syncConnected with every node event).
enum class KeeperState : int32_t {
  disconnected = 0,
  sync_connected = 3,
  auth_failed = 4,
  connected_read_only = 5,
  sasl_authenticated = 6,
  closed = 7,
  expired = -112,
};

// CreateMode: a CreateRequest's flags.
enum class CreateMode : int32_t {
  persistent = 0,
  ephemeral = 1,
  persistent_sequential = 2,
  ephemeral_sequential = 3,
  container = 4,
  persistent_with_ttl = 5,
  persistent_sequential_with_ttl = 6,
};

// ZooDefs.AddWatchModes: an AddWatchRequest's mode.
enum class AddWatchMode : int32_t {
  persistent = 0,
  persistent_recursive = 1,
};

// ZooDefs.Perms: the bits of an ACL's perms.
inline constexpr int32_t kPermRead = 1 << 0;
inline constexpr int32_t kPermWrite = 1 << 1;
inline constexpr int32_t kPermCreate = 1 << 2;
inline constexpr int32_t kPermDelete = 1 << 3;
inline constexpr int32_t kPermAdmin = 1 << 4;
inline constexpr int32_t kPermAll = kPermRead | kPermWrite | kPermCreate | kPermDelete | kPermAdmin;

using Text = std::optional<std::string>;  // a ustring or buffer that may be null
using Strings = std::optional<std::vector<std::string>>;

struct Id {
  Text scheme;  // "world", "digest", "ip", "auth", "sasl", "x509"
  Text id;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const Id&) const = default;
};

struct Acl {
  int32_t perms = 0;  // kPerm* bits
  Id id;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const Acl&) const = default;
};

using Acls = std::optional<std::vector<Acl>>;

struct Stat {
  int64_t czxid = 0;  // the zxid that created the node
  int64_t mzxid = 0;  // the zxid that last changed its data
  int64_t ctime_ms = 0;
  int64_t mtime_ms = 0;
  int32_t version = 0;          // of the data
  int32_t cversion = 0;         // of the children
  int32_t aversion = 0;         // of the ACL
  int64_t ephemeral_owner = 0;  // the owning session for an ephemeral node, else 0
  int32_t data_length = 0;
  int32_t num_children = 0;
  int64_t pzxid = 0;  // the zxid that last changed its children
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const Stat&) const = default;
};

// The first frame a client sends on a connection (there is no RequestHeader
// before it).
struct ConnectRequest {
  int32_t protocol_version = 0;
  int64_t last_zxid_seen = 0;
  int32_t timeout_ms = 0;
  int64_t session_id = 0;  // 0 asks for a new session
  Text passwd;
  std::optional<bool> read_only;  // absent from clients before 3.4
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const ConnectRequest&) const = default;
};

// The first frame the server sends (no ReplyHeader before it). A timeout of
// 0 or less tells the client its session has expired.
struct ConnectResponse {
  int32_t protocol_version = 0;
  int32_t timeout_ms = 0;
  int64_t session_id = 0;
  Text passwd;
  std::optional<bool> read_only;  // written only when set: see the top
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const ConnectResponse&) const = default;
};

// Before every request after the connect.
struct RequestHeader {
  int32_t xid = 0;
  int32_t type = 0;  // an OpCode, but any number may arrive
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const RequestHeader&) const = default;
};

// Before every reply after the connect, and before each WatcherEvent (xid
// kNotificationXid). When err is not ok, no record follows.
struct ReplyHeader {
  int32_t xid = 0;
  int64_t zxid = 0;
  int32_t err = 0;  // an Error
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const ReplyHeader&) const = default;
};

struct MultiHeader {
  int32_t type = 0;
  bool done = false;
  int32_t err = 0;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const MultiHeader&) const = default;
};

// A failed op's result inside a MultiResponse.
struct ErrorResponse {
  int32_t err = 0;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const ErrorResponse&) const = default;
};

// create, create2 and createContainer.
struct CreateRequest {
  Text path;
  Text data;
  Acls acl;
  int32_t flags = 0;  // a CreateMode
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const CreateRequest&) const = default;
};

struct CreateTtlRequest {
  Text path;
  Text data;
  Acls acl;
  int32_t flags = 0;
  int64_t ttl_ms = 0;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const CreateTtlRequest&) const = default;
};

// The reply to create.
struct CreateResponse {
  Text path;  // with its sequence suffix, if any
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const CreateResponse&) const = default;
};

// The reply to create2, createContainer and createTTL.
struct Create2Response {
  Text path;
  Stat stat;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const Create2Response&) const = default;
};

// delete and deleteContainer.
struct DeleteRequest {
  Text path;
  int32_t version = -1;  // -1 matches any
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const DeleteRequest&) const = default;
};

struct ExistsRequest {
  Text path;
  bool watch = false;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const ExistsRequest&) const = default;
};

struct ExistsResponse {
  Stat stat;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const ExistsResponse&) const = default;
};

struct GetDataRequest {
  Text path;
  bool watch = false;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const GetDataRequest&) const = default;
};

struct GetDataResponse {
  Text data;
  Stat stat;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const GetDataResponse&) const = default;
};

struct SetDataRequest {
  Text path;
  Text data;
  int32_t version = -1;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const SetDataRequest&) const = default;
};

struct SetDataResponse {
  Stat stat;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const SetDataResponse&) const = default;
};

struct GetChildrenRequest {
  Text path;
  bool watch = false;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const GetChildrenRequest&) const = default;
};

struct GetChildrenResponse {
  Strings children;  // names, not paths
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const GetChildrenResponse&) const = default;
};

struct GetChildren2Request {
  Text path;
  bool watch = false;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const GetChildren2Request&) const = default;
};

struct GetChildren2Response {
  Strings children;
  Stat stat;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const GetChildren2Response&) const = default;
};

struct GetAclRequest {
  Text path;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const GetAclRequest&) const = default;
};

struct GetAclResponse {
  Acls acl;
  Stat stat;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const GetAclResponse&) const = default;
};

struct SetAclRequest {
  Text path;
  Acls acl;
  int32_t version = -1;  // of the ACL
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const SetAclRequest&) const = default;
};

struct SetAclResponse {
  Stat stat;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const SetAclResponse&) const = default;
};

struct SyncRequest {
  Text path;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const SyncRequest&) const = default;
};

struct SyncResponse {
  Text path;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const SyncResponse&) const = default;
};

// check: only inside a multi.
struct CheckVersionRequest {
  Text path;
  int32_t version = -1;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const CheckVersionRequest&) const = default;
};

// One op of a multi (or multiRead), as MultiOperationRecord allows them.
struct MultiOp {
  // create, create2 and createContainer carry a CreateRequest; createTTL a
  // CreateTtlRequest; delete, setData, check, getChildren and getData their
  // own. Encoding an op whose type and request disagree is a bug (asserted).
  using Request = std::variant<CreateRequest, CreateTtlRequest, DeleteRequest, SetDataRequest, CheckVersionRequest,
                               GetChildrenRequest, GetDataRequest>;
  int32_t type = 0;  // an OpCode
  Request request;
  bool operator==(const MultiOp&) const = default;
};

// multi (14) and multiRead (22). Decoding refuses an op of any other type,
// as ZooKeeper does ("Invalid type of op"); which ops may share one multi is
// the server's question, not the codec's.
struct MultiRequest {
  std::vector<MultiOp> ops;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const MultiRequest&) const = default;
};

// One result of a multi, as MultiResponse writes them.
struct MultiResult {
  // create: CreateResponse; create2: Create2Response; setData:
  // SetDataResponse; getChildren: GetChildrenResponse; getData:
  // GetDataResponse; error (-1): ErrorResponse; delete and check: nothing
  // (std::monostate).
  using Response = std::variant<std::monostate, CreateResponse, Create2Response, SetDataResponse, GetChildrenResponse,
                                GetDataResponse, ErrorResponse>;
  int32_t type = 0;  // an OpCode
  int32_t err = 0;   // the MultiHeader's: the error for type error, else 0
  Response response;
  bool operator==(const MultiResult&) const = default;
};

struct MultiResponse {
  std::vector<MultiResult> results;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const MultiResponse&) const = default;
};

// setWatches (xid kSetWatchesXid): the watches a client held, re-registered
// on a new connection; relative_zxid is the last zxid the client saw.
struct SetWatches {
  int64_t relative_zxid = 0;
  Strings data_watches;
  Strings exist_watches;
  Strings child_watches;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const SetWatches&) const = default;
};

// setWatches2 (3.6 and later): SetWatches with the persistent watches.
struct SetWatches2 {
  int64_t relative_zxid = 0;
  Strings data_watches;
  Strings exist_watches;
  Strings child_watches;
  Strings persistent_watches;
  Strings persistent_recursive_watches;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const SetWatches2&) const = default;
};

struct AddWatchRequest {
  Text path;
  int32_t mode = 0;  // an AddWatchMode
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const AddWatchRequest&) const = default;
};

// checkWatches and removeWatches; type is Watcher.WatcherType (children 1,
// data 2, any 3, persistent 4, persistentRecursive 5).
struct CheckWatchesRequest {
  Text path;
  int32_t type = 0;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const CheckWatchesRequest&) const = default;
};

struct RemoveWatchesRequest {
  Text path;
  int32_t type = 0;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const RemoveWatchesRequest&) const = default;
};

// getEphemerals (3.6): the session's ephemerals whose paths start with
// prefix_path.
struct GetEphemeralsRequest {
  Text prefix_path;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const GetEphemeralsRequest&) const = default;
};

struct GetEphemeralsResponse {
  Strings ephemerals;  // paths
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const GetEphemeralsResponse&) const = default;
};

// getAllChildrenNumber (3.6): every znode below path.
struct GetAllChildrenNumberRequest {
  Text path;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const GetAllChildrenNumberRequest&) const = default;
};

struct GetAllChildrenNumberResponse {
  int32_t total_number = 0;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const GetAllChildrenNumberResponse&) const = default;
};

// whoAmI (3.7): the connection's authenticated identities.
struct ClientInfo {
  Text auth_scheme;
  Text user;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const ClientInfo&) const = default;
};

struct WhoAmIResponse {
  std::optional<std::vector<ClientInfo>> client_info;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const WhoAmIResponse&) const = default;
};

// A watch firing, after a ReplyHeader with xid kNotificationXid.
struct WatcherEvent {
  int32_t type = 0;   // an EventType
  int32_t state = 0;  // a KeeperState
  Text path;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const WatcherEvent&) const = default;
};

// auth (xid kAuthXid): addAuthInfo, such as scheme "digest" with
// "user:password".
struct AuthPacket {
  int32_t type = 0;  // 0 from every client
  Text scheme;
  Text auth;
  void encode(JuteWriter& writer) const;
  void decode(JuteReader& reader);
  bool operator==(const AuthPacket&) const = default;
};

// The record's bytes.
template <typename Record>
std::string encode_record(const Record& record) {
  std::string out;
  JuteWriter writer(out);
  record.encode(writer);
  return out;
}

// Decodes `bytes` as exactly one Record; bytes left after it fail too
// ("3 bytes follow the record"). On failure returns false and, if `error` is
// given, the sentence.
bool check_whole(const JuteReader& reader, std::string* error);
template <typename Record>
bool decode_record(std::string_view bytes, Record& record, std::string* error = nullptr) {
  JuteReader reader(bytes);
  record.decode(reader);
  return check_whole(reader, error);
}

}  // namespace synod::zookeeper
