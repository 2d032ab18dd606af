#!/usr/bin/env python3
"""synod's ZooKeeper codec held against kazoo's own bytes, both ways.

  test_kazoo_bytes.py --tool build/test/zookeeper/zk_codec_tool

Requests: kazoo's serializers (kazoo.protocol.serialization: Connect, Create,
Create2, GetData, SetData, Exists, GetChildren, GetChildren2, Delete, GetACL,
SetACL, Sync, Transaction, Auth, Ping, Close), framed by kazoo's own
ConnectionHandler._submit, are decoded by zk_codec_tool (synod's FrameReader
and records), and what it reports must be exactly what kazoo was given.

Replies: zk_codec_tool encodes ConnectResponse, ReplyHeader and every reply
record, and kazoo's own read path takes them: ConnectionHandler._invoke and
Connect.deserialize for the connect, ConnectionHandler._read_socket for the
rest (ReplyHeader, the request's deserialize, ZnodeStat, watch events through
_read_watch_event and WatchedEvent, ping, auth and close replies).

Refusals: a truncated frame at every cut point, a length past the bytes that
remain, and a frame length over jute.maxbuffer each make the tool fail with
a sentence.

kazoo has no SetWatches or AddWatch request (neither does its upstream): those
two are built here from kazoo's own write_string and struct packers, per
zookeeper.jute. Exit status 77 (ctest: skipped) when kazoo is not installed
(Debian's python3-kazoo).
"""
import argparse
import collections
import json
import struct
import subprocess
import sys
import threading

try:
    import kazoo.version
    from kazoo.exceptions import (AuthFailedError, ConnectionDropped, NodeExistsError, NoNodeError,
                                  RolledBackError, RuntimeInconsistency)
    from kazoo.protocol import serialization as ser
    from kazoo.protocol.connection import (AUTH_XID, CLOSE_RESPONSE, PING_XID, ConnectionHandler)
    from kazoo.protocol.states import EventType, KeeperState, WatchedEvent, ZnodeStat
    from kazoo.security import ACL, Id, OPEN_ACL_UNSAFE, make_digest_acl
except ImportError as error:
    print(f"test_kazoo_bytes: skipped: kazoo is not importable ({error}); install Debian's python3-kazoo")
    sys.exit(77)

failures = []


def check(condition, what):
    if not condition:
        failures.append(what)
        print("FAIL:", what)


def equal(got, want, what):
    check(got == want, f"{what}: got {got!r}, want {want!r}")


# ---- a kazoo connection without a socket: it writes to a buffer and reads from one ----

class Handler:
    """What ConnectionHandler asks of kazoo's handler, with callbacks kept."""

    def __init__(self):
        self.callbacks = []

    def event_object(self):
        return threading.Event()

    def dispatch_callback(self, callback):
        self.callbacks.append(callback)


class Client:
    """The attributes of KazooClient that ConnectionHandler's read path uses."""

    def __init__(self):
        self.handler = Handler()
        self._pending = collections.deque()
        self._data_watchers = collections.defaultdict(set)
        self._child_watchers = collections.defaultdict(set)
        self._stopped = threading.Event()
        self._state = KeeperState.CONNECTED
        self.last_zxid = 0
        self.session_events = []

    def unchroot(self, path):
        return path

    def _session_callback(self, state):
        self.session_events.append(state)


class Outcome:
    """The async object a pending request resolves."""

    def __init__(self):
        self.value = None
        self.exception = None
        self.resolved = False

    def set(self, value=None):
        self.value, self.resolved = value, True

    def set_exception(self, exception):
        self.exception, self.resolved = exception, True


def connection(incoming=b""):
    client = Client()
    conn = ConnectionHandler(client, retry_sleeper=None)
    sent = bytearray()
    conn._write = lambda msg, timeout: sent.extend(msg)
    stream = {"bytes": bytes(incoming), "at": 0}

    def read(length, timeout):
        at = stream["at"]
        if at + length > len(stream["bytes"]):
            raise ConnectionDropped("the test's stream ended")
        stream["at"] = at + length
        return stream["bytes"][at:at + length]

    conn._read = read
    conn.unread = lambda: len(stream["bytes"]) - stream["at"]
    return client, conn, sent


