"""One side of the differential test (differential.py): its sessions, the ops
the script asks for, sent raw (zkwire.py), and each op's record with the
values that may differ between servers (zxids, times, session ids) turned
into relations that may not.

A session's name is a letter and a count: A, B and C connect to node 1, 2
and 3; a session that closes and opens again is A2, then A3.
"""
import bisect
import hashlib

import zkwire as z

MODES = {"persistent": 0, "ephemeral": 1, "sequential": 2, "ephemeral_sequential": 3, "container": 4}
CREATE_OPS = {"create": z.CREATE, "create2": z.CREATE2, "createContainer": z.CREATE_CONTAINER}
NODE_OF = {"A": 1, "B": 2, "C": 3}


def show(value):
    """A printable form of a path or data argument (long data by its length and hash)."""
    if isinstance(value, bytes):
        if len(value) > 64:
            return f"{len(value)} bytes, sha256 {hashlib.sha256(value).hexdigest()[:16]}"
        try:
            text = value.decode()
            if text.isprintable():
                return text
        except UnicodeDecodeError:
            pass
        return "bytes:" + value.hex()
    return value


class Side:
    def __init__(self, name, addr_of):
        self.name = name
        self.addr_of = addr_of  # node -> "127.0.0.1:PORT"
        self.sessions = {}      # name -> Wire
        self.owners = {}        # session id -> name
        self.opened = {}        # letter -> sessions opened so far
        self.records = []
        self.zxids = []         # the zxids of successful writes, sorted, beside...
        self.zxid_ops = []      # ...the op that carried each

    @staticmethod
    def renamed(side, name):
        side.name = name
        return side

    # ------------------------------------------------------------ sessions
    def open(self, letter):
        """Opens session `letter` (again): its name is returned."""
        count = self.opened.get(letter, 0) + 1
        self.opened[letter] = count
        name = letter if count == 1 else f"{letter}{count}"
        entry = {"i": len(self.records), "session": name, "op": "connect", "args": {"node": NODE_OF[letter]},
                 "err": "ok", "events": []}
        try:
            wire = z.Wire(self.addr_of(NODE_OF[letter]))
            self.owners[wire.session_id] = name
        except (OSError, ConnectionError) as error:
            wire = Lost(f"no session: {error}")
            entry["err"] = wire.why
        self.sessions[name] = wire
        self.records.append(entry)
        return name

    def current(self, letter):
        """The name of the latest session of `letter`."""
        count = self.opened[letter]
        return letter if count == 1 else f"{letter}{count}"

    def close(self):
        for wire in self.sessions.values():
            if not wire.closed:
                wire.drop()

    # ------------------------------------------------------------ normalizing
    def zxid(self, value):
        if value == 0:
            return "0"
        at = bisect.bisect_left(self.zxids, value)
        if at < len(self.zxids) and self.zxids[at] == value:
            return f"op{self.zxid_ops[at]}"
        return f"after op{self.zxid_ops[at - 1]}" if at else "before every op"

    def stat(self, s):
        out = {key: s[key] for key in ("version", "cversion", "aversion", "dataLength", "numChildren")}
        out.update(czxid=self.zxid(s["czxid"]), mzxid=self.zxid(s["mzxid"]), pzxid=self.zxid(s["pzxid"]))
        if s["czxid"] == s["mzxid"]:
            out["ctime==mtime"] = s["ctime"] == s["mtime"]
        else:
            out["mtime>=ctime"] = s["mtime"] >= s["ctime"]
        owner = s["ephemeralOwner"]
        out["ephemeralOwner"] = 0 if owner == 0 else self.owners.get(owner, f"unknown session {owner:#x}")
        return out

    def note_write(self, index, zxid):
        """A successful write's zxid names the znodes' zxids it set (the first op wins a repeated zxid)."""
        at = bisect.bisect_left(self.zxids, zxid)
        if at < len(self.zxids) and self.zxids[at] == zxid:
            return
        self.zxids.insert(at, zxid)
        self.zxid_ops.insert(at, index)

    # ------------------------------------------------------------ ops
    def call(self, session, op, args, opcode, record, decode, write=False):
        index = len(self.records)
        wire = self.sessions[session]
        if isinstance(wire, Lost):
            self.records.append({"i": index, "session": session, "op": op, "args": args, "err": wire.why,
                                 "events": []})
            return self.records[-1]
        try:
            reply = wire.call(opcode, record)
        except (OSError, ConnectionError) as error:
            # A server that drops the connection (or dies) fails this op; the
            # session's later ops are recorded as not sent, and the rest goes on.
            self.sessions[session].drop()
            self.sessions[session] = Lost(f"not sent: the connection was lost at op {index}")
            self.records.append({"i": index, "session": session, "op": op, "args": args,
                                 "err": f"connection lost: {error}", "events": []})
            return self.records[-1]
        entry = {"i": index, "session": session, "op": op, "args": args, "err": z.error_name(reply.err)}
        stats = []
        if reply.err == 0:
            reader = z.Reader(reply.body)
            try:
                result = decode(reader)
            except ValueError as error:
                result = {"undecodable": str(error)}
            if reader.rest():
                entry["trailing bytes"] = reader.rest()
            ok = op != "multi" or (isinstance(result, list) and all(r.get("type") != -1 for r in result))
            if write and ok:
                self.note_write(index, reply.zxid)
            entry["result"] = self.normalize(result, stats)
        elif reply.body:
            entry["error body bytes"] = len(reply.body)
        if stats:  # a reply's zxid is the server's state when it answered: never behind what it shows
            entry["reply zxid covers its Stats"] = all(
                reply.zxid >= max(s["czxid"], s["mzxid"], s["pzxid"]) for s in stats)
        entry["events"] = [[kind, path] + ([] if state == 3 else [f"state {state}"])
                           for kind, state, path in reply.events]
        self.records.append(entry)
        return entry

    def normalize(self, value, stats):
        if isinstance(value, dict) and "czxid" in value and "pzxid" in value:
            stats.append(value)
            return self.stat(value)
        if isinstance(value, dict):
            return {k: self.normalize(v, stats) for k, v in value.items()}
        if isinstance(value, list):
            return [self.normalize(v, stats) for v in value]
        if isinstance(value, bytes):
            return show(value)
        return value

    def create(self, s, path, data=b"", mode="persistent", op="create2", acl=None, flags=None):
        flags = MODES[mode] if flags is None else flags
        record = z.create_req(path, data, flags, acl)
        args = {"path": show(path), "data": show(data), "mode": mode}
        if acl is not None:
            args["acl"] = acl
        if op == "create":
            return self.call(s, op, args, z.CREATE, record, lambda r: {"path": r.string()}, write=True)
        return self.call(s, op, args, CREATE_OPS[op], record,
                         lambda r: {"path": r.string(), "stat": r.stat()}, write=True)

    def delete(self, s, path, version=-1):
        return self.call(s, "delete", {"path": show(path), "version": version}, z.DELETE,
                         z.version_req(path, version), lambda r: {}, write=True)

    def set(self, s, path, data, version=-1):
        return self.call(s, "setData", {"path": show(path), "data": show(data), "version": version}, z.SET_DATA,
                         z.set_data_req(path, data, version), lambda r: {"stat": r.stat()}, write=True)

    def exists(self, s, path, watch=False):
        return self.call(s, "exists", {"path": show(path), "watch": watch}, z.EXISTS, z.path_req(path, watch),
                         lambda r: {"stat": r.stat()})

    def get(self, s, path, watch=False):
        return self.call(s, "getData", {"path": show(path), "watch": watch}, z.GET_DATA, z.path_req(path, watch),
                         lambda r: {"data": r.buffer(), "stat": r.stat()})

    def children(self, s, path, watch=False):
        return self.call(s, "getChildren", {"path": show(path), "watch": watch}, z.GET_CHILDREN,
                         z.path_req(path, watch), lambda r: {"children": sorted(r.vector(r.string))})

    def children2(self, s, path, watch=False):
        return self.call(s, "getChildren2", {"path": show(path), "watch": watch}, z.GET_CHILDREN2,
                         z.path_req(path, watch),
                         lambda r: {"children": sorted(r.vector(r.string)), "stat": r.stat()})

    def get_acl(self, s, path):
        return self.call(s, "getACL", {"path": show(path)}, z.GET_ACL, z.path_req(path),
                         lambda r: {"acl": r.vector(r.acl), "stat": r.stat()})

    def sync(self, s, path):
        return self.call(s, "sync", {"path": show(path)}, z.SYNC, z.path_req(path), lambda r: {"path": r.string()})

    def drain(self, s, after=None):
        """A read of / on session s: the events its connection read before the reply.
        `after` names the op whose events it collects, when that matters."""
        return self.call(s, "drain", {"after": after} if after else {}, z.EXISTS, z.path_req("/", False),
                         lambda r: r.stat() and {})

    def close_session(self, s):
        """Closes session s (a close request); its ephemerals go."""
        return self.call(s, "close", {}, z.CLOSE, b"", lambda r: {}, write=True)

    def multi(self, s, ops):
        """ops: ("create"|"create2"|"createContainer", path, data, mode), ("delete", path, version),
        ("setData", path, data, version), ("check", path, version)."""
        records, shown = [], []
        for op in ops:
            kind = op[0]
            if kind in CREATE_OPS:
                records.append((CREATE_OPS[kind], z.create_req(op[1], op[2], MODES[op[3]])))
                shown.append([kind, show(op[1]), show(op[2]), op[3]])
            elif kind == "setData":
                records.append((z.SET_DATA, z.set_data_req(op[1], op[2], op[3])))
                shown.append([kind, show(op[1]), show(op[2]), op[3]])
            else:
                records.append((z.DELETE if kind == "delete" else z.CHECK, z.version_req(op[1], op[2])))
                shown.append([kind, show(op[1]), op[2]])
        return self.call(s, "multi", {"ops": shown}, z.MULTI, z.multi_req(records), decode_multi, write=True)

    def finish(self):
        """Every open session reads once more (a late or repeated event shows), then closes."""
        for name, wire in list(self.sessions.items()):
            if not wire.closed:
                self.drain(name)
        for name, wire in list(self.sessions.items()):
            if not wire.closed:
                self.close_session(name)


class Lost:
    """A session whose connection is gone: each op is recorded unsent."""
    closed = False

    def __init__(self, why):
        self.why = why

    def drop(self):
        self.closed = True


def decode_multi(r):
    """MultiResponse: a MultiHeader (type, done, err) before each result, and a done one at the end."""
    results = []
    while True:
        kind, done, err = r.int(), r.bool(), r.int()
        if done:
            return results
        result = {"type": kind, "err": z.error_name(err)}
        if kind == z.CREATE:
            result["path"] = r.string()
        elif kind in (z.CREATE2, z.CREATE_CONTAINER):
            result["path"], result["stat"] = r.string(), r.stat()
        elif kind == z.SET_DATA:
            result["stat"] = r.stat()
        elif kind == -1:
            result["error"] = z.error_name(r.int())
        results.append(result)
