#!/usr/bin/env python3
"""kazoo's recipes under concurrent clients, on synod's ZooKeeper listener (issue 22).

  test_kazoo_recipes.py --binary build/server/synod [CHECK...]
  test_kazoo_recipes.py --zookeeper-real [CHECK...]    # the same checks on a real ZooKeeper 3.8

Each client is a thread with a KazooClient of its own, connected to one node
(client i to node 1 + i mod 3), so every recipe runs across the nodes. What
each check holds, beside "every call returned in time":

  lock            Lock: never two holders (an in-test holder variable), and
                  fencing: inside the lock a read-modify-write of a counter
                  znode with set(version=) never meets BadVersionError, the
                  lock nodes' sequence numbers rise in the order the lock is
                  held, and the counter ends at clients x iterations
  transaction     transaction() (multi) as compare-and-set: create a log
                  entry, check the counter's version, set it; a failed one
                  answers [RolledBackError, BadVersionError,
                  RuntimeInconsistency] and leaves no entry; the counter and
                  the entries end at 1..clients x iterations, each once
  election        every contender leads exactly once, never two at once, and
                  the leader is first among contenders()
  counter         concurrent increments sum exactly
  barrier         wait() holds while the barrier stands, and every waiter is
                  released by remove(), none before
  double_barrier  no member passes enter() before the last one (held back
                  until the others are in) entered; the first member passes
                  leave() only after all began leaving
  queue           Queue: every item put is taken exactly once
  locking_queue   LockingQueue: every item is consumed exactly once
  semaphore       Semaphore(max_leases=2): never more than 2 holders
  party           Party and ShallowParty: every member sees all members, and
                  none after they left
  large           a LockingQueue of 1000 items put in one transaction, and
                  a 1,000,000-byte value, read from another node

Not here: ReadLock/WriteLock. Debian's kazoo 2.8.0 deadlocks a reader
between two writers (python-zk/kazoo#649, seen here on ZooKeeper 3.8 too).

Exit 0: all passed; 1: a check failed (each failure is printed); 77: no kazoo.
"""
import re
import threading
import time

import kazoo_harness as harness
from kazoo.exceptions import BadVersionError, RolledBackError, RuntimeInconsistency
from pylib.wait import until

CLIENTS = 4


def node_of(check, i):
    """Client i's node: the clients spread over the nodes."""
    ids = check.target.ids()
    return ids[i % len(ids)]


def clients(check, count=CLIENTS):
    return [check.client(check.target.hosts([node_of(check, i)])) for i in range(count)]


def synced(check, path):
    """A new client that has synced `path`: ZooKeeper's servers may answer reads from behind (synod's do not)."""
    client = check.client()
    client.sync(path)
    return client


def sequence(node_name):
    return int(re.search(r"(\d{10})$", node_name).group(1))


def check_lock(check, iterations=12):
    counter = check.root + "/counter"
    check.client().create(counter, b"0", makepath=True)
    guard = threading.Lock()
    state = {"holder": None, "tokens": []}

    def worker(client, i):
        lock = client.Lock(check.root + "/lock", f"client-{i}")
        for k in range(iterations):
            assert lock.acquire(timeout=30), f"client {i} did not get the lock within 30s"
            try:
                with guard:
                    assert state["holder"] is None, f"client {i} got the lock while client {state['holder']} held it"
                    state["holder"] = i
                    state["tokens"].append((sequence(lock.node), i))
                data, stat = client.get(counter)
                try:
                    client.set(counter, str(int(data) + 1).encode(), version=stat.version)
                except BadVersionError:
                    raise AssertionError(f"fencing: client {i} holds the lock, read {counter} at version "
                                         f"{stat.version}, and set(version={stat.version}) answered BadVersion")
                with guard:
                    assert state["holder"] == i, f"client {state['holder']} took the lock from client {i}"
                    state["holder"] = None
            finally:
                lock.release()

    harness.run_threads([lambda c=c, i=i: worker(c, i) for i, c in enumerate(clients(check))], 45)
    tokens = [token for token, _ in state["tokens"]]
    assert tokens == sorted(set(tokens)), f"lock sequence numbers not rising in holding order: {state['tokens']}"
    data, _ = synced(check, counter).get(counter)
    assert int(data) == CLIENTS * iterations, f"{counter} is {data!r}, want {CLIENTS * iterations}"


def check_transaction(check, iterations=10):
    counter, log = check.root + "/counter", check.root + "/log"
    first = check.client()
    first.create(counter, b"0", makepath=True)
    first.create(log)
    want_failed = [RolledBackError, BadVersionError, RuntimeInconsistency]
    failed = []

    def worker(client, i):
        done = 0
        while done < iterations:
            data, stat = client.get(counter)
            value = int(data) + 1
            transaction = client.transaction()
            transaction.create(log + "/entry-", str(value).encode(), sequence=True)
            transaction.check(counter, stat.version)
            transaction.set_data(counter, str(value).encode())
            results = transaction.commit()
            if not any(isinstance(result, Exception) for result in results):
                done += 1
                continue
            failed.append(results)
            assert [type(result) for result in results] == want_failed, \
                f"client {i}: a transaction whose check failed answered {results}, want {want_failed}"

    harness.run_threads([lambda c=c, i=i: worker(c, i) for i, c in enumerate(clients(check))], 45)
    total = CLIENTS * iterations
    first.sync(check.root)
    data, _ = first.get(counter)
    assert int(data) == total, f"{counter} is {data!r}, want {total}"
    values = sorted(int(first.get(f"{log}/{name}")[0]) for name in first.get_children(log))
    assert values == list(range(1, total + 1)), \
        f"{log} holds values {values}, want 1..{total} once each ({len(failed)} transactions failed and rolled back)"
    print(f"transaction: {total} committed, {len(failed)} failed their check and rolled back")


