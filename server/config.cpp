#include "server/config.h"

#include <algorithm>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include "paxos/quorum.h"
#include "server/config_options.h"
#include "server/limits.h"

namespace synod::server {

namespace detail {

namespace {
// --help's default of a numeric field, read from a Config.
template <class T>
Shower show_field(T& (*field)(Config&)) {
  return [field](const Config& c) {
    Config copy = c;  // field() hands out a mutable reference
    return std::to_string(field(copy));
  };
}
}  // namespace

Option int_option(const char* name, const char* help, int64_t& (*field)(Config&), int64_t min) {
  return Option{name, help,
                [field, min](Config& c, const std::string& v, std::string& error) {
                  int64_t n = 0;
                  if (!parse_number(v, n) || n < min) {
                    error = "want an integer of at least " + std::to_string(min) + ", got '" + v + "'";
                    return false;
                  }
                  field(c) = n;
                  return true;
                },
                true, show_field(field)};
}

// "4096", "64K", "64KiB", "8M", "8MiB", "1G", "1GiB": powers of 1024.
bool parse_size(const std::string& text, size_t& out) {
  size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  size_t n = 0;
  if (digits == 0 || !parse_number(text.substr(0, digits), n)) return false;
  const std::string unit = text.substr(digits);
  int shift = 0;
  if (unit == "K" || unit == "KiB") shift = 10;
  else if (unit == "M" || unit == "MiB") shift = 20;
  else if (unit == "G" || unit == "GiB") shift = 30;
  else if (!unit.empty()) return false;
  if (shift > 0 && n > (SIZE_MAX >> shift)) return false;
  out = n << shift;
  return true;
}

Option size_option(const char* name, const char* help, size_t& (*field)(Config&)) {
  return Option{name, help,
                [field](Config& c, const std::string& v, std::string& error) {
                  size_t n = 0;
                  if (!parse_size(v, n) || n == 0) {
                    error = "want a positive integer (K, M and G suffixes allowed), got '" + v + "'";
                    return false;
                  }
                  field(c) = n;
                  return true;
                },
                true, show_field(field)};
}

}  // namespace detail

namespace {

using detail::loopback;
using detail::Option;
using detail::parse_number;

std::string trim(const std::string& text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, separator)) {
    part = trim(part);
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

// "1=127.0.0.1:7101,2=..." or "127.0.0.1:7101,..." (ids 1, 2, ... in order).
bool parse_address_list(const std::string& text, std::map<paxos::NodeId, Endpoint>& out, std::string& error) {
  paxos::NodeId next_id = 1;
  for (const auto& item : split(text, ',')) {
    paxos::NodeId id = next_id;
    std::string address = item;
    const auto equals = item.find('=');
    if (equals != std::string::npos) {
      if (!parse_number(trim(item.substr(0, equals)), id) || id == paxos::kNoNode) {
        error = "bad node id in '" + item + "'";
        return false;
      }
      address = trim(item.substr(equals + 1));
    }
    auto endpoint = parse_endpoint(address);
    if (!endpoint) {
      error = "bad address '" + address + "' (want host:port)";
      return false;
    }
    if (!out.emplace(id, *endpoint).second) {
      error = "node id " + std::to_string(id) + " appears twice";
      return false;
    }
    next_id = id + 1;
  }
  return true;
}

struct Pending {
  std::map<paxos::NodeId, Endpoint> peers;
  std::map<paxos::NodeId, Endpoint> clients;
};

std::vector<Option> options(Pending& pending) {
  std::vector<Option> all{
      {"id", "this node's id (1, 2, ...)",
       [](Config& c, const std::string& v, std::string& e) {
         if (!parse_number(v, c.id) || c.id == paxos::kNoNode) {
           e = "want a node id of at least 1, got '" + v + "'";
           return false;
         }
         return true;
       }},
      {"force-new-cluster",
       "disaster recovery: start a one-member cluster, with a new cluster id, from this member's data after a "
       "majority is lost for good (docs/operations.md); give --peers only this member, and drop the flag after",
       [](Config& c, const std::string&, std::string&) {
         c.force_new_cluster = true;
         return true;
       },
       false},
      {"cluster-id", "a name every member shares; peers of another cluster are refused",
       [](Config& c, const std::string& v, std::string& e) {
         if (v.empty() || v.size() > 64) {
           e = "want 1 to 64 characters";
           return false;
         }
         c.cluster_id = v;
         return true;
       },
       true, [](const Config& c) { return c.cluster_id; }},
      {"peers", "every member's peer address, a host name or an IP: 1=127.0.0.1:7101,2=127.0.0.1:7102,...",
       [&pending](Config&, const std::string& v, std::string& e) {
         pending.peers.clear();  // a later source (file, environment, flags) replaces the whole list
         return parse_address_list(v, pending.peers, e);
       }},
      {"join",
       "join a running cluster: with an empty data directory, ask these members' client addresses "
       "(HOST:PORT,...) for the configuration, which must name this node as a learner (synodctl member add "
       "first); --peers then names this node alone, or is left out for --peer-addr and --client-addr",
       [](Config& c, const std::string& v, std::string& e) {
         c.join.clear();
         for (size_t start = 0; start <= v.size();) {
           const size_t comma = std::min(v.find(',', start), v.size());
           auto endpoint = parse_endpoint(v.substr(start, comma - start));
           if (!endpoint) {
             e = "want HOST:PORT,HOST:PORT,..., got '" + v + "'";
             return false;
           }
           c.join.push_back(*endpoint);
           start = comma + 1;
         }
         return true;
       },
       true},
      {"clients", "every member's client (HTTP) address, in the same form as --peers; required off a single host",
       [&pending](Config&, const std::string& v, std::string& e) {
         pending.clients.clear();
         return parse_address_list(v, pending.clients, e);
       }},
      {"data-dir", "where this node keeps its state",
       [](Config& c, const std::string& v, std::string& e) {
         if (v.empty()) {
           e = "want a path";
           return false;
         }
         c.data_dir = v;
         return true;
       }},
      {"peer-addr", "the address to listen on for peers (default: this node's entry in --peers)",
       [](Config& c, const std::string& v, std::string& e) {
         auto endpoint = parse_endpoint(v);
         if (!endpoint) e = "want host:port";
         if (endpoint) c.peer_listen = *endpoint;
         return endpoint.has_value();
       }},
      {"client-addr", "the address to serve clients on (default: this node's entry in --clients)",
       [](Config& c, const std::string& v, std::string& e) {
         auto endpoint = parse_endpoint(v);
         if (!endpoint) e = "want host:port";
         if (endpoint) c.client_listen = *endpoint;
         return endpoint.has_value();
       }},
      {"zookeeper-addr", "the address to speak ZooKeeper's client protocol on (off unless given; docs/zookeeper.md)",
       [](Config& c, const std::string& v, std::string& e) {
         auto endpoint = parse_endpoint(v);
         if (!endpoint) e = "want host:port";
         if (endpoint) c.zookeeper_listen = *endpoint;
         return endpoint.has_value();
       }},
      detail::int_option(
          "container-check-ms",
          "how often the leader deletes the container znodes that had children and have none left (ZooKeeper's "
          "znode.container.checkIntervalMs)",
          [](Config& c) -> int64_t& { return c.container_check_ms; }, 1),
      detail::int_option(
          "heartbeat-ms", "leader heartbeat interval", [](Config& c) -> int64_t& { return c.timing.heartbeat_ms; }, 1),
      detail::int_option(
          "lease-ms", "leader lease", [](Config& c) -> int64_t& { return c.timing.lease_ms; }, 1),
      detail::int_option(
          "election-timeout-min-ms", "election timeout, lower bound",
          [](Config& c) -> int64_t& { return c.timing.election_timeout_min_ms; }, 1),
      detail::int_option(
          "election-timeout-max-ms", "election timeout, upper bound",
          [](Config& c) -> int64_t& { return c.timing.election_timeout_max_ms; }, 1),
      detail::int_option(
          "drift-bound-percent", "largest clock-rate difference between two nodes, in percent",
          [](Config& c) -> int64_t& { return c.timing.drift_bound_percent; }, 0),
      detail::size_option("pipeline-window-slots", "slots in flight at once",
                          [](Config& c) -> size_t& { return c.limits.pipeline_window_slots; }),
      Option{"auto-promote-within-slots",
             "a leader promotes a learner this close to it while the voters are even in number (0: only on request)",
             [](Config& c, const std::string& v, std::string& error) {
               size_t n = 0;
               if (!detail::parse_size(v, n)) {
                 error = "want a non-negative integer, got '" + v + "'";
                 return false;
               }
               c.limits.auto_promote_within_slots = n;
               return true;
             },
             true, detail::show_field(+[](Config& c) -> size_t& { return c.limits.auto_promote_within_slots; })},
      detail::size_option("batch-commands-max", "commands in one slot",
                          [](Config& c) -> size_t& { return c.limits.batch_commands_max; }),
      detail::size_option("batch-bytes-max", "payload bytes in one slot",
                          [](Config& c) -> size_t& { return c.limits.batch_bytes_max; }),
      detail::size_option("log-retention-slots",
                          "chosen values kept in memory to catch peers up; older ones need a snapshot",
                          [](Config& c) -> size_t& { return c.limits.log_retention_slots; }),
      detail::size_option("log-retention-bytes-max", "heap bytes of chosen values kept in memory to catch peers up",
                          [](Config& c) -> size_t& { return c.limits.log_retention_bytes_max; }),
      {"snapshot-after-slots", "snapshot and compact the log after this many slots",
       [](Config& c, const std::string& v, std::string& e) {
         if (!parse_number(v, c.snapshot_after_slots) || c.snapshot_after_slots == 0) {
           e = "want a positive integer, got '" + v + "'";
           return false;
         }
         return true;
       },
       true, [](const Config& c) { return std::to_string(c.snapshot_after_slots); }},
      detail::int_option(
          "history-retention-ms", "watch history on disk: keep revisions newer than this (log time); 0: by count alone",
          [](Config& c) -> int64_t& { return c.history_retention_ms; }, 0),
      detail::int_option(
          "history-revisions", "watch history on disk: keep this many newest revisions; 0: by age alone (both 0: none)",
          [](Config& c) -> int64_t& { return c.history_revisions; }, 0),
      detail::size_option("history-bytes-max", "watch history on disk: past this size the oldest revisions go",
                          [](Config& c) -> size_t& { return c.history_bytes_max; }),
      {"log-format", "json or text",
       [](Config& c, const std::string& v, std::string& e) {
         if (v == "json") c.log_format = LogFormat::json;
         else if (v == "text") c.log_format = LogFormat::text;
         else {
           e = "want json or text";
           return false;
         }
         return true;
       },
       true, [](const Config& c) { return std::string(c.log_format == LogFormat::json ? "json" : "text"); }},
      {"log-level", "debug, info, warn or error",
       [](Config& c, const std::string& v, std::string& e) {
         if (v != "debug" && v != "info" && v != "warn" && v != "error") {
           e = "want debug, info, warn or error";
           return false;
         }
         c.log_level = v;
         return true;
       },
       true, [](const Config& c) { return c.log_level; }},
      {"metrics", "record the hot-path metrics: true (default) or false (docs/observability.md)",
       [](Config& c, const std::string& v, std::string& e) {
         if (v == "true") c.metrics = true;
         else if (v == "false") c.metrics = false;
         else {
           e = "want true or false";
           return false;
         }
         return true;
       }},
      {"unsafe-no-sync-for-benchmarks", "skip fsync (acknowledged writes can be lost on a crash)",
       [](Config& c, const std::string&, std::string&) {
         c.unsafe_no_sync_for_benchmarks = true;
         return true;
       },
       false},
  };
  detail::add_limit_options(all);
  detail::add_tls_options(all);
  return all;
}

std::string file_key_to_flag(std::string key) {
  std::replace(key.begin(), key.end(), '_', '-');
  return key;
}

bool apply(std::vector<Option>& all, Config& config, const std::string& name, const std::string& value,
           bool has_value, std::string& error) {
  for (auto& option : all) {
    if (name != option.name) continue;
    if (option.takes_value && !has_value) {
      error = "--" + name + " needs a value";
      return false;
    }
    if (!option.takes_value && has_value) {
      // A switch written with a value (`insecure_plaintext = false` in a
      // file): the value decides. Setting it whatever the value said turned
      // `false` into on.
      if (value == "false" || value == "0" || value == "no" || value == "off") return true;
      if (value != "true" && value != "1" && value != "yes" && value != "on") {
        error = "--" + name + " is a switch: true or false, not '" + value + "'";
        return false;
      }
    }
    if (!option.set(config, value, error)) {
      error = "--" + name + ": " + error;
      return false;
    }
    return true;
  }
  error = "unknown option --" + name + " (see --help)";
  return false;
}

bool read_file(std::vector<Option>& all, Config& config, const std::string& path, std::string& error) {
  std::ifstream in(path);
  if (!in) {
    error = "cannot read config file " + path;
    return false;
  }
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    line = trim(line.substr(0, line.find('#')));
    if (line.empty()) continue;
    const auto equals = line.find('=');
    const std::string key = file_key_to_flag(trim(line.substr(0, equals)));
    const std::string value = equals == std::string::npos ? "" : trim(line.substr(equals + 1));
    if (!apply(all, config, key, value, equals != std::string::npos, error)) {
      error = path + ":" + std::to_string(number) + ": " + error;
      return false;
    }
  }
  return true;
}

bool unspecified(const std::string& host) { return host == "0.0.0.0" || host == "::"; }

// Followers forward clients to the leader's client address, and peers dial
// each other's peer address, so a member's addresses must be reachable from
// every other member. Loopback is only reachable from its own host.
std::string check_reachable(const Config& config, bool clients_given) {
  bool off_host = false;
  for (const auto& m : config.members) off_host = off_host || !loopback(m.peer.host);
  for (const auto& m : config.members) {
    const std::string who = "node " + std::to_string(m.id);
    if (unspecified(m.peer.host) || unspecified(m.client.host)) {
      return who + "'s address " + (unspecified(m.peer.host) ? m.peer : m.client).to_string() +
             " is a listen address, not one others can reach; give it to --peer-addr or --client-addr instead";
    }
    if (!off_host) continue;
    if (!clients_given) {
      return "--clients is required when members are on other hosts (--peers names " + m.peer.to_string() +
             "): followers forward clients to each member's client address";
    }
    if (loopback(m.peer.host) || loopback(m.client.host)) {
      return who + "'s address " + (loopback(m.peer.host) ? m.peer : m.client).to_string() +
             " is on loopback, but other members are on other hosts and cannot reach it";
    }
  }
  return {};
}

// --join without --peers: this node's own addresses come from --peer-addr
// and --client-addr (the cluster gives it the others).
std::string joining_alone(Config& config, Pending& pending) {
  if (!pending.peers.empty()) return {};
  if (config.peer_listen.port == 0)
    return "--join needs this node's peer address: --peers " + std::to_string(config.id) +
           "=HOST:PORT or --peer-addr HOST:PORT";
  pending.peers[config.id] = config.peer_listen;
  if (pending.clients.empty() && config.client_listen.port != 0) pending.clients[config.id] = config.client_listen;
  return {};
}

std::string finish(Config& config, Pending& pending) {
  if (config.id == paxos::kNoNode) return "--id is required";
  if (!config.join.empty()) {
    if (config.force_new_cluster) return "--join and --force-new-cluster exclude each other";
    if (auto problem = joining_alone(config, pending); !problem.empty()) return problem;
  }
  if (pending.peers.empty()) return "--peers is required";
  // Every member --peers names votes (a node that lost its disk repairs as a
  // learner, but it is still a member), and paxos/quorum.h allows 7 voters.
  if (pending.peers.size() > paxos::kVotersMax) {
    return "--peers names " + std::to_string(pending.peers.size()) + " members, but a cluster has at most " +
           std::to_string(paxos::kVotersMax) + " voting members";
  }
  // A node's id is the top byte of every client id it hands out (limits.h):
  // a larger one would make two nodes' client ids collide.
  constexpr uint64_t kNodeIdMax = (uint64_t{1} << kClientIdNodeBits) - 1;
  for (const auto& [id, endpoint] : pending.peers) {
    if (id > kNodeIdMax) {
      return "--peers names node " + std::to_string(id) + ": node ids are 1-" + std::to_string(kNodeIdMax);
    }
  }
  if (config.data_dir.empty()) return "--data-dir is required";
  if (!pending.clients.empty()) {
    for (const auto& [id, endpoint] : pending.clients) {
      if (!pending.peers.count(id)) return "--clients names node " + std::to_string(id) + ", which --peers lacks";
    }
    for (const auto& [id, endpoint] : pending.peers) {
      if (!pending.clients.count(id)) return "--clients lacks node " + std::to_string(id) + ", which --peers names";
    }
  }
  for (const auto& [id, endpoint] : pending.peers) {
    Member member{id, endpoint, {}};
    auto client = pending.clients.find(id);
    // Without --clients, a single-host cluster's members serve clients on
    // 127.0.0.1:7000+id (check_reachable refuses this off a single host).
    member.client = client != pending.clients.end() ? client->second
                                                    : Endpoint{"127.0.0.1", static_cast<uint16_t>(7000 + id)};
    config.members.push_back(member);
  }
  const Member* self = config.member(config.id);
  if (self == nullptr) return "node id " + std::to_string(config.id) + " is not in --peers";
  if (config.force_new_cluster && config.members.size() != 1) {
    return "--force-new-cluster starts a one-member cluster: give --peers only this member (" +
           std::to_string(config.id) + "=" + self->peer.to_string() + ")";
  }
  if (auto problem = check_reachable(config, !pending.clients.empty()); !problem.empty()) return problem;
  if (config.peer_listen.port == 0) config.peer_listen = self->peer;
  if (config.client_listen.port == 0) config.client_listen = self->client;
  if (auto problem = detail::check_tls(config); !problem.empty()) return problem;
  // The lock service divides the validity it reports by the same drift bound.
  config.service.drift_bound_percent = config.timing.drift_bound_percent;
  if (auto problem = paxos::validate(config.paxos_options(1)); !problem.empty()) return problem;
  return detail::check_limit_relations(config);
}

}  // namespace

