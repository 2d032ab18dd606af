#!/usr/bin/env python3
"""What adding a member costs (issue 20): a 3-node cluster holding KEYS keys
and SESSIONS sessions, under a put load, gets a learner (POST
/v1/cluster/members, then synod --join with an empty data directory). Measures
the time from the add until the learner is caught up (its lag in
/v1/cluster/members at most 16 slots, which is when the leader would promote
it), and the leader's put throughput and p99 before and while it catches up.

    python3 bench/learner_catchup_bench.py --synod build/server/synod \
        --loadgen build/bench/synod-loadgen [--keys 1000000] [--sessions 100000]

Prints one JSON object.
"""
import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from backup_bench import p99_ms, puts, start_and_fill  # noqa: E402
from pylib.growing import GrowingCluster  # noqa: E402
from pylib.http import call  # noqa: E402

CAUGHT_UP_LAG_SLOTS = 16  # the leader promotes a learner at most this far behind (paxos::kConfigAlphaSlots)


def member(port, node):
    r = call(port, "GET", "/v1/cluster/members", timeout=10)
    for m in (r.json or {}).get("members", []):
        if m["id"] == node:
            return m
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synod", required=True)
    parser.add_argument("--loadgen", required=True)
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=100_000)
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="synod-learner-bench-")
    # Auto-promotion off: the learner stays a learner, and only catching up is measured.
    with GrowingCluster(args.synod, size=3, capacity=4,
                        extra_args=["--log-level", "warn", "--auto-promote-within-slots", "0"]) as cluster:
        leader, endpoint, fill_s = start_and_fill(cluster, args.loadgen, args.keys, args.sessions)
        counts = call(cluster.port(leader), "GET", "/v1/status", timeout=10).json["service"]["counts"]

        before = json.loads(puts(args.loadgen, endpoint, 10, os.path.join(scratch, "before.trace"))
                            .communicate()[0].strip().splitlines()[-1])
        during_trace = os.path.join(scratch, "during.trace")
        load = puts(args.loadgen, endpoint, 60, during_trace)
        time.sleep(3)
        node = cluster.next_id()
        added_at = time.time()
        r = call(cluster.port(leader), "POST", "/v1/cluster/members",
                 {"id": node, "peer_addr": f"127.0.0.1:{cluster.peer_port(node)}",
                  "client_addr": f"127.0.0.1:{cluster.port(node)}"}, timeout=30)
        assert r.status in (200, 201), r
        cluster.members.append(node)
        cluster.start(node)
        caught_up_at = None
        deadline = added_at + 50
        while time.time() < deadline:
            m = member(cluster.port(leader), node)
            if m and m.get("lag_slots") is not None and m["lag_slots"] <= CAUGHT_UP_LAG_SLOTS:
                caught_up_at = time.time()
                break
            time.sleep(0.05)
        whole = json.loads(load.communicate()[0].strip().splitlines()[-1])
        during = []
        puts_before_add = []
        end = (caught_up_at or time.time()) * 1000
        with open(during_trace) as f:
            for line in f:
                invoked, answered = (int(x) for x in line.split())
                if added_at * 1000 <= invoked <= end:
                    during.append(answered - invoked)
                elif invoked < added_at * 1000:
                    puts_before_add.append(answered - invoked)
        catch_up_s = None if caught_up_at is None else caught_up_at - added_at
    print(json.dumps({
        "keys": counts["keys"], "sessions": counts["sessions"], "fill_s": round(fill_s, 1),
        "learner_caught_up_s": None if catch_up_s is None else round(catch_up_s, 2),
        "put_ops_per_s_before": before["ops_per_s"], "put_p99_ms_before": before["p99_ms"],
        "puts_while_catching_up": len(during),
        "put_ops_per_s_while_catching_up": None if not catch_up_s else round(len(during) / catch_up_s, 1),
        "put_p99_ms_while_catching_up": p99_ms(during),
        "put_ops_per_s_whole_window": whole["ops_per_s"],
    }))


if __name__ == "__main__":
    main()
