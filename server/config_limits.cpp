// The limits an operator may change (issue 14): the client API's (http::Limits)
// and the lock service's (lockservice::Config). Their defaults are the
// structs' own, so --help shows exactly what a node runs with.
//
// The lock service's limits decide results (a put over value_bytes_max fails
// on every replica alike), so every member must run with the same ones: the
// peer handshake carries lockservice::config_digest and refuses a member
// whose digest differs (transport/peer_transport.h). The client API's
// limits are each node's own.
#include <cstdint>
#include <string>

#include "server/config_options.h"

namespace synod::server::detail {

namespace {

// A command is built from one request: its body, its path and query (within
// the header bound), and at most this much of its own framing (ids, tags).
constexpr size_t kCommandOverheadBytesMax = 4 << 10;

void add_http_limits(std::vector<Option>& all) {
  all.push_back(size_option("header-bytes-max", "client API: request line and headers",
                            [](Config& c) -> size_t& { return c.http_limits.header_bytes_max; }));
  all.push_back(size_option("body-bytes-max", "client API: a request body",
                            [](Config& c) -> size_t& { return c.http_limits.body_bytes_max; }));
  all.push_back(size_option("connections-max", "client API: open connections; more are answered 429 and closed",
                            [](Config& c) -> size_t& { return c.http_limits.connections_max; }));
  all.push_back(size_option("waiting-requests-per-address-max",
                            "client API: requests from one client address waiting for their answers (long-polls)",
                            [](Config& c) -> size_t& { return c.http_limits.waiting_requests_per_address_max; }));
  all.push_back(size_option("streams-per-address-max", "client API: open event streams from one client address",
                            [](Config& c) -> size_t& { return c.http_limits.streams_per_address_max; }));
  all.push_back(size_option("unproven-connections-per-address-max",
                            "client API: connections from one address that have not sent a whole request yet",
                            [](Config& c) -> size_t& { return c.http_limits.unproven_connections_per_address_max; }));
  all.push_back(size_option("streams-max", "client API: open event streams (watch, observe); more are answered 429",
                            [](Config& c) -> size_t& { return c.http_limits.streams_max; }));
  all.push_back(size_option("stream-buffer-bytes-max", "client API: unsent bytes of one stream before its reader is cut off",
                            [](Config& c) -> size_t& { return c.http_limits.stream_buffer_bytes_max; }));
  all.push_back(size_option("forwards-max", "client API: requests in flight to the leader; more are answered 429",
                            [](Config& c) -> size_t& { return c.http_limits.forwards_max; }));
  all.push_back(size_option("forward-idle-connections-max", "client API: idle connections kept open to the leader",
                            [](Config& c) -> size_t& { return c.http_limits.forward_idle_connections_max; }));
  all.push_back(size_option("forward-response-bytes-max", "client API: a response from the leader",
                            [](Config& c) -> size_t& { return c.http_limits.forward_response_bytes_max; }));
  all.push_back(int_option("request-ms-max", "client API: a request must arrive whole within this of its first byte",
                           [](Config& c) -> int64_t& { return c.http_limits.request_ms_max; }, 1));
  all.push_back(int_option("response-ms-max", "client API: a response, or one stream write, must be taken within this",
                           [](Config& c) -> int64_t& { return c.http_limits.response_ms_max; }, 1));
  all.push_back(int_option("idle-ms-max", "client API: a keep-alive connection may idle this long",
                           [](Config& c) -> int64_t& { return c.http_limits.idle_ms_max; }, 1));
  all.push_back(int_option("stream-heartbeat-ms", "client API: a comment line on a quiet stream, to find dead readers",
                           [](Config& c) -> int64_t& { return c.http_limits.stream_heartbeat_ms; }, 1));
  all.push_back(int_option("forward-idle-ms-max", "client API: an idle connection to the leader is closed after this",
                           [](Config& c) -> int64_t& { return c.http_limits.forward_idle_ms_max; }, 1));
  all.push_back(int_option("forward-connect-ms-max", "client API: connecting to the leader may take this long",
                           [](Config& c) -> int64_t& { return c.http_limits.forward_connect_ms_max; }, 1));
}

#define SYNOD_SERVICE_LIMIT(flag, field, text)                                                      \
  all.push_back(size_option(flag, "lock service (same on every member): " text,                   \
                            [](Config& c) -> size_t& { return c.service.limits.field; }))

void add_service_limits(std::vector<Option>& all) {
  SYNOD_SERVICE_LIMIT("sessions-max", sessions_max, "sessions");
  SYNOD_SERVICE_LIMIT("locks-max", locks_max, "locks and elections together");
  SYNOD_SERVICE_LIMIT("holders-per-lock-max", holders_per_lock_max, "readers of a shared lock, semaphore permits");
  SYNOD_SERVICE_LIMIT("waiters-per-lock-max", waiters_per_lock_max, "sessions queued for one lock");
  SYNOD_SERVICE_LIMIT("locks-per-session-max", locks_per_session_max, "locks one session holds or waits for");
  SYNOD_SERVICE_LIMIT("keys-max", keys_max, "keys");
  SYNOD_SERVICE_LIMIT("ephemeral-keys-per-session-max", ephemeral_keys_per_session_max, "ephemeral keys of a session");
  SYNOD_SERVICE_LIMIT("key-bytes-max", key_bytes_max, "a key's name");
  SYNOD_SERVICE_LIMIT("name-bytes-max", name_bytes_max, "a lock's or an election's name");
  SYNOD_SERVICE_LIMIT("value-bytes-max", value_bytes_max, "a key's or an election's value");
  SYNOD_SERVICE_LIMIT("store-bytes-max", store_bytes_max, "all key names and values together");
  SYNOD_SERVICE_LIMIT("reason-bytes-max", reason_bytes_max, "a forced release's reason");
  SYNOD_SERVICE_LIMIT("losses-per-session-max", losses_per_session_max, "lock losses a session remembers");
  SYNOD_SERVICE_LIMIT("txn-ops-max", txn_ops_max, "operations in one transaction");
  SYNOD_SERVICE_LIMIT("txn-guards-max", txn_guards_max, "guards in one transaction");
  SYNOD_SERVICE_LIMIT("delete-prefix-keys-max", delete_prefix_keys_max, "keys one recursive delete may remove");
  SYNOD_SERVICE_LIMIT("renewals-per-checkpoint-max", renewals_per_checkpoint_max, "sessions one renewal checkpoint lists");
  SYNOD_SERVICE_LIMIT("events-max", events_max, "the watch window, in events");
  SYNOD_SERVICE_LIMIT("events-bytes-max", events_bytes_max, "the watch window, in name and value bytes");
  SYNOD_SERVICE_LIMIT("dedup-entries-max", dedup_entries_max,
                      "results of requests without an Idempotency-Key remembered (against re-proposals)");
  SYNOD_SERVICE_LIMIT("idempotency-entries-max", idempotency_entries_max, "results of Idempotency-Keys remembered");
  SYNOD_SERVICE_LIMIT("session-records-max", records_per_session_max, "results kept while their session lives");
  SYNOD_SERVICE_LIMIT("list-results-max", list_results_max, "one page of a listing");
  all.push_back(int_option("grant-validity-ms-min",
                           "lock service (same on every member): a grant needs this much session validity left",
                           [](Config& c) -> int64_t& { return c.service.grant_validity_ms_min; }, 0));
  all.push_back(int_option(
      "idempotency-retention-ms",
      "lock service (same on every member): how long (log time) an Idempotency-Key's result "
      "is kept for retries",
      [](Config& c) -> int64_t& { return c.service.limits.idempotency_retention_ms; }, 1));
}
#undef SYNOD_SERVICE_LIMIT

}  // namespace

void add_limit_options(std::vector<Option>& all) {
  add_http_limits(all);
  add_service_limits(all);
}

std::string check_limit_relations(const Config& config) {
  const http::Limits& h = config.http_limits;
  const lockservice::Limits& s = config.service.limits;
  if (h.forward_idle_connections_max > h.forwards_max) {
    return "forward-idle-connections-max (" + std::to_string(h.forward_idle_connections_max) +
           ") must be at most forwards-max (" + std::to_string(h.forwards_max) + ")";
  }
  if (h.forward_idle_ms_max >= h.idle_ms_max) {
    return "forward-idle-ms-max (" + std::to_string(h.forward_idle_ms_max) + ") must be below idle-ms-max (" +
           std::to_string(h.idle_ms_max) + "), or a pooled connection may be one the leader is closing";
  }
  if (h.body_bytes_max < s.value_bytes_max) {
    return "body-bytes-max (" + std::to_string(h.body_bytes_max) + ") must hold value-bytes-max (" +
           std::to_string(s.value_bytes_max) + "), or the largest value can never be written";
  }
  // A slot's value is bounded by batch-bytes-max, which the peer frames and
  // the log cache are sized for; a command larger than that would make a slot
  // of its own past the bound.
  // Each size is at most SIZE_MAX alone: saturate the sum rather than wrap.
  const size_t command_bytes_max =
      h.body_bytes_max > SIZE_MAX - h.header_bytes_max - kCommandOverheadBytesMax
          ? SIZE_MAX
          : h.body_bytes_max + h.header_bytes_max + kCommandOverheadBytesMax;
  if (config.limits.batch_bytes_max < command_bytes_max) {
    return "batch-bytes-max (" + std::to_string(config.limits.batch_bytes_max) +
           ") must hold the largest command, body-bytes-max + header-bytes-max + 4 KiB (" +
           std::to_string(command_bytes_max) + ")";
  }
  if (std::string problem = lockservice::validate(config.service); !problem.empty()) {
    return "lock service limits: " + problem;
  }
  return {};
}

}  // namespace synod::server::detail