def run_tool(tool, args, stdin):
    result = subprocess.run([tool] + args, input=stdin, capture_output=True, text=True, timeout=20)
    if result.returncode not in (0, 1):
        raise RuntimeError(f"zk_codec_tool {args} exited {result.returncode}: {result.stderr}")
    return result


def decode(tool, stream, chunk=None):
    args = ["decode-requests"] + (["--chunk", str(chunk)] if chunk else [])
    result = run_tool(tool, args, bytes(stream).hex())
    return result.returncode, json.loads(result.stdout)


def frame(body):
    return struct.pack("!i", len(body)) + bytes(body)


# ---- what synod must report for each kazoo request ----

def acl_json(acls):
    if acls is None:
        return None
    return [{"perms": a.perms, "scheme": a.id.scheme or None, "id": a.id.id or None} for a in acls]


def text(value):
    """kazoo's write_string writes "" and None both as null (-1)."""
    return value if value else None


def data(value):
    return None if value is None else value.hex()


def request_json(request):
    kind = type(request)
    if kind in (ser.Create, ser.Create2):
        return {"path": text(request.path), "data": data(request.data), "acl": acl_json(request.acl),
                "flags": request.flags}
    if kind in (ser.GetData, ser.Exists, ser.GetChildren, ser.GetChildren2):
        return {"path": text(request.path), "watch": bool(request.watcher)}
    if kind is ser.SetData:
        return {"path": text(request.path), "data": data(request.data), "version": request.version}
    if kind in (ser.Delete, ser.CheckVersion):
        return {"path": text(request.path), "version": request.version}
    if kind in (ser.GetACL, ser.Sync):
        return {"path": text(request.path)}
    if kind is ser.SetACL:
        return {"path": text(request.path), "acl": acl_json(request.acls), "version": request.version}
    if kind is ser.Transaction:
        return {"ops": [{"type": op.type, "op": OP_NAMES[op.type], "request": request_json(op)}
                        for op in request.operations]}
    if kind is ser.Auth:
        return {"type": request.auth_type, "scheme": text(request.scheme),
                "auth": None if not request.auth else request.auth.encode().hex()}
    if kind is SetWatches:
        return {"relativeZxid": request.relative_zxid, "dataWatches": request.data, "existWatches": request.exist,
                "childWatches": request.child}
    if kind is AddWatch:
        return {"path": text(request.path), "mode": request.mode}
    if kind in (ser.Ping, ser.Close):
        return None
    raise AssertionError(f"no expectation for {kind}")


OP_NAMES = {1: "create", 2: "delete", 3: "exists", 4: "getData", 5: "setData", 6: "getACL", 7: "setACL",
            8: "getChildren", 9: "sync", 11: "ping", 12: "getChildren2", 13: "check", 14: "multi", 15: "create2",
            100: "auth", 101: "setWatches", 106: "addWatch", -11: "closeSession"}


def write_strings(items):
    return ser.int_struct.pack(len(items)) + b"".join(ser.write_string(item) for item in items)


class SetWatches(collections.namedtuple("SetWatches", "relative_zxid data exist child")):
    """zookeeper.jute's SetWatches, from kazoo's own packers (kazoo has none)."""
    type = 101

    def serialize(self):
        return (ser.long_struct.pack(self.relative_zxid) + write_strings(self.data) + write_strings(self.exist) +
                write_strings(self.child))


class AddWatch(collections.namedtuple("AddWatch", "path mode")):
    """zookeeper.jute's AddWatchRequest, from kazoo's own packers (kazoo has none)."""
    type = 106

    def serialize(self):
        return ser.write_string(self.path) + ser.int_struct.pack(self.mode)


def watcher(event):
    pass