std::optional<Endpoint> parse_endpoint(const std::string& text) {
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  Endpoint endpoint;
  endpoint.host = text.substr(0, colon);
  // [::1]:7001 is the usual way to write an IPv6 address with a port.
  if (endpoint.host.size() > 2 && endpoint.host.front() == '[' && endpoint.host.back() == ']') {
    endpoint.host = endpoint.host.substr(1, endpoint.host.size() - 2);
  }
  if (!parse_number(text.substr(colon + 1), endpoint.port) || endpoint.port == 0) return std::nullopt;
  return endpoint;
}

const Member& Config::self() const { return *member(id); }

const Member* Config::member(paxos::NodeId node) const {
  for (const auto& m : members) {
    if (m.id == node) return &m;
  }
  return nullptr;
}

paxos::Options Config::paxos_options(uint64_t random_seed) const {
  paxos::Options options;
  options.self = id;
  for (const auto& m : members) {
    if (std::find(learners.begin(), learners.end(), m.id) == learners.end()) options.members.push_back(m.id);
  }
  options.learners = learners;
  options.bootstrap_chosen_at = joined_configuration_slot;
  options.bootstrap_next_id = joined_next_id;
  options.timing = timing;
  options.limits = limits;
  options.random_seed = random_seed;
  return options;
}