def check_election(check):
    guard = threading.Lock()
    state = {"leader": None, "led": []}
    cs = clients(check)

    def contender(client, i):
        election = client.Election(check.root + "/election", f"contender-{i}")

        def lead():
            with guard:
                assert state["leader"] is None, f"contender {i} leads while contender {state['leader']} does"
                state["leader"] = i
            first = election.contenders()[0]
            assert first == f"contender-{i}", f"contender {i} leads, but contenders() names {first} first"
            with guard:
                state["led"].append(i)
                state["leader"] = None

        election.run(lead)

    harness.run_threads([lambda c=c, i=i: contender(c, i) for i, c in enumerate(cs)], 45)
    assert sorted(state["led"]) == list(range(CLIENTS)), f"leaders in turn: {state['led']}, want each once"


def check_counter(check, iterations=20):
    path = check.root + "/counter"

    def worker(client):
        counter = client.Counter(path)
        for _ in range(iterations):
            counter += 1

    harness.run_threads([lambda c=c: worker(c) for c in clients(check)], 45)
    value = synced(check, path).Counter(path).value
    assert value == CLIENTS * iterations, f"counter is {value}, want {CLIENTS * iterations}"


def check_barrier(check):
    path = check.root + "/barrier"
    owner = check.client()
    barrier = owner.Barrier(path)
    barrier.create()
    assert barrier.wait(timeout=1) is False, "wait() returned True while the barrier stands"
    removed = threading.Event()
    waiting = threading.Semaphore(0)
    released = []

    def waiter(client, i):
        b = client.Barrier(path)
        waiting.release()
        cleared = b.wait(timeout=30)
        released.append((i, cleared, removed.is_set()))

    def remover():
        for _ in range(CLIENTS):
            assert waiting.acquire(timeout=30)
        assert owner.exists(path), "the barrier vanished before remove()"
        removed.set()
        assert barrier.remove() is True, "remove() found no barrier"

    harness.run_threads([lambda c=c, i=i: waiter(c, i) for i, c in enumerate(clients(check))] + [remover], 45)
    early = [i for i, _, was_removed in released if not was_removed]
    assert not early, f"waiters {early} passed the barrier before remove()"
    stuck = [i for i, cleared, _ in released if not cleared]
    assert not stuck, f"waiters {stuck} were not released by remove() within 30s"


def members_in(client, path):
    return [name for name in client.get_children(path) if name != "ready"] if client.exists(path) else []


def check_double_barrier(check):
    path = check.root + "/double"
    guard = threading.Lock()
    state = {"entering": 0, "leaving": 0, "early_enter": [], "early_leave": []}
    between = threading.Barrier(CLIENTS, timeout=30)  # the members' work: all have entered before any leaves
    members = []
    observer = check.client()

    def member(client, i):
        barrier = client.DoubleBarrier(path, CLIENTS, identifier=f"member-{i}")
        if i == CLIENTS - 1:  # the last comes once the others are in, so they wait for it inside enter()
            until(lambda: len(members_in(observer, path)) >= CLIENTS - 1, 30, f"{CLIENTS - 1} members in {path}")
        with guard:
            members.append(barrier)
            state["entering"] += 1
        barrier.enter()
        assert barrier.participating, f"member {i}: enter() failed"
        with guard:
            if state["entering"] < CLIENTS:
                state["early_enter"].append((i, state["entering"]))
        between.wait()
        with guard:
            state["leaving"] += 1
        barrier.leave()
        with guard:
            if barrier.node_name == min(m.node_name for m in members) and state["leaving"] < CLIENTS:
                state["early_leave"].append((i, state["leaving"]))

    harness.run_threads([lambda c=c, i=i: member(c, i) for i, c in enumerate(clients(check))], 45)
    assert not state["early_enter"], f"(member, members entering) that passed enter() early: {state['early_enter']}"
    assert not state["early_leave"], f"the first member passed leave() early: {state['early_leave']}"
    left = synced(check, path).get_children(path)
    assert left == [], f"children of {path} after every member left: {left}"


def consume_all(items, take, consumers, what):
    """Runs the consumers until `items` are taken; each item must be taken exactly once."""
    guard = threading.Lock()
    taken = []

    def consumer(client):
        while True:
            with guard:
                if len(taken) >= len(items):
                    return
            item = take(client)
            if item is None:
                time.sleep(0.02)  # empty for now: the producers are still putting
                continue
            with guard:
                taken.append(item)

    harness.run_threads([lambda c=c: consumer(c) for c in consumers], 45, what)
    twice = sorted({item for item in taken if taken.count(item) > 1})
    assert not twice, f"{what}: items taken more than once: {twice}"
    assert sorted(taken) == sorted(items), f"{what}: took {sorted(taken)}, want {sorted(items)}"


