"""Tests of the synod server on real processes (issue #4), on 127.0.0.1.

Run one: python3 test/cluster/test_server.py --binary build/server/synod test_three_nodes_commit
"""
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

from pylib import runner  # noqa: E402
from pylib.cluster import Cluster, end_process, free_port  # noqa: E402


def test_three_nodes_commit(binary):
    commit_on_cluster(binary, 3)


def test_five_nodes_commit(binary):
    commit_on_cluster(binary, 5)


def commit_on_cluster(binary, size):
    with Cluster(size, binary) as cluster:
        cluster.start_all()
        leader = cluster.leader()
        for i in range(20):
            response = cluster.put(leader, f"k{i}", f"v{i}")
            assert response.status == 200, response
        for node in cluster.ids():
            assert cluster.view(node)["leader"]["id"] == leader
        response = cluster.get(leader, "k19")
        assert response.status == 200 and response.json["value"] == "v19", response
        # Every node applies the same log: their stale reads converge.
        deadline = time.time() + 5
        while time.time() < deadline:
            if all(cluster.get(n, "k19", stale=True).status == 200 for n in cluster.ids()):
                break
            time.sleep(0.05)
        for node in cluster.ids():
            assert cluster.get(node, "k19", stale=True).json["value"] == "v19"


def test_kill_leader_then_restart_it(binary):
    with Cluster(3, binary) as cluster:
        cluster.start_all()
        old = cluster.leader()
        for i in range(10):
            assert cluster.put(old, f"before{i}", "x").status == 200
        cluster.kill(old)
        killed_at = time.time()
        new, _ = cluster.put_anywhere("after-kill", "y", timeout=5)
        print(f"kill -9 of the leader to the next commit: {(time.time() - killed_at) * 1000:.0f} ms")
        assert new != old
        for i in range(10):
            assert cluster.put(new, f"during{i}", "z").status == 200
        cluster.start(old)
        # The old leader catches up from its peers.
        deadline = time.time() + 10
        while time.time() < deadline:
            response = cluster.get(old, "during9", stale=True)
            if response.status == 200:
                break
            time.sleep(0.05)
        assert cluster.get(old, "during9", stale=True).status == 200, "the restarted node did not catch up"
        assert cluster.get(old, "before9", stale=True).status == 200


def test_paused_follower_does_not_disturb_the_leader(binary):
    with Cluster(3, binary) as cluster:
        cluster.start_all()
        leader = cluster.leader()
        ballot = cluster.view(leader)["ballot"]
        follower = next(n for n in cluster.ids() if n != leader)
        cluster.pause(follower)
        for i in range(10):
            assert cluster.put(leader, f"p{i}", "v").status == 200
            time.sleep(0.15)  # 1.5 s frozen: several election timeouts
        cluster.resume(follower)
        for i in range(10):
            assert cluster.put(leader, f"q{i}", "v").status == 200
            time.sleep(0.05)
        view = cluster.view(leader)
        assert view["role"] == "leader" and view["ballot"] == ballot, f"leader disturbed: {view} was {ballot}"
        deadline = time.time() + 5
        while time.time() < deadline and cluster.get(follower, "q9", stale=True).status != 200:
            time.sleep(0.05)
        assert cluster.get(follower, "p0", stale=True).status == 200, "the paused follower did not catch up"
        assert cluster.get(follower, "q9", stale=True).status == 200


def kill_cycles(binary, cycles):
    """SIGKILL at random points under a write load; every acknowledged write survives."""
    cluster = Cluster(3, binary)
    acked = {}
    acked_lock = threading.Lock()
    stop = threading.Event()
    rng = random.Random(int(os.environ.get("SYNOD_TEST_SEED", "4242")))
    print(f"seed {os.environ.get('SYNOD_TEST_SEED', '4242')}")

    def writer(index):
        n = 0
        while not stop.is_set():
            key = f"w{index}-{n}"
            try:
                node = cluster.leader(timeout=5)
            except AssertionError:
                continue
            response = cluster.put(node, key, str(n), timeout=3)
            if response.status == 200:
                with acked_lock:
                    acked[key] = str(n)
                n += 1

    with cluster:
        try:
            run_kill_cycles(cluster, cycles, rng, writer, stop, acked, acked_lock)
        finally:
            stop.set()


def run_kill_cycles(cluster, cycles, rng, writer, stop, acked, acked_lock):
    cluster.start_all()
    cluster.leader()
    writers = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(4)]
    for w in writers:
        w.start()
    for cycle in range(cycles):
        time.sleep(rng.uniform(0.05, 0.6))
        victims = [n for n in cluster.ids() if cluster.running(n)]
        try:
            leader = cluster.leader(timeout=5)
        except AssertionError:
            leader = None
        victim = leader if leader and rng.random() < 0.5 else rng.choice(victims)
        cluster.kill(victim)
        time.sleep(rng.uniform(0.0, 0.5))
        cluster.start(victim)
    time.sleep(0.5)
    stop.set()
    for w in writers:
        w.join(timeout=30)
    leader = cluster.leader(timeout=10)
    with acked_lock:
        snapshot = dict(acked)
    print(f"{cycles} kill cycles, {len(snapshot)} acknowledged writes")
    assert len(snapshot) > cycles, "too few writes were acknowledged to mean anything"
    lost = []
    for key, value in snapshot.items():
        response = cluster.get(leader, key)
        if response.status != 200 or response.json.get("value") != value:
            lost.append((key, value, response))
    assert not lost, f"{len(lost)} acknowledged writes lost, e.g. {lost[:3]}"


