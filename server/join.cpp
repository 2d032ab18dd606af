#include "server/join.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "http/client.h"
#include "http/client_tls.h"
#include "persistence/cluster_identity.h"

namespace synod::server {

namespace {

using json = nlohmann::json;

std::optional<uint64_t> parse_hex(const std::string& text) {
  if (text.empty() || text.size() > 16) return std::nullopt;
  uint64_t value = 0;
  for (char c : text) {
    int digit = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
    if (digit < 0) return std::nullopt;
    value = value << 4 | static_cast<uint64_t>(digit);
  }
  return value;
}

// One member's answer, or why it gave none.
std::string ask_one(const Config& config, const Endpoint& endpoint, const http::TlsContext& tls,
                    const std::vector<std::pair<std::string, std::string>>& headers, JoinRecord& record) {
  http::Client client(endpoint.to_string(), 5'000, tls);
  const auto cluster = client.request("GET", "/v1/cluster", {}, headers);
  if (cluster.status != 200) {
    return cluster.status == 0 ? cluster.error : "GET /v1/cluster answered " + std::to_string(cluster.status);
  }
  const auto members = client.request("GET", "/v1/cluster/members", {}, headers);
  if (members.status != 200) {
    return members.status == 0
               ? members.error
               : "GET /v1/cluster/members answered " + std::to_string(members.status) + ": " + members.body;
  }
  try {
    const json view = json::parse(cluster.body);
    const json list = json::parse(members.body);
    const auto id = parse_hex(view.value("cluster_id", std::string()));
    if (!id || *id == 0) return "its /v1/cluster names no cluster_id (a member older than --join)";
    record.cluster_id = *id;
    record.cluster_name = view.value("cluster_name", std::string());
    if (record.cluster_name != config.cluster_id) {
      return "it belongs to cluster '" + record.cluster_name + "', and this node is started with --cluster-id " +
             config.cluster_id;
    }
    record.voters.clear();
    record.learners.clear();
    record.members.clear();
    record.configuration_slot = list.value("configuration_slot", uint64_t{0});
    record.next_id = list.value("next_id", paxos::NodeId{0});
    for (const json& m : list.at("members")) {
      Member member;
      member.id = m.at("id").get<paxos::NodeId>();
      const auto peer = parse_endpoint(m.at("peer_addr").get<std::string>());
      const auto client_addr = parse_endpoint(m.at("client_addr").get<std::string>());
      if (!peer || !client_addr)
        return "it gave member " + std::to_string(member.id) + " an address that is not HOST:PORT";
      member.peer = *peer;
      member.client = *client_addr;
      (m.at("role").get<std::string>() == "voter" ? record.voters : record.learners).push_back(member.id);
      record.members.push_back(member);
    }
  } catch (const json::exception& e) {
    return std::string("its answer is not what a member says: ") + e.what();
  }
  std::sort(record.voters.begin(), record.voters.end());
  std::sort(record.learners.begin(), record.learners.end());
  const std::string self = "node " + std::to_string(config.id);
  if (std::binary_search(record.voters.begin(), record.voters.end(), config.id)) {
    return self + " is a voter there already: a voter's lost data is repaired by starting it without --join";
  }
  if (!std::binary_search(record.learners.begin(), record.learners.end(), config.id)) {
    return self + " is not a member: add it first (synodctl member add --peer-addr " + config.self().peer.to_string() +
           " --client-addr " + config.self().client.to_string() + " --id " + std::to_string(config.id) + ")";
  }
  for (const auto& m : record.members) {
    if (m.id == config.id && !(m.peer == config.self().peer)) {
      return "the cluster has " + self + " at peer address " + m.peer.to_string() + ", this node's flags say " +
             config.self().peer.to_string();
    }
  }
  return {};
}

}  // namespace

std::string ask_to_join(const Config& config, JoinRecord& record, Log& log) {
  http::TlsContext tls;
  if (config.tls()) {
    std::string error;
    tls = http::client_tls_context(config.tls_ca, config.tls_cert, config.tls_key, error);
    if (!tls) return "--join: " + error;
  }
  // With auth on, the questions need admin on the cluster space: a token from a file (never a flag's value,
  // which the process list shows).
  std::vector<std::pair<std::string, std::string>> headers;
  if (!config.join_token_file.empty()) {
    std::ifstream file(config.join_token_file);
    std::string token;
    if (!file || !std::getline(file, token)) return "--join-token-file: cannot read " + config.join_token_file;
    while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
    if (token.empty()) return "--join-token-file: " + config.join_token_file + " holds no token";
    headers.emplace_back("authorization", "Bearer " + token);
  }
  std::string problems;
  for (const auto& endpoint : config.join) {
    const std::string problem = ask_one(config, endpoint, tls, headers, record);
    if (problem.empty()) {
      log.write(Level::info, "joining",
                {{"asked", endpoint.to_string()},
                 {"cluster_id", persistence::cluster_id_hex(record.cluster_id)},
                 {"voters", static_cast<uint64_t>(record.voters.size())},
                 {"learners", static_cast<uint64_t>(record.learners.size())}});
      return {};
    }
    problems += (problems.empty() ? "" : "; ") + endpoint.to_string() + ": " + problem;
  }
  return "--join: no member let node " + std::to_string(config.id) + " join (" + problems + ")";
}

std::string write_join_record(const std::string& dir, const JoinRecord& record) {
  const std::string path = dir + "/" + kJoinFileName;
  std::ostringstream out;
  out << "cluster " << persistence::cluster_id_hex(record.cluster_id) << " " << record.cluster_name << "\n";
  out << "voters";
  for (auto id : record.voters) out << " " << id;
  out << "\nlearners";
  for (auto id : record.learners) out << " " << id;
  out << "\nconfiguration_slot " << record.configuration_slot << "\nnext_id " << record.next_id << "\n";
  for (const auto& m : record.members) {
    out << "member " << m.id << " " << m.peer.to_string() << " " << m.client.to_string() << "\n";
  }
  const std::string temporary = path + ".new";
  {
    std::ofstream file(temporary, std::ios::trunc);
    file << out.str();
    file.flush();
    if (!file) return "cannot write " + temporary;
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) return "cannot rename " + temporary + " to " + path;
  return {};
}

std::string read_join_record(const std::string& dir, std::optional<JoinRecord>& record) {
  const std::string path = dir + "/" + kJoinFileName;
  std::ifstream in(path);
  record.reset();
  if (!in) return {};
  JoinRecord read;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream words(line);
    std::string kind;
    words >> kind;
    if (kind == "cluster") {
      std::string hex;
      words >> hex >> read.cluster_name;
      const auto id = parse_hex(hex);
      if (!id) return path + " is malformed: '" + line + "'";
      read.cluster_id = *id;
    } else if (kind == "voters" || kind == "learners") {
      paxos::NodeId id = 0;
      while (words >> id) (kind == "voters" ? read.voters : read.learners).push_back(id);
    } else if (kind == "configuration_slot") {
      if (!(words >> read.configuration_slot)) return path + " is malformed: '" + line + "'";
    } else if (kind == "next_id") {
      if (!(words >> read.next_id)) return path + " is malformed: '" + line + "'";
    } else if (kind == "member") {
      Member member;
      std::string peer, client;
      words >> member.id >> peer >> client;
      const auto peer_endpoint = parse_endpoint(peer);
      const auto client_endpoint = parse_endpoint(client);
      if (!peer_endpoint || !client_endpoint) return path + " is malformed: '" + line + "'";
      member.peer = *peer_endpoint;
      member.client = *client_endpoint;
      read.members.push_back(member);
    } else if (!kind.empty()) {
      return path + " is malformed: '" + line + "'";
    }
  }
  if (read.voters.empty()) return path + " names no voter";
  record = std::move(read);
  return {};
}

void apply_join_record(const JoinRecord& record, Config& config) {
  const Member self = config.self();
  config.members = record.members;
  for (auto& m : config.members) {
    if (m.id == self.id) m = self;
  }
  config.learners = record.learners;
  config.joined_configuration_slot = record.configuration_slot;
  config.joined_next_id = record.next_id;
}

}  // namespace synod::server

