"""The bad-frame catalogue's table (test_bad_frames.py runs it; its docstring
says how a reaction is written). Each case: a name, where its bytes go ("raw":
first on a fresh connection; "session": after a valid handshake), the bytes
(or a function of the run's Context, for the reconnect cases), the xids whose
replies it reads, and the reaction expected of synod, with ZooKeeper 3.8's
where it differs (checked by --zookeeper-real) and why.

What synod answers, from zkserver/: a stream that cannot be framed (a length
below 0 or over jute.maxbuffer, 1 MiB - 1) closes the connection, as does a
ConnectRequest that does not decode whole, and a RequestHeader that does not
(requests before the ConnectResponse wait for the session); a record that does not decode whole
answers marshallingError and the connection stays; an op code synod does not
serve answers unimplemented and the connection stays (docs/zookeeper.md).
"""
from dataclasses import dataclass
from typing import Callable, Optional, Union

from zkwire import (CHECK, CLOSE, CREATE, CREATE2, CREATE_CONTAINER, DELETE, EXISTS, GET_ACL, GET_CHILDREN,
                    GET_CHILDREN2, GET_DATA, MULTI, PING, SET_ACL, SET_DATA, SYNC, create_req, multi_req, path_req,
                    version_req, w_bool, w_buffer, w_int, w_long, w_string)

KEEP_PATH = "/badframes"  # written before the catalogue; each case's health check creates a child
KEEP_DATA = b"written before the catalogue"

RECONFIG, CHECK_WATCHES, REMOVE_WATCHES, MULTI_READ = 16, 17, 18, 22
AUTH, SET_WATCHES, GET_EPHEMERALS, GET_ALL_CHILDREN_NUMBER, SET_WATCHES2, ADD_WATCH, WHO_AM_I = (
    100, 101, 103, 104, 105, 106, 107)
AUTH_XID, SET_WATCHES_XID = -4, -8
INT_MAX = 0x7FFFFFFF
JUTE_MAXBUFFER = 0xFFFFF
WHITELIST = "is not executed because it is not in the whitelist."


@dataclass
class Case:
    name: str
    phase: str  # "raw" or "session"
    payload: Union[bytes, None, Callable]  # None: connect, then close at once
    synod: str
    zookeeper: Union[str, tuple, None] = None  # None: as synod; a tuple: any of these
    note: str = ""
    xids: Optional[list] = None  # session: [5] unless given; raw: replies read after a ConnectResponse
    half_close: bool = False  # shut our side's writing after the bytes (the server reads an end)
    needs_sessions: bool = False  # the payload needs the Context's live and ended sessions
    per_byte: bool = False  # one write per byte
    xfail: str = ""  # synod answers wrongly, and why (the run then fails if it stops doing so)

    def expect(self, target):
        return self.zookeeper if target == "zookeeper" and self.zookeeper is not None else self.synod

    def matches(self, target, got):
        """A reaction written ending in "..." matches any that starts with what comes before."""
        want = self.expect(target)
        return any(got.startswith(w[:-3]) if w.endswith("...") else got == w
                   for w in (want if isinstance(want, tuple) else (want,)))


def frame(body):
    return w_int(len(body)) + body


def req(xid, op, body=b""):
    return frame(w_int(xid) + w_int(op) + body)


def connect_req(session=0, passwd=b"\0" * 16, last_zxid=0, timeout_ms=4000, read_only=False):
    tail = b"" if read_only is None else w_bool(read_only)
    return w_int(0) + w_long(last_zxid) + w_int(timeout_ms) + w_long(session) + w_buffer(passwd) + tail


CONNECT = connect_req()
CONNECT_HEAD = CONNECT[:24]  # protocolVersion, lastZxidSeen, timeOut, sessionId: then passwd's length


def KEPT(err):  # noqa: N802 (reads as the table's word)
    return f"{err}, kept"


def raw(name, payload, synod, **kw):
    return Case(name, "raw", payload, synod, **kw)