def test_kill_cycles_ci(binary):
    kill_cycles(binary, 20)


def test_kill_cycles_long(binary):
    kill_cycles(binary, 200)


def test_sigterm_hands_leadership_over(binary):
    with Cluster(3, binary) as cluster:
        cluster.start_all()
        leader = cluster.leader()
        for i in range(5):
            assert cluster.put(leader, f"t{i}", "v").status == 200
        started = time.time()
        cluster.processes[leader].send_signal(signal.SIGTERM)
        new, _ = cluster.put_anywhere("after-term", "v", timeout=5)
        elapsed_ms = (time.time() - started) * 1000
        code = cluster.processes[leader].wait(timeout=10)
        print(f"SIGTERM of the leader to the next commit: {elapsed_ms:.0f} ms; exit code {code}")
        assert code == 0
        assert new != leader
        # No election timeout (300 ms at least) passed: the successor was nominated.
        assert elapsed_ms < 300, f"handover took {elapsed_ms:.0f} ms"
        assert "handing_over" in cluster.log_text(leader)


def test_foreign_and_garbage_peers_are_refused(binary):
    with Cluster(3, binary) as cluster:
        cluster.start_all()
        leader = cluster.leader()
        # A node of another cluster, claiming id 3's place.
        stranger_dir = os.path.join(cluster.dir, "stranger")
        args = cluster.args(3, data_dir=stranger_dir, cluster_id="another-cluster")
        args[args.index("--peers") + 1] = ",".join(
            f"{i}=127.0.0.1:{p}" for i, p in zip(cluster.ids(), cluster.peer_ports[:2] + [free_port()]))
        args[args.index("--clients") + 1] = ",".join(
            f"{i}=127.0.0.1:{p}" for i, p in zip(cluster.ids(), cluster.client_ports[:2] + [free_port()]))
        # Its log sits beside the nodes' logs, where the cluster looks for sanitizer reports.
        with open(os.path.join(cluster.dir, "stranger.log"), "w") as stranger_log:
            stranger = subprocess.Popen(args, stdout=stranger_log, stderr=stranger_log)
            time.sleep(1.0)
            end_process(stranger)
        # Garbage bytes on every peer port.
        for port in cluster.peer_ports:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(os.urandom(4096))
                time.sleep(0.05)
        time.sleep(0.3)
        for node in cluster.ids():
            assert cluster.running(node), f"node {node} died"
        logs = "".join(cluster.log_text(n) for n in cluster.ids())
        assert "refused a connection" in logs and "belongs to cluster" in logs, "the foreign node was not refused"
        assert "not a synod peer frame" in logs, "the garbage was not refused"
        assert cluster.put(cluster.leader(), "still", "serving").status == 200
        assert cluster.leader() == leader


def test_bad_configuration_exits_2(binary):
    with Cluster(3, binary) as cluster:
        def run(args):
            result = subprocess.run(args, capture_output=True, text=True, timeout=20)
            return result.returncode, result.stderr.strip()

        code, message = run([binary, "--peers", "127.0.0.1:1", "--data-dir", cluster.dir])
        assert code == 2 and "--id" in message, (code, message)
        code, message = run([binary, "--id", "1", "--peers", "127.0.0.1:notaport", "--data-dir", cluster.dir])
        assert code == 2 and "bad address" in message, (code, message)
        code, message = run(cluster.args(1) + ["--lease-ms", "10", "--heartbeat-ms", "50"])
        assert code == 2 and "lease" in message, (code, message)
        code, message = run(cluster.args(1) + ["--no-such-flag"])
        assert code == 2 and "unknown option" in message, (code, message)
        # Eight voting members (paxos/quorum.h allows 7).
        eight = ",".join(f"{i}=127.0.0.1:{free_port()}" for i in range(1, 9))
        code, message = run([binary, "--id", "1", "--peers", eight, "--data-dir", cluster.dir])
        assert code == 2 and "at most 7 voting members" in message, (code, message)
        # A node id past the byte that client ids give it.
        big = f"1=127.0.0.1:{free_port()},256=127.0.0.1:{free_port()}"
        code, message = run([binary, "--id", "1", "--peers", big, "--data-dir", cluster.dir])
        assert code == 2 and "node ids are 1-255" in message, (code, message)
        # A port in use.
        blocker = socket.socket()
        blocker.bind(("127.0.0.1", cluster.client_ports[0]))
        blocker.listen()
        code, message = run(cluster.args(1))
        blocker.close()
        assert code == 2 and "in use" in message, (code, message)
        # A data directory of another node.
        cluster.start(2)
        time.sleep(0.5)
        cluster.kill(2)
        code, message = run(cluster.args(1, data_dir=cluster.data_dir(2)))
        assert code == 2 and "node" in message, (code, message)
        # A second process on the same data directory.
        cluster.start(1)
        time.sleep(0.5)
        args = cluster.args(1)
        args[args.index("--peers") + 1] = f"1=127.0.0.1:{free_port()}"
        args[args.index("--clients") + 1] = f"1=127.0.0.1:{free_port()}"
        code, message = run(args)
        assert code == 2 and "lock" in message.lower(), (code, message)


if __name__ == "__main__":
    runner.run(globals())