def kazoo_requests():
    digest = make_digest_acl("user", "secret", all=True)
    create = ser.Create("/app/node", b"hello", OPEN_ACL_UNSAFE, 0)
    return [
        (1, create),
        (2, ser.Create2("/app/seq-", b"\x00\x01\xfe\xff", [digest, ACL(1, Id("ip", "10.0.0.1"))], 3)),
        (3, ser.Create("/app/nodata", None, OPEN_ACL_UNSAFE, 1)),
        (4, ser.GetData("/app/node", watcher)),
        (5, ser.GetData("/ünïcode/路径", None)),
        (6, ser.SetData("/app/node", b"v2" * 300, 3)),
        (7, ser.Exists("/app/none", watcher)),
        (8, ser.GetChildren("/app", None)),
        (9, ser.GetChildren2("/app", watcher)),
        (10, ser.Delete("/app/node", -1)),
        (11, ser.GetACL("/app")),
        (12, ser.SetACL("/app", [digest], 2)),
        (13, ser.Sync("/app")),
        (14, ser.Sync("")),  # kazoo writes "" as a null ustring
        (15, ser.Transaction([create, ser.Delete("/app/old", 4), ser.SetData("/app/node", b"x", -1),
                              ser.CheckVersion("/app", 7), ser.Create2("/app/t2", b"", OPEN_ACL_UNSAFE, 2)])),
        (AUTH_XID, ser.Auth(0, "digest", "user:secret")),
        (PING_XID, ser.PingInstance),
        (-8, SetWatches(0x100000042, ["/app/node", "/ünï"], ["/app/none"], [])),
        (16, AddWatch("/app", 1)),
        (17, ser.CloseInstance),
    ]


def test_requests(tool):
    connect = ser.Connect(0, 0x100000041, 30000, 0x0123456789abcdef, b"p" * 16, True)
    client, conn, sent = connection()
    conn._submit(connect, 10)
    requests = kazoo_requests()
    for xid, request in requests:
        conn._submit(request, 10, xid)
    want = [{"frame": "connect", "protocolVersion": 0, "lastZxidSeen": 0x100000041, "timeOut": 30000,
             "sessionId": 0x0123456789abcdef, "passwd": (b"p" * 16).hex(), "readOnly": True}]
    for xid, request in requests:
        want.append({"xid": xid, "type": request.type, "op": OP_NAMES[request.type], "request": request_json(request)})

    for chunk in (None, 1, 7, 100):
        status, out = decode(tool, sent, chunk)
        equal(status, 0, f"decode-requests --chunk {chunk}: exit status ({out.get('error')})")
        equal(out["error"], None, f"decode-requests --chunk {chunk}: error")
        equal(out["buffered"], 0, f"decode-requests --chunk {chunk}: bytes left over")
        check(len(out["frames"]) == len(want), f"--chunk {chunk}: {len(out['frames'])} frames, want {len(want)}")
        for got, expected in zip(out["frames"], want):
            equal(got, expected, f"--chunk {chunk}: frame")
    return sent


def test_old_client_connect(tool):
    """A client before 3.4 sends no readOnly: synod reports it absent."""
    _, conn, sent = connection()
    conn._submit(ser.Connect(0, 0, 10000, 0, b"\x00" * 16, False), 10)
    body = bytes(sent[4:-1])  # kazoo's ConnectRequest less its trailing readOnly
    status, out = decode(tool, frame(body))
    equal(status, 0, "old client's connect: exit status")
    equal(out["frames"][0]["readOnly"], None, "old client's connect: readOnly")
    equal(out["frames"][0]["timeOut"], 10000, "old client's connect: timeOut")