def session(name, payload, synod, xids=(5,), **kw):
    return Case(name, "session", payload, synod, xids=list(xids), **kw)


def marshalling(op, xid=5):
    return session(f"{OPS[op]} with an empty record", req(xid, op), KEPT("MarshallingError"), xids=[xid])


OPS = {CREATE: "create", DELETE: "delete", EXISTS: "exists", GET_DATA: "getData", SET_DATA: "setData",
       GET_ACL: "getACL", SET_ACL: "setACL", GET_CHILDREN: "getChildren", SYNC: "sync",
       GET_CHILDREN2: "getChildren2", CHECK: "check", MULTI: "multi", CREATE2: "create2",
       CREATE_CONTAINER: "createContainer", SET_WATCHES: "setWatches", SET_WATCHES2: "setWatches2", AUTH: "auth",
       CHECK_WATCHES: "checkWatches", REMOVE_WATCHES: "removeWatches", MULTI_READ: "multiRead",
       GET_EPHEMERALS: "getEphemerals", GET_ALL_CHILDREN_NUMBER: "getAllChildrenNumber", ADD_WATCH: "addWatch"}


def create_path(path, flags=0, acl=None, op=CREATE):
    return req(5, op, create_req(path, b"x", flags, acl))


# The notes where ZooKeeper 3.8 reacts otherwise.
UNIMPLEMENTED = "ZooKeeper closes the connection after unimplemented; issue 22 asks synod to keep it"
PATHS = "ZooKeeper looks the parent up before it checks the path (docs/zookeeper.md, Paths)"

