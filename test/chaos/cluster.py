"""Real synod clusters on 127.0.0.1 whose every inter-node link runs through
the fault-injecting proxy (netproxy.py), and the HTTP client the chaos
clients use. Python 3 standard library only.

Node i is started with
  --peer-addr 127.0.0.1:<its real peer port>   --client-addr 127.0.0.1:<its real client port>
  --peers   i=<its real peer port>,   j=<proxy port of peer link i->j> for every j != i
  --clients i=<its real client port>, j=<proxy port of http link i->j> for every j != i
so everything node i sends to node j, Paxos messages and forwarded HTTP
requests alike, crosses the proxy, while the test's own clients talk to every
node's real client port (a client is not partitioned from the nodes; the
nodes are partitioned from each other). Data directories and logs live under
one folder under $TMPDIR/synod-chaos (SYNOD_CHAOS_TMP overrides), removed by close().
"""
import contextlib
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TMP_ROOT = os.environ.get("SYNOD_CHAOS_TMP", os.path.join(tempfile.gettempdir(), "synod-chaos"))


def now_ns():
    """The one clock of a run: every event of every history is stamped with it."""
    return time.monotonic_ns()


def allow_core_files():
    """Nodes inherit it: a crashed node leaves a core file in its folder."""
    import resource
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_CORE)
        resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    except (ValueError, OSError):
        pass


def free_ports(count):
    """Free ports below the kernel's ephemeral range: a node restarted by the
    nemesis binds its ports again, and an outgoing connection (a client's, the
    proxy's) could have taken an ephemeral one in the meantime."""
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


class SetupError(Exception):
    """The cluster could not be started (a port was taken, a node died at once)."""


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


class Cluster:
    def __init__(self, size, binary, seed, extra_args=()):
        self.size = size
        self.binary = binary
        self.extra_args = list(extra_args)
        os.makedirs(TMP_ROOT, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix=f"run-{seed}-", dir=TMP_ROOT)
        ports = free_ports(2 * size)
        self.peer_ports = dict(zip(self.ids(), ports[:size]))
        self.client_ports = dict(zip(self.ids(), ports[size:]))
        self.processes = {}
        self.paused = set()
        self.logs = {}
        self.crashes = {}  # pid -> (node, exit code) of processes that ended by themselves
        self.cwds = {}     # pid -> the folder it ran in
        self.starts = 0
        self.stopped = False  # after stop() nothing starts again (a late nemesis restart)
        self.lock = threading.RLock()
        self.proxy = ProxyProcess(seed)
        self.peer_proxy = {}
        self.http_proxy = {}
        for i in self.ids():
            for j in self.ids():
                if i == j:
                    continue
                self.peer_proxy[(i, j)] = self.proxy.call(op="link", name=f"peer{i}-{j}", target=self.peer_ports[j],
                                                          fwd=[i, j], back=[i, j])["port"]
                self.http_proxy[(i, j)] = self.proxy.call(op="link", name=f"http{i}-{j}",
                                                          target=self.client_ports[j], fwd=[i, j], back=[j, i])["port"]

    def ids(self):
        return list(range(1, self.size + 1))

    # ------------------------------------------------------------ processes
    def args(self, node):
        peers = ",".join(f"{j}=127.0.0.1:{self.peer_ports[j] if j == node else self.peer_proxy[(node, j)]}"
                         for j in self.ids())
        clients = ",".join(f"{j}=127.0.0.1:{self.client_ports[j] if j == node else self.http_proxy[(node, j)]}"
                           for j in self.ids())
        return [self.binary, "--id", str(node), "--peers", peers, "--clients", clients,
                "--peer-addr", f"127.0.0.1:{self.peer_ports[node]}",
                "--client-addr", f"127.0.0.1:{self.client_ports[node]}",
                "--data-dir", self.data_dir(node), "--cluster-id", "chaos", "--log-format", "text"] + self.extra_args

    def data_dir(self, node):
        return os.path.join(self.dir, f"node{node}")

    def log_path(self, node):
        return os.path.join(self.dir, f"node{node}.log")

    def note_exit(self, node):
        process = self.processes.get(node)
        if process is not None and process.poll() is not None and process.returncode != -signal.SIGKILL:
            self.crashes.setdefault(process.pid, (node, process.returncode))

    def start(self, node):
        with self.lock:
            if self.stopped or self.running(node):
                return
            self.note_exit(node)
            log = self.logs.get(node)
            if log is None:
                log = self.logs[node] = open(self.log_path(node), "a")
            log.write(f"==== chaos: starting node {node} ====\n")
            log.flush()
            # Each start runs in a folder of its own, where a crash leaves its core
            # file (core_pattern "core"), for the backtrace in the results.
            self.starts += 1
            cwd = os.path.join(self.dir, f"proc-{node}-{self.starts}")
            os.makedirs(cwd, exist_ok=True)
            process = subprocess.Popen(self.args(node), stdout=log, stderr=log, stdin=subprocess.DEVNULL, cwd=cwd)
            self.cwds[process.pid] = cwd
            self.processes[node] = process
            self.paused.discard(node)
            self.proxy.call(op="watch", pid=process.pid, tag=self.data_dir(node))

    def start_all(self):
        for node in self.ids():
            self.start(node)

    def running(self, node):
        process = self.processes.get(node)
        return process is not None and process.poll() is None

    def up(self, node):
        """Running and not stopped: can answer."""
        return self.running(node) and node not in self.paused

    def kill(self, node):
        with self.lock:
            process = self.processes.get(node)
            if process is None or process.poll() is not None:
                self.note_exit(node)
                return None
            with contextlib.suppress(OSError):
                process.send_signal(signal.SIGKILL)
            self.paused.discard(node)
            code = process.wait(timeout=30)
            self.proxy.call(op="unwatch", pid=process.pid)
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

    # ------------------------------------------------------------ network
    def set_pair(self, a, b, mode="pass", delay_ms=0, jitter_ms=0, reset_prob=0.0):
        """Messages from node a to node b: pass, cut or blackhole, with delay and resets."""
        self.proxy.call(op="pair", pair=[a, b], mode=mode, delay_ms=delay_ms, jitter_ms=jitter_ms,
                        reset_prob=reset_prob)

    def heal(self):
        self.proxy.call(op="heal")

    # ------------------------------------------------------------ views
    def view(self, node, timeout=0.5):
        response = request(self.client_ports[node], "GET", "/v1/cluster", timeout=timeout)
        return response.json if response.status == 200 else None

    def leader(self, timeout=0.0):
        """A node that says it leads and serves, or None."""
        deadline = time.monotonic() + timeout
        while True:
            for node in self.ids():
                if not self.up(node):
                    continue
                v = self.view(node)
                if v and v.get("role") == "leader" and v.get("serving"):
                    return node
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.05)

    def stop(self):
        """Kills every node (the folder stays until close)."""
        with self.lock:
            self.stopped = True
            for node, process in self.processes.items():
                if process.poll() is None:
                    with contextlib.suppress(OSError):
                        process.send_signal(signal.SIGCONT)
                        process.kill()
                    process.wait(timeout=30)
            for log in self.logs.values():
                log.close()
            self.logs = {}
        self.proxy.close()

    def close(self, keep_logs_to=None):
        self.stop()
        if keep_logs_to:
            os.makedirs(keep_logs_to, exist_ok=True)
            for node in self.ids():
                with contextlib.suppress(OSError):
                    shutil.copy(self.log_path(node), os.path.join(keep_logs_to, f"node{node}.log"))
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------- HTTP
class Response:
    __slots__ = ("status", "raw", "headers", "json", "error", "sent", "node")

    def __init__(self, status, raw=b"", headers=None, error=None, sent=True):
        self.status = status
        self.raw = raw
        self.headers = headers or {}
        self.error = error
        self.sent = sent
        self.node = None
        self.json = None
        if raw:
            try:
                self.json = json.loads(raw)
            except ValueError:
                pass

    def code(self):
        """The error code of an error answer."""
        try:
            return self.json["error"]["code"]
        except (TypeError, KeyError):
            return None

    def header(self, name):
        return self.headers.get(name.lower())

    def __repr__(self):
        return f"<{self.status} {self.error or self.raw[:160]!r}>"


