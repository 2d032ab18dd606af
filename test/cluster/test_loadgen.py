"""bench/loadgen.cpp against a real 3-node synod, for a few seconds per
workload (issue #8: CI keeps the load generator building and working).

Nothing here asserts a speed. It asserts that every workload runs without an
error, prints the JSON line of DESIGN §7, and leaves the state the workload
implies on the cluster: the keys it wrote, the locks it released, the
sessions it opened. The generator's path comes in SYNOD_LOADGEN.

Run: SYNOD_LOADGEN=build/bench/synod-loadgen \
     python3 test/cluster/test_loadgen.py --binary build/server/synod test_loadgen_runs_every_workload
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

from pylib import runner  # noqa: E402
from pylib.cluster import Cluster  # noqa: E402
from pylib.http import request  # noqa: E402

ROW_FIELDS = {"system", "workload", "clients", "ops_per_s", "p50_ms", "p99_ms", "p999_ms", "nodes", "ops", "errors"}


def loadgen(endpoints, workload, clients, *extra, seconds=2.0, check=True):
    command = [os.environ["SYNOD_LOADGEN"], "--endpoints", ",".join(endpoints), "--workload", workload,
               "--clients", str(clients), "--seconds", str(seconds), "--warmup", "0.5", *extra]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if not check:
        return result
    assert result.returncode == 0, (command, result.returncode, result.stdout, result.stderr)
    row = json.loads(result.stdout.strip().splitlines()[-1])
    assert ROW_FIELDS <= row.keys(), row
    assert row["workload"] == workload and row["clients"] == clients and row["nodes"] == len(endpoints), row
    assert row["errors"] == 0, (row, result.stderr)
    assert row["ops"] > 0 and row["ops_per_s"] > 0, row
    assert 0 < row["p50_ms"] <= row["p99_ms"] <= row["p999_ms"], row
    print(f"  {workload} x{clients}: {row['ops']} ops, p50 {row['p50_ms']:.2f} ms")
    return row


def session_count(port):
    count, after = 0, ""
    while True:
        page = request(port, "GET", "/v1/sessions?limit=1000" + after)
        assert page.status == 200, page
        sessions = page.json["sessions"]
        count += len(sessions)
        if not page.json["more"]:
            return count
        after = "&after=" + sessions[-1]["session"]


def test_loadgen_runs_every_workload(binary):
    with Cluster(3, binary) as cluster:
        cluster.start_all()
        leader = cluster.leader()
        endpoints = [f"127.0.0.1:{cluster.port(node)}" for node in cluster.ids()]

        # The generator's own ceiling: /healthz answers without consensus.
        loadgen(endpoints, "noop", 4)

        # put, with each client cycling over 10 keys: client i wrote bench/i/0..9.
        loadgen(endpoints, "put", 6, "--key-space", "10", "--value-bytes", "32")
        for client in range(6):
            value = cluster.get(leader, f"bench/{client}/9")
            assert value.status == 200 and value.json["value"] == "v" * 32, value

        loadgen(endpoints, "get", 3)

        # lock: acquire and release, two commits a cycle. The generator stops
        # between the two, so a lock may be left held by a live session, but
        # every grant was released before the next one was asked for.
        sessions_before = session_count(cluster.port(leader))
        row = loadgen(endpoints, "lock", 4)
        assert session_count(cluster.port(leader)) == sessions_before + 4
        print(f"  lock cycles: {row['ops']}")

        # One hot lock, the clients waiting in line: ops are handoffs.
        loadgen(endpoints, "lock-contended", 4)

        # keepalive: 300 sessions opened before the clock, renewed at TTL/3.
        sessions_before = session_count(cluster.port(leader))
        loadgen(endpoints, "keepalive", 3, "--sessions", "300")
        assert session_count(cluster.port(leader)) == sessions_before + 300

        # Nothing answering: the generator says so and fails.
        cluster.kill(1)
        cluster.kill(2)
        cluster.kill(3)
        result = loadgen(endpoints, "put", 2, seconds=1.0, check=False)
        assert result.returncode != 0, result
        assert "errors" in result.stderr, result.stderr


if __name__ == "__main__":
    runner.run(globals())
