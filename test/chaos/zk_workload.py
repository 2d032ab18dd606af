"""The `zookeeper` mix's clients (issue 22): kazoo, ZooKeeper's own Python
client, against every node's ZooKeeper listener, recording histories in
synod-lincheck's format (docs/history-format.md) and side records for
zk_checks.py. Debian's python3-kazoo: the mix runs under /usr/bin/python3,
or any Python 3 that can import it from /usr/lib/python3/dist-packages.

  ZkKeyClient   get, set (any version) and set with a version on znodes
                /chaos/z0../chaos/z3, which exist from the start and are never
                deleted (history: keys model). A versioned set is recorded as
                `cas [value read, new value]`: every value is written once, so
                "the version is still the one read" and "the value is still
                the one read" are the same condition as long as each version
                of a znode goes with one value, which zk_checks checks on
                every version seen.
  ZkLockClient  kazoo's Lock recipe on /chaos-locks/L0 and L1 (history: lock
                model; the token is the lock node's sequence number, which
                orders the grants). While it holds the lock it either idles
                (only watching its connection) or writes the fenced resource
                /chaos/res-L with a multi [check(its lock node), setData],
                ZooKeeper's own fencing; then it deletes its lock node.

Outcomes. ok: the server's answer said so. fail: an answer that it did not
apply (BadVersion, NoNode of a multi's check). Anything else (ConnectionLoss,
SessionExpired, no answer within OP_TIMEOUT_S) may have applied: info, as
the REST clients record a write without an answer.

A lock holder believes it holds the lock while its client stays CONNECTED in
the session that made the lock node, with no state change since the grant.
A release that is not a clean delete of its lock node is recorded as
`release` info stamped with the last moment the node was known to exist: the
grant's answer, or the send time of the holder's last successful fenced
multi (its check proved the node there at commit, later than that).
"""
import importlib.util
import logging
import random
import sys
import threading
import time
import traceback

if importlib.util.find_spec("kazoo") is None:  # a Python other than Debian's: its kazoo is pure Python
    sys.path.append("/usr/lib/python3/dist-packages")
try:
    from kazoo.client import KazooClient, KazooState, KeeperState
    from kazoo.exceptions import BadVersionError, KazooException, NodeExistsError, NoNodeError
except ImportError as error:
    print(f"the zookeeper mix needs kazoo (Debian's python3-kazoo; run it with /usr/bin/python3): {error}",
          file=sys.stderr)
    sys.exit(77)  # ctest: skipped, never passed

from pylib.cluster import SetupError, free_ports
from pylib.proxied import ProxiedCluster

# kazoo warns of every dropped connection; the records keep each state change.
logging.getLogger("kazoo").setLevel(logging.ERROR)

SESSION_TIMEOUT_S = 4.0  # the listener's lowest (it clamps to 4-40 s)
OP_TIMEOUT_S = 3.0       # a key client waits this long for an answer
ACQUIRE_WAIT_S = 2.0
KEYS = ["z0", "z1", "z2", "z3"]
LOCKS = ["L0", "L1"]


class ZkProxiedCluster(ProxiedCluster):
    """The chaos suite's proxied cluster with a ZooKeeper listener per node.
    Clients reach the listeners directly, as they reach the HTTP ports; only
    node-to-node links cross the proxy."""

    def __init__(self, size, binary, seed):
        super().__init__(size, binary, seed)
        taken = set(self.peer_ports + self.client_ports)
        while True:
            ports = free_ports(size)
            if not taken & set(ports):
                break
        self.zk_ports = ports

    def node_of_port(self, port):
        return self.zk_ports.index(port) + 1 if port in self.zk_ports else None


def path_of(key):
    return f"/chaos/{key}"


