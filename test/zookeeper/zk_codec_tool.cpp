// zk_codec_tool: synod's ZooKeeper codec (zookeeper/) behind stdin and
// stdout, so that test_kazoo_bytes.py can hold it against kazoo's own
// serializers. A test program, not a shipped one.
//
//   zk_codec_tool decode-requests [--chunk N]   < hex of a client's byte stream
//       Frames the stream (fed to the FrameReader N bytes at a time), decodes
//       the first frame as a ConnectRequest and every later one as a
//       RequestHeader and the record its type names, and prints
//       {"frames": [...], "error": null or the sentence, "buffered": bytes left}.
//       Exit status 0, or 1 when a frame was refused.
//   zk_codec_tool encode-responses              < JSON array of replies
//       Prints the hex of the frames a server would send: {"connect": {...}}
//       is a ConnectResponse, anything else {"xid", "zxid", "err", "op",
//       "response"} a ReplyHeader and, if "response" is there, its record.
//
// JSON keys are zookeeper.jute's field names; ustrings are JSON strings,
// buffers are hex, null is null. Exit status 2 for a usage or input error.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "zookeeper/frame.h"
#include "zookeeper/jute.h"
#include "zookeeper/records.h"

namespace zk = synod::zookeeper;
using nlohmann::json;

namespace {

std::string to_hex(std::string_view bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (char c : bytes) {
    const auto byte = static_cast<unsigned char>(c);
    out.push_back(digits[byte >> 4]);
    out.push_back(digits[byte & 0xf]);
  }
  return out;
}

std::string read_stdin() {
  std::string input;
  char piece[4096];
  size_t got = 0;
  while ((got = std::fread(piece, 1, sizeof piece, stdin)) > 0) input.append(piece, got);
  return input;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string from_hex(std::string_view text) {
  std::string digits;
  for (char c : text) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') continue;
    if (hex_digit(c) < 0) throw std::runtime_error(std::string("not a hex digit: ") + c);
    digits.push_back(c);
  }
  if (digits.size() % 2 != 0) throw std::runtime_error("an odd number of hex digits");
  std::string out;
  for (size_t i = 0; i < digits.size(); i += 2) {
    out.push_back(static_cast<char>(hex_digit(digits[i]) * 16 + hex_digit(digits[i + 1])));
  }
  return out;
}

// ---- records to JSON (requests) ----

json text(const zk::Text& value) { return value ? json(*value) : json(nullptr); }
json bytes(const zk::Text& value) { return value ? json(to_hex(*value)) : json(nullptr); }
json strings(const zk::Strings& value) { return value ? json(*value) : json(nullptr); }

json acls(const zk::Acls& value) {
  if (!value) return nullptr;
  json out = json::array();
  for (const zk::Acl& acl : *value) {
    out.push_back({{"perms", acl.perms}, {"scheme", text(acl.id.scheme)}, {"id", text(acl.id.id)}});
  }
  return out;
}

json path_watch(const zk::Text& path, bool watch) { return {{"path", text(path)}, {"watch", watch}}; }

json request_json(const zk::CreateRequest& r) {
  return {{"path", text(r.path)}, {"data", bytes(r.data)}, {"acl", acls(r.acl)}, {"flags", r.flags}};
}
json request_json(const zk::CreateTtlRequest& r) {
  return {{"path", text(r.path)}, {"data", bytes(r.data)}, {"acl", acls(r.acl)}, {"flags", r.flags}, {"ttl", r.ttl_ms}};
}
json request_json(const zk::DeleteRequest& r) { return {{"path", text(r.path)}, {"version", r.version}}; }
json request_json(const zk::SetDataRequest& r) {
  return {{"path", text(r.path)}, {"data", bytes(r.data)}, {"version", r.version}};
}
json request_json(const zk::CheckVersionRequest& r) { return {{"path", text(r.path)}, {"version", r.version}}; }
json request_json(const zk::GetChildrenRequest& r) { return path_watch(r.path, r.watch); }
json request_json(const zk::GetDataRequest& r) { return path_watch(r.path, r.watch); }

// Decodes the record of request type `type` from `reader` into JSON; false
// if no record of ours goes with that type.
bool decode_request_body(int32_t type, zk::JuteReader& reader, json& out) {
  const auto code = zk::op_code_from(type);
  if (!code) return false;
  switch (*code) {
    case zk::OpCode::create:
    case zk::OpCode::create2:
    case zk::OpCode::create_container: {
      zk::CreateRequest r;
      r.decode(reader);
      out = request_json(r);
      return true;
    }
    case zk::OpCode::create_ttl: {
      zk::CreateTtlRequest r;
      r.decode(reader);
      out = request_json(r);
      return true;
    }
    case zk::OpCode::delete_node: {
      zk::DeleteRequest r;
      r.decode(reader);
      out = request_json(r);
      return true;
    }
    case zk::OpCode::exists: {
      zk::ExistsRequest r;
      r.decode(reader);
      out = path_watch(r.path, r.watch);
      return true;
    }
    case zk::OpCode::get_data: {
      zk::GetDataRequest r;
      r.decode(reader);
      out = request_json(r);
      return true;
    }
    case zk::OpCode::set_data: {
      zk::SetDataRequest r;
      r.decode(reader);
      out = request_json(r);
      return true;
    }
    case zk::OpCode::get_acl: {
      zk::GetAclRequest r;
      r.decode(reader);
      out = {{"path", text(r.path)}};
      return true;
    }
    case zk::OpCode::set_acl: {
      zk::SetAclRequest r;
      r.decode(reader);
      out = {{"path", text(r.path)}, {"acl", acls(r.acl)}, {"version", r.version}};
      return true;
    }
    case zk::OpCode::get_children: {
      zk::GetChildrenRequest r;
      r.decode(reader);
      out = request_json(r);
      return true;
    }
    case zk::OpCode::get_children2: {
      zk::GetChildren2Request r;
      r.decode(reader);
      out = path_watch(r.path, r.watch);
      return true;
    }
    case zk::OpCode::sync: {
      zk::SyncRequest r;
      r.decode(reader);
      out = {{"path", text(r.path)}};
      return true;
    }
    case zk::OpCode::check: {
      zk::CheckVersionRequest r;
      r.decode(reader);
      out = request_json(r);
      return true;
    }
    case zk::OpCode::multi:
    case zk::OpCode::multi_read: {
      zk::MultiRequest r;
      r.decode(reader);
      json ops = json::array();
      for (const zk::MultiOp& op : r.ops) {
        json body = std::visit([](const auto& request) { return request_json(request); }, op.request);
        ops.push_back({{"type", op.type},
                       {"op", std::string(zk::op_code_name(static_cast<zk::OpCode>(op.type)))},
                       {"request", body}});
      }
      out = {{"ops", ops}};
      return true;
    }
    case zk::OpCode::auth: {
      zk::AuthPacket r;
      r.decode(reader);
      out = {{"type", r.type}, {"scheme", text(r.scheme)}, {"auth", bytes(r.auth)}};
      return true;
    }
    case zk::OpCode::set_watches: {
      zk::SetWatches r;
      r.decode(reader);
      out = {{"relativeZxid", r.relative_zxid},
             {"dataWatches", strings(r.data_watches)},
             {"existWatches", strings(r.exist_watches)},
             {"childWatches", strings(r.child_watches)}};
      return true;
    }
    case zk::OpCode::set_watches2: {
      zk::SetWatches2 r;
      r.decode(reader);
      out = {{"relativeZxid", r.relative_zxid},
             {"dataWatches", strings(r.data_watches)},
             {"existWatches", strings(r.exist_watches)},
             {"childWatches", strings(r.child_watches)},
             {"persistentWatches", strings(r.persistent_watches)},
             {"persistentRecursiveWatches", strings(r.persistent_recursive_watches)}};
      return true;
    }
    case zk::OpCode::add_watch: {
      zk::AddWatchRequest r;
      r.decode(reader);
      out = {{"path", text(r.path)}, {"mode", r.mode}};
      return true;
    }
    case zk::OpCode::check_watches: {
      zk::CheckWatchesRequest r;
      r.decode(reader);
      out = {{"path", text(r.path)}, {"type", r.type}};
      return true;
    }
    case zk::OpCode::remove_watches: {
      zk::RemoveWatchesRequest r;
      r.decode(reader);
      out = {{"path", text(r.path)}, {"type", r.type}};
      return true;
    }
    case zk::OpCode::ping:
    case zk::OpCode::close_session:
      out = nullptr;
      return true;
    default:
      return false;
  }
}

int decode_requests(size_t chunk) {
  const std::string stream = from_hex(read_stdin());
  zk::FrameReader frames;
  json out = {{"frames", json::array()}, {"error", nullptr}};
  std::string frame;
  bool connected = false;
  std::string error;
  for (size_t at = 0; at < stream.size() && error.empty(); at += chunk) {
    frames.append(std::string_view(stream).substr(at, chunk));
    while (error.empty() && frames.next(frame)) {
      if (!connected) {
        connected = true;
        zk::ConnectRequest connect;
        if (!zk::decode_record(frame, connect, &error)) break;
        out["frames"].push_back({{"frame", "connect"},
                                 {"protocolVersion", connect.protocol_version},
                                 {"lastZxidSeen", connect.last_zxid_seen},
                                 {"timeOut", connect.timeout_ms},
                                 {"sessionId", connect.session_id},
                                 {"passwd", bytes(connect.passwd)},
                                 {"readOnly", connect.read_only ? json(*connect.read_only) : json(nullptr)}});
        continue;
      }
      zk::JuteReader reader(frame);
      zk::RequestHeader header;
      header.decode(reader);
      json body;
      if (reader.ok() && !decode_request_body(header.type, reader, body)) {
        error = "no request record goes with type " + std::to_string(header.type);
        break;
      }
      if (!zk::check_whole(reader, &error)) break;
      const auto code = zk::op_code_from(header.type);
      out["frames"].push_back({{"xid", header.xid},
                               {"type", header.type},
                               {"op", code ? std::string(zk::op_code_name(*code)) : "unknown"},
                               {"request", body}});
    }
    if (error.empty() && frames.failed()) error = frames.error();
  }
  if (!error.empty()) out["error"] = error;
  out["buffered"] = frames.buffered();
  std::cout << out.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
  return error.empty() ? 0 : 1;
}

// ---- JSON to records (responses) ----

zk::Text text_of(const json& value) {
  if (value.is_null()) return std::nullopt;
  return value.get<std::string>();
}
zk::Text bytes_of(const json& value) {
  if (value.is_null()) return std::nullopt;
  return from_hex(value.get<std::string>());
}
zk::Strings strings_of(const json& value) {
  if (value.is_null()) return std::nullopt;
  return value.get<std::vector<std::string>>();
}
zk::Acls acls_of(const json& value) {
  if (value.is_null()) return std::nullopt;
  std::vector<zk::Acl> out;
  for (const json& item : value) {
    out.push_back(zk::Acl{item.at("perms").get<int32_t>(), zk::Id{text_of(item.at("scheme")), text_of(item.at("id"))}});
  }
  return out;
}

zk::Stat stat_of(const json& value) {
  zk::Stat stat;
  stat.czxid = value.at("czxid").get<int64_t>();
  stat.mzxid = value.at("mzxid").get<int64_t>();
  stat.ctime_ms = value.at("ctime").get<int64_t>();
  stat.mtime_ms = value.at("mtime").get<int64_t>();
  stat.version = value.at("version").get<int32_t>();
  stat.cversion = value.at("cversion").get<int32_t>();
  stat.aversion = value.at("aversion").get<int32_t>();
  stat.ephemeral_owner = value.at("ephemeralOwner").get<int64_t>();
  stat.data_length = value.at("dataLength").get<int32_t>();
  stat.num_children = value.at("numChildren").get<int32_t>();
  stat.pzxid = value.at("pzxid").get<int64_t>();
  return stat;
}

zk::OpCode op_named(const std::string& name) {
  for (int32_t number = -11; number <= 107; ++number) {
    const auto code = zk::op_code_from(number);
    if (code && zk::op_code_name(*code) == name) return *code;
  }
  throw std::runtime_error("no op named " + name);
}

zk::MultiResult::Response multi_result_of(int32_t type, const json& value) {
  switch (static_cast<zk::OpCode>(type)) {
    case zk::OpCode::create:
      return zk::CreateResponse{text_of(value.at("path"))};
    case zk::OpCode::create2:
      return zk::Create2Response{text_of(value.at("path")), stat_of(value.at("stat"))};
    case zk::OpCode::delete_node:
    case zk::OpCode::check:
      return std::monostate{};
    case zk::OpCode::set_data:
      return zk::SetDataResponse{stat_of(value.at("stat"))};
    case zk::OpCode::get_children:
      return zk::GetChildrenResponse{strings_of(value.at("children"))};
    case zk::OpCode::get_data:
      return zk::GetDataResponse{bytes_of(value.at("data")), stat_of(value.at("stat"))};
    case zk::OpCode::error:
      return zk::ErrorResponse{value.at("err").get<int32_t>()};
    default:
      throw std::runtime_error("no multi result of type " + std::to_string(type));
  }
}

// The record after the ReplyHeader of a reply to `op`.
std::string encode_response_body(zk::OpCode op, const json& value) {
  switch (op) {
    case zk::OpCode::create:
      return zk::encode_record(zk::CreateResponse{text_of(value.at("path"))});
    case zk::OpCode::create2:
    case zk::OpCode::create_container:
    case zk::OpCode::create_ttl:
      return zk::encode_record(zk::Create2Response{text_of(value.at("path")), stat_of(value.at("stat"))});
    case zk::OpCode::exists:
      return zk::encode_record(zk::ExistsResponse{stat_of(value.at("stat"))});
    case zk::OpCode::get_data:
      return zk::encode_record(zk::GetDataResponse{bytes_of(value.at("data")), stat_of(value.at("stat"))});
    case zk::OpCode::set_data:
      return zk::encode_record(zk::SetDataResponse{stat_of(value.at("stat"))});
    case zk::OpCode::get_acl:
      return zk::encode_record(zk::GetAclResponse{acls_of(value.at("acl")), stat_of(value.at("stat"))});
    case zk::OpCode::set_acl:
      return zk::encode_record(zk::SetAclResponse{stat_of(value.at("stat"))});
    case zk::OpCode::get_children:
      return zk::encode_record(zk::GetChildrenResponse{strings_of(value.at("children"))});
    case zk::OpCode::get_children2:
      return zk::encode_record(zk::GetChildren2Response{strings_of(value.at("children")), stat_of(value.at("stat"))});
    case zk::OpCode::sync:
      return zk::encode_record(zk::SyncResponse{text_of(value.at("path"))});
    case zk::OpCode::multi:
    case zk::OpCode::multi_read: {
      zk::MultiResponse multi;
      for (const json& result : value.at("results")) {
        const auto type = result.at("type").get<int32_t>();
        multi.results.push_back(zk::MultiResult{type, result.value("err", 0),
                                                multi_result_of(type, result.value("response", json::object()))});
      }
      return zk::encode_record(multi);
    }
    case zk::OpCode::notification:
      return zk::encode_record(zk::WatcherEvent{value.at("type").get<int32_t>(), value.at("state").get<int32_t>(),
                                                text_of(value.at("path"))});
    default:
      throw std::runtime_error("no response record for " + std::string(zk::op_code_name(op)));
  }
}

int encode_responses() {
  const json replies = json::parse(std::cin);
  std::string stream;
  for (const json& reply : replies) {
    if (reply.contains("connect")) {
      const json& c = reply.at("connect");
      zk::ConnectResponse response{c.at("protocolVersion").get<int32_t>(), c.at("timeOut").get<int32_t>(),
                                   c.at("sessionId").get<int64_t>(), bytes_of(c.at("passwd")), std::nullopt};
      if (c.contains("readOnly")) response.read_only = c.at("readOnly").get<bool>();
      stream += zk::frame(zk::encode_record(response));
      continue;
    }
    std::string body = zk::encode_record(zk::ReplyHeader{reply.at("xid").get<int32_t>(),
                                                         reply.at("zxid").get<int64_t>(),
                                                         reply.at("err").get<int32_t>()});
    if (reply.contains("response") && !reply.at("response").is_null()) {
      body += encode_response_body(op_named(reply.at("op").get<std::string>()), reply.at("response"));
    }
    stream += zk::frame(body);
  }
  std::cout << to_hex(stream) << "\n";
  return 0;
}

int usage() {
  std::cerr << "usage: zk_codec_tool decode-requests [--chunk N] < hex\n"
               "       zk_codec_tool encode-responses < json\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  try {
    if (args.size() >= 1 && args[0] == "decode-requests") {
      size_t chunk = SIZE_MAX;
      if (args.size() == 3 && args[1] == "--chunk") {
        chunk = std::stoul(args[2]);
      } else if (args.size() != 1) {
        return usage();
      }
      if (chunk == 0) return usage();
      return decode_requests(chunk);
    }
    if (args.size() == 1 && args[0] == "encode-responses") return encode_responses();
  } catch (const std::exception& e) {
    std::cerr << "zk_codec_tool: " << e.what() << "\n";
    return 2;
  }
  return usage();
}
