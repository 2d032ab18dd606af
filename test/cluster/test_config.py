"""Where configuration comes from, and the limits an operator sets (issue 14).

  test_configuration_sources_and_limits
    - flags win over SYNOD_<OPTION> variables, which win over the config file;
      an unknown SYNOD_* variable is a warning, a bad value exit code 2
    - --peers and --clients that cannot work off a single host exit 2
    - limits whose relation fails exit 2, naming the relation
    - a lock-service limit reaches the state machine (--value-bytes-max), and
      a member whose lock-service limits differ is refused at the handshake

Every address is on 127.0.0.1; the off-host names are refused while parsing,
before anything is resolved or dialed.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

from pylib import runner  # noqa: E402
from pylib.cluster import Cluster  # noqa: E402
from pylib.http import request  # noqa: E402


def run(args, env=None, timeout=20):
    result = subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=env)
    return result.returncode, result.stderr.strip()


def environment(**variables):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNOD_")}
    env.update(variables)
    return env


def refused(args, expected, env=None):
    code, message = run(args, env=env)
    assert code == 2 and expected in message, (args, code, message)
    print(f"  exit 2: {message}")


def heartbeat_ms_seen(cluster, node):
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        status = request(cluster.port(node), "GET", "/v1/status")
        if status.status == 200:
            return status.json["timing"]["heartbeat_ms"]
        time.sleep(0.1)
    raise AssertionError(f"node {node} never answered /v1/status")


def check_precedence(cluster):
    config_file = os.path.join(cluster.dir, "synod.conf")
    with open(config_file, "w") as f:
        f.write("heartbeat_ms = 40\n")
    base = cluster.args(1) + ["--config", config_file]
    log = open(cluster.log_path(1), "a")
    for extra, env, expected in [([], environment(), 40),
                                 ([], environment(SYNOD_HEARTBEAT_MS="45", SYNOD_NO_SUCH_OPTION="1"), 45),
                                 (["--heartbeat-ms", "50"], environment(SYNOD_HEARTBEAT_MS="45"), 50)]:
        process = subprocess.Popen(base + extra, stdout=log, stderr=log, env=env)
        try:
            assert heartbeat_ms_seen(cluster, 1) == expected, (extra, env.get("SYNOD_HEARTBEAT_MS"))
        finally:
            process.terminate()
            process.wait(timeout=30)
    log.close()
    assert "warning: ignoring SYNOD_NO_SUCH_OPTION: there is no option --no-such-option" in cluster.log_text(1)
    print("  file 40 < environment 45 < flag 50; an unknown SYNOD_* variable is a warning")


def check_refusals(binary, cluster):
    refused(cluster.args(1), "SYNOD_HEARTBEAT_MS", env=environment(SYNOD_HEARTBEAT_MS="often"))
    data = ["--id", "1", "--data-dir", cluster.dir]
    off_host = "1=synod-1.example:7101,2=synod-2.example:7101,3=synod-3.example:7101"
    refused([binary, *data, "--peers", off_host], "--clients is required")
    refused([binary, *data, "--peers", off_host, "--clients", "1=127.0.0.1:7001,2=synod-2.example:7001,3=synod-3.example:7001"],
            "is on loopback")
    refused([binary, *data, "--peers", "1=0.0.0.0:7101,2=127.0.0.1:7102"], "listen address")
    refused(cluster.args(1) + ["--forward-idle-connections-max", "300"], "must be at most forwards-max (256)")
    refused(cluster.args(1) + ["--body-bytes-max", "1K"], "must hold value-bytes-max")
    refused(cluster.args(1) + ["--batch-bytes-max", "64K"], "must hold the largest command")
    refused(cluster.args(1) + ["--sessions-max", "0"], "want a positive integer")
    # A switch in a file: its value decides, and `false` keeps it off (it
    # used to turn it on), so a plain-text listener off loopback is refused.
    switch_file = os.path.join(cluster.dir, "switch.conf")
    for value, expected in (("false", "in plain text"), ("maybe", "is a switch: true or false")):
        with open(switch_file, "w") as f:
            f.write(f"insecure_plaintext = {value}\n")
        refused(cluster.args(1) + ["--config", switch_file, "--peer-addr", "0.0.0.0:7101"], expected)


def check_documented(binary):
    """Every option with a default in --help is in docs/configuration.md's table, with that default."""
    import re
    help_text = subprocess.run([binary, "--help"], capture_output=True, text=True, check=True).stdout
    docs = open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "configuration.md")).read()
    options = re.findall(r"^  --(\S+)(?: VALUE)?\n      .*\(default (.*)\)$", help_text, re.MULTILINE)
    assert len(options) > 30, options
    for name, default in options:
        assert re.search(rf"^\| `--{re.escape(name)}` \|.*\| {re.escape(default)} \|$", docs, re.MULTILINE), \
            f"docs/configuration.md lacks --{name} with its default {default}"
    print(f"  docs/configuration.md lists all {len(options)} options that have defaults")


def test_configuration_sources_and_limits(binary):
    check_documented(binary)
    with Cluster(3, binary) as cluster:
        check_refusals(binary, cluster)
        check_precedence(cluster)

    # A lock-service limit is the state machine's, on every member alike.
    # Raised past the default (64 KiB), it reaches the API's decoding as well.
    with Cluster(3, binary, extra_args=["--value-bytes-max", "100K"]) as cluster:
        cluster.start_all()
        leader = cluster.leader()
        fits = cluster.put(leader, "big", "v" * (100 << 10))
        assert fits.status == 200, fits
        too_big = cluster.put(leader, "bigger", "v" * ((100 << 10) + 1))
        assert too_big.status == 413, too_big
        print(f"  --value-bytes-max 100K: a 100 KiB value is written, one byte more answers {too_big.status}")

        # A member restarted with other lock-service limits is refused by its peers.
        cluster.kill(3)
        cluster.extra_args += ["--sessions-max", "1000"]
        cluster.start(3)
        deadline = time.monotonic() + 10
        while "runs with another configuration" not in cluster.log_text(1) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "node 3 runs with another configuration" in cluster.log_text(1), cluster.log_text(1)[-2000:]
        _, written = cluster.put_anywhere("still", "served")  # nodes 1 and 2 are a majority
        assert written.status == 200, written
        print("  a member with another --sessions-max is refused at the handshake; the others serve")


if __name__ == "__main__":
    runner.run(globals())