std::string usage() {
  Pending pending;
  const Config defaults;
  std::string text =
      "usage: synod --id N --peers 1=HOST:PORT,2=HOST:PORT,... --data-dir PATH [options]\n"
      "       synod --config FILE [options]\n"
      "       synod restore --snapshot FILE --id N --peers ... --data-dir PATH [options]\n"
      "           seed a new cluster's member from a backup (docs/operations.md)\n"
      "       synod --version\n"
      "       synod --print-cluster-id [options]\n\n"
      "Every option is also read from the environment as SYNOD_<OPTION> (upper case, '_' for '-') and from\n"
      "a config file (--config FILE or SYNOD_CONFIG; lines 'name = value', '_' for '-'). Flags win over\n"
      "the environment, the environment over the file. Sizes take K, M and G suffixes (powers of 1024).\n\n"
      "options:\n";
  for (const auto& option : options(pending)) {
    text += "  --" + std::string(option.name) + (option.takes_value ? " VALUE" : "") + "\n      " + option.help;
    if (option.show) text += " (default " + option.show(defaults) + ")";
    text += "\n";
  }
  text += "  --config FILE\n      read options from FILE\n";
  return text;
}

ParseResult parse_config(int argc, const char* const* argv, const char* const* environment) {
  ParseResult result;
  Pending pending;
  auto all = options(pending);
  Config config;
  std::string error;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {  // whatever the file or the environment hold
      result.help = true;
      return result;
    }
  }
  // The config file first, then the environment, then the flags: each later
  // source wins over the one before.
  std::string file = detail::environment_config_file(environment);
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--config") {
      if (i + 1 >= argc) {
        result.error = "--config needs a file";
        return result;
      }
      file = argv[i + 1];
    }
  }
  if (!file.empty() && !read_file(all, config, file, error)) {
    result.error = error;
    return result;
  }
  if (!detail::apply_environment(all, config, environment, result.warnings, error)) {
    result.error = error;
    return result;
  }
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      result.help = true;
      return result;
    }
    if (arg == "--config") {
      ++i;
      continue;
    }
    if (arg.rfind("--", 0) != 0) {
      result.error = "unexpected argument '" + arg + "' (see --help)";
      return result;
    }
    std::string name = arg.substr(2);
    std::string value;
    bool has_value = false;
    const auto equals = name.find('=');
    if (equals != std::string::npos) {
      value = name.substr(equals + 1);
      name = name.substr(0, equals);
      has_value = true;
    } else {
      const bool wants_value = std::any_of(all.begin(), all.end(), [&](const Option& o) {
        return name == o.name && o.takes_value;
      });
      if (wants_value && i + 1 < argc) {
        value = argv[++i];
        has_value = true;
      }
    }
    if (!apply(all, config, name, value, has_value, error)) {
      result.error = error;
      return result;
    }
  }
  error = finish(config, pending);
  if (!error.empty()) {
    result.error = error;
    return result;
  }
  result.config = std::move(config);
  return result;
}

}  // namespace synod::server
