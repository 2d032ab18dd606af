#!/usr/bin/env python3
"""ZooKeeper's watches and ordering through kazoo, on synod's ZooKeeper listener (issue 22).

  test_kazoo_watches.py --binary build/server/synod [CHECK...]
  test_kazoo_watches.py --zookeeper-real [CHECK...]    # the same checks on a real ZooKeeper 3.8

Client A watches, client B (on another node) changes. ZooKeeper's promises:

  fires_once        a one-shot watch fires once for two changes: get(watch=)
                    sees one CHANGED, exists(watch=) one CREATED,
                    get_children(watch=) one CHILD, and a delete fires
                    DELETED for a data watch and a child watch on the node
  events_in_order   A's events arrive in the order of B's changes, a
                    create's CREATED before its parent's CHILD
  before_the_reply  "a client sees a watch event for a znode before it sees
                    the new data": on A's connection the event comes in
                    before the reply of A's read that reflects B's change
  data_watch        DataWatch calls back with every value, in order, and
                    only rising versions for a burst of changes
  children_watch    ChildrenWatch the same for children
  fifo_client_order one session's pipelined requests (no waiting between
                    them) are answered in order, each read seeing the writes
                    sent before it
  reads_follow_writes  synod only (ZooKeeper does not promise it): a read on
                    another node, without sync, sees a set() acknowledged before

To flush A's events without waiting on a clock, B makes one more change to a
node A watches after the ones under test: its event comes after theirs.

Exit 0: all passed; 1: a check failed (each failure is printed); 77: no kazoo.
"""
import threading

import kazoo_harness as harness
from kazoo.protocol.serialization import GetData
from kazoo.protocol.states import EventType
from pylib.wait import until


def pair(check):
    """A on the first node, B on the second: B's changes reach A through the cluster."""
    ids = check.target.ids()
    return check.client(check.target.hosts([ids[0]])), check.client(check.target.hosts([ids[1 % len(ids)]]))


class Recorder:
    """Watch callbacks that record (tag, event type, path) in the order kazoo runs them."""

    def __init__(self):
        self.events = []
        self.changed = threading.Condition()

    def watch(self, tag):
        def fn(event):
            with self.changed:
                self.events.append((tag, event.type, event.path))
                self.changed.notify_all()
        return fn

    def wait_for(self, tag, timeout=15):
        with self.changed:
            ok = self.changed.wait_for(lambda: any(t == tag for t, _, _ in self.events), timeout)
        assert ok, f"no event for watch {tag} within {timeout}s; events so far: {self.events}"

    def of(self, tag):
        return [(kind, path) for t, kind, path in self.events if t == tag]


def flush(a, b, recorder, root):
    """Waits until A has every event of B's changes so far (see the module's docstring)."""
    path = root + "/flush"
    b.ensure_path(path)
    a.sync(path)
    a.get(path, watch=recorder.watch("flush"))
    b.set(path, b"flush")
    recorder.wait_for("flush")


def check_fires_once(check):
    a, b = pair(check)
    r, root = Recorder(), check.root
    b.create(root + "/data", b"0", makepath=True)
    b.create(root + "/parent/child", b"", makepath=True)
    a.sync(root)
    a.get(root + "/data", watch=r.watch("get"))
    assert a.exists(root + "/missing", watch=r.watch("exists")) is None, "exists() of a missing node answered a Stat"
    a.get_children(root + "/parent", watch=r.watch("children"))
    a.get(root + "/parent/child", watch=r.watch("child-data"))
    a.get_children(root + "/parent/child", watch=r.watch("child-children"))
    for k in (1, 2):
        b.set(root + "/data", str(k).encode())
        b.create(root + f"/parent/new{k}")
    b.create(root + "/missing")
    b.set(root + "/missing", b"x")
    b.delete(root + "/parent/child")
    flush(a, b, r, root)
    want = {"get": [(EventType.CHANGED, root + "/data")],
            "exists": [(EventType.CREATED, root + "/missing")],
            "children": [(EventType.CHILD, root + "/parent")],
            "child-data": [(EventType.DELETED, root + "/parent/child")],
            "child-children": [(EventType.DELETED, root + "/parent/child")]}
    for tag, events in want.items():
        assert r.of(tag) == events, f"watch {tag}: events {r.of(tag)}, want exactly {events}"


