"""A harness for tests on real synod processes, on 127.0.0.1 only.

Cluster starts N `synod` processes with fresh data directories under a
temporary folder and free ports, and offers what the tests need: find the
leader, write and read keys over the HTTP API, kill -9, SIGSTOP/SIGCONT,
SIGTERM and restart nodes, and read their logs. Standard library only.
"""
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time


def free_ports(count):
    """Ports the kernel hands out for port 0 (closed again before use)."""
    sockets, ports = [], []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
        ports.append(s.getsockname()[1])
    for s in sockets:
        s.close()
    return ports


# Set by test/CMakeLists.txt in the sanitizer tree: synod was built with
# AddressSanitizer and UBSan.
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


class Response:
    def __init__(self, status, body, headers):
        self.status = status
        self.raw = body
        self.headers = headers
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return f"<{self.status} {self.raw[:200]!r}>"


def request(port, method, path, body=None, headers=None, timeout=5.0):
    """One HTTP request; a connection error becomes status 0."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return Response(response.status, response.read().decode("utf-8", "replace"), dict(response.getheaders()))
    except (OSError, http.client.HTTPException) as error:
        return Response(0, str(error), {})
    finally:
        connection.close()


class Cluster:
    def __init__(self, size, binary, extra_args=(), keep=False):
        self.size = size
        self.binary = binary
        self.extra_args = list(extra_args)
        self.keep = keep or bool(os.environ.get("SYNOD_KEEP_TEST_DIRS"))
        self.dir = tempfile.mkdtemp(prefix="synod-cluster-")
        ports = free_ports(2 * size)
        self.peer_ports = ports[:size]
        self.client_ports = ports[size:]
        self.processes = {}
        self.logs = {}

    # A test uses `with Cluster(...) as cluster:`: on an exception the
    # processes are killed and the directory and logs are kept and shown.
    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        self.close(failed=kind is not None)
        return False

    # ------------------------------------------------------------ lifecycle
    def ids(self):
        return list(range(1, self.size + 1))

    def args(self, node, data_dir=None, cluster_id="synod"):
        peers = ",".join(f"{i}=127.0.0.1:{self.peer_ports[i - 1]}" for i in self.ids())
        clients = ",".join(f"{i}=127.0.0.1:{self.client_ports[i - 1]}" for i in self.ids())
        return [self.binary, "--id", str(node), "--peers", peers, "--clients", clients,
                "--data-dir", data_dir or self.data_dir(node), "--cluster-id", cluster_id,
                "--log-format", "text"] + self.extra_args

    def data_dir(self, node):
        return os.path.join(self.dir, f"node{node}")

    def log_path(self, node):
        return os.path.join(self.dir, f"node{node}.log")

    def start(self, node):
        log = open(self.log_path(node), "a")
        self.logs[node] = log
        self.processes[node] = subprocess.Popen(self.args(node), stdout=log, stderr=log)

    def start_all(self):
        for node in self.ids():
            self.start(node)

    def running(self, node):
        process = self.processes.get(node)
        return process is not None and process.poll() is None

    def kill(self, node, sig=signal.SIGKILL):
        process = self.processes[node]
        process.send_signal(sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            return process.wait(timeout=30)
        return None

    def pause(self, node):
        self.processes[node].send_signal(signal.SIGSTOP)

    def resume(self, node):
        self.processes[node].send_signal(signal.SIGCONT)

    def close(self, failed=False):
        for node, process in self.processes.items():
            if process.poll() is None:
                self.stop(process)
        for log in self.logs.values():
            log.close()
        reports = self.sanitizer_reports()
        if failed or self.keep or reports:
            print(f"test directory kept: {self.dir}")
            for node in self.ids():
                path = self.log_path(node)
                if os.path.exists(path):
                    with open(path) as f:
                        lines = f.readlines()
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

    @staticmethod
    def stop(process):
        """Kills a process the test left running. A sanitized server gets
        SIGTERM instead, so that it exits on its own and LeakSanitizer runs."""
        with contextlib.suppress(OSError):
            process.send_signal(signal.SIGCONT)
            process.send_signal(signal.SIGTERM if SANITIZED else signal.SIGKILL)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)

    def sanitizer_reports(self):
        """Each node's sanitizer report, with the node named, from every log in the test directory."""
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

    def log_text(self, node):
        with open(self.log_path(node)) as f:
            return f.read()

    # ------------------------------------------------------------ API
    def port(self, node):
        return self.client_ports[node - 1]

    def get_json(self, node, path, timeout=2.0):
        return request(self.port(node), "GET", path, timeout=timeout)

    def cluster_view(self, node):
        response = self.get_json(node, "/v1/cluster")
        return response.json if response.status == 200 else None

    def leader(self, timeout=10.0, exclude=()):
        """The id of a node that leads and serves, as it says itself."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for node in self.ids():
                if node in exclude or not self.running(node):
                    continue
                view = self.cluster_view(node)
                if view and view.get("role") == "leader" and view.get("serving"):
                    return node
            time.sleep(0.02)
        raise AssertionError(f"no serving leader within {timeout}s")

    def put(self, node, key, value, timeout=5.0):
        return request(self.port(node), "PUT", f"/v1/kv/{key}", body=value, timeout=timeout)

    def get(self, node, key, stale=False, timeout=5.0):
        return request(self.port(node), "GET", f"/v1/kv/{key}" + ("?stale" if stale else ""), timeout=timeout)

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
