// Decoding the key-space operations (decode_support.h): put (the body is the
// value), get (one key, raw, or a recursive listing; a long-poll with
// ?index), delete, and the watch stream; and the read of a znode (the
// ZooKeeper namespace, a space apart from the keys). Pure; any thread.
#include "http/decode_support.h"

namespace synod::http::decoding {

void decode_kv_put(Decoding& d) {
  ApiRequest& r = d.request;
  r.name = checked_key(d.param, d.limits, false);
  if (d.raw.body.size() > d.limits.value_bytes_max)
    refuse(413, "value_too_large", "the value is larger than " + std::to_string(d.limits.value_bytes_max) + " bytes");
  ls::Put put;
  put.key = r.name;
  put.value = std::string(d.raw.body);
  put.session = d.in.session("session").value_or(ls::kNoSession);
  put.sequential = d.in.flag("sequential");
  key_guards(d.in, d.limits, put.cas, put.fence);
  if (put.sequential && put.cas) bad("conflicting_parameters", "a sequential put creates a new key: no cas");
  r.command = std::move(put);
}

void decode_kv_get(Decoding& d) {
  ApiRequest& r = d.request;
  r.stale = d.in.flag("stale");
  r.raw = d.in.flag("raw");
  r.recurse = d.in.flag("recurse");
  r.name = checked_key(d.param, d.limits, r.recurse);
  index_param(d.in, r, d.limits, true);
  if (r.raw && r.recurse) bad("conflicting_parameters", "raw reads one key: not with recurse");
  const auto after = d.in.string("after");
  const auto limit = d.in.number("limit");
  if ((after || limit) && !r.recurse) bad("conflicting_parameters", "after and limit page a recurse listing");
  r.after = after.value_or("");
  if (r.after.size() > d.limits.key_bytes_max) bad("key_too_long", "after is longer than a key");
  r.limit = list_limit(limit, d.limits);
}

void decode_kv_delete(Decoding& d) {
  ApiRequest& r = d.request;
  r.name = checked_key(d.param, d.limits, false);
  ls::DeleteKey erase;
  erase.key = r.name;
  erase.prefix = r.recurse = d.in.flag("recurse");
  key_guards(d.in, d.limits, erase.cas, erase.fence);
  r.command = std::move(erase);
}

void decode_watch(Decoding& d) {
  ApiRequest& r = d.request;
  index_param(d.in, r, d.limits, false);
  const auto space = d.in.string("space").value_or("key");
  if (space == "key") r.watch_space = ls::Space::key;
  else if (space == "lock") r.watch_space = ls::Space::lock;
  else if (space == "election") r.watch_space = ls::Space::election;
  else if (space == "session") r.watch_space = ls::Space::session;
  else if (space != "all") bad("bad_value", "space is key, lock, election, session or all");
  const std::string_view param = d.param;
  if (r.watch_space == ls::Space::key) {
    // A prefix may end in '/': /v1/watch/app/ watches what is under /app.
    const bool slash = param.size() > 1 && param.back() == '/';
    r.name = checked_key(slash ? param.substr(0, param.size() - 1) : param, d.limits, true);
    if (slash) r.name += '/';
  } else if (!param.empty()) {
    if (r.watch_space == ls::Space::session || !r.watch_space)
      bad("bad_name", "a watch of sessions or of every space takes no prefix");
    r.name = path_name(param, d.limits, "prefix");
  }
}

void decode_znode_get(Decoding& d) {
  ApiRequest& r = d.request;
  r.stale = d.in.flag("stale");
  r.children = d.in.flag("children");
  // The path as sent, percent-decoded ('/' and %2F alike separate segments):
  // /v1/znodes and /v1/znodes/ name "/".
  auto rest = percent_decode(d.param);
  if (!rest) bad("bad_path", "the znode path has a malformed %-escape");
  r.name = "/" + *rest;
  if (r.name.size() > d.limits.znode_path_bytes_max)
    bad("bad_path", "the znode path is longer than " + std::to_string(d.limits.znode_path_bytes_max) + " bytes");
}

}  // namespace synod::http::decoding
