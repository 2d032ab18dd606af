"""Storage on real processes (issue #3): a lost disk, a corrupt disk, a
replica that catches up from a snapshot because its peers compacted their log,
migrated data, and the cluster identity kept in the data directory.

Run one: python3 test/cluster/test_storage.py --binary build/server/synod NAME
"""
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

from pylib import runner  # noqa: E402
from pylib.cluster import Cluster, free_port  # noqa: E402
from pylib.wait import until  # noqa: E402


def wait_for_log(cluster, node, text, since, timeout):
    until(lambda: text in cluster.log_text(node)[since:], timeout, f"'{text}' in node {node}'s log")


def check_votes_again(cluster, repaired):
    """With one other node down, a commit needs the repaired node's vote."""
    leader = cluster.leader()
    other = next(n for n in cluster.ids() if n not in (leader, repaired))
    cluster.kill(other)
    node, response = cluster.put_anywhere("needs-the-repaired-vote", "v", timeout=10)
    assert response.status == 200
    cluster.start(other)


def test_lost_disk_repairs_as_non_voter(binary):
    with Cluster(3, binary) as cluster:
        cluster.start_all()
        leader = cluster.leader()
        for i in range(20):
            assert cluster.put(leader, f"k{i}", f"v{i}").status == 200
        victim = next(n for n in cluster.ids() if n != leader)
        cluster.kill(victim)
        shutil.rmtree(cluster.data_dir(victim))
        since = len(cluster.log_text(victim))
        cluster.start(victim)
        wait_for_log(cluster, victim, "repair_complete", since, 10)
        text = cluster.log_text(victim)[since:]
        assert "status=repairing" in text
        # It learned everything before it voted again.
        assert cluster.get(victim, "k19", stale=True).json["value"] == "v19"
        check_votes_again(cluster, victim)


def test_corrupt_disk_is_detected_and_repaired(binary):
    with Cluster(3, binary) as cluster:
        cluster.start_all()
        leader = cluster.leader()
        marker = "CORRUPT-ME-" + "x" * 40
        for i in range(10):
            assert cluster.put(leader, f"c{i}", marker).status == 200
        victim = next(n for n in cluster.ids() if n != leader)
        until(lambda: cluster.get(victim, "c9", stale=True).status == 200, 5, "the follower to learn c9")
        cluster.kill(victim)
        # The puts are in the commit log (`wal`), and in data.mdb only if a
        # checkpoint moved them there. One byte inside every copy in data.mdb
        # (LMDB leaves old copies in free pages), and inside the first copy in
        # the log: that frame fails its CRC32C while later frames are intact,
        # which is corruption, not a torn tail.
        found = 0
        for name, first_only in (("data.mdb", False), ("wal", True)):
            with open(os.path.join(cluster.data_dir(victim), name), "r+b") as f:
                data = bytearray(f.read())
                at = data.find(marker.encode())
                while at >= 0:
                    data[at + 5] = ord("#")
                    found += 1
                    at = -1 if first_only else data.find(marker.encode(), at + 1)
                f.seek(0)
                f.write(data)
        assert found > 0, "the marker is in neither data.mdb nor the log"
        since = len(cluster.log_text(victim))
        cluster.start(victim)
        wait_for_log(cluster, victim, "repair_complete", since, 10)
        text = cluster.log_text(victim)[since:]
        assert "corruption_detected" in text, "the corruption was not reported"
        assert "checksum" in text or "is damaged" in text
        # Nothing corrupt is served: the repaired copy matches the leader's.
        assert cluster.get(victim, "c0", stale=True).json["value"] == marker
        check_votes_again(cluster, victim)


def test_catch_up_from_a_snapshot(binary):
    with Cluster(3, binary, extra_args=["--snapshot-after-slots", "50"]) as cluster:
        cluster.start_all()
        # A brand-new cluster starts voting once every member has answered
        # (paxos/replica.h, REPAIR); only then may one of them go.
        cluster.leader(timeout=10)
        lagging = 3
        cluster.kill(lagging)
        for i in range(300):
            cluster.put_anywhere(f"s{i}", f"v{i}", timeout=10)
        # Restart the other two, so that no one holds the early slots in memory:
        # their logs on disk were compacted behind a snapshot.
        for node in (1, 2):
            cluster.kill(node, signal.SIGTERM)
            cluster.start(node)
            cluster.leader(timeout=10)
        assert " snapshot slot=" in cluster.log_text(1), "node 1 never took a snapshot"
        since = len(cluster.log_text(lagging))
        cluster.start(lagging)
        wait_for_log(cluster, lagging, "snapshot_installed", since, 15)
        until(lambda: cluster.get(lagging, "s299", stale=True).status == 200, 10, "the lagging node to catch up")
        assert cluster.get(lagging, "s0", stale=True).json["value"] == "v0"
        assert cluster.get(lagging, "s299", stale=True).json["value"] == "v299"