def test_refusals(tool):
    _, conn, sent = connection()
    conn._submit(ser.Connect(0, 0, 10000, 0, b"\x00" * 16, False), 10)
    connect = bytes(sent)
    samples = {}
    for xid, request in kazoo_requests():
        if isinstance(request, (ser.Create2, ser.Transaction, ser.SetACL, ser.GetData)) or type(request) is SetWatches:
            sent.clear()
            conn._submit(request, 10, xid)
            samples.setdefault(type(request).__name__, bytes(sent[4:]))

    # Every cut of each sample, re-framed so the frame is whole and the record is not.
    for name, body in samples.items():
        for cut in range(len(body)):
            status, out = decode(tool, connect + frame(body[:cut]))
            check(status == 1 and out["error"], f"{name} cut at {cut} of {len(body)} was not refused: {out}")
    # The connect itself, at every cut but the optional readOnly's.
    connect_body = connect[4:]
    for cut in range(len(connect_body) - 1):
        status, out = decode(tool, frame(connect_body[:cut]))
        check(status == 1 and out["error"], f"ConnectRequest cut at {cut} was not refused: {out}")

    # A length past the bytes that remain: Create2's path claims 2,000,000.
    body = bytearray(samples["Create2"])
    body[8:12] = struct.pack("!i", 2000000)
    status, out = decode(tool, connect + frame(body))
    remain = len(body) - 12
    equal(out["error"], f"CreateRequest.path: a ustring length of 2000000 exceeds the {remain} bytes that remain",
          "a path longer than the frame")
    # A negative length other than -1.
    body[8:12] = struct.pack("!i", -7)
    status, out = decode(tool, connect + frame(body))
    equal(out["error"], "CreateRequest.path: a ustring length of -7 is negative, and only -1 (null) may be",
          "a negative path length")
    # A frame length over jute.maxbuffer: refused from its 4 bytes alone.
    status, out = decode(tool, connect + struct.pack("!i", 0x100000) + b"\x00" * 8)
    equal(status, 1, "an oversized frame: exit status")
    equal(out["error"], "a frame length of 1048576 exceeds the bound of 1048575 bytes (jute.maxbuffer)",
          "an oversized frame")
    # A request type with no record (kazoo's Reconfig) is named.
    sent.clear()
    conn._submit(ser.Reconfig("", "", "server.1=a:1:2", -1), 10, 30)
    status, out = decode(tool, connect + bytes(sent))
    equal(out["error"], "no request record goes with type 16", "reconfig")


# ---- replies: synod encodes, kazoo reads ----

def stat_json(seed):
    return {"czxid": 0x100000001 + seed, "mzxid": 0x100000002 + seed, "ctime": 1700000000000 + seed,
            "mtime": 1700000000500 + seed, "version": seed, "cversion": 2, "aversion": 1,
            "ephemeralOwner": -0x7ffffffffffffff0, "dataLength": 5, "numChildren": 3, "pzxid": 0x100000003 + seed}


def stat_of(seed):
    s = stat_json(seed)
    return ZnodeStat(s["czxid"], s["mzxid"], s["ctime"], s["mtime"], s["version"], s["cversion"], s["aversion"],
                     s["ephemeralOwner"], s["dataLength"], s["numChildren"], s["pzxid"])


def encode(tool, replies):
    result = run_tool(tool, ["encode-responses"], json.dumps(replies))
    equal(result.returncode, 0, f"encode-responses: {result.stderr}")
    return bytes.fromhex(result.stdout.strip())


def test_connect_responses(tool):
    for read_only in (True, False, None):
        connect = {"protocolVersion": 0, "timeOut": 12000, "sessionId": 0x0123456789abcdef,
                   "passwd": (b"s" * 16).hex()}
        if read_only is not None:
            connect["readOnly"] = read_only
        stream = encode(tool, [{"connect": connect}])
        _, conn, _ = connection(stream)
        result, zxid = conn._invoke(10, ser.Connect(0, 0, 30000, 0, b"\x00" * 16, False))
        want = ser.Connect(0, 0, 12000, 0x0123456789abcdef, b"s" * 16, bool(read_only))
        equal(result, want, f"Connect.deserialize of synod's ConnectResponse (readOnly {read_only})")
        equal(conn.unread(), 0, f"ConnectResponse (readOnly {read_only}) read whole")