class Conn:
    """One KazooClient (one session at a time) and what its listener saw:
    `epoch` counts state changes, so "no change since" is one comparison."""

    def __init__(self, ctx, owner):
        self.ctx = ctx
        self.owner = owner
        self.epoch = 0
        self.node = None
        self.closing = False
        self.session = None
        self.zk = KazooClient(hosts=ctx.cluster.zk_hosts(), timeout=SESSION_TIMEOUT_S, randomize_hosts=True,
                              connection_retry={"max_tries": -1, "delay": 0.05, "backoff": 1.5, "max_delay": 0.5})
        self.zk.add_listener(self.on_state)

    def open(self, timeout=10.0):
        try:
            self.zk.start(timeout=timeout)
        except self.zk.handler.timeout_exception:
            self.close()
            return False
        return True

    def on_state(self, state):
        # kazoo's connection thread, inside the change: quick, never blocking.
        self.epoch += 1
        now = self.ctx.now()
        if state == KazooState.CONNECTED:
            try:
                self.node = self.ctx.cluster.node_of_port(self.zk._connection._socket.getpeername()[1])
            except (AttributeError, OSError):
                self.node = None
            session = self.zk.client_id[0] if self.zk.client_id else None
            if session != self.session:
                self.ctx.records.add("zk_sessions", client=self.owner, session=session, at=now, node=self.node)
            self.session = session
        elif state == KazooState.LOST and not self.closing:
            self.ctx.records.add("zk_expired", client=self.owner, session=self.session, at=now, node=self.node)
        self.ctx.records.add("zk_states", client=self.owner, session=self.session, state=str(state), at=now,
                             node=self.node, epoch=self.epoch)

    def connected_in(self, session):
        """CONNECTED now, in that session (kazoo sets its state before it
        fails the requests of a lost connection, and its session id before
        it says CONNECTED)."""
        return self.zk.client_state == KeeperState.CONNECTED and self.zk.client_id is not None and \
            self.zk.client_id[0] == session

    def call(self, method, *args, **kwargs):
        """('ok', result) | ('error', exception) | ('timeout', None)."""
        try:
            return "ok", getattr(self.zk, method + "_async")(*args, **kwargs).get(timeout=OP_TIMEOUT_S)
        except self.zk.handler.timeout_exception:
            return "timeout", None
        except KazooException as error:
            return "error", error

    def close(self):
        self.closing = True
        try:
            self.zk.stop()  # closes the session when it can: its lock nodes go at once
            self.zk.close()
        except Exception:  # noqa: BLE001 - a client that cannot close leaves its session to expire
            pass


def setup(ctx):
    """Creates the znodes before any client starts, each recorded as
    `cas [null, initial value]` (create succeeds only if the znode is absent)."""
    conn = Conn(ctx, "setup")
    if not conn.open(timeout=20.0):
        raise SetupError("the zookeeper mix: no ZooKeeper session within 20 s")
    deadline = time.monotonic() + 30
    try:
        for key in KEYS + [f"res-{lock}" for lock in LOCKS]:
            value = f"init-{key}"
            while True:
                op = ctx.keys.invoke(997, "cas", key, [None, value])
                kind, result = conn.call("create", path_of(key), value.encode(), makepath=True)
                if kind == "ok":
                    ctx.keys.complete(op, "ok")
                    break
                if isinstance(result, NodeExistsError):
                    ctx.keys.complete(op, "fail", error="NodeExists")  # an earlier attempt made it
                    break
                ctx.keys.complete(op, "info", error=type(result).__name__ if result else "timeout")
                if time.monotonic() > deadline:
                    raise SetupError(f"the zookeeper mix: could not create {path_of(key)}")
                time.sleep(0.2)
    finally:
        conn.close()


def final_reads(ctx):
    """Every znode once the cluster is healed and the clients are done (process 999)."""
    final = {}
    conn = Conn(ctx, "final")
    opened = conn.open(timeout=20.0)
    for key in KEYS + [f"res-{lock}" for lock in LOCKS]:
        deadline = time.monotonic() + 30
        while opened and time.monotonic() < deadline:
            op = ctx.keys.invoke(999, "read", key)
            kind, result = conn.call("get", path_of(key))
            if kind == "ok":
                value = result[0].decode()
                ctx.keys.complete(op, "ok", value, final=True, version=result[1].version)
                ctx.records.add("zk_versions", key=key, version=result[1].version, value=value, source="final")
                final[key] = value
                break
            ctx.keys.complete(op, "info", error=type(result).__name__ if result else "timeout")
            time.sleep(0.1)
    conn.close()
    return final


