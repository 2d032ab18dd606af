#!/usr/bin/python3
"""ZooKeeper's 3.6 and 3.7 ops on synod's listener (zkserver/more_ops.cpp),
on the wire (zkwire.py): addWatch (persistent and recursive), removeWatches
and checkWatches, whoAmI, getEphemerals, getAllChildrenNumber and multiRead,
and setWatches (reads.cpp; kazoo never sends it),
each with its answers and its errors. --zookeeper-real runs the same checks
on a standalone ZooKeeper 3.8 (real_zookeeper.py), so the expectations are
ZooKeeper's own.

  /usr/bin/python3 test/zookeeper/test_more_ops.py --binary build/server/synod
"""
import argparse
import os
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

import real_zookeeper  # noqa: E402
from zkwire import (CREATE, error_name, DELETE, GET_CHILDREN, GET_DATA, SET_DATA, Reader, Wire, create_req,  # noqa: E402
                    multi_req, path_req, set_data_req, version_req, w_buffer, w_int, w_string)

ADD_WATCH, CHECK_WATCHES, REMOVE_WATCHES, WHO_AM_I, SET_WATCHES = 106, 17, 18, 107, 101
GET_EPHEMERALS, GET_ALL_CHILDREN_NUMBER, MULTI_READ, AUTH = 103, 104, 22, 100
PERSISTENT, RECURSIVE = 0, 1
EPHEMERAL = 1  # CreateMode
CHILDREN, DATA, ANY, W_PERSISTENT, W_RECURSIVE = 1, 2, 3, 4, 5


def expect(what, got, want):
    """Error codes compare by ZooKeeper's names ("ok", "NoNode")."""
    if isinstance(want, str) and isinstance(got, int):
        got = error_name(got)
    if isinstance(want, tuple) and isinstance(got, tuple) and isinstance(got[0], int):
        got = (error_name(got[0]),) + got[1:]
    if got != want:
        raise AssertionError(f"{what}: got {got!r}, want {want!r}")


def read_strings(body):
    r = Reader(body)
    return r.vector(r.string)


def events_after(wire, call):
    """The reply of `call`, then a sync-like read that collects the watch events sent before it."""
    reply = call()
    time.sleep(0.05)
    marker = wire.call(GET_DATA, path_req("/", watch=False))
    return reply, reply.events + marker.events


