// Api: synod's REST/JSON client API (DESIGN §5) on top of the HTTP server.
//
// It turns requests into lock-service commands and reads, asks the node
// (node_api.h), and turns the answers into JSON. Errors are JSON too:
//   {"error":{"code":"not_leader","message":"...","retryable":true}}
// with the HTTP status that fits (400, 404, 409, 412, 413, 429, 503, ...).
// Every response carries X-Synod-Index (the revision it reflects) and
// X-Synod-Leader (the leader's id, or 0 when none is known).
//
// Threads: handle() runs on an HTTP thread; the node's callbacks come back on
// the owner thread and answer through the Responder, which is thread-safe.
#pragma once

#include "http/node_api.h"
#include "http/server.h"

namespace synod::http {

struct ApiOptions {
  size_t key_bytes_max = 512;
};

class Api {
 public:
  Api(NodeApi& node, ApiOptions options) : node_(node), options_(options) {}
  void handle(Request&& request, Responder respond);

 private:
  NodeApi& node_;
  ApiOptions options_;
};

// The JSON error body every refusal uses, also for requests the server
// refuses before routing (too large, malformed).
Response error_response(int status, std::string_view code, std::string_view message);

}  // namespace synod::http
