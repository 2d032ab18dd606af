"""synodctl's commands against the server's own state (issue 21): session,
kv list, kv delete, watch, elect, txn, lock list and leader transfer, each checked by one
function below on one shared 3-node cluster (one cluster start for all).
Every check reads what synodctl printed and asks the server over HTTP what
is really there. The binary comes from $SYNODCTL (--synodctl).
"""
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

from pylib import runner  # noqa: E402
from pylib.cluster import running_cluster  # noqa: E402
from pylib.http import call  # noqa: E402
from test_synodctl import synodctl  # noqa: E402


class Lines:
    """A running synodctl (watch, elect) whose stdout lines arrive on a queue."""

    def __init__(self, cluster, *args):
        endpoints = ",".join(f"127.0.0.1:{cluster.port(n)}" for n in cluster.ids())
        self.proc = subprocess.Popen([os.environ["SYNODCTL"], "--endpoints", endpoints, *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(line.rstrip("\n")) for line in self.proc.stdout],
                         daemon=True).start()

    def next(self, timeout=30):
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no line from synodctl {self.proc.args[3:]} in {timeout}s") from None

    def until(self, found):
        """The lines up to and including the first that `found` accepts."""
        lines = [self.next()]
        while not found(lines[-1]):
            lines.append(self.next())
        return lines

    def stop(self, sig=signal.SIGTERM):
        """Signals synodctl; its exit code and stderr."""
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=30), self.proc.stderr.read()


def revision(port):
    return int(call(port, "GET", "/v1/kv/?recurse&limit=1").header("x-synod-index"))


def check_session(cluster, port):
    made = synodctl(cluster, "session", "create", "--ttl", "7s", "--lock-delay", "1s", "--behavior", "delete")
    assert made.returncode == 0, made
    sid = made.stdout.strip()
    view = call(port, "GET", f"/v1/sessions/{sid}").json
    assert (view["ttl_ms"], view["lock_delay_ms"], view["behavior"]) == (7000, 1000, "delete"), view
    alive = synodctl(cluster, "session", "keepalive", sid)
    assert alive.returncode == 0 and alive.stdout.startswith("alive: valid for "), alive
    assert 0 < int(alive.stdout.split()[3]) <= 7000, alive
    got = synodctl(cluster, "session", "get", sid)
    assert got.returncode == 0 and json.loads(got.stdout)["session"] == sid, got
    other = call(port, "POST", "/v1/sessions", {"ttl": "9s"}).json["session"]

    def listed():
        out = synodctl(cluster, "session", "list")
        assert out.returncode == 0, out
        return {line.split()[0]: line.split()[1] for line in out.stdout.splitlines()}

    server = {s["session"] for s in call(port, "GET", "/v1/sessions").json["sessions"]}
    rows = listed()
    assert set(rows) == server and rows[sid] == "ttl_ms=7000" and rows[other] == "ttl_ms=9000", (rows, server)
    gone = synodctl(cluster, "session", "delete", sid)
    assert gone.returncode == 0 and gone.stdout.strip() == "deleted", gone
    assert call(port, "GET", f"/v1/sessions/{sid}").status == 404
    assert sid not in listed() and other in listed()


def check_kv_list(cluster, port):
    for key, value in (("/ops/list/a", "1"), ("/ops/list/b/c", "two words"), ("/ops/listx", "3")):
        assert call(port, "PUT", f"/v1/kv{key}", value).status == 200
    assert call(port, "PUT", "/v1/kv/ops/list/bin", b"\xff\x00").status == 200
    out = synodctl(cluster, "kv", "list", "ops/list")
    assert out.returncode == 0, out
    assert out.stdout.splitlines() == ["/ops/list/a = 1", "/ops/list/b/c = two words", "/ops/list/bin = /wA= (base64)"], out
    # More keys than one page (1000): every page is printed, none twice.
    for start in range(0, 1001, 64):
        ops = [{"op": "put", "key": f"/ops/many/k{i:04}", "value": str(i)} for i in range(start, min(start + 64, 1001))]
        assert call(port, "POST", "/v1/txn", {"ops": ops}).status == 200
    many = synodctl(cluster, "--json", "kv", "list", "/ops/many")
    assert many.returncode == 0, many
    keys = [k["key"] for k in json.loads(many.stdout)["keys"]]
    assert keys == [f"/ops/many/k{i:04}" for i in range(1001)], (len(keys), keys[:3], keys[-3:])


