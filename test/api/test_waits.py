"""Blocking acquires and campaigns sent for a session that is already queued
(docs/api.md, "Acquiring"): the request joins the wait the session is in, and
answers 200 with the grant when that wait is granted, or 202 with the
position if it is still queued when the request's own wait ends.

Run one: python3 test/api/test_waits.py --binary build/server/synod test_a_repeated_wait_answers_its_grant
"""
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

from pylib import runner  # noqa: E402
from pylib.cluster import running_cluster  # noqa: E402
from pylib.http import call  # noqa: E402
from pylib.wait import retry  # noqa: E402


def session(port):
    r = call(port, "POST", "/v1/sessions", {"ttl": "60s", "lock_delay": "0s"})
    assert r.status == 200, r
    return r.json["session"]


def reads_waiting(port):
    """The long-polls and reads the node holds (GET /v1/status, live)."""
    r = call(port, "GET", "/v1/status")
    assert r.status == 200, r
    return r.json["memory"]["reads_waiting"]


def in_background(port, method, path, body):
    """Sends a request from a thread; returns the thread and its result holder."""
    result = {}

    def run():
        result["response"] = call(port, method, path, body, timeout=60)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, result


def joined_wait(cluster, port, method, path, body):
    """Sends a waiting request and returns once the leader holds its long-poll,
    so the request was applied (and answered queued) before what follows."""
    leader_port = cluster.port(cluster.leader())
    before = reads_waiting(leader_port)
    thread, result = in_background(port, method, path, body)
    now = retry(lambda: reads_waiting(leader_port), lambda n: n > before, timeout=10)
    assert now > before, f"the leader holds no more long-polls than before ({now})"
    return thread, result


def finished(thread, result):
    thread.join(timeout=45)
    assert not thread.is_alive(), "the waiting request did not answer"
    return result["response"]


def lock_case(cluster, port, name, end_first):
    """S1 holds `name`, S2 queues, then S2 acquires again with a wait, and S1 goes."""
    s1, s2 = session(port), session(port)
    assert call(port, "POST", f"/v1/locks/{name}?session={s1}").status == 200
    queued = call(port, "POST", f"/v1/locks/{name}?session={s2}&queue=true")
    assert queued.status == 202 and queued.json["position"] == 1, queued
    thread, result = joined_wait(cluster, port, "POST", f"/v1/locks/{name}?session={s2}&wait=20s", None)
    end_first(s1)
    answer = finished(thread, result)
    assert answer.status == 200 and answer.json["session"] == s2, answer
    held = call(port, "GET", f"/v1/locks/{name}")
    assert [h["session"] for h in held.json["holders"]] == [s2], held
    assert answer.json["token"] == held.json["holders"][0]["token"], (answer, held)
    return s2


def test_a_repeated_wait_answers_its_grant(binary):
    with running_cluster(binary) as cluster:
        leader = cluster.leader()
        here, follower = cluster.port(leader), cluster.port(cluster.followers(leader)[0])

        # Locks: through the leader with the holder's session deleted, through a follower with a release.
        lock_case(cluster, here, "by-delete", lambda s1: call(here, "DELETE", f"/v1/sessions/{s1}"))
        holder = lock_case(cluster, follower, "by-release",
                           lambda s1: call(follower, "DELETE", f"/v1/locks/by-release?session={s1}"))

        # Still queued when the request's wait ends: 202 with the position, not 408.
        third = session(follower)
        assert call(follower, "POST", f"/v1/locks/by-release?session={third}&queue=true").status == 202
        again = call(follower, "POST", f"/v1/locks/by-release?session={third}&wait=1s", timeout=30)
        assert again.status == 202 and again.json["position"] == 1, again
        assert [w["session"] for w in call(follower, "GET", "/v1/locks/by-release").json["waiters"]] == [third]
        assert call(follower, "DELETE", f"/v1/locks/by-release?session={holder}").status == 200

        # An election: a candidate campaigns again with a wait, and the leader resigns.
        for port, name in ((here, "on-leader"), (follower, "on-follower")):
            s1, s2 = session(port), session(port)
            path = f"/v1/elections/{name}/campaign"
            assert call(port, "POST", path, {"session": s1, "value": "one"}).status == 200
            candidate = call(port, "POST", path, {"session": s2, "value": "two"})
            assert candidate.status == 202 and candidate.json["position"] == 1, candidate
            thread, result = joined_wait(cluster, port, "POST", path, {"session": s2, "value": "two", "wait": "20s"})
            assert call(port, "POST", f"/v1/elections/{name}/resign", {"session": s1}).status == 200
            answer = finished(thread, result)
            assert answer.status == 200 and answer.json["leader"] is True and answer.json["session"] == s2, answer
            now = call(port, "GET", f"/v1/elections/{name}")
            assert now.json["leader"]["session"] == s2 and now.json["leader"]["token"] == answer.json["token"], (answer, now)


if __name__ == "__main__":
    runner.run(globals())
