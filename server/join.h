// synod --join HOST:PORT[,...] (issue 20), as etcd's --initial-cluster-state
// existing: a node added with `synodctl member add` and started with an
// empty data directory asks one of the given members (GET /v1/cluster for
// the cluster's id and name, GET /v1/cluster/members for the
// configuration), must find itself there as a learner at its own peer
// address, and starts with that configuration as its bootstrap one
// (paxos::Options members = voters, learners = learners). It never forms a
// cluster of its own: no answer, no start.
//
// What it learned is kept in the data directory (the file `joined`), so a
// restart, with or without --join, starts from its own log with the same
// bootstrap configuration; the log's configurations then take over.
//
// Blocking; the main thread, before the node's loops run.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "server/config.h"
#include "server/log.h"

namespace synod::server {

struct JoinRecord {
  uint64_t cluster_id = 0;
  std::string cluster_name;
  std::vector<paxos::NodeId> voters;
  std::vector<paxos::NodeId> learners;
  std::vector<Member> members;  // with the addresses the cluster gave
  // The slot that chose that configuration, and its next_id: the log's
  // older configurations are skipped as the node catches up (paxos::Options).
  uint64_t configuration_slot = 0;
  paxos::NodeId next_id = paxos::kNoNode;
  bool operator==(const JoinRecord&) const = default;
};

inline constexpr const char* kJoinFileName = "joined";

// Asks config.join's members in turn. "" and `record`, or why not (every
// member's answer, in one sentence).
std::string ask_to_join(const Config& config, JoinRecord& record, Log& log);

// DATA/joined: written once the answer is good, read at every start. A
// missing file is nullopt; a malformed one an error.
std::string write_join_record(const std::string& dir, const JoinRecord& record);
std::string read_join_record(const std::string& dir, std::optional<JoinRecord>& record);

// `config` as the record says: the members (this node's own addresses
// stay the flags'), for the bootstrap configuration and the fallback
// addresses.
void apply_join_record(const JoinRecord& record, Config& config);

// At start, before the store is opened: with a record of a join, takes the
// members from it; else with --join and a data directory that holds nothing
// (or does not exist), asks to join and keeps the answer (and the cluster's
// identity) in the data directory. A failed join writes nothing, so it can
// be tried again. "" or why the node cannot start.
std::string join_if_asked(Config& config, Log& log);

}  // namespace synod::server
