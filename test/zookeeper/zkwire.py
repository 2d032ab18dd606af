"""A raw ZooKeeper client for the differential test: jute records written
and read here, one request at a time, so the test sees exactly what a server
answered: the reply header's error code and zxid, every byte of the body,
and every watch event with its place among the replies.

    wire = Wire("127.0.0.1:2181")        # connects: session id, password, timeout
    reply = wire.call(GET_DATA, path_req("/a", watch=True))
    reply.err, reply.zxid, reply.body, reply.events   # events read before this reply

Encoders and decoders follow zookeeper.jute (3.8): ustring and buffer are an
int length then bytes (-1: null), vector an int count then items, bool one
byte. A thread pings the server at a third of the session timeout while the
session is idle; a watch event it reads waits for the next reply's `events`.
"""
import socket
import struct
import threading

# Opcodes (ZooDefs.OpCode).
CREATE, DELETE, EXISTS, GET_DATA, SET_DATA, GET_ACL, SET_ACL, GET_CHILDREN, SYNC = 1, 2, 3, 4, 5, 6, 7, 8, 9
PING, GET_CHILDREN2, CHECK, MULTI, CREATE2, CREATE_CONTAINER, CLOSE = 11, 12, 13, 14, 15, 19, -11
WATCH_XID, PING_XID = -1, -2

# KeeperException.Code, by number.
ERRORS = {0: "ok", -1: "SystemError", -2: "RuntimeInconsistency", -3: "DataInconsistency",
          -4: "ConnectionLoss", -5: "MarshallingError", -6: "Unimplemented", -7: "OperationTimeout",
          -8: "BadArguments", -13: "NewConfigNoQuorum", -14: "ReconfigInProgress", -15: "UnknownSession",
          -100: "APIError", -101: "NoNode", -102: "NoAuth", -103: "BadVersion",
          -108: "NoChildrenForEphemerals", -110: "NodeExists", -111: "NotEmpty", -112: "SessionExpired",
          -113: "InvalidCallback", -114: "InvalidACL", -115: "AuthFailed", -118: "SessionMoved",
          -119: "NotReadOnly", -120: "EphemeralOnLocalSession", -121: "NoWatcher", -122: "RequestTimeout",
          -123: "ReconfigDisabled", -124: "SessionClosedRequireSaslAuth", -125: "QuotaExceeded",
          -127: "Throttled"}
EVENTS = {-1: "None", 1: "NodeCreated", 2: "NodeDeleted", 3: "NodeDataChanged", 4: "NodeChildrenChanged",
          5: "DataWatchRemoved", 6: "ChildWatchRemoved", 7: "PersistentWatchRemoved"}
OPEN_ACL_UNSAFE = [(31, "world", "anyone")]
STAT = struct.Struct("!qqqqiiiqiiq")
STAT_FIELDS = ("czxid", "mzxid", "ctime", "mtime", "version", "cversion", "aversion", "ephemeralOwner",
               "dataLength", "numChildren", "pzxid")


def error_name(code):
    return ERRORS.get(code, f"error{code}")


# ---- encoders ----
def w_int(v):
    return struct.pack("!i", v)


def w_long(v):
    return struct.pack("!q", v)


def w_bool(v):
    return b"\x01" if v else b"\x00"


def w_buffer(b):
    """bytes, or None for jute's null (-1)."""
    return w_int(-1) if b is None else w_int(len(b)) + b


def w_string(s):
    """str (UTF-8), raw bytes (sent as they are, for bad paths), or None."""
    if s is None:
        return w_int(-1)
    return w_buffer(s if isinstance(s, bytes) else s.encode())


def w_acl(acl):
    return w_int(len(acl)) + b"".join(w_int(perms) + w_string(scheme) + w_string(ident)
                                      for perms, scheme, ident in acl)


def create_req(path, data, flags, acl=None):
    return w_string(path) + w_buffer(data) + w_acl(OPEN_ACL_UNSAFE if acl is None else acl) + w_int(flags)


def path_req(path, watch=None):
    """exists, getData, getChildren(2) (with `watch`), getACL and sync (without)."""
    return w_string(path) + (b"" if watch is None else w_bool(watch))


def version_req(path, version):
    """delete and check."""
    return w_string(path) + w_int(version)


def set_data_req(path, data, version):
    return w_string(path) + w_buffer(data) + w_int(version)