def check_queue(check, per_producer=15):
    path = check.root + "/queue"
    cs = clients(check)
    items = [f"p{p}-{k}".encode() for p in range(2) for k in range(per_producer)]

    def producer(client, p):
        queue = client.Queue(path)
        for k in range(per_producer):
            queue.put(f"p{p}-{k}".encode())

    queues = {id(c): c.Queue(path) for c in cs}
    harness.run_threads([lambda: producer(cs[0], 0), lambda: producer(cs[1], 1),
                         lambda: consume_all(items, lambda c: queues[id(c)].get(), cs[2:], "Queue")], 60)
    assert len(synced(check, path).Queue(path)) == 0, "the queue is not empty after every item was taken"


def check_locking_queue(check, count=20):
    path = check.root + "/lqueue"
    cs = clients(check)
    items = [f"item-{k}".encode() for k in range(count)]
    cs[0].LockingQueue(path).put_all(items)
    queues = {id(c): c.LockingQueue(path) for c in cs}

    def take(client):
        queue = queues[id(client)]
        item = queue.get(timeout=0.5)
        if item is None:
            return None
        assert queue.consume(), f"consume() of {item!r} failed"
        return item

    consume_all(items, take, cs, "LockingQueue")
    assert len(synced(check, path).LockingQueue(path)) == 0, "the locking queue is not empty after every item was consumed"


def check_semaphore(check, iterations=6, leases=2):
    guard = threading.Lock()
    state = {"holders": 0, "most": 0}
    path = check.root + "/semaphore"

    def worker(client, i):
        semaphore = client.Semaphore(path, f"client-{i}", max_leases=leases)
        for _ in range(iterations):
            assert semaphore.acquire(timeout=30), f"client {i} got no lease within 30s"
            try:
                with guard:
                    state["holders"] += 1
                    state["most"] = max(state["most"], state["holders"])
                    assert state["holders"] <= leases, f"{state['holders']} holders of a {leases}-lease semaphore"
                holders = semaphore.lease_holders()
                assert len(holders) <= leases, f"lease_holders() lists {holders}, more than {leases}"
                time.sleep(0.05)  # hold it a while, so that a lease too many would overlap
                with guard:
                    state["holders"] -= 1
            finally:
                semaphore.release()

    harness.run_threads([lambda c=c, i=i: worker(c, i) for i, c in enumerate(clients(check, 5))], 45)
    print(f"semaphore: at most {state['most']} holders at once")


def check_party(check):
    for kind in ("Party", "ShallowParty"):
        path = f"{check.root}/{kind}"
        cs = clients(check)
        parties = [getattr(c, kind)(path, f"member-{i}") for i, c in enumerate(cs)]
        want = sorted(f"member-{i}" for i in range(CLIENTS))
        harness.run_threads([p.join for p in parties], 30, f"{kind}.join")
        for c, p in zip(cs, parties):
            c.sync(path)  # ZooKeeper's reads may lag on a server; synod's are linearizable anyway
            assert sorted(p) == want, f"{kind}: a member sees {sorted(p)}, want {want}"
            assert len(p) == CLIENTS, f"{kind}: len() is {len(p)}, want {CLIENTS}"
        harness.run_threads([p.leave for p in parties], 30, f"{kind}.leave")
        observer = check.client()
        observer.sync(path)
        left = list(getattr(observer, kind)(path))
        assert left == [], f"{kind}: members after all left: {left}"


def check_large(check, items=1000, value_bytes=1_000_000):
    """What a recipe may meet: a queue of 1000 items put in one transaction
    (a multi of 1000 creates), and a value of almost jute.maxbuffer (1 MiB - 1)."""
    a, b = clients(check, 2)
    path = check.root + "/big-queue"
    a.LockingQueue(path).put_all([f"item-{k}".encode() for k in range(items)])
    b.sync(path)
    assert len(b.LockingQueue(path)) == items, f"{path} holds {len(b.LockingQueue(path))} items, want {items}"
    value = bytes(range(256)) * (value_bytes // 256) + b"x" * (value_bytes % 256)
    a.create(check.root + "/big-value", value)
    b.sync(check.root)
    data, stat = b.get(check.root + "/big-value")
    assert data == value and stat.dataLength == len(value), \
        f"a {len(value)}-byte value read back as {len(data)} bytes (dataLength {stat.dataLength})"


CHECKS = [
    ("lock", check_lock),
    ("transaction", check_transaction),
    ("election", check_election),
    ("counter", check_counter),
    ("barrier", check_barrier),
    ("double_barrier", check_double_barrier),
    ("queue", check_queue),
    ("locking_queue", check_locking_queue),
    ("semaphore", check_semaphore),
    ("party", check_party),
    ("large", check_large),
]

if __name__ == "__main__":
    harness.run(__doc__, CHECKS)
