// synodctl: synod's client API from the shell (issue #6). Thin: it parses
// arguments, sends HTTP requests (http/client.h, a blocking client on plain
// sockets) to the first endpoint that answers, and prints the answers for
// people, or as JSON with --json.
//
//   synodctl [--endpoints 127.0.0.1:7001,...] [--json] [--timeout 10s] COMMAND
//
// `lock run` is the one piece with logic of its own: it runs a command while
// holding a lock and guarantees the command is dead before the server could
// grant the lock to anyone else (see LockRunner below). `synodctl help`
// lists the commands. Threads: the main thread, plus one keep-alive thread
// in `lock run` and `elect`.
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "http/client.h"
#include "http/text/text.h"
#include "lockservice/types.h"  // the TTL bounds and the checkpoint interval (constants only)

namespace {

using json = nlohmann::json;
using synod::http::Client;
using synod::http::ClientResponse;
using Clock = std::chrono::steady_clock;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr const char* kUsage = R"(usage: synodctl [--endpoints A,B,C] [--json] [--timeout 10s] COMMAND

  cluster status
  session create [--ttl 15s] [--lock-delay 0s] [--behavior release|delete]
  session keepalive|get|delete ID
  session list
  lock acquire NAME [--session ID | --ttl 15s] [--wait 10s] [--queue] [--mode exclusive|read|write|semaphore] [--limit N]
  lock release NAME --session ID
  lock status NAME
  lock validate NAME TOKEN
  lock run [--ttl 10s] [--lock-delay 0s] [--wait 30s] [--margin 2s] NAME -- CMD [ARG...]
  elect NAME VALUE [--ttl 10s]        campaign, hold leadership until interrupted, resign
  elect --observe NAME                print every leader change, "no leader" included
  kv put KEY VALUE [--session ID] [--sequential] [--cas M] [--lock NAME --token T]
  kv get KEY [--stale] [--raw]
  kv list [PREFIX]
  kv delete KEY [--recurse] [--cas M]
  watch [PREFIX] [--index N] [--space key|lock|election|session|all]

Endpoints default to 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003; any node
works (followers forward to the leader). Exit codes: 0 ok, 1 refused by the
server, 2 bad usage, 3 no endpoint answered; `lock run` exits with CMD's code
(128+N if a signal N ended it).
)";

// ---------------------------------------------------------------- options

struct Options {
  std::vector<std::string> endpoints = {"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"};
  bool json_output = false;
  int64_t timeout_ms = 10'000;
};

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "synodctl: %s\n(synodctl help lists the commands)\n", message.c_str());
  std::exit(2);
}

int64_t duration_arg(const std::string& text, const char* flag) {
  const auto ms = synod::http::parse_duration_ms(text);
  if (!ms) usage_error(std::string(flag) + " takes a duration such as 10s or 500ms, not '" + text + "'");
  return *ms;
}

// Flags after the command words: --name value, or --name for booleans.
class Args {
 public:
  Args(std::vector<std::string> words, std::vector<std::string> booleans) : booleans_(std::move(booleans)) {
    for (size_t i = 0; i < words.size(); ++i) {
      const std::string& word = words[i];
      if (word == "--") {
        rest_.assign(words.begin() + static_cast<std::ptrdiff_t>(i) + 1, words.end());
        break;
      }
      if (word.rfind("--", 0) == 0 && word.size() > 2) {
        const std::string name = word.substr(2);
        if (std::find(booleans_.begin(), booleans_.end(), name) != booleans_.end()) {
          flags_[name] = "true";
        } else {
          if (i + 1 >= words.size()) usage_error(word + " needs a value");
          flags_[name] = words[++i];
        }
      } else {
        positional_.push_back(word);
      }
    }
  }
  std::optional<std::string> flag(const std::string& name) {
    used_.push_back(name);
    auto it = flags_.find(name);
    if (it == flags_.end()) return std::nullopt;
    return it->second;
  }
  bool has(const std::string& name) { return flag(name).has_value(); }
  std::string positional(size_t index, const char* what) {
    if (index >= positional_.size()) usage_error(std::string("missing ") + what);
    return positional_[index];
  }
  size_t positionals() const { return positional_.size(); }
  const std::vector<std::string>& rest() const { return rest_; }
  void done(size_t positionals_max) {
    for (const auto& [name, value] : flags_)
      if (std::find(used_.begin(), used_.end(), name) == used_.end()) usage_error("unknown flag --" + name);
    if (positional_.size() > positionals_max) usage_error("unexpected argument '" + positional_[positionals_max] + "'");
  }

 private:
  std::vector<std::string> booleans_;
  std::map<std::string, std::string> flags_;
  std::vector<std::string> positional_;
  std::vector<std::string> rest_;
  std::vector<std::string> used_;
};

// Percent-encodes one path segment or query value.
std::string encode(std::string_view text) { return synod::http::percent_encode(text); }