def test_replies(tool):
    digest = make_digest_acl("user", "secret", all=True)
    acl = [{"perms": 31, "scheme": "world", "id": "anyone"},
           {"perms": digest.perms, "scheme": digest.id.scheme, "id": digest.id.id}]
    # (reply JSON, the kazoo request it answers, what kazoo must make of it)
    cases = [
        ("create", {"path": "/app/node"}, ser.Create("/app/node", b"", OPEN_ACL_UNSAFE, 0), "/app/node"),
        ("create2", {"path": "/app/seq-0000000007", "stat": stat_json(1)},
         ser.Create2("/app/seq-", b"", OPEN_ACL_UNSAFE, 2), ("/app/seq-0000000007", stat_of(1))),
        ("getData", {"data": b"hello\x00\xff".hex(), "stat": stat_json(2)}, ser.GetData("/app/node", None),
         (b"hello\x00\xff", stat_of(2))),
        ("getData", {"data": None, "stat": stat_json(3)}, ser.GetData("/app/nodata", None), (None, stat_of(3))),
        ("setData", {"stat": stat_json(4)}, ser.SetData("/app/node", b"v", 1), stat_of(4)),
        ("exists", {"stat": stat_json(5)}, ser.Exists("/app/node", None), stat_of(5)),
        ("getChildren", {"children": ["a", "lock-0000000001", "ünï"]}, ser.GetChildren("/app", None),
         ["a", "lock-0000000001", "ünï"]),
        ("getChildren", {"children": []}, ser.GetChildren("/empty", None), []),
        ("getChildren2", {"children": ["x"], "stat": stat_json(6)}, ser.GetChildren2("/app", None),
         (["x"], stat_of(6))),
        ("getACL", {"acl": acl, "stat": stat_json(7)}, ser.GetACL("/app"),
         ([ACL(31, Id("world", "anyone")), digest], stat_of(7))),
        ("setACL", {"stat": stat_json(8)}, ser.SetACL("/app", OPEN_ACL_UNSAFE, -1), stat_of(8)),
        ("sync", {"path": "/app"}, ser.Sync("/app"), "/app"),
        ("delete", None, ser.Delete("/app/node", -1), True),
        ("multi", {"results": [{"type": 1, "response": {"path": "/t/a"}}, {"type": 2}, {"type": 13},
                               {"type": 5, "response": {"stat": stat_json(9)}}]},
         ser.Transaction([]), ["/t/a", True, True, stat_of(9)]),
    ]
    replies = []
    for xid, (op, response, _, _) in enumerate(cases, 1):
        replies.append({"xid": xid, "zxid": 0x200000000 + xid, "err": 0, "op": op, "response": response})
    stream = encode(tool, replies)
    client, conn, _ = connection(stream)
    outcomes = []
    for xid, (op, _, request, want) in enumerate(cases, 1):
        outcome = Outcome()
        client._pending.append((request, outcome, xid))
        conn._read_socket(10)
        check(outcome.resolved and outcome.exception is None, f"{op} reply #{xid}: {outcome.exception!r}")
        equal(outcome.value, want, f"kazoo's reading of synod's {op} reply #{xid}")
        equal(client.last_zxid, 0x200000000 + xid, f"{op} reply #{xid}: kazoo's last_zxid")
        outcomes.append(outcome)
    equal(conn.unread(), 0, "every reply read whole")


def test_failed_multi_and_errors(tool):
    results = [{"type": -1, "err": 0, "response": {"err": 0}},
               {"type": -1, "err": -110, "response": {"err": -110}},
               {"type": -1, "err": -2, "response": {"err": -2}}]
    stream = encode(tool, [
        {"xid": 1, "zxid": 5, "err": 0, "op": "multi", "response": {"results": results}},
        {"xid": 2, "zxid": 5, "err": -101, "op": "getData"},
        {"xid": 3, "zxid": 5, "err": -101, "op": "exists"},
    ])
    client, conn, _ = connection(stream)
    multi, get, exists = Outcome(), Outcome(), Outcome()
    client._pending.extend([(ser.Transaction([]), multi, 1), (ser.GetData("/gone", None), get, 2),
                            (ser.Exists("/gone", None), exists, 3)])
    for _ in range(3):
        conn._read_socket(10)
    equal([type(r) for r in multi.value], [RolledBackError, NodeExistsError, RuntimeInconsistency],
          "a failed multi's results, as kazoo's exceptions")
    check(isinstance(get.exception, NoNodeError), f"getData with noNode: {get.exception!r}")
    check(exists.resolved and exists.value is None and exists.exception is None, "exists with noNode is None")


