// Configuration of one synod server, from three places with the same
// options: command-line flags, SYNOD_<OPTION> environment variables (the
// flag's name in upper case with '_' for '-', as etcd's ETCD_*), and a config
// file (a line `heartbeat_ms = 50` is the flag `--heartbeat-ms 50`). Flags
// win over the environment, and the environment over the file.
//
// A bad configuration is an operating error with one clear sentence; the
// server prints it and exits with code 2 (issue #4). An unknown SYNOD_*
// variable is only a warning: the project's scripts and tests use a few
// (SYNOD_QUICKSTART_DIR, SYNOD_LOADGEN, ...), and an environment is shared.
//
// Pure parsing; any thread. The option table lives in config_options.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "http/server.h"
#include "lockservice/container_reaper.h"
#include "lockservice/types.h"
#include "paxos/options.h"

namespace synod::server {

struct Endpoint {
  std::string host;
  uint16_t port = 0;

  std::string to_string() const {
    const bool v6 = host.find(':') != std::string::npos;  // an IPv6 literal takes brackets
    return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
  }
  bool operator==(const Endpoint&) const = default;
};

struct Member {
  paxos::NodeId id = paxos::kNoNode;
  Endpoint peer;    // where peers reach it
  Endpoint client;  // where clients reach it (HTTP)
  bool operator==(const Member&) const = default;
};

enum class LogFormat : uint8_t { json, text };

struct Config {
  paxos::NodeId id = paxos::kNoNode;
  std::string cluster_id = "synod";
  // The bootstrap configuration's members, this node included: every member
  // --peers names (all voters), or for a node that joined (server/join.h)
  // the configuration the cluster gave it, of which `learners` only learn.
  // The log's configuration takes over from these (server/membership.h).
  std::vector<Member> members;
  std::vector<paxos::NodeId> learners;
  // A node that joined: the slot that chose the configuration it was given,
  // and its next_id (paxos::Options::bootstrap_chosen_at, bootstrap_next_id).
  uint64_t joined_configuration_slot = 0;
  paxos::NodeId joined_next_id = paxos::kNoNode;
  // --join: members of a running cluster to ask for its configuration when
  // the data directory is empty (server/join.h). Empty: form or rejoin the
  // cluster --peers names.
  std::vector<Endpoint> join;
  // With auth on: the token --join presents (server/join.h). Empty: none.
  std::string join_token_file;
  std::string data_dir;
  Endpoint peer_listen;    // defaults to this member's peer address
  Endpoint client_listen;  // defaults to this member's client address
  // ZooKeeper's client protocol (zkserver/listener.h); off unless given.
  std::optional<Endpoint> zookeeper_listen;
  // How often a leader looks for container znodes to reap
  // (lockservice/container_reaper.h): ZooKeeper's checkIntervalMs.
  int64_t container_check_ms = lockservice::kContainerCheckMsDefault;
  paxos::Timing timing;
  // One slot in flight unless configured otherwise. The core allows a window
  // of W slots; with W = 64 the leader opened a slot per loop turn, each
  // costing an Accept to every peer and a record and a sync on every
  // acceptor. With one slot in flight the commands of a round's wait share
  // the next slot: 16% more lock cycles with 3 nodes and 29% more with 7, on
  // 2 cores (docs/ARCHITECTURE.md, "Where the time goes").
  paxos::Limits limits{.pipeline_window_slots = 1, .auto_promote_within_slots = 1024};
  // The client API's limits (this node's own) and the lock service's (the
  // same on every member: the peer handshake compares their digest).
  http::Limits http_limits;
  lockservice::Config service;
  // Snapshot the state machine and compact the log once this many chosen
  // slots sit above the last snapshot (bounds what a restart replays).
  uint64_t snapshot_after_slots = 100'000;
  // The watch history on disk (server/event_history.h): a revision is kept
  // while it is newer than either bound; both 0 keep no history at all.
  int64_t history_retention_ms = 3'600'000;
  int64_t history_revisions = 1'000'000;
  size_t history_bytes_max = size_t{1} << 30;  // past it, the oldest go regardless
  LogFormat log_format = LogFormat::json;
  std::string log_level = "info";
  // Record the hot-path metrics (commit latency, batch sizes, sync durations,
  // heartbeat gaps, HTTP latencies: docs/observability.md). Off, /metrics
  // still answers, with those histograms empty; the cold-path counters
  // (elections, leader changes, expiries) and the sampled gauges remain.
  bool metrics = true;
  // TLS (config_tls.cpp, tls/files.h): the node's certificate and key, and
  // the CA that signs its peers and clients. All three or none. Without
  // them a listener off loopback is refused unless insecure_plaintext.
  std::string tls_cert;
  std::string tls_key;
  std::string tls_ca;
  bool insecure_plaintext = false;
  // The client port refuses a client without a certificate from tls_ca
  // (etcd's --client-cert-auth); without it a certificate is optional.
  bool client_cert_auth = false;
  // The first root token's file (server/bootstrap_token.h); empty: made in the data directory.
  std::string bootstrap_token_file;
  // An audit line for every grant and release too (command_reports.h).
  bool audit_locks = false;
  // Disaster recovery (server/identity.h): a one-member cluster from this
  // member's data, under a new cluster id.
  bool force_new_cluster = false;
  bool tls() const { return !tls_cert.empty(); }
  // A listener is off loopback (and, without TLS, insecure_plaintext allowed it).
  bool listens_off_loopback() const;
  // Skips fsync. Only for benchmarks that say so: acknowledged writes can be
  // lost on a crash.
  bool unsafe_no_sync_for_benchmarks = false;

  const Member& self() const;
  const Member* member(paxos::NodeId id) const;
  paxos::Options paxos_options(uint64_t random_seed) const;
};

struct ParseResult {
  std::optional<Config> config;
  std::string error;  // set when config is empty
  bool help = false;
  std::vector<std::string> warnings;  // to print whether or not the configuration is good
};

// Parses argv (flags, possibly --config FILE) and `environ`-style variables
// ("NAME=value" strings; null-terminated, may be null) into a validated Config.
ParseResult parse_config(int argc, const char* const* argv, const char* const* environment = nullptr);

// "host:port" → Endpoint; nullopt if malformed.
std::optional<Endpoint> parse_endpoint(const std::string& text);

std::string usage();

}  // namespace synod::server
