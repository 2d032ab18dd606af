// synod-sim: runs the deterministic simulator over a range of seeds.
//
//   synod-sim --seeds A-B [--replicas 3|5|7|mix] [--faults all|none|NAME,...]
//             [--mutant NAME] [--trace] [--quiet] [--stop-at-first-failure]
//
// Prints one line per failing seed, then, as its last line, one JSON object
// (DESIGN §7): seeds, commands, faults, safety_violations, live_after_heal,
// first_failing_seed (null if none) and replay, plus a few more figures.
// Exit code: 0 if every seed was safe and live again after healing, 1 if not,
// 2 for bad arguments.
#include <chrono>
#include <cstdio>
#include <cstring>
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
  bool trace = false;
  bool quiet = false;
  bool stop_at_first_failure = false;
};

[[noreturn]] void usage(const std::string& problem) {
  std::fprintf(stderr,
               "synod-sim: %s\n"
               "usage: synod-sim --seeds A-B [--replicas 3|5|7|mix] [--faults all|none|NAME,...] [--mutant NAME] "
               "[--trace] [--quiet] [--stop-at-first-failure]\n"
               "mutants: forget-promise, skip-noop-fill, quorum-half, lease-read-after-expiry, "
               "prepare-after-restart\n",
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

bool set_mutant(const std::string& name, synod::paxos::Mutants& mutants) {
  if (name == "forget-promise") mutants.acceptor_forgets_promise_on_restart = true;
  else if (name == "skip-noop-fill") mutants.leader_skips_noop_fill = true;
  else if (name == "quorum-half") mutants.quorum_of_half = true;
  else if (name == "lease-read-after-expiry") mutants.lease_read_after_expiry = true;
  else if (name == "prepare-after-restart") mutants.prepare_right_after_restart = true;
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
    } else if (flag == "--trace") {
      args.trace = true;
    } else if (flag == "--quiet") {
      args.quiet = true;
    } else if (flag == "--stop-at-first-failure") {
      args.stop_at_first_failure = true;
    } else {
      usage("unknown argument " + flag);
    }
  }
  return args;
}

}  // namespace

int main(int argc, char** argv) {
  const Arguments args = parse(argc, argv);
  SimConfig base;
  std::string error;
  if (!FaultMix::parse(args.faults, base.faults, error)) usage(error);
  if (!args.mutant.empty() && !set_mutant(args.mutant, base.mutants)) usage("unknown mutant " + args.mutant);
  base.trace = args.trace;

  const auto started = std::chrono::steady_clock::now();
  uint64_t seeds = 0, commands = 0, reads = 0, faults = 0, violations = 0, live = 0, elections = 0;
  uint64_t commands_min = UINT64_MAX, faults_min = UINT64_MAX;
  int64_t heal_to_commit_ms_max = 0;
  bool failed = false;
  uint64_t first_failing = 0;
  for (uint64_t seed = args.first_seed; seed <= args.last_seed; ++seed) {
    SimConfig config = base;
    config.seed = seed;
    config.replicas = args.replicas == "mix" ? synod::sim::mix_replicas(seed) : std::stoi(args.replicas);
    const auto result = synod::sim::run_simulation(config);
    ++seeds;
    commands += result.commands;
    reads += result.reads;
    faults += result.faults;
    elections += result.elections;
    commands_min = std::min(commands_min, result.commands);
    faults_min = std::min(faults_min, result.faults);
    heal_to_commit_ms_max = std::max(heal_to_commit_ms_max, result.heal_to_commit_ms);
    violations += result.violations.size();
    if (result.live_after_heal) ++live;
    const bool bad = !result.violations.empty() || !result.live_after_heal;
    if (bad && !args.quiet) {
      std::printf("seed %lu (%d replicas): %zu violations, %s after heal%s%s\n", static_cast<unsigned long>(seed),
                  result.replicas, result.violations.size(), result.live_after_heal ? "live" : "NOT live",
                  result.violations.empty() ? "" : "; first: ",
                  result.violations.empty() ? "" : result.violations.front().c_str());
    }
    if (bad && !failed) {
      failed = true;
      first_failing = seed;
    }
    if (failed && args.stop_at_first_failure) break;
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::string replay = "null";
  if (failed) {
    replay = "\"synod-sim --seeds " + std::to_string(first_failing) + "-" + std::to_string(first_failing) +
             " --replicas " + args.replicas + " --faults " + base.faults.to_string() +
             (args.mutant.empty() ? "" : " --mutant " + args.mutant) + " --trace\"";
  }
  std::printf(
      "{\"seeds\":%lu,\"commands\":%lu,\"faults\":%lu,\"safety_violations\":%lu,\"live_after_heal\":%lu,"
      "\"first_failing_seed\":%s,\"replay\":%s,\"reads\":%lu,\"elections\":%lu,\"commands_min\":%lu,"
      "\"faults_min\":%lu,\"heal_to_commit_ms_max\":%ld,\"replicas\":\"%s\",\"fault_mix\":\"%s\",\"seconds\":%.2f}\n",
      static_cast<unsigned long>(seeds), static_cast<unsigned long>(commands), static_cast<unsigned long>(faults),
      static_cast<unsigned long>(violations), static_cast<unsigned long>(live),
      failed ? std::to_string(first_failing).c_str() : "null", replay.c_str(), static_cast<unsigned long>(reads),
      static_cast<unsigned long>(elections), static_cast<unsigned long>(commands_min),
      static_cast<unsigned long>(faults_min), static_cast<long>(heal_to_commit_ms_max), args.replicas.c_str(),
      base.faults.to_string().c_str(), seconds);
  return failed ? 1 : 0;
}
