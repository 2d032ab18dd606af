"""A real ZooKeeper 3.8 server for the ZooKeeper tests (differential.py,
test_zkcli.py): Debian's zookeeper package, one standalone server
(ZooKeeperServerMain, as zkServer.sh runs it with a one-server zoo.cfg) on
127.0.0.1, a fresh data folder, no admin server, every four-letter word.

    with StandaloneZooKeeper() as zk:
        zk.addr      # "127.0.0.1:PORT"

The classpath is zkEnv.sh's (/etc/zookeeper/conf, the jar, whose manifest
names its dependencies) plus slf4j-simple, so the server's warnings land in
its log (zookeeper.log in the folder, shown when the test fails).
"""
import os
import shutil
import socket
import subprocess
import tempfile
import time

from pylib.cluster import end_process, free_port

JAR = "/usr/share/java/zookeeper.jar"
CLASSPATH = f"/etc/zookeeper/conf:{JAR}:/usr/share/java/slf4j-simple.jar"
ZKCLI = "/usr/share/zookeeper/bin/zkCli.sh"


def available():
    """None when java and ZooKeeper's jar are installed, else why not."""
    if not shutil.which("java"):
        return "no java on PATH"
    if not os.path.exists(JAR):
        return f"no {JAR} (Debian's zookeeper package)"
    return None


def four_letters(port, word, timeout=2.0):
    """The server's answer to a four-letter word, or "" when it does not answer."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(word.encode())
            out = b""
            while chunk := s.recv(4096):
                out += chunk
            return out.decode(errors="replace")
    except OSError:
        return ""


class StandaloneZooKeeper:
    def __init__(self, keep=False, start_timeout_s=60.0):
        self.dir = tempfile.mkdtemp(prefix="zookeeper-standalone-")
        self.keep = keep or bool(os.environ.get("SYNOD_KEEP_TEST_DIRS"))
        self.port = free_port()
        self.addr = f"127.0.0.1:{self.port}"
        data = os.path.join(self.dir, "data")
        os.makedirs(data)
        config = os.path.join(self.dir, "zoo.cfg")
        with open(config, "w") as f:
            f.write(f"tickTime=2000\ndataDir={data}\nclientPort={self.port}\nclientPortAddress=127.0.0.1\n"
                    "admin.enableServer=false\n4lw.commands.whitelist=*\n")
        self.log_path = os.path.join(self.dir, "zookeeper.log")
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen(
                ["java", "-Xmx256m", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-cp", CLASSPATH,
                 "org.apache.zookeeper.server.ZooKeeperServerMain", config],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL)
        deadline = time.time() + start_timeout_s
        # ruok answers before the server takes sessions; srvr names the mode once it does.
        while "Mode: standalone" not in four_letters(self.port, "srvr", timeout=0.5):
            if self.process.poll() is not None or time.time() > deadline:
                self.close(failed=True)
                raise RuntimeError(f"ZooKeeper did not start on {self.addr} (exit {self.process.poll()})")
            time.sleep(0.05)

    def __enter__(self):
        return self

    def __exit__(self, kind, value, traceback):
        self.close(failed=kind is not None)
        return False

    def close(self, failed=False):
        if self.process.poll() is None:
            end_process(self.process)
        if failed or self.keep:
            print(f"ZooKeeper's folder kept: {self.dir}")
            with open(self.log_path, errors="replace") as f:
                print("--- last lines of ZooKeeper's log ---\n" + "".join(f.readlines()[-25:]), end="")
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
