"""The chaos suite's driver (test/chaos/run.sh runs it): real synod clusters,
a nemesis on a seeded schedule, clients that record histories, and the checks.

  run.sh --runs N --seconds S --seed X [--nodes 3|5|3,5] [--mix NAME|A,B|all]
         [--binary PATH] [--lincheck PATH] [--out DIR] [--break KIND,...]
         [--allow-unknown]

Run i (0-based) uses seed X+i, the i-th mix of the --mix list and the i-th
size of the --nodes list (both cycled). The zookeeper mix drives kazoo
clients over every node's ZooKeeper listener in place of the REST ones
(zk_workload.py, zk_locks.py, zk_checks.py); it needs kazoo (/usr/bin/python3)
and is not in `all`. Each run writes into
OUT/<start time>/run-<i>-seed-<seed>/ its histories (history-keys.jsonl,
history-locks.jsonl, history-elections.jsonl: synod-lincheck's JSON-lines
format), its side records (*.jsonl), its schedule, summary.json (one line),
and for a failing run the nodes' logs. The LAST line printed is one JSON
object summing up all runs (DESIGN section 7); the exit code is 0 iff every
violation count is 0. A history synod-lincheck cannot decide (verdict
unknown) is a violation (lincheck_unknown) unless --allow-unknown is given;
the summaries count the histories each of its paths decided (lincheck_paths).
A failing run prints its seed and the command that replays its schedule.

--break is for proving that the checks can fail (docs/chaos.md):
  fence          the fenced resource accepts every token (no fencing)
  lose-write     an acknowledged write is added that the cluster never saw
                 (as if the cluster had lost it)
  drop-ack-write an acknowledged write whose value was read is left out of the
                 keys history
  promise        clients count valid_for_ms twice over (an over-trusting client)
"""
import argparse
import json
import os
import random
import shlex
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

import checks  # noqa: E402
import nemesis  # noqa: E402
import workload  # noqa: E402
from fenced import FencedResource  # noqa: E402
from pylib.auth import give_root_token  # noqa: E402
from pylib.cluster import SetupError, allow_core_files  # noqa: E402
from pylib.http import Http, request, use_tls_everywhere, use_token_everywhere  # noqa: E402
from pylib.growing import GrowingCluster  # noqa: E402
from pylib.proxied import TMP_ROOT, ProxiedCluster  # noqa: E402
from pylib.tls import TlsProxiedCluster  # noqa: E402
from recorder import History, Records, now_ns  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
BREAKS = {"fence", "lose-write", "drop-ack-write", "promise"}
TAIL_S = 10.0          # the last seconds of a run: no new faults, clients see a healed cluster
SETUP_ATTEMPTS = 3


# The root token of a run with --auth (every node gets it as its bootstrap token).
AUTH_ROOT_TOKEN = "synod_chaos_root_token_0123456789abcdef"


def zk_mix():
    """The zookeeper mix's clients (zk_workload.py), imported only for that
    mix: they need kazoo, which the other mixes do without."""
    import zk_workload
    return zk_workload