// A key's path: "/a/b" or "a/b" → "a/b", each segment encoded.
std::string key_path(std::string_view key) {
  while (!key.empty() && key.front() == '/') key.remove_prefix(1);
  std::string out;
  size_t start = 0;
  while (start <= key.size()) {
    size_t end = key.find('/', start);
    if (end == std::string_view::npos) end = key.size();
    if (start > 0) out += '/';
    out += encode(key.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// ---------------------------------------------------------------- talking

// Sends to the endpoints in turn until one answers with something other
// than 503 (a node without a quorum may know none; another may).
class Cluster {
 public:
  explicit Cluster(const Options& options) : options_(options) {
    for (const auto& endpoint : options.endpoints) clients_.push_back(std::make_unique<Client>(endpoint, options.timeout_ms));
  }

  ClientResponse call(std::string_view method, const std::string& target, std::string_view body = {},
                      const Headers& headers = {}, int64_t timeout_ms = 0) {
    ClientResponse last;
    for (size_t attempt = 0; attempt < clients_.size(); ++attempt) {
      auto& client = *clients_[(preferred_ + attempt) % clients_.size()];
      Client* use = &client;
      std::unique_ptr<Client> slow;
      if (timeout_ms > 0) {
        slow = std::make_unique<Client>(client.address(), timeout_ms);
        use = slow.get();
      }
      last = use->request(method, target, body, headers);
      if (last.status != 0 && last.status != 503) {
        preferred_ = (preferred_ + attempt) % clients_.size();
        return last;
      }
      // A write whose request left and got no answer may have happened:
      // only requests that are safe to repeat go on to the next node.
      if (last.status == 0 && last.sent && method != "GET" && headers.empty()) return last;
    }
    return last;
  }

  const std::vector<std::string>& endpoints() const { return options_.endpoints; }
  size_t preferred() const { return preferred_; }

 private:
  const Options& options_;
  std::vector<std::unique_ptr<Client>> clients_;
  size_t preferred_ = 0;
};

json body_json(const ClientResponse& response) {
  json parsed = json::parse(response.body, nullptr, false);
  return parsed.is_discarded() ? json::object() : parsed;
}

// Prints a refusal and returns the exit code for it.
int refused(const ClientResponse& response) {
  if (response.status == 0) {
    std::fprintf(stderr, "synodctl: no endpoint answered: %s\n", response.error.c_str());
    return 3;
  }
  const json body = body_json(response);
  std::string code = "error", message = response.body;
  if (body.contains("error") && body["error"].is_object()) {
    code = body["error"].value("code", "error");
    message = body["error"].value("message", "");
  }
  std::fprintf(stderr, "synodctl: %d %s: %s\n", response.status, code.c_str(), message.c_str());
  if (body.contains("holder")) std::fprintf(stderr, "  held by session %s, token %s\n",
                                            body["holder"].value("session", "?").c_str(),
                                            body["holder"]["token"].dump().c_str());
  return response.status == 503 ? 3 : 1;
}

void print_json_line(const json& value) { std::printf("%s\n", value.dump(-1, ' ', false, json::error_handler_t::replace).c_str()); }

std::string text(const json& value, const char* field) {
  if (!value.contains(field)) return "";
  return value[field].is_string() ? value[field].get<std::string>() : value[field].dump();
}

// The answer of a simple request: JSON as is, or a line for people.
int simple(const Options& options, const ClientResponse& response, const std::function<void(const json&)>& human) {
  if (response.status < 200 || response.status >= 300) return refused(response);
  const json body = body_json(response);
  if (options.json_output) print_json_line(body);
  else human(body);
  return 0;
}

// ---------------------------------------------------------------- commands

int cluster_status(const Options& options, Cluster& cluster) {
  const auto response = cluster.call("GET", "/v1/cluster");
  return simple(options, response, [](const json& body) {
    const uint64_t leader = body["leader"].is_object() ? body["leader"]["id"].get<uint64_t>() : 0;
    // Only a leader tracks every member's progress: a follower knows its own
    // and the leader's, so the others show "-", not a false 0.
    const bool asked_leader = body.value("role", "") == "leader";
    std::printf("leader: %s   ballot: %s   commit index: %s\n",
                leader ? ("node " + std::to_string(leader)).c_str() : "none", body["ballot"].dump().c_str(),
                text(body, "commit_index").c_str());
    std::printf("%-4s %-22s %-22s %-8s %-10s %s\n", "ID", "CLIENT", "PEER", "ROLE", "CONNECTED", "CHOSEN_THROUGH");
    for (const auto& m : body["members"]) {
      const uint64_t id = m["id"].get<uint64_t>();
      const bool known = asked_leader || m.value("self", false) || id == leader;
      std::printf("%-4llu %-22s %-22s %-8s %-10s %s\n", static_cast<unsigned long long>(id),
                  text(m, "client_addr").c_str(), text(m, "peer_addr").c_str(), id == leader ? "leader" : "follower",
                  m.value("connected", false) ? "yes" : "no", known ? text(m, "chosen_through").c_str() : "-");
    }
  });
}

int session_command(const Options& options, Cluster& cluster, const std::string& verb, Args& args) {
  if (verb == "create") {
    json body = {{"ttl", args.flag("ttl").value_or("15s")}, {"lock_delay", args.flag("lock-delay").value_or("0s")},
                 {"behavior", args.flag("behavior").value_or("release")}};
    args.done(0);
    return simple(options, cluster.call("POST", "/v1/sessions", body.dump()), [](const json& r) {
      std::printf("%s\n", text(r, "session").c_str());
    });
  }
  if (verb == "list") {
    args.done(0);
    return simple(options, cluster.call("GET", "/v1/sessions?limit=1000"), [](const json& r) {
      for (const auto& s : r["sessions"])
        std::printf("%s ttl_ms=%s valid_for_ms=%s locks=%s\n", text(s, "session").c_str(), text(s, "ttl_ms").c_str(),
                    text(s, "valid_for_ms").c_str(), s["locks"].dump().c_str());
    });
  }
  const std::string id = args.positional(0, "the session id");
  args.done(1);
  if (verb == "keepalive") {
    return simple(options, cluster.call("POST", "/v1/sessions/" + encode(id) + "/keepalive"), [](const json& r) {
      std::printf("alive: valid for %s ms\n", text(r, "valid_for_ms").c_str());
    });
  }
  if (verb == "get") {
    return simple(options, cluster.call("GET", "/v1/sessions/" + encode(id)), [](const json& r) {
      std::printf("%s\n", r.dump(2).c_str());
    });
  }
  if (verb == "delete") {
    return simple(options, cluster.call("DELETE", "/v1/sessions/" + encode(id)), [](const json&) { std::printf("deleted\n"); });
  }
  usage_error("unknown session command '" + verb + "'");
}

int lock_run(const Options& options, Cluster& cluster, Args& args);

int lock_command(const Options& options, Cluster& cluster, const std::string& verb, Args& args) {
  if (verb == "run") return lock_run(options, cluster, args);
  const std::string name = args.positional(0, "the lock name");
  const std::string path = "/v1/locks/" + encode(name);
  if (verb == "acquire") {
    json body = json::object();
    if (auto s = args.flag("session")) body["session"] = *s;
    else body["ttl"] = args.flag("ttl").value_or("15s");
    if (auto d = args.flag("lock-delay")) body["lock_delay"] = *d;
    if (auto w = args.flag("wait")) body["wait"] = *w;
    if (args.has("queue")) body["queue"] = true;
    if (auto m = args.flag("mode")) body["mode"] = *m;
    if (auto l = args.flag("limit")) body["limit"] = std::stoll(*l);
    args.done(1);
    const int64_t wait = body.contains("wait") ? duration_arg(body["wait"], "--wait") : 0;
    const auto response = cluster.call("POST", path, body.dump(), {}, options.timeout_ms + wait + 5'000);
    if (response.status == 202) {
      const json r = body_json(response);
      if (options.json_output) print_json_line(r);
      else std::printf("queued: position %s, session %s\n", text(r, "position").c_str(), text(r, "session").c_str());
      return 0;
    }
    return simple(options, response, [&](const json& r) {
      std::printf("acquired %s: token %s, session %s, valid for %s ms\n", name.c_str(), text(r, "token").c_str(),
                  text(r, "session").c_str(), text(r, "valid_for_ms").c_str());
    });
  }
  if (verb == "release") {
    const auto session = args.flag("session");
    if (!session) usage_error("lock release needs --session");
    args.done(1);
    return simple(options, cluster.call("DELETE", path + "?session=" + encode(*session)),
                  [](const json&) { std::printf("released\n"); });
  }
  if (verb == "status") {
    args.done(1);
    return simple(options, cluster.call("GET", path), [&](const json& r) {
      if (!r.value("held", false)) std::printf("%s: free\n", name.c_str());
      for (const auto& h : r["holders"])
        std::printf("%s: held by session %s, token %s (%s)\n", name.c_str(), text(h, "session").c_str(),
                    text(h, "token").c_str(), text(h, "access").c_str());
      for (const auto& w : r["waiters"])
        std::printf("  waiting %s: session %s\n", text(w, "position").c_str(), text(w, "session").c_str());
    });
  }
  if (verb == "validate") {
    const std::string token = args.positional(1, "the token");
    args.done(2);
    const auto response = cluster.call("GET", path + "/validate?token=" + encode(token));
    if (response.status != 200) return refused(response);
    const json r = body_json(response);
    if (options.json_output) print_json_line(r);
    else std::printf("%s\n", r.value("valid", false) ? "valid" : "not valid");
    return r.value("valid", false) ? 0 : 1;
  }
  usage_error("unknown lock command '" + verb + "'");
}

int kv_command(const Options& options, Cluster& cluster, const std::string& verb, Args& args) {
  if (verb == "list") {
    const std::string prefix = args.positionals() > 0 ? args.positional(0, "prefix") : "";
    args.done(1);
    return simple(options, cluster.call("GET", "/v1/kv/" + key_path(prefix) + "?recurse&limit=1000"), [](const json& r) {
      for (const auto& k : r["keys"])
        std::printf("%s = %s%s\n", text(k, "key").c_str(), text(k, "value").c_str(),
                    text(k, "encoding") == "base64" ? " (base64)" : "");
    });
  }
  const std::string key = args.positional(0, "the key");
  const std::string path = "/v1/kv/" + key_path(key);
  if (verb == "put") {
    const std::string value = args.positional(1, "the value");
    std::string query;
    auto add = [&query](const std::string& item) { query += (query.empty() ? "?" : "&") + item; };
    if (auto s = args.flag("session")) add("session=" + encode(*s));
    if (args.has("sequential")) add("sequential");
    if (auto c = args.flag("cas")) add("cas=" + encode(*c));
    if (auto l = args.flag("lock")) add("lock=" + encode(*l));
    if (auto t = args.flag("token")) add("token=" + encode(*t));
    args.done(2);
    return simple(options, cluster.call("PUT", path + query, value), [](const json& r) {
      std::printf("%s modify_index=%s version=%s\n", text(r, "key").c_str(), text(r, "modify_index").c_str(),
                  text(r, "version").c_str());
    });
  }
  if (verb == "get") {
    const bool raw = args.has("raw");
    const bool stale = args.has("stale");
    args.done(1);
    std::string query = stale ? "?stale" : "";
    if (raw) query += query.empty() ? "?raw" : "&raw";
    const auto response = cluster.call("GET", path + query);
    if (response.status != 200) return refused(response);
    if (raw) {
      std::fwrite(response.body.data(), 1, response.body.size(), stdout);
      return 0;
    }
    const json r = body_json(response);
    if (options.json_output) print_json_line(r);
    else std::printf("%s\n", text(r, "value").c_str());
    return 0;
  }
  if (verb == "delete") {
    std::string query = args.has("recurse") ? "?recurse" : "";
    if (auto c = args.flag("cas")) query += (query.empty() ? "?cas=" : "&cas=") + encode(*c);
    args.done(1);
    return simple(options, cluster.call("DELETE", path + query),
                  [](const json& r) { std::printf("deleted %s\n", text(r, "deleted").c_str()); });
  }
  usage_error("unknown kv command '" + verb + "'");
}

std::atomic<bool> g_interrupted{false};
void on_interrupt(int) { g_interrupted = true; }

// Follows an event stream, resuming after the last event on another
// endpoint when the connection breaks, until interrupted.
int follow(const Options& options, const std::string& target, const std::string& start_index,
           const std::function<void(const synod::http::SseEvent&)>& print) {
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  std::string last_id = start_index;
  size_t endpoint = 0;
  int failures = 0;
  while (!g_interrupted) {
    Client client(options.endpoints[endpoint % options.endpoints.size()], options.timeout_ms);
    Headers headers;
    if (!last_id.empty()) headers.emplace_back("Last-Event-ID", last_id);
    bool ended_by_server = false;
    const auto response = client.stream(target, headers, 30'000, [&](const synod::http::SseEvent& event) {
      failures = 0;
      if (!event.id.empty()) last_id = event.id;
      if (event.type == "compacted") ended_by_server = true;
      print(event);
      std::fflush(stdout);
      return !g_interrupted.load();
    });
    if (response.status != 0 && response.status != 200 && response.status != 503) return refused(response);
    if (ended_by_server) return 1;
    if (++failures > static_cast<int>(3 * options.endpoints.size())) return refused(response);
    ++endpoint;
    if (!g_interrupted) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  return 0;
}

int watch_command(const Options& options, Args& args) {
  const std::string prefix = args.positionals() > 0 ? args.positional(0, "prefix") : "";
  const std::string space = args.flag("space").value_or("key");
  const std::string index = args.flag("index").value_or("");
  args.done(1);
  const std::string path = space == "key" ? key_path(prefix) : encode(prefix);
  return follow(options, "/v1/watch/" + path + "?space=" + encode(space), index, [&](const synod::http::SseEvent& e) {
    if (options.json_output) return (void)std::printf("%s\n", e.data.c_str());
    const json data = json::parse(e.data, nullptr, false);
    if (data.is_discarded()) return (void)std::printf("%s %s\n", e.type.c_str(), e.data.c_str());
    std::string name = data.contains("key") ? text(data, "key") : text(data, "name");
    std::printf("%s %s %s%s%s\n", e.id.c_str(), e.type.c_str(), name.c_str(),
                data.contains("value") ? (" = " + text(data, "value")).c_str() : "",
                data.contains("session") ? (" (session " + text(data, "session") + ")").c_str() : "");
  });
}

// ---------------------------------------------------------------- sessions kept alive

// The lock service's timing, at its defaults (docs/lockservice.md §3). A
// keep-alive answers what the log already guarantees: (D - now) / (1 + rho),
// with D the session's last LOGGED renewal plus its TTL. The keep-alive being
// answered is logged only by the next checkpoint (every C), so even on a
// healthy cluster an answer is worth the TTL less the time since the renewal
// the log last recorded (one keep-alive period, or up to C plus a commit when
// keep-alives come faster than C), divided by 1 + rho: about 0.6 x TTL for
// keep-alives every TTL/3.
constexpr int64_t kCheckpointIntervalMs = synod::lockservice::kCheckpointIntervalMsDefault;  // C
constexpr int64_t kDriftBoundPercent = 10;  // rho, the server's --drift-bound-percent default
// The fastest cadence: a faster one would buy less than a commit takes.
constexpr int64_t kKeepAlivePeriodMsMin = 100;
// SIGTERM at the margin, SIGKILL halfway through it: CMD gets 100 ms to stop.
constexpr int64_t kMarginMsMin = 200;

// What a keep-alive returns on a healthy cluster when keep-alives go at the
// fastest cadence: the TTL less a checkpoint interval and a period, over 1 + rho.
int64_t healthy_validity_ms(int64_t ttl_ms) {
  return (ttl_ms - kCheckpointIntervalMs - kKeepAlivePeriodMsMin) * 100 / (100 + kDriftBoundPercent);
}

// Empty if a session of `ttl_ms` can be kept alive with `margin_ms` to spare
// on a healthy cluster, else why not. The validity a keep-alive returns must
// leave room above the margin for two keep-alives at the fastest cadence: the
// next one goes halfway to the margin, a retry in the other half.
std::string margin_problem(int64_t ttl_ms, int64_t margin_ms) {
  using synod::lockservice::kTtlMsMax, synod::lockservice::kTtlMsMin;
  if (ttl_ms < kTtlMsMin || ttl_ms > kTtlMsMax) return "--ttl must be 2s to 24h (the lock service's bounds)";
  if (margin_ms < kMarginMsMin) return "--margin must be at least " + std::to_string(kMarginMsMin) + "ms";
  const int64_t margin_ms_max = healthy_validity_ms(ttl_ms) - 2 * kKeepAlivePeriodMsMin;
  if (margin_ms <= margin_ms_max) return {};
  const int64_t room_ms = 2 * kKeepAlivePeriodMsMin + margin_ms;
  int64_t ttl_ms_min = room_ms * (100 + kDriftBoundPercent) / 100 + kCheckpointIntervalMs + kKeepAlivePeriodMsMin;
  ttl_ms_min = (ttl_ms_min + 99) / 100 * 100;
  std::string fix = "use --ttl " + std::to_string(ttl_ms_min) + "ms or more";
  if (margin_ms_max >= kMarginMsMin) fix += ", or --margin " + std::to_string(margin_ms_max) + "ms or less";
  return "--ttl " + std::to_string(ttl_ms) + "ms with --margin " + std::to_string(margin_ms) +
         "ms cannot work: a keep-alive returns at most about " + std::to_string(healthy_validity_ms(ttl_ms)) +
         "ms of validity for this TTL (the TTL less the server's " + std::to_string(kCheckpointIntervalMs) +
         "ms checkpoint interval and a " + std::to_string(kKeepAlivePeriodMsMin) + "ms keep-alive period, over its " +
         std::to_string(kDriftBoundPercent) + "% drift bound), which must exceed the margin by " +
         std::to_string(2 * kKeepAlivePeriodMsMin) + "ms; " + fix;
}

// min(2 s, TTL/2): CMD gets a second or more to stop cleanly.
int64_t default_margin_ms(int64_t ttl_ms) { return std::min<int64_t>(2'000, ttl_ms / 2); }

int64_t ms_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count();
}

// Keeps a session alive from its own thread and tracks how long the lock
// service guarantees it: each answer's valid_for_ms counts from when that
// keep-alive was SENT (docs/lockservice.md), so the deadline is never later
// than the server's.
//
// Cadence: the next keep-alive goes halfway from this one's send time to the
// moment the validity left would reach the margin (at most TTL/3 later, at
// least kKeepAlivePeriodMsMin). On a healthy cluster it is answered long
// before the margin; when it fails, as much time again is left for retries,
// which go at once to the next endpoint, each with a short timeout so that
// one dead node cannot eat the TTL.
class Keeper {
 public:
  Keeper(const Options& options, std::string session, int64_t ttl_ms, int64_t margin_ms, Clock::time_point sent,
         int64_t valid_for_ms)
      : options_(options), session_(std::move(session)), ttl_ms_(ttl_ms), margin_ms_(margin_ms) {
    deadline_ = sent + std::chrono::milliseconds(valid_for_ms);
    last_answer_sent_ = sent;
    last_valid_ms_ = valid_for_ms;
    next_ = next_after(sent);
    thread_ = std::thread([this] { run(); });
  }
  ~Keeper() { stop(); }

  Clock::time_point deadline() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return deadline_;
  }
  bool expired() const { return expired_; }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  // Why the validity left is short, for the person reading stderr: the
  // cluster did not answer (in time), it answered little, or it said the
  // session is gone. Facts only: which it was is for the reader to judge.
  std::string why() const {
    std::lock_guard<std::mutex> lock(mutex_);
    if (expired_) return "the lock service answered that the session is gone";
    const auto now = Clock::now();
    const std::string last = "the last answer, to a keep-alive sent " + std::to_string(ms_between(last_answer_sent_, now)) +
                             " ms ago, gave " + std::to_string(last_valid_ms_) + " ms of validity";
    std::string out;
    if (failures_ > 0) out = std::to_string(failures_) + " keep-alives failed since " + last + "; the latest failure: " +
                             last_failure_;
    else out = last;
    if (in_flight_) out += "; one sent " + std::to_string(ms_between(*in_flight_, now)) + " ms ago is not answered yet";
    return out;
  }

 private:
  Clock::time_point next_after(Clock::time_point sent) const {
    const int64_t to_margin_ms = ms_between(sent, deadline_) - margin_ms_;
    const int64_t period_ms_max = std::max(ttl_ms_ / 3, kKeepAlivePeriodMsMin);
    return sent + std::chrono::milliseconds(std::clamp(to_margin_ms / 2, kKeepAlivePeriodMsMin, period_ms_max));
  }

  void set_in_flight(std::optional<Clock::time_point> sent) {
    std::lock_guard<std::mutex> lock(mutex_);
    in_flight_ = sent;
  }

  void answered(Clock::time_point sent, int64_t valid_for_ms) {
    std::lock_guard<std::mutex> lock(mutex_);
    deadline_ = std::max(deadline_, sent + std::chrono::milliseconds(valid_for_ms));
    last_answer_sent_ = sent;
    last_valid_ms_ = valid_for_ms;
    failures_ = 0;
    next_ = next_after(sent);
  }

  void failed(const ClientResponse& response, const std::string& endpoint) {
    std::lock_guard<std::mutex> lock(mutex_);
    ++failures_;
    last_failure_ = endpoint + ": ";
    if (response.status == 0) {
      last_failure_ += response.error;
    } else {
      const json body = body_json(response);
      const bool coded = body.contains("error") && body["error"].is_object();
      last_failure_ += std::to_string(response.status) + " " + (coded ? body["error"].value("code", "") : "");
    }
    next_ = Clock::now() + std::chrono::milliseconds(kKeepAlivePeriodMsMin);
  }

  void run() {
    const int64_t attempt_ms = std::clamp<int64_t>(ttl_ms_ / 6, 200, 2'000);
    size_t endpoint = 0;
    while (!stop_ && !expired_) {
      if (Clock::now() < next_) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
        continue;
      }
      const std::string& address = options_.endpoints[endpoint % options_.endpoints.size()];
      Client client(address, attempt_ms);
      const auto sent = Clock::now();
      set_in_flight(sent);
      const auto response = client.request("POST", "/v1/sessions/" + encode(session_) + "/keepalive");
      set_in_flight(std::nullopt);
      if (response.status == 200) {
        answered(sent, body_json(response).value("valid_for_ms", int64_t{0}));
      } else if (response.status == 404) {
        std::lock_guard<std::mutex> lock(mutex_);
        expired_ = true;  // the service says it is gone: nothing to wait for
        deadline_ = Clock::now();
      } else {
        failed(response, address);
        ++endpoint;
      }
    }
  }

  const Options& options_;
  std::string session_;
  int64_t ttl_ms_;
  int64_t margin_ms_;
  mutable std::mutex mutex_;
  // Guarded by mutex_:
  Clock::time_point deadline_;
  Clock::time_point last_answer_sent_;
  int64_t last_valid_ms_ = 0;
  int failures_ = 0;
  std::string last_failure_;
  std::optional<Clock::time_point> in_flight_;  // when the keep-alive on its way was sent
  Clock::time_point next_;  // when to send the next keep-alive (the keeper thread's own)
  std::atomic<bool> stop_{false};
  std::atomic<bool> expired_{false};
  std::thread thread_;
};

// ---------------------------------------------------------------- lock run

std::atomic<pid_t> g_child_group{0};
std::atomic<int> g_forwarded_signal{0};

// Passes a signal on to CMD's whole process group (async-signal-safe).
void forward_signal(int signal) {
  const pid_t group = g_child_group.load();
  if (group > 0) ::kill(-group, signal);
  g_forwarded_signal = signal;
}

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

// Takes the lock in a new session, waiting in its FIFO queue while keeping
// the session alive. Returns the grant, or nullopt (after printing why).
std::optional<json> take_lock(const Options& options, Cluster& cluster, const std::string& name, const std::string& session,
                              int64_t wait_ms, Clock::time_point& sent) {
  const auto give_up_at = Clock::now() + std::chrono::milliseconds(wait_ms);
  const std::string path = "/v1/locks/" + encode(name);
  for (;;) {
    const int64_t left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up_at - Clock::now()).count();
    const int64_t poll = std::clamp<int64_t>(left, 0, 30'000);
    json body = {{"session", session}, {"queue", true}};
    if (poll > 0) body["wait"] = synod::http::format_duration_ms(poll);
    sent = Clock::now();
    const auto response = cluster.call("POST", path, body.dump(), {}, options.timeout_ms + poll + 5'000);
    if (response.status == 200) return body_json(response);
    if (response.status != 202) {
      refused(response);
      return std::nullopt;
    }
    if (left <= 0 || g_interrupted) {
      std::fprintf(stderr, "synodctl: %s was not granted within the wait\n", name.c_str());
      cluster.call("DELETE", path + "?session=" + encode(session));  // leave the queue
      return std::nullopt;
    }
  }
}

// Runs CMD while holding the lock. The guarantee: CMD's process group is
// dead before the server could grant the lock to anyone else, even with a
// lock-delay of 0. The session's validity deadline is tracked conservatively
// on our own monotonic clock (Keeper); when the time left falls below the
// margin (because keep-alives fail), CMD's group gets SIGTERM, then SIGKILL
// halfway through the rest of the margin, and we wait for it to be gone.
int lock_run(const Options& options, Cluster& cluster, Args& args) {
  const int64_t ttl_ms = duration_arg(args.flag("ttl").value_or("10s"), "--ttl");
  const std::string lock_delay = args.flag("lock-delay").value_or("0s");
  const int64_t wait_ms = duration_arg(args.flag("wait").value_or("24h"), "--wait");
  const int64_t margin_ms = duration_arg(args.flag("margin").value_or(synod::http::format_duration_ms(default_margin_ms(ttl_ms))), "--margin");
  const std::string name = args.positional(0, "the lock name");
  args.done(1);
  if (args.rest().empty()) usage_error("lock run needs a command after --");
  if (const std::string problem = margin_problem(ttl_ms, margin_ms); !problem.empty()) usage_error(problem);

  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  const auto created_sent = Clock::now();
  const auto created = cluster.call("POST", "/v1/sessions",
                                    json{{"ttl", synod::http::format_duration_ms(ttl_ms)}, {"lock_delay", lock_delay}}.dump());
  if (created.status != 200) return refused(created);
  const json session_body = body_json(created);
  const std::string session = text(session_body, "session");
  Keeper keeper(options, session, ttl_ms, margin_ms, created_sent, session_body.value("valid_for_ms", int64_t{0}));
  Clock::time_point sent;
  const auto grant = take_lock(options, cluster, name, session, wait_ms, sent);
  if (!grant) {
    keeper.stop();
    cluster.call("DELETE", "/v1/sessions/" + encode(session));
    return 1;
  }
  const std::string token = text(*grant, "token");
  if (!options.json_output) std::fprintf(stderr, "synodctl: holding %s with token %s\n", name.c_str(), token.c_str());
  else print_json_line(*grant);
  std::fflush(stdout);

  const pid_t child = ::fork();
  if (child < 0) usage_error(std::string("fork: ") + std::strerror(errno));
  if (child == 0) {
    ::setpgid(0, 0);  // its own process group, so that all of CMD is stopped together
    std::signal(SIGINT, SIG_DFL);
    std::signal(SIGTERM, SIG_DFL);
    ::setenv("SYNOD_FENCING_TOKEN", token.c_str(), 1);
    ::setenv("SYNOD_LOCK", name.c_str(), 1);
    ::setenv("SYNOD_SESSION", session.c_str(), 1);
    std::vector<char*> argv;
    for (const auto& word : args.rest()) argv.push_back(const_cast<char*>(word.c_str()));
    argv.push_back(nullptr);
    ::execvp(argv[0], argv.data());
    std::fprintf(stderr, "synodctl: cannot run %s: %s\n", argv[0], std::strerror(errno));
    std::_Exit(127);
  }
  ::setpgid(child, child);  // both sides set it: no race with the first signal
  g_child_group = child;
  for (int signal : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2}) std::signal(signal, forward_signal);

  int status = 0;
  bool lost = false;
  std::optional<Clock::time_point> killed_at;
  for (;;) {
    const pid_t done = ::waitpid(child, &status, WNOHANG);
    if (done == child) break;
    const auto left = keeper.deadline() - Clock::now();
    if (!killed_at && left < std::chrono::milliseconds(margin_ms)) {
      lost = true;
      killed_at = Clock::now();
      std::fprintf(stderr, "synodctl: %lld ms of the session's validity left, less than the margin of %lld ms: %s; "
                   "stopping the command\n",
                   static_cast<long long>(std::chrono::duration_cast<std::chrono::milliseconds>(left).count()),
                   static_cast<long long>(margin_ms), keeper.why().c_str());
      ::kill(-child, SIGTERM);
    }
    if (killed_at && Clock::now() - *killed_at >= std::chrono::milliseconds(margin_ms / 2)) {
      ::kill(-child, SIGKILL);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  // The leader of the group is gone; make sure nothing it started lives on.
  ::kill(-child, SIGKILL);
  keeper.stop();
  if (!lost) {
    cluster.call("DELETE", "/v1/locks/" + encode(name) + "?session=" + encode(session));
    cluster.call("DELETE", "/v1/sessions/" + encode(session));
  } else {
    std::fprintf(stderr, "synodctl: the lock %s was lost; the command was stopped before it could be granted again\n",
                 name.c_str());
  }
  return exit_code_of(status);
}

// ---------------------------------------------------------------- elect

int elect(const Options& options, Cluster& cluster, Args& args) {
  if (args.has("observe")) {
    const std::string name = args.positional(0, "the election name");
    args.done(1);
    return follow(options, "/v1/elections/" + encode(name) + "/observe", "", [&](const synod::http::SseEvent& e) {
      if (options.json_output) return (void)std::printf("%s\n", e.data.c_str());
      const json data = json::parse(e.data, nullptr, false);
      if (e.type == "no_leader") return (void)std::printf("no leader\n");
      const json leader = data.contains("leader") && data["leader"].is_object() ? data["leader"] : data;
      std::printf("%s: %s (session %s, token %s)\n", e.type == "proclaimed" ? "proclaimed" : "leader",
                  text(leader, "value").c_str(), text(leader, "session").c_str(), text(leader, "token").c_str());
    });
  }
  const std::string name = args.positional(0, "the election name");
  const std::string value = args.positional(1, "the value");
  const int64_t ttl_ms = duration_arg(args.flag("ttl").value_or("10s"), "--ttl");
  args.done(2);
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  const auto sent = Clock::now();
  const auto created = cluster.call("POST", "/v1/sessions", json{{"ttl", synod::http::format_duration_ms(ttl_ms)}}.dump());
  if (created.status != 200) return refused(created);
  const std::string session = text(body_json(created), "session");
  Keeper keeper(options, session, ttl_ms, default_margin_ms(ttl_ms), sent,
                body_json(created).value("valid_for_ms", int64_t{0}));
  const std::string path = "/v1/elections/" + encode(name);
  int code = 0;
  bool announced = false;
  while (!g_interrupted && !keeper.expired()) {
    const json body = {{"session", session}, {"value", value}, {"wait", "10s"}};
    const auto response = cluster.call("POST", path + "/campaign", body.dump(), {}, options.timeout_ms + 15'000);
    if (response.status == 200) {
      if (!announced) {
        const json r = body_json(response);
        if (options.json_output) print_json_line(r);
        else std::printf("leader of %s with token %s\n", name.c_str(), text(r, "token").c_str());
        std::fflush(stdout);
        announced = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    } else if (response.status != 202) {
      code = refused(response);
      break;
    }
  }
  cluster.call("POST", path + "/resign", json{{"session", session}}.dump());
  keeper.stop();
  cluster.call("DELETE", "/v1/sessions/" + encode(session));
  if (keeper.expired()) {
    std::fprintf(stderr, "synodctl: the session expired: no longer the leader\n");
    return 1;
  }
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  std::signal(SIGPIPE, SIG_IGN);
  Options options;
  std::vector<std::string> words;
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word == "--") {
      for (; i < argc; ++i) words.emplace_back(argv[i]);
      break;
    }
    if (word == "--json") {
      options.json_output = true;
    } else if (word == "--endpoints" && i + 1 < argc) {
      options.endpoints.clear();
      std::string list = argv[++i];
      size_t start = 0;
      while (start <= list.size()) {
        size_t end = list.find(',', start);
        if (end == std::string::npos) end = list.size();
        if (end > start) options.endpoints.push_back(list.substr(start, end - start));
        start = end + 1;
      }
      if (options.endpoints.empty()) usage_error("--endpoints needs at least one HOST:PORT");
    } else if (word == "--timeout" && i + 1 < argc) {
      options.timeout_ms = duration_arg(argv[++i], "--timeout");
    } else if (word == "help" || word == "--help" || word == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      words.push_back(word);
    }
  }
  if (words.empty()) usage_error("no command");
  Cluster cluster(options);
  const std::string command = words[0];
  auto sub = [&](const char* what) {
    if (words.size() < 2) usage_error(std::string("missing the ") + what);
    return words[1];
  };
  if (command == "cluster") {
    if (sub("cluster command") != "status") usage_error("unknown cluster command '" + words[1] + "'");
    return cluster_status(options, cluster);
  }
  if (command == "session") {
    Args args({words.begin() + 2, words.end()}, {});
    return session_command(options, cluster, sub("session command"), args);
  }
  if (command == "lock") {
    Args args({words.begin() + 2, words.end()}, {"queue"});
    return lock_command(options, cluster, sub("lock command"), args);
  }
  if (command == "kv") {
    Args args({words.begin() + 2, words.end()}, {"sequential", "raw", "stale", "recurse"});
    return kv_command(options, cluster, sub("kv command"), args);
  }
  if (command == "watch") {
    Args args({words.begin() + 1, words.end()}, {});
    return watch_command(options, args);
  }
  if (command == "elect") {
    Args args({words.begin() + 1, words.end()}, {"observe"});
    return elect(options, cluster, args);
  }
  usage_error("unknown command '" + command + "'");
}
