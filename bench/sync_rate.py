"""Group commits under load: syncs per second, the time each takes, and the
commands each carries, per node (issue #18's "before and after").

  python3 bench/sync_rate.py [--build build] [--clients 64] [--seconds 10]

Starts a fresh 3-node synod on 127.0.0.1, runs synod-loadgen's lock and put
workloads in turn, and reads every node's /metrics before and after each:
synod_storage_sync_duration_seconds (one sample per group commit),
synod_storage_checkpoint_duration_seconds (one per checkpoint step, issue 18),
synod_storage_sync_readies (readies per group commit) and
synod_batch_commands (commands per chosen slot). Prints one line per node
and workload. Figures only; nothing is asserted.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "test"))
from pylib.cluster import Cluster  # noqa: E402
from pylib.http import request  # noqa: E402

SERIES = re.compile(r"^(synod_(?:storage_sync_duration_seconds|storage_checkpoint_duration_seconds|"
                    r"storage_sync_readies|batch_commands)_(?:sum|count))"
                    r"(?:\{[^}]*\})?\s+(\S+)")


def scrape(port):
    """The sums and counts of the histograms, over their labels."""
    totals = {}
    for line in request(port, "GET", "/metrics", timeout=5).raw.splitlines():
        match = SERIES.match(line)
        if match:
            totals[match.group(1)] = totals.get(match.group(1), 0.0) + float(match.group(2))
    return totals


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    with Cluster(3, os.path.join(args.build, "server", "synod")) as cluster:
        cluster.start_all()
        leader = cluster.leader()
        endpoints = ",".join(f"127.0.0.1:{cluster.port(n)}" for n in cluster.ids())
        for workload in ("lock", "put"):
            before = {n: scrape(cluster.port(n)) for n in cluster.ids()}
            started = time.time()
            result = subprocess.run([os.path.join(args.build, "bench", "synod-loadgen"), "--endpoints", endpoints,
                                     "--workload", workload, "--clients", str(args.clients), "--seconds",
                                     str(args.seconds), "--warmup", "0"], capture_output=True, text=True, check=True)
            elapsed = time.time() - started
            row = json.loads(result.stdout.strip().splitlines()[-1])
            for n in cluster.ids():
                after = scrape(cluster.port(n))
                d = {k: after[k] - before[n].get(k, 0.0) for k in after}
                syncs = max(d.get("synod_storage_sync_duration_seconds_count", 0.0), 1.0)
                commands = d.get("synod_batch_commands_sum", 0.0)
                checkpoints = d.get("synod_storage_checkpoint_duration_seconds_count", 0.0)
                print(f"{workload} x{args.clients} node {n}{' (leader)' if n == leader else ''}: "
                      f"{row['ops_per_s']:,.0f} ops/s; {syncs / elapsed:,.0f} syncs/s, mean sync "
                      f"{1000 * d.get('synod_storage_sync_duration_seconds_sum', 0.0) / syncs:.3f} ms, "
                      f"{d.get('synod_storage_sync_readies_sum', 0.0) / syncs:.2f} readies and "
                      f"{commands / syncs:.1f} commands per sync, "
                      f"{d.get('synod_batch_commands_count', 0.0) / elapsed:,.0f} slots chosen/s; "
                      f"{checkpoints / elapsed:,.1f} checkpoints/s, mean "
                      f"{1000 * d.get('synod_storage_checkpoint_duration_seconds_sum', 0.0) / max(checkpoints, 1):.2f} ms",
                      flush=True)


if __name__ == "__main__":
    main()
