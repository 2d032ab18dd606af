#!/usr/bin/env python3
"""The bad-frame catalogue (issue 22: "the node keeps serving"): malformed
input sent on fresh raw TCP connections to a node's ZooKeeper port, each case
with the reaction expected of it, on a 3-node synod cluster (each case on the
next node in turn).

  test_bad_frames.py --binary build/server/synod
  test_bad_frames.py --zookeeper-real     # the same table on a real ZooKeeper 3.8 (its own column)
  --show                                  # print every case's reaction as it happens

A case is raw bytes, sent either before any session ("raw": the server's
first bytes on the connection) or after a valid ConnectRequest was answered
("session"). What the server then does is written down as a reaction:
  closed                 it closed the connection without a byte
  text: ...              it wrote this text, then closed (four-letter words)
  session T[; E]         a ConnectResponse with timeout T > 0 (then the replies
                         to what followed it, if the case reads any); a getData
                         on the same connection then answered ok
  refused                a ConnectResponse with timeout 0 and session 0, then closed
  E1; E2, kept|closed    reply headers with these errors (ok, MarshallingError,
                         ...; "E x1200" for a run), each with the xid sent; then
                         a getData on the same connection answered ok (kept) or
                         the server closed
  -                      nothing to see (we closed at once): only the node's health
After every case the same node must still serve a fresh kazoo client (a
create and a get of what it wrote) and its process must be alive. At the end
no node may have crashed or logged a sanitizer report (pylib.cluster), and a
znode written before the catalogue must read as it was written, on every node.

Where ZooKeeper 3.8 reacts otherwise the table gives its reaction as well,
with a note; --zookeeper-real runs the table against one standalone
ZooKeeper server (real_zookeeper.py) and checks that column, which proves the
notes. Exit 0: every case reacted as expected; 1: one did not (each is
printed); 77 (ctest: skipped): no kazoo (or, with --zookeeper-real, no Java or
ZooKeeper's jar).
"""
import argparse
import hashlib
import logging
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

try:
    from kazoo.client import KazooClient
except ImportError as error:
    print(f"skipped: kazoo is not importable ({error}); install Debian's python3-kazoo")
    sys.exit(77)

import real_zookeeper  # noqa: E402
from bad_frame_cases import CASES, KEEP_DATA, KEEP_PATH, connect_req, frame  # noqa: E402
import kazoo_harness  # noqa: E402
from pylib.http import request  # noqa: E402
from zkwire import CLOSE, GET_DATA, Reader, error_name, path_req, w_int  # noqa: E402

IO_TIMEOUT_S = 10.0  # a server that neither answers nor closes within this is wedged
PROBE_XID = 1000  # the getData that asks whether a connection still serves


# ------------------------------------------------------------ targets

class SynodTarget(kazoo_harness.SynodTarget):
    def __init__(self, binary):
        super().__init__(binary, prefix="synod-badframes-")

    def alive(self, node):
        return self.cluster.running(node)

    def password(self, session):
        """docs/zookeeper.md: SHA-256 of the cluster id and the session id, its first 16 bytes."""
        # The cluster's id in hex (GET /v1/cluster), not its name.
        cluster_id = request(self.cluster.port(1), "GET", "/v1/cluster").json["cluster_id"]
        text = f"synod-zookeeper-session\n{cluster_id}\n{session}"
        return hashlib.sha256(text.encode()).digest()[:16]

    def crashes(self):
        return self.cluster.exited_early()

    def close(self, failed):
        self.cluster.close(failed=failed)  # raises on a sanitizer report


class ZooKeeperTarget:
    name = "zookeeper"

    def __init__(self):
        self.server = real_zookeeper.StandaloneZooKeeper()

    def ids(self):
        return [1]

    def addr(self, node):
        return self.server.addr

    def alive(self, node):
        return self.server.process.poll() is None

    def password(self, session):
        return b"\0" * 16  # ZooKeeper's are a secret's hash: none can be guessed

    def crashes(self):
        code = self.server.process.poll()
        return [] if code is None else [{"node": 1, "code": code}]

    def close(self, failed):
        self.server.close(failed=failed)


# ------------------------------------------------------------ a real client

def kazoo_client(addr):
    client = KazooClient(hosts=addr, timeout=10.0, connection_retry=dict(max_tries=0))
    client.start(timeout=10.0)
    return client


def stop_quietly(client):
    try:
        client.stop()
        client.close()
    except Exception:
        pass