def check_kv_delete(cluster, port):
    for key in ("/ops/del/a", "/ops/del/b/c", "/ops/del/b/d", "/ops/del/c", "/ops/delx"):
        assert call(port, "PUT", f"/v1/kv{key}", "v").status == 200
    one = synodctl(cluster, "kv", "delete", "/ops/del/a")
    assert one.returncode == 0 and one.stdout.strip() == "deleted 1", one
    assert call(port, "GET", "/v1/kv/ops/del/a").status == 404
    tree = synodctl(cluster, "kv", "delete", "ops/del/b", "--recurse")
    assert tree.returncode == 0 and tree.stdout.strip() == "deleted 2", tree
    assert [k["key"] for k in call(port, "GET", "/v1/kv/ops/del?recurse").json["keys"]] == ["/ops/del/c"]
    assert call(port, "GET", "/v1/kv/ops/delx").status == 200, "a recursive delete takes only what is under KEY/"
    missing = synodctl(cluster, "kv", "delete", "/ops/del/a")
    assert missing.returncode == 1 and "404 not_found" in missing.stderr, missing
    index = call(port, "GET", "/v1/kv/ops/del/c").json["modify_index"]
    stale = synodctl(cluster, "kv", "delete", "/ops/del/c", "--cas", str(index + 1))
    assert stale.returncode == 1 and "412 guard_failed" in stale.stderr, stale
    assert call(port, "GET", "/v1/kv/ops/del/c").status == 200
    assert synodctl(cluster, "kv", "delete", "/ops/del/c", "--cas", str(index)).returncode == 0
    assert call(port, "GET", "/v1/kv/ops/del/c").status == 404


def check_watch(cluster, port):
    # From a revision before the writes: the events cannot be missed however
    # late the stream starts.
    watch = Lines(cluster, "watch", "/ops/watch", "--index", str(revision(port)))
    try:
        put = call(port, "PUT", "/v1/kv/ops/watch/a", "one").json
        assert call(port, "PUT", "/v1/kv/ops/watchx", "elsewhere").status == 200
        deleted = call(port, "DELETE", "/v1/kv/ops/watch/a")
        assert watch.next() == f"{put['modify_index']} put /ops/watch/a = one"
        assert watch.next() == f"{deleted.header('x-synod-index')} deleted /ops/watch/a"
    finally:
        code, err = watch.stop()
    assert code == 0, err


def check_elect(cluster, port):
    alpha = Lines(cluster, "elect", "ops-leader", "alpha", "--ttl", "5s")
    observe = beta = None
    try:
        won = alpha.next()
        observe = Lines(cluster, "elect", "--observe", "ops-leader")  # its first line: the leader now
        first = call(port, "GET", "/v1/elections/ops-leader").json["leader"]
        assert won == f"leader of ops-leader with token {first['token']}" and first["value"] == "alpha", (won, first)
        # A follower may not have applied the win yet: "no leader" first, then alpha.
        seen = observe.until(lambda line: line.startswith("leader: "))
        assert seen[-1] == f"leader: alpha (session {first['session']}, token {first['token']})", seen
        assert set(seen[:-1]) <= {"no leader"}, seen
        beta = Lines(cluster, "elect", "ops-leader", "beta", "--ttl", "5s")
        # beta is a candidate until alpha resigns (on SIGINT), then it leads.
        assert call(port, "GET", "/v1/elections/ops-leader").json["leader"]["value"] == "alpha"
        assert alpha.stop(signal.SIGINT)[0] == 0
        assert call(port, "GET", f"/v1/sessions/{first['session']}").status == 404, "alpha deleted its session"
        won = beta.next()
        second = call(port, "GET", "/v1/elections/ops-leader").json["leader"]
        assert won == f"leader of ops-leader with token {second['token']}" and second["value"] == "beta", (won, second)
        handover = observe.until(lambda line: line.startswith("leader: "))
        assert handover[-1] == f"leader: beta (session {second['session']}, token {second['token']})", handover
        assert set(handover[:-1]) <= {"no leader"}, handover
        assert beta.stop()[0] == 0
        assert call(port, "GET", "/v1/elections/ops-leader").json["leader"] is None
        assert observe.until(lambda line: line == "no leader") == ["no leader"]
    finally:
        for proc in (alpha, observe, beta):
            if proc and proc.proc.poll() is None:
                proc.stop(signal.SIGKILL)


