"""The three systems bench/compare.py sets side by side, each as a local
cluster on 127.0.0.1 with fresh data and durable writes on: synod (fsync per
batch), etcd (its default fsync per commit) and ZooKeeper (forceSync=yes, its
default). Each class starts and stops its cluster, finds the leader, signals
and restarts a member (the failover rows), names its members' pids (server
CPU per operation) and names the load generator that drives it natively:
synod-loadgen (keep-alive HTTP), etcd_load (gRPC) and zk_load (ZooKeeper's
asynchronous C client), all built from bench/. SynodZk is synod behind its
ZooKeeper listener, driven by zk_load like ZooKeeper.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "test"))  # for pylib
from pylib.cluster import Cluster, free_ports  # noqa: E402
from pylib.http import request  # noqa: E402
from pylib.auth import as_root, give_root_token  # noqa: E402
from pylib.tls import TlsCluster  # noqa: E402


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
    tool = "synod-loadgen"

    def __init__(self, binary, size=3):
        self.cluster = Cluster(size, binary)
        self.size = size

    def start(self):
        self.cluster.start_all()
        self.cluster.leader(timeout=20)

    def tool_args(self):
        """The load generator's flags this cluster needs beyond the workload's."""
        return []

    def endpoints(self, nodes=None):
        return [f"127.0.0.1:{self.cluster.port(n)}" for n in (nodes or self.cluster.ids())]

    def ids(self):
        return self.cluster.ids()

    def leader(self):
        return self.cluster.leader(timeout=20)

    def pid(self, node):
        return self.cluster.processes[node].pid

    def pids(self):
        return [self.pid(n) for n in self.ids() if self.cluster.running(n)]

    def signal(self, node, sig):
        self.cluster.processes[node].send_signal(sig)
        if sig == signal.SIGKILL:
            self.cluster.processes[node].wait()

    def restart(self, node):
        self.cluster.start(node)

    def healthy(self):
        self.cluster.leader(timeout=20)
        for n in self.cluster.ids():
            wait(lambda n=n: request(self.cluster.port(n), "GET", "/readyz", timeout=2.0,
                                     ssl_context=self.cluster.ssl_context).status == 200, 20,
                 f"synod node {n} ready")

    def stop(self):
        self.cluster.close()


class SynodZk(Synod):
    """synod with its ZooKeeper listener on every node (issue 22, --zookeeper-addr),
    driven by zk_load: the same binary, C client and lock recipe as ZooKeeper's
    rows, pointed at the listeners' ports."""
    name = "synod-zk"
    tool = "zk_load"

    def __init__(self, binary, size=3):
        self.cluster = Cluster(size, binary, zookeeper=True)
        self.size = size

    def endpoints(self, nodes=None):
        return [self.cluster.zk_addr(n) for n in (nodes or self.cluster.ids())]


BENCH_ROOT_TOKEN = "synod_bench_root_token_0123456789abcdef"


class SynodTls(Synod):
    """synod with HTTPS on the client ports and mutual TLS between peers
    (issue 19), the load generator on keep-alive HTTPS connections."""
    name = "synod-tls"

    def __init__(self, binary, size=3):
        self.cluster = TlsCluster(size, binary)
        self.size = size

    def tool_args(self):
        return ["--cacert", self.cluster.ca_file]


class OwnProcesses:
    """etcd and ZooKeeper nodes this script started itself (self.processes by
    node id, start_node to start one again)."""

    def pid(self, node):
        return self.processes[node].pid

    def pids(self):
        return [p.pid for p in self.processes.values() if p.poll() is None]

    def start(self):
        for n in self.ids():
            self.start_node(n)
        self.healthy()

    def endpoints(self, nodes=None):
        return [f"127.0.0.1:{self.client_ports[n - 1]}" for n in (nodes or self.ids())]

    def stop(self):
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGCONT)
                process.kill()
                process.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def signal(self, node, sig):
        self.processes[node].send_signal(sig)
        if sig == signal.SIGKILL:
            self.processes[node].wait()

    def restart(self, node):
        self.start_node(node)


class Etcd(OwnProcesses):
    name = "etcd"
    tool = "etcd_load"

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


class ZooKeeper(OwnProcesses):
    name = "zookeeper"
    tool = "zk_load"
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



class SynodTlsAuth(SynodTls):
    """synod-tls with auth on: every request carries a token that a rule
    allows (write on every lock, key and election, and its own sessions), so
    each command is judged in the state machine and each read where served."""
    name = "synod-tls-auth"

    def __init__(self, binary, size=3):
        super().__init__(binary, size)
        give_root_token(self.cluster, BENCH_ROOT_TOKEN)
        self.token = None

    def as_root(self, method, path, body=None):
        """The answer's JSON once root's request succeeds at the leader."""
        answer = as_root(self.cluster, BENCH_ROOT_TOKEN, method, path, body)
        if answer is None or answer.status != 200:
            raise RuntimeError(f"{method} {path} as root: {answer}")
        return answer.json or {}

    def start(self):
        super().start()
        self.token = self.as_root("POST", "/v1/auth/tokens", {"principal": "bench"})["token"]
        for space in ("locks", "keys", "elections", "sessions"):
            self.as_root("POST", "/v1/auth/rules", {"subject": "user:bench", "space": space, "prefix": "",
                                                   "permission": "write"})
        self.as_root("POST", "/v1/auth/enable")

    def tool_args(self):
        return super().tool_args() + ["--token", self.token]