def check_persistent_watches(a, b):
    for path in ("/p", "/p/c", "/p/c/d"):
        expect(f"create {path}", a.call(CREATE, create_req(path, b"", 0)).err, "ok")
    expect("addWatch persistent", a.call(ADD_WATCH, w_string("/p") + w_int(PERSISTENT)).err, "ok")
    expect("addWatch on a missing path", a.call(ADD_WATCH, w_string("/none") + w_int(RECURSIVE)).err, "ok")
    expect("addWatch bad mode", a.call(ADD_WATCH, w_string("/p") + w_int(7)).err, "MarshallingError")
    # A persistent watch fires every time, children changes included, and stays.
    _, seen = events_after(a, lambda: b.call(SET_DATA, set_data_req("/p", b"1", -1)))
    expect("persistent, data", seen, [["NodeDataChanged", 3, "/p"]])
    _, seen = events_after(a, lambda: b.call(SET_DATA, set_data_req("/p", b"2", -1)))
    expect("persistent, again", seen, [["NodeDataChanged", 3, "/p"]])
    _, seen = events_after(a, lambda: b.call(CREATE, create_req("/p/e", b"", 0)))
    expect("persistent, children", seen, [["NodeChildrenChanged", 3, "/p"]])
    _, seen = events_after(a, lambda: b.call(SET_DATA, set_data_req("/p/c", b"x", -1)))
    expect("persistent, not below", seen, [])
    # ZooKeeper 3.8 keeps a persistent watch in both of its tables, which
    # checkWatches and removeWatches name by children and data; its own
    # Persistent types it does not take.
    for kind in (CHILDREN, DATA, ANY):
        expect(f"checkWatches {kind}", a.call(CHECK_WATCHES, w_string("/p") + w_int(kind)).err, "ok")
    for kind in (W_PERSISTENT, W_RECURSIVE):
        expect(f"checkWatches {kind}", a.call(CHECK_WATCHES, w_string("/p") + w_int(kind)).err, "MarshallingError")
        expect(f"removeWatches {kind}", a.call(REMOVE_WATCHES, w_string("/p") + w_int(kind)).err, "MarshallingError")
    expect("checkWatches elsewhere", a.call(CHECK_WATCHES, w_string("/p/c") + w_int(ANY)).err, "NoWatcher")
    expect("removeWatches children", a.call(REMOVE_WATCHES, w_string("/p") + w_int(CHILDREN)).err, "ok")
    _, seen = events_after(a, lambda: b.call(CREATE, create_req("/p/f", b"", 0)))
    expect("the child half removed", seen, [])
    _, seen = events_after(a, lambda: b.call(SET_DATA, set_data_req("/p", b"3", -1)))
    expect("the data half stays", seen, [["NodeDataChanged", 3, "/p"]])
    expect("removeWatches data", a.call(REMOVE_WATCHES, w_string("/p") + w_int(DATA)).err, "ok")
    expect("removeWatches again", a.call(REMOVE_WATCHES, w_string("/p") + w_int(ANY)).err, "NoWatcher")
    _, seen = events_after(a, lambda: b.call(SET_DATA, set_data_req("/p", b"4", -1)))
    expect("removed", seen, [])
    # A recursive one fires for the path and everything below, but never
    # NodeChildrenChanged.
    expect("addWatch recursive", a.call(ADD_WATCH, w_string("/p") + w_int(RECURSIVE)).err, "ok")
    _, seen = events_after(a, lambda: b.call(CREATE, create_req("/p/c/d/e", b"", 0)))
    expect("recursive, a create below", seen, [["NodeCreated", 3, "/p/c/d/e"]])
    _, seen = events_after(a, lambda: b.call(DELETE, version_req("/p/c/d/e", -1)))
    expect("recursive, a delete below", seen, [["NodeDeleted", 3, "/p/c/d/e"]])
    _, seen = events_after(a, lambda: b.call(SET_DATA, set_data_req("/p", b"5", -1)))
    expect("recursive, the path", seen, [["NodeDataChanged", 3, "/p"]])
    # A one-shot watch on the same path and connection: one event.
    expect("getData watch", a.call(GET_DATA, path_req("/p", watch=True)).err, "ok")
    _, seen = events_after(a, lambda: b.call(SET_DATA, set_data_req("/p", b"6", -1)))
    expect("recursive and one-shot together", seen, [["NodeDataChanged", 3, "/p"]])
    expect("removeWatches any", a.call(REMOVE_WATCHES, w_string("/p") + w_int(ANY)).err, "ok")
    _, seen = events_after(a, lambda: b.call(SET_DATA, set_data_req("/p/c", b"y", -1)))
    expect("after removing any", seen, [])


def check_reads(a, b):
    for path in ("/n", "/n/a", "/n/a/x", "/n/b"):
        a.call(CREATE, create_req(path, b"d" + path.encode(), 0))
    a.call(CREATE, create_req("/n/e1", b"", EPHEMERAL))
    a.call(CREATE, create_req("/n/b/e2", b"", EPHEMERAL))
    b.call(CREATE, create_req("/n/e3", b"", EPHEMERAL))
    reply = a.call(GET_ALL_CHILDREN_NUMBER, w_string("/n"))
    expect("getAllChildrenNumber", (reply.err, Reader(reply.body).int()), ("ok", 6))
    expect("getAllChildrenNumber missing", a.call(GET_ALL_CHILDREN_NUMBER, w_string("/none")).err, "NoNode")
    for prefix, want in (("/", ["/n/b/e2", "/n/e1"]), ("/n/b", ["/n/b/e2"]), ("/x", [])):
        reply = a.call(GET_EPHEMERALS, w_string(prefix))
        expect(f"getEphemerals {prefix}", (reply.err, sorted(read_strings(reply.body))), ("ok", want))
    # multiRead: each op on its own.
    ops = [(GET_DATA, path_req("/n/a", watch=False)), (GET_CHILDREN, path_req("/n", watch=False)),
           (GET_DATA, path_req("/none", watch=False))]
    reply = a.call(MULTI_READ, multi_req(ops))
    expect("multiRead", reply.err, "ok")
    r = Reader(reply.body)
    results = []
    while True:
        kind, done, err = r.int(), r.bool(), r.int()
        if done:
            break
        if kind == GET_DATA:
            results.append(("data", r.buffer(), r.stat()["version"]))
        elif kind == GET_CHILDREN:
            results.append(("children", sorted(r.vector(r.string))))
        else:
            results.append(("error", r.int()))
    expect("multiRead results", results,
           [("data", b"d/n/a", 0), ("children", ["a", "b", "e1", "e3"]), ("error", -101)])
    expect("multiRead with a write", a.call(MULTI_READ, multi_req([(CREATE, create_req("/n/z", b"", 0))])).err,
           "MarshallingError")


