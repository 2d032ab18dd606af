"""Membership changes from the outside (issue 20): GET/POST/DELETE
/v1/cluster/members, POST /v1/cluster/members/ID/promote, `synodctl member`
and `synod --join`, on real processes under a small write load that loses
nothing.

Run one: python3 test/cluster/test_membership.py --binary build/server/synod NAME
"""
import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

from pylib import runner  # noqa: E402
from pylib.auth import as_root, give_root_token  # noqa: E402
from pylib.growing import GrowingCluster  # noqa: E402
from pylib.http import Http, call  # noqa: E402
from pylib.wait import until  # noqa: E402


def synodctl(binary, cluster, *words):
    """Runs synodctl against the original members; returns (exit code, stdout + stderr)."""
    tool = os.environ.get("SYNODCTL") or os.path.join(os.path.dirname(os.path.dirname(binary)), "cli", "synodctl")
    endpoints = ",".join(f"127.0.0.1:{cluster.port(j)}" for j in cluster.ids())
    done = subprocess.run([tool, "--endpoints", endpoints, "--timeout", "20s", *words], capture_output=True,
                          text=True, timeout=60)
    return done.returncode, done.stdout + done.stderr


def members(cluster, node):
    r = call(cluster.port(node), "GET", "/v1/cluster/members")
    assert r.status == 200, r
    return {m["id"]: m for m in r.json["members"]}, r.json


class Writer:
    """Writes k/N in turn through the members the cluster knows (followers
    forward) and keeps every acknowledged write."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.acked = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        client = Http()
        n = 0
        while not self.stop.is_set():
            up = [j for j in self.cluster.ids() if self.cluster.up(j)]
            node = up[n % len(up)]
            r = client.call(self.cluster.port(node), "PUT", f"/v1/kv/k/{n}", body=str(n), timeout=10)
            if r.status == 200:
                self.acked[f"k/{n}"] = str(n)
            else:
                time.sleep(0.02)
            n += 1
        client.close()

    def more(self, count=30):
        target = len(self.acked) + count
        until(lambda: len(self.acked) >= target, 30, f"{count} more acknowledged writes")

    def finish_and_check(self):
        self.stop.set()
        self.thread.join(15)
        leader = self.cluster.leader(timeout=15)
        for key, value in self.acked.items():
            r = self.cluster.get(leader, key, timeout=10)
            assert r.status == 200 and r.json["value"] == value, (key, value, r)


def caught_up(cluster, node):
    """The leader's view of `node` is within a few slots of its own commit index."""
    leader = cluster.leader(timeout=10)
    listed, _ = members(cluster, leader)
    m = listed.get(node)
    return m is not None and m["chosen_through"] > 0 and m["lag_slots"] <= 4


def test_membership_grow_then_replace_a_dead_member(binary):
    with GrowingCluster(binary) as cluster:
        cluster.start_all()
        cluster.leader(timeout=15)
        writer = Writer(cluster)
        writer.more()
        # Grow: add node 4 as a learner, start it with --join, promote it once caught up.
        code, out = synodctl(binary, cluster, "member", "add", "--peer-addr", f"127.0.0.1:{cluster.peer_port(4)}",
                             "--client-addr", f"127.0.0.1:{cluster.port(4)}")
        assert code == 0 and "added learner 4" in out, out
        listed, body = members(cluster, 1)
        assert listed[4]["role"] == "learner" and body["next_id"] == 5, body
        cluster.members.append(4)
        cluster.start(4)
        until(lambda: caught_up(cluster, 4), 30, "node 4 caught up")
        readiness = call(cluster.port(4), "GET", "/readyz")
        assert readiness.status == 503 and readiness.json["voting"] is False, readiness  # a learner is not ready
        code, out = synodctl(binary, cluster, "member", "promote", "4")
        assert code == 0 and "member 4 votes now" in out, out
        until(lambda: call(cluster.port(4), "GET", "/readyz").status == 200, 20, "node 4 ready once it votes")
        view = call(cluster.port(4), "GET", "/v1/cluster").json
        assert view["voters"] == [1, 2, 3, 4] and view["learners"] == [], view
        code, out = synodctl(binary, cluster, "--json", "member", "list")
        assert code == 0 and {m["id"]: m["role"] for m in json.loads(out)["members"]} == {
            1: "voter", 2: "voter", 3: "voter", 4: "voter"}, out
        writer.more()
        # Four voters, three up: writes still commit.
        leader = cluster.leader()
        dead = next(j for j in cluster.original if j != leader)
        cluster.kill(dead, signal.SIGKILL)
        writer.more()
        # Replace: remove the dead member; its id never comes back.
        code, out = synodctl(binary, cluster, "member", "remove", str(dead))
        assert code == 0 and f"removed member {dead}" in out, out
        cluster.members.remove(dead)
        listed, body = members(cluster, cluster.leader())
        assert sorted(listed) == sorted(cluster.members) and all(m["role"] == "voter" for m in listed.values()), body
        again = call(cluster.port(cluster.leader()), "POST", "/v1/cluster/members",
                     body={"peer_addr": "127.0.0.1:1", "client_addr": "127.0.0.1:2", "id": dead})
        assert again.status == 400 and again.json["error"]["code"] == "invalid_argument", again
        writer.more()
        # The removed process, restarted on its old data, is refused and stays out.
        cluster.start(dead)
        time.sleep(3)
        readiness = call(cluster.port(dead), "GET", "/readyz", timeout=5)
        assert readiness.status == 503, readiness
        leader = cluster.leader()
        listed, _ = members(cluster, leader)
        assert dead not in listed, listed
        assert f"node {dead} was removed from this cluster" in cluster.log_text(leader), "no refusal logged"
        # Its flags name the three original members; its log names node 4 too: it says so, once, and follows the log.
        assert cluster.log_text(dead).count("members_differ_from_flags") == 1, "no disagreement logged"
        writer.more()
        writer.finish_and_check()


