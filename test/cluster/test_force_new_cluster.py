"""Disaster recovery (issue 20): after two of three data directories are
lost, `synod --force-new-cluster` starts the survivor as a one-member
cluster from its own data. Every acknowledged write is there, it serves, and
a member of the old cluster that comes back is refused at the handshake.

Run one: python3 test/cluster/test_force_new_cluster.py --binary build/server/synod NAME
"""
import os
import shutil
import signal
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

from pylib import runner  # noqa: E402
from pylib.cluster import running_cluster  # noqa: E402
from pylib.http import Http, call  # noqa: E402
from pylib.wait import until  # noqa: E402


def one_member_args(cluster, node):
    """The node's flags with --peers and --clients naming it alone."""
    args = cluster.args(node)
    args[args.index("--peers") + 1] = f"{node}=127.0.0.1:{cluster.peer_port(node)}"
    args[args.index("--clients") + 1] = f"{node}=127.0.0.1:{cluster.port(node)}"
    return args


def test_force_new_cluster_from_a_survivor(binary):
    with running_cluster(binary) as cluster:
        acked = {}
        stop = threading.Event()

        def write():
            client, n = Http(), 0
            while not stop.is_set():
                leader = cluster.leader_or_none(timeout=1)
                if leader:
                    r = client.call(cluster.port(leader), "PUT", f"/v1/kv/k/{n}", body=str(n), timeout=5)
                    if r.status == 200:
                        acked[f"k/{n}"] = str(n)
                n += 1
            client.close()

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        until(lambda: len(acked) >= 300, 30, "300 acknowledged writes")
        stop.set()
        writer.join()
        survivor = cluster.leader()
        lost = [n for n in cluster.ids() if n != survivor]
        for node in cluster.ids():
            cluster.kill(node, signal.SIGKILL)
        # One lost member's data is kept aside: a machine that comes back.
        returning = os.path.join(cluster.dir, "returning")
        shutil.copytree(cluster.data_dir(lost[0]), returning)
        for node in lost:
            shutil.rmtree(cluster.data_dir(node))

        # Without --peers naming it alone, the flag is refused.
        refused = subprocess.run(cluster.args(survivor) + ["--force-new-cluster"], capture_output=True, text=True,
                                 timeout=30)
        assert refused.returncode == 2 and "one-member cluster" in refused.stderr, refused.stderr
        log_path = os.path.join(cluster.dir, "forced.log")
        with open(log_path, "w") as log:
            forced = subprocess.Popen(one_member_args(cluster, survivor) + ["--force-new-cluster"], stdout=log,
                                      stderr=log, cwd=cluster.dir)
        try:
            port = cluster.port(survivor)
            until(lambda: (call(port, "GET", "/v1/cluster").json or {}).get("leader") is not None, 20, "a leader")
            missing = [k for k, v in acked.items() if (call(port, "GET", f"/v1/kv/{k}").json or {}).get("value") != v]
            assert not missing, f"{len(missing)} acknowledged writes lost: {missing[:5]}"
            assert call(port, "PUT", "/v1/kv/after", body="x").status == 200
            assert "forced_new_cluster" in open(log_path).read()

            # The returning member is refused: it belongs to the old cluster.
            back_args = cluster.args(lost[0], data_dir=returning)
            with open(os.path.join(cluster.dir, "returning.log"), "w") as log:
                back = subprocess.Popen(back_args, stdout=log, stderr=log, cwd=cluster.dir)
            try:
                until(lambda: "belongs to cluster" in open(log_path).read(), 20, "the old member refused")
                assert call(port, "PUT", "/v1/kv/after-return", body="y").status == 200
            finally:
                back.terminate()
                back.wait(timeout=10)
            print(f"  node {survivor} alone serves all {len(acked)} acknowledged writes; node {lost[0]}'s old data "
                  "is refused")
        finally:
            forced.send_signal(signal.SIGTERM)
            assert forced.wait(timeout=15) == 0


if __name__ == "__main__":
    runner.run(globals())