def parse_args(argv):
    p = argparse.ArgumentParser(prog="test/chaos/run.sh", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--seed", type=int, default=None, help="default: drawn from the clock, and printed")
    p.add_argument("--nodes", default="3", help="3, 5, or a list cycled over the runs (3,5)")
    p.add_argument("--mix", default="mixed",
                   help=f"one of {list(nemesis.MIXES)}, a list cycled over the runs, or all (every mix but zookeeper)")
    p.add_argument("--binary", default=None, help="the synod server (default: build/server/synod)")
    p.add_argument("--lincheck", default=None, help="synod-lincheck (default: next to the binary's build)")
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    p.add_argument("--break", dest="breaks", default="", help="test-only: " + ",".join(sorted(BREAKS)))
    p.add_argument("--expect-violations", default="",
                   help="test-only: succeed iff each of these kinds was found (the checks can fail)")
    p.add_argument("--tls", action="store_true",
                   help="HTTPS on the client ports and mutual TLS between peers (certificates made per run)")
    p.add_argument("--auth", action="store_true",
                   help="auth on: the clients send a token whose rules allow what they do (issue 19)")
    p.add_argument("--keep-logs", action="store_true", help="keep the nodes' logs of passing runs too")
    p.add_argument("--allow-unknown", action="store_true",
                   help="a history synod-lincheck cannot decide is reported, not a violation")
    args = p.parse_args(argv)
    args.node_list = [int(n) for n in args.nodes.split(",")]
    if any(n not in (3, 5) for n in args.node_list):
        p.error("--nodes takes 3 and 5")
    args.mix_list = nemesis.ALL_MIXES if args.mix == "all" else args.mix.split(",")
    for m in args.mix_list:
        if m not in nemesis.MIXES:
            p.error(f"unknown mix {m!r}; mixes: {', '.join(nemesis.MIXES)}, all")
    if "zookeeper" in args.mix_list:
        zk_mix()  # exits 77 (ctest: skipped) without kazoo, before any cluster starts
    args.break_set = {b for b in args.breaks.split(",") if b}
    if args.break_set - BREAKS:
        p.error(f"unknown --break {sorted(args.break_set - BREAKS)}")
    if args.seconds < 20:
        p.error("--seconds must be at least 20 (the last 10 s are for healing)")
    if args.seed is None:
        args.seed = int(time.time()) % 1_000_000
    if args.binary is None:
        args.binary = os.path.join(REPO, "build", "server", "synod")
    args.binary = os.path.abspath(args.binary)
    if args.lincheck is None:
        build = os.path.dirname(os.path.dirname(args.binary))
        args.lincheck = os.path.join(build, "test", "lincheck", "synod-lincheck")
    for path in (args.binary, args.lincheck):
        if not os.access(path, os.X_OK):
            p.error(f"not an executable: {path} (build it: cmake --build BUILD --target synod synod-lincheck)")
    return args


def replay_command(args, seed, mix, nodes):
    parts = ["test/chaos/run.sh", "--runs", "1", "--seconds", f"{args.seconds:g}", "--seed", str(seed),
             "--nodes", str(nodes), "--mix", mix, "--binary", args.binary]
    if args.break_set:
        parts += ["--break", ",".join(sorted(args.break_set))]
    if args.allow_unknown:
        parts.append("--allow-unknown")
    if args.tls:
        parts.append("--tls")
    if args.auth:
        parts.append("--auth")
    return " ".join(shlex.quote(x) for x in parts)


class Run:
    def __init__(self, args, index, seed, mix, nodes, folder):
        self.args = args
        self.index = index
        self.seed = seed
        self.mix = mix
        self.nodes = nodes
        self.folder = folder
        self.setup_crashes = []  # nodes killed by a signal in a failed setup attempt
        self.params = {
            "keys": ["k0", "k1", "k2", "k3"],
            "lock_delays_ms": [0, 0, 500, 1000, 2000],
            "client_pause_probability": 0.25,
            "client_pause_factor": (0.3, 2.5),
            "promise_factor": 2 if "promise" in args.break_set else 1,
            # Each node's probe writes this often: every 10 ms in the planned
            # mix, whose changes are measured in tens of milliseconds.
            "probe_interval_s": 0.01 if mix in ("planned", "member") else 0.05,
        }
        if "fence" in args.break_set:
            # Pauses long enough that the lock passes on: expiry, lock-delay, a new grant.
            self.params["client_pause_probability"] = 0.5
            self.params["client_pause_factor"] = (3.0, 4.0)

    def log(self, text):
        print(f"[run {self.index} seed {self.seed} {self.mix} {self.nodes} nodes] {text}", flush=True)

    def turn_auth_on(self, cluster):
        """Root (the bootstrap token) makes a token for the clients with write on
        every name of every space and admin on sessions, then turns auth on."""
        root = {"Authorization": f"Bearer {AUTH_ROOT_TOKEN}"}
        deadline = time.monotonic() + 30

        def as_root(method, path, body=None):
            while time.monotonic() < deadline:
                node = cluster.leader_or_none(timeout=5.0)
                answer = request(cluster.port(node), method, path, body=body, headers=root, timeout=5.0) if node else None
                if answer is not None and answer.status == 200:
                    return answer
                time.sleep(0.1)
            raise SetupError(f"auth setup: {method} {path} did not succeed")

        token = as_root("POST", "/v1/auth/tokens", {"principal": "chaos"}).json["token"]
        for space, permission in [("keys", "write"), ("locks", "write"), ("elections", "write"), ("sessions", "admin")]:
            as_root("POST", "/v1/auth/rules", {"subject": "user:chaos", "space": space, "prefix": "",
                                              "permission": permission})
        as_root("POST", "/v1/auth/enable")
        use_token_everywhere(token)
        # Proof that it is on: an unknown token is refused.
        node = cluster.leader_or_none(timeout=5.0) or 1
        refused = request(cluster.port(node), "PUT", "/v1/kv/auth-probe", body="x", timeout=5.0,
                          headers={"Authorization": "Bearer synod_no_such_token_0123456789"})
        if refused.status != 401:
            raise SetupError(f"auth setup: an unknown token got {refused.status}, not 401")
        self.log("auth on: the clients use their own token; an unknown token gets 401")

    def start_cluster(self):
        last = None
        for attempt in range(SETUP_ATTEMPTS):
            if self.mix == "member":
                if self.args.tls or self.args.auth:
                    raise SystemExit("the member mix runs without --tls and --auth (joiners would need certificates "
                                     "and a join token)")
                # Room for every node the schedule may add (ids are never reused).
                cluster = GrowingCluster(self.args.binary, size=self.nodes, capacity=self.nodes + 40,
                                         cluster_id="chaos", root=TMP_ROOT, prefix=f"run-{self.seed * 10 + attempt}-")
            elif self.mix == "zookeeper":
                if self.args.tls or self.args.auth:
                    raise SystemExit("the zookeeper mix runs without --tls and --auth (the ZooKeeper listener has "
                                     "neither yet)")
                cluster = zk_mix().ZkProxiedCluster(self.nodes, self.args.binary, seed=self.seed * 10 + attempt)
            else:
                kind = TlsProxiedCluster if self.args.tls else ProxiedCluster
                cluster = kind(self.nodes, self.args.binary, seed=self.seed * 10 + attempt)
            if self.args.auth:
                give_root_token(cluster, AUTH_ROOT_TOKEN)
                use_token_everywhere(AUTH_ROOT_TOKEN)  # until the clients' token exists (a new run, a retry)
            if self.args.tls:
                use_tls_everywhere(cluster.ssl_context)  # every client of this run, the nemesis's probes too
            try:
                cluster.start_all()
                if cluster.leader_or_none(timeout=30.0) is None or cluster.exited_early():
                    raise SetupError(f"no leader within 30 s; exits {cluster.exited_early()}")
                if self.args.auth:
                    self.turn_auth_on(cluster)
                return cluster
            except SetupError as error:
                last = error
                # Not being able to bind new ports is the harness's luck; a
                # node killed by a signal (an assert, a crash) is a finding.
                self.setup_crashes += [c for c in cluster.exited_early() if c["code"] is not None and c["code"] < 0]
                cluster.close(keep_logs_to=os.path.join(self.folder, f"setup-{attempt}"))
                self.log(f"setup failed ({error}); trying again with new ports")
        raise SetupError(f"could not start a cluster in {SETUP_ATTEMPTS} attempts: {last}")

    def execute(self):
        os.makedirs(self.folder, exist_ok=True)
        faults = nemesis.schedule(self.mix, self.seed, self.nodes, ttl_max_ms=4000)
        cluster = self.start_cluster()
        t0 = now_ns()
        t0_s = time.monotonic()
        records = Records(t0)
        keys = History(t0)
        locks = History(t0)
        elections = History(t0)
        fenced = FencedResource(records, broken="fence" in self.args.break_set)
        ctx = workload.Context(cluster, keys, locks, elections, records, fenced, self.params, self.seed)
        rng = random.Random(self.seed)
        probe = workload.Availability(ctx)
        threads = [workload.Probe(ctx, n, rng.random()) for n in cluster.ids()]
        if self.mix == "zookeeper":
            threads += self.zookeeper_clients(ctx, cluster, rng)
        else:
            threads += [workload.KeyClient(ctx, p, rng.random()) for p in range(4)]
            for li, lock_name in enumerate(["L0", "L1"]):
                for c in range(3):
                    threads.append(workload.LockClient(ctx, c, lock_name, li * 3 + c, 100 + li * 3 + c, rng.random()))
            threads += [workload.SessionClient(ctx, i, rng.random()) for i in range(2)]
            threads += [workload.ElectionClient(ctx, i, "E0", i, rng.random()) for i in range(3)]
            threads += [workload.Observer(ctx, i, "E0", rng.random()) for i in range(2)]
            threads.append(workload.SessionWatcher(ctx, rng.random()))
        for t in threads:
            t.start()
        stop_faults_at = self.args.seconds - TAIL_S
        admin = {"Authorization": f"Bearer {AUTH_ROOT_TOKEN}"} if self.args.auth else None
        nem = nemesis.Nemesis(cluster, records, probe, faults, start_after_s=2.0, stop_at_s=stop_faults_at, t0_s=t0_s,
                              admin_headers=admin)
        nemesis_stop = threading.Event()
        nem_thread = threading.Thread(target=nem.run, args=(nemesis_stop,), name="nemesis", daemon=True)
        nem_thread.start()
        crashed = []
        try:
            while time.monotonic() - t0_s < stop_faults_at - 3.0:
                time.sleep(0.1)
            ctx.no_pauses.set()
            nem_thread.join(timeout=stop_faults_at + nemesis.RECOVERY_WAIT_S + 60)
            if nem_thread.is_alive() or nem.final_heal is None:
                nem.errors.append("the nemesis did not finish" if nem_thread.is_alive() else
                                  "the nemesis ended without its final heal")
                nemesis_stop.set()
                nem_thread.join(timeout=30)
                try:
                    nem.heal_everything()
                except Exception as error:  # noqa: BLE001 - reported as a harness error above
                    nem.errors.append(f"final heal: {error!r}")
                nem.final_heal = records.now()
            # Liveness: a write succeeds within the bound after the last heal.
            live_at = probe.ok_after(nem.final_heal, nemesis.RECOVERY_WAIT_S)
            while time.monotonic() - t0_s < self.args.seconds:
                time.sleep(0.1)
            ctx.stop.set()
            ctx.close_streams()
            for t in threads:
                t.join(timeout=max(1.0, 40.0))
                if t.is_alive():
                    nem.errors.append(f"client {t.name} did not stop")
            final = self.final_reads(ctx, cluster)
            crashed = cluster.exited_early()
        except BaseException:
            nemesis_stop.set()
            ctx.stop.set()
            ctx.close_streams()
            cluster.close(keep_logs_to=os.path.join(self.folder, "logs"))
            raise
        nemesis_stop.set()
        cluster.stop()
        summary = self.check(ctx, nem, final, live_at, crashed)
        failing = any(summary["violations"].values())
        if failing or self.args.keep_logs:
            cluster.close(keep_logs_to=os.path.join(self.folder, "logs"))
        else:
            cluster.close()
        return summary

    def zookeeper_clients(self, ctx, cluster, rng):
        """The zookeeper mix: its znodes made (else the cluster is closed and
        the run is a setup error), then kazoo clients in place of the REST ones."""
        zk = zk_mix()
        try:
            zk.setup(ctx)
        except BaseException:
            cluster.close(keep_logs_to=os.path.join(self.folder, "logs"))
            raise
        from zk_locks import ZkLockClient
        threads = [zk.ZkKeyClient(ctx, p, rng.random()) for p in range(4)]
        for li, lock_name in enumerate(zk.LOCKS):
            for c in range(3):
                threads.append(ZkLockClient(ctx, lock_name, c, li * 3 + c, 100 + li * 3 + c, rng.random()))
        return threads

    def backtrace(self, crash):
        """gdb's backtrace of a crashed node's core file, saved next to the run's results."""
        path = os.path.join(self.folder, f"crash-node{crash['node']}-pid{crash['pid']}-backtrace.txt")
        try:
            result = subprocess.run(["gdb", "-batch", "-ex", "thread apply all bt", self.args.binary, crash["core"]],
                                    capture_output=True, text=True, timeout=300)
            with open(path, "w") as f:
                f.write(result.stdout + result.stderr)
        except (OSError, subprocess.TimeoutExpired) as error:
            return f"no backtrace: {error}"
        return path

    def final_reads(self, ctx, cluster):
        """Every key, read linearizably once the cluster is healed and the clients are done."""
        http = Http()
        final = {}
        probes = [f"probe-{n}" for n in cluster.ids()]
        names = self.params["keys"] + ["fenced-L0", "fenced-L1"] + probes
        if self.mix == "zookeeper":
            names = probes  # the znodes are read over ZooKeeper's protocol
        rng = random.Random(self.seed + 7)
        for key in names:
            final[key] = checks._UNREAD
            deadline = time.monotonic() + 30.0
            while time.monotonic() < deadline:
                node = rng.choice(cluster.ids())
                op = None if key in probes else ctx.keys.invoke(999, "read", key)
                response = http.call(cluster.port(node), "GET", f"/v1/kv/chaos/{key}", timeout=3.0)
                value = checks._UNREAD
                if response.status == 200 and response.json is not None:
                    value = response.json.get("value")
                elif response.status == 404 and response.code() == "not_found":
                    value = None
                if value is not checks._UNREAD:
                    if op is not None:
                        ctx.keys.complete(op, "ok", value, node=node, final=True)
                    final[key] = value
                    break
                if op is not None:
                    ctx.keys.complete(op, "info", error=response.code() or response.error, node=node)
                time.sleep(0.1)
        http.close()
        if self.mix == "zookeeper":
            final.update(zk_mix().final_reads(ctx))
        return final

    def broken_histories(self, ctx, key_ops, final):
        """The test-only --break switches that touch the keys history. Returns
        the ids of events to leave out, and the (process, invoke time) of their operations."""
        drop_ops = set()
        if "drop-ack-write" in self.args.break_set:
            read_values = {(op["key"], op["output"]) for op in key_ops if op["f"] == "read" and op["type"] == "ok"}
            for op in key_ops:
                if op["f"] == "write" and op["type"] == "ok" and (op["key"], op["input"]) in read_values:
                    drop_ops.add((op["process"], op["invoke_time"]))
                    self.log(f"--break drop-ack-write: leaving out {op['key']}={op['input']!r}")
                    break
        if "lose-write" in self.args.break_set:
            # A key whose final value an acknowledged write wrote (not one of unknown outcome).
            for key in self.params["keys"]:
                writers = [op for op in key_ops if op["key"] == key and op["f"] in ("write", "cas")]
                by_value = {(op["input"][1] if op["f"] == "cas" else op["input"]): op["type"] for op in writers}
                finals = [op for op in key_ops if op.get("final") and op["key"] == key and op["type"] == "ok"]
                if not finals or by_value.get(final.get(key)) != "ok":
                    continue
                t = finals[-1]["invoke_time"] - 2
                op = ctx.keys.invoke(998, "write", key, "lost-by-break", time=t - 1)
                ctx.keys.complete(op, "ok", time=t)
                self.log(f"--break lose-write: an acknowledged write of {key} that the cluster never saw")
                break
        drop_events = set()
        if drop_ops:
            open_invoke = {}
            for e in ctx.keys.events:
                if e["type"] == "invoke":
                    open_invoke[e["process"]] = e
                    if (e["process"], e["time"]) in drop_ops:
                        drop_events.add(id(e))
                else:
                    inv = open_invoke.pop(e["process"], None)
                    if inv is not None and id(inv) in drop_events:
                        drop_events.add(id(e))
        return drop_events, drop_ops

    def check(self, ctx, nem, final, live_at, crashed):
        rec = ctx.records
        drop_events, drop_ops = self.broken_histories(ctx, ctx.keys.operations(), final)
        key_ops = [op for op in ctx.keys.operations() if (op["process"], op["invoke_time"]) not in drop_ops]
        files = {
            "keys": os.path.join(self.folder, "history-keys.jsonl"),
            "locks": os.path.join(self.folder, "history-locks.jsonl"),
            "elections": os.path.join(self.folder, "history-elections.jsonl"),
        }
        zookeeper = self.mix == "zookeeper"
        if zookeeper:
            del files["elections"]  # no elections over ZooKeeper's protocol in this mix
        ctx.keys.write(files["keys"], drop=(lambda e: id(e) in drop_events) if drop_events else None)
        ctx.locks.write(files["locks"])
        if "elections" in files:
            ctx.elections.write(files["elections"])
        rec.write(self.folder)
        with open(os.path.join(self.folder, "schedule.json"), "w") as f:
            json.dump(nemesis.schedule(self.mix, self.seed, self.nodes, ttl_max_ms=4000)[:max(nem.injected + 2, 5)],
                      f, indent=1)

        found = {}
        verdicts = {}
        unknown = []
        counts = {"keys": len(key_ops), "locks": len(ctx.locks.events), "elections": len(ctx.elections.events)}
        for name, path in files.items():
            if counts[name] == 0:
                verdicts[name] = {"verdict": "empty"}
                checks.add(found, "harness_error", f"the {name} history is empty: the clients recorded nothing")
                continue
            verdict = checks.lincheck(self.args.lincheck, path)
            verdicts[name] = verdict
            if verdict.get("verdict") == "not-linearizable":
                checks.add(found, f"{name}_not_linearizable", {"file": path, "stderr": verdict.get("stderr", "")})
            elif verdict.get("harness"):
                checks.add(found, "harness_error", {"lincheck": name, "file": path, "verdict": verdict})
            elif verdict.get("verdict") != "linearizable":
                unknown.append(name)
                if not self.args.allow_unknown:
                    checks.add(found, "lincheck_unknown", {"lincheck": name, "file": path, "verdict": verdict})
        mutations = checks.key_mutations(key_ops)
        for key, items in checks.probe_mutations(rec.get("probe")).items():
            mutations[key] = items
        sessions = checks.session_index(rec.get("promises"), rec.get("expired_reports"), rec.get("session_deletes"),
                                        rec.get("session_events"))
        lock_delay = {s["session"]: s["lock_delay_ms"] for s in rec.get("sessions")}
        grants = rec.get("grants")
        election_grants = [{"space": "election", "lock": w["election"], "session": w["session"], "token": w["token"],
                            "invoke": w["invoke"], "recv": w["recv"]} for w in rec.get("campaign_wins")]
        releases = rec.get("releases")
        election_releases = [{"space": "election", "lock": r["election"], "session": r["session"],
                              "invoke": r["invoke"], "result": r.get("result", "ok")} for r in rec.get("resigns")]
        # A run the clients barely used proves nothing: each kind of check
        # needs something to bite on.
        if not any(op.get("type") == "ok" and op.get("f") in ("write", "cas") for op in key_ops):
            checks.add(found, "harness_error", "no key write was acknowledged in the whole run")
        if not (rec.get("zk_grants") if zookeeper else grants):
            checks.add(found, "harness_error", "no lock was granted in the whole run")
        if not zookeeper and not rec.get("campaign_wins"):
            checks.add(found, "harness_error", "no campaign was won in the whole run")
        # How much the checks had to bite on (a check that never sees its case proves nothing).
        resource = rec.get("resource_writes")
        fenced_keys = rec.get("fenced_key_writes")
        coverage = {
            "resource_writes_refused": sum(1 for w in resource if not w["accepted"]),
            "fenced_key_writes_refused": sum(1 for w in fenced_keys if not w["accepted"]),
            "acquires_granted": len(grants), "campaigns_won": len(rec.get("campaign_wins")),
            "sessions": len(rec.get("sessions")), "session_deaths": len(rec.get("session_deaths")),
        }
        found = checks.merge(
            found,
            checks.check_final_values(mutations, final),
            checks.check_resource(rec.get("resource_writes")),
            checks.check_fenced_keys(rec.get("fenced_key_writes")),
            checks.check_tokens_unique(grants + election_grants),
            checks.check_sessions(sessions, coverage),
            checks.check_grants(grants + election_grants, releases + election_releases, sessions, lock_delay,
                                coverage),
            checks.check_observers(rec.get("observed"), rec.get("campaign_wins"), rec.get("proclaims")),
        )
        zk_expiries = []
        if zookeeper:
            import zk_checks
            found = checks.merge(found, zk_checks.check_all(rec))
            coverage.update(zk_checks.coverage(rec, key_ops))
            if not coverage["zk_fenced_ok"] or not coverage["zk_cas_ok"]:
                checks.add(found, "harness_error", "no fenced multi or no versioned set succeeded in the whole run")
            zk_expiries = zk_checks.expiries(rec, rec.get("nemesis"), zk_mix().SESSION_TIMEOUT_S)
        faults = rec.get("nemesis")
        for f in faults:
            if f.get("kind") != "final_heal" and (f.get("recovered") is None or f.get("live_after_heal_ms") is None):
                checks.add(found, "not_live_after_heal", {"fault": f})
        if live_at is None:
            checks.add(found, "not_live_after_heal", {"final_heal": nem.final_heal,
                                                      "bound_s": nemesis.RECOVERY_WAIT_S})
        for c in crashed + self.setup_crashes:
            if c.get("core"):
                c["backtrace"] = self.backtrace(c)
            checks.add(found, "node_crashed", c)
        for e in nem.errors:
            checks.add(found, "harness_error", e)
        for e in rec.get("harness_errors"):
            checks.add(found, "harness_error", e)
        believed, examples = checks.concurrent_beliefs(rec.get("beliefs"))

        def worst(select):
            values = [f["unavailable_ms"] for f in faults if f.get("unavailable_ms") is not None and select(f)]
            return round(max(values), 1) if values else None

        operations = {
            "keys": len(key_ops), "locks": len(ctx.locks.operations()), "elections": len(ctx.elections.operations()),
            "keepalives": len(rec.get("keepalives")), "resource_writes": len(rec.get("resource_writes")),
            "probe_writes": len(rec.get("probe")), "observed_events": len(rec.get("observed")),
        }
        summary = {
            "run": self.index, "seed": self.seed, "mix": self.mix, "nodes": self.nodes, "seconds": self.args.seconds,
            "operations": sum(operations.values()), "operations_by_kind": operations,
            "faults": nem.injected,
            "faults_by_kind": _count(f["kind"] for f in faults if f.get("kind") != "final_heal"),
            "violations": {kind: len(found.get(kind, [])) for kind in checks.KINDS},
            "concurrent_holders_believed": believed,
            "client_pauses": len(rec.get("client_pauses")),
            "coverage": coverage,
            "unavailable_ms_max": worst(lambda f: True),
            "unavailable_after_leader_kill_ms_max": worst(lambda f: f["kind"] == "kill" and f.get("leader_hit")),
            "unavailable_after_leader_isolation_ms_max": worst(
                lambda f: f["kind"] == "partition" and f.get("leader_hit")),
            "unavailable_after_leader_pause_ms_max": worst(lambda f: f["kind"] == "pause" and f.get("leader_hit")),
            "unavailable_ms_max_by_kind": {k: worst(lambda f, k=k: f["kind"] == k)
                                           for k in ("kill", "restart_all", "pause", "partition", "net")
                                           + nemesis.PLANNED_KINDS
                                           if worst(lambda f, k=k: f["kind"] == k) is not None},
            "live_after_heal_ms": None if live_at is None else round((live_at - nem.final_heal) / 1e6, 1),
            "no_commit_ms_max_by_kind": {k: max(f["no_commit_ms_max"] for f in faults if f.get("kind") == k)
                                         for k in nemesis.PLANNED_KINDS
                                         if any(f.get("kind") == k and "no_commit_ms_max" in f for f in faults)},
            # The same measure between changes, when nothing is injected: the
            # probes' own cadence, against which a change's figure is read.
            "no_commit_ms_max_quiet": _quiet_gap_ms(nem.probe, faults),
            # The member mix's steps, each on its own: add, promote, remove a
            # follower, remove the leader (from the request to 0.2 s after the answer).
            "no_commit_ms_max_by_member_step": _member_steps(faults),
            # Answers no retry could help (issue 20: a planned change should cause none).
            "non_retryable_errors": len(rec.get("non_retryable")),
            "non_retryable_examples": rec.get("non_retryable")[:5],
            "lincheck": {k: {"verdict": v.get("verdict"), "operations": v.get("operations"),
                             "seconds": v.get("seconds"), "path": v.get("path")} for k, v in verdicts.items()},
            "lincheck_unknown": unknown,
            "lincheck_paths": checks.count_paths(verdicts.values()),
            "session_expiry_after_death_ms_max": _expiry_lateness(rec),
            # The zookeeper mix: every session kazoo found expired, with the faults before it.
            "zk_expiries": zk_expiries[:20],
            "clock_skew": "not injected: synod has no clock-rate hook",
            "breaks": sorted(self.args.break_set),
            "folder": self.folder,
            "replay": replay_command(self.args, self.seed, self.mix, self.nodes),
        }
        with open(os.path.join(self.folder, "violations.json"), "w") as f:
            json.dump({"violations": found, "concurrent_belief_examples": examples}, f, indent=1, default=str)
        with open(os.path.join(self.folder, "summary.json"), "w") as f:
            f.write(json.dumps(summary) + "\n")
        return summary


def _member_steps(faults):
    worst = {}
    for f in faults:
        for step in f.get("steps") or []:
            if "no_commit_ms_max" not in step:
                continue
            kind = next(k for k in ("add", "promote", "remove") if k in step)
            if kind == "remove":
                kind = "remove_leader" if step.get("leader") else "remove_member"
            worst[kind] = round(max(worst.get(kind, 0.0), step["no_commit_ms_max"]), 1)
    return worst


def _quiet_gap_ms(probe, faults):
    """The longest stretch with no probe write completing between planned
    changes (from 0.3 s after one ends to the next's start), or None."""
    planned = [f for f in faults if "no_commit_ms_max" in f]
    gaps = [probe.longest_gap_ms(a["heal"] + 300_000_000, b["onset"]) for a, b in zip(planned, planned[1:])
            if b["onset"] > a["heal"] + 400_000_000]
    return round(max(gaps), 1) if gaps else None


def _count(items):
    out = {}
    for i in items:
        out[i] = out.get(i, 0) + 1
    return out


def _expiry_lateness(rec):
    """For sessions whose client died: from the end of their promise to the expiry seen on the watch."""
    expired = {}
    for e in rec.get("session_events"):
        if e.get("type") == "expired" and e.get("session"):
            expired.setdefault(e["session"], e["recv"])
    values = [(expired[d["session"]] - d["promise_end"]) / 1e6 for d in rec.get("session_deaths")
              if d["session"] in expired]
    return round(max(values), 1) if values else None


def _terminated(signum, frame):
    raise SystemExit(128 + signum)  # unwinds: every run's finally kills its nodes and removes its folder


def main(argv):
    args = parse_args(argv)
    allow_core_files()
    signal.signal(signal.SIGTERM, _terminated)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    base = os.path.join(os.path.abspath(args.out), f"{stamp}-seed{args.seed}")
    os.makedirs(base, exist_ok=True)
    print(f"chaos: {args.runs} run(s) of {args.seconds:g} s, seed {args.seed}, mixes {args.mix_list}, "
          f"nodes {args.node_list}, results in {base}", flush=True)
    total = {"runs": 0, "operations": 0, "faults": 0, "violations": {k: 0 for k in checks.KINDS},
             "concurrent_holders_believed": 0, "unavailable_ms_max": None,
             "unavailable_after_leader_kill_ms_max": None, "unavailable_after_leader_isolation_ms_max": None,
             "unavailable_after_leader_pause_ms_max": None, "live_after_heal_ms_max": None,
             "unavailable_ms_max_by_kind": {}, "client_pauses": 0, "coverage": {}, "lincheck_unknown": 0, "lincheck_paths": {}, "faults_by_kind": {}, "mixes": {},
             "clock_skew": "not injected: synod has no clock-rate hook", "failing_seeds": [], "results": base}
    with open(os.path.join(base, "summaries.jsonl"), "w") as all_summaries:
        for i in range(args.runs):
            seed = args.seed + i
            mix = args.mix_list[i % len(args.mix_list)]
            nodes = args.node_list[i % len(args.node_list)]
            run = Run(args, i, seed, mix, nodes, os.path.join(base, f"run-{i}-seed-{seed}"))
            started = time.monotonic()
            try:
                summary = run.execute()
            except SetupError as error:
                summary = {"run": i, "seed": seed, "mix": mix, "nodes": nodes, "operations": 0, "faults": 0,
                           "violations": {"harness_error": 1}, "concurrent_holders_believed": 0,
                           "error": str(error), "replay": replay_command(args, seed, mix, nodes)}
            all_summaries.write(json.dumps(summary) + "\n")
            all_summaries.flush()
            print(json.dumps({k: summary.get(k) for k in (
                "run", "seed", "mix", "nodes", "operations", "faults", "concurrent_holders_believed",
                "unavailable_ms_max", "unavailable_after_leader_kill_ms_max",
                "unavailable_after_leader_isolation_ms_max", "live_after_heal_ms", "lincheck_unknown",
                "lincheck_paths")}
                | {"violations": {k: v for k, v in summary["violations"].items() if v},
                   "wall_s": round(time.monotonic() - started, 1)}), flush=True)
            total["runs"] += 1
            total["operations"] += summary.get("operations", 0)
            total["faults"] += summary.get("faults", 0)
            total["concurrent_holders_believed"] += summary.get("concurrent_holders_believed", 0)
            total["client_pauses"] += summary.get("client_pauses", 0)
            total["lincheck_unknown"] += len(summary.get("lincheck_unknown", []))
            for k, v in summary.get("lincheck_paths", {}).items():
                total["lincheck_paths"][k] = total["lincheck_paths"].get(k, 0) + v
            total["mixes"][mix] = total["mixes"].get(mix, 0) + 1
            for k, v in summary.get("unavailable_ms_max_by_kind", {}).items():
                total["unavailable_ms_max_by_kind"][k] = max(total["unavailable_ms_max_by_kind"].get(k, 0), v)
            for k, v in summary.get("coverage", {}).items():
                total["coverage"][k] = total["coverage"].get(k, 0) + v
            for k, v in summary.get("faults_by_kind", {}).items():
                total["faults_by_kind"][k] = total["faults_by_kind"].get(k, 0) + v
            for k, v in summary["violations"].items():
                total["violations"][k] = total["violations"].get(k, 0) + v
            for k in ("unavailable_ms_max", "unavailable_after_leader_kill_ms_max",
                      "unavailable_after_leader_isolation_ms_max", "unavailable_after_leader_pause_ms_max"):
                if summary.get(k) is not None:
                    total[k] = summary[k] if total[k] is None else max(total[k], summary[k])
            if summary.get("live_after_heal_ms") is not None:
                m = total["live_after_heal_ms_max"]
                total["live_after_heal_ms_max"] = summary["live_after_heal_ms"] if m is None else max(
                    m, summary["live_after_heal_ms"])
            if any(summary["violations"].values()):
                total["failing_seeds"].append(seed)
                print(f"FAILED: run {i}, seed {seed}: {[k for k, v in summary['violations'].items() if v]}; "
                      f"details in {run.folder}/violations.json", flush=True)
                print(f"replay: {summary['replay']}", flush=True)
    failing = any(total["violations"].values())
    expected = [k for k in args.expect_violations.split(",") if k]
    if expected:
        missing = [k for k in expected if not total["violations"].get(k)]
        # The switches break the checks' inputs, never the cluster or the harness.
        unexpected = [k for k in ("node_crashed", "harness_error", "not_live_after_heal")
                      if total["violations"].get(k) and k not in expected]
        total["expected_violations"] = expected
        total["expected_violations_missing"] = missing
        total["unexpected_violations"] = unexpected
        print(json.dumps(total), flush=True)
        return 1 if missing or unexpected else 0
    print(json.dumps(total), flush=True)
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