def check_txn(cluster, port):
    def key(name):
        got = call(port, "GET", f"/v1/kv/ops/txn/{name}")
        return got.json if got.status == 200 else None

    for name, value in (("cfg", "v1"), ("old", "x")):
        assert call(port, "PUT", f"/v1/kv/ops/txn/{name}", value).status == 200
    # Every guard holds: every operation happens, at one revision.
    done = synodctl(cluster, "txn", "--if", "version /ops/txn/cfg = 1", "--if", "missing ops/txn/new",
                    "--then", 'put /ops/txn/cfg "v 2"', "--then", "put ops/txn/new n", "--then", "delete /ops/txn/old")
    assert done.returncode == 0, done
    cfg, new = key("cfg"), key("new")
    assert (cfg["value"], cfg["version"], new["value"], key("old")) == ("v 2", 2, "n", None), (cfg, new)
    assert done.stdout.splitlines() == ["ok", f"put /ops/txn/cfg modify_index={cfg['modify_index']} version=2",
                                        f"put /ops/txn/new modify_index={cfg['modify_index']} version=1",
                                        "delete /ops/txn/old deleted=1"], done
    # The second guard fails: nothing happens, exit 1, and the guard is named.
    failed = synodctl(cluster, "txn", "--if", "exists /ops/txn/cfg", "--if", "version /ops/txn/cfg = 1",
                      "--then", "put /ops/txn/cfg v3", "--then", "delete /ops/txn/new")
    assert failed.returncode == 1 and failed.stdout == "", failed
    assert "412 guard_failed" in failed.stderr and "guard 2: version /ops/txn/cfg = 1" in failed.stderr, failed
    assert key("cfg") == cfg and key("new") == new, "a failed guard changes nothing"
    # The lock guards, and a write fenced by the token.
    grant = call(port, "POST", "/v1/locks/ops-lock", {"ttl": "15s"}).json
    session, token = grant["session"], grant["token"]
    fenced = synodctl(cluster, "txn", "--if", f"holder ops-lock = {session}", "--if", f"token ops-lock = {token}",
                      "--if", f"alive {session}", "--then", f"put /ops/txn/fenced y lock=ops-lock token={token}")
    assert fenced.returncode == 0 and key("fenced")["value"] == "y", fenced
    stale = synodctl(cluster, "txn", "--if", f"token ops-lock = {token + 1}", "--then", "delete /ops/txn/fenced")
    assert stale.returncode == 1 and f"guard 1: token ops-lock = {token + 1}" in stale.stderr, stale
    assert key("fenced")["value"] == "y"
    assert call(port, "DELETE", f"/v1/sessions/{session}").status == 200  # lock list counts on its own locks only
    # JSON on standard input, answered as JSON.
    body = {"guards": [{"kind": "exists", "key": "/ops/txn/cfg"}], "ops": [{"op": "delete", "key": "/ops/txn/new"}]}
    piped = subprocess.run([os.environ["SYNODCTL"], "--endpoints", f"127.0.0.1:{port}", "--json", "txn", "-f", "-"],
                           input=json.dumps(body), capture_output=True, text=True, timeout=60)
    assert piped.returncode == 0 and json.loads(piped.stdout) == {"ops": [
        {"op": "delete", "key": "/ops/txn/new", "deleted": 1}]}, piped
    assert key("new") is None
    # Bad input: exit 2 before anything is sent (the first put never happens),
    # or the server's refusal, exit 1.
    for words, says in ((["--then", "put /ops/txn/bad x", "--then", "put /ops/txn/cfg"], "put KEY VALUE"),
                        (["--if", "version /ops/txn/cfg > 1", "--then", "put /ops/txn/bad x"], "only = compares"),
                        (["--if", "exists /ops/txn/cfg", "--else", "put /ops/txn/bad x"], "no else branch"),
                        (["--then", 'put /ops/txn/bad "x'], "unclosed quote"),
                        (["-f", "/nonexistent/txn.json"], "cannot read"),
                        ([], "txn needs")):
        refused = synodctl(cluster, "txn", *words)
        assert refused.returncode == 2 and says in refused.stderr, (words, refused)
    server_refused = synodctl(cluster, "txn", "--then", "put /ops/txn/bad x", "--then", "put /ops/../b y")
    assert server_refused.returncode == 1 and "400 bad_key" in server_refused.stderr, server_refused
    assert key("bad") is None


