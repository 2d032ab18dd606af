"""Local clusters of real synod processes on 127.0.0.1, for the process tests.

Cluster starts N `synod` processes with fresh data directories under one
temporary folder and free ports, and offers what the tests need: find the
leader, write and read keys over the HTTP API, kill (-9 or another signal),
SIGSTOP/SIGCONT, restart nodes, and read their logs. Node i's log is
node<i>.log in the folder, appended to by every start of it; each start runs
in a folder of its own (proc-<node>-<n>), where a crash leaves its core file.

A test writes `with Cluster(...) as cluster:`; on an exception the processes
are killed and the folder is kept and the logs' last lines are shown
(SYNOD_KEEP_TEST_DIRS=1 keeps it always). The chaos suite's clusters, whose
links cross a fault-injecting proxy, are proxied.ProxiedCluster.

Thread use: the nemesis restarts, kills and pauses nodes while client threads
ask for the leader, so every change of the process table holds `lock`.
"""
import contextlib
import os
import random
import re
import resource
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

from pylib.http import request


# Set by test/CMakeLists.txt in the sanitizer tree (not SYNOD_*: synod reads
# those as options): synod was built with AddressSanitizer and UBSan.
SANITIZED = bool(os.environ.get("SANITIZED_SYNOD"))

# The first line of an AddressSanitizer, LeakSanitizer or UBSan report. With
# ASAN_OPTIONS=abort_on_error=1 and -fno-sanitize-recover the process dies
# after its report, but a test may not notice a dead follower, so every log is
# searched when a cluster closes.
SANITIZER_REPORT = re.compile(r"ERROR: (Address|Leak)Sanitizer|runtime error:|AddressSanitizer:DEADLYSIGNAL|"
                              r"SUMMARY: \w+Sanitizer")


def sanitizer_report(text):
    """The sanitizer report in `text` (from its first line, at most 60 lines), or None."""
    match = SANITIZER_REPORT.search(text)
    if match is None:
        return None
    start = text.rfind("\n", 0, match.start()) + 1
    return "\n".join(text[start:].splitlines()[:60])


def end_process(process):
    """Ends a process a test left running: SIGKILL, or for a sanitized synod
    SIGTERM, so that it exits on its own and LeakSanitizer runs."""
    with contextlib.suppress(OSError):
        process.send_signal(signal.SIGCONT)  # a stopped process acts on SIGTERM once it runs
        process.send_signal(signal.SIGTERM if SANITIZED else signal.SIGKILL)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)


def free_ports(count):
    """Free ports below the kernel's ephemeral range: a restarted node binds
    its ports again, and an outgoing connection (a client's, the proxy's)
    could have taken an ephemeral one in the meantime."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            ephemeral_low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768
    rng = random.Random()
    sockets, ports = [], []
    while len(ports) < count:
        port = rng.randrange(10000, max(10001, ephemeral_low))
        if port in ports:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            s.close()
            continue
        sockets.append(s)
        ports.append(port)
    for s in sockets:
        s.close()
    return ports


def free_port():
    return free_ports(1)[0]


def allow_core_files():
    """Nodes inherit it: a crashed node leaves a core file in its folder."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
        resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    except (ValueError, OSError):
        pass


class SetupError(Exception):
    """The cluster could not be started (a port was taken, a node died at once)."""


