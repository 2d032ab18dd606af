"""Side-by-side benchmark of synod, etcd and ZooKeeper (issues #8, #17).

Run through bench/compare.sh, which installs and builds what is missing.
Every system runs as a three-node cluster on 127.0.0.1 with fresh data
directories and durable writes on (bench/systems.py), each driven through
its native protocol by a load generator that keeps up: synod-loadgen
(keep-alive HTTP), etcd_load (gRPC, the v3lock Lock RPC) and zk_load
(ZooKeeper's asynchronous C client, the standard lock recipe), with the same
workload definitions. Systems take turns, A B C A B C, and the table shows
medians over the rounds, with ratios synod/etcd and synod/ZooKeeper.

Each row carries the servers' CPU per operation (all members, user plus
system, over the measured window) and the load generator's CPU, and each
64-client row the throughput at 32 clients: bench/report.py flags a row
whose client was saturated or whose throughput fell as clients were added.

Every row is one JSON line (DESIGN §7) in the output file; the tables go to
stdout and, with versions and the command, to bench/RESULTS.md.
--zookeeper-protocol runs zk_load against ZooKeeper and against synod's
ZooKeeper listener (issue 22) and prints that table alone. --smoke
runs each generator for a moment against each system and checks its rows
(the `ci` tier's bench_smoke test); it writes no RESULTS.md.
"""
import argparse
import datetime
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import report
from cpu import CpuSampler
from systems import ROOT, Etcd, Synod, SynodTls, SynodTlsAuth, SynodZk, ZooKeeper

# The workloads of every round, each at these client counts. 32 beside 64
# shows whether throughput still rose as clients were added.
WORKLOADS = [("put", 1), ("put", 32), ("put", 64), ("lock", 1), ("lock", 32), ("lock", 64),
             ("lock-contended", 32), ("lock-contended", 64)]
