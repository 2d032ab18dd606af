// synod-sim: runs the deterministic simulator over a range of seeds.
//
//   synod-sim --seeds A-B [--replicas 3|5|7|mix] [--faults all|none|NAME,...]
//             [--mutant NAME] [--trace] [--quiet] [--stop-at-first-failure]
//             [--history FILE] [--allow-unknown]
//
// Prints one line per failing seed, then, as its last line, one JSON object
// (DESIGN §7): seeds, commands, faults, safety_violations, live_after_heal,
// first_failing_seed (null if none) and replay, plus more figures: those of
// the lock service (lock_grants, fenced_writes, fenced_refusals,
// stale_writes_refused, concurrent_holders_believed, sessions_expired, ...)
// and of the key histories' linearizability check (lincheck_keys, how many
// each path decided: lincheck_unique_values and lincheck_searched, then
// lincheck_unknown, lincheck_seconds). A key the search leaves undecided is
// a safety violation unless --allow-unknown is given. --history writes the key history of
// the last seed in synod's JSON-lines format (docs/history-format.md), for
// synod-lincheck.
// Exit code: 0 if every seed was safe and live again after healing, 1 if not,
// 2 for bad arguments.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "sim/sim.h"

namespace {

using synod::sim::FaultMix;
using synod::sim::SimConfig;

struct Arguments {
  uint64_t first_seed = 1;
  uint64_t last_seed = 100;
  std::string replicas = "mix";
  std::string faults = "all";
  std::string mutant;
  std::string history;
  bool trace = false;
  bool quiet = false;
  bool stop_at_first_failure = false;
  bool allow_unknown = false;
  bool buggify = false;
};

[[noreturn]] void usage(const std::string& problem) {
  std::
      fprintf(stderr,
              "synod-sim: %s\n"
              "usage: synod-sim --seeds A-B [--replicas 3|5|7|mix] [--faults all|none|NAME,...] [--mutant NAME] "
              "[--trace] [--quiet] [--stop-at-first-failure] [--history FILE] [--allow-unknown] [--buggify]\n"
              "--buggify: each seed also draws its timing and limits (printed with the replay line)\n"
              "mutants: forget-promise, skip-noop-fill, quorum-half, lease-read-after-expiry, "
              "prepare-after-restart, keepalive-after-step-down, stamp-ahead, stamp-behind, "
              "credit-without-lease-wait, apply-without-client-id, read-without-read-index, resource-unfenced, "
              "damaged-disk-votes, "
              "config-without-alpha, config-skips-phase1, two-changes-in-flight, removed-member-counts, learner-counts "
              "(the last five with --faults all,member)\n",
              problem.c_str());
  std::exit(2);
}

bool parse_seeds(const std::string& text, uint64_t& first, uint64_t& last) {
  const auto dash = text.find('-');
  try {
    size_t used = 0;
    if (dash == std::string::npos) {
      first = last = std::stoull(text, &used);
      return used == text.size();
    }
    first = std::stoull(text.substr(0, dash), &used);
    if (used != dash) return false;
    last = std::stoull(text.substr(dash + 1), &used);
    return used == text.size() - dash - 1 && first <= last;
  } catch (const std::exception&) {
    return false;
  }
}

bool set_one_mutant(const std::string& name, SimConfig& config);

// One mutant, or several joined by commas (config-skips-phase1,two-changes-in-flight).
bool set_mutant(const std::string& names, SimConfig& config) {
  std::stringstream stream(names);
  std::string name;
  bool any = false;
  while (std::getline(stream, name, ',')) {
    if (!set_one_mutant(name, config)) return false;
    any = true;
  }
  return any;
}

bool set_one_mutant(const std::string& name, SimConfig& config) {
  auto& core = config.mutants;
  auto& driver = config.driver_mutants;
  if (name == "forget-promise") core.acceptor_forgets_promise_on_restart = true;
  else if (name == "skip-noop-fill") core.leader_skips_noop_fill = true;
  else if (name == "quorum-half") core.quorum_of_half = true;
  else if (name == "lease-read-after-expiry") core.lease_read_after_expiry = true;
  else if (name == "prepare-after-restart") core.prepare_right_after_restart = true;
  else if (name == "keepalive-after-step-down") driver.keepalive_after_step_down = true;
  else if (name == "stamp-ahead") driver.stamp_ahead = true;
  else if (name == "stamp-behind") driver.stamp_behind = true;
  else if (name == "credit-without-lease-wait") driver.credit_without_lease_wait = true;
  else if (name == "apply-without-client-id") driver.apply_without_client_id = true;
  else if (name == "read-without-read-index") driver.read_without_read_index = true;
  else if (name == "resource-unfenced") driver.resource_unfenced = true;
  else if (name == "damaged-disk-votes") driver.damaged_disk_votes = true;
  else if (name == "config-without-alpha") core.config_without_alpha = true;
  else if (name == "config-skips-phase1") core.config_skips_phase1 = true;
  else if (name == "two-changes-in-flight") core.two_changes_in_flight = true;
  else if (name == "removed-member-counts") core.removed_member_counts = true;
  else if (name == "learner-counts") core.learner_counts = true;
  else return false;
  return true;
}

Arguments parse(int argc, char** argv) {
  Arguments args;
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(flag + " needs a value");
      return argv[++i];
    };
    if (flag == "--seeds") {
      if (!parse_seeds(value(), args.first_seed, args.last_seed)) usage("--seeds takes A-B with A <= B");
    } else if (flag == "--replicas") {
      args.replicas = value();
      if (args.replicas != "3" && args.replicas != "5" && args.replicas != "7" && args.replicas != "mix") {
        usage("--replicas takes 3, 5, 7 or mix");
      }
    } else if (flag == "--faults") {
      args.faults = value();
    } else if (flag == "--mutant") {
      args.mutant = value();
    } else if (flag == "--history") {
      args.history = value();
    } else if (flag == "--trace") {
      args.trace = true;
    } else if (flag == "--quiet") {
      args.quiet = true;
    } else if (flag == "--stop-at-first-failure") {
      args.stop_at_first_failure = true;
    } else if (flag == "--allow-unknown") {
      args.allow_unknown = true;
    } else if (flag == "--buggify") {
      args.buggify = true;
    } else {
      usage("unknown argument " + flag);
    }
  }
  return args;
}

