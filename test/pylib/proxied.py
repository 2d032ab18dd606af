"""A Cluster whose every inter-node link runs through the fault-injecting
proxy (netproxy.py, a child process): the chaos suite's clusters.

Node i is started with
  --peer-addr 127.0.0.1:<its real peer port>   --client-addr 127.0.0.1:<its real client port>
  --peers   i=<its real peer port>,   j=<proxy port of peer link i->j> for every j != i
  --clients i=<its real client port>, j=<proxy port of http link i->j> for every j != i
so everything node i sends to node j, Paxos messages and forwarded HTTP
requests alike, crosses the proxy, while the test's own clients talk to every
node's real client port (a client is not partitioned from the nodes; the
nodes are partitioned from each other). Data directories and logs live under
one folder under $TMPDIR/synod-chaos (SYNOD_CHAOS_TMP overrides).

The proxy is also the watchdog: every started node is registered with it, and
when the proxy's stdin closes (this process ended, however) it kills them.
"""
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading

from pylib.cluster import Cluster, SetupError

HERE = os.path.dirname(os.path.abspath(__file__))
TMP_ROOT = os.environ.get("SYNOD_CHAOS_TMP", os.path.join(tempfile.gettempdir(), "synod-chaos"))


class ProxyProcess:
    """The netproxy.py child, one JSON line per command and per answer."""

    def __init__(self, seed):
        env = dict(os.environ, SYNOD_CHAOS_PROXY_SEED=str(seed))
        self.process = subprocess.Popen([sys.executable, os.path.join(HERE, "netproxy.py")], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=env, text=True, bufsize=1)
        self.lock = threading.Lock()

    def call(self, **message):
        with self.lock:
            self.process.stdin.write(json.dumps(message) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        if not line:
            raise SetupError("the proxy process ended")
        answer = json.loads(line)
        if "error" in answer:
            raise SetupError(f"proxy: {answer['error']}")
        return answer

    def close(self):
        with contextlib.suppress(Exception):
            self.call(op="quit")
        with contextlib.suppress(Exception):
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class ProxiedCluster(Cluster):
    def __init__(self, size, binary, seed, extra_args=()):
        super().__init__(size, binary, extra_args=extra_args, cluster_id="chaos", root=TMP_ROOT,
                         prefix=f"run-{seed}-")
        self.proxy = ProxyProcess(seed)
        self.peer_proxy = {}  # (i, j) -> the proxy port node i dials for node j's peer port
        self.http_proxy = {}  # (i, j) -> the proxy port node i forwards HTTP to for node j
        for i in self.ids():
            for j in self.ids():
                if i == j:
                    continue
                self.peer_proxy[(i, j)] = self.proxy.call(op="link", name=f"peer{i}-{j}", target=self.peer_port(j),
                                                          fwd=[i, j], back=[i, j])["port"]
                self.http_proxy[(i, j)] = self.proxy.call(op="link", name=f"http{i}-{j}", target=self.port(j),
                                                          fwd=[i, j], back=[j, i])["port"]

    def peer_port_for(self, node, other):
        return self.peer_port(other) if other == node else self.peer_proxy[(node, other)]

    def client_port_for(self, node, other):
        return self.port(other) if other == node else self.http_proxy[(node, other)]

    def listen_args(self, node):
        return ["--peer-addr", f"127.0.0.1:{self.peer_port(node)}", "--client-addr", f"127.0.0.1:{self.port(node)}"]

    def started(self, node, process):
        self.proxy.call(op="watch", pid=process.pid, tag=self.data_dir(node))

    def ended(self, node, process):
        self.proxy.call(op="unwatch", pid=process.pid)

    def leader_or_none(self, timeout=0.0, exclude=(), view_timeout=0.5, poll_s=0.05):
        return super().leader_or_none(timeout, exclude, view_timeout, poll_s)

    # ------------------------------------------------------------ network
    def set_pair(self, a, b, mode="pass", delay_ms=0, jitter_ms=0, reset_prob=0.0):
        """Messages from node a to node b: pass, cut or blackhole, with delay and resets."""
        self.proxy.call(op="pair", pair=[a, b], mode=mode, delay_ms=delay_ms, jitter_ms=jitter_ms,
                        reset_prob=reset_prob)

    def heal(self):
        self.proxy.call(op="heal")

    def stop(self):
        super().stop()
        self.proxy.close()
