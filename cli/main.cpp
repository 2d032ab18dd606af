// synodctl's command line: the usage text, the global options (--endpoints,
// --json, --timeout, TLS, --token), the flag parser (Args) and the dispatch
// to each command. What the commands share is in synodctl.h.
#include <algorithm>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "cli/synodctl.h"
#include "http/text/text.h"

namespace synod::cli {
namespace {

constexpr const char* kUsage = R"(usage: synodctl [--endpoints A,B,C] [--json] [--timeout 10s] [--token TOKEN]
                [--cacert CA.pem [--cert CERT.pem --key KEY.pem]] COMMAND

  cluster status
  session create [--ttl 15s] [--lock-delay 0s] [--behavior release|delete]
  session keepalive|get|delete ID
  session list
  lock acquire NAME [--session ID | --ttl 15s] [--wait 10s] [--queue] [--mode exclusive|read|write|semaphore] [--limit N]
  lock release NAME --session ID
  lock status NAME
  lock validate NAME TOKEN
  lock force-release NAME [--reason TEXT] [--session ID] [--skip-lock-delay]
  lock list                           every lock with its holders (an administrator's view)
  lock run [--ttl 10s] [--lock-delay 0s] [--wait 30s] [--margin 2s] NAME -- CMD [ARG...]
  elect NAME VALUE [--ttl 10s]        campaign, hold leadership until interrupted, resign
  elect --observe NAME                print every leader change, "no leader" included
  election force-release NAME [--reason TEXT] [--session ID] [--skip-lock-delay]
  kv put KEY VALUE [--session ID] [--sequential] [--cas M] [--lock NAME --token T]
  kv get KEY [--stale] [--raw]
  kv list [PREFIX]
  kv delete KEY [--recurse] [--cas M]
  txn [--if GUARD]... [--then OP]...  all of the OPs at once if every GUARD holds, else none (exit 1)
      GUARD  version KEY = N | modify_index KEY = N | exists KEY | missing KEY
             | holder LOCK = SESSION | token LOCK = N | alive SESSION
      OP     put KEY VALUE [session=S] [sequential] [cas=M] [lock=L token=T]
             | delete KEY [recurse] [cas=M] [lock=L token=T]
             each one argument: quote it ('put k "a b"' keeps the space in the value)
  txn -f FILE|-                       the request body as JSON, {"guards":[...],"ops":[...]} (docs/api.md)
  watch [PREFIX] [--index N] [--space key|lock|election|session|all]
  auth whoami
  auth enable | auth disable
  auth token create PRINCIPAL [--roles A,B]    prints the token: it is shown only once
  auth token list
  auth token revoke ID
  auth rule add SUBJECT SPACE PERMISSION [--prefix P]
                     SUBJECT user:NAME or role:NAME; SPACE locks, keys, elections,
                     sessions or cluster; PERMISSION read, write or admin
  auth rule list
  auth rule delete ID
  acl add|list|delete ...                      the same as auth rule add|list|delete
  snapshot save FILE                  a backup of the whole state at one revision (needs cluster admin
                                      with auth on); checked whole, then written; restore it with
                                      `synod restore --snapshot FILE ...` (docs/operations.md)
  snapshot inspect FILE               its header and counts; exit 1 if it is truncated or altered
  leader transfer [--to ID]           move leadership to member ID, or to the most caught-up member
  member list                         every member: role, addresses, how far behind the leader
  member add --peer-addr H:P --client-addr H:P [--id N]
                                      add a learner (the next id unless --id); then start it with
                                      `synod --join` and promote it once caught up (docs/operations.md)
  member promote ID                   a learner votes from now on
  member remove ID                    remove a member for good; its id is never used again

Endpoints default to 127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003; any node
works (followers forward to the leader). With --cacert, or endpoints written
https://HOST:PORT, every request goes over TLS, the server checked against
--cacert (the system's CAs without it); --cert and --key present a client
certificate. --token (before COMMAND), or $SYNOD_TOKEN without it, sends
`Authorization: Bearer TOKEN` with every request; the variable keeps the
token out of the process list. Exit codes: 0 ok, 1 refused by the server, 2
bad usage, 3 no endpoint answered; `lock run` exits with CMD's code (128+N if
a signal N ended it).
)";

// --cacert, --cert and --key, and https:// endpoints: a scheme is taken off
// the endpoint (the client dials HOST:PORT), and TLS is on if either asks.
void setup_tls(Options& options, const std::string& cacert, const std::string& cert, const std::string& key) {
  bool https = !cacert.empty();
  for (auto& endpoint : options.endpoints) {
    for (const char* scheme : {"https://", "http://"}) {
      if (endpoint.rfind(scheme, 0) != 0) continue;
      https = https || scheme[4] == 's';
      endpoint.erase(0, std::string_view(scheme).size());
    }
    while (!endpoint.empty() && endpoint.back() == '/') endpoint.pop_back();
  }
  if (cert.empty() != key.empty()) usage_error("--cert and --key go together");
  if (!https) {
    if (!cert.empty()) usage_error("--cert needs TLS: give --cacert or https:// endpoints");
    return;
  }
  std::string error;
  options.tls = synod::http::client_tls_context(cacert, cert, key, error);
  if (!options.tls) usage_error(error);
}

}  // namespace

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "synodctl: %s\n(synodctl help lists the commands)\n", message.c_str());
  std::exit(2);
}

