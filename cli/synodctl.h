// synodctl: synod's client API from the shell (issue #6). Thin: it parses
// arguments, sends HTTP requests (http/client.h, a blocking client on plain
// sockets) to the first endpoint that answers, and prints the answers for
// people, or as JSON with --json.
//
//   synodctl [--endpoints 127.0.0.1:7001,...] [--json] [--timeout 10s] [--token T] COMMAND
//
// This header owns what every command shares: the global Options, the
// flag parser (Args), the way to the cluster (Cluster), how answers and
// refusals are printed, and the command entry points. The parts:
//   main.cpp         the usage text, the global options, dispatch
//   cluster.cpp      Args, Cluster, printing answers, following event streams
//   commands.cpp     the commands that are one request and its answer, and watch
//   keeper.h/.cpp    a session kept alive from its own thread (lock run, elect)
//   lock_run.cpp     `lock run`: run a command while holding a lock
//   elect.cpp        `elect`: campaign and hold leadership, or observe
//   auth.cpp         `auth`: tokens, rules, on and off, whoami; force-release, lock list
//   txn.cpp          `txn`: guards and operations from words or a JSON file
//   snapshot.cpp     `snapshot save|inspect`: backup files
//   leader.cpp       `leader transfer`: move leadership on demand
//   member.cpp       `member list|add|remove|promote`: the cluster's membership
//
// `lock run` is the one piece with logic of its own: it runs a command while
// holding a lock and guarantees the command is dead before the server could
// grant the lock to anyone else (lock_run.cpp). `synodctl help` lists the
// commands. Threads: the main thread, plus one keep-alive thread (Keeper)
// in `lock run` and `elect`.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http/client.h"

namespace synod::cli {

using json = nlohmann::json;
using synod::http::Client;
using synod::http::ClientResponse;
using Clock = std::chrono::steady_clock;
using Headers = std::vector<std::pair<std::string, std::string>>;

// ---------------------------------------------------------------- options

struct Options {
  std::vector<std::string> endpoints = {"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"};
  bool json_output = false;
  int64_t timeout_ms = 10'000;
  // --cacert (and --cert, --key), or https:// endpoints: every request over
  // TLS (http/client_tls.h). Null: plain HTTP.
  http::TlsContext tls;
  // --token, else $SYNOD_TOKEN: sent as `Authorization: Bearer TOKEN` with
  // every request (request_headers). Empty: none.
  std::string token;
};

// The headers every request carries (Authorization, with a token), then
// `extra`. Everything that sends builds its headers here: Cluster::call, the
// Keeper's keep-alives, follow's streams.
Headers request_headers(const Options& options, const Headers& extra = {});

// Prints the message and exits with code 2.
[[noreturn]] void usage_error(const std::string& message);

// A duration flag's value in milliseconds ("10s", "500ms"); a usage error
// naming `flag` if it is not one.
int64_t duration_arg(const std::string& text, const char* flag);

// Flags after the command words: --name value, or --name for booleans.
// Everything after "--" is kept as is (rest()).
class Args {
 public:
  Args(std::vector<std::string> words, std::vector<std::string> booleans);
  std::optional<std::string> flag(const std::string& name);
  bool has(const std::string& name) { return flag(name).has_value(); }
  std::string positional(size_t index, const char* what);
  size_t positionals() const { return positional_.size(); }
  const std::vector<std::string>& rest() const { return rest_; }
  // A usage error for a flag nobody asked for, or more positionals than allowed.
  void done(size_t positionals_max);

 private:
  std::vector<std::string> booleans_;
  std::map<std::string, std::string> flags_;
  std::vector<std::string> positional_;
  std::vector<std::string> rest_;
  std::vector<std::string> used_;
};

// Percent-encodes one path segment or query value.
std::string encode(std::string_view text);

// A key's path: "/a/b" or "a/b" → "a/b", each segment encoded.
std::string key_path(std::string_view key);

// ---------------------------------------------------------------- talking

// Sends to the endpoints in turn until one answers with something other
// than 503 (a node without a quorum may know none; another may).
class Cluster {
 public:
  explicit Cluster(const Options& options);

  // `timeout_ms` and `body_bytes_max` (0: the defaults) are for one request
  // that needs more than the others, such as a backup.
  ClientResponse call(std::string_view method, const std::string& target, std::string_view body = {},
                      const Headers& headers = {}, int64_t timeout_ms = 0, size_t body_bytes_max = 0);

  const std::vector<std::string>& endpoints() const { return options_.endpoints; }
  size_t preferred() const { return preferred_; }

 private:
  const Options& options_;
  std::vector<std::unique_ptr<Client>> clients_;
  size_t preferred_ = 0;
};

// Every page of a listing paged by `after` and `limit` (kv list, session list,
// lock list): one answer {FIELD: [every item], "more": false}, or the first
// refusal. `path` ends in a query ('?...'); each next page starts after the
// last item's `name`.
ClientResponse list_all(Cluster& cluster, const std::string& path, const char* field, const char* name);

// The body as JSON; an empty object if it is not JSON.
json body_json(const ClientResponse& response);

// Prints a refusal and returns the exit code for it.
int refused(const ClientResponse& response);

void print_json_line(const json& value);

// A field for printing: strings as they are, anything else as JSON; "" if absent.
std::string text(const json& value, const char* field);

// The answer of a simple request: JSON as is, or a line for people.
int simple(const Options& options, const ClientResponse& response, const std::function<void(const json&)>& human);

// Set by SIGINT and SIGTERM once on_interrupt is their handler.
extern std::atomic<bool> g_interrupted;
void on_interrupt(int);

// Follows an event stream, resuming after the last event on another
// endpoint when the connection breaks, until interrupted.
int follow(const Options& options, const std::string& target, const std::string& start_index,
           const std::function<void(const synod::http::SseEvent&)>& print);

// ---------------------------------------------------------------- commands
// Each returns the process's exit code (the usage text in main.cpp lists them).

int cluster_status(const Options& options, Cluster& cluster);
int session_command(const Options& options, Cluster& cluster, const std::string& verb, Args& args);
int lock_command(const Options& options, Cluster& cluster, const std::string& verb, Args& args);
int kv_command(const Options& options, Cluster& cluster, const std::string& verb, Args& args);
int watch_command(const Options& options, Args& args);
int lock_run(const Options& options, Cluster& cluster, Args& args);
int elect(const Options& options, Cluster& cluster, Args& args);
int auth_command(const Options& options, Cluster& cluster, const std::string& verb, Args& args);
// `leader transfer [--to ID]` (leader.cpp).
int leader_command(const Options& options, Cluster& cluster, const std::string& verb, Args& args);
// `member list|add|remove|promote` (member.cpp).
int member_command(const Options& options, Cluster& cluster, const std::string& verb, Args& args);
// `snapshot save|inspect FILE` (snapshot.cpp).
int snapshot_command(const Options& options, Cluster& cluster, const std::string& verb, Args& args);
// `txn`: `words` are those after the command (--if, --then, -f FILE).
int txn_command(const Options& options, Cluster& cluster, const std::vector<std::string>& words);
// `lock list`: every lock, an administrator's view (GET /v1/locks).
int lock_list(const Options& options, Cluster& cluster, Args& args);
// `lock force-release` and `election force-release`: `space` is "locks" or "elections".
int force_release(const Options& options, Cluster& cluster, const std::string& space, Args& args);

}  // namespace synod::cli
