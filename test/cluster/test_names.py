"""Member addresses by name (issue #14): a 3-node cluster whose --peers and
--clients all say localhost:PORT, on real processes.

Its peer links dial "localhost" (resolved at every dial), its listeners bind
it (resolved once), a follower forwards commands to the leader over the named
peer link and linearizable reads over the leader's named client address, and
synodctl reaches it with --endpoints localhost:PORT. The session below is
printed as curl would show it, so a run documents it.

Run: SYNODCTL=build/cli/synodctl \
     python3 test/cluster/test_names.py --binary build/server/synod test_localhost_cluster_serves_by_name
"""
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

from pylib import runner  # noqa: E402
from pylib.cluster import Cluster  # noqa: E402
from pylib.http import Http  # noqa: E402


class NamedCluster(Cluster):
    """The shared cluster, with every member address given by name."""

    def args(self, node, data_dir=None, cluster_id=None):
        return [arg.replace("127.0.0.1:", "localhost:") for arg in super().args(node, data_dir, cluster_id)]


def localhost_request(port, method, path, body=None, timeout=5.0):
    """One request to localhost:port (a name, not an IP)."""
    client = Http(host="localhost")
    try:
        return client.call(port, method, path, body=body, timeout=timeout)
    finally:
        client.close()


def call(port, method, path, body=None, timeout=5.0):
    """localhost_request, printed as a curl session line: (status, JSON or text, headers)."""
    response = localhost_request(port, method, path, body=body, timeout=timeout)
    assert response.status != 0, f"{method} localhost:{port}{path}: {response.error}"
    text = response.raw
    data = f" --data '{body}'" if body is not None else ""
    print(f"$ curl -s -X {method}{data} 'http://localhost:{port}{path}'")
    forwarded = response.header("x-synod-forwarded-to")
    print(f"{response.status} {text.strip()}" + (f"   [x-synod-forwarded-to: {forwarded}]" if forwarded else ""))
    return response.status, json.loads(text) if text.strip().startswith("{") else text, response.headers


def serving_leader(cluster, timeout=10.0):
    """The leader as /v1/cluster says, asked over localhost."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        for node in cluster.ids():
            response = localhost_request(cluster.port(node), "GET", "/v1/cluster", timeout=1.0)
            view = response.json if response.status == 200 else None
            if view and view.get("role") == "leader" and view.get("serving"):
                return node, view
        time.sleep(0.02)
    raise AssertionError(f"no serving leader within {timeout}s")


def synodctl(cluster, *args, nodes=None):
    endpoints = ",".join(f"localhost:{cluster.port(n)}" for n in (nodes or cluster.ids()))
    command = [os.environ["SYNODCTL"], "--endpoints", endpoints, *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    print("$ synodctl --endpoints " + endpoints + " " + " ".join(args))
    print((result.stdout + result.stderr).rstrip())
    return result


def test_localhost_cluster_serves_by_name(binary):
    with NamedCluster(3, binary) as cluster:
        cluster.start_all()
        leader, view = serving_leader(cluster)
        for member in view["members"]:
            assert member["peer_addr"] == f"localhost:{cluster.peer_ports[member['id'] - 1]}", member
            assert member["client_addr"] == f"localhost:{cluster.port(member['id'])}", member
        followers = [n for n in cluster.ids() if n != leader]
        first, second = cluster.port(followers[0]), cluster.port(followers[1])
        print(f"leader: node {leader}; followers: nodes {followers}")

        # Acquire through a follower: forwarded to the leader on the named peer link.
        status, grant, headers = call(first, "POST", "/v1/locks/db?ttl=15s")
        assert status == 200 and grant["session_created"] and grant["token"] > 0, grant
        assert headers.get("x-synod-forwarded-to") == str(leader), headers
        session, token = grant["session"], grant["token"]

        # A fenced put through the other follower.
        status, written, headers = call(second, "PUT", f"/v1/kv/db/config?lock=db&token={token}", body="replicas=3")
        assert status == 200 and written["lock_generation"] == token, written
        assert headers.get("x-synod-forwarded-to") == str(leader), headers

        # A linearizable read through a follower: forwarded as HTTP to the
        # leader's client address, localhost:PORT (http/server.cpp, Forward).
        status, read, headers = call(first, "GET", "/v1/kv/db/config")
        assert status == 200 and read["value"] == "replicas=3", read
        assert headers.get("x-synod-forwarded-to") == str(leader), headers

        status, kept, _ = call(second, "POST", f"/v1/sessions/{session}/keepalive")
        assert status == 200 and kept["valid_for_ms"] > 0, kept
        status, released, headers = call(first, "DELETE", f"/v1/locks/db?session={session}")
        assert status == 200 and released["released"] and released["token"] == token, released
        assert headers.get("x-synod-forwarded-to") == str(leader), headers

        # The blocking client resolves names too (http/client.cpp).
        state = synodctl(cluster, "cluster", "status")
        assert state.returncode == 0 and f"leader: node {leader}" in state.stdout, state
        got = synodctl(cluster, "kv", "get", "/db/config", nodes=[followers[0]])
        assert got.returncode == 0 and got.stdout.strip() == "replicas=3", got

        # Each node dialed its peers by name.
        for node in cluster.ids():
            for other in cluster.ids():
                if other != node:
                    needle = f"connected to node {other} at localhost:{cluster.peer_ports[other - 1]}"
                    assert needle in cluster.log_text(node), (node, needle)


if __name__ == "__main__":
    runner.run(globals())