def check_lock_list(cluster, port):
    """An administrator's view of every lock; auth's part is in test_synodctl.py."""
    def acquire(name, **extra):
        grant = call(port, "POST", f"/v1/locks/{name}", {"ttl": "15s", **extra})
        assert grant.status == 200, grant
        return grant.json

    held = acquire("ops-held")
    shared = [acquire("ops-shared", mode="read") for _ in range(2)]
    waiter = call(port, "POST", "/v1/locks/ops-held", {"ttl": "15s", "queue": True})
    assert waiter.status == 202, waiter
    out = synodctl(cluster, "lock", "list")
    assert out.returncode == 0 and out.stdout.split()[:5] == ["LOCK", "KIND", "HOLDERS", "TOKENS", "WAITERS"], out
    rows = {line.split()[0]: line.split()[1:] for line in out.stdout.splitlines()[1:]}
    assert rows["ops-held"] == ["exclusive", held["session"], str(held["token"]), "1"], rows
    assert rows["ops-shared"] == ["shared", ",".join(g["session"] for g in shared),
                                       ",".join(str(g["token"]) for g in shared), "0"], rows
    server = call(port, "GET", "/v1/locks").json["locks"]
    assert sorted(rows) == sorted(lock["lock"] for lock in server), (rows, server)
    as_json = json.loads(synodctl(cluster, "--json", "lock", "list").stdout)["locks"]
    assert [(lock["lock"], lock["holders"]) for lock in as_json] == [(lock["lock"], lock["holders"]) for lock in server]


def check_leader_transfer(cluster, port):
    """`leader transfer --to ID` moves leadership there; without --to, to another member."""
    leader = cluster.leader()
    target = cluster.followers(leader)[0]
    moved = synodctl(cluster, "leader", "transfer", "--to", str(target))
    assert moved.returncode == 0 and moved.stdout.startswith(f"node {target} leads (was node {leader}"), moved
    assert cluster.leader() == target
    moved = json.loads(synodctl(cluster, "--json", "leader", "transfer").stdout)
    assert moved["from"] == target and moved["leader"] != target and cluster.leader() == moved["leader"], moved
    refused = synodctl(cluster, "leader", "transfer", "--to", "9")
    assert refused.returncode == 1 and "not another voting member" in refused.stderr, refused


def test_synodctl_operator_commands(binary):
    with running_cluster(binary) as cluster:
        port = cluster.port(cluster.leader())
        for check in (check_session, check_kv_list, check_kv_delete, check_watch, check_elect, check_txn,
                      check_lock_list, check_leader_transfer):
            started = time.time()
            check(cluster, port)
            print(f"  {check.__name__}: {time.time() - started:.1f}s")


if __name__ == "__main__":
    runner.run(globals())
