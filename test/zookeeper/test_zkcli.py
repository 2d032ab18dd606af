#!/usr/bin/env python3
"""ZooKeeper's own shell against synod (issue 22): zkCli.sh from Debian's
zookeeper package, in scripted mode (one command per run:
`zkCli.sh -server 127.0.0.1:PORT create /zkcli hello`), on a 3-node cluster's
ZooKeeper listeners, each command on the next node in turn.

  test_zkcli.py --binary build/server/synod
  test_zkcli.py --zookeeper-real      # the same steps on a real ZooKeeper 3.8 (to check them)

Each step checks the exit status and exactly what the shell printed: its
stdout after the connection banner, and its stderr without SLF4J's notes
("Created /zkcli" and the errors go to stderr). Stat output (get -s, stat)
is checked field by field, the zxids and times by their relations. One step
feeds commands on stdin (the shell's non-interactive loop): an ephemeral node
lives as long as that shell's session, and is gone for the next one.

Exit 0: every step passed; 1: a step failed (each is printed); 77 (ctest:
skipped): no java or no zookeeper jar.
"""
import argparse
import os
import re
import subprocess
import sys
import time
from datetime import datetime

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

import real_zookeeper  # noqa: E402
from pylib.cluster import Cluster  # noqa: E402
from pylib.wait import until  # noqa: E402
from zkwire import Wire  # noqa: E402

BANNER_END = "WatchedEvent state:SyncConnected type:None path:null\n"


def stat_of(text):
    """The `key = value` lines of a Stat, as zkCli prints them."""
    return dict(line.split(" = ", 1) for line in text.splitlines() if " = " in line)


def check_stat(text, want):
    """Fields that must read `want`; zxids that rise as they should; times that parse."""
    stat, problems = stat_of(text), []
    for key, value in want.items():
        if stat.get(key) != value:
            problems.append(f"{key} = {stat.get(key)!r}, want {value!r}")
    try:
        czxid, mzxid, pzxid = (int(stat[k], 16) for k in ("cZxid", "mZxid", "pZxid"))
        if not (0 < czxid <= mzxid and czxid <= pzxid):
            problems.append(f"zxids out of order: cZxid {czxid:#x}, mZxid {mzxid:#x}, pZxid {pzxid:#x}")
        for key in ("ctime", "mtime"):
            datetime.strptime(re.sub(r" [A-Z]{2,5} ", " ", stat[key]), "%a %b %d %H:%M:%S %Y")
    except (KeyError, ValueError) as error:
        problems.append(f"unreadable Stat ({error!r}) in {text!r}")
    return problems


def stat_step(lead, want):
    """A checker for stdout: `lead` lines (the data), then a Stat with fields `want`."""
    def check(out):
        lines = out.splitlines(keepends=True)
        head = "".join(lines[:len(lead)])
        problems = [] if head == "".join(line + "\n" for line in lead) else [f"data {head!r}, want {lead!r}"]
        return problems + check_stat("".join(lines[len(lead):]), want)
    return check


FILE_STAT = {"dataVersion": "1", "cversion": "2", "aclVersion": "0", "ephemeralOwner": "0x0",
             "dataLength": "5", "numChildren": "2"}

# (command, exit status, stdout (text, or a checker returning problems), stderr)
STEPS = [
    ("create /zkcli hello", 0, "", "Created /zkcli\n"),
    ("create /zkcli again", 1, "", "Node already exists: /zkcli\n"),
    ("create /zkcli/child c1", 0, "", "Created /zkcli/child\n"),
    ("create -s /zkcli/seq- s", 0, "", "Created /zkcli/seq-0000000001\n"),
    ("create /no/such/parent x", 1, "", "Node does not exist: /no/such/parent\n"),
    ("ls /zkcli", 0, "[child, seq-0000000001]\n", ""),
    ("ls /", 0, "[zkcli, zookeeper]\n", ""),
    ("get /zkcli", 0, "hello\n", ""),
    ("set /zkcli world", 0, "", ""),
    ("get -s /zkcli", 0, stat_step(["world"], FILE_STAT), ""),
    ("stat /zkcli", 0, stat_step([], FILE_STAT), ""),
    ("ls -s /zkcli", 0, stat_step(["[child, seq-0000000001]"], FILE_STAT), ""),
    ("set -v 5 /zkcli x", 1, "", "version No is not valid : /zkcli\n"),
    ("set -v 1 /zkcli again", 0, "", ""),
    ("get /zkcli", 0, "again\n", ""),
    ("getAcl /zkcli", 0, "'world,'anyone\n: cdrwa\n", ""),
    ("sync /zkcli", 0, "Sync is OK\n", ""),
    ("delete /zkcli", 1, "", "Node not empty: /zkcli\n"),
    ("delete -v 3 /zkcli/child", 1, "", "version No is not valid : /zkcli/child\n"),
    ("delete /zkcli/child", 0, "", ""),
    ("stat /nope", 1, "", "Node does not exist: /nope\n"),
    ("get /nope", 1, "", "Node does not exist: /nope\n"),
    ("ls /zkcli", 0, "[seq-0000000001]\n", ""),
]

