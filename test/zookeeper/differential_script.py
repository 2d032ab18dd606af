"""The differential test's sequences (differential.py): what each side is
asked, in the same order. Nothing here reads a result: the ops do not depend
on the answers, so op i on one side is op i on the other.

scripted(t): each ZooKeeper rule the listener must keep, one block each.
randomized(t, seed, count): a seeded mix of the same ops over a small tree,
where versions, ephemerals, sequential names and watches meet by chance.
containers_in_a_multi(t): last of all.
"""
import random

BAD_PATHS = ["", "b", "/b/", "/b//x", "/b/./x", "/b/../x", "/b/.", "/b/..", b"/b/\x00x", "/b/x\x01",
             "/b/\ufffe"]


def scripted(t):
    A, B, C = t.open("A"), t.open("B"), t.open("C")
    first_znodes(t, A)
    create_modes(t, A, B)
    edge_creates(t, A)
    versions_and_errors(t, A)
    multis(t, A)
    watches(t, A, B, C)
    ephemerals_go_with_their_session(t, A, C)
    sequential_numbers(t, A)
    bad_paths(t, A)


def first_znodes(t, A):
    """/, /zookeeper and its children, as a fresh server has them."""
    t.get(A, "/")
    t.children2(A, "/")
    t.get_acl(A, "/")
    t.children2(A, "/zookeeper")
    t.get(A, "/zookeeper/quota")


def create_modes(t, A, B):
    t.exists(A, "/d")                                          # NoNode
    t.create(A, "/d", b"root", op="create")
    t.create(A, "/d/p", b"x")                                  # create2: path and Stat
    t.create(A, "/d/p", b"again")                              # NodeExists
    t.create(A, "/d/missing/c")                                # NoNode
    t.create(A, "/d/e", b"eph", mode="ephemeral")              # ephemeralOwner A
    t.create(A, "/d/e/c")                                      # NoChildrenForEphemerals
    t.create(A, "/d/e/c", mode="ephemeral")                    # the same
    t.exists(B, "/d/e")                                        # owner A, seen by B
    t.create(A, "/d/s", op="create")
    t.create(A, "/d/s/n-", b"1", mode="sequential")            # n-0000000000
    t.create(A, "/d/s/n-", b"2", mode="sequential", op="create")
    t.create(A, "/d/s/e-", mode="ephemeral_sequential")
    t.create(A, "/d/s/", mode="sequential")                    # the name is the number alone
    t.create(A, "/d/c", b"box", mode="container", op="createContainer")
    t.create(A, "/d/c/k")
    t.get(A, "/d/c")                                           # a container's ephemeralOwner reads 0
    t.create(A, "/d/acl", b"", acl=[[17, "world", "anyone"]])  # read and admin only: kept as sent
    t.get_acl(A, "/d/acl")
    t.create(A, "/d/noacl", b"", acl=[])                       # InvalidACL
    t.create(A, "/d/big", bytes(range(256)) * 400)
    t.get(A, "/d/big")


def edge_creates(t, A):
    """Under /x, so that a difference here does not move /d's cversion or sequence numbers."""
    t.create(A, "/x")
    t.create(A, "/x/n", None)                                  # null data
    t.get(A, "/x/n")
    t.create(A, "/x/c2", mode="container", op="create2")       # the container flag with create2
    t.create(A, "/y")
    t.create(A, "/y/c3", op="createContainer")                 # createContainer without the flag (not under /x)
    t.create(A, "/x/sub/", b"")                                # a trailing slash, and no parent
    t.children2(A, "/x")


def containers_in_a_multi(t):
    """Run last, after the random mix too: a server that fails these (a node
    once died on the first) then hides nothing else of the comparison."""
    A = t.current("A")
    t.multi(A, [("createContainer", "/x/mc", b"", "container")])  # as the Java client's Op.create sends it
    t.multi(A, [("create", "/x/mc2", b"", "container")])       # the flag, not the opcode, names the result
    t.children2(A, "/x")


def versions_and_errors(t, A):
    t.get(A, "/d/p")
    t.set(A, "/d/p", b"y", 0)                                  # version 1, mzxid moves, czxid stays
    t.set(A, "/d/p", b"z", 0)                                  # BadVersion
    t.set(A, "/d/p", b"z", -1)
    t.set(A, "/d/p", b"", 2)                                   # empty data (not null)
    t.get(A, "/d/p")
    t.set(A, "/d/nope", b"", -1)                               # NoNode
    t.set(A, "/d/nope", b"", 7)                                # NoNode before BadVersion
    t.delete(A, "/d/p", 5)                                     # BadVersion
    t.delete(A, "/d/s")                                        # NotEmpty
    t.delete(A, "/d/s", 9)                                     # NotEmpty or BadVersion: which first
    t.delete(A, "/d/nope")                                     # NoNode
    t.exists(A, "/d/nope")
    t.get(A, "/d/nope")
    t.children(A, "/d/nope")
    t.children2(A, "/d/nope")
    t.get_acl(A, "/d/nope")
    t.children(A, "/d")
    t.children2(A, "/d")
    t.get_acl(A, "/d/p")
    t.sync(A, "/d")
    t.sync(A, "/d/nope")                                       # sync does not look the path up
    t.create(A, "/d/gone")
    t.delete(A, "/d/gone", 0)
    t.children2(A, "/d")                                       # cversion and pzxid after a delete