// What the last line reports, summed (or bounded) over the seeds run.
struct Totals {
  uint64_t seeds = 0, commands = 0, reads = 0, faults = 0, violations = 0, live = 0, elections = 0;
  uint64_t commands_min = UINT64_MAX, faults_min = UINT64_MAX;
  int64_t heal_to_commit_ms_max = 0;
  uint64_t deduplicated = 0;
  uint64_t disk_corruptions = 0, disk_corruptions_detected = 0, disks_lost = 0, log_tails_torn = 0, repairs = 0;
  uint64_t members_added = 0, members_promoted = 0, members_removed = 0, changes_in_effect = 0;
  uint64_t sessions = 0, expired = 0, expired_not_paused = 0, takeovers = 0, keepalives = 0;
  uint64_t bound_max_ms = 0;
  int64_t slack_min_ms = -1;
  uint64_t lock_grants = 0, lock_delay_grants = 0, fenced_writes = 0, fenced_refusals = 0;
  uint64_t stale_refused = 0, stale_accepted = 0, stale_after_regrant = 0, pauses = 0, concurrent = 0;
  uint64_t history_ops = 0, lincheck_keys = 0, lincheck_unique_values = 0, lincheck_searched = 0, lincheck_unknown = 0;
  double lincheck_seconds = 0;