def check_events_in_order(check, count=8):
    a, b = pair(check)
    r, root = Recorder(), check.root
    for k in range(count):
        b.create(f"{root}/n{k}", b"0", makepath=True)
    a.sync(root)
    for k in range(count):
        a.get(f"{root}/n{k}", watch=r.watch("data"))
    a.get_children(root, watch=r.watch("data"))
    a.exists(root + "/late", watch=r.watch("data"))
    want = []
    for k in reversed(range(count)):  # not the order A registered in
        b.set(f"{root}/n{k}", b"1")
        want.append((EventType.CHANGED, f"{root}/n{k}"))
        if k == count // 2:
            b.create(root + "/late")
            want += [(EventType.CREATED, root + "/late"), (EventType.CHILD, root)]
    flush(a, b, r, root)
    assert r.of("data") == want, f"events in the order\n  {r.of('data')}\nwant the order of the changes\n  {want}"


def check_before_the_reply(check, rounds=15):
    """Records on kazoo's connection thread, which reads the socket in order:
    handler.dispatch_callback gets a watch event as it is read, and a read's
    AsyncResult.set gets its reply as it is read (a watch callback itself
    runs later on another thread, so it cannot tell the order)."""
    a, b = pair(check)
    path = check.root + "/data"
    b.create(path, b"0", makepath=True)
    wire = []
    dispatch = a.handler.dispatch_callback

    def recording_dispatch(callback):
        if callback.type == "watch":
            wire.append(("event", callback.args[0].type, callback.args[0].path))
        return dispatch(callback)

    a.handler.dispatch_callback = recording_dispatch

    def read():
        result = a.handler.async_result()
        plain_set = result.set

        def set_and_record(value):
            wire.append(("reply", value[1].version))
            plain_set(value)

        result.set = set_and_record
        a._call(GetData(path, None), result)
        return result.get(timeout=15)

    for k in range(1, rounds + 1):
        a.sync(path)
        a.get(path, watch=lambda event: None)
        del wire[:]
        version = b.set(path, str(k).encode()).version
        # ZooKeeper may answer A from a server that has not applied the change yet: read until it has.
        until(lambda: read()[1].version >= version, 15, f"A to read version {version} of {path}")
        first = next(i for i, item in enumerate(wire) if item[0] == "reply" and item[1] >= version)
        events = [item for item in wire[:first] if item[0] == "event"]
        assert events == [("event", EventType.CHANGED, path)], \
            f"round {k}: A's connection read {wire[:first + 1]}: the reply of a read at version {version} " \
            f"before (or without) the CHANGED event of that set"


def check_data_watch(check, steps=6, burst=20):
    a, b = pair(check)
    path = check.root + "/data"
    b.create(path, b"0", makepath=True)
    seen = []
    changed = threading.Condition()

    def on_change(data, stat):
        with changed:
            seen.append((data, stat.version if stat else None))
            changed.notify_all()

    a.DataWatch(path, on_change)

    def wait_for(item):
        with changed:
            assert changed.wait_for(lambda: item in seen, 15), f"DataWatch never saw {item}; saw {seen}"

    wait_for((b"0", 0))
    for k in range(1, steps + 1):
        b.set(path, str(k).encode())
        wait_for((str(k).encode(), k))
    want = [(str(k).encode(), k) for k in range(steps + 1)]
    assert seen == want, f"DataWatch saw {seen}, want each value once in order {want}"
    for k in range(steps + 1, steps + burst + 1):
        b.set(path, str(k).encode())
    wait_for((str(steps + burst).encode(), steps + burst))
    versions = [version for _, version in seen]
    assert versions == sorted(set(versions)), f"DataWatch saw versions {versions}: not rising"
    b.delete(path)
    wait_for((None, None))