def test_membership_remove_a_live_voter_while_another_is_dead(binary):
    """Four voters, one dead: removing a live follower needs it until the
    removal is in effect (the old configuration decides the slots before, and
    three of its four must vote), so its links stay up until then."""
    with GrowingCluster(binary) as cluster:
        cluster.start_all()
        cluster.leader(timeout=15)
        writer = Writer(cluster)
        writer.more()
        r = call(cluster.port(cluster.leader()), "POST", "/v1/cluster/members",
                 body={"peer_addr": f"127.0.0.1:{cluster.peer_port(4)}", "client_addr": f"127.0.0.1:{cluster.port(4)}"})
        assert r.status == 201, r
        cluster.members.append(4)
        cluster.start(4)
        until(lambda: caught_up(cluster, 4), 30, "node 4 caught up")
        r = call(cluster.port(cluster.leader()), "POST", "/v1/cluster/members/4/promote", timeout=30)
        assert r.status == 200, r
        writer.more()
        leader = cluster.leader()
        dead, leaving = [j for j in cluster.ids() if j != leader][:2]
        cluster.kill(dead, signal.SIGKILL)
        writer.more()
        r = call(cluster.port(leader), "DELETE", f"/v1/cluster/members/{leaving}", timeout=30)
        assert r.status == 200, r
        cluster.members.remove(leaving)
        cluster.kill(leaving, signal.SIGTERM)
        # Three voters, two up: writes go on.
        writer.more()
        listed, _ = members(cluster, cluster.leader())
        assert sorted(listed) == sorted(cluster.members), listed
        writer.finish_and_check()


def test_membership_remove_the_leader(binary):
    with GrowingCluster(binary) as cluster:
        cluster.start_all()
        leader = cluster.leader(timeout=15)
        writer = Writer(cluster)
        writer.more()
        removed = call(cluster.port(leader), "DELETE", f"/v1/cluster/members/{leader}")
        assert removed.status == 200 and removed.json["removed"] is True, removed
        cluster.members.remove(leader)
        successor = cluster.leader(timeout=15)
        assert successor != leader, successor
        listed, _ = members(cluster, successor)
        assert sorted(listed) == cluster.members, listed
        writer.more()
        writer.finish_and_check()