  void add(const synod::sim::SimResult& r) {
    ++seeds;
    commands += r.commands;
    reads += r.reads;
    faults += r.faults;
    elections += r.elections;
    commands_min = std::min(commands_min, r.commands);
    faults_min = std::min(faults_min, r.faults);
    heal_to_commit_ms_max = std::max(heal_to_commit_ms_max, r.heal_to_commit_ms);
    violations += r.violations.size();
    if (r.live_after_heal) ++live;
    deduplicated += r.commands_deduplicated;
    disk_corruptions += r.disk_corruptions;
    disk_corruptions_detected += r.disk_corruptions_detected;
    disks_lost += r.disks_lost;
    log_tails_torn += r.log_tails_torn;
    repairs += r.repairs_completed;
    members_added += r.members_added;
    members_promoted += r.members_promoted;
    members_removed += r.members_removed;
    changes_in_effect += r.changes_in_effect;
    sessions += r.sessions_created;
    expired += r.sessions_expired;
    expired_not_paused += r.sessions_expired_not_paused;
    takeovers += r.keeper_takeovers;
    keepalives += r.keepalives_answered;
    bound_max_ms = std::max(bound_max_ms, r.expiry_bound_max_ms);
    if (r.expiry_slack_min_ms >= 0 && (slack_min_ms < 0 || r.expiry_slack_min_ms < slack_min_ms)) {
      slack_min_ms = r.expiry_slack_min_ms;
    }
    lock_grants += r.lock_grants;
    lock_delay_grants += r.lock_delay_grants;
    fenced_writes += r.fenced_writes;
    fenced_refusals += r.fenced_refusals;
    stale_refused += r.stale_writes_refused;
    stale_accepted += r.stale_writes_accepted;
    stale_after_regrant += r.stale_writes_after_regrant;
    pauses += r.client_pauses;
    concurrent += r.concurrent_holders_believed;
    history_ops += r.history_operations;
    lincheck_keys += r.lincheck_keys;
    lincheck_unique_values += r.lincheck_unique_values;
    lincheck_searched += r.lincheck_searched;
    lincheck_unknown += r.lincheck_unknown;
    lincheck_seconds += r.lincheck_seconds;
  }
};

// One JSON object on one line, built field by field.
class JsonLine {
 public:
  void number(const char* name, uint64_t value) { raw(name, std::to_string(value)); }
  void number(const char* name, int64_t value) { raw(name, std::to_string(value)); }
  void seconds(const char* name, double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.2f", value);
    raw(name, text);
  }
  void text(const char* name, const std::string& value) { raw(name, "\"" + value + "\""); }  // no escaping needed
  void raw(const char* name, const std::string& value) {
    line_ += (line_.empty() ? "{\"" : ",\"") + std::string(name) + "\":" + value;
  }
  std::string str() const { return line_ + "}"; }

 private:
  std::string line_;
};

}  // namespace