def check_children_watch(check, steps=5, burst=15):
    a, b = pair(check)
    path = check.root + "/parent"
    b.ensure_path(path)
    seen = []
    changed = threading.Condition()

    def on_children(children):
        with changed:
            seen.append(sorted(children))
            changed.notify_all()

    a.ChildrenWatch(path, on_children)

    def wait_for(children):
        with changed:
            assert changed.wait_for(lambda: children in seen, 15), f"ChildrenWatch never saw {children}; saw {seen}"

    names = [f"c{k:02}" for k in range(steps + burst)]
    wait_for([])
    for k in range(steps):
        b.create(f"{path}/{names[k]}")
        wait_for(names[:k + 1])
    want = [names[:k] for k in range(steps + 1)]
    assert seen == want, f"ChildrenWatch saw {seen}, want each set once in order {want}"
    for name in names[steps:]:
        b.create(f"{path}/{name}")
    wait_for(names)
    sizes = [len(children) for children in seen]
    assert sizes == sorted(set(sizes)), f"ChildrenWatch saw {sizes} children in turn: not rising"
    assert all(children == names[:len(children)] for children in seen), f"ChildrenWatch saw {seen}"


def check_fifo_client_order(check, count=100):
    """One session's requests, sent without waiting (kazoo's *_async), are
    answered in order, and each read sees the session's writes before it."""
    a, _ = pair(check)
    path = check.root + "/fifo"
    a.create(path, b"0", makepath=True)
    pending = []
    for k in range(1, count + 1):
        pending.append(("set", k, a.set_async(path, str(k).encode())))
        pending.append(("get", k, a.get_async(path)))
        if k % 10 == 0:
            pending.append(("create", k, a.create_async(f"{path}/c{k:03}")))
            pending.append(("children", k, a.get_children_async(path)))
            pending.append(("exists", k, a.exists_async(f"{path}/c{k:03}")))
    for kind, k, result in pending:
        got = result.get(timeout=30)
        if kind == "set":
            assert got.version == k, f"set #{k} answered version {got.version}, want {k}"
        elif kind == "get":
            assert (got[0], got[1].version) == (str(k).encode(), k), \
                f"get after set #{k} (pipelined) answered {got[0]!r} at version {got[1].version}"
        elif kind == "children":
            want = [f"c{j:03}" for j in range(10, k + 1, 10)]
            assert sorted(got) == want, f"get_children after create #{k} (pipelined) answered {sorted(got)}"
        elif kind == "exists":
            assert got is not None, f"exists after create #{k} (pipelined) answered None"


def check_reads_follow_writes(check, rounds=30):
    """Synod's promise, not ZooKeeper's (whose servers answer reads from what they applied)."""
    if not check.target.linearizable:
        raise harness.NotRun(f"{check.target.name} does not promise linearizable reads")
    a, b = pair(check)
    path = check.root + "/data"
    b.create(path, b"0", makepath=True)
    for k in range(1, rounds + 1):
        writer, reader = (b, a) if k % 2 else (a, b)
        stat = writer.set(path, str(k).encode())
        child = writer.create(path + "/c", sequence=True)
        data, read = reader.get(path)
        assert (data, read.version) == (str(k).encode(), stat.version), \
            f"round {k}: a read on another node, without sync, after set() answered version {stat.version}: " \
            f"got {data!r} at version {read.version}"
        children = reader.get_children(path)
        assert child.rsplit("/", 1)[1] in children, \
            f"round {k}: get_children({path}) on another node after create({child}) answered {children}"


CHECKS = [
    ("fires_once", check_fires_once),
    ("events_in_order", check_events_in_order),
    ("before_the_reply", check_before_the_reply),
    ("data_watch", check_data_watch),
    ("children_watch", check_children_watch),
    ("fifo_client_order", check_fifo_client_order),
    ("reads_follow_writes", check_reads_follow_writes),
]

if __name__ == "__main__":
    harness.run(__doc__, CHECKS)