def test_membership_join_with_auth_on(binary):
    """With auth on, the member routes need admin on the cluster space, and --join presents a token
    from --join-token-file: without one the node does not start, and forms no cluster of its own."""
    root = "root-token-for-the-membership-test"
    with GrowingCluster(binary) as cluster:
        give_root_token(cluster, root)
        cluster.start_all()
        leader = cluster.leader(timeout=15)
        assert as_root(cluster, root, "POST", "/v1/auth/enable").status == 200
        body = {"peer_addr": f"127.0.0.1:{cluster.peer_port(4)}", "client_addr": f"127.0.0.1:{cluster.port(4)}"}
        r = call(cluster.port(leader), "POST", "/v1/cluster/members", body=body)
        assert r.status == 401, r
        r = call(cluster.port(leader), "GET", "/v1/cluster/members")
        assert r.status == 401, r
        added = call(cluster.port(leader), "POST", "/v1/cluster/members", body=body,
                     headers={"Authorization": f"Bearer {root}"})
        assert added.status == 201 and added.json["id"] == 4 and added.json["role"] == "learner", added
        # Without a token: refused by the member, exit 2, nothing formed.
        cluster.members.append(4)
        cluster.start(4)
        until(lambda: not cluster.running(4), 20, "node 4 refusing to start without a token")
        assert cluster.processes[4].returncode == 2, cluster.processes[4].returncode
        assert "GET /v1/cluster/members answered 401" in cluster.log_text(4), cluster.log_text(4)[-2000:]
        # With one: it joins, and catches up.
        token_file = os.path.join(cluster.dir, "join-token")
        with open(token_file, "w") as f:
            f.write(root + "\n")
        cluster.extra_args += ["--join-token-file", token_file]
        cluster.start(4)
        def caught_up_as_root():
            r = as_root(cluster, root, "GET", "/v1/cluster/members", timeout=5)
            m = {m["id"]: m for m in r.json["members"]}.get(4) if r.status == 200 else None
            return m is not None and m["chosen_through"] > 0 and m["lag_slots"] <= 4
        until(caught_up_as_root, 30, "node 4 caught up")
        promoted = as_root(cluster, root, "POST", "/v1/cluster/members/4/promote")
        assert promoted.status == 200 and promoted.json["role"] == "voter", promoted


def test_membership_bad_input(binary):
    with GrowingCluster(binary) as cluster:
        cluster.start_all()
        leader = cluster.leader(timeout=15)
        follower = next(j for j in cluster.ids() if j != leader)
        port = cluster.port(follower)  # forwarded to the leader
        r = call(port, "DELETE", "/v1/cluster/members/99")
        assert r.status == 404 and r.json["error"]["code"] == "not_found", r
        r = call(port, "POST", "/v1/cluster/members/1/promote")
        assert r.status == 409 and r.json["error"]["code"] == "member_exists", r
        r = call(port, "POST", "/v1/cluster/members/0/promote")
        assert r.status == 400 and r.json["error"]["code"] == "bad_id", r
        r = call(port, "POST", "/v1/cluster/members", body=b'{"peer_addr": "127.0.0.1:9', 
                 headers={"content-type": "application/json"})
        assert r.status == 400 and r.json["error"]["code"] == "bad_json", r
        r = call(port, "POST", "/v1/cluster/members", body={"client_addr": "127.0.0.1:9"})
        assert r.status == 400 and r.json["error"]["code"] == "missing_parameter", r
        r = call(port, "POST", "/v1/cluster/members", body={"peer_addr": "nowhere", "client_addr": "127.0.0.1:9"})
        assert r.status == 400 and r.json["error"]["code"] == "bad_value", r
        r = call(port, "POST", "/v1/cluster/members", body={"peer_addr": "127.0.0.1:9", "client_addr": "127.0.0.1:8",
                                                            "id": 2})
        assert r.status == 409 and r.json["error"]["code"] == "member_exists", r
        # Two adds at once: one is in progress when the other arrives (busy, 409 with Retry-After).
        answers = []
        for round_ in range(3):
            base = 20000 + 10 * round_
            bodies = [{"peer_addr": f"127.0.0.1:{base + i}", "client_addr": f"127.0.0.1:{base + 5 + i}"} for i in (0, 1)]
            results = [None, None]

            def add(i):
                results[i] = call(cluster.port(cluster.leader()), "POST", "/v1/cluster/members", body=bodies[i])

            threads = [threading.Thread(target=add, args=(i,)) for i in (0, 1)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            statuses = sorted(r.status for r in results)
            assert all(s in (201, 409) for s in statuses) and 201 in statuses, results
            answers.append(results)
            if statuses == [201, 409]:
                busy = next(r for r in results if r.status == 409)
                assert busy.json["error"]["code"] == "change_in_progress" and busy.header("retry-after"), busy
                break
        else:
            raise AssertionError(f"no add was answered busy in three rounds of two at once: {answers}")
        listed, body = members(cluster, leader)
        assert sum(1 for m in listed.values() if m["role"] == "learner") >= 1 and not body["change_in_progress"], body


if __name__ == "__main__":
    runner.run(globals())
