// limits: every bound and period of the node's owner loop (node.cpp and its
// parts), in one place, each with why it has its value (STYLE §7: put a limit
// on everything, and check how limits relate with static_assert).
//
// These are compile-time constants, not options: none of them changes what a
// client may do, only how long or how much the node waits or keeps. The
// operator's limits (timings, the lock service's limits, HTTP limits) are in
// Config (config.h) and are validated at start.
#pragma once

#include <cstddef>
#include <cstdint>

#include "paxos/options.h"
#include "transport/wire.h"

namespace synod::server {

// ---- the loop -------------------------------------------------------------

// The owner loop's tick: it drives the replica's timers (heartbeats, election
// timeouts, leases) and every deadline below. 2 ms is fine against the
// default 50 ms heartbeat and 300-450 ms election timeout, and costs 500
// wake-ups a second.
inline constexpr int64_t kTickMs = 2;
static_assert(kTickMs * 10 <= paxos::Timing{}.heartbeat_ms, "a tick must be small against a heartbeat");

// How long a proposal or read may wait for its answer before the client is
// told "unknown outcome" (504: retry with the same Idempotency-Key). Long
// enough for several failovers with the default timings, short enough that
// a client never waits on a node that lost its way.
inline constexpr int64_t kRequestMsMax = 10'000;
static_assert(kRequestMsMax >= 10 * paxos::Timing{}.election_timeout_max_ms,
              "a request must outlive a failover or two");

// How long a follower waits for the leader's answer to a command or
// keep-alive it forwarded over the peer link. The leader gives its own
// proposal kRequestMsMax and answers "timeout" then; the follower must not
// give up first, or it would answer "unknown" while the leader still
// answers. (The HTTP forward's deadline, http::ApiOptions, is tied to
// kRequestMsMax too: module_options.cpp asserts it.)
inline constexpr int64_t kForwardMsMax = kRequestMsMax;
// A forward its leader has not answered in this long is sent again
// (PeerServices::resend_forwarded): longer than a commit under load takes,
// so resends are rare, and short beside the client's wait.
inline constexpr int64_t kForwardResendMs = 500;
static_assert(kForwardMsMax >= kRequestMsMax, "a follower must wait at least as long as the leader");

// How long a leader that hands over on SIGTERM waits to see its successor
// lead before it stops anyway. A nominated successor prepares at once, so a
// handover takes a round trip or two; past this the handover failed and the
// cluster elects after an election timeout, as after a crash.
inline constexpr int64_t kHandoverMsMax = 1'000;
static_assert(kHandoverMsMax >= 2 * paxos::Timing{}.election_timeout_max_ms,
              "the successor must have time to win before we give up on it");
static_assert(kHandoverMsMax < kRequestMsMax, "clients waiting on a stopping node hear 'stopping', not a timeout");

// The storage thread writes at most this many queued Readies in one group
// commit (one LMDB transaction, one sync).
inline constexpr size_t kGroupCommitReadiesMax = 1024;

// ---- queues of waiting requests (each entry holds a client's callback) ----

// Proposals that arrive between winning an election and serving, and
// long-polls waiting for a revision, are the driver's: DriverLimits
// (driver.h).
//
// Commands and keep-alives a follower forwarded to the leader and waits on.
inline constexpr size_t kForwardedMax = 1 << 16;

// ---- snapshots ------------------------------------------------------------

// A snapshot travels to a catching-up peer in chunks of at most this many
// bytes, each checked by its CRC32C: a lost or damaged chunk costs one chunk.
inline constexpr uint64_t kSnapshotChunkBytesMax = 1 << 20;
// One chunk with its envelope must fit in a peer frame.
static_assert(kSnapshotChunkBytesMax + 4096 <= transport::WireLimits{}.frame_bytes_max,
              "a snapshot chunk must fit in one peer frame");
// A fetch that hears nothing for this long asks again from the offset it
// holds: a 1 MiB chunk takes far less on any link that can serve a peer.
inline constexpr int64_t kSnapshotChunkWaitMs = 2'000;
static_assert(kSnapshotChunkWaitMs > kTickMs * 100, "the wait is checked once per tick");

// ---- observability (docs/observability.md) --------------------------------

// What peers refused during our candidacy, kept for the "election_lost" line
// and the status page's election record: enough for a few refusals of every
// member, and a log line stays well under a kilobyte.
inline constexpr size_t kRefusalsBytesMax = 400;

// The status page's election table: the last 50 elections and leader changes.
inline constexpr size_t kElectionLogMax = 50;

// The status page's history: one latency summary per window, 10 minutes of
// them. 10 s windows show a failover's spike without hiding it in an average.
inline constexpr int64_t kWindowMs = 10'000;
inline constexpr size_t kWindowsMax = 60;
static_assert(kWindowMs * static_cast<int64_t>(kWindowsMax) == 10 * 60 * 1000, "10 minutes of history");
static_assert(kWindowMs % kTickMs == 0, "windows close on ticks");
// HistogramWindows keeps this many closed windows itself: the node keeps its
// own summaries (above) and reads only the one just closed.
inline constexpr size_t kHistogramWindowsKept = 1;

// The status page's tables (sessions, locks, elections) show this many rows
// at most, so one page costs the owner thread a bounded time.
inline constexpr size_t kStatusRowsMax = 100;
static_assert(kElectionLogMax <= kStatusRowsMax, "the whole election log fits in one table");

// Peer refusals (Reject) are logged once per (peer, refused, reason) per
// second, with the count of the ones not logged: a deposed leader can be
// refused once per Accept. The table is cleared when it holds
// kRefusalLogsMax keys; 3 kinds of refusal × 4 reasons leave room for 21
// peers before it ever is.
inline constexpr int64_t kRefusalLogIntervalUs = 1'000'000;
inline constexpr size_t kRefusalLogsMax = 256;
static_assert(kRefusalLogsMax >= 21 * 3 * 4, "room for every (peer, refused, reason) of a large cluster");
static_assert(kRefusalLogIntervalUs >= kTickMs * 1000 * 100, "at most one line per hundred ticks per key");

// ---- client ids -----------------------------------------------------------

// A client id is node id | boot nonce | counter, so ids are unique across
// nodes and restarts without coordination: 8 bits of node id, 23 of a nonce
// from the clock at start, 32 of a counter. The top bit stays clear: it marks
// the ids of Idempotency-Keys (lockservice::kKeyedClientBit).
inline constexpr unsigned kClientIdNodeBits = 8;
inline constexpr unsigned kClientIdNonceBits = 23;
inline constexpr unsigned kClientIdCounterBits = 32;
static_assert(kClientIdNodeBits + kClientIdNonceBits + kClientIdCounterBits == 63,
              "a client id is 64 bits, the top one kept for keyed ids");

}  // namespace synod::server
