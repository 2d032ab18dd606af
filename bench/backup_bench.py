#!/usr/bin/env python3
"""What a backup costs (issue 21): GET /v1/snapshot through `synodctl
snapshot save` on a 3-node cluster holding KEYS keys and SESSIONS sessions,
its time and size, the leader's put p99 before and during the save, and the
time `synod restore` takes to seed one member from the file.

    python3 bench/backup_bench.py --synod build/server/synod --synodctl build/cli/synodctl \
        --loadgen build/bench/synod-loadgen [--keys 1000000] [--sessions 100000]

The puts run with 8 clients over a fixed key space (the state does not grow
while it is measured). p99 "during" is over the puts invoked while the save
ran (from the load generator's --trace). Prints one JSON object.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test"))

from pylib.cluster import Cluster  # noqa: E402
from pylib.http import Http  # noqa: E402


def fill_keys(loadgen, endpoints, keys):
    """About `keys` new keys in one put run. The load generator names its keys
    bench/CLIENT/N from N = 0 in every run, so a second run would overwrite the
    first: a short probe measures the rate (its keys are rewritten by the
    main run), and one run of the length that rate needs follows."""
    def run(seconds):
        out = subprocess.run([loadgen, "--endpoints", endpoints, "--workload", "put", "--clients", "64",
                              "--seconds", str(seconds), "--warmup", "0"], capture_output=True, text=True, check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])
    rate = run(3)["ops_per_s"]
    run(max(3, int(1.15 * keys / max(rate, 1)) + 1))


def fill_sessions(port, count, threads=16):
    def run(share):
        client = Http()
        for _ in range(share):
            r = client.call(port, "POST", "/v1/sessions", {"ttl": "3600s"}, timeout=30)
            assert r.status == 200, r
        client.close()
    workers = [threading.Thread(target=run, args=(count // threads,)) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()


def start_and_fill(cluster, loadgen, keys, sessions):
    """Starts the cluster and fills it through its leader; (leader, its
    endpoint, the seconds the fill took)."""
    cluster.start_all()
    leader = cluster.leader(timeout=20)
    endpoint = f"127.0.0.1:{cluster.port(leader)}"
    started = time.time()
    fill_keys(loadgen, endpoint, keys)
    fill_sessions(cluster.port(leader), sessions)
    fill_s = time.time() - started
    time.sleep(5)  # let the nodes' own snapshots of the filled state settle
    return leader, endpoint, fill_s


def p99_ms(latencies):
    latencies = sorted(latencies)
    return latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else None


def puts(loadgen, endpoint, seconds, trace):
    return subprocess.Popen([loadgen, "--endpoints", endpoint, "--workload", "put", "--clients", "8",
                             "--key-space", "1000", "--seconds", str(seconds), "--warmup", "1", "--trace", trace],
                            stdout=subprocess.PIPE, text=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synod", required=True)
    parser.add_argument("--synodctl", required=True)
    parser.add_argument("--loadgen", required=True)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=100_000)
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="synod-backup-bench-")
    with Cluster(3, args.synod, extra_args=["--log-level", "warn"]) as cluster:
        leader, endpoint, fill_s = start_and_fill(cluster, args.loadgen, args.keys, args.sessions)

        before_trace = os.path.join(scratch, "before.trace")
        before = json.loads(puts(args.loadgen, endpoint, 10, before_trace).communicate()[0].strip().splitlines()[-1])

        during_trace = os.path.join(scratch, "during.trace")
        load = puts(args.loadgen, endpoint, 20, during_trace)
        time.sleep(4)
        backup = os.path.join(scratch, "backup.snapshot")
        save_started = time.time()
        saved = subprocess.run([args.synodctl, "--endpoints", endpoint, "--json", "snapshot", "save", backup],
                               capture_output=True, text=True)
        save_ended = time.time()
        assert saved.returncode == 0, saved.stderr
        whole = json.loads(load.communicate()[0].strip().splitlines()[-1])
        during = []
        with open(during_trace) as f:
            for line in f:
                invoked, answered = (int(x) for x in line.split())
                if save_started * 1000 <= invoked <= save_ended * 1000:
                    during.append(answered - invoked)
        inspected = json.loads(subprocess.run([args.synodctl, "--json", "snapshot", "inspect", backup],
                                              capture_output=True, text=True, check=True).stdout)
        restore_dir = os.path.join(scratch, "restored")
        restore_started = time.time()
        restored = subprocess.run([args.synod, "restore", "--snapshot", backup, *cluster.args(1, data_dir=restore_dir)[1:]],
                                  capture_output=True, text=True)
        restore_s = time.time() - restore_started
        assert restored.returncode == 0, restored.stderr
    print(json.dumps({
        "keys": inspected["counts"]["keys"], "sessions": inspected["counts"]["sessions"],
        "fill_s": round(fill_s, 1),
        "save_s": round(save_ended - save_started, 2), "file_bytes": inspected["header"]["file_bytes"],
        "put_p99_ms_before": before["p99_ms"], "put_p99_ms_during_save": p99_ms(during),
        "puts_during_save": len(during), "put_p99_ms_whole_window_with_save": whole["p99_ms"],
        "put_ops_per_s_before": before["ops_per_s"], "put_ops_per_s_window_with_save": whole["ops_per_s"],
        "restore_one_member_s": round(restore_s, 2),
    }))


if __name__ == "__main__":
    main()