namespace synod::server {

std::string join_if_asked(Config& config, Log& log) {
  const std::string& dir = config.data_dir;
  std::optional<JoinRecord> joined;
  if (auto error = read_join_record(dir, joined); !error.empty()) return "data directory " + dir + ": " + error;
  std::error_code fs_error;
  const bool empty = !std::filesystem::exists(dir, fs_error) || std::filesystem::is_empty(dir, fs_error);
  if (!joined && empty && !config.join.empty()) {
    JoinRecord record;
    if (auto error = ask_to_join(config, record, log); !error.empty()) return error;
    if (std::filesystem::create_directories(dir, fs_error); fs_error) {
      return "data directory " + dir + ": " + fs_error.message();
    }
    const persistence::ClusterIdentity identity{record.cluster_id, record.cluster_name};
    if (auto status = persistence::write_cluster_identity(dir, identity, /*replace=*/true); !status.ok()) {
      return "data directory " + dir + ": " + status.message;
    }
    if (auto error = write_join_record(dir, record); !error.empty()) return "data directory " + dir + ": " + error;
    joined = std::move(record);
  } else if (!joined && !config.join.empty() && config.members.size() == 1) {
    return "data directory " + dir + " holds data but no record of a join (the file " + kJoinFileName +
           "): start this member with the --peers it was started with, or join with an empty data directory";
  }
  if (joined) apply_join_record(*joined, config);
  return {};
}

}  // namespace synod::server
