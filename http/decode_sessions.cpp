// Decoding the session operations (decode_support.h): create, list, get,
// delete, keep-alive and the session's event stream. Pure; any thread.
#include "http/decode_support.h"

namespace synod::http::decoding {

void decode_session_create(Decoding& d) { d.request.command = new_session(d.in, d.limits, false); }

void decode_session_list(Decoding& d) {
  ApiRequest& r = d.request;
  r.stale = d.in.flag("stale");
  r.after_session = d.in.session("after").value_or(0);
  r.limit = list_limit(d.in.number("limit"), d.limits);
}

void decode_session_get(Decoding& d) {
  d.request.session = path_session(d.param);
  d.request.stale = d.in.flag("stale");
}

void decode_session_delete(Decoding& d) {
  d.request.session = path_session(d.param);
  d.request.command = ls::DeleteSession{d.request.session};
}

// No command: the leader answers a keep-alive from memory.
void decode_session_keepalive(Decoding& d) { d.request.session = path_session(d.param); }

void decode_session_events(Decoding& d) {
  d.request.session = path_session(d.param);
  index_param(d.in, d.request, d.limits, false);
}

}  // namespace synod::http::decoding
