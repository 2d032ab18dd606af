// The PURE decoding step of the client API: method + path + query + body
// (+ the two headers that change meaning) → a typed ApiRequest, or an
// ApiError with the HTTP status and code to answer. No node, no socket, no
// clock: it can be unit-tested and fuzzed alone (test/fuzz/fuzz_http_request.cpp).
// Execution (http/api.cpp) takes an ApiRequest and talks to the node.
//
// What decoding guarantees about an ApiRequest it returns:
//   - keys are absolute lock-service keys that pass the lock service's own
//     rules (lockservice/keys.cpp): "/" then non-empty segments of letters,
//     digits and - . _ ~ : @ + = , — never ".", "..", NUL, a trailing "/";
//     at most key_bytes_max bytes. Lock and election names likewise (the
//     same characters plus "/", not "." or "..", at most name_bytes_max).
//   - every duration is in range, every number fits, every enum is known;
//   - `command` is set exactly for the operations that propose a command.
// The lock service checks all of this again when it applies a command (it
// must: the log is its input); checking here answers bad input with a clear
// code before it costs a log entry, and keeps the codes stable.
//
// Pure functions; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "http/routes.h"
#include "http/text/text.h"
#include "lockservice/command.h"
#include "lockservice/state_machine.h"
#include "lockservice/types.h"

namespace synod::http {

// Bounds that decoding enforces. The defaults are the documented API limits
// (docs/api.md); they must not exceed the lock service's (lockservice/types.h).
struct DecodeLimits {
  size_t key_bytes_max = 512;             // lockservice Limits::key_bytes_max
  size_t name_bytes_max = 256;            // lockservice Limits::name_bytes_max
  size_t value_bytes_max = size_t{64} << 10;  // lockservice Limits::value_bytes_max
  size_t json_depth_max = 8;              // our deepest document (txn) needs 3
  size_t query_params_max = 16;
  size_t idempotency_key_bytes_max = 128;
  int64_t wait_ms_max = 300'000;          // the longest long-poll (Consul: 10 min)
  size_t txn_ops_max = 64;                // lockservice Limits::txn_ops_max
  size_t txn_guards_max = 64;             // lockservice Limits::txn_guards_max
  size_t list_limit_max = 1'000;          // one page of keys or sessions
  size_t list_limit_default = 100;
  int64_t ttl_ms_default = 15'000;        // POST /v1/sessions without a ttl
  size_t znode_path_bytes_max = 4096;     // lockservice ZnodeLimits::path_bytes_max
};

struct ApiError {
  int status = 400;
  std::string code;     // stable, machine-readable: "bad_key", "unknown_field", ...
  std::string message;  // for people
  std::string allow;    // 405: the Allow header
};

// A membership change asked over the API (POST /v1/cluster/members, POST
// /v1/cluster/members/{id}/promote, DELETE /v1/cluster/members/{id}).
struct MemberChange {
  enum class Kind : uint8_t { add, promote, remove };
  Kind kind = Kind::add;
  uint32_t id = 0;          // add: 0 for the cluster's next id
  std::string peer_addr;    // add: host:port
  std::string client_addr;  // add: host:port
};

struct ApiRequest {
  Op op = Op::healthz;
  // The write to propose, for the operations that write (and keep-alive
  // excepted: the leader answers it from memory).
  std::optional<lockservice::Command> command;

  // Identifiers from the path or the query.
  // Key (absolute), lock or election name, watch prefix, or znode path
  // ("/app/config"; checked by execution: lockservice::znode_path_problem).
  std::string name;
  lockservice::SessionId session = lockservice::kNoSession;
  lockservice::FencingToken token = 0;  // lock_validate
  uint32_t member = 0;                  // leader_transfer's target; 0: the most caught-up member
  std::optional<MemberChange> member_change;  // member_add, member_promote, member_remove

  // Read options.
  bool stale = false;    // ?stale: a local read, maybe behind
  bool raw = false;      // ?raw: the value's bytes alone
  bool recurse = false;  // ?recurse: the key and every key under key + "/"
  bool children = false;                       // ?children: a znode's children's names too
  std::optional<lockservice::Revision> index;  // ?index=N: after revision N (long-poll, stream start)
  int64_t wait_ms = 0;   // how long to long-poll for a change or a grant; 0: answer now
  std::string after;     // list paging: keys after this one
  lockservice::SessionId after_session = 0;  // session list paging
  size_t limit = 0;      // list page size
  std::optional<lockservice::Space> watch_space;  // watch: nullopt = every space

  // Request headers that change meaning.
  std::string idempotency_key;  // "" when absent
  bool forwarded = false;       // X-Synod-Forwarded: a node forwarded it; never forward again
};

struct RawRequest {
  std::string_view method;
  std::string_view path;   // before '?', percent-encoded
  std::string_view query;  // after '?', percent-encoded
  std::string_view body;
  std::string_view idempotency_key;  // header value, "" if absent
  std::string_view forwarded;        // X-Synod-Forwarded header value, "" if absent
  std::string_view last_event_id;    // Last-Event-ID header (SSE resume), "" if absent
};

struct Decoded {
  std::optional<ApiRequest> request;
  ApiError error;  // when !request
};

Decoded decode_request(const RawRequest& raw, const DecodeLimits& limits = {});

// ---- helpers shared with execution and the tests ----
// The text codecs (durations, UTF-8, base64, percent-encoding) are in
// http/text/text.h, included above.
// "" if `key` is a valid absolute key within the limit, else why.
std::string key_problem(std::string_view key, size_t key_bytes_max);
std::string name_problem(std::string_view name, size_t name_bytes_max);
// The exactly-once client id an Idempotency-Key stands for: a 64-bit hash,
// never 0. The same key on any node gives the same id, so a retry through
// another node (or a forward) is recognised.
lockservice::ClientId idempotency_client_id(std::string_view key);

// The API's names for a lock's kind and a holder's access, the same words
// the request decoder accepts (shared by the API and the status page).
const char* lock_kind_name(lockservice::LockKind kind);
const char* access_name(lockservice::Access access);

}  // namespace synod::http
