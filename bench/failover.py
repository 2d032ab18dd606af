"""Failover time on real processes: from SIGKILL (or SIGSTOP) of the leader to
the first write a new leader commits, repeated; and leader changes under a
steady load without faults.

  python3 bench/failover.py --binary build-release/server/synod --runs 20 --signal KILL
  python3 bench/failover.py --binary ... --runs 20 --signal STOP
  python3 bench/failover.py --binary ... --steady-seconds 600 --loadgen build-release/bench/synod-loadgen

Each run starts a fresh 3-node cluster on 127.0.0.1, waits for a serving
leader, keeps writing through it, signals it, and polls the other two nodes
with writes (every 2 ms) until one commits. Prints one JSON line per run and
a summary line with the median and maximum. Standard library only.
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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "cluster"))
from harness import Cluster, request  # noqa: E402


def one_failover(binary, sig, run):
    cluster = Cluster(3, binary)
    try:
        cluster.start_all()
        leader = cluster.leader(timeout=15)
        for i in range(20):
            assert cluster.put(leader, f"warm{i}", "v").status == 200
        time.sleep(0.2)
        others = [n for n in cluster.ids() if n != leader]
        signaled = time.time()
        cluster.processes[leader].send_signal(sig)
        n = 0
        while True:
            for node in others:
                n += 1
                response = request(cluster.port(node), "PUT", f"/v1/kv/after/{n}", body="v", timeout=0.5)
                if response.status == 200:
                    elapsed_ms = (time.time() - signaled) * 1000
                    return {"run": run, "signal": sig.name, "ms": round(elapsed_ms, 1), "new_leader": node}
            if time.time() - signaled > 30:
                raise AssertionError("no new leader committed within 30 s")
            time.sleep(0.002)
    finally:
        if sig == signal.SIGSTOP:
            cluster.resume(leader)
        cluster.close()


def steady(binary, loadgen, seconds):
    cluster = Cluster(3, binary)
    try:
        cluster.start_all()
        leader = cluster.leader(timeout=15)
        endpoints = ",".join(f"127.0.0.1:{cluster.port(n)}" for n in [leader])
        before = sum(cluster.log_text(n).count("leader_changed") for n in cluster.ids())
        result = subprocess.run([loadgen, "--endpoints", endpoints, "--workload", "put", "--clients", "16",
                                 "--seconds", str(seconds), "--warmup", "0"], capture_output=True, text=True)
        after = sum(cluster.log_text(n).count("leader_changed") for n in cluster.ids())
        elections = sum(cluster.log_text(n).count("started_election") for n in cluster.ids())
        load = json.loads(result.stdout.strip().splitlines()[-1]) if result.stdout.strip() else {}
        return {"steady_seconds": seconds, "leader_changes": after - before, "load": load,
                "leader_still": cluster.leader(timeout=5) == leader}
    finally:
        cluster.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--signal", choices=["KILL", "STOP"], default="KILL")
    parser.add_argument("--steady-seconds", type=int, default=0)
    parser.add_argument("--loadgen")
    args = parser.parse_args()
    if args.steady_seconds:
        print(json.dumps(steady(args.binary, args.loadgen, args.steady_seconds)))
        return
    sig = signal.SIGKILL if args.signal == "KILL" else signal.SIGSTOP
    times = []
    for run in range(args.runs):
        result = one_failover(args.binary, sig, run)
        times.append(result["ms"])
        print(json.dumps(result), flush=True)
    print(json.dumps({"signal": args.signal, "runs": len(times), "median_ms": round(statistics.median(times), 1),
                      "max_ms": max(times), "min_ms": min(times)}))


if __name__ == "__main__":
    main()