def test_watch_events_ping_auth_close(tool):
    stream = encode(tool, [
        {"xid": -1, "zxid": -1, "err": 0, "op": "notification",
         "response": {"type": 3, "state": 3, "path": "/app/node"}},
        {"xid": -1, "zxid": -1, "err": 0, "op": "notification", "response": {"type": 4, "state": 3, "path": "/app"}},
        {"xid": -1, "zxid": -1, "err": 0, "op": "notification",
         "response": {"type": 2, "state": 3, "path": "/app/ünï"}},
        {"xid": PING_XID, "zxid": 9, "err": 0, "op": "ping"},
        {"xid": AUTH_XID, "zxid": 9, "err": 0, "op": "auth"},
        {"xid": AUTH_XID, "zxid": 9, "err": -115, "op": "auth"},
        {"xid": 4, "zxid": 10, "err": 0, "op": "closeSession"},
    ])
    client, conn, _ = connection(stream)
    data_seen, child_seen, deleted_seen = [], [], []
    client._data_watchers["/app/node"].add(data_seen.append)
    client._child_watchers["/app"].add(child_seen.append)
    client._data_watchers["/app/ünï"].add(deleted_seen.append)
    for _ in range(3):
        conn._read_socket(10)
    events = [(c.type, c.args) for c in client.handler.callbacks]
    equal(events, [("watch", (WatchedEvent(EventType.CHANGED, KeeperState.CONNECTED, "/app/node"),)),
                   ("watch", (WatchedEvent(EventType.CHILD, KeeperState.CONNECTED, "/app"),)),
                   ("watch", (WatchedEvent(EventType.DELETED, KeeperState.CONNECTED, "/app/ünï"),))],
          "watch events as kazoo dispatches them")
    equal([c.func for c in client.handler.callbacks], [data_seen.append, child_seen.append, deleted_seen.append],
          "each event reached the watcher registered for it")

    conn.ping_outstanding.set()
    conn._read_socket(10)
    check(not conn.ping_outstanding.is_set(), "a ping reply clears kazoo's outstanding ping")

    granted, refused = Outcome(), Outcome()
    client._pending.extend([(ser.Auth(0, "digest", "u:p"), granted, AUTH_XID),
                            (ser.Auth(0, "digest", "u:bad"), refused, AUTH_XID)])
    conn._read_socket(10)
    conn._read_socket(10)
    check(granted.resolved and granted.value is True, "an auth reply with err 0 grants")
    check(isinstance(refused.exception, AuthFailedError), f"an auth reply with authFailed: {refused.exception!r}")
    equal(client.session_events, [KeeperState.AUTH_FAILED], "kazoo's session callback after authFailed")

    closed = Outcome()
    client._pending.append((ser.CloseInstance, closed, 4))
    equal(conn._read_socket(10), CLOSE_RESPONSE, "a close reply ends kazoo's connection loop")
    equal(conn.unread(), 0, "every reply read whole")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tool", required=True, help="zk_codec_tool")
    args = parser.parse_args()
    print(f"kazoo {kazoo.version.__version__} from {kazoo.__file__}")
    tests = [test_requests, test_old_client_connect, test_refusals, test_connect_responses, test_replies,
             test_failed_multi_and_errors, test_watch_events_ping_auth_close]
    for test in tests:
        before = len(failures)
        test(args.tool)
        print(f"{test.__name__}: {'ok' if len(failures) == before else 'FAILED'}")
    print(f"{len(tests)} tests run, {len(failures)} checks failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