def still_serves(target, node, path, value):
    """"" when the node's process lives and a fresh kazoo client creates and reads back `path`; else what failed."""
    if not target.alive(node):
        return f"node {node}'s process is not running"
    client = None
    try:
        client = kazoo_client(target.addr(node))
        client.create(path, value)
        data, _ = client.get(path)
        return "" if data == value else f"kazoo read {data!r} back from {path}, wrote {value!r}"
    except Exception as error:
        return f"kazoo on node {node}: {error!r}"
    finally:
        if client is not None:
            stop_quietly(client)


# ------------------------------------------------------------ a raw connection

class Raw:
    """One TCP connection; reads that tell an orderly close (or a reset) from data."""

    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=IO_TIMEOUT_S)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def send(self, data):
        try:
            self.sock.sendall(data)
            return True
        except OSError:  # the server closed while we wrote
            return False

    def half_close(self):
        self.sock.shutdown(socket.SHUT_WR)

    def read(self, n):
        """Up to n bytes: fewer only when the server closed. socket.timeout means it did neither."""
        out = b""
        while len(out) < n:
            try:
                chunk = self.sock.recv(n - len(out))
            except (ConnectionResetError, BrokenPipeError):
                chunk = b""
            if not chunk:
                break
            out += chunk
        return out

    def read_to_close(self):
        return self.read(1 << 20)

    def frame(self):
        """The next frame's body, or None when the server closed."""
        head = self.read(4)
        if len(head) < 4:
            return None
        body = self.read(struct.unpack("!i", head)[0])
        return body

    def close(self):
        self.sock.close()


def connect(addr, **kwargs):
    """A Raw connection whose ConnectRequest was answered with a session: (raw, session, passwd)."""
    raw = Raw(addr)
    raw.send(frame(connect_req(**kwargs)))
    body = raw.frame()
    if body is None:
        raise ConnectionError(f"{addr} closed the connection instead of answering a valid ConnectRequest")
    r = Reader(body)
    r.int()
    timeout, session, passwd = r.int(), r.long(), r.buffer()
    if timeout <= 0:
        raise ConnectionError(f"{addr} refused a new session")
    return raw, session, passwd


def replies(raw, xids):
    """Reads a reply per xid in `xids` (watch events skipped): their error names, or None at a close."""
    errors = []
    for xid in xids:
        while True:
            body = raw.frame()
            if body is None:
                return errors, False
            r = Reader(body)
            got, _, err = r.int(), r.long(), r.int()
            if got != -1:
                break
        errors.append(error_name(err) if got == xid else f"{error_name(err)} (xid {got}, sent {xid})")
    return errors, True


def probe(raw):
    """"kept" when a getData on this connection answers ok with the kept znode's data, "closed" when
    the server closed, else what it answered."""
    if not raw.send(frame(w_int(PROBE_XID) + w_int(GET_DATA) + path_req(KEEP_PATH, False))):
        return "closed"
    while True:
        body = raw.frame()
        if body is None:
            return "closed"
        r = Reader(body)
        xid, _, err = r.int(), r.long(), r.int()
        if xid == PROBE_XID:
            break
    if err != 0:
        return f"then getData {error_name(err)}"
    data = r.buffer()
    return "kept" if data == KEEP_DATA else f"then getData read {data!r}"


def react_raw(raw, xids):
    """What the server does with a connection after a case's bytes, before any session."""
    head = raw.read(4)
    if not head:
        return "closed"
    if all(32 <= b < 127 or b == 10 for b in head):  # a four-letter word's answer
        return "text: " + (head + raw.read_to_close()).decode(errors="replace").strip()
    if len(head) < 4:
        return f"closed after {head!r}"
    body = raw.read(struct.unpack("!i", head)[0])
    r = Reader(body)
    r.int()
    timeout, session = r.int(), r.long()
    if timeout <= 0:
        rest = raw.read_to_close()
        what = "refused" if session == 0 else f"refused with session {session:#x}"
        return what if not rest else f"{what}, then {rest!r}"
    errors, open_ = replies(raw, xids or [])
    after = probe(raw) if open_ else "closed"
    return f"session {timeout}" + "".join(f"; {e}" for e in errors) + ("" if after == "kept" else f", {after}")


def collapsed(errors):
    """ "E x1200" for a run of more than three equal errors."""
    out = []
    for error in errors:
        if out and out[-1][0] == error:
            out[-1][1] += 1
        else:
            out.append([error, 1])
    return "; ".join(e if n == 1 else "; ".join([e] * n) if n <= 3 else f"{e} x{n}" for e, n in out)


def react_session(raw, xids):
    errors, open_ = replies(raw, xids)
    if not open_ and not errors:
        return "closed"
    return collapsed(errors) + ", " + (probe(raw) if open_ else "closed")


# ------------------------------------------------------------ the run

