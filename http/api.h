// Api: synod's REST/JSON client API (DESIGN §5, docs/api.md, docs/openapi.yaml)
// on top of the HTTP server.
//
// It decodes a request (request.h: pure, no node), then executes it against
// the node (node_api.h):
//   - writes and linearizable reads go to the leader: a follower FORWARDS
//     them (once: a forwarded request carries X-Synod-Forwarded, and a node
//     that is not the leader answers it 503 instead of forwarding again);
//   - a node that sees no quorum answers them 503 at once, naming the last
//     leader it knew, and never answers from its own, maybe stale, state;
//   - ?stale reads answer from the local state and say how far behind it
//     may be (X-Synod-Stale-Ms, X-Synod-Lag-Slots);
//   - long-polls (a blocking acquire or campaign, a key or election read
//     after index N) wait on the node's applied revision (wait_for), always
//     with a bound;
//   - streams (watch, observe, a session's events) are server-sent events
//     fed from the local replica's event window.
// Errors are JSON: {"error":{"code":"...","message":"...","retryable":bool}}
// with the HTTP status that fits. Every response carries X-Synod-Index (the
// revision it reflects) and X-Synod-Leader (the leader's id, 0 when none is
// known).
//
// The executor is split by job (api_impl.h lists the files).
//
// Threads: handle() runs on an HTTP thread; the node's callbacks come back on
// the owner thread and answer through the Responder, which is thread-safe.
// The Api must outlive the node's pending callbacks (server/node.cpp: the
// node's queues are destroyed first).
#pragma once

#include <memory>

#include "http/node_api.h"
#include "http/request.h"
#include "http/server.h"

namespace synod::http {

struct ApiOptions {
  DecodeLimits decode;
  // A forwarded request's deadline beyond its own wait: the node's own
  // proposal timeout (server/node.cpp, 10 s) plus a margin.
  int64_t forward_timeout_ms = 12'000;
  // A blocking acquire long-polls this long past its wait, so the lock
  // service's own timeout (in log time, which the keeper's checkpoints move
  // every 500 ms) is what answers it.
  int64_t grant_margin_ms = 2'000;
  int64_t stream_poll_ms = 5'000;        // a stream re-checks a closed client at least this often
  size_t stream_batch_events_max = 256;  // events one stream takes per wake-up
  // With TLS on, a forward goes only to a leader whose certificate names it
  // as the member of this cluster it is (tls/identity.h); 0: TLS off.
  uint64_t tls_cluster_id = 0;
};

class Api {
 public:
  Api(NodeApi& node, ApiOptions options);
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  void handle(Request&& request, Responder respond);

  // The JSON error body every refusal uses, for the requests the server
  // refuses before routing (too large, malformed, too many connections). It
  // carries the X-Synod-Index and X-Synod-Leader this Api last reported. Any
  // thread.
  Response error_response(int status, std::string_view code, std::string_view message) const;
  // error_response as the Server's ErrorBody. The Api must outlive the Server.
  ErrorBody error_body() const;

  struct Impl;  // api_impl.h

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace synod::http
