"""Side-by-side benchmark of synod, etcd and ZooKeeper (issue #8).

Run through bench/compare.sh, which installs and builds what is missing.
Every system runs as a three-node cluster on 127.0.0.1 with fresh data
directories and durable writes on (synod: fsync per batch; etcd: its
default fsync per commit; ZooKeeper: forceSync=yes, its default), driven
by the same workload definitions (bench/loadgen.cpp for synod and etcd's
v3 HTTP gateway, bench/zk_load.cpp for ZooKeeper's C client and lock
recipe). Systems take turns, A B C A B C, and the table shows medians over
the rounds, with ratios synod/etcd and synod/ZooKeeper.

Every row is one JSON line (DESIGN §7) in the output file; the table goes
to stdout and, with versions and the command, to bench/RESULTS.md.
"""
import argparse
import datetime
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "test"))  # for pylib
from pylib.cluster import Cluster, free_ports  # noqa: E402
from pylib.http import request  # noqa: E402


def http_post(port, path, body, timeout=1.0):
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body.encode(), method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def four_letter(port, word, timeout=1.0):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(word.encode())
            chunks = []
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                chunks.append(chunk)
            return b"".join(chunks).decode()
    except OSError:
        return ""


def wait(predicate, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            result = predicate()
        except Exception:  # a node still starting refuses connections
            result = None
        if result:
            return result
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


# ---------------------------------------------------------------- systems

class Synod:
    name = "synod"

    def __init__(self, binary, size=3):
        self.cluster = Cluster(size, binary)
        self.size = size

    def start(self):
        self.cluster.start_all()
        self.cluster.leader(timeout=20)

    def endpoints(self, nodes=None):
        return [f"127.0.0.1:{self.cluster.port(n)}" for n in (nodes or self.cluster.ids())]

    def ids(self):
        return self.cluster.ids()

    def leader(self):
        return self.cluster.leader(timeout=20)

    def pid(self, node):
        return self.cluster.processes[node].pid

    def signal(self, node, sig):
        self.cluster.processes[node].send_signal(sig)
        if sig == signal.SIGKILL:
            self.cluster.processes[node].wait()

    def restart(self, node):
        self.cluster.start(node)

    def healthy(self):
        self.cluster.leader(timeout=20)
        for n in self.cluster.ids():
            wait(lambda n=n: request(self.cluster.port(n), "GET", "/readyz", timeout=2.0).status == 200, 20,
                 f"synod node {n} ready")

    def stop(self):
        self.cluster.close()


class OwnProcesses:
    """etcd and ZooKeeper nodes this script started itself (self.processes by
    node id, start_node to start one again)."""

    def pid(self, node):
        return self.processes[node].pid

    def signal(self, node, sig):
        self.processes[node].send_signal(sig)
        if sig == signal.SIGKILL:
            self.processes[node].wait()

    def restart(self, node):
        self.start_node(node)


class Etcd(OwnProcesses):
    name = "etcd"

    def __init__(self, size=3):
        self.dir = tempfile.mkdtemp(prefix="etcd-compare-")
        ports = free_ports(2 * size)
        self.client_ports, self.peer_ports = ports[:size], ports[size:]
        self.size = size
        self.processes = {}

    def ids(self):
        return list(range(1, self.size + 1))

    def start_node(self, node):
        cluster = ",".join(f"n{i}=http://127.0.0.1:{self.peer_ports[i - 1]}" for i in self.ids())
        args = ["etcd", "--name", f"n{node}", "--data-dir", os.path.join(self.dir, f"n{node}"),
                "--listen-client-urls", f"http://127.0.0.1:{self.client_ports[node - 1]}",
                "--advertise-client-urls", f"http://127.0.0.1:{self.client_ports[node - 1]}",
                "--listen-peer-urls", f"http://127.0.0.1:{self.peer_ports[node - 1]}",
                "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer_ports[node - 1]}",
                "--initial-cluster", cluster, "--initial-cluster-state", "new",
                "--initial-cluster-token", "compare", "--log-level", "error"]
        log = open(os.path.join(self.dir, f"n{node}.log"), "a")
        self.processes[node] = subprocess.Popen(args, stdout=log, stderr=log)

    def start(self):
        for n in self.ids():
            self.start_node(n)
        self.leader()

    def endpoints(self, nodes=None):
        return [f"127.0.0.1:{self.client_ports[n - 1]}" for n in (nodes or self.ids())]

    def status(self, node):
        return http_post(self.client_ports[node - 1], "/v3/maintenance/status", "{}")

    def leader(self):
        def find():
            for n in self.ids():
                if self.processes[n].poll() is not None:
                    continue
                try:
                    status = self.status(n)
                except OSError:
                    continue
                if status.get("leader") and status["leader"] == status["header"]["member_id"]:
                    return n
            return None
        return wait(find, 30, "an etcd leader")

    def healthy(self):
        self.leader()
        for n in self.ids():
            wait(lambda n=n: self.status(n).get("leader"), 30, f"etcd node {n}")

    def stop(self):
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
                process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


class ZooKeeper(OwnProcesses):
    name = "zookeeper"
    CLASSPATH = "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar"

    def __init__(self, size=3):
        self.dir = tempfile.mkdtemp(prefix="zk-compare-")
        ports = free_ports(3 * size)
        self.client_ports, self.quorum_ports, self.election_ports = ports[:size], ports[size:2 * size], ports[2 * size:]
        self.size = size
        self.processes = {}
        for n in self.ids():
            data = os.path.join(self.dir, f"n{n}")
            os.makedirs(data)
            with open(os.path.join(data, "myid"), "w") as f:
                f.write(str(n))
            servers = "\n".join(f"server.{i}=127.0.0.1:{self.quorum_ports[i - 1]}:{self.election_ports[i - 1]}"
                                for i in self.ids())
            with open(os.path.join(self.dir, f"n{n}.cfg"), "w") as f:
                # forceSync defaults to yes: every commit is fsynced.
                f.write(f"tickTime=200\ninitLimit=50\nsyncLimit=25\ndataDir={data}\n"
                        f"clientPort={self.client_ports[n - 1]}\nclientPortAddress=127.0.0.1\n"
                        f"admin.enableServer=false\n4lw.commands.whitelist=srvr\nmaxClientCnxns=0\n"
                        f"{servers}\n")

    def ids(self):
        return list(range(1, self.size + 1))

    def start_node(self, node):
        log = open(os.path.join(self.dir, f"n{node}.log"), "a")
        args = ["java", "-Xmx1g", "-Dzookeeper.log.dir=" + self.dir, "-Dzookeeper.root.logger=WARN,CONSOLE",
                "-cp", self.CLASSPATH, "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                os.path.join(self.dir, f"n{node}.cfg")]
        self.processes[node] = subprocess.Popen(args, stdout=log, stderr=log)

    def start(self):
        for n in self.ids():
            self.start_node(n)
        self.healthy()

    def endpoints(self, nodes=None):
        return [f"127.0.0.1:{self.client_ports[n - 1]}" for n in (nodes or self.ids())]

    def mode(self, node):
        for line in four_letter(self.client_ports[node - 1], "srvr").splitlines():
            if line.startswith("Mode:"):
                return line.split(":", 1)[1].strip()
        return None

    def leader(self):
        return wait(lambda: next((n for n in self.ids() if self.processes[n].poll() is None and
                                  self.mode(n) == "leader"), None), 60, "a ZooKeeper leader")

    def healthy(self):
        self.leader()
        for n in self.ids():
            wait(lambda n=n: self.mode(n) in ("leader", "follower"), 60, f"ZooKeeper node {n}")

    def stop(self):
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
                process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


# -------------------------------------------------------------- workloads

class Bench:
    def __init__(self, args):
        self.args = args
        self.build = args.build
        self.rows = []

    def tool(self, system):
        return os.path.join(self.build, "bench", "zk_load" if system.name == "zookeeper" else "synod-loadgen")

    def load(self, system, workload, clients, seconds, endpoints=None, extra=(), trace=None):
        args = [self.tool(system), "--endpoints", ",".join(endpoints or system.endpoints()),
                "--workload", workload, "--clients", str(clients), "--seconds", str(seconds),
                "--warmup", str(self.args.warmup)]
        if system.name != "zookeeper":
            args += ["--system", system.name, "--nodes", str(system.size)]
        if trace:
            args += ["--trace", trace]
        args += list(extra)
        result = subprocess.run(args, capture_output=True, text=True, timeout=seconds + 600)
        lines = [l for l in result.stdout.splitlines() if l.startswith("{")]
        if not lines:
            raise RuntimeError(f"{system.name} {workload}: no result: {result.stderr[-500:]}")
        row = json.loads(lines[-1])
        row["nodes"] = system.size
        if row.get("errors"):
            sys.stderr.write(f"  {system.name} {workload} x{clients}: {row['errors']} errors: "
                             f"{result.stderr.strip()[-200:]}\n")
        return row

    def record(self, row):
        self.rows.append(row)
        with open(self.args.out, "a") as f:
            f.write(json.dumps(row) + "\n")
        print(f"  {row['system']:<10} {row['workload']:<22} x{row['clients']:<3} {row['ops_per_s']:>10.1f} ops/s"
              f"  p50 {row['p50_ms']:.2f} ms  p99 {row['p99_ms']:.2f} ms", flush=True)

    def workloads(self, system):
        seconds = self.args.seconds
        for workload, clients in [("put", 1), ("put", 64), ("lock", 1), ("lock", 64), ("lock-contended", 64)]:
            self.record(self.load(system, workload, clients, seconds))

    def keepalive(self, system):
        if system.name == "zookeeper":
            return  # ZooKeeper sessions are connections: 100,000 of them is another benchmark
        sessions = self.args.sessions
        leader = system.leader()
        pid = system.pid(leader)
        rss_before = rss_kib(pid)
        # The leader's CPU time, sampled, so that only the measured window
        # counts: opening 100,000 sessions (a commit each) comes before it.
        samples, sampling = [], threading.Event()

        def sample():
            while not sampling.wait(0.2):
                samples.append((time.time(), cpu_seconds(pid)))
        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            row = self.load(system, "keepalive", 64, self.args.seconds, extra=["--sessions", str(sessions)])
        finally:
            sampling.set()
            sampler.join()
        start, end = (t / 1000 for t in row["window_unix_ms"])
        inside = [(t, c) for t, c in samples if start <= t <= end]
        cpu = (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0]) if len(inside) >= 2 else float("nan")
        rss_after = rss_kib(pid)
        row.update({"workload": f"keepalive-{sessions}", "leader_cpu_cores": round(cpu, 3),
                    "leader_rss_mib": round(rss_after / 1024, 1),
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
            # Writers on the surviving nodes; an HTTP request that hangs on
            # the lost leader is given up after 300 ms and tried again.
            tool = subprocess.Popen(
                [self.tool(system), "--endpoints", ",".join(system.endpoints(others)), "--workload", "put",
                 "--clients", "8", "--seconds", "8", "--warmup", "0", "--trace", trace] +
                ([] if system.name == "zookeeper" else ["--system", system.name, "--request-timeout-ms", "300"]),
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(2.5)
            killed_ms = time.time() * 1000
            system.signal(leader, sig)
            # The writers stop once a write invoked after the signal has
            # succeeded (or after their 8 s): waiting out the 8 s every run
            # was most of --quick's time.
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
                sys.stderr.write(f"  {system.name} failover run {run}: no acquire after the kill\n")
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


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


# ------------------------------------------------------------------ table

def median_rows(rows):
    groups = {}
    for row in rows:
        groups.setdefault((row["system"], row["workload"], row["clients"], row["nodes"]), []).append(row)
    merged = {}
    for key, group in groups.items():
        merged[key] = {k: statistics.median([g[k] for g in group]) if isinstance(group[0].get(k), (int, float))
                       and not isinstance(group[0].get(k), bool) else group[0].get(k) for k in group[0]}
        merged[key]["rounds"] = len(group)
    return merged


def table(rows):
    merged = median_rows(rows)
    lines = ["| workload | clients | nodes | synod ops/s | synod p50 / p99 / p99.9 ms | etcd ops/s | etcd p99 ms |"
             " ZooKeeper ops/s | ZooKeeper p99 ms | synod/etcd | synod/ZooKeeper |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    keys = sorted({(w, c, n) for (s, w, c, n) in merged if s != "floor"}, key=lambda k: (k[0], k[2], k[1]))
    for workload, clients, nodes in keys:
        s = merged.get(("synod", workload, clients, nodes))
        e = merged.get(("etcd", workload, clients, nodes))
        z = merged.get(("zookeeper", workload, clients, nodes))
        failover = workload.startswith("failover")

        def ops(row):
            if not row:
                return "-"
            return f"median {row['p50_ms']:.0f} ms, max {row['p99_ms']:.0f} ms" if failover else f"{row['ops_per_s']:,.0f}"

        def p99(row):
            return "-" if not row or failover else f"{row['p99_ms']:.1f}"

        def ratio(a, b):
            if not a or not b:
                return "-"
            if failover:  # lower is better: how many times faster synod recovers
                return f"{b['p50_ms'] / a['p50_ms']:.2f}x faster" if a["p50_ms"] else "-"
            return f"{a['ops_per_s'] / b['ops_per_s']:.2f}" if b["ops_per_s"] else "-"

        synod_lat = "-" if not s else (f"{s['p50_ms']:.2f} / {s['p99_ms']:.2f} / {s['p999_ms']:.2f}"
                                       if not failover else f"{s['p50_ms']:.0f} (median)")
        lines.append(f"| {workload} | {clients} | {nodes} | {ops(s)} | {synod_lat} | {ops(e)} | {p99(e)} | {ops(z)} |"
                     f" {p99(z)} | {ratio(s, e)} | {ratio(s, z)} |")
    floors = [r for (s, *_), r in merged.items() if s == "floor"]
    for f in floors:
        lines.append(f"\nfloor: {f['workload']} p50 {f['p50_ms']:.3f} ms, p99 {f['p99_ms']:.3f} ms")
    for (s, w, c, n), r in merged.items():
        if w.startswith("keepalive"):
            lines.append(f"\n{s} {w}: {r['ops_per_s']:,.0f} renewals/s, leader CPU {r['leader_cpu_cores']} cores"
                         f" while renewing, leader RSS {r['leader_rss_mib']} MiB"
                         f" ({r['leader_rss_bytes_per_session']:,} bytes per session opened)")
    return "\n".join(lines)


def versions(build):
    out = {}
    for name, cmd in [("etcd", ["etcd", "--version"]), ("zookeeper", ["dpkg-query", "-W", "-f=${Version}", "zookeeper"]),
                      ("synod", ["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])]:
        try:
            out[name] = subprocess.run(cmd, capture_output=True, text=True, timeout=10).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            out[name] = "unknown"
    return out


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out")
    args = parser.parse_args()
    args.seconds = 5 if args.quick else 15
    args.warmup = 1 if args.quick else 2
    args.rounds = 1 if args.quick else 2
    args.failover_runs = 3 if args.quick else 20
    args.sessions = 10_000 if args.quick else 100_000
    commit = versions(args.build)["synod"]
    if not args.out:
        os.makedirs(os.path.join(ROOT, "bench", "results"), exist_ok=True)
        args.out = os.path.join(ROOT, "bench", "results",
                                f"{datetime.datetime.utcnow():%Y%m%d-%H%M%S}-{commit}.jsonl")
    bench = Bench(args)
    synod_binary = os.path.join(args.build, "server", "synod")
    started = time.time()
    floor_dir = tempfile.mkdtemp(prefix="floor-")
    result = subprocess.run([os.path.join(args.build, "bench", "floor"), floor_dir, "1000"], capture_output=True,
                            text=True)
    shutil.rmtree(floor_dir, ignore_errors=True)
    for line in result.stdout.splitlines():
        bench.record(json.loads(line))
    makers = [lambda: Synod(synod_binary), lambda: Etcd(), lambda: ZooKeeper()]
    for round_ in range(args.rounds):
        print(f"round {round_ + 1} of {args.rounds}", flush=True)
        for make in makers:  # A B C, then again
            system = make()
            try:
                system.start()
                bench.workloads(system)
                if round_ == 0:
                    bench.keepalive(system)
                    bench.failover(system, signal.SIGKILL, args.failover_runs)
                    bench.failover(system, signal.SIGSTOP, args.failover_runs)
            finally:
                system.stop()
    for size in (5, 7):  # scale: synod alone
        system = Synod(synod_binary, size)
        try:
            system.start()
            bench.record(bench.load(system, "lock", 64, args.seconds))
        finally:
            system.stop()
    text = table(bench.rows)
    print()
    print(text)
    command = "bench/compare.sh" + (" --quick" if args.quick else "")
    vers = versions(args.build)
    with open(os.path.join(ROOT, "bench", "RESULTS.md"), "w") as f:
        f.write(f"# synod beside etcd and ZooKeeper\n\nProduced by `{command}` on "
                f"{datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC in {time.time() - started:.0f} s "
                f"(synod {vers['synod']}, {vers['etcd']}, ZooKeeper {vers['zookeeper']}). "
                "Three nodes of each on one 2-core machine, 127.0.0.1, durable writes on; medians over "
                f"{args.rounds} round(s), systems taking turns. Raw rows: `{os.path.relpath(args.out, ROOT)}`. "
                "Failover rows give the time from the signal to the first write invoked after it that "
                "succeeded (median and maximum over the runs); the ratio there says how many times faster synod "
                "recovers.\n\n")
        f.write(text + "\n")
    print(f"\nrows: {args.out}\nsummary: bench/RESULTS.md")


if __name__ == "__main__":
    main()
