#!/usr/bin/env python3
"""ZooKeeper sessions through kazoo, on synod's ZooKeeper listener (issue 22).

  test_kazoo_sessions.py --binary build/server/synod [CHECK...]
  test_kazoo_sessions.py --zookeeper-real [CHECK...]    # the same checks on a real ZooKeeper 3.8

  vanish_on_close      a client's ephemerals are gone for every client once
                       its stop() (closeSession) returns (on synod even
                       without a sync first), with a DELETED and
                       a CHILD event to a watcher; its persistent node stays
  vanish_on_expiry     a client process SIGKILLed (its connection closed,
                       no closeSession) with a 4 s session: its ephemeral
                       goes when the session expires, with a DELETED event
  silent_client        a client process SIGSTOPped (its connection open and
                       silent): the session expires, its ephemeral goes, and
                       once SIGCONTed the client is told (state LOST)
  resume               a client process SIGKILLed with a 20 s session; a new
                       client given its id and a wrong password is refused
                       (answered as expired), one given the right password
                       resumes it: the same id, its ephemeral still there
  session_moves        a client on node V (hosts "V,W", in that order) with
                       an ephemeral and a DataWatch; V is SIGKILLed (a
                       follower, then after its restart the leader): the
                       client reconnects to W with the same session id and
                       never sees LOST, its ephemeral stays, owned by that
                       session, it writes again, and its DataWatch fires
                       for a change made after the move

  session_moves_to_a_lagging_node
                       the same, but the node it moves to was SIGSTOPped
                       while the session wrote: the session's first reads
                       there see its own writes, its ephemeral is there

Expiry is made by ending the client's process, not by hacks on a live kazoo
client's socket: a SIGKILLed process is a client that crashed, its kernel
closes the connection; a SIGSTOPped one is a client that hangs (a long GC
pause), its connection stays open. Neither sends closeSession.

Exit 0: all passed; 1: a check failed (each failure is printed); 77: no kazoo.
"""
import logging
import signal
import threading

import kazoo_harness as harness
from kazoo.protocol.states import EventType, KazooState
from pylib.wait import until


class Events:
    def __init__(self):
        self.events = []
        self.changed = threading.Condition()

    def __call__(self, event):
        with self.changed:
            self.events.append((event.type, event.path))
            self.changed.notify_all()

    def wait_for(self, event, timeout, what):
        with self.changed:
            ok = self.changed.wait_for(lambda: event in self.events, timeout)
        assert ok, f"{what}: no {event} within {timeout}s; events: {self.events}"