def multis(t, A):
    t.multi(A, [("create", "/d/m1", b"1", "persistent"), ("setData", "/d/m1", b"2", 0), ("check", "/d/m1", 1),
                ("create2", "/d/m2", b"", "ephemeral"), ("delete", "/d/m2", -1)])
    t.get(A, "/d/m1")                                          # every op at one zxid
    t.multi(A, [("create", "/d/m3", b"", "persistent"), ("check", "/d/m1", 99),
                ("create", "/d/m4", b"", "persistent"), ("delete", "/d/m1", -1)])  # ok, BadVersion, then the rest
    t.exists(A, "/d/m3")                                       # rolled back
    t.get(A, "/d/m1")
    t.multi(A, [("delete", "/d/nope", -1), ("create", "/d/m5", b"", "persistent")])
    t.multi(A, [("create", "/d/m6", b"", "persistent"), ("create", "/d/m6", b"", "persistent")])
    t.multi(A, [("create", "/d/s/q-", b"", "sequential"), ("create2", "/d/s/q-", b"", "sequential")])
    t.multi(A, [("delete", "/d/m1", -1), ("create2", "/d/m1", b"again", "persistent")])
    t.multi(A, [("check", "/d/nope", -1)])
    t.multi(A, [("setData", "/d/m1", b"3", 5)])
    t.multi(A, [("create", "/d/m7", b"", "persistent"), ("create", "/d/m7/x", b"", "persistent"),
                ("delete", "/d/m7", -1)])                      # NotEmpty inside the multi
    t.multi(A, [])
    t.children2(A, "/d")


def watches(t, A, B, C):
    """A (node 1) and C (node 3) watch, B (node 2) changes; each watch fires once."""
    t.create(A, "/d/w", b"0")
    t.get(A, "/d/w", watch=True)
    t.exists(A, "/d/wx", watch=True)                           # NoNode, and the watch is set
    t.children(A, "/d/w", watch=True)
    t.set(B, "/d/w", b"1")
    t.set(B, "/d/w", b"2")                                     # no second event
    t.create(B, "/d/wx")
    t.create(B, "/d/w/k")
    t.drain(A)                                                 # NodeDataChanged, NodeCreated, NodeChildrenChanged
    t.create(B, "/d/w/k2")
    t.set(B, "/d/wx", b"x")
    t.drain(A)                                                 # nothing: every watch fired
    t.get(A, "/d/wx", watch=True)
    t.set(A, "/d/wx", b"y")                                    # A's own change: the event before the reply
    t.get(A, "/d/w/k", watch=True)
    t.children(A, "/d/w/k", watch=True)
    t.children(A, "/d/w", watch=True)
    t.exists(C, "/d/w/k", watch=True)
    t.delete(B, "/d/w/k")                                      # one NodeDeleted for A's two watches
    t.drain(A)
    t.drain(C)
    t.exists(A, "/d/w/k3", watch=True)
    t.children2(A, "/d/w", watch=True)
    t.create(B, "/d/w/k3")
    t.drain(A)                                                 # NodeCreated, then the parent's event
    t.get(A, "/d/w/k2", watch=True)
    t.children(A, "/d/w", watch=True)
    t.exists(A, "/d/w/k4", watch=True)
    t.multi(B, [("setData", "/d/w/k2", b"m", -1), ("create", "/d/w/k4", b"", "persistent"),
                ("delete", "/d/w/k3", -1)])
    t.drain(A)                                                 # a multi's events in op order
    t.get(A, "/d/w/k2", watch=True)
    t.multi(B, [("setData", "/d/w/k2", b"n", -1), ("check", "/d/w", 99)])
    t.set(B, "/d/w/k2", b"o", 99)                              # BadVersion
    t.drain(A)                                                 # nothing: a failed write fires nothing
    t.set(B, "/d/w/k2", b"p")
    t.drain(A)                                                 # the watch was still there
    t.get(A, "/d/w/k9", watch=True)                            # NoNode: getData sets no watch
    t.create(B, "/d/w/k9")
    t.drain(A)
    t.exists(A, "/d/w/k9", watch=True)
    t.exists(C, "/d/w/k9", watch=True)
    t.set(B, "/d/w/k9", b"q")                                  # an exists watch fires on a change
    t.drain(A)
    t.drain(C)
    t.children(A, "/d/w", watch=True)
    t.set(B, "/d/w", b"3")                                     # a child watch ignores the parent's data
    t.get(A, "/d/w")
    t.delete(B, "/d/w/k9")
    t.drain(A)


