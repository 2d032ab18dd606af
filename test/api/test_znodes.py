"""The ZooKeeper namespace through REST (issue 22): GET /v1/znodes/{path}.

A 3-node cluster with the ZooKeeper listener on every node. kazoo (Debian's
python3-kazoo) creates, sets and deletes znodes; every node's REST answer
must then show each znode as kazoo's own reads do: the data (base64), every
Stat field, the ACL, the children; 404 for a znode that is not there, 400
bad_path for a path ZooKeeper refuses, 405 for a write. Keys and znodes stay
apart. Last, with auth on: 401 without a token, 403 without admin on cluster,
200 with it. Every exchange is checked against docs/openapi.yaml (ctest sets
SYNOD_OPENAPI_CHECK).

Run: /usr/bin/python3 test/api/test_znodes.py --binary build/server/synod test_znodes_read_over_rest
Exits 77 (ctest: skipped) when kazoo is not importable.
"""
import base64
import os
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

try:
    from kazoo.client import KazooClient
    from kazoo.security import OPEN_ACL_UNSAFE, make_digest_acl
except ImportError as error:
    print(f"skipped: kazoo is not importable ({error}); install Debian's python3-kazoo")
    sys.exit(77)

from pylib import runner  # noqa: E402
from pylib.auth import give_root_token  # noqa: E402
from pylib.cluster import Cluster  # noqa: E402
from pylib.http import call  # noqa: E402
from pylib.wait import retry  # noqa: E402

ROOT_TOKEN = "synod_root_token_for_the_znode_tests_0123456789"
STAT_FIELDS = {"czxid": "czxid", "mzxid": "mzxid", "ctime_ms": "ctime", "mtime_ms": "mtime", "version": "version",
               "cversion": "cversion", "aversion": "aversion", "data_length": "dataLength",
               "num_children": "numChildren", "pzxid": "pzxid"}


def url(path, query=""):
    """The REST route of a znode path: /app/config -> /v1/znodes/app/config, each segment escaped."""
    rest = "/".join(urllib.parse.quote(segment, safe="") for segment in path.strip("/").split("/"))
    target = "/v1/znodes" + (f"/{rest}" if path != "/" else "")
    return target + (f"?{query}" if query else "")


def expect(answer, status, code=None, what=""):
    assert answer.status == status and (code is None or answer.code() == code), (what, answer)


def as_kazoo_sees_it(zk, path):
    """What kazoo reads of a znode, in REST's shape."""
    data, stat = zk.get(path)
    acl, _ = zk.get_acls(path)
    fields = {name: getattr(stat, kazoo_name) for name, kazoo_name in STAT_FIELDS.items()}
    fields["ephemeral_owner"] = str(stat.ephemeralOwner)
    return {"path": path, "data": base64.b64encode(data).decode(), "stat": fields,
            "acl": [{"perms": a.perms, "scheme": a.id.scheme, "id": a.id.id} for a in acl]}


def check_every_node(cluster, zk, paths):
    """Each node's REST answer for each path equals kazoo's reads, with and without ?children."""
    for path in paths:
        want = as_kazoo_sees_it(zk, path)
        children = sorted(zk.get_children(path), key=lambda name: name.encode())
        for node in cluster.ids():
            plain = call(cluster.port(node), "GET", url(path))
            expect(plain, 200, None, f"node {node} reads {path}")
            assert plain.json == want, (node, path, plain.json, want)
            listed = call(cluster.port(node), "GET", url(path, "children"))
            expect(listed, 200, None, f"node {node} lists {path}")
            assert listed.json == dict(want, children=children), (node, path, listed.json, children)
            assert int(listed.header("X-Synod-Index")) >= want["stat"]["mzxid"], listed.headers


