"""What the kazoo process tests share (test_kazoo_recipes.py, _watches.py, _sessions.py).

The target: a 3-node synod cluster with a ZooKeeper listener on each node
(--binary PATH), or, to prove the checks themselves, a real ZooKeeper
ensemble from Debian's zookeeper package (--zookeeper-real, 3 servers
unless --zookeeper-size says otherwise). Both answer the same questions:
ids(), addr(node), hosts(nodes), leader(), kill(node) (SIGKILL), start(node),
pause(node) and resume(node) (SIGSTOP, SIGCONT).

The runner runs each check of a module in a thread of its own with a time
bound, records its failure and goes on, so one run reports every failing
check; a check past its bound fails ("did not finish"), with its threads'
stacks. A watchdog ends the whole process (nodes killed) past --total-timeout.
Exit 0 when every check passed, 1 when one failed, 77 (ctest: skipped) when
kazoo is not importable (Debian's python3-kazoo) or, with --zookeeper-real,
when Java or ZooKeeper's jar is missing.
"""
import argparse
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

try:
    from kazoo.client import KazooClient
except ImportError as error:
    print(f"skipped: kazoo is not importable ({error}); install Debian's python3-kazoo")
    sys.exit(77)

from pylib.cluster import Cluster, end_process, free_ports  # noqa: E402
from pylib.wait import until  # noqa: E402

ZOOKEEPER_CLASSPATH = "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-simple.jar"


# ------------------------------------------------------------ targets

def serves(addr, timeout=3.0):
    """True when a ZooKeeper session opens on `addr` alone and reads /."""
    client = KazooClient(hosts=addr, timeout=timeout, connection_retry=dict(max_tries=0))
    try:
        client.start(timeout=timeout)
        client.exists("/")
        return True
    except Exception:
        return False
    finally:
        stop_quietly(client)


class SynodTarget:
    """A 3-node synod cluster (pylib.cluster.Cluster) with --zookeeper-addr on every node."""
    name = "synod"
    linearizable = True  # every read, on every node (issue 22): stronger than ZooKeeper

    def __init__(self, binary, size=3, prefix="synod-kazoo-"):
        self.cluster = Cluster(size, binary, zookeeper=True, prefix=prefix)
        self.cluster.start_all()
        self.cluster.leader(timeout=30)
        for node in self.ids():
            until(lambda: serves(self.addr(node)), 30, f"node {node}'s ZooKeeper listener to serve")

    def ids(self):
        return self.cluster.ids()

    def addr(self, node):
        return self.cluster.zk_addr(node)

    def hosts(self, nodes=None):
        return self.cluster.zk_hosts(nodes)

    def leader(self):
        return self.cluster.leader(timeout=30)

    def kill(self, node):
        self.cluster.kill(node)

    def pause(self, node):
        self.cluster.pause(node)

    def resume(self, node):
        self.cluster.resume(node)

    def start(self, node):
        self.cluster.start(node)
        until(lambda: serves(self.addr(node)), 60, f"node {node}'s ZooKeeper listener to serve again")

    def close(self, failed):
        self.cluster.close(failed=failed)