SMOKE_WORKLOADS = [("put", 2), ("lock", 2), ("lock-contended", 3)]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class Bench:
    def __init__(self, args):
        self.args = args
        self.build = args.build
        self.rows = []

    def tool(self, system):
        return os.path.join(self.build, "bench", system.tool)

    def load(self, system, workload, clients, seconds, endpoints=None, extra=()):
        """Runs the system's generator once; its row, with the servers' CPU per
        operation and the generator's CPU in the measured window."""
        args = [self.tool(system), "--endpoints", ",".join(endpoints or system.endpoints()),
                "--workload", workload, "--clients", str(clients), "--seconds", str(seconds),
                "--warmup", str(self.args.warmup), "--nodes", str(system.size)]
        args += list(extra) + (system.tool_args() if hasattr(system, "tool_args") else [])
        servers = system.pids()
        tool = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        with CpuSampler(servers + [tool.pid]) as cpu:
            try:
                out, err = tool.communicate(timeout=seconds + 600)
            except subprocess.TimeoutExpired:
                tool.kill()
                out, err = tool.communicate()
        lines = [line for line in out.splitlines() if line.startswith("{")]
        if not lines:
            raise RuntimeError(f"{system.name} {workload}: no result (exit {tool.returncode}): {err[-500:]}")
        row = json.loads(lines[-1])
        row["system"] = system.name  # synod-loadgen says "synod" for synod-tls too
        row["nodes"] = system.size
        start, end = (t / 1000 for t in row["window_unix_ms"])
        server_rates = [cpu.rate(pid, start, end) for pid in servers]
        client_rate = cpu.rate(tool.pid, start, end)
        if None not in server_rates and row["ops_per_s"] > 0:
            row["server_cpu_cores"] = round(sum(server_rates), 3)
            row["server_cpu_us_per_op"] = round(sum(server_rates) / row["ops_per_s"] * 1e6, 1)
        if client_rate is not None:
            row["client_cpu_cores"] = round(client_rate, 3)
        if row.get("errors"):
            sys.stderr.write(f"  {system.name} {workload} x{clients}: {row['errors']} errors: {err.strip()[-200:]}\n")
        return row

    def record(self, row):
        self.rows.append(row)
        with open(self.args.out, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"  {row['system']:<10} {row['workload']:<22} x{row['clients']:<3} {row['ops_per_s']:>10.1f} ops/s"
              f"  p50 {row['p50_ms']:.2f} ms  p99 {row['p99_ms']:.2f} ms"
              f"  server {row.get('server_cpu_us_per_op', '-')} us/op  client {row.get('client_cpu_cores', '-')} cores",
              flush=True)

    def workloads(self, system, workloads):
        for workload, clients in workloads:
            self.record(self.load(system, workload, clients, self.args.seconds))

    def keepalive(self, system, sessions):
        """Sessions (leases) opened before the clock, then renewed each every
        TTL/3; ZooKeeper's sessions are connections, another benchmark (zk_load
        has no keepalive workload, for ZooKeeper nor for synod's listener)."""
        if system.tool == "zk_load":
            return
        pid = system.pid(system.leader())
        rss_before = rss_kib(pid)
        row = self.load(system, "keepalive", 64, self.args.seconds, extra=["--sessions", str(sessions)])
        rss_after = rss_kib(pid)
        row.update({"workload": f"keepalive-{sessions}", "leader_rss_mib": round(rss_after / 1024, 1),
                    "leader_rss_bytes_per_session": round((rss_after - rss_before) * 1024 / sessions)})
        self.record(row)

    def failover(self, system, sig, runs):
        times = []
        for run in range(runs):
            system.healthy()
            leader = system.leader()
            others = [n for n in system.ids() if n != leader]
            with tempfile.NamedTemporaryFile(prefix="failover-", suffix=".trace", delete=False) as f:
                trace = f.name
            # Writers on the surviving nodes; a request that hangs on the
            # lost leader is given up after 300 ms and tried again.
            tool = subprocess.Popen(
                [self.tool(system), "--endpoints", ",".join(system.endpoints(others)), "--workload", "put",
                 "--clients", "8", "--seconds", "12", "--warmup", "0", "--trace", trace, "--request-timeout-ms", "300"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(2.5)
            # Counted from the moment the signal has taken: a SIGKILLed JVM
            # still answered writes for a few ms after kill() returned, and
            # signal() waits for a killed process's exit.
            system.signal(leader, sig)
            killed_ms = time.time() * 1000
            # The writers stop once a write invoked after the signal has
            # succeeded (or after their 12 s, which outlast ZooKeeper's
            # 5 s syncLimit after a SIGSTOP): waiting out the 12 s every run
            # would be most of --quick's time.
            first_answer = FirstAnswer(trace, killed_ms)
            while tool.poll() is None and first_answer() is None:
                time.sleep(0.05)
            if tool.poll() is None:
                tool.terminate()
            tool.wait(timeout=120)
            if sig == signal.SIGSTOP:
                system.signal(leader, signal.SIGCONT)
            else:
                system.restart(leader)
            # The first write invoked after the signal that succeeded: when
            # it was answered, counted from the signal.
            answered = first_answer()
            first_answer.close()
            os.unlink(trace)
            if answered is not None:
                times.append(answered - killed_ms)
            else:
                sys.stderr.write(f"  {system.name} failover run {run}: no write succeeded after the signal\n")
        if not times:
            return
        name = "failover-kill" if sig == signal.SIGKILL else "failover-stop"
        times.sort()
        self.record({"system": system.name, "workload": name, "clients": 8, "ops_per_s": 0,
                     "p50_ms": round(statistics.median(times), 1), "p99_ms": round(times[-1], 1),
                     "p999_ms": round(times[-1], 1), "nodes": system.size, "runs": len(times),
                     "min_ms": round(times[0], 1), "max_ms": round(times[-1], 1)})




class FirstAnswer:
    """The earliest answer time in a growing --trace file among writes invoked
    at or after a time. Reads only what was appended since the last call, so
    polling it while a failover is timed costs the cluster next to nothing."""

    def __init__(self, trace, invoked_from_ms):
        self.file = open(trace)
        self.invoked_from_ms = invoked_from_ms
        self.partial = ""
        self.answered = None

    def __call__(self):
        text = self.partial + self.file.read()
        lines = text.split("\n")
        self.partial = lines.pop()  # a line still being written
        for line in lines:
            if not line.strip():
                continue
            invoked, done = (float(v) for v in line.split())
            if invoked >= self.invoked_from_ms and (self.answered is None or done < self.answered):
                self.answered = done
        return self.answered

    def close(self):
        self.file.close()




def versions():
    out = {}
    for name, cmd in [("etcd", ["etcd", "--version"]), ("zookeeper", ["dpkg-query", "-W", "-f=${Version}", "zookeeper"]),
                      ("synod", ["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])]:
        try:
            out[name] = subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            out[name] = "unknown"
    return out


def floor_rows(bench):
    floor_dir = tempfile.mkdtemp(prefix="floor-")
    result = subprocess.run([os.path.join(bench.build, "bench", "floor"), floor_dir, "1000"], capture_output=True,
                            text=True)
    shutil.rmtree(floor_dir, ignore_errors=True)
    for line in result.stdout.splitlines():
        bench.record(json.loads(line))


def full(args, bench, synod_binary):
    """The comparison: rounds of A B C, then synod alone at 5 and 7 nodes."""
    floor_rows(bench)
    makers = [lambda: Synod(synod_binary), lambda: Etcd(), lambda: ZooKeeper()]
    for round_ in range(args.rounds):
        print(f"round {round_ + 1} of {args.rounds}", flush=True)
        for make in makers:
            system = make()
            try:
                system.start()
                bench.workloads(system, WORKLOADS)
                if round_ == 0:
                    bench.failover(system, signal.SIGKILL, args.failover_runs)
                    bench.failover(system, signal.SIGSTOP, args.failover_runs)
                    # Last: the sessions (leases) it leaves expire over the
                    # next minutes, and etcd revokes them at about 1,000/s.
                    bench.keepalive(system, args.sessions)
            finally:
                system.stop()
    for size in (5, 7):
        system = Synod(synod_binary, size)
        try:
            system.start()
            bench.record(bench.load(system, "lock", 64, args.seconds))
        finally:
            system.stop()


TLS_COST_WORKLOADS = [("lock", 64), ("put", 1)]


def tls_cost(args, bench, synod_binary):
    """synod plain, with TLS, and with TLS and auth, rounds of A B C, the same workloads: what they cost."""
    for round_ in range(args.rounds):
        print(f"round {round_ + 1} of {args.rounds}", flush=True)
        for make in (lambda: Synod(synod_binary), lambda: SynodTls(synod_binary), lambda: SynodTlsAuth(synod_binary)):
            system = make()
            try:
                system.start()
                bench.workloads(system, TLS_COST_WORKLOADS)
            finally:
                system.stop()
    merged = report.median_rows(bench.rows)
    lines = ["TLS on every link, and TLS with auth on, against plain text (medians of the rounds):", ""]
    for workload, clients in TLS_COST_WORKLOADS:
        plain = merged.get(("synod", workload, clients, 3))
        for name in ("synod-tls", "synod-tls-auth"):
            tls = merged.get((name, workload, clients, 3))
            if not plain or not tls:
                continue
            lines.append(f"  {name} {workload} x{clients}: {tls['ops_per_s']:,.0f} vs {plain['ops_per_s']:,.0f} ops/s "
                         f"(x{tls['ops_per_s'] / plain['ops_per_s']:.3f}), p50 {tls['p50_ms']:.3f} vs "
                         f"{plain['p50_ms']:.3f} ms ({tls['p50_ms'] - plain['p50_ms']:+.3f} ms), p99 "
                         f"{tls['p99_ms']:.2f} vs {plain['p99_ms']:.2f} ms, server CPU "
                         f"{tls.get('server_cpu_us_per_op')} vs {plain.get('server_cpu_us_per_op')} us/op")
    return "\n".join(lines)


# (workload, clients, where): one client talks to the leader alone or to a
# follower alone (ZooKeeper's client may land on either, and the two differ),
# 64 clients spread over every node as in the other tables.
ZK_PROTOCOL_WORKLOADS = [("put", 1, "leader"), ("put", 1, "follower"), ("put", 64, None),
                         ("lock", 1, "leader"), ("lock", 1, "follower"), ("lock", 64, None),
                         ("lock-contended", 64, None)]


def zk_protocol_name(workload, where):
    return f"{workload} at the {where}" if where else workload


def zk_protocol(args, bench, synod_binary):
    """ZooKeeper's own protocol and client on both sides (issue 22): zk_load
    against ZooKeeper and against synod's ZooKeeper listener, with synod's
    native HTTP rows beside them for what the listener costs; rounds of
    A B C, the same workloads."""
    for round_ in range(args.rounds):
        print(f"round {round_ + 1} of {args.rounds}", flush=True)
        for make in (lambda: ZooKeeper(), lambda: SynodZk(synod_binary), lambda: Synod(synod_binary)):
            system = make()
            try:
                system.start()
                for workload, clients, where in ZK_PROTOCOL_WORKLOADS:
                    leader = system.leader()
                    node = leader if where == "leader" else next(n for n in system.ids() if n != leader)
                    row = bench.load(system, workload, clients, args.seconds,
                                     endpoints=system.endpoints([node]) if where else None)
                    row.update({"workload": zk_protocol_name(workload, where), "leader": leader})
                    bench.record(row)
            finally:
                system.stop()
    return zk_protocol_table(bench.rows, args.rounds, args.seconds)


def zk_protocol_table(rows, rounds, seconds):
    """zk_protocol's table from its rows (also from a saved rows file)."""
    merged = report.median_rows(rows)
    lines = [f"zk_load against ZooKeeper and against synod's ZooKeeper listener (synod-zk), medians of "
             f"{rounds} round(s), {seconds:g} s each; synod's native HTTP (synod-loadgen) for reference:", "",
             "| workload | clients | ZooKeeper ops/s | ZooKeeper p50 / p99 ms | ZooKeeper CPU us/op "
             "| synod-zk ops/s | synod-zk p50 / p99 ms | synod-zk CPU us/op | synod-zk/ZooKeeper ops "
             "| synod-zk/ZooKeeper p99 | goal (2x, p99 no higher) | synod HTTP ops/s | synod HTTP p50 / p99 ms |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for workload, clients, where in ZK_PROTOCOL_WORKLOADS:
        name = zk_protocol_name(workload, where)
        z, s, h = (merged.get((system, name, clients, 3)) for system in ("zookeeper", "synod-zk", "synod"))

        def cells(row):
            if not row:
                return ["-", "-", "-"]
            cpu = row.get("server_cpu_us_per_op")
            # A round in which nothing finished (a stall) would pass for a
            # median latency: say so beside the throughput.
            stalled = sum(1 for r in rows if (r["system"], r["workload"], r["clients"]) ==
                          (row["system"], row["workload"], row["clients"]) and not r["ops_per_s"])
            note = f" ({stalled} of {row['rounds']} rounds: 0 ops)" if stalled else ""
            return [f"{row['ops_per_s']:,.0f}{note}", f"{row['p50_ms']:.2f} / {row['p99_ms']:.2f}",
                    "-" if cpu is None else f"{cpu:,.0f}"]

        ops_ratio = s["ops_per_s"] / z["ops_per_s"] if z and s and z["ops_per_s"] else None
        p99_ratio = s["p99_ms"] / z["p99_ms"] if z and s and z["p99_ms"] else None
        met = "-" if ops_ratio is None or p99_ratio is None else \
            "met" if ops_ratio >= 2 and p99_ratio <= 1 else "**missed**"
        lines.append(f"| {name} | {clients} | " + " | ".join(cells(z) + cells(s)) +
                     f" | {'-' if ops_ratio is None else f'{ops_ratio:.2f}'}"
                     f" | {'-' if p99_ratio is None else f'{p99_ratio:.2f}'} | {met} | " +
                     " | ".join(cells(h)[:2]) + " |")
    errors = [f"{r['system']} {r['workload']} x{r['clients']}: {r['errors']} errors" for r in rows
              if r.get("errors")]
    if errors:
        lines += ["", "Errors: " + "; ".join(errors)]
    return "\n".join(lines)


def smoke(bench, synod_binary):
    """Each generator for a moment against each system, and zk_load against
    synod's ZooKeeper listener; the problems found."""
    missing = [tool for tool in (Synod.tool, Etcd.tool, ZooKeeper.tool)
               if not os.path.exists(os.path.join(bench.build, "bench", tool))]
    if missing:  # bench/CMakeLists.txt builds them only with their Debian packages
        return [f"not built: {', '.join(missing)} (deploy/install-deps.sh --test installs what they need)"]
    for make in (lambda: Synod(synod_binary), lambda: Etcd(), lambda: ZooKeeper(), lambda: SynodZk(synod_binary)):
        system = make()
        try:
            system.start()
            bench.workloads(system, SMOKE_WORKLOADS)
            bench.keepalive(system, 200)
        finally:
            system.stop()
    return report.smoke_problems(bench.rows)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--smoke", action="store_true")
    parser.add_argument("--tls-cost", action="store_true", help="synod with and without TLS only (issue 19)")
    parser.add_argument("--zookeeper-protocol", action="store_true",
                        help="zk_load against ZooKeeper and against synod's ZooKeeper listener only (issue 22)")
    parser.add_argument("--synod", help="the synod binary (default: BUILD/server/synod)")
    parser.add_argument("--out")
    args = parser.parse_args()
    args.seconds = 1.5 if args.smoke else 5 if args.quick else 15
    args.warmup = 0.5 if args.smoke else 1 if args.quick else 2
    args.rounds = 1 if args.quick else 2
    args.failover_runs = 3 if args.quick else 20
    args.sessions = 10_000 if args.quick else 100_000
    commit = versions()["synod"]
    if not args.out:
        folder = tempfile.mkdtemp(prefix="bench-smoke-") if args.smoke else os.path.join(ROOT, "bench", "results")
        os.makedirs(folder, exist_ok=True)
        args.out = os.path.join(folder, f"{datetime.datetime.utcnow():%Y%m%d-%H%M%S}-{commit}.jsonl")
    bench = Bench(args)
    synod_binary = args.synod or os.path.join(args.build, "server", "synod")
    started = time.time()
    if args.smoke:
        problems = smoke(bench, synod_binary)
        print("\n".join(problems) or "bench smoke: every generator ran every workload")
        sys.exit(1 if problems else 0)
    if args.tls_cost:
        args.rounds = 3
        print(tls_cost(args, bench, synod_binary))
        print(f"\nrows: {args.out}")
        return
    if args.zookeeper_protocol:
        args.seconds = 5 if args.quick else 10
        print(zk_protocol(args, bench, synod_binary))
        print(f"\nrows: {args.out}")
        return
    full(args, bench, synod_binary)
    text = report.tables(bench.rows)
    print()
    print(text)
    command = "bench/compare.sh" + (" --quick" if args.quick else "")
    report.write_results(os.path.join(ROOT, "bench", "RESULTS.md"), text, command, versions(), args,
                         time.time() - started, os.path.relpath(args.out, ROOT))
    print(f"\nrows: {args.out}\nsummary: bench/RESULTS.md")


if __name__ == "__main__":
    main()