def multi_req(ops):
    """ops: (opcode, record bytes) pairs; a MultiHeader before each, and the done one after."""
    out = b"".join(w_int(op) + w_bool(False) + w_int(-1) + record for op, record in ops)
    return out + w_int(-1) + w_bool(True) + w_int(-1)


# ---- decoders: a cursor over a reply body ----
class Reader:
    def __init__(self, data):
        self.data, self.at = data, 0

    def take(self, n):
        if self.at + n > len(self.data):
            raise ValueError(f"body too short: {n} bytes wanted at {self.at} of {len(self.data)}")
        chunk = self.data[self.at:self.at + n]
        self.at += n
        return chunk

    def int(self):
        return struct.unpack("!i", self.take(4))[0]

    def long(self):
        return struct.unpack("!q", self.take(8))[0]

    def bool(self):
        return self.take(1) != b"\x00"

    def buffer(self):
        n = self.int()
        return None if n < 0 else self.take(n)

    def string(self):
        b = self.buffer()
        return None if b is None else b.decode(errors="backslashreplace")

    def stat(self):
        return dict(zip(STAT_FIELDS, STAT.unpack(self.take(STAT.size))))

    def vector(self, item):
        n = self.int()
        return None if n < 0 else [item() for _ in range(n)]

    def acl(self):
        perms = self.int()
        return [perms, self.string(), self.string()]

    def rest(self):
        return len(self.data) - self.at


class Reply:
    def __init__(self, err, zxid, body, events):
        self.err, self.zxid, self.body, self.events = err, zxid, body, events


class Wire:
    def __init__(self, addr, timeout_ms=30000, io_timeout_s=20.0):
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=io_timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.lock = threading.Lock()  # one exchange at a time: the caller's or the pinger's
        self.pending = []  # watch events read and not yet handed to a reply
        self.xid = 0
        self.closed = False
        self.send(w_int(0) + w_long(0) + w_int(timeout_ms) + w_long(0) + w_buffer(b"\0" * 16) + w_bool(False))
        r = Reader(self.frame())
        r.int()  # protocol version
        self.timeout_ms, self.session_id, self.passwd = r.int(), r.long(), r.buffer()
        if self.session_id == 0 or self.timeout_ms <= 0:
            raise ConnectionError(f"{addr} refused the session (timeout {self.timeout_ms})")
        self.stop = threading.Event()
        self.pinger = threading.Thread(target=self.ping_loop, daemon=True)
        self.pinger.start()

    def send(self, payload):
        self.sock.sendall(w_int(len(payload)) + payload)

    def frame(self):
        n = struct.unpack("!i", self.recv_exact(4))[0]
        return self.recv_exact(n)

    def recv_exact(self, n):
        out = b""
        while len(out) < n:
            chunk = self.sock.recv(n - len(out))
            if not chunk:
                raise ConnectionError("the server closed the connection")
            out += chunk
        return out

    def exchange(self, xid, opcode, record):
        """Sends one request and reads until its reply; watch events go to `pending`."""
        self.send(w_int(xid) + w_int(opcode) + record)
        while True:
            r = Reader(self.frame())
            got_xid, zxid, err = r.int(), r.long(), r.int()
            if got_xid == WATCH_XID:
                kind, state, path = r.int(), r.int(), r.string()
                self.pending.append([EVENTS.get(kind, kind), state, path])
                continue
            if got_xid != xid:
                raise ConnectionError(f"reply xid {got_xid}, expected {xid}")
            return err, zxid, r.data[r.at:]

    def call(self, opcode, record):
        with self.lock:
            self.xid += 1
            err, zxid, body = self.exchange(self.xid, opcode, record)
            events, self.pending = self.pending, []
            if opcode == CLOSE:
                self.closed = True
                self.stop.set()
                self.sock.close()
            return Reply(err, zxid, body, events)

    def ping_loop(self):
        while not self.stop.wait(self.timeout_ms / 3000.0):
            with self.lock:
                if self.closed:
                    return
                try:
                    self.exchange(PING_XID, PING, b"")
                except (OSError, ConnectionError):
                    return  # the next call reports it

    def drop(self):
        """Closes the socket without a close request (the session lives on until it expires)."""
        self.stop.set()
        with self.lock:
            self.closed = True
            self.sock.close()
