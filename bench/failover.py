"""Failover time on real processes: from SIGKILL (or SIGSTOP) of the leader to
the first write a new leader commits, repeated; and leader changes under a
steady load without faults.

  python3 bench/failover.py --binary build/server/synod --runs 20 --signal KILL
  python3 bench/failover.py --binary ... --runs 20 --signal STOP
  python3 bench/failover.py --binary ... --runs 20 --loadgen build/bench/synod-loadgen --load-clients 64
  python3 bench/failover.py --binary ... --steady-seconds 600 --loadgen build/bench/synod-loadgen
  python3 bench/failover.py --binary ... --metrics-cost 4 --loadgen build/bench/synod-loadgen

Each run starts a fresh 3-node cluster on 127.0.0.1, waits for a serving
leader, keeps writing through it, signals it, and polls the other two nodes
with writes (every 2 ms) until one commits. Prints one JSON line per run and
a summary line with the median and maximum. Standard library only.

With --load-clients N (and --loadgen), synod-loadgen writes through the
leader with N clients while it is killed. Every run also reads what the two
survivors' metrics say (docs/observability.md): the election duration the new
leader recorded (exact, from GET /v1/status) and the change in their
synod_election_duration_seconds histograms (GET /metrics), so the summary
compares the p50 and p99 of the kill-to-first-commit times with the
histogram's estimate of the same quantiles.

--steady-seconds S also reads the nodes' /metrics at the end: the p99 of
synod_heartbeat_interval_seconds (the followers' heartbeat gaps, i.e. the
jitter) and synod_elections_started_total, the elections started (goal: 0).

--metrics-cost P measures what recording metrics costs on the hot path: P
pairs of put-throughput runs, with --metrics true and --metrics false, in the
order A B B A (so a drift over time cancels out), each on a fresh cluster.
With --cost-no-sync the nodes skip fsync. Besides throughput it reports the
CPU the three nodes spent per operation (/proc), which varies far less from
run to run than throughput on a shared 2-core machine.
"""
import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test"))  # for pylib
from pylib import prometheus  # noqa: E402
from pylib.cluster import Cluster  # noqa: E402
from pylib.http import request  # noqa: E402
from cpu import cpu_seconds  # noqa: E402  (bench/cpu.py, beside this script)


# ------------------------------------------------------------ metrics

def scrape(cluster, node):
    """{(name, frozenset(labels)): value} from the node's GET /metrics."""
    return prometheus.scrape(cluster.port(node)).by_key()


def buckets(samples, name):
    """The cumulative buckets of an unlabeled histogram: [(le, count)], ascending."""
    out = []
    for (sample, labels), value in samples.items():
        if sample == name + "_bucket":
            le = dict(labels)["le"]
            out.append((float("inf") if le == "+Inf" else float(le), value))
    return sorted(out)


def add_buckets(total, more, sign=1):
    merged = dict(total)
    for le, count in more:
        merged[le] = merged.get(le, 0) + sign * count
    return sorted(merged.items())


def histogram_quantile(q, cumulative):
    """Prometheus' histogram_quantile over cumulative [(le, count)]."""
    if not cumulative or cumulative[-1][1] == 0:
        return None
    rank = q * cumulative[-1][1]
    below, lower = 0, 0.0
    for le, count in cumulative:
        if count >= rank and count > below:
            if le == float("inf"):
                return lower
            return lower + (le - lower) * (rank - below) / (count - below)
        below, lower = count, le
    return lower