CASES = [
    # ---- before any session: framing
    raw("an empty connection, closed at once", None, "-"),
    raw("an empty connection, half-closed", b"", "closed", half_close=True),
    raw("1 byte, then an end", b"\x00", "closed", half_close=True),
    raw("2 bytes, then an end", b"\x00\x00", "closed", half_close=True),
    raw("3 bytes, then an end", b"\x00\x00\x00", "closed", half_close=True),
    raw("3 lower-case letters, then an end", b"ruo", "closed", half_close=True),
    raw("a frame length of -1", w_int(-1), "closed"),
    raw("a frame length of 0", w_int(0), "closed"),
    raw("a frame length of 0x7fffffff", w_int(INT_MAX), "closed"),
    raw("a frame length of 1 MiB (jute.maxbuffer + 1)", w_int(JUTE_MAXBUFFER + 1), "closed"),
    raw("a frame of exactly jute.maxbuffer: a ConnectRequest with a 1 MiB passwd",
        frame(connect_req(passwd=b"p" * (JUTE_MAXBUFFER - 28), read_only=None)), "session 4000"),
    raw("a frame of 100 bytes cut at 10, then an end", w_int(100) + CONNECT[:10], "closed", half_close=True),
    raw("an upper-case word (RUOK): a length over the bound", b"RUOK", "closed"),
    raw("a ConnectRequest one byte per write", frame(CONNECT), "session 4000", per_byte=True),
    # ---- the ConnectRequest
    raw("a ConnectRequest cut short (20 bytes)", frame(CONNECT[:20]), "closed"),
    raw("a ConnectRequest with trailing garbage", frame(CONNECT + b"garbage"), "closed",
        zookeeper="session 4000",
        note="ZooKeeper reads the record and readOnly and ignores what follows; synod decodes a record whole"),
    raw("a ConnectRequest without readOnly (a client before 3.4)", frame(connect_req(read_only=None)),
        "session 4000"),
    raw("a ConnectRequest with a passwd length of -2", frame(CONNECT_HEAD + w_int(-2) + b"\0" * 17),
        "closed"),
    raw("a ConnectRequest with a passwd length of 0x7fffffff",
        frame(CONNECT_HEAD + w_int(INT_MAX) + b"\0" * 17), "closed"),
    raw("a ConnectRequest with a null passwd", frame(connect_req(passwd=None)), "session 4000"),
    raw("a ConnectRequest with a timeout of -1 (clamped to the minimum)", frame(connect_req(timeout_ms=-1)),
        "session 4000"),
    raw("a ConnectRequest with a timeout of 2^31-1 (clamped to the maximum)",
        frame(connect_req(timeout_ms=INT_MAX)), "session 40000"),
    raw("a request before the ConnectResponse", frame(CONNECT) + req(5, GET_DATA, path_req(KEEP_PATH, False)),
        "session 4000; ok", xids=[5]),
    raw("a ConnectRequest and an auth packet in one write (as ZooKeeper's Netty client sends them)",
        frame(CONNECT) + req(AUTH_XID, AUTH, w_int(0) + w_string("digest") + w_buffer(b"user:password")),
        "session 4000; ok", xids=[AUTH_XID]),
    # ---- reconnects
    raw("a reconnect with a wrong password", lambda ctx: frame(connect_req(ctx.session, b"w" * 16)), "refused",
        needs_sessions=True),
    raw("a reconnect with a session id that never existed (its password right)",
        lambda ctx: frame(connect_req(0x5EEDF00D, ctx.password(0x5EEDF00D))), "refused", needs_sessions=True),
    raw("a reconnect to a session that was closed", lambda ctx: frame(connect_req(*ctx.ended)), "refused",
        needs_sessions=True),
    raw("a reconnect whose lastZxidSeen is 2^62",
        lambda ctx: frame(connect_req(ctx.session, ctx.passwd, last_zxid=1 << 62)), "closed", needs_sessions=True),
    raw("a reconnect as it should be (the control)",
        lambda ctx: frame(connect_req(ctx.session, ctx.passwd, timeout_ms=10000)), "session 10000",
        needs_sessions=True),
    raw("a reconnect asking another timeout", lambda ctx: frame(connect_req(ctx.session, ctx.passwd)),
        "session 10000", zookeeper="session 4000", needs_sessions=True,
        note="ZooKeeper sets the session's timeout anew on a reconnect; synod keeps the session's own "
             "(kazoo and the Java client ask the same timeout again)"),
    # ---- four-letter words
    raw("ruok (the control)", b"ruok", "text: imok"),
    raw("stat", b"stat", f"text: stat {WHITELIST}", zookeeper="text: Zookeeper version:...",
        note="real_zookeeper.py whitelists every word"),
    raw("kill", b"kill", f"text: kill {WHITELIST}", zookeeper="closed",
        note="kill is no word of ZooKeeper 3.8's: its 4 bytes are a frame length over the bound"),
    raw("xyzw", b"xyzw", f"text: xyzw {WHITELIST}", zookeeper="closed",
        note="no word of ZooKeeper's: a frame length over the bound"),
    # ---- after the handshake: framing and the header
    session("a RequestHeader cut short (5 bytes)", frame(w_int(5) + b"\x00"), "closed"),
    session("an empty frame", frame(b""), "closed"),
    session("a frame length of -1", w_int(-1), "closed"),
    session("a frame length over jute.maxbuffer", w_int(JUTE_MAXBUFFER + 1), "closed"),
    # ---- op codes
    session("op code 9999, then getData on the same connection", req(5, 9999, b"anything"), KEPT("Unimplemented"),
            zookeeper="Unimplemented, closed", note=UNIMPLEMENTED),
    session("op code 0 (notification)", req(5, 0), KEPT("Unimplemented"), zookeeper="Unimplemented, closed",
            note=UNIMPLEMENTED),
    session("op code -2^31", req(5, -(1 << 31), b"\xff" * 8), KEPT("Unimplemented"),
            zookeeper="Unimplemented, closed", note=UNIMPLEMENTED),
    session("reconfig (16), which synod does not serve", req(5, RECONFIG, w_string(None) * 3 + w_long(-1)),
            KEPT("Unimplemented"), zookeeper=KEPT("ReconfigDisabled"),
            note="a standalone ZooKeeper has reconfig disabled"),
    session("whoAmI with a record after it", req(5, WHO_AM_I, b"garbage"), KEPT("ok")),
    # ZooKeeper fails on these values after decoding, and so answers marshallingError; synod as it does
    session("addWatch with mode 7", req(5, ADD_WATCH, w_string(KEEP_PATH) + w_int(7)), KEPT("MarshallingError")),
    session("checkWatches with watcher type 99", req(5, CHECK_WATCHES, w_string(KEEP_PATH) + w_int(99)),
            KEPT("MarshallingError")),
    session("multiRead with a create inside", req(5, MULTI_READ, multi_req([(CREATE, create_req("/r", b"", 0))])),
            KEPT("MarshallingError")),
    # ---- each request with a record that does not decode
    *[marshalling(op) for op in (CREATE, DELETE, EXISTS, GET_DATA, SET_DATA, GET_ACL, SET_ACL, GET_CHILDREN,
                                  SYNC, GET_CHILDREN2, CHECK, MULTI, CREATE2, CREATE_CONTAINER, CHECK_WATCHES,
                                  REMOVE_WATCHES, MULTI_READ, GET_EPHEMERALS, GET_ALL_CHILDREN_NUMBER, ADD_WATCH)],
    marshalling(SET_WATCHES, SET_WATCHES_XID),
    marshalling(SET_WATCHES2, SET_WATCHES_XID),
    session("auth with an empty record", req(AUTH_XID, AUTH), KEPT("MarshallingError"), xids=[AUTH_XID],
            zookeeper="closed", note="ZooKeeper closes a connection whose auth packet does not decode"),
    session("ping with a record after it", req(-2, PING, b"garbage"), KEPT("ok"), xids=[-2]),
    session("closeSession with a record after it", req(5, CLOSE, b"garbage"), "ok, closed"),
    session("getData with a byte after its record", req(5, GET_DATA, path_req(KEEP_PATH, False) + b"\x00"),
            KEPT("MarshallingError"), zookeeper=KEPT("ok"),
            note="ZooKeeper ignores bytes after a record; synod decodes a record whole"),
    session("getData with a path length of 0x7fffffff", req(5, GET_DATA, w_int(INT_MAX) + b"/a\x00"),
            KEPT("MarshallingError")),
    session("getData with a path length of -2", req(5, GET_DATA, w_int(-2) + b"\x00"), KEPT("MarshallingError")),
    session("exists with a watch byte of 7", req(5, EXISTS, w_string(KEEP_PATH) + b"\x07"), KEPT("ok")),
    session("setData with a data length of 0x7fffffff",
            req(5, SET_DATA, w_string(KEEP_PATH) + w_int(INT_MAX) + w_int(-1)), KEPT("MarshallingError")),
    # ---- huge vector counts
    session("create with an ACL count of 2^31-1",
            req(5, CREATE, w_string("/huge") + w_buffer(b"") + w_int(INT_MAX) + w_int(0)), KEPT("MarshallingError")),
    session("a multi whose create has an ACL count of 2^31-1",
            req(5, MULTI, w_int(CREATE) + w_bool(False) + w_int(-1) + w_string("/huge") + w_buffer(b"") +
                w_int(INT_MAX) + w_int(0)), KEPT("MarshallingError")),
    session("setWatches with a data-watch count of 2^31-1",
            req(SET_WATCHES_XID, SET_WATCHES, w_long(0) + w_int(INT_MAX) + w_int(-1) + w_int(-1)),
            KEPT("MarshallingError"), xids=[SET_WATCHES_XID]),
    session("setWatches2 with a child-watch count of 2^31-1",
            req(SET_WATCHES_XID, SET_WATCHES2, w_long(0) + w_int(0) + w_int(0) + w_int(INT_MAX) + b"\0" * 12),
            KEPT("MarshallingError"), xids=[SET_WATCHES_XID]),
    # ---- multis
    session("a multi without its done header", req(5, MULTI, multi_req([(CHECK, version_req(KEEP_PATH, -1))])[:-9]),
            KEPT("MarshallingError")),
    session("a multi with an op of type 9999", req(5, MULTI, w_int(9999) + w_bool(False) + w_int(-1)),
            KEPT("MarshallingError")),
    session("a multi with getData inside", req(5, MULTI, multi_req([(GET_DATA, path_req(KEEP_PATH, False))])),
            KEPT("MarshallingError")),
    session("a multi with getChildren inside", req(5, MULTI, multi_req([(GET_CHILDREN, path_req(KEEP_PATH, False))])),
            KEPT("MarshallingError")),
    session("a multi with a create of a bad path", req(5, MULTI, multi_req([(CREATE, create_req("a/b", b"", 0))])),
            KEPT("ok")),  # the header is ok; the op's own result says BadArguments (not read here)
    session("setWatches2 with a persistent watch",
            req(SET_WATCHES_XID, SET_WATCHES2, w_long(0) + w_int(0) * 3 + w_int(1) + w_string(KEEP_PATH) + w_int(0)),
            KEPT("ok"), xids=[SET_WATCHES_XID]),
    # ---- paths, ACLs, flags
    *[session(f"create {shown}", create_path(path), KEPT("BadArguments"), zookeeper=zookeeper,
              note=PATHS if zookeeper else "")
      for shown, path, zookeeper in (("a/b", "a/b", KEPT("NoNode")), ("/a/", "/a/", KEPT("NoNode")),
                                     ("/a//b", "/a//b", KEPT("NoNode")), ("/a<NUL>b", "/a\0b", None),
                                     ("/.", "/.", None), ("/a/..", "/a/..", KEPT("NoNode")),
                                     ("'' (empty)", b"", None), ("(a null path)", None, KEPT("MarshallingError")))],
    session("getData a/b", req(5, GET_DATA, path_req("a/b", False)), KEPT("BadArguments"), zookeeper=KEPT("NoNode"),
            note=PATHS),
    session("create with an empty ACL", create_path("/noacl", acl=[]), KEPT("InvalidACL")),
    session("create with a null ACL", req(5, CREATE, w_string("/noacl") + w_buffer(b"") + w_int(-1) + w_int(0)),
            KEPT("InvalidACL")),
    session("create with an ACL of scheme nosuch", create_path("/noacl", acl=[(31, "nosuch", "x")]),
            KEPT("InvalidACL")),
    session("create with flags 99", create_path("/flags", flags=99), KEPT("BadArguments")),
    session("createContainer with flags 0", create_path("/flags", flags=0, op=CREATE_CONTAINER), KEPT("BadArguments"),
            zookeeper=KEPT("ok"), note="ZooKeeper makes a container whatever the flags say; synod wants flags 4"),
    # ---- auth
    session("auth with scheme nosuch", req(AUTH_XID, AUTH, w_int(0) + w_string("nosuch") + w_buffer(b"x")),
            "AuthFailed, closed", xids=[AUTH_XID]),
    # ---- pipelining
    session("getData, op 9999, getData in one write",
            req(11, GET_DATA, path_req(KEEP_PATH, False)) + req(12, 9999) +
            req(13, GET_DATA, path_req(KEEP_PATH, False)),
            "ok; Unimplemented; ok, kept", xids=[11, 12, 13],
            zookeeper=("ok; Unimplemented, closed", "Unimplemented (xid 12, sent 11)..."),
            note=UNIMPLEMENTED + "; its unimplemented reply, sent outside its pipeline, may overtake earlier replies"),
    session("1,200 unknown op codes in one write (past the 1,000 outstanding)",
            b"".join(req(100 + i, 9999) for i in range(1200)), "Unimplemented x1200, kept",
            zookeeper="Unimplemented...", xids=range(100, 1300), note=UNIMPLEMENTED),
]