class ExpiryLog(logging.Handler):
    """Counts kazoo's "Session has expired" (a ConnectResponse with timeout 0) while in a `with`."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def emit(self, record):
        self.count += record.getMessage() == "Session has expired"

    def __enter__(self):
        logging.getLogger("kazoo.client").addHandler(self)

    def __exit__(self, *_):
        logging.getLogger("kazoo.client").removeHandler(self)


def gone_for(observer, path):
    observer.sync(path)
    stat = observer.exists(path)
    assert stat is None, f"{path} still exists (ephemeralOwner {stat and hex(stat.ephemeralOwner)})"


def check_vanish_on_close(check):
    ids = check.target.ids()
    owner = check.client(check.target.hosts([ids[0]]))
    observer = check.client(check.target.hosts([ids[-1]]))
    parent = check.root + "/parent"
    owner.create(parent + "/kept", b"", makepath=True)
    owner.create(parent + "/eph", b"", ephemeral=True)
    sequential = owner.create(parent + "/seq-", b"", ephemeral=True, sequence=True)
    session = owner.client_id[0]
    observer.sync(parent)
    stat = observer.exists(parent + "/eph", watch=(deleted := Events()))
    assert stat and stat.ephemeralOwner == session, f"ephemeralOwner {stat and hex(stat.ephemeralOwner)}, want {session:#x}"
    observer.get_children(parent, watch=(children := Events()))
    owner.stop()
    if check.target.linearizable:  # no sync needed: the close was acknowledged before this read
        stat = observer.exists(parent + "/eph")
        assert stat is None, f"{parent}/eph read (without sync) after its owner's acknowledged close: {stat}"
    for path in (parent + "/eph", sequential):
        gone_for(observer, path)
    deleted.wait_for((EventType.DELETED, parent + "/eph"), 15, "exists() watch on the ephemeral")
    children.wait_for((EventType.CHILD, parent), 15, "get_children() watch on the parent")
    assert observer.get_children(parent) == ["kept"], f"children after the close: {observer.get_children(parent)}"


def check_vanish_on_expiry(check):
    path = check.root + "/crashed"
    child = check.child(path, 4.0)
    observer = check.client()
    observer.sync(path)
    stat = observer.exists(path, watch=(deleted := Events()))
    assert stat and stat.ephemeralOwner == child.session_id, f"{path}: {stat}, want owner {child.session_id:#x}"
    child.signal(signal.SIGKILL)
    deleted.wait_for((EventType.DELETED, path), 60, "the ephemeral of a SIGKILLed client (4 s session)")
    gone_for(observer, path)


def check_silent_client(check):
    path = check.root + "/paused"
    child = check.child(path, 4.0)
    observer = check.client()
    observer.sync(path)
    assert observer.exists(path, watch=(deleted := Events())), f"{path} is missing"
    child.signal(signal.SIGSTOP)
    deleted.wait_for((EventType.DELETED, path), 60, "the ephemeral of a SIGSTOPped client (4 s session)")
    gone_for(observer, path)
    child.signal(signal.SIGCONT)
    child.wait_for(lambda line: line == f"state {KazooState.LOST}", 60, "LOST after its session expired")


def check_resume(check):
    path = check.root + "/resumed"
    child = check.child(path, 20.0)
    child.signal(signal.SIGKILL)
    wrong = bytes(b ^ 0xFF for b in child.password)
    expiries = ExpiryLog()
    impostor = check.client(client_id=(child.session_id, wrong), start=False)
    with expiries:
        impostor.start(timeout=30)  # kazoo takes the refusal as an expiry, then opens a new session
    assert impostor.client_id[0] != child.session_id, f"a wrong password resumed session {child.session_id:#x}"
    assert expiries.count, "a wrong password was not answered as an expired session (timeout 0)"
    client = check.client(client_id=(child.session_id, child.password), start=False)
    states = []
    client.add_listener(states.append)
    client.start(timeout=15)
    assert client.client_id[0] == child.session_id, f"resumed as {client.client_id[0]:#x}, want {child.session_id:#x}"
    stat = client.exists(path)
    assert stat and stat.ephemeralOwner == child.session_id, f"{path} after the resume: {stat}"
    assert KazooState.LOST not in states, f"states of the resumed session: {states}"
    client.stop()
    gone_for(check.client(), path)


def move_session(check, victim):
    target = check.target
    others = [n for n in target.ids() if n != victim]
    client = check.client(target.hosts([victim, others[0]]), randomize_hosts=False)
    observer = check.client(target.hosts([others[-1]]))
    port = client._connection._socket.getpeername()[1]
    assert target.addr(victim).endswith(f":{port}"), f"the client is on port {port}, not on node {victim}"
    states = []
    client.add_listener(states.append)
    session = client.client_id[0]
    ephemeral = f"{check.root}/v{victim}/eph"
    watched = f"{check.root}/v{victim}/watched"
    client.create(ephemeral, b"", ephemeral=True, makepath=True)
    client.create(watched, b"before")
    seen = []
    client.DataWatch(watched, lambda data, stat: seen.append(data))
    until(lambda: b"before" in seen, 15, "the DataWatch's first call")

    target.kill(victim)
    until(lambda: states[-1:] == [KazooState.CONNECTED], 60, f"the client to reconnect after node {victim} died")
    assert KazooState.LOST not in states, f"the session was lost when node {victim} died: states {states}"
    assert KazooState.SUSPENDED in states, f"states {states}: the client never noticed node {victim} die"
    assert client.client_id[0] == session, f"session {client.client_id[0]:#x} after the move, want {session:#x}"
    port = client._connection._socket.getpeername()[1]
    assert target.addr(others[0]).endswith(f":{port}"), f"the client is on port {port}, not on node {others[0]}"
    for reader in (client, observer):
        reader.sync(ephemeral)
        stat = reader.exists(ephemeral)
        assert stat and stat.ephemeralOwner == session, f"{ephemeral} after the move: {stat}, want owner {session:#x}"
    client.create(ephemeral + "2", b"", ephemeral=True)
    observer.set(watched, b"after")
    until(lambda: b"after" in seen, 15, "the DataWatch to fire after the move")
    assert KazooState.LOST not in states, f"states {states}"
    client.stop()
    gone_for(observer, ephemeral)
    gone_for(observer, ephemeral + "2")


def check_session_moves(check):
    target = check.target
    leader = target.leader()
    follower = next(n for n in target.ids() if n != leader)
    print(f"session_moves: the client's node dies: follower {follower}", flush=True)
    move_session(check, follower)
    target.start(follower)
    leader = target.leader()
    print(f"session_moves: the client's node dies: leader {leader}", flush=True)
    move_session(check, leader)
    target.start(leader)


def check_session_moves_to_a_lagging_node(check, writes=100):
    """The client's new node missed its last writes (SIGSTOPped meanwhile):
    it must catch up before it serves the session (ZooKeeper refuses a
    lastZxidSeen ahead of it, so the client tries again), and the client's
    first reads there see its own writes."""
    target = check.target
    leader = target.leader()
    victim, lagging = [n for n in target.ids() if n != leader][:2]
    client = check.client(target.hosts([victim, lagging]), randomize_hosts=False)
    states = []
    client.add_listener(states.append)
    session = client.client_id[0]
    path = check.root + "/written"
    client.create(path, b"0", makepath=True)
    client.create(check.root + "/eph", ephemeral=True)
    target.pause(lagging)
    try:
        for k in range(1, writes + 1):
            client.set(path, str(k).encode())
        last = client.create(check.root + "/last-", sequence=True)
    finally:
        target.resume(lagging)
    target.kill(victim)
    data, stat = client.retry(client.get, path)
    assert (data, stat.version) == (str(writes).encode(), writes), \
        f"the session's first read on node {lagging} after the move: {data!r} at version {stat.version}, " \
        f"want its own last write {writes}"
    assert client.exists(last) is not None, f"{last}, created before the move, is missing on node {lagging}"
    stat = client.exists(check.root + "/eph")
    assert stat and stat.ephemeralOwner == session, f"the ephemeral after the move: {stat}"
    assert client.client_id[0] == session and KazooState.LOST not in states, \
        f"session {client.client_id} after the move, want {session:#x}; states {states}"
    port = client._connection._socket.getpeername()[1]
    assert target.addr(lagging).endswith(f":{port}"), f"the client is on port {port}, not on node {lagging}"
    client.stop()
    target.start(victim)


CHECKS = [
    ("vanish_on_close", check_vanish_on_close),
    ("vanish_on_expiry", check_vanish_on_expiry),
    ("silent_client", check_silent_client),
    ("resume", check_resume),
    ("session_moves", check_session_moves),
    ("session_moves_to_a_lagging_node", check_session_moves_to_a_lagging_node),
]

if __name__ == "__main__":
    harness.run(__doc__, CHECKS, default_check_timeout=150.0)