# On stdin, one session: its ephemeral node is there while it lives.
SESSION = "create -e /zkcli/eph e\nls /zkcli\nget /zkcli/eph\nquit\n"
SESSION_OUT = "[eph, seq-0000000001]\ne\n"
AFTER_SESSION = [
    ("ls /zkcli", 0, "[seq-0000000001]\n", ""),  # the ephemeral went with its session
    ("create -c /zkcli/box b", 0, "", "Created /zkcli/box\n"),  # createContainer
    ("create /zkcli/box/in i", 0, "", "Created /zkcli/box/in\n"),
    ("ls -R /zkcli", 0, "/zkcli\n/zkcli/box\n/zkcli/seq-0000000001\n/zkcli/box/in\n", ""),
    ("deleteall /zkcli", 0, "", ""),  # ZKUtil.deleteRecursive: getChildren, then multis of deletes
    ("ls /", 0, "[zookeeper]\n", ""),
]


def run_zkcli(addr, args, stdin=None):
    """(exit status, stdout after the banner, stderr without SLF4J's lines)."""
    done = subprocess.run([real_zookeeper.ZKCLI, "-server", addr, *args], input=stdin, capture_output=True,
                          text=True, timeout=120)
    out = done.stdout.split(BANNER_END, 1)[1] if BANNER_END in done.stdout else done.stdout
    err = "".join(line for line in done.stderr.splitlines(keepends=True) if not line.startswith("SLF4J"))
    return done.returncode, out, err


def run_steps(addrs):
    failures, count = [], 0
    for command, want_rc, want_out, want_err in STEPS + [("<stdin session>", None, None, None)] + AFTER_SESSION:
        addr = addrs[count % len(addrs)]
        count += 1
        if command == "<stdin session>":
            rc, out, err = run_zkcli(addr, [], stdin=SESSION)
            # Without jline the shell prints the welcome lines, then the commands' output.
            out = out.split("JLine support is disabled\n", 1)[-1]
            problems = [] if (rc, err) == (0, "Created /zkcli/eph\n") else [f"exit {rc}, stderr {err!r}"]
            if not out.startswith(SESSION_OUT):
                problems.append(f"stdout {out!r}, want {SESSION_OUT!r} first")
        else:
            rc, out, err = run_zkcli(addr, command.split())
            problems = [] if rc == want_rc else [f"exit {rc}, want {want_rc}"]
            if callable(want_out):
                problems += want_out(out)
            elif out != want_out:
                problems.append(f"stdout {out!r}, want {want_out!r}")
            if err != want_err:
                problems.append(f"stderr {err!r}, want {want_err!r}")
        print(f"{'FAIL' if problems else 'ok  '} {addr} {command}")
        for problem in problems:
            print(f"       {problem}")
        if problems:
            failures.append(command)
    return count, failures


def serves(addr):
    try:
        Wire(addr, io_timeout_s=3.0).drop()
        return True
    except (OSError, ConnectionError):
        return False


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", help="the synod server")
    parser.add_argument("--zookeeper-real", action="store_true", help="run the steps on a real ZooKeeper")
    args = parser.parse_args()
    missing = real_zookeeper.available() or (not os.path.exists(real_zookeeper.ZKCLI) and f"no {real_zookeeper.ZKCLI}")
    if missing:
        print(f"test_zkcli: skipped: {missing}")
        return 77
    if not args.binary and not args.zookeeper_real:
        parser.error("--binary or --zookeeper-real is required")
    started = time.time()
    if args.zookeeper_real:
        with real_zookeeper.StandaloneZooKeeper() as zk:
            count, failures = run_steps([zk.addr])
    else:
        with Cluster(3, args.binary, zookeeper=True, prefix="synod-zkcli-") as cluster:
            cluster.start_all()
            cluster.leader(timeout=30)
            for node in cluster.ids():
                until(lambda: serves(cluster.zk_addr(node)), 30, f"node {node}'s ZooKeeper listener")
            count, failures = run_steps([cluster.zk_addr(node) for node in cluster.ids()])
            if failures:
                cluster.keep = True
    print(f"test_zkcli: {count} zkCli.sh runs, {len(failures)} failed, in {time.time() - started:.1f}s")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