int64_t duration_arg(const std::string& text, const char* flag) {
  const auto ms = synod::http::parse_duration_ms(text);
  if (!ms) usage_error(std::string(flag) + " takes a duration such as 10s or 500ms, not '" + text + "'");
  return *ms;
}

Args::Args(std::vector<std::string> words, std::vector<std::string> booleans) : booleans_(std::move(booleans)) {
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

std::optional<std::string> Args::flag(const std::string& name) {
  used_.push_back(name);
  auto it = flags_.find(name);
  if (it == flags_.end()) return std::nullopt;
  return it->second;
}

std::string Args::positional(size_t index, const char* what) {
  if (index >= positional_.size()) usage_error(std::string("missing ") + what);
  return positional_[index];
}

void Args::done(size_t positionals_max) {
  for (const auto& [name, value] : flags_) {
    if (std::find(used_.begin(), used_.end(), name) != used_.end()) continue;
    // After the command, --token is the command's own (kv put's fencing token).
    if (name == "token")
      usage_error("unknown flag --token (the auth token goes before the command: synodctl --token T ...)");
    usage_error("unknown flag --" + name);
  }
  if (positional_.size() > positionals_max) usage_error("unexpected argument '" + positional_[positionals_max] + "'");
}

}  // namespace synod::cli

int main(int argc, char** argv) {
  using namespace synod::cli;
  std::signal(SIGPIPE, SIG_IGN);
  Options options;
  std::string cacert, cert, key;
  std::optional<std::string> token;
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
    } else if (word == "--token" && words.empty() && i + 1 < argc) {
      // Only before the command: after it, --token is the command's (kv put --lock L --token T).
      token = argv[++i];
    } else if ((word == "--cacert" || word == "--cert" || word == "--key") && i + 1 < argc) {
      (word == "--cacert" ? cacert : word == "--cert" ? cert : key) = argv[++i];
    } else if (word == "help" || word == "--help" || word == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      words.push_back(word);
    }
  }
  if (words.empty()) usage_error("no command");
  setup_tls(options, cacert, cert, key);
  if (!token) {
    if (const char* from_env = std::getenv("SYNOD_TOKEN")) token = from_env;
  }
  options.token = token.value_or("");
  for (const char c : options.token) {
    if (static_cast<unsigned char>(c) < 0x21 || c == 0x7f) usage_error("a token has no spaces or control characters");
  }
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
    const std::string verb = sub("session command");  // first: without one, begin() + 2 is past the end
    Args args({words.begin() + 2, words.end()}, {});
    return session_command(options, cluster, verb, args);
  }
  if (command == "lock") {
    const std::string verb = sub("lock command");  // first: without one, begin() + 2 is past the end
    Args args({words.begin() + 2, words.end()}, {"queue", "skip-lock-delay"});
    return lock_command(options, cluster, verb, args);
  }
  if (command == "kv") {
    const std::string verb = sub("kv command");  // first: without one, begin() + 2 is past the end
    Args args({words.begin() + 2, words.end()}, {"sequential", "raw", "stale", "recurse"});
    return kv_command(options, cluster, verb, args);
  }
  if (command == "watch") {
    Args args({words.begin() + 1, words.end()}, {});
    return watch_command(options, args);
  }
  if (command == "election") {
    // Not `elect force-release`: `elect NAME VALUE` campaigns, in an election
    // that may well be called force-release.
    if (sub("election command") != "force-release") usage_error("unknown election command '" + words[1] + "'");
    Args args({words.begin() + 2, words.end()}, {"skip-lock-delay"});
    return force_release(options, cluster, "elections", args);
  }
  if (command == "auth") {
    const std::string verb = sub("auth command");  // first: without one, begin() + 2 is past the end
    Args args({words.begin() + 2, words.end()}, {});
    return auth_command(options, cluster, verb, args);
  }
  if (command == "acl") {  // `acl add|list|delete` is `auth rule add|list|delete`
    Args args({words.begin() + 1, words.end()}, {});
    return auth_command(options, cluster, "rule", args);
  }
  if (command == "leader") {
    const std::string verb = sub("leader command");  // first: without one, begin() + 2 is past the end
    Args args({words.begin() + 2, words.end()}, {});
    return leader_command(options, cluster, verb, args);
  }
  if (command == "member") {
    const std::string verb = sub("member command");  // first: without one, begin() + 2 is past the end
    Args args({words.begin() + 2, words.end()}, {});
    return member_command(options, cluster, verb, args);
  }
  if (command == "snapshot") {
    const std::string verb = sub("snapshot command");  // first: without one, begin() + 2 is past the end
    Args args({words.begin() + 2, words.end()}, {});
    return snapshot_command(options, cluster, verb, args);
  }
  if (command == "txn") return txn_command(options, cluster, {words.begin() + 1, words.end()});
  if (command == "elect") {
    Args args({words.begin() + 1, words.end()}, {"observe"});
    return elect(options, cluster, args);
  }
  usage_error("unknown command '" + command + "'");
}