def check_set_watches(a, b):
    """A reconnecting client's setWatches: what changed after its relativeZxid fires at once
    (DataTree.setWatches), the rest is registered and fires later."""
    for path in ("/s", "/s/same", "/s/changed", "/s/gone"):
        b.call(CREATE, create_req(path, b"", 0))
    seen_zxid = b.call(GET_DATA, path_req("/s", watch=False)).zxid
    b.call(SET_DATA, set_data_req("/s/changed", b"x", -1))
    b.call(DELETE, version_req("/s/gone", -1))
    b.call(CREATE, create_req("/s/born", b"", 0))
    strings = lambda paths: w_int(len(paths)) + b"".join(w_string(p) for p in paths)  # noqa: E731
    record = (struct.pack("!q", seen_zxid) + strings(["/s/same", "/s/changed", "/s/gone"]) +
              strings(["/s/born", "/s/never"]) + strings(["/s/same"]))
    reply, seen = events_after(a, lambda: a.call(SET_WATCHES, record))
    expect("setWatches", error_name(reply.err), "ok")
    expect("setWatches fires what changed", sorted(seen),
           sorted([["NodeDataChanged", 3, "/s/changed"], ["NodeDeleted", 3, "/s/gone"],
                   ["NodeCreated", 3, "/s/born"]]))
    _, seen = events_after(a, lambda: b.call(SET_DATA, set_data_req("/s/same", b"y", -1)))
    expect("setWatches registered the rest", seen, [["NodeDataChanged", 3, "/s/same"]])
    _, seen = events_after(a, lambda: b.call(CREATE, create_req("/s/same/c", b"", 0)))
    expect("and the child watch", seen, [["NodeChildrenChanged", 3, "/s/same"]])
    _, seen = events_after(a, lambda: b.call(CREATE, create_req("/s/never", b"", 0)))
    expect("and the exist watch", seen, [["NodeCreated", 3, "/s/never"]])


def check_who_am_i(a):
    expect("addauth", a.call(AUTH, w_int(0) + w_string("digest") + w_buffer(b"alice:secret")).err, "ok")
    reply = a.call(WHO_AM_I, b"")
    r = Reader(reply.body)
    infos = r.vector(lambda: (r.string(), r.string()))
    expect("whoAmI", (reply.err, sorted(infos)), ("ok", [("digest", "alice"), ("ip", "127.0.0.1")]))


def run(addrs):
    a, b = Wire(addrs[0]), Wire(addrs[-1])
    try:
        check_persistent_watches(a, b)
        check_reads(a, b)
        check_set_watches(a, b)
        check_who_am_i(a)
    finally:
        for w in (a, b):
            w.drop()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary")
    parser.add_argument("--zookeeper-real", action="store_true")
    args = parser.parse_args()
    if args.zookeeper_real:
        if real_zookeeper.available() is not None:
            print(real_zookeeper.available())
            return 77
        with real_zookeeper.StandaloneZooKeeper() as zk:
            run([zk.addr])
    else:
        from pylib.cluster import Cluster
        with Cluster(3, args.binary, zookeeper=True) as cluster:
            cluster.start_all()
            cluster.leader(timeout=15)
            run([cluster.zk_addr(1), cluster.zk_addr(3)])
    print("test_more_ops: every check passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