int main(int argc, char** argv) {
  const Arguments args = parse(argc, argv);
  SimConfig base;
  std::string error;
  if (!FaultMix::parse(args.faults, base.faults, error)) usage(error);
  if (!args.mutant.empty() && !set_mutant(args.mutant, base)) usage("unknown mutant " + args.mutant);
  base.trace = args.trace;
  base.allow_unknown = args.allow_unknown;
  base.buggify = args.buggify;

  const auto started = std::chrono::steady_clock::now();
  Totals totals;
  std::string history;
  bool failed = false;
  uint64_t first_failing = 0;
  std::string first_failing_drawn;
  for (uint64_t seed = args.first_seed; seed <= args.last_seed; ++seed) {
    SimConfig config = base;
    config.seed = seed;
    config.replicas = args.replicas == "mix" ? synod::sim::mix_replicas(seed) : std::stoi(args.replicas);
    const auto result = synod::sim::run_simulation(config, !args.history.empty());
    totals.add(result);
    if (!args.history.empty()) history = result.history_jsonl;
    const bool bad = !result.violations.empty() || !result.live_after_heal;
    if (bad && !args.quiet) {
      std::printf("seed %lu (%d replicas): %zu violations, %s after heal%s%s\n", static_cast<unsigned long>(seed),
                  result.replicas, result.violations.size(), result.live_after_heal ? "live" : "NOT live",
                  result.violations.empty() ? "" : "; first: ",
                  result.violations.empty() ? "" : result.violations.front().c_str());
    }
    if (bad && !args.quiet && !result.drawn.empty()) std::printf("  drawn: %s\n", result.drawn.c_str());
    if (bad && !failed) {
      failed = true;
      first_failing = seed;
      first_failing_drawn = result.drawn;
    }
    if (failed && args.stop_at_first_failure) break;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (!args.history.empty()) {
    std::ofstream out(args.history, std::ios::binary);
    out << history;
    if (!out) {
      std::fprintf(stderr, "synod-sim: cannot write %s\n", args.history.c_str());
      return 2;
    }
  }
  std::string replay = "null";
  if (failed) {
    replay = "\"synod-sim --seeds " + std::to_string(first_failing) + "-" + std::to_string(first_failing) +
             " --replicas " + args.replicas + " --faults " + base.faults.to_string() +
             (args.mutant.empty() ? "" : " --mutant " + args.mutant) + (args.buggify ? " --buggify" : "") +
             " --trace" + (first_failing_drawn.empty() ? "" : " (drawn: " + first_failing_drawn + ")") + "\"";
  }
  const Totals& t = totals;
  JsonLine json;
  // DESIGN §7 first.
  json.number("seeds", t.seeds);
  json.number("commands", t.commands);
  json.number("faults", t.faults);
  json.number("safety_violations", t.violations);
  json.number("live_after_heal", t.live);
  json.raw("first_failing_seed", failed ? std::to_string(first_failing) : "null");
  json.raw("replay", replay);
  // The core.
  json.number("reads", t.reads);
  json.number("elections", t.elections);
  json.number("commands_min", t.commands_min);
  json.number("faults_min", t.faults_min);
  json.number("heal_to_commit_ms_max", t.heal_to_commit_ms_max);
  json.number("commands_deduplicated", t.deduplicated);
  // Disks.
  json.number("disk_corruptions", t.disk_corruptions);
  json.number("disk_corruptions_detected", t.disk_corruptions_detected);
  json.number("disks_lost", t.disks_lost);
  json.number("log_tails_torn", t.log_tails_torn);
  json.number("repairs_completed", t.repairs);
  // Membership changes (--faults ...,member).
  json.number("members_added", t.members_added);
  json.number("members_promoted", t.members_promoted);
  json.number("members_removed", t.members_removed);
  json.number("changes_in_effect", t.changes_in_effect);
  // The lock service.
  json.number("sessions", t.sessions);
  json.number("sessions_expired", t.expired);
  json.number("sessions_expired_not_paused", t.expired_not_paused);
  json.number("keeper_takeovers", t.takeovers);
  json.number("keepalives", t.keepalives);
  json.number("expiry_bound_max_ms", t.bound_max_ms);
  json.number("expiry_slack_min_ms", t.slack_min_ms);
  json.number("lock_grants", t.lock_grants);
  json.number("lock_delay_grants", t.lock_delay_grants);
  json.number("fenced_writes", t.fenced_writes);
  json.number("fenced_refusals", t.fenced_refusals);
  json.number("stale_writes_refused", t.stale_refused);
  json.number("stale_writes_accepted", t.stale_accepted);
  json.number("stale_writes_after_regrant", t.stale_after_regrant);
  json.number("client_pauses", t.pauses);
  json.number("concurrent_holders_believed", t.concurrent);
  // The key histories.
  json.number("history_operations", t.history_ops);
  json.number("lincheck_keys", t.lincheck_keys);
  json.number("lincheck_unique_values", t.lincheck_unique_values);
  json.number("lincheck_searched", t.lincheck_searched);
  json.number("lincheck_unknown", t.lincheck_unknown);
  json.seconds("lincheck_seconds", t.lincheck_seconds);
  json.text("replicas", args.replicas);
  json.text("fault_mix", base.faults.to_string());
  json.seconds("seconds", seconds);
  std::printf("%s\n", json.str().c_str());
  return failed ? 1 : 0;
}
