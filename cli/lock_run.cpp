// `synodctl lock run`: runs a command while holding a lock, and guarantees
// that the command's whole process group is dead before the server could
// grant the lock to anyone else. It owns the child process and the signals
// passed on to it; the session is kept alive by a Keeper (keeper.h).
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli/keeper.h"
#include "cli/synodctl.h"
#include "http/text/text.h"

namespace synod::cli {
namespace {

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

}  // namespace

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

}  // namespace synod::cli
