// ExactlyOnce: the results of commands by (client_id, seq), so that a command
// chosen twice (a client's retry with the same Idempotency-Key, a proposal
// re-proposed after a leader change, a forward sent again) takes effect once
// and both copies answer the first result (issue 18).
//
// Which records live how long. A command is recorded with its result, and
// with the session it acted for if that session is live after it (its
// owner). The three classes:
//   - owned: kept while the owner lives (Raft's client sessions), at most
//     records_per_session_max per session. When the session ends, or a
//     newer record of the same session pushes one out, the record moves to
//     one of the two classes below; it is never dropped at once, because a
//     duplicate of, say, a session's creation applied after the session
//     ended would create a second session.
//   - keyed (the client id has kKeyedClientBit, so it came from an
//     Idempotency-Key): kept idempotency_retention_ms of log time, at most
//     idempotency_entries_max of them (the oldest go first beyond that).
//   - anonymous (a fresh id per request): nobody retries these with the same
//     id; their records only stop re-proposals of one request, which happen
//     within seconds. The newest dedup_entries_max are kept.
// Time is log time (the machine's), so every replica keeps and drops the
// same records: the table is part of the replicated state, and of snapshots.
//
// Pure and deterministic; owned by the Machine, on whatever thread applies.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <utility>

#include "base/codec.h"
#include "lockservice/dedup_table.h"
#include "lockservice/types.h"

namespace synod::lockservice::detail {

class SnapshotInput;

class ExactlyOnce {
 public:
  explicit ExactlyOnce(const Limits& limits) : limits_(limits) {}

  const Result* find(const DedupKey& key) const;
  // `key` must not be recorded yet (asserted). `owner`: the live session the
  // command acted for, or kNoSession.
  void record(const DedupKey& key, const Result& result, SessionId owner, int64_t now_ms);
  // A queued request resolved: its record answers the resolution from now on
  // (if the table still holds it).
  void update(const DedupKey& key, const Result& result);
  // The session's records join the keyed or anonymous class.
  void session_ended(SessionId owner, int64_t now_ms);
  // Drops keyed records whose retention has passed.
  void expire(int64_t now_ms);

  size_t size() const { return table_.size(); }
  size_t owned() const { return table_.size() - keyed_.size() - anonymous_.size(); }

  // Snapshots (snapshot.cpp): every class in its order, so that replicas
  // that applied the same entries write the same bytes.
  void write(Writer& w) const;
  // Reads what write() wrote; leaves `in` failed on anything malformed or
  // beyond the limits. `live(session)` says whether an owner exists.
  void read(SnapshotInput& in, const std::function<bool(SessionId)>& live, int64_t now_ms);
  // A version 1 image's table: one list, oldest first, no owners.
  void read_v1(SnapshotInput& in, int64_t now_ms);

 private:
  struct Entry {
    Result result;
    SessionId owner = kNoSession;
  };
  // Into the keyed or anonymous class, trimmed to its bound.
  void release(const DedupKey& key, int64_t now_ms);
  void insert(const DedupKey& key, Result result, SessionId owner);
  void erase(const DedupKey& key);

  const Limits& limits_;
  DedupTable<Entry> table_;
  std::map<SessionId, std::deque<DedupKey>> owned_;  // each session's, oldest first
  std::deque<std::pair<int64_t, DedupKey>> keyed_;   // by expiry (log time), soonest first
  std::deque<DedupKey> anonymous_;                   // oldest first
};

}  // namespace synod::lockservice::detail
