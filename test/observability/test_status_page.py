"""The status page (GET /) in headless Chromium, against real synod processes
on 127.0.0.1: it shows the leader, the members and the charts; after the
leader is killed it shows the new leader and the election in its timeline.
Writes the screenshot to --screenshot (docs/status-page.png in ctest).

  python3 test/observability/test_status_page.py --binary build/server/synod --screenshot docs/status-page.png
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

from pages import Dom, dump_dom, screenshot  # noqa: E402
from pylib.cluster import Cluster  # noqa: E402
from pylib.http import request  # noqa: E402
from pylib.wait import until  # noqa: E402


def make_service_state(cluster, leader):
    """A session holding a lock, when this build's API has sessions and locks
    (DESIGN §5); returns the lock's name, or None."""
    created = request(cluster.port(leader), "POST", "/v1/sessions", body='{"ttl":"30s"}',
                      headers={"Content-Type": "application/json"})
    if created.status != 200 or not created.json:
        return None
    session = created.json["session"]
    acquired = request(cluster.port(leader), "POST", f"/v1/locks/status-page-demo?session={session}", body="{}",
                       headers={"Content-Type": "application/json"})
    assert acquired.status == 200, f"acquire: {acquired}"
    return "status-page-demo"


def page(cluster, node):
    return Dom(dump_dom(f"http://127.0.0.1:{cluster.port(node)}/"))


def check_page(dom, leader, members, self_node):
    assert dom.by_id("self")["text"].strip() == str(self_node), "the page is not this node's"
    shown = dom.by_id("leader")
    assert shown["attrs"].get("data-leader") == str(leader), f"leader shown: {shown}"
    assert f"node {leader}" in shown["text"]
    rows = {int(e["attrs"]["data-member"]) for e in dom.having("data-member")}
    assert rows == set(members), f"members shown: {rows}"
    leaders = [e for e in dom.having("data-member") if e["attrs"].get("data-leader") == "1"]
    assert [int(e["attrs"]["data-member"]) for e in leaders] == [leader]
    # A cluster started from --peers has voters only (issue 20's learners show as data-role="learner").
    roles = {e["attrs"].get("data-role") for e in dom.having("data-member")}
    assert roles == {"voter"}, f"member roles shown: {roles}"
    for chart in ("chart-commit", "chart-heartbeat"):
        svg = dom.by_id(chart)
        assert svg["tag"] == "svg" and "data-points" in svg["attrs"], f"#{chart} was not drawn"
    return dom


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", required=True)
    parser.add_argument("--screenshot", required=True)
    args = parser.parse_args()
    with Cluster(3, args.binary) as cluster:
        cluster.start_all()
        leader = cluster.leader(timeout=15)
        for i in range(100):
            assert cluster.put(leader, f"page/{i}", "v").status == 200
        lock = make_service_state(cluster, leader)

        # The leader's page: leader, members, quorum health, and commit
        # latency from the writes just made.
        dom = check_page(page(cluster, leader), leader, cluster.ids(), leader)
        assert int(dom.by_id("chart-commit")["attrs"]["data-points"]) > 0, "no commit latency on the leader's page"
        quorum = dom.by_id("quorum")
        assert float(quorum["attrs"]["data-ratio"]) > 0.5 and quorum["text"].strip().endswith("%"), f"quorum: {quorum}"
        if lock:
            assert lock in dom.by_id("locks")["text"], "the held lock is not in the locks table"
            assert int(dom.by_id("count-sessions")["text"]) >= 1
        # The Memory card (issue 23): the heap and the log cache, as the node counts them.
        memory = dom.by_id("memory")["text"]
        assert "heap live" in memory and "log cache" in memory and "MiB" in memory, f"memory card: {memory}"
        # A follower's page: the same leader, and the heartbeats it receives.
        follower = next(n for n in cluster.ids() if n != leader)
        until(lambda: request(cluster.port(follower), "GET", "/v1/status").json["windows"][-1]
                   ["heartbeats_received"] > 0, 5, "a heartbeat gap on the follower")
        dom = check_page(page(cluster, follower), leader, cluster.ids(), follower)
        assert int(dom.by_id("chart-heartbeat")["attrs"]["data-points"]) > 0, "no heartbeat data on the follower"

        # Kill the leader: every survivor's page names the new leader and
        # shows the election in its timeline.
        cluster.kill(leader)
        new_leader = cluster.leader(timeout=15, exclude=[leader])
        for i in range(100):
            assert cluster.put(new_leader, f"after/{i}", "v").status == 200
        survivors = [n for n in cluster.ids() if n != leader]
        for node in survivors:
            dom = check_page(page(cluster, node), new_leader, cluster.ids(), node)
            elections = [e["attrs"] for e in dom.with_class("election")]
            failover = [e for e in elections
                        if e["data-leader-before"] == str(leader) and e["data-leader-after"] == str(new_leader)]
            assert failover, f"node {node}'s timeline lacks the election {leader} -> {new_leader}: {elections}"
            assert float(failover[-1]["data-duration-ms"]) > 0
            rows = dom.by_id("elections")["text"]
            assert f"{leader} → {new_leader}" in rows, f"node {node}'s election table: {rows[:500]}"
            dead = dom.having("data-member", str(leader))
            assert dead and dead[0]["attrs"]["data-up"] == "0", f"the dead leader's row: {dead}"

        screenshot(f"http://127.0.0.1:{cluster.port(new_leader)}/", args.screenshot)
        print(f"status page: leader {leader} -> {new_leader} shown; screenshot {args.screenshot}")


if __name__ == "__main__":
    main()
