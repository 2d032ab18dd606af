#!/usr/bin/python3
"""ZooKeeper's ACLs through kazoo on a 3-node synod cluster (issue 22):
addauth digest, a creator-only ACL refusing another session's reads and
writes (NoAuth; a delete by the parent's ACL) but not exists, the auth scheme needing an authenticated
id (InvalidACL), setACL's version (BadVersion) and its effect, and the
second session gaining access by addauth. The ACL rules themselves are
lockservice_unit's (test_znode_acl.cpp); this is the wire and the listener.

  /usr/bin/python3 test/zookeeper/test_acls.py --binary build/server/synod
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

try:
    from kazoo.client import KazooClient
    from kazoo.exceptions import BadVersionError, InvalidACLError, NoAuthError
    from kazoo.security import CREATOR_ALL_ACL, OPEN_ACL_UNSAFE, make_acl, make_digest_acl_credential
except ImportError:
    print("test_acls: no kazoo (python3-kazoo); skipped")
    sys.exit(77)

from pylib.cluster import Cluster  # noqa: E402


def refused(what, call, error):
    try:
        call()
    except error:
        return
    raise AssertionError(f"{what}: not refused with {error.__name__}")


def run(cluster):
    alice = KazooClient(hosts=cluster.zk_addr(1), auth_data=[("digest", "alice:secret")], timeout=10)
    bob = KazooClient(hosts=cluster.zk_addr(3), timeout=10)
    alice.start(timeout=20)
    bob.start(timeout=20)
    try:
        alice.create("/private", b"x", acl=CREATOR_ALL_ACL)
        alice.create("/private/mine", b"", acl=OPEN_ACL_UNSAFE)  # a delete is judged by its parent's ACL
        acl, stat = alice.get_acls("/private")
        want = make_digest_acl_credential("alice", "secret")
        assert [(a.perms, a.id.scheme, a.id.id) for a in acl] == [(31, "digest", want)], acl
        assert stat.aversion == 0
        for what, call in (("get", lambda: bob.get("/private")), ("set", lambda: bob.set("/private", b"y")),
                           ("create a child", lambda: bob.create("/private/c")),
                           ("get_children", lambda: bob.get_children("/private")),
                           ("get_acls", lambda: bob.get_acls("/private")),
                           ("delete a child", lambda: bob.delete("/private/mine"))):
            refused(what, call, NoAuthError)
        assert bob.exists("/private") is not None, "exists is judged by no ACL"
        refused("the auth scheme without an id", lambda: bob.create("/x", acl=[make_acl("auth", "", all=True)]),
                InvalidACLError)
        refused("setACL with a stale aversion", lambda: alice.set_acls("/private", OPEN_ACL_UNSAFE, version=3),
                BadVersionError)
        refused("setACL by another", lambda: bob.set_acls("/private", OPEN_ACL_UNSAFE), NoAuthError)
        stat = alice.set_acls("/private", OPEN_ACL_UNSAFE, version=0)
        assert stat.aversion == 1 and stat.version == 0, stat
        assert bob.get("/private")[0] == b"x"
        # A read-only ACL for the world, all for alice: bob reads, may not write until he is alice.
        alice.create("/shared", b"1", acl=[make_acl("world", "anyone", read=True),
                                           make_acl("digest", want, all=True)])
        assert bob.get("/shared")[0] == b"1"
        refused("a write under a read-only ACL", lambda: bob.set("/shared", b"2"), NoAuthError)
        bob.add_auth("digest", "alice:secret")
        bob.set("/shared", b"2")
        assert alice.get("/shared")[0] == b"2"
    finally:
        alice.stop()
        bob.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True)
    args = parser.parse_args()
    with Cluster(3, args.binary, zookeeper=True) as cluster:
        cluster.start_all()
        cluster.leader(timeout=15)
        run(cluster)
    print("test_acls: every check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
