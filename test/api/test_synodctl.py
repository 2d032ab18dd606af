"""synodctl on a real 3-node cluster (issue #6).

`synodctl lock run` must kill its command's whole process group before the
server could grant the lock to anyone else, even with lock-delay 0; pass the
exit code through; export the fencing token; keep short TTLs alive under
load. The binary comes from $SYNODCTL (--synodctl), the load
generator from $SYNOD_LOADGEN.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

from pylib import runner  # noqa: E402
from pylib.cluster import Cluster, running_cluster  # noqa: E402
from pylib.http import call  # noqa: E402
from pylib.wait import retry  # noqa: E402


def synodctl(cluster, *args, nodes=None, timeout=60):
    endpoints = ",".join(f"127.0.0.1:{cluster.port(n)}" for n in (nodes or cluster.ids()))
    return subprocess.run([os.environ["SYNODCTL"], "--endpoints", endpoints, *args],
                          capture_output=True, text=True, timeout=timeout)


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is dead for our purpose: it runs nothing.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().split(")")[-1].split()[0] != "Z"


def test_synodctl_everyday_commands(binary):
    with running_cluster(binary) as cluster:
        status = synodctl(cluster, "cluster", "status")
        assert status.returncode == 0 and "leader: node" in status.stdout, status
        assert synodctl(cluster, "kv", "put", "/app/greeting", "hello").returncode == 0
        got = synodctl(cluster, "kv", "get", "/app/greeting")
        assert got.returncode == 0 and got.stdout.strip() == "hello", got
        listed = synodctl(cluster, "--json", "kv", "get", "app/greeting")
        assert json.loads(listed.stdout)["value"] == "hello", listed
        taken = synodctl(cluster, "--json", "lock", "acquire", "jobs", "--ttl", "10s")
        assert taken.returncode == 0, taken
        grant = json.loads(taken.stdout)
        held = synodctl(cluster, "lock", "acquire", "jobs", "--ttl", "10s")
        assert held.returncode == 1 and "409 conflict" in held.stderr and grant["session"] in held.stderr, held
        valid = synodctl(cluster, "lock", "validate", "jobs", str(grant["token"]))
        assert valid.returncode == 0 and valid.stdout.strip() == "valid", valid
        assert synodctl(cluster, "lock", "release", "jobs", "--session", grant["session"]).returncode == 0
        assert synodctl(cluster, "lock", "validate", "jobs", str(grant["token"])).returncode == 1
        bad = synodctl(cluster, "kv", "get", "/a/../b")
        assert bad.returncode == 1 and "bad_key" in bad.stderr, bad
        assert synodctl(cluster, "no-such-command").returncode == 2

        # A keep-alive for an id that never was a session is not_found; for
        # one that ended, session_expired (issue 14).
        never = synodctl(cluster, "session", "keepalive", "12345")
        assert never.returncode == 1 and "404 not_found" in never.stderr, never
        ended = synodctl(cluster, "session", "create", "--ttl", "5s").stdout.strip()
        assert synodctl(cluster, "session", "delete", ended).returncode == 0
        gone = synodctl(cluster, "session", "keepalive", ended)
        assert gone.returncode == 1 and "404 session_expired" in gone.stderr, gone

        # Asked through a follower, a member's progress it cannot know shows
        # "-", never a false 0; the leader's shows what the follower heard.
        leader = cluster.leader()
        asked, other = cluster.followers(leader)
        rows = {}
        for line in synodctl(cluster, "cluster", "status", nodes=[asked]).stdout.splitlines()[2:]:
            rows[int(line.split()[0])] = line.split()[-1]
        assert rows[other] == "-" and rows[asked].isdigit() and rows[leader].isdigit(), rows


def test_synodctl_lock_run_passes_the_token_and_the_exit_code(binary):
    with running_cluster(binary) as cluster, tempfile.TemporaryDirectory() as scratch:
        out = os.path.join(scratch, "token")
        run = synodctl(cluster, "lock", "run", "--ttl", "5s", "batch", "--",
                       "sh", "-c", f'echo "$SYNOD_FENCING_TOKEN $SYNOD_LOCK" > {out}; exit 7')
        assert run.returncode == 7, run
        token, lock = open(out).read().split()
        assert lock == "batch" and token.isdigit() and int(token) > 0
        port = cluster.port(cluster.leader())
        after = call(port, "GET", "/v1/locks/batch")
        assert after.status == 200 and not after.json["held"], "the lock is released when the command ends"
        assert call(port, "GET", f"/v1/locks/batch/validate?token={token}").json["valid"] is False
        # Signals reach the command: SIGTERM to synodctl ends it, and its code says so.
        proc = subprocess.Popen([os.environ["SYNODCTL"], "--endpoints", f"127.0.0.1:{port}", "lock", "run", "--ttl",
                                 "5s", "batch", "--", "sleep", "600"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        retry(lambda: call(port, "GET", "/v1/locks/batch"), lambda r: r.json["held"])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 128 + signal.SIGTERM


def test_synodctl_lock_run_stops_the_command_before_the_lock_can_move(binary):
    with running_cluster(binary) as cluster, tempfile.TemporaryDirectory() as scratch:
        leader = cluster.leader()
        lonely = cluster.followers(leader)[0]  # synodctl's only way to the cluster
        pids = os.path.join(scratch, "pids")
        # The command ignores SIGTERM (so SIGKILL is needed) and starts a child.
        script = f'trap "" TERM; sleep 600 & echo "$$ $!" > {pids}; wait'
        endpoints = f"127.0.0.1:{cluster.port(lonely)}"
        proc = subprocess.Popen([os.environ["SYNODCTL"], "--endpoints", endpoints, "lock", "run", "--ttl", "3s",
                                 "--margin", "1s", "fenced", "--", "sh", "-c", script],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        retry(lambda: os.path.exists(pids) and os.path.getsize(pids) > 0, lambda ok: ok, timeout=10)
        shell, child = (int(p) for p in open(pids).read().split())
        port = cluster.port(leader)
        holder = call(port, "GET", "/v1/locks/fenced").json["holders"][0]["session"]
        # Another client waits for the lock through the leader.
        competitor = subprocess.Popen([os.environ["SYNODCTL"], "--endpoints", f"127.0.0.1:{port}", "--json", "lock",
                                       "acquire", "fenced", "--ttl", "10s", "--wait", "30s"],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        cluster.pause(lonely)  # synodctl's keep-alives now go nowhere
        try:
            code = proc.wait(timeout=30)
            dead_at = time.time()
            # Sent after the command died: the old session must still hold the lock.
            still = call(port, "GET", "/v1/locks/fenced")
            assert still.json["held"] and still.json["holders"][0]["session"] == holder, (
                f"the lock moved before synodctl stopped the command: {still}")
            assert not alive(shell) and not alive(child), "the command's whole process group is gone"
            assert code == 128 + signal.SIGKILL, (code, proc.stderr.read())
            out, err = competitor.communicate(timeout=40)
            granted_at = time.time()
            assert competitor.returncode == 0, err
            assert json.loads(out)["session"] != holder
            print(f"command dead {granted_at - dead_at:.2f} s or more before the lock was granted again")
        finally:
            cluster.resume(lonely)


def test_synodctl_lock_run_keeps_short_ttls_alive_under_load(binary):
    """`lock run` around a command that outlives its TTL, for TTLs of 3, 5, 6
    and 10 s at the default margin, all at once while a put load runs: each
    command must finish (exit 0), never be stopped for want of validity
    (issue 14: keep-alives every TTL/3 returned about 0.6 x TTL, less than the
    margin). The generator comes from $SYNOD_LOADGEN."""
    refused = subprocess.run([os.environ["SYNODCTL"], "lock", "run", "--ttl", "3s", "--margin", "2s", "x", "--", "true"],
                             capture_output=True, text=True, timeout=10)
    assert refused.returncode == 2 and "cannot work" in refused.stderr, refused
    with running_cluster(binary) as cluster:
        endpoints = ",".join(f"127.0.0.1:{cluster.port(n)}" for n in cluster.ids())
        done = threading.Event()
        rows, load_failures = [], []

        def load():  # back to back until every run is over, so the load covers them all
            while not done.is_set():
                result = subprocess.run([os.environ["SYNOD_LOADGEN"], "--endpoints", endpoints, "--workload", "put",
                                         "--clients", "8", "--seconds", "3", "--warmup", "0.2"],
                                        capture_output=True, text=True, timeout=60)
                if result.returncode != 0:
                    return load_failures.append(result)
                rows.append(json.loads(result.stdout.strip().splitlines()[-1]))

        loader = threading.Thread(target=load)
        loader.start()
        try:
            runs = {ttl: subprocess.Popen([os.environ["SYNODCTL"], "--endpoints", endpoints, "lock", "run", "--ttl",
                                           f"{ttl}s", f"outlives-{ttl}", "--", "sh", "-c", f"sleep {ttl + 1.5}"],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                    for ttl in (3, 5, 6, 10)}
            finished = {ttl: (proc.wait(timeout=60), proc.stderr.read()) for ttl, proc in runs.items()}
        finally:
            done.set()
            loader.join(timeout=70)
        for ttl, (code, err) in finished.items():
            print(f"  ttl {ttl}s: exit {code}")
        assert all(code == 0 for code, _ in finished.values()), finished
        assert not load_failures, load_failures
        assert rows and sum(row["ops"] for row in rows) > 0, rows
        print(f"  load meanwhile: {sum(row['ops'] for row in rows)} puts, {sum(row['errors'] for row in rows)} errors")


ROOT_TOKEN = "synod_test_root_token_0123456789"


def test_synodctl_auth_commands(binary):
    """`synodctl auth ...` and force-release on a cluster whose root token is
    known (--bootstrap-token-file), and --token / $SYNOD_TOKEN on every request
    synodctl sends: one-request commands, `lock run`'s keep-alives, watch's
    stream (issue 19)."""
    with Cluster(3, binary) as cluster:
        token_file = os.path.join(cluster.dir, "root-token")
        with open(token_file, "w") as f:
            f.write(ROOT_TOKEN + "\n")
        os.chmod(token_file, 0o600)
        cluster.extra_args += ["--bootstrap-token-file", token_file]
        cluster.start_all()
        cluster.leader(timeout=15)
        env = {k: v for k, v in os.environ.items() if k != "SYNOD_TOKEN"}

        def ctl(token, *args, extra_env=None, timeout=60):
            endpoints = ",".join(f"127.0.0.1:{cluster.port(n)}" for n in cluster.ids())
            words = ["--token", token] if token is not None else []
            return subprocess.run([os.environ["SYNODCTL"], "--endpoints", endpoints, *words, *args],
                                  capture_output=True, text=True, timeout=timeout, env={**env, **(extra_env or {})})

        def root(*args):
            return ctl(ROOT_TOKEN, *args)

        # The leader makes the bootstrap token root once it leads.
        me = retry(lambda: root("auth", "whoami"), lambda r: r.returncode == 0 and "root: yes" in r.stdout)
        assert "root: yes" in me.stdout and "via: token" in me.stdout and "auth: disabled" in me.stdout, me
        assert json.loads(root("--json", "auth", "whoami").stdout)["root"] is True

        created = root("auth", "token", "create", "alice")
        assert created.returncode == 0 and "only this once" in created.stderr, created
        alice = created.stdout.strip()
        assert len(created.stdout.splitlines()) == 1 and alice.startswith("synod_"), created
        bob = root("--json", "auth", "token", "create", "bob", "--roles", "ops,dev")
        assert bob.returncode == 0 and json.loads(bob.stdout)["roles"] == ["ops", "dev"], bob

        for rule in (["keys", "write", "--prefix", "/app"], ["locks", "write", "--prefix", "app"],
                     ["sessions", "write"]):
            added = root("auth", "rule", "add", "user:alice", *rule)
            assert added.returncode == 0 and added.stdout.startswith("added rule "), added
        bad_rule = root("auth", "rule", "add", "alice", "keys", "write")
        assert bad_rule.returncode == 1 and "bad_value" in bad_rule.stderr, bad_rule
        rules = root("auth", "rule", "list")
        assert rules.returncode == 0 and rules.stdout.split()[:5] == ["ID", "SUBJECT", "SPACE", "PERMISSION", "PREFIX"]
        assert any(line.split()[1:] == ["user:alice", "keys", "write", "/app"] for line in rules.stdout.splitlines())

        enabled = root("auth", "enable")
        assert enabled.returncode == 0 and enabled.stdout.strip() == "auth enabled", enabled

        assert ctl(alice, "kv", "put", "app/x", "1").returncode == 0
        denied = ctl(alice, "kv", "put", "apple", "1")
        assert denied.returncode == 1 and "403 permission_denied" in denied.stderr, denied
        anonymous = ctl(None, "kv", "get", "app/x")
        assert anonymous.returncode == 1 and "401 unauthenticated" in anonymous.stderr, anonymous
        # $SYNOD_TOKEN without --token; --token wins over it.
        from_env = ctl(None, "kv", "get", "app/x", extra_env={"SYNOD_TOKEN": alice})
        assert from_env.returncode == 0 and from_env.stdout.strip() == "1", from_env
        overridden = ctl(alice, "auth", "whoami", extra_env={"SYNOD_TOKEN": ROOT_TOKEN})
        assert "principal: alice" in overridden.stdout and "root: no" in overridden.stdout, overridden
        # After the command, --token is kv put's fencing token, never the auth token.
        misplaced = ctl(None, "auth", "whoami", "--token", alice)
        assert misplaced.returncode == 2 and "before the command" in misplaced.stderr, misplaced

        # `lock run`'s keep-alives carry the token: a command that outlives its TTL finishes.
        run = ctl(alice, "lock", "run", "--ttl", "3s", "app/job", "--", "sleep", "4")
        assert run.returncode == 0, run
        # So does watch's stream ($SYNOD_TOKEN this time).
        watch = subprocess.Popen([os.environ["SYNODCTL"], "--endpoints", f"127.0.0.1:{cluster.port(1)}", "--json",
                                  "watch", "/app", "--index", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env={**env, "SYNOD_TOKEN": ROOT_TOKEN})
        try:
            first = json.loads(watch.stdout.readline())
            assert first["key"] == "/app/x", first
        finally:
            watch.kill()
            watch.wait(timeout=10)

        taken = ctl(alice, "--json", "lock", "acquire", "app/db", "--ttl", "10s")
        assert taken.returncode == 0, taken
        # The administrators' views: root lists every lock and every session;
        # alice may list no locks, and sees her own sessions only.
        locks = root("lock", "list")
        rows = {line.split()[0]: line.split()[1:] for line in locks.stdout.splitlines()[1:]}
        assert locks.returncode == 0 and rows["app/db"][1] == json.loads(taken.stdout)["session"], locks
        not_admin = ctl(alice, "lock", "list")
        assert not_admin.returncode == 1 and "403 permission_denied" in not_admin.stderr, not_admin
        roots = root("session", "create").stdout.strip()
        mine, every = (ctl(token, "session", "list").stdout.split("\n") for token in (alice, ROOT_TOKEN))
        assert {line.split()[0] for line in mine if line} == {json.loads(taken.stdout)["session"]}, mine
        assert {json.loads(taken.stdout)["session"], roots} <= {line.split()[0] for line in every if line}, every
        tokens = root("auth", "token", "list")
        assert tokens.returncode == 0 and tokens.stdout.split()[:4] == ["ID", "PRINCIPAL", "ROLES", "ROOT"], tokens
        rows = {line.split()[1]: line.split() for line in tokens.stdout.splitlines()[1:]}
        assert rows["alice"][2:] == ["-", "no"] and rows["bob"][2:] == ["ops,dev", "no"], tokens
        assert "yes" in [row[3] for row in rows.values()], tokens
        revoked = root("auth", "token", "revoke", rows["alice"][0])
        assert revoked.returncode == 0 and revoked.stdout.strip() == f"revoked token {rows['alice'][0]}", revoked
        after = ctl(alice, "kv", "put", "app/y", "2")
        assert after.returncode == 1 and after.stderr.startswith("synodctl: 401 unauthenticated"), after
        assert "alice" not in root("auth", "token", "list").stdout

        # Force-release: the holder is gone (its token too); root takes the lock back.
        held = root("lock", "status", "app/db")
        assert json.loads(taken.stdout)["session"] in held.stdout, held
        forced = root("lock", "force-release", "app/db", "--reason", "alice left", "--skip-lock-delay")
        assert forced.returncode == 0 and forced.stdout.strip() == "force-released lock app/db: alice left", forced
        assert root("lock", "status", "app/db").stdout.strip() == "app/db: free"
        port = cluster.port(cluster.leader())
        bearer = {"Authorization": f"Bearer {ROOT_TOKEN}"}
        won = call(port, "POST", "/v1/elections/app-leader/campaign", {"ttl": "10s", "value": "x"}, headers=bearer)
        assert won.status == 200, won
        ousted = root("--json", "election", "force-release", "app-leader")
        assert ousted.returncode == 0 and json.loads(ousted.stdout)["forced"] is True, ousted
        assert call(port, "GET", "/v1/elections/app-leader", headers=bearer).json["leader"] is None

        rule_id = rules.stdout.splitlines()[1].split()[0]
        assert root("auth", "rule", "delete", rule_id).stdout.strip() == f"deleted rule {rule_id}"
        disabled = root("auth", "disable")
        assert disabled.returncode == 0 and disabled.stdout.strip() == "auth disabled", disabled
        free = ctl(None, "kv", "get", "app/x")
        assert free.returncode == 0 and free.stdout.strip() == "1", free


if __name__ == "__main__":
    runner.run(globals())