def test_znodes_read_over_rest(binary):
    with Cluster(3, binary, zookeeper=True, prefix="synod-znodes-") as cluster:
        give_root_token(cluster, ROOT_TOKEN)
        cluster.start_all()
        leader = cluster.leader(timeout=20)
        port = cluster.port(leader)
        zk = KazooClient(hosts=cluster.zk_hosts(), timeout=10)
        zk.start(timeout=20)
        try:
            secret_acl = [make_digest_acl("ops", "pw", read=True, write=True), OPEN_ACL_UNSAFE[0]]
            zk.create("/app", b"")
            zk.create("/app/config", b"\x00\xff binary")
            zk.set("/app/config", b"v2: \x01\x02")
            zk.set("/app/config", b"v3")
            zk.create("/app/b", b"b")
            zk.create("/app/a", b"a", acl=secret_acl)
            zk.create("/app/gone", b"")
            zk.delete("/app/gone")
            sequential = zk.create("/app/job-", b"", sequence=True)
            lease = zk.create("/app/lease", b"me", ephemeral=True)
            zk.create("/caf\u00e9 x", b"unicode name")
            paths = ["/", "/zookeeper", "/app", "/app/config", "/app/a", "/app/b", sequential, lease, "/caf\u00e9 x"]
            check_every_node(cluster, zk, paths)

            # What the answers must say, beyond agreeing with kazoo.
            app = call(port, "GET", "/v1/znodes/app?children").json
            assert app["children"] == ["a", "b", "config", sequential.rsplit("/", 1)[1], "lease"], app
            assert app["stat"]["num_children"] == 5 and app["stat"]["cversion"] == 7, app  # 6 creates, 1 delete
            config = call(port, "GET", "/v1/znodes/app/config").json
            assert base64.b64decode(config["data"]) == b"v3" and config["stat"]["version"] == 2, config
            assert config["stat"]["mzxid"] > config["stat"]["czxid"], config
            owned = call(port, "GET", url(lease)).json
            assert owned["stat"]["ephemeral_owner"] == str(zk.client_id[0]) != "0", owned
            assert call(port, "GET", "/v1/znodes").json == call(port, "GET", "/v1/znodes/").json
            stale = call(cluster.port(cluster.followers(leader)[0]), "GET", "/v1/znodes/app/config?stale")
            expect(stale, 200, None, "a stale read on a follower")
            assert stale.header("X-Synod-Stale-Ms") is not None, stale.headers

            # Gone, or never there: 404 on every node.
            zk.delete("/app/b")
            for node in cluster.ids():
                for path in ("/app/b", "/app/gone", "/nothing/here", "/app/config/child"):
                    expect(call(cluster.port(node), "GET", url(path)), 404, "not_found", f"node {node}: {path}")

            # Paths ZooKeeper refuses: 400 bad_path, with the reason.
            for target in ("/v1/znodes/app//config", "/v1/znodes/app/", "/v1/znodes/app/./config",
                           "/v1/znodes/app/..", "/v1/znodes/a%01b", "/v1/znodes/a%ffb", "/v1/znodes/a%zz",
                           "/v1/znodes/a%00b", "/v1/znodes/" + "z" * 4096):
                refused = call(port, "GET", target)
                expect(refused, 400, "bad_path", target)
                assert refused.json["error"]["message"], refused
            expect(call(port, "GET", "/v1/znodes/app?recurse"), 400, "unknown_parameter", "a key read's parameter")

            # Read only, and apart from the keys.
            expect(call(port, "PUT", "/v1/znodes/app", body="x"), 405, "method_not_allowed", "a REST write")
            expect(call(port, "DELETE", "/v1/znodes/app"), 405, "method_not_allowed", "a REST delete")
            expect(call(port, "PUT", "/v1/kv/app/config", body="key"), 200, None, "a key of the same name")
            expect(call(port, "GET", "/v1/kv/app"), 404, "not_found", "the znode /app is no key")
            assert call(port, "GET", "/v1/znodes/app/config").json == config, "a key write leaves the znode alone"
            assert not zk.exists("/app/config/key") and zk.get("/app/config")[0] == b"v3"
        finally:
            zk.stop()
            zk.close()

        # With auth on: admin on cluster, as for changing znodes.
        def as_(token, path="/v1/znodes/app"):
            return call(port, "GET", path, headers={"Authorization": f"Bearer {token}"} if token else None)
        made = {}
        for principal in ("alice", "bob"):
            answer = call(port, "POST", "/v1/auth/tokens", {"principal": principal},
                          headers={"Authorization": f"Bearer {ROOT_TOKEN}"})
            expect(answer, 200, None, f"a token for {principal}")
            made[principal] = answer.json["token"]
        for subject, space, permission in (("user:alice", "keys", "read"), ("user:alice", "locks", "admin"),
                                           ("user:bob", "cluster", "admin")):
            rule = {"subject": subject, "space": space, "prefix": "", "permission": permission}
            expect(call(port, "POST", "/v1/auth/rules", rule, headers={"Authorization": f"Bearer {ROOT_TOKEN}"}),
                   200, None, f"rule {rule}")
        expect(call(port, "POST", "/v1/auth/enable", headers={"Authorization": f"Bearer {ROOT_TOKEN}"}), 200)
        expect(retry(lambda: as_(None), lambda r: r.status == 401), 401, "unauthenticated", "no token")
        expect(as_(made["alice"]), 403, "permission_denied", "alice: keys read and locks admin only")
        expect(as_(made["alice"], "/v1/znodes"), 403, "permission_denied", "alice reads /")
        expect(as_(made["bob"]), 200, None, "bob: admin on cluster")
        expect(as_(ROOT_TOKEN, "/v1/znodes/app/config?children"), 200, None, "root")


if __name__ == "__main__":
    runner.run(globals())
