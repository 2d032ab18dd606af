"""Leadership transfer on demand (issue 20's first part): POST
/v1/cluster/leader/transfer[?to=ID] moves leadership through the handoff a
leader stopping on SIGTERM makes, under a write load that loses nothing.

Run one: python3 test/cluster/test_leader_transfer.py --binary build/server/synod NAME
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

from pylib import runner  # noqa: E402
from pylib.cluster import running_cluster  # noqa: E402
from pylib.http import Http, call  # noqa: E402
from pylib.wait import until  # noqa: E402


def transfer(cluster, node, to=None):
    return call(cluster.port(node), "POST", "/v1/cluster/leader/transfer" + (f"?to={to}" if to else ""))


class Writer:
    """Writes k/N in turn through node 1..3 (followers forward) and keeps
    every acknowledged write, and every answer that is not a success."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.acked = {}
        self.answered = []  # when each acknowledged write was answered (monotonic seconds)
        self.failures = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        client = Http()
        n = 0
        while not self.stop.is_set():
            node = 1 + n % 3
            r = client.call(self.cluster.port(node), "PUT", f"/v1/kv/k/{n}", body=str(n), timeout=10)
            if r.status == 200:
                self.acked[f"k/{n}"] = str(n)
                self.answered.append(time.monotonic())
            else:
                self.failures.append(r)
            n += 1
        client.close()

    def more(self, count=50):
        """Waits for `count` more acknowledged writes."""
        target = len(self.acked) + count
        until(lambda: len(self.acked) >= target, 20, f"{count} more acknowledged writes")

    def longest_gap_ms(self):
        times = sorted(self.answered)
        return max((b - a for a, b in zip(times, times[1:])), default=0) * 1000


def test_leader_transfer_moves_leadership_and_loses_nothing(binary):
    with running_cluster(binary) as cluster:
        writer = Writer(cluster)
        writer.more()
        leader = cluster.leader()
        followers = cluster.followers(leader)
        # To a named member, asked of the leader.
        moved = transfer(cluster, leader, to=followers[0])
        assert moved.status == 200 and moved.json["leader"] == followers[0] and moved.json["from"] == leader, moved
        assert cluster.leader() == followers[0]
        writer.more()
        # To the most caught-up member, asked of a follower (forwarded).
        leader = followers[0]
        asked = next(n for n in cluster.ids() if n != leader)
        moved = transfer(cluster, asked)
        assert moved.status == 200 and moved.json["from"] == leader and moved.json["leader"] != leader, moved
        assert cluster.leader() == moved.json["leader"]
        writer.more()
        # Refusals: itself, and a node that is not a member.
        leader = cluster.leader()
        refused = transfer(cluster, leader, to=leader)
        assert refused.status == 400 and "leads already" in refused.json["error"]["message"], refused
        refused = transfer(cluster, leader, to=9)
        assert refused.status == 400 and "not another voting member" in refused.json["error"]["message"], refused
        bad = call(cluster.port(leader), "POST", "/v1/cluster/leader/transfer?to=zero")
        assert bad.status == 400, bad
        writer.stop.set()
        writer.thread.join()
        # Every failure was one a client retries; every acknowledged write is there.
        assert all(f.status in (503, 504) or f.status == 0 for f in writer.failures), writer.failures
        assert all(f.json is None or f.json["error"]["retryable"] for f in writer.failures), writer.failures
        port = cluster.port(cluster.leader())
        for key, value in writer.acked.items():
            r = call(port, "GET", f"/v1/kv/{key}")
            assert r.status == 200 and r.json["value"] == value, (key, r)
        print(f"  {len(writer.acked)} writes acknowledged and found, {len(writer.failures)} retryable failures, "
              f"longest gap between acknowledged writes {writer.longest_gap_ms():.0f} ms (two transfers; one writer)")


if __name__ == "__main__":
    runner.run(globals())
