#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_zookeeper: client byte streams as kazoo sends them.

  /usr/bin/python3 test/fuzz/make_zookeeper_corpus.py test/fuzz/corpus/zookeeper

Run by hand after a change to the records (needs Debian's python3-kazoo). Each
seed is one connection's stream: the ConnectRequest frame, then request frames
(4-byte length, RequestHeader, record), framed as kazoo's
ConnectionHandler._submit frames them. kazoo has no SetWatches2, AddWatch,
CheckWatches, RemoveWatches, createTTL or createContainer request: those are
built from kazoo's own packers, per zookeeper.jute.
"""
import os
import sys

from kazoo.protocol import serialization as ser
from kazoo.security import ACL, Id, OPEN_ACL_UNSAFE, make_digest_acl


def frame(body):
    return ser.int_struct.pack(len(body)) + bytes(body)


def request(xid, request):
    """What _submit writes for a request: xid, type, record."""
    return frame(ser.int_struct.pack(xid) + ser.int_struct.pack(request.type) + request.serialize())


class Raw:
    """A request kazoo lacks, from its own packers."""

    def __init__(self, type, body):
        self.type, self.body = type, body

    def serialize(self):
        return self.body


def strings(items):
    return ser.int_struct.pack(len(items)) + b"".join(ser.write_string(item) for item in items)


def path_int(path, number):
    return ser.write_string(path) + ser.int_struct.pack(number)


NEW = frame(ser.Connect(0, 0, 30000, 0, b"\0" * 16, False).serialize())
RECONNECT = frame(ser.Connect(0, 0x100000042, 30000, 0x0123456789abcdef, b"p" * 16, False).serialize())
DIGEST = make_digest_acl("user", "secret", all=True)
CREATE = ser.Create("/app/lock-", b"owner-1", [DIGEST, ACL(1, Id("world", "anyone"))], 3)


def seeds():
    yield "01-connect", NEW
    yield "02-connect-pre-3.4", frame(ser.Connect(0, 0, 30000, 0, b"\0" * 16, False).serialize()[:-1]) + request(-2, ser.PingInstance)
    yield "03-create", NEW + request(1, CREATE)
    yield "04-get-data-watch", NEW + request(1, ser.GetData("/app/config", True))
    yield "05-multi", NEW + request(1, ser.Transaction([
        ser.Create("/app/t", b"x", OPEN_ACL_UNSAFE, 0), ser.Delete("/app/old", 4),
        ser.SetData("/app/node", b"v2", -1), ser.CheckVersion("/app", 7),
        ser.Create2("/app/t2", b"", OPEN_ACL_UNSAFE, 2)]))
    yield "06-set-watches", RECONNECT + request(-8, Raw(101, ser.long_struct.pack(0x100000042) + strings(
        ["/app/config"]) + strings(["/app/none"]) + strings(["/app"]))) + request(-2, ser.PingInstance)
    yield "07-session", NEW + b"".join([
        request(-4, ser.Auth(0, "digest", "user:secret")),
        request(1, ser.Create2("/app/n", b"data", OPEN_ACL_UNSAFE, 1)),
        request(2, ser.Exists("/app/n", True)),
        request(3, ser.GetChildren("/app", True)),
        request(4, ser.GetChildren2("/app", False)),
        request(5, ser.SetData("/app/n", b"more", 0)),
        request(6, ser.GetACL("/app/n")),
        request(7, ser.SetACL("/app/n", [DIGEST], 0)),
        request(8, ser.Sync("/app")),
        request(9, ser.Delete("/app/n", -1)),
        request(10, ser.CloseInstance),
    ])
    create_body = ser.Create("/app/c", b"", OPEN_ACL_UNSAFE, 4).serialize()
    yield "08-watches-3.6", RECONNECT + b"".join([
        request(-8, Raw(105, ser.long_struct.pack(7) + strings(["/a"]) + strings([]) + strings(["/b"]) +
                        strings(["/c"]) + strings(["/d", "/d/e"]))),
        request(1, Raw(106, path_int("/app", 1))),
        request(2, Raw(17, path_int("/app", 3))),
        request(3, Raw(18, path_int("/app", 2))),
        request(4, Raw(19, create_body)),
        request(5, Raw(21, ser.Create("/app/ttl", b"", OPEN_ACL_UNSAFE, 5).serialize() +
                        ser.long_struct.pack(60000))),
        request(6, Raw(13, path_int("/app", 3))),
    ])


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_zookeeper_corpus.py DIR")
    os.makedirs(sys.argv[1], exist_ok=True)
    for name, stream in seeds():
        with open(os.path.join(sys.argv[1], name), "wb") as out:
            out.write(stream)
        print(f"{name}: {len(stream)} bytes")


if __name__ == "__main__":
    main()