def quantile(q, values):
    """The q-quantile of exact values (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(q * len(ordered) + 0.5)) - 1))]


def status(cluster, node):
    response = request(cluster.port(node), "GET", "/v1/status", timeout=5)
    return response.json if response.status == 200 else None


# ------------------------------------------------------------ failover

def start_load(loadgen, cluster, node, clients, seconds):
    if not loadgen or not clients:
        return None
    return subprocess.Popen([loadgen, "--endpoints", f"127.0.0.1:{cluster.port(node)}", "--workload", "put",
                             "--clients", str(clients), "--seconds", str(seconds), "--warmup", "0"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def one_failover(binary, sig, run, loadgen=None, load_clients=0):
    cluster = Cluster(3, binary)
    load = None
    try:
        cluster.start_all()
        leader = cluster.leader(timeout=15)
        for i in range(20):
            assert cluster.put(leader, f"warm{i}", "v").status == 200
        others = [n for n in cluster.ids() if n != leader]
        load = start_load(loadgen, cluster, leader, load_clients, 30)
        time.sleep(1.0 if load else 0.2)
        before = {node: buckets(scrape(cluster, node), "synod_election_duration_seconds") for node in others}
        signaled = time.time()
        cluster.processes[leader].send_signal(sig)
        n = 0
        result = None
        while result is None:
            for node in others:
                n += 1
                response = request(cluster.port(node), "PUT", f"/v1/kv/after/{n}", body="v", timeout=0.5)
                if response.status == 200:
                    elapsed_ms = (time.time() - signaled) * 1000
                    result = {"run": run, "signal": sig.name, "ms": round(elapsed_ms, 1), "new_leader": node,
                              "under_load": bool(load)}
                    break
            if result is None and time.time() - signaled > 30:
                raise AssertionError("no new leader committed within 30 s")
            time.sleep(0.002)
        # What the survivors recorded: the exact duration of this failover
        # (the leader_change record that ends the killed leader's term) and
        # what their histograms gained.
        time.sleep(0.3)
        result["histogram_delta"] = {}
        for node in others:
            after = buckets(scrape(cluster, node), "synod_election_duration_seconds")
            result["histogram_delta"][node] = add_buckets(after, before[node], -1)
            record = [e for e in (status(cluster, node) or {}).get("elections", [])
                      if e["kind"] == "leader_change" and e["leader_before"] == leader]
            if record:
                key = "recorded_ms_new_leader" if node == result["new_leader"] else "recorded_ms_follower"
                result[key] = round(record[-1]["duration_ms"], 1)
        return result
    finally:
        if load:
            load.kill()
            load.wait()
        if sig == signal.SIGSTOP:
            cluster.resume(leader)
        cluster.close()


def summarize_failovers(results, sig):
    times = [r["ms"] for r in results]
    summary = {"signal": sig, "runs": len(times), "median_ms": round(statistics.median(times), 1),
               "max_ms": max(times), "min_ms": min(times),
               "kill_to_first_commit_p50_ms": quantile(0.5, times), "kill_to_first_commit_p99_ms": quantile(0.99, times)}
    for key in ("recorded_ms_new_leader", "recorded_ms_follower"):
        values = [r[key] for r in results if key in r]
        if values:
            summary[key.replace("recorded_ms", "recorded") + "_p50_ms"] = quantile(0.5, values)
            summary[key.replace("recorded_ms", "recorded") + "_p99_ms"] = quantile(0.99, values)
    new_leaders, everyone = [], []
    for r in results:
        for node, delta in r["histogram_delta"].items():
            everyone = add_buckets(everyone, delta)
            if node == r["new_leader"]:
                new_leaders = add_buckets(new_leaders, delta)
    for name, cumulative in (("histogram_new_leader", new_leaders), ("histogram_survivors", everyone)):
        for q in (0.5, 0.99):
            value = histogram_quantile(q, cumulative)
            summary[f"{name}_p{int(q * 100)}_ms"] = None if value is None else round(value * 1000, 1)
        summary[f"{name}_observations"] = cumulative[-1][1] if cumulative else 0
    return summary


def snapshot_log(cluster):
    """Snapshots the nodes took (their 'snapshot' log lines): how many, the
    longest time the child spent serializing one, and the longest one step of
    saving or compacting held the storage thread (store_step_ms_max), in ms."""
    count, longest = 0, {"serialize_ms": 0, "store_step_ms_max": 0, "store_ms": 0}
    for node in cluster.ids():
        for line in cluster.log_text(node).splitlines():
            if " snapshot " not in line:
                continue
            count += 1
            for field in line.split():
                name, _, value = field.partition("=")
                if name in longest and value.isdigit():
                    longest[name] = max(longest[name], int(value))
    return count, longest


def slowest_bucket(samples, name):
    """The upper bound (ms) of the highest non-empty bucket of a histogram: a
    bound on the longest observation."""
    previous, slowest = 0, None
    for le, count in buckets(samples, name):
        if count > previous and le != float("inf"):
            slowest = round(le * 1000, 3)
        previous = count
    return slowest


def steady(binary, loadgen, seconds, key_space):
    # A growing state (key_space 0) must not stop growing at the default
    # keys_max (4,194,304) halfway through: every put after it would fail.
    cluster = Cluster(3, binary, extra_args=["--keys-max", str(1 << 24)] if key_space == 0 else [])
    try:
        cluster.start_all()
        leader = cluster.leader(timeout=15)
        endpoints = ",".join(f"127.0.0.1:{cluster.port(n)}" for n in [leader])
        before = sum(cluster.log_text(n).count("leader_changed") for n in cluster.ids())
        started_before = sum(scrape(cluster, n).get(("synod_elections_started_total", frozenset()), 0)
                             for n in cluster.ids())
        result = subprocess.run([loadgen, "--endpoints", endpoints, "--workload", "put", "--clients", "16",
                                 "--seconds", str(seconds), "--warmup", "0", "--key-space", str(key_space)],
                                capture_output=True, text=True)
        after = sum(cluster.log_text(n).count("leader_changed") for n in cluster.ids())
        load = json.loads(result.stdout.strip().splitlines()[-1]) if result.stdout.strip() else {}
        # The followers' heartbeat gaps over the whole run, and the largest
        # gap any 10-second window saw (the status page's history).
        gaps, elections_started, max_gap_ms = [], 0, None
        for node in cluster.ids():
            samples = scrape(cluster, node)
            elections_started += samples.get(("synod_elections_started_total", frozenset()), 0)
            if node != leader:
                gaps = add_buckets(gaps, buckets(samples, "synod_heartbeat_interval_seconds"))
            for window in (status(cluster, node) or {}).get("windows", []):
                if window.get("heartbeat_max_ms") is not None:
                    max_gap_ms = max(max_gap_ms or 0, window["heartbeat_max_ms"])
        p99 = histogram_quantile(0.99, gaps)
        p50 = histogram_quantile(0.5, gaps)
        snapshots, longest = snapshot_log(cluster)
        # The longest any storage-thread step held group commits back: a
        # bound from each step histogram's highest non-empty bucket.
        step_bound_ms = {}
        for node in cluster.ids():
            samples = scrape(cluster, node)
            for kind in ("checkpoint_duration", "snapshot_step_duration", "compaction_step_duration"):
                bound = slowest_bucket(samples, f"synod_storage_{kind}_seconds")
                if bound is not None:
                    step_bound_ms[kind] = max(step_bound_ms.get(kind, 0), bound)
        return {"steady_seconds": seconds, "key_space": key_space, "leader_changes": after - before, "load": load,
                "snapshots": snapshots, "snapshot_serialize_max_ms": longest["serialize_ms"],
                "snapshot_store_ms_max": longest["store_ms"],
                "storage_step_ms_max": longest["store_step_ms_max"],
                "storage_step_bucket_bound_ms": step_bound_ms,
                "elections_started": elections_started - started_before,
                "heartbeat_interval_p50_ms": None if p50 is None else round(p50 * 1000, 2),
                "heartbeat_interval_p99_ms": None if p99 is None else round(p99 * 1000, 2),
                "heartbeat_gap_max_ms_last_10_min": max_gap_ms,
                "heartbeats_observed": gaps[-1][1] if gaps else 0,
                "leader_still": cluster.leader(timeout=5) == leader}
    finally:
        cluster.close()


def metrics_cost(binary, loadgen, pairs, seconds, clients, extra_args=()):
    """Put throughput with --metrics true (A) and false (B), in A B B A order."""
    order = []
    for _ in range(pairs):
        order += ["true", "false"] if len(order) % 4 == 0 else ["false", "true"]
    runs = []
    for flag in order:
        cluster = Cluster(3, binary, extra_args=["--metrics", flag] + list(extra_args))
        try:
            cluster.start_all()
            leader = cluster.leader(timeout=15)
            # CPU per operation is far steadier than throughput on a shared
            # 2-core machine: it is what the metrics cost, whatever the
            # scheduler does to the rate.
            pids = [cluster.processes[n].pid for n in cluster.ids()]
            cpu_before = sum(cpu_seconds(pid) for pid in pids)
            result = subprocess.run([loadgen, "--endpoints", f"127.0.0.1:{cluster.port(leader)}", "--workload", "put",
                                     "--clients", str(clients), "--seconds", str(seconds), "--warmup", "0"],
                                    capture_output=True, text=True)
            cpu = sum(cpu_seconds(pid) for pid in pids) - cpu_before
            load = json.loads(result.stdout.strip().splitlines()[-1])
            runs.append({"metrics": flag == "true", "ops_per_s": load["ops_per_s"], "p50_ms": load["p50_ms"],
                         "p99_ms": load["p99_ms"], "errors": load.get("errors", 0),
                         "node_cpu_us_per_op": round(cpu * 1e6 / max(1, load["ops"]), 2)})
            print(json.dumps(runs[-1]), flush=True)
        finally:
            cluster.close()
    on = [r["ops_per_s"] for r in runs if r["metrics"]]
    off = [r["ops_per_s"] for r in runs if not r["metrics"]]
    cpu_on = [r["node_cpu_us_per_op"] for r in runs if r["metrics"]]
    cpu_off = [r["node_cpu_us_per_op"] for r in runs if not r["metrics"]]
    return {"metrics_cost_pairs": pairs, "clients": clients, "seconds": seconds, "node_args": list(extra_args),
            "ops_per_s_metrics_on_mean": round(statistics.mean(on), 1),
            "ops_per_s_metrics_off_mean": round(statistics.mean(off), 1),
            "cost_percent": round((1 - statistics.mean(on) / statistics.mean(off)) * 100, 2),
            "node_cpu_us_per_op_on_median": statistics.median(cpu_on),
            "node_cpu_us_per_op_off_median": statistics.median(cpu_off),
            "cpu_cost_percent": round((statistics.median(cpu_on) / statistics.median(cpu_off) - 1) * 100, 2),
            "ops_per_s_on": on, "ops_per_s_off": off, "cpu_us_per_op_on": cpu_on, "cpu_us_per_op_off": cpu_off}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--signal", choices=["KILL", "STOP"], default="KILL")
    parser.add_argument("--steady-seconds", type=int, default=0)
    parser.add_argument("--key-space", type=int, default=1000,
                        help="--steady-seconds: keys each of the 16 writers cycles over (0: a new key per write, "
                             "so the state grows without bound)")
    parser.add_argument("--loadgen")
    parser.add_argument("--load-clients", type=int, default=0, help="loadgen clients writing while the leader dies")
    parser.add_argument("--metrics-cost", type=int, default=0, metavar="PAIRS")
    parser.add_argument("--cost-seconds", type=int, default=10)
    parser.add_argument("--cost-clients", type=int, default=64)
    parser.add_argument("--cost-no-sync", action="store_true",
                        help="run the nodes with --unsafe-no-sync-for-benchmarks, so the disk's variance does not "
                             "hide the CPU cost")
    args = parser.parse_args()
    if args.steady_seconds:
        print(json.dumps(steady(args.binary, args.loadgen, args.steady_seconds, args.key_space)))
        return
    if args.metrics_cost:
        print(json.dumps(metrics_cost(args.binary, args.loadgen, args.metrics_cost, args.cost_seconds,
                                      args.cost_clients,
                                      ["--unsafe-no-sync-for-benchmarks"] if args.cost_no_sync else [])))
        return
    sig = signal.SIGKILL if args.signal == "KILL" else signal.SIGSTOP
    results = []
    for run in range(args.runs):
        result = one_failover(args.binary, sig, run, args.loadgen, args.load_clients)
        results.append(result)
        print(json.dumps({k: v for k, v in result.items() if k != "histogram_delta"}), flush=True)
    print(json.dumps(summarize_failovers(results, args.signal)))


if __name__ == "__main__":
    main()