def error_name(kind, result):
    return "timeout" if kind == "timeout" else type(result).__name__


class ZkClient(threading.Thread):
    def __init__(self, ctx, name, seed):
        super().__init__(name=name, daemon=True)
        self.ctx = ctx
        self.rng = random.Random(seed)
        self.conn = None
        self.count = 0

    def value(self):
        self.count += 1
        return f"{self.name}-{self.count}"

    def reconnect(self):
        """A fresh client and session (the old one closed, or left to expire)."""
        if self.conn is not None:
            self.conn.close()
        self.conn = None
        while not self.ctx.stop.is_set():
            conn = Conn(self.ctx, self.name)
            if conn.open():
                self.conn = conn
                return True
            self.ctx.stop.wait(0.2)
        return False

    def run(self):
        try:
            if self.reconnect():
                self.body()
        except Exception:  # noqa: BLE001 - a harness bug: reported as a violation, never a silent pass
            self.ctx.records.add("harness_errors", client=self.name, error=traceback.format_exc()[-3000:])
            self.ctx.stop.wait()
        finally:
            if self.conn is not None:
                self.conn.close()

    def version_seen(self, key, version, value, source):
        self.ctx.records.add("zk_versions", key=key, version=version, value=value, source=source,
                             client=self.name, at=self.ctx.now())


class ZkKeyClient(ZkClient):
    def __init__(self, ctx, process, seed):
        super().__init__(ctx, f"zkkeys-{process}", seed)
        self.process = process

    def body(self):
        while not self.ctx.stop.is_set():
            key = self.rng.choice(KEYS)
            roll = self.rng.random()
            if roll < 0.40:
                self.read(key)
            elif roll < 0.75:
                self.write(key)
            else:
                read = self.read(key)
                if read is not None:
                    self.cas(key, *read)
            self.ctx.stop.wait(self.rng.uniform(0.0, 0.03))

    def read(self, key):
        """(value, version), or None if the read did not answer."""
        op = self.ctx.keys.invoke(self.process, "read", key)
        kind, result = self.conn.call("get", path_of(key))
        if kind == "ok":
            value, stat = result[0].decode(), result[1]
            self.ctx.keys.complete(op, "ok", value, version=stat.version, node=self.conn.node)
            self.version_seen(key, stat.version, value, "get")
            return value, stat.version
        if isinstance(result, NoNodeError):
            # The znode exists from the start and is never deleted.
            self.ctx.keys.complete(op, "ok", None, node=self.conn.node)
            self.ctx.records.add("zk_unexpected", client=self.name, op="get", key=key, error="NoNode",
                                 at=self.ctx.now())
            return None
        self.ctx.keys.complete(op, "info", error=error_name(kind, result), node=self.conn.node)
        return None

    def finish(self, op, key, value, kind, result, expected_version=None):
        h = self.ctx.keys
        if kind == "ok":
            h.complete(op, "ok", version=result.version, node=self.conn.node)
            self.version_seen(key, result.version, value, op["f"])
            if expected_version is not None and result.version != expected_version + 1:
                self.ctx.records.add("zk_cas_version_jump", key=key, expected=expected_version,
                                     got=result.version, value=value)
        elif isinstance(result, BadVersionError):
            h.complete(op, "fail", error="BadVersion", node=self.conn.node)
        elif isinstance(result, NoNodeError):
            h.complete(op, "fail", error="NoNode", node=self.conn.node)
            self.ctx.records.add("zk_unexpected", client=self.name, op=op["f"], key=key, error="NoNode",
                                 at=self.ctx.now())
        else:
            h.complete(op, "info", error=error_name(kind, result), node=self.conn.node)

    def write(self, key):
        value = self.value()
        op = self.ctx.keys.invoke(self.process, "write", key, value)
        self.finish(op, key, value, *self.conn.call("set", path_of(key), value.encode()))

    def cas(self, key, expected, version):
        value = self.value()
        op = self.ctx.keys.invoke(self.process, "cas", key, [expected, value], version=version)
        kind, result = self.conn.call("set", path_of(key), value.encode(), version=version)
        self.finish(op, key, value, kind, result, expected_version=version)