def request(port, method, path, body=None, headers=None, timeout=5.0):
    """One request on a fresh connection; a connection error is status 0."""
    client = Http()
    try:
        return client.call(port, method, path, body=body, headers=headers, timeout=timeout)
    finally:
        client.close()


class Http:
    """Keep-alive connections of one client thread, one per port.

    status 0 means no HTTP answer: `sent` is False only when the connection
    could not even be opened (the request certainly did not arrive)."""

    def __init__(self):
        self.connections = {}

    def call(self, port, method, path, body=None, headers=None, timeout=5.0):
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        connection = self.connections.get(port)
        if connection is None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
            try:
                connection.connect()
            except OSError as error:
                connection.close()
                return Response(0, error=f"connect: {error}", sent=False)
            self.connections[port] = connection
        else:
            connection.timeout = timeout
            if connection.sock is not None:
                connection.sock.settimeout(timeout)
        try:
            connection.request(method, path, body=body, headers=headers or {})
            answer = connection.getresponse()
            raw = answer.read()
            result = Response(answer.status, raw, {k.lower(): v for k, v in answer.getheaders()})
            if answer.will_close:
                self.drop(port)
            return result
        except (OSError, http.client.HTTPException) as error:
            self.drop(port)
            return Response(0, error=f"{type(error).__name__}: {error}")

    def drop(self, port):
        connection = self.connections.pop(port, None)
        if connection is not None:
            connection.close()

    def close(self):
        for port in list(self.connections):
            self.drop(port)


class EventStream:
    """A server-sent-event stream read by the calling thread, line by line."""

    def __init__(self, port, path, headers=None, timeout=3.0):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.status = 0
        self.response = None
        try:
            self.connection.request("GET", path, headers=headers or {})
            self.response = self.connection.getresponse()
            self.status = self.response.status
        except (OSError, http.client.HTTPException):
            self.close()

    def events(self, stop):
        """Yields (id, type, data dict) until the stream ends or stop is set.

        synod sends a heartbeat comment every 10 s, so a read timeout longer
        than that means the node is gone or stopped: the stream ends. Another
        thread ends a blocked read with close()."""
        if self.status != 200:
            return
        event = {}
        while not stop.is_set():
            try:
                line = self.response.readline()
            except (OSError, http.client.HTTPException, ValueError):
                return
            if not line:
                return
            line = line.decode("utf-8", "replace").rstrip("\r\n")
            if line == "":
                if "data" in event:
                    try:
                        data = json.loads(event["data"])
                    except ValueError:
                        data = {"unparsed": event["data"]}
                    yield event.get("id"), event.get("event"), data
                event = {}
            elif line.startswith(":"):
                continue
            else:
                field, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                event[field] = event.get(field, "") + value if field == "data" else value

    def close(self):
        with contextlib.suppress(Exception):
            if self.connection.sock:
                self.connection.sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            self.connection.close()