class ZooKeeperTarget:
    """A real ZooKeeper ensemble (QuorumPeerMain, Debian's jar) on 127.0.0.1, for developing the checks."""
    name = "zookeeper"
    linearizable = False  # a server may answer a read before it applied another's acknowledged write

    def __init__(self, size=3):
        if not shutil.which("java") or not os.path.exists(ZOOKEEPER_CLASSPATH.split(":")[0]):
            print("skipped: --zookeeper-real needs java and /usr/share/java/zookeeper.jar (Debian's zookeeper)")
            sys.exit(77)
        self.size = size
        self.dir = tempfile.mkdtemp(prefix="zookeeper-kazoo-")
        ports = free_ports(3 * size)
        self.client_ports, quorum, election = ports[:size], ports[size:2 * size], ports[2 * size:]
        self.processes = {}
        for node in self.ids():
            data = os.path.join(self.dir, f"zk{node}")
            os.makedirs(data)
            with open(os.path.join(data, "myid"), "w") as f:
                f.write(f"{node}\n")
            lines = ["tickTime=2000", "initLimit=10", "syncLimit=5", f"dataDir={data}",
                     f"clientPort={self.client_ports[node - 1]}", "clientPortAddress=127.0.0.1",
                     "admin.enableServer=false", "4lw.commands.whitelist=srvr,ruok"]
            if size > 1:
                lines += [f"server.{j}=127.0.0.1:{quorum[j - 1]}:{election[j - 1]}" for j in self.ids()]
            with open(self.config(node), "w") as f:
                f.write("\n".join(lines) + "\n")
        for node in self.ids():
            self.spawn(node)
        for node in self.ids():
            until(lambda: self.mode(node) is not None, 60, f"ZooKeeper server {node} to serve")

    def config(self, node):
        return os.path.join(self.dir, f"zk{node}.cfg")

    def spawn(self, node):
        log = open(os.path.join(self.dir, f"zk{node}.log"), "a")
        self.processes[node] = subprocess.Popen(
            ["java", "-Xmx256m", "-cp", ZOOKEEPER_CLASSPATH, "org.apache.zookeeper.server.quorum.QuorumPeerMain",
             self.config(node)], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        log.close()

    def four_letters(self, node, word):
        try:
            with socket.create_connection(("127.0.0.1", self.client_ports[node - 1]), timeout=2) as s:
                s.sendall(word)
                out = b""
                while chunk := s.recv(4096):
                    out += chunk
                return out.decode()
        except OSError:
            return ""

    def mode(self, node):
        """"leader", "follower" or "standalone" while the server serves, else None."""
        for line in self.four_letters(node, b"srvr").splitlines():
            if line.startswith("Mode: "):
                return line.split()[1]
        return None

    def ids(self):
        return list(range(1, self.size + 1))

    def addr(self, node):
        return f"127.0.0.1:{self.client_ports[node - 1]}"

    def hosts(self, nodes=None):
        return ",".join(self.addr(node) for node in (nodes or self.ids()))

    def leader(self):
        found = []
        until(lambda: found.extend(n for n in self.ids() if self.mode(n) in ("leader", "standalone")) or found,
              30, "a ZooKeeper leader")
        return found[0]

    def kill(self, node):
        self.processes[node].send_signal(signal.SIGCONT)
        self.processes[node].kill()
        self.processes[node].wait(timeout=30)

    def pause(self, node):
        self.processes[node].send_signal(signal.SIGSTOP)

    def resume(self, node):
        self.processes[node].send_signal(signal.SIGCONT)

    def start(self, node):
        self.spawn(node)
        until(lambda: self.mode(node) is not None, 60, f"ZooKeeper server {node} to serve again")

    def close(self, failed):
        for process in self.processes.values():
            if process.poll() is None:
                end_process(process)
        if failed or os.environ.get("SYNOD_KEEP_TEST_DIRS"):
            print(f"ZooKeeper directory kept: {self.dir}")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


# ------------------------------------------------------------ clients and threads

def stop_quietly(client):
    try:
        client.stop()
    except Exception:
        pass
    try:
        client.close()
    except Exception:
        pass


class Check:
    """One check's context: its target, its root path and the clients it opened (stopped at its end)."""

    def __init__(self, target, name):
        self.target = target
        self.name = name
        self.root = "/" + name  # a round after the first has its own: name-ROUND
        self.clients = []
        self.children = []

    def child(self, path, timeout_s, hosts=None):
        """A ChildClient (a kazoo client in a process of its own) holding the ephemeral `path`."""
        child = ChildClient(hosts or self.target.hosts(), path, timeout_s)
        self.children.append(child)
        return child

    def client(self, hosts=None, timeout=10.0, start=True, **kwargs):
        """A KazooClient on `hosts` (every node by default) that retries its connection without end."""
        kwargs.setdefault("connection_retry", dict(max_tries=-1, delay=0.05, max_delay=1.0))
        client = KazooClient(hosts=hosts or self.target.hosts(), timeout=timeout, **kwargs)
        self.clients.append(client)
        if start:
            client.start(timeout=30)
        return client

    def close(self):
        for child in self.children:
            child.end()
        for client in self.clients:
            stop_quietly(client)


def run_threads(functions, timeout, what="worker"):
    """Runs each function in a thread of its own; raises the first one's
    exception, or an AssertionError naming those that did not finish in `timeout` s."""
    errors = [None] * len(functions)

    def body(i, function):
        try:
            function()
        except BaseException as error:  # noqa: B902 - reported to the caller
            errors[i] = (error, traceback.format_exc())

    threads = [threading.Thread(target=body, args=(i, f), daemon=True, name=f"{what}-{i}")
               for i, f in enumerate(functions)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    hung = [thread.name for thread in threads if thread.is_alive()]
    for error in errors:
        if error is not None:
            print(error[1], end="")
            raise error[0]
    if hung:
        raise AssertionError(f"{', '.join(hung)} did not finish within {timeout}s")


def child_stacks():
    """Every thread's stack, for a check that did not finish."""
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    out = []
    for ident, frame in sys._current_frames().items():
        out.append(f"--- thread {names.get(ident, ident)} ---\n" + "".join(traceback.format_stack(frame)))
    return "\n".join(out)


# ------------------------------------------------------------ the runner

class NotRun(Exception):
    """Raised by a check that does not apply to this target (reported SKIP, not PASS)."""


def parse_args(module_doc, names, default_check_timeout, default_total_timeout):
    parser = argparse.ArgumentParser(description=module_doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    target_group = parser.add_mutually_exclusive_group()
    target_group.add_argument("--binary", help="synod: run against a 3-node cluster of it")
    target_group.add_argument("--zookeeper-real", action="store_true",
                              help="run against a real ZooKeeper ensemble (Debian's zookeeper package)")
    parser.add_argument("--zookeeper-size", type=int, default=3, help="servers of the real ensemble")
    parser.add_argument("--rounds", type=int, default=1, help="run the checks this many times over (long runs)")
    parser.add_argument("--check-timeout", type=float, default=default_check_timeout, help="seconds per check")
    parser.add_argument("--total-timeout", type=float, default=default_total_timeout, help="seconds for the run")
    parser.add_argument("--list", action="store_true", help="print the checks and exit")
    parser.add_argument("checks", nargs="*", metavar="CHECK", help="run only these (default: all)")
    args = parser.parse_args()
    unknown = [name for name in args.checks if name not in names]
    if not args.list and (unknown or not (args.binary or args.zookeeper_real)):
        parser.error(f"unknown check {unknown}" if unknown else "--binary or --zookeeper-real is required")
    return args


def run_check(check, function, timeout):
    """Runs one check in a thread of its own; returns None when it passed, else (error, details)."""
    outcome = {}

    def body():
        try:
            function(check)
            outcome["ok"] = True
        except BaseException as error:  # noqa: B902 - reported by the caller
            outcome["error"] = (f"{type(error).__name__}: {error}", traceback.format_exc())

    thread = threading.Thread(target=body, daemon=True, name=f"check-{check.name}")
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return f"did not finish within {timeout}s", child_stacks()
    check.close()
    return None if "ok" in outcome else outcome["error"]


def main(module_doc, checks, default_check_timeout=60.0, default_total_timeout=600.0):
    """`checks`: (name, function(check)) in the order they run. Returns the exit code."""
    args = parse_args(module_doc, [name for name, _ in checks], default_check_timeout, default_total_timeout)
    if args.list:
        print("\n".join(name for name, _ in checks))
        return 0
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(threadName)s %(name)s: %(message)s")
    selected = [(name, fn) for name, fn in checks if not args.checks or name in args.checks]
    started = time.monotonic()
    target = SynodTarget(os.path.abspath(args.binary)) if args.binary else ZooKeeperTarget(args.zookeeper_size)
    print(f"target: {target.name}, {len(target.ids())} nodes, ZooKeeper at {target.hosts()} "
          f"(ready in {time.monotonic() - started:.1f}s)", flush=True)

    def watchdog():
        print(f"FAIL: the run took more than {args.total_timeout}s; stacks:\n{child_stacks()}", flush=True)
        target.close(failed=True)
        os._exit(1)

    timer = threading.Timer(args.total_timeout, watchdog)
    timer.daemon = True
    timer.start()
    failures, hung, runs, skipped = [], False, 0, 0
    try:
        for round_ in range(1, args.rounds + 1):
            for name, function in selected:
                label = name if args.rounds == 1 else f"{name} (round {round_})"
                check = Check(target, name if round_ == 1 else f"{name}-{round_}")
                t0 = time.monotonic()
                failure = run_check(check, function, args.check_timeout)
                runs += 1
                if failure is None:
                    print(f"PASS {label} ({time.monotonic() - t0:.1f}s)", flush=True)
                    continue
                if failure[0].startswith("NotRun: "):
                    skipped += 1
                    print(f"SKIP {label}: {failure[0][len('NotRun: '):]}", flush=True)
                    continue
                hung |= failure[0].startswith("did not finish")
                failures.append((label, failure[0]))
                print(f"FAIL {label} ({time.monotonic() - t0:.1f}s): {failure[0]}\n{failure[1]}", flush=True)
    finally:
        timer.cancel()
        target.close(failed=bool(failures) or sys.exc_info()[0] is not None)
    print(f"{runs - len(failures) - skipped} of {runs} checks passed on {target.name}"
          f"{f' ({skipped} not run)' if skipped else ''} in {time.monotonic() - started:.1f}s")
    for label, error in failures:
        print(f"  FAIL {label}: {error}")
    code = 1 if failures else 0
    if hung:  # a hung check's threads may never end: leave without waiting for them
        sys.stdout.flush()
        os._exit(code)
    return code


class ChildClient:
    """A kazoo client in a process of its own (this file run with --child), so
    a test can SIGKILL or SIGSTOP it: its connection closes without a
    closeSession, or stays open and falls silent. It opens a session, creates
    the ephemeral `path`, prints "session ID PASSWORD-HEX", then each state
    change as "state NAME"."""

    def __init__(self, hosts, path, timeout_s):
        self.process = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--child", hosts, path,
                                         str(timeout_s)], stdout=subprocess.PIPE, text=True)
        self.lines = []
        self.changed = threading.Condition()
        threading.Thread(target=self.read, daemon=True).start()
        line = self.wait_for(lambda line: line.startswith("session "), 30, "the child's session")
        _, session, password = line.split()
        self.session_id, self.password = int(session), bytes.fromhex(password)

    def read(self):
        for line in self.process.stdout:
            with self.changed:
                self.lines.append(line.strip())
                self.changed.notify_all()

    def wait_for(self, predicate, timeout, what):
        with self.changed:
            ok = self.changed.wait_for(lambda: any(predicate(line) for line in self.lines), timeout)
            assert ok, f"the child client printed no {what} within {timeout}s: {self.lines}"
            return next(line for line in self.lines if predicate(line))

    def signal(self, sig):
        self.process.send_signal(sig)

    def end(self):
        self.process.send_signal(signal.SIGCONT)
        self.process.kill()
        self.process.wait(timeout=30)


def child_main(hosts, path, timeout_s):
    client = KazooClient(hosts=hosts, timeout=timeout_s, connection_retry=dict(max_tries=-1, delay=0.05, max_delay=1.0))
    client.add_listener(lambda state: print("state", state, flush=True))
    client.start(timeout=30)
    client.create(path, b"", ephemeral=True, makepath=True)
    session, password = client.client_id
    print("session", session, password.hex(), flush=True)
    while True:
        time.sleep(1)


def run(module_doc, checks, **kwargs):
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # ctest's timeout: close the target on the way out
    sys.exit(main(module_doc, checks, **kwargs))


if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    child_main(sys.argv[2], sys.argv[3], float(sys.argv[4]))