def test_version_1_data_is_migrated(binary):
    """test/data/store-v1: a cluster's data directories in storage format 1
    (before the commit log). Each node migrates its own on its first start,
    and the cluster serves what it held."""
    fixture = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "store-v1")
    with Cluster(3, binary) as cluster:
        for node in cluster.ids():
            os.makedirs(cluster.data_dir(node))
            shutil.copy(os.path.join(fixture, f"node{node}", "data.mdb"), cluster.data_dir(node))
        cluster.start_all()
        leader = cluster.leader(timeout=10)
        for node in cluster.ids():
            wait_for_log(cluster, node, "storage_migrated from_version=1 to_version=4", 0, 10)
        for i in range(1, 6):
            response = cluster.get(leader, f"fixture/k{i}")
            assert response.status == 200, response.raw
            assert response.json["value"] == f"value-{i}"
        node, response = cluster.put_anywhere("after-migration", "v", timeout=10)
        assert response.status == 200
        # A restart reads version 4: no second migration, nothing lost.
        follower = cluster.followers(node)[0]
        since = len(cluster.log_text(follower))
        cluster.kill(follower, signal.SIGTERM)
        cluster.start(follower)
        wait_for_log(cluster, follower, "storage_loaded", since, 10)
        assert "storage_migrated" not in cluster.log_text(follower)[since:]
        until(lambda: cluster.get(follower, "after-migration", stale=True).status == 200, 10,
              "the restarted follower to serve the new key")
        assert cluster.get(follower, "fixture/k5", stale=True).json["value"] == "value-5"


def read_identity(cluster, node):
    with open(os.path.join(cluster.data_dir(node), "cluster")) as f:
        return f.read()


def test_cluster_identity_is_kept_in_the_data_directory(binary):
    """Each member writes the same identity at its first start (derived from
    the name and the initial members' ids); a restart under another name is
    refused with exit 2, and a stranger with the same name but another member
    set is refused by the peers."""
    with Cluster(3, binary) as cluster:
        cluster.start_all()
        leader = cluster.leader(timeout=10)
        identities = {read_identity(cluster, n) for n in cluster.ids()}
        assert len(identities) == 1, identities
        identity = identities.pop()
        assert identity.startswith("synod-cluster 1\nid ") and identity.endswith("\nname synod\n"), identity
        cluster_id = identity.split("\n")[1].split()[1]
        assert cluster_id != "5d1ba1977dfa827c", "a new cluster took the legacy id (the name's hash alone)"
        follower = cluster.followers(leader)[0]
        cluster.kill(follower, signal.SIGTERM)
        renamed = subprocess.run(cluster.args(follower, cluster_id="renamed"), capture_output=True, text=True,
                                 timeout=30)
        assert renamed.returncode == 2, (renamed.returncode, renamed.stderr[-2000:])
        assert f"belongs to cluster 'synod' (id {cluster_id})" in renamed.stdout + renamed.stderr
        # A stranger named "synod" too, claiming node 3's place in a cluster
        # of four: its own data directory derives another id.
        stranger_dir = os.path.join(cluster.dir, "stranger")
        args = cluster.args(3, data_dir=stranger_dir)
        args[args.index("--peers") + 1] = ",".join(
            f"{i}=127.0.0.1:{p}" for i, p in zip(range(1, 5), cluster.peer_ports[:2] + [free_port(), free_port()]))
        args[args.index("--clients") + 1] = ",".join(
            f"{i}=127.0.0.1:{p}" for i, p in zip(range(1, 5), cluster.client_ports[:2] + [free_port(), free_port()]))
        since = {n: len(cluster.log_text(n)) for n in cluster.ids() if n != follower}
        with open(os.path.join(cluster.dir, "stranger.log"), "w") as stranger_log:
            stranger = subprocess.Popen(args, stdout=stranger_log, stderr=stranger_log)
            try:
                until(lambda: any("belongs to cluster" in cluster.log_text(n)[since[n]:] for n in since), 10,
                      "a member to refuse the stranger")
            finally:
                stranger.terminate()
                stranger.wait(timeout=10)
        assert read_identity(cluster, 1) == identity
        cluster.start(follower)
        node, response = cluster.put_anywhere("after-the-stranger", "v", timeout=10)
        assert response.status == 200


if __name__ == "__main__":
    runner.run(globals())
