#!/usr/bin/python3
"""Container znodes reaped by the leader (issue 22), seen through kazoo on a
3-node synod cluster with its ZooKeeper listener, checked every 200 ms
(--container-check-ms; the default is ZooKeeper's minute).

  /usr/bin/python3 test/zookeeper/test_kazoo_containers.py --binary build/server/synod

kazoo 2.8 (Debian's) has no create(container=True), so a container is made
with ZooKeeper's createContainer request (op 19, flag 4), as the Java
client's CreateMode.CONTAINER sends it, through kazoo's own connection.

  reaped          a container whose only child is deleted goes, and a
                  watcher on another node sees NodeDeleted for it and
                  NodeChildrenChanged for its parent
  kept            a container that never had a child, and one that still
                  has a child, stay through later checks (a third container
                  emptied after the first is reaped, so a whole check ran)
  nested          nested containers go from the leaf up, each at a check
                  (ZooKeeper's order)
  ephemeral       a container whose ephemeral child goes with its session
                  (a lock's parent after its holder closed) is reaped
  new_leader      after the leader is SIGKILLed, the new leader reaps

Exit 0 when every check passed, 1 when one failed (each printed), 77 when
kazoo is not importable.
"""
import argparse
import os
import sys
import threading
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

try:
    from kazoo.client import KazooClient
    from kazoo.protocol.serialization import Create2
    from kazoo.protocol.states import EventType
    from kazoo.security import OPEN_ACL_UNSAFE
except ImportError as error:
    print(f"skipped: kazoo is not importable ({error}); install Debian's python3-kazoo")
    sys.exit(77)

from pylib.cluster import Cluster  # noqa: E402
from pylib.wait import until  # noqa: E402

CHECK_MS = 200
CONTAINER_FLAG = 4  # CreateMode.CONTAINER
GONE_S = 10.0       # a reap is due within one check; this bounds a stuck run, it measures nothing


class CreateContainer(Create2):
    """ZooKeeper's createContainer (op 19): Create2's request and its Create2Response."""
    type = 19


def create_container(client, path):
    result = client.handler.async_result()
    client._call(CreateContainer(path, b"", OPEN_ACL_UNSAFE, CONTAINER_FLAG), result)
    created, stat = result.get(timeout=10)
    assert created == path, f"createContainer {path} answered {created}"
    assert stat.ephemeralOwner == 0, f"a container's ephemeralOwner reads 0, got {stat.ephemeralOwner}"
    return stat


def connect(hosts):
    client = KazooClient(hosts=hosts, timeout=10)
    client.start(timeout=15)
    return client


def wait_gone(client, path):
    until(lambda: client.exists(path) is None, GONE_S, f"container {path} to be reaped")


class Events:
    def __init__(self):
        self.seen = []
        self.lock = threading.Lock()

    def __call__(self, event):
        with self.lock:
            self.seen.append((event.type, event.path))

    def has(self, kind, path):
        with self.lock:
            return (kind, path) in self.seen


def check_reaped(cluster, a, b):
    a.ensure_path("/r")
    create_container(a, "/r/box")
    a.create("/r/box/item", b"x")
    events = Events()
    assert b.exists("/r/box", watch=events) is not None
    b.get_children("/r", watch=events)
    a.delete("/r/box/item")
    wait_gone(b, "/r/box")
    until(lambda: events.has(EventType.DELETED, "/r/box"), GONE_S, "NodeDeleted for /r/box")
    until(lambda: events.has(EventType.CHILD, "/r"), GONE_S, "NodeChildrenChanged for /r")
    assert a.exists("/r") is not None, "a plain parent is never reaped"


def check_kept(cluster, a, b):
    a.ensure_path("/k")
    create_container(a, "/k/never")
    create_container(a, "/k/full")
    a.create("/k/full/child")
    create_container(a, "/k/first")
    a.create("/k/first/x")
    a.delete("/k/first/x")
    wait_gone(b, "/k/first")
    # One more reap after that one: at least one whole check ran since.
    create_container(a, "/k/second")
    a.create("/k/second/x")
    a.delete("/k/second/x")
    wait_gone(b, "/k/second")
    assert b.exists("/k/never") is not None, "a container that never had a child was reaped"
    assert b.exists("/k/full") is not None, "a container with a child was reaped"
    assert b.get_children("/k/full") == ["child"]


def check_nested(cluster, a, b):
    create_container(a, "/n")
    create_container(a, "/n/m")
    a.create("/n/m/leaf")
    a.delete("/n/m/leaf")
    wait_gone(b, "/n/m")
    wait_gone(b, "/n")


def check_ephemeral(cluster, a, b):
    create_container(a, "/lock")
    holder = connect(cluster.zk_hosts())
    try:
        holder.create("/lock/n-", ephemeral=True, sequence=True)
        assert len(b.get_children("/lock")) == 1
    finally:
        holder.stop()
        holder.close()
    wait_gone(b, "/lock")


def check_new_leader(cluster, a, b):
    leader = cluster.leader(timeout=15)
    others = [n for n in cluster.ids() if n != leader]
    client = connect(cluster.zk_hosts(others))
    try:
        create_container(client, "/after")
        client.create("/after/x")
        cluster.kill(leader)
        cluster.leader(timeout=15, exclude=(leader,))
        client.delete("/after/x")
        wait_gone(client, "/after")
    finally:
        client.stop()
        client.close()
        cluster.start(leader)


CHECKS = [("reaped", check_reaped), ("kept", check_kept), ("nested", check_nested),
          ("ephemeral", check_ephemeral), ("new_leader", check_new_leader)]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    parser.add_argument("checks", nargs="*", help="run only these checks")
    args = parser.parse_args()
    failed = []
    cluster = Cluster(3, args.binary, zookeeper=True, prefix="synod-containers-",
                      extra_args=["--container-check-ms", str(CHECK_MS)])
    try:
        cluster.start_all()
        cluster.leader(timeout=30)
        ids = cluster.ids()
        for name, check in CHECKS:
            if args.checks and name not in args.checks:
                continue
            # a writes on one node, b watches and reads on another
            a, b = connect(cluster.zk_addr(ids[0])), connect(cluster.zk_addr(ids[1]))
            try:
                check(cluster, a, b)
                print(f"ok   {name}")
            except Exception:
                failed.append(name)
                print(f"FAIL {name}\n{traceback.format_exc()}")
            finally:
                for client in (a, b):
                    client.stop()
                    client.close()
    finally:
        cluster.close(failed=bool(failed))
    if failed:
        print(f"failed: {', '.join(failed)}")
        return 1
    print(f"all {len(CHECKS) if not args.checks else len(args.checks)} checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
