"""Records a fault-heavy register history against real synod processes, for
the checker's planted-violation tests (issue 16).

  python3 test/lincheck/record_register.py --binary build/server/synod \
      --seconds 60 --clients 8 --keys 3 --seed 1 [--think-ms 2] --out history.jsonl

The clients are the chaos suite's key clients (test/chaos/workload.py), cut
down to the workload the issue describes: half reads, half writes, every
written value unique, no deletes and no compare-and-set. A write is sent once,
with no retry under its Idempotency-Key, so every timeout, reset and 504
unknown_outcome stays an indeterminate write (`info`) in the history. The
nemesis (test/chaos/nemesis.py) kills and pauses the leader and followers
every few seconds. The last line printed is a JSON summary of the history.
"""
import argparse
import json
import os
import random
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "chaos"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

import nemesis  # noqa: E402
import workload  # noqa: E402
from pylib.proxied import ProxiedCluster  # noqa: E402
from recorder import History, Records  # noqa: E402

# A write not answered within this is indeterminate: short, so that every election and pause
# leaves indeterminate writes behind, as in the histories of the issue.
WRITE_TIMEOUT_S = 0.1

# Leader kills and pauses and follower kills (the nemesis picks leader or random targets).
nemesis.MIXES["register"] = {"kill": 1, "pause": 5}


class RegisterClient(workload.KeyClient):
    """Half reads, half single-attempt writes of unique values."""

    def body(self):
        keys = self.ctx.params["keys"]
        while not self.ctx.stop.is_set():
            key = self.rng.choice(keys)
            if self.rng.random() < 0.5:
                found, _, _ = self.read(key)
                answered = found is not None
            else:
                answered = self.write_once(key)
            # A refusal (no leader, a dead node) comes back at once: wait a little, or the
            # history fills with refusals and the machine with busy clients.
            think_s = self.ctx.params["think_s"]
            self.sleep(self.rng.uniform(0.0, think_s) if answered else self.rng.uniform(0.02, 0.05))

    def write_once(self, key):
        value = self.value()
        op = self.ctx.keys.invoke(self.process, "write", key, value)
        response = self.call("PUT", f"/v1/kv/chaos/{key}", body=value, timeout=WRITE_TIMEOUT_S)
        kind = workload.classify(response)
        if kind == "answer":
            self.ctx.keys.complete(op, "ok" if response.status == 200 else "fail", node=response.node,
                                   error=response.code())
            return response.status == 200
        self.ctx.keys.complete(op, "info" if kind == "ambiguous" else "fail",
                               error=response.code() or response.error, node=response.node)
        return False


def record(args):
    cluster = ProxiedCluster(args.nodes, args.binary, seed=args.seed)
    try:
        cluster.start_all()
        if cluster.leader_or_none(timeout=30.0) is None:
            raise SystemExit("no leader within 30 s")
        t0 = time.monotonic_ns()
        t0_s = time.monotonic()
        records = Records(t0)
        keys = History(t0)
        params = {"keys": [f"r{i}" for i in range(args.keys)], "think_s": args.think_ms / 1000.0}
        ctx = workload.Context(cluster, keys, None, None, records, None, params, args.seed)
        rng = random.Random(args.seed)
        clients = [RegisterClient(ctx, p, rng.random()) for p in range(args.clients)]
        probes = [workload.Probe(ctx, n, rng.random()) for n in cluster.ids()]
        for t in clients + probes:
            t.start()
        faults = nemesis.schedule("register", args.seed, args.nodes, ttl_max_ms=4000)
        nem = nemesis.Nemesis(cluster, records, workload.Availability(ctx), faults, start_after_s=2.0,
                              stop_at_s=args.seconds - 5.0, t0_s=t0_s)
        stop = threading.Event()
        nem_thread = threading.Thread(target=nem.run, args=(stop,), daemon=True)
        nem_thread.start()
        while time.monotonic() - t0_s < args.seconds:
            time.sleep(0.1)
        stop.set()
        ctx.stop.set()
        nem_thread.join(timeout=60)
        for t in clients + probes:
            t.join(timeout=30)
        keys.write(args.out)
        return keys.operations(), nem.injected
    finally:
        cluster.close()


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--binary", required=True)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--keys", type=int, default=3)
    p.add_argument("--nodes", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--think-ms", type=float, default=2.0, help="the most a client waits after an answer")
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    operations, faults = record(args)
    kinds = {}
    for op in operations:
        name = f"{op['f']}_{op['type'] or 'open'}"
        kinds[name] = kinds.get(name, 0) + 1
    print(json.dumps({"operations": len(operations), "faults": faults, "by_kind": kinds, "file": args.out}))


if __name__ == "__main__":
    main(sys.argv[1:])