class Cluster:
    def __init__(self, size, binary, extra_args=(), keep=False, cluster_id="synod", root=None,
                 prefix="synod-cluster-", zookeeper=False):
        self.size = size
        self.binary = os.path.abspath(binary)  # each start runs in a folder of its own
        self.extra_args = list(extra_args)
        self.cluster_id = cluster_id
        self.keep = keep or bool(os.environ.get("SYNOD_KEEP_TEST_DIRS"))
        if root:
            os.makedirs(root, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix=prefix, dir=root)
        ports = free_ports((3 if zookeeper else 2) * size)
        self.peer_ports = ports[:size]    # node i listens on peer_ports[i - 1]
        self.client_ports = ports[size:2 * size]  # and serves clients on client_ports[i - 1]
        # With `zookeeper`, node i also speaks ZooKeeper's protocol on zk_ports[i - 1].
        self.zk_ports = ports[2 * size:]
        self.processes = {}
        self.paused = set()
        self.logs = {}
        self.crashes = {}  # pid -> (node, exit code) of processes that ended by themselves
        self.signalled = set()  # pids that kill() ended: their exits are no crash
        self.cwds = {}     # pid -> the folder it ran in
        self.starts = 0
        self.stopped = False  # after stop() nothing starts again (a late nemesis restart)
        self.lock = threading.RLock()
        self.ssl_context = None  # HTTPS to the client ports (pylib/tls.py's TlsCluster)

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        self.close(failed=kind is not None)
        return False

    # ------------------------------------------------------------ addresses
    def ids(self):
        return list(range(1, self.size + 1))

    def port(self, node):
        """Node's client (HTTP API) port."""
        return self.client_ports[node - 1]

    def peer_port(self, node):
        return self.peer_ports[node - 1]

    def peer_port_for(self, node, other):
        """The port `node` dials to reach `other`'s peer port (a proxy may stand between)."""
        return self.peer_port(other)

    def client_port_for(self, node, other):
        """The port `node` forwards HTTP requests to for `other`."""
        return self.port(other)

    def zk_addr(self, node):
        """Node's ZooKeeper listener, "127.0.0.1:PORT" (the cluster was made with zookeeper=True)."""
        return f"127.0.0.1:{self.zk_ports[node - 1]}"

    def zk_hosts(self, nodes=None):
        """A ZooKeeper connect string for `nodes` (all by default): "127.0.0.1:P1,127.0.0.1:P2,..."."""
        return ",".join(self.zk_addr(node) for node in (nodes or self.ids()))

    def listen_args(self, node):
        """Flags for the node's own listening addresses when --peers/--clients do not give them."""
        return []

    def args(self, node, data_dir=None, cluster_id=None):
        peers = ",".join(f"{j}=127.0.0.1:{self.peer_port_for(node, j)}" for j in self.ids())
        clients = ",".join(f"{j}=127.0.0.1:{self.client_port_for(node, j)}" for j in self.ids())
        return [self.binary, "--id", str(node), "--peers", peers, "--clients", clients, *self.listen_args(node),
                "--data-dir", data_dir or self.data_dir(node), "--cluster-id", cluster_id or self.cluster_id,
                "--log-format", "text"] + self.zk_args(node) + self.extra_args

    def zk_args(self, node):
        return ["--zookeeper-addr", self.zk_addr(node)] if self.zk_ports else []

    def data_dir(self, node):
        return os.path.join(self.dir, f"node{node}")

    def log_path(self, node):
        return os.path.join(self.dir, f"node{node}.log")

    def log_text(self, node):
        with open(self.log_path(node)) as f:
            return f.read()

    # ------------------------------------------------------------ processes
    def start(self, node):
        """Starts the node unless it runs, or the cluster was stopped."""
        with self.lock:
            if self.stopped or self.running(node):
                return
            self.note_exit(node)
            log = self.logs.get(node)
            if log is None:
                log = self.logs[node] = open(self.log_path(node), "a")
            log.write(f"==== test: starting node {node} ====\n")
            log.flush()
            self.starts += 1
            cwd = os.path.join(self.dir, f"proc-{node}-{self.starts}")
            os.makedirs(cwd, exist_ok=True)
            process = subprocess.Popen(self.args(node), stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=cwd)
            self.cwds[process.pid] = cwd
            self.processes[node] = process
            self.paused.discard(node)
            self.started(node, process)

    def started(self, node, process):
        """Called with the lock held after each start."""

    def ended(self, node, process):
        """Called with the lock held after kill() ended the process."""

    def start_all(self):
        for node in self.ids():
            self.start(node)

    def running(self, node):
        process = self.processes.get(node)
        return process is not None and process.poll() is None

    def up(self, node):
        """Running and not SIGSTOPped: can answer."""
        return self.running(node) and node not in self.paused

    def kill(self, node, sig=signal.SIGKILL):
        """Sends the signal; for SIGKILL and SIGTERM waits for the exit and
        returns its code. None when the node was not running."""
        with self.lock:
            process = self.processes.get(node)
            if process is None or process.poll() is not None:
                self.note_exit(node)
                return None
            if sig not in (signal.SIGKILL, signal.SIGTERM):
                process.send_signal(sig)
                return None
            self.signalled.add(process.pid)
            with contextlib.suppress(OSError):
                process.send_signal(sig)
                if node in self.paused:
                    process.send_signal(signal.SIGCONT)  # a stopped process acts on SIGTERM once it runs
            self.paused.discard(node)
            code = process.wait(timeout=30)
            self.ended(node, process)
            return code

    def pause(self, node):
        with self.lock:
            if self.running(node):
                self.processes[node].send_signal(signal.SIGSTOP)
                self.paused.add(node)

    def resume(self, node):
        with self.lock:
            if self.running(node):
                self.processes[node].send_signal(signal.SIGCONT)
            self.paused.discard(node)

    def note_exit(self, node):
        process = self.processes.get(node)
        if process is None or process.poll() is None or process.pid in self.signalled:
            return
        if process.returncode != -signal.SIGKILL:
            self.crashes.setdefault(process.pid, (node, process.returncode))

    def exited_early(self):
        """Nodes that ended by themselves (never killed by us): a crash or an assertion."""
        with self.lock:
            for node in self.ids():
                self.note_exit(node)
            out = []
            for pid, (node, code) in self.crashes.items():
                core = os.path.join(self.cwds.get(pid, ""), "core")
                out.append({"pid": pid, "node": node, "code": code, "core": core if os.path.exists(core) else None})
            return out

    def stop(self):
        """Kills every node (the folder stays until close)."""
        with self.lock:
            self.stopped = True
            for process in self.processes.values():
                if process.poll() is None:
                    end_process(process)
            for log in self.logs.values():
                log.close()
            self.logs = {}

    def sanitizer_reports(self):
        """The sanitizer report of each log in the folder (the nodes' and any
        other process's a test logged there), named by its file."""
        reports = []
        for name in sorted(os.listdir(self.dir)):
            path = os.path.join(self.dir, name)
            if not name.endswith(".log") or not os.path.isfile(path):
                continue
            with open(path, errors="replace") as f:
                report = sanitizer_report(f.read())
            if report:
                reports.append(f"--- {name} ---\n{report}")
        return reports

    def close(self, failed=False, keep_logs_to=None):
        """Stops the nodes; copies their logs to keep_logs_to if given; keeps
        the folder and shows the logs' ends if the test failed, else removes it.
        A sanitizer report in a log fails the test (AssertionError), and keeps
        the folder too."""
        self.stop()
        reports = self.sanitizer_reports()
        if keep_logs_to:
            os.makedirs(keep_logs_to, exist_ok=True)
            for node in self.ids():
                with contextlib.suppress(OSError):
                    shutil.copy(self.log_path(node), os.path.join(keep_logs_to, f"node{node}.log"))
        if failed or self.keep or reports:
            print(f"test directory kept: {self.dir}")
            for node in self.ids():
                if os.path.exists(self.log_path(node)):
                    lines = self.log_text(node).splitlines(keepends=True)
                    print(f"--- last lines of node {node}'s log ---")
                    print("".join(lines[-25:]), end="")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        if reports:
            text = "a sanitizer report in a server's log:\n" + "\n".join(reports)
            if failed:
                print(text)  # the test's own failure propagates; the report is shown beside it
            else:
                raise AssertionError(text)

    # ------------------------------------------------------------ API
    def view(self, node, timeout=2.0):
        """The node's GET /v1/cluster, or None."""
        response = request(self.port(node), "GET", "/v1/cluster", timeout=timeout, ssl_context=self.ssl_context)
        return response.json if response.status == 200 else None

    def leader_or_none(self, timeout=0.0, exclude=(), view_timeout=2.0, poll_s=0.02):
        """A node that says it leads and serves, or None after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            for node in self.ids():
                if node in exclude or not self.up(node):
                    continue
                view = self.view(node, timeout=view_timeout)
                if view and view.get("role") == "leader" and view.get("serving"):
                    return node
            if time.monotonic() >= deadline:
                return None
            time.sleep(poll_s)

    def leader(self, timeout=10.0, exclude=()):
        """The id of a node that leads and serves, as it says itself; raises after `timeout`."""
        node = self.leader_or_none(timeout, exclude)
        if node is None:
            raise AssertionError(f"no serving leader within {timeout}s")
        return node

    def followers(self, leader):
        return [n for n in self.ids() if n != leader and self.running(n)]

    def put(self, node, key, value, timeout=5.0):
        return request(self.port(node), "PUT", f"/v1/kv/{key}", body=value, timeout=timeout,
                       ssl_context=self.ssl_context)

    def get(self, node, key, stale=False, timeout=5.0):
        return request(self.port(node), "GET", f"/v1/kv/{key}" + ("?stale" if stale else ""), timeout=timeout,
                       ssl_context=self.ssl_context)

    def put_anywhere(self, key, value, timeout=15.0):
        """Writes through whichever node leads; retries retryable errors."""
        deadline = time.time() + timeout
        last = None
        while time.time() < deadline:
            try:
                node = self.leader(timeout=max(0.1, deadline - time.time()))
            except AssertionError:
                break
            last = self.put(node, key, value)
            if last.status == 200:
                return node, last
            time.sleep(0.02)
        raise AssertionError(f"write of {key} did not succeed in {timeout}s: {last}")


@contextlib.contextmanager
def running_cluster(binary, size=3, extra_args=()):
    """A started cluster with a serving leader, closed (and kept on failure) at the end."""
    with Cluster(size, binary, extra_args=extra_args) as cluster:
        cluster.start_all()
        cluster.leader(timeout=15)
        yield cluster