def ephemerals_go_with_their_session(t, A, C):
    """B's ephemerals vanish when B closes; A and C, watching, see them go."""
    B = "B"
    t.create(B, "/d/eb", b"", mode="ephemeral")
    t.create(B, "/d/s/eb-", b"", mode="ephemeral_sequential")
    t.exists(A, "/d/eb", watch=True)
    t.get(A, "/d/eb", watch=True)
    t.children(A, "/d", watch=True)
    t.children(C, "/d/s", watch=True)
    t.close_session(B)
    t.drain(A, after="the close of B")                         # NodeDeleted /d/eb, NodeChildrenChanged /d
    t.drain(C, after="the close of B")                         # NodeChildrenChanged /d/s
    t.children2(A, "/d")                                       # pzxid: the close's
    t.children2(A, "/d/s")
    B2 = t.open("B")
    t.create(B2, "/d/eb", b"", mode="ephemeral")               # owner: the new session
    t.get(A, "/d/e")                                           # A's own is still there


def sequential_numbers(t, A):
    """The parent's count of creates names the next child, deletes or not."""
    t.create(A, "/d/q", op="create")
    for _ in range(3):
        t.create(A, "/d/q/x", mode="sequential", op="create")
    t.delete(A, "/d/q/x0000000002")
    t.delete(A, "/d/q/x0000000000")
    t.create(A, "/d/q/x", mode="sequential", op="create")     # x0000000003
    t.create(A, "/d/q/y", mode="ephemeral_sequential", op="create")
    t.create(A, "/d/q/plain")
    t.create(A, "/d/q/x", mode="sequential", op="create")     # x0000000006
    t.children2(A, "/d/q")


def bad_paths(t, A):
    """Paths ZooKeeper's PathUtils.validatePath refuses, under /b. A sequential
    create validates the name with its number: "/b/" + "0000000000" is good."""
    t.create(A, "/b")
    for path in BAD_PATHS:
        t.create(A, path)
        t.create(A, path, mode="sequential")
        t.delete(A, path)
        t.set(A, path, b"v")
        t.exists(A, path)
        t.get(A, path)
        t.children(A, path)
    t.create(A, "/")                                           # /: exists, and has no parent
    t.delete(A, "/")
    t.delete(A, "/zookeeper")
    t.delete(A, "/zookeeper/quota")
    t.multi(A, [("create", "/b/ok", b"", "persistent"), ("create", "/b//bad", b"", "persistent")])
    t.children2(A, "/b")


# ------------------------------------------------------------ the random mix
TREE = ["/r/a", "/r/b", "/r/c", "/r/a/x", "/r/a/y", "/r/b/x", "/r/c/x/y"]
DATA = [b"", b"v", b"value", bytes(300)]


def randomized(t, seed, count):
    rng = random.Random(seed)
    sessions = {letter: t.current(letter) for letter in "ABC"}
    t.create(sessions["A"], "/r")
    t.create(sessions["A"], "/r/q")
    seq_made = 0

    def path():
        if rng.random() < 0.2:
            return f"/r/q/n{rng.randrange(seq_made + 2):010d}"
        return rng.choice(TREE)

    def write_op():
        kind = rng.choice(["create", "create2", "delete", "setData", "check"])
        if kind in ("create", "create2"):
            return (kind, path(), rng.choice(DATA), rng.choice(["persistent", "persistent", "ephemeral"]))
        if kind == "setData":
            return (kind, path(), rng.choice(DATA), rng.choice([-1, 0, 1, 2]))
        return (kind, path(), rng.choice([-1, -1, 0, 1, 2]))

    for _ in range(count):
        letter = rng.choice("ABC")
        s = sessions[letter]
        roll = rng.random()
        watch = rng.random() < 0.6
        if roll < 0.20:
            mode = rng.choice(["persistent", "persistent", "ephemeral", "sequential", "ephemeral_sequential"])
            target = "/r/q/n" if "sequential" in mode else path()
            seq_made += "sequential" in mode
            t.create(s, target, rng.choice(DATA), mode=mode, op=rng.choice(["create", "create2"]))
        elif roll < 0.32:
            t.delete(s, path(), rng.choice([-1, -1, 0, 1, 2]))
        elif roll < 0.45:
            t.set(s, path(), rng.choice(DATA), rng.choice([-1, -1, 0, 1, 2, 3]))
        elif roll < 0.53:
            t.get(s, path(), watch)
        elif roll < 0.61:
            t.exists(s, path(), watch)
        elif roll < 0.69:
            (t.children2 if rng.random() < 0.5 else t.children)(s, rng.choice(["/r", "/r/q"] + TREE), watch)
        elif roll < 0.79:
            t.multi(s, [write_op() for _ in range(rng.randrange(1, 4))])
        elif roll < 0.96:
            t.drain(s)
        elif roll < 0.99:
            (t.get_acl if rng.random() < 0.5 else t.sync)(s, path())
        else:
            t.close_session(s)
            for other in sessions.values():
                if other != s:
                    t.drain(other, after=f"the close of {s}")
            sessions[letter] = t.open(letter)