class Context:
    """What cases build their bytes from: a live session's id and password on the case's node."""

    def __init__(self, target, node, session, passwd, ended):
        self.target, self.node = target, node
        self.session, self.passwd, self.ended = session, passwd, ended

    def password(self, session):
        return self.target.password(session)


def run_case(target, node, case, ctx):
    raw = None
    try:
        if case.phase == "raw":
            raw = Raw(target.addr(node))
        else:
            raw, _, _ = connect(target.addr(node))
        payload = case.payload(ctx) if callable(case.payload) else case.payload
        if payload is None:  # connect and close at once: nothing to observe but the node
            return "-"
        for piece in (payload[i:i + 1] for i in range(len(payload))) if case.per_byte else [payload]:
            raw.send(piece)
        if case.half_close:
            raw.half_close()
        if case.phase == "raw":
            return react_raw(raw, case.xids)
        return react_session(raw, case.xids)
    except socket.timeout:
        return f"wedged: neither an answer nor a close in {IO_TIMEOUT_S:.0f}s"
    finally:
        if raw is not None:
            raw.close()


def sessions_for(target, node):
    """A live session (held open through the case) and an ended one, for the reconnect cases."""
    live, session, passwd = connect(target.addr(node), timeout_ms=10000)
    gone, ended, ended_passwd = connect(target.addr(node))
    gone.send(frame(w_int(1) + w_int(CLOSE)))
    replies(gone, [1])
    gone.close()
    return live, Context(target, node, session, passwd, (ended, ended_passwd))


def run(target, show):
    failures = []
    writer = kazoo_client(target.addr(target.ids()[0]))
    try:
        writer.create(KEEP_PATH, KEEP_DATA)
        before = writer.get(KEEP_PATH)[1]
    finally:
        stop_quietly(writer)
    started = time.monotonic()
    for i, case in enumerate(CASES):
        node = target.ids()[i % len(target.ids())]
        live, ctx = sessions_for(target, node) if case.needs_sessions else (None, Context(target, node, 0, b"", None))
        try:
            got = run_case(target, node, case, ctx)
        finally:
            if live is not None:
                live.close()
        want, ok = case.expect(target.name), case.matches(target.name, got)
        if show:
            print(f"  node {node}  {case.name}: {got}" + ("" if ok else f"    (want {want})"))
        if not ok and not (case.xfail and target.name == "synod"):
            failures.append(f"{case.name} (node {node}): {got}; want {want}" + (f" ({case.note})" if case.note else ""))
        elif ok and case.xfail and target.name == "synod":
            failures.append(f"{case.name}: passed, but the table marks it an expected failure: {case.xfail}")
        problem = still_serves(target, node, f"{KEEP_PATH}/case{i:03d}", case.name.encode())
        if problem:
            failures.append(f"after {case.name}: {problem}")
            if not target.alive(node):
                break
    print(f"{len(CASES)} cases in {time.monotonic() - started:.1f}s on {target.name}")
    for node in target.ids():
        client = None
        try:
            client = kazoo_client(target.addr(node))
            data, stat = client.get(KEEP_PATH)
            if data != KEEP_DATA or stat.version != before.version or stat.mzxid != before.mzxid:
                failures.append(f"{KEEP_PATH} on node {node} reads {data!r} version {stat.version}, "
                                f"mzxid {stat.mzxid:#x}; written {KEEP_DATA!r} version {before.version}, "
                                f"mzxid {before.mzxid:#x}")
        except Exception as error:
            failures.append(f"reading {KEEP_PATH} on node {node} at the end: {error!r}")
        finally:
            if client is not None:
                stop_quietly(client)
    for crash in target.crashes():
        failures.append(f"a server process ended by itself: {crash}")
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", help="the synod binary")
    parser.add_argument("--zookeeper-real", action="store_true", help="run the table on a real ZooKeeper 3.8")
    parser.add_argument("--show", action="store_true", help="print every case's reaction")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # kazoo's connection-loss warnings are expected here
    if args.zookeeper_real:
        missing = real_zookeeper.available()
        if missing:
            print(f"skipped: {missing}")
            return 77
        target = ZooKeeperTarget()
    else:
        if not args.binary:
            parser.error("--binary is required (or --zookeeper-real)")
        target = SynodTarget(args.binary)
    failures = ["(not run)"]
    try:
        failures = run(target, args.show)
    finally:
        target.close(failed=bool(failures))
    for failure in failures:
        print(f"FAIL: {failure}")
    if failures:
        return 1
    print(f"all {len(CASES)} bad-frame cases reacted as expected; {target.name} kept serving")
    return 0


if __name__ == "__main__":
    sys.exit(main())
