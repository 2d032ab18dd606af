"""The rolling upgrade from synod 0.1.0 (issue 21), on real processes.

It builds the tag v0.1.0 once (old_build.py; the commit 7227abc when the tag
is missing), starts a 3-node cluster of it on 127.0.0.1, writes keys and
takes a lock under a small load (one writer, one lock taker), and replaces
the members one at a time with the binary under test, on the same data
directory: SIGTERM the old process, start the new one with today's flags.

What it checks, and what an operator sees at each step (docs/operations.md,
"Upgrading"):

  0. Three 0.1.0 members. 0.1.0 has no `synod --version` (it exits 2:
     "unknown option --version") and no `version` object in GET /v1/cluster:
     that absence is how a 0.1.0 member is told apart.
  1. One member upgraded (a follower). The peer protocol went from version 1
     to 2, so the new member and the two old ones refuse each other at the
     handshake, every time one dials the other, with a warning on both sides
     that names both versions: the new one logs "unknown protocol version 1
     (this node speaks version 2)", the old ones "unknown protocol version 2
     (this node speaks version 1)". Nothing is misread: no process exits,
     and no message crosses. The two old members are a majority of one
     protocol: they keep their leader and keep serving. The new member opens
     the old data directory (the log line `storage_migrated from_version=1
     to_version=3`), but cannot catch up: it hears no leader, answers writes
     with 503, and its commit index stays where its data directory left it.
     There is no way back in place: started on that directory again, 0.1.0
     exits 2 ("the store was written in format version 3; this build reads
     version 1 only"), never reading it; the new binary then restarts on it
     without a second migration.
  2. The second member upgraded. From the moment the second old member stops,
     no protocol has a majority, so there is no leader and writes fail (503)
     until the two new members elect one of themselves; then the new majority
     serves, and the first upgraded member catches up (from a snapshot in our runs).
     This is the one step of the three without a quorum: the outage lasts
     from the second SIGTERM until the new pair's election (its length is
     printed, not asserted: 0.4 to 0.8 s here). A write in flight on the
     0.1.0 leader when its follower stops gets no answer within the load's
     3 s timeout (0.1.0 answers it 504 unknown_outcome after 10 s). The
     remaining 0.1.0 member is now the one that is refused and cannot catch
     up.
  3. The last member upgraded: it migrates its data directory, joins and
     catches up.

At the end every acknowledged write is there with its value, on every member,
and the members agree on every key (no divergent data); the lock taken on
0.1.0 before the upgrade is still held by the same session with the same
fencing token; a new grant's token is higher than every token granted before
(on either version); `synod --version` and each member's /v1/cluster report
the new package version (CMake's PROJECT_VERSION), the protocol version the
new members named in their refusals, and the storage format version the
migration named.

Run by ctest as upgrade_rolling_from_v0_1_0 (`long` tier); by hand:

    python3 test/upgrade/test_upgrade.py --binary build/server/synod --source . \
        --cache build/old-v0.1.0 --expect-version 0.2.0 [--jobs 1]

Exit 77 (a skip, never a pass) when the old version cannot be had in this
checkout (no git, or neither the tag nor the commit is in the clone).
"""
import argparse
import collections
import os
import re
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))  # test/, for pylib
sys.path.insert(0, HERE)

from old_build import BuildError, SkipTest, build_old  # noqa: E402
from pylib.cluster import Cluster  # noqa: E402
from pylib.http import request  # noqa: E402
from pylib.wait import until  # noqa: E402

SNAPSHOT_AFTER_SLOTS = "40"  # both versions snapshot and compact often: old snapshots are migrated too
REFUSAL = re.compile(r"unknown protocol version (\d+) \(this node speaks version (\d+)\)")
MIGRATED = re.compile(r"storage_migrated from_version=(\d+) to_version=(\d+)")
VERSION_LINE = re.compile(r"^synod (\S+) \(protocol (\d+), storage format (\d+), snapshot format (\d+), "
                          r"backup format (\d+)\)$")


def step(text):
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


class MixedCluster(Cluster):
    """A cluster whose members run different binaries: node -> path."""

    def __init__(self, old, new):
        super().__init__(3, new, extra_args=["--snapshot-after-slots", SNAPSHOT_AFTER_SLOTS],
                         prefix="synod-upgrade-")
        self.old, self.new = os.path.abspath(old), os.path.abspath(new)
        self.binaries = {node: self.old for node in self.ids()}

    def args(self, node, data_dir=None, cluster_id=None):
        args = super().args(node, data_dir, cluster_id)
        args[0] = self.binaries[node]
        return args

    def upgrade(self, node):
        """SIGTERM the old process (it must exit 0), start the new binary on its data directory.
        Returns the length of the node's log before the new start."""
        code = self.kill(node, signal.SIGTERM)
        assert code == 0, f"the 0.1.0 node {node} exited {code} on SIGTERM"
        since = len(self.log_text(node))
        self.binaries[node] = self.new
        self.start(node)
        return since

    def is_new(self, node):
        return self.binaries[node] == self.new

    def serving_leader(self, among):
        for node in among:
            if not self.up(node):
                continue
            view = self.view(node, timeout=2.0)
            if view and view.get("role") == "leader" and view.get("serving"):
                return node
        return None


class Load:
    """A small load on whichever member leads: one key write, and every fifth
    turn a one-request lock grant (a session of its own) released at once.
    Records every acknowledged write and every granted token."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.acked = {}      # key -> value, answered 200
        self.tokens = []     # fencing tokens granted to the lock taker
        self.failures = collections.Counter()  # "status code" of refused or unanswered operations, and
                                               # "no leader" turns: expected while no protocol has a quorum
        self.last_ack = 0.0  # time.monotonic() of the last acknowledged write
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.leader = None
        self.turn = 0

    def start(self):
        self.thread.start()

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive(), "the load did not stop"

    def find_leader(self):
        with self.cluster.lock:
            running = [n for n in self.cluster.ids() if self.cluster.up(n)]
        self.leader = self.cluster.serving_leader(running)
        return self.leader

    def run(self):
        while not self.stopping.is_set():
            node = self.leader or self.find_leader()
            if node is None:
                self.failures["no leader"] += 1
                time.sleep(0.1)
                continue
            self.turn += 1
            port = self.cluster.port(node)
            if self.turn % 5 == 0:
                ok = self.cycle_lock(port)
            else:
                key, value = f"upgrade/w{self.turn:06d}", f"value-{self.turn}"
                response = request(port, "PUT", f"/v1/kv/{key}", body=value, timeout=3.0)
                ok = response.status == 200
                if ok:
                    self.acked[key] = value
                    self.last_ack = time.monotonic()
                else:
                    self.failures[f"PUT {response.status} {response.code() or response.error}"] += 1
            if not ok:
                self.leader = None
                time.sleep(0.05)
            else:
                time.sleep(0.02)

    def cycle_lock(self, port):
        response = request(port, "POST", "/v1/locks/upgrade-cycle?ttl=10s", timeout=3.0)
        if response.status != 200:
            self.failures[f"lock {response.status} {response.code() or response.error}"] += 1
            return False
        self.tokens.append(response.json["token"])
        request(port, "DELETE", f"/v1/sessions/{response.json['session']}", timeout=3.0)
        return True


def commit_index(cluster, node):
    """The last slot the node knows chosen (its /v1/cluster commit_index), or None."""
    view = cluster.view(node)
    return view["commit_index"] if view else None


def wait_caught_up(cluster, node, leader, timeout=60):
    def caught_up():
        mine, theirs = commit_index(cluster, node), commit_index(cluster, leader)
        return mine is not None and theirs is not None and mine >= theirs
    until(caught_up, timeout, f"node {node} to catch up with the leader {leader}")


def list_keys(cluster, node, prefix="upgrade"):
    """Every key under the prefix on `node`'s replica (a stale, paged listing): key -> (value, modify_index)."""
    out, after = {}, None
    while True:
        path = f"/v1/kv/{prefix}?recurse&stale&limit=500" + (f"&after={after}" if after else "")
        response = request(cluster.port(node), "GET", path, timeout=10.0)
        assert response.status == 200, f"listing on node {node}: {response}"
        keys = response.json["keys"]
        for entry in keys:
            out[entry["key"]] = (entry.get("value"), entry["modify_index"])
        if len(keys) < 500:
            return out
        after = keys[-1]["key"]


def refusals(text):
    """The (seen, own) protocol version pairs of the handshake refusals in a log."""
    return {(int(seen), int(own)) for seen, own in REFUSAL.findall(text)}


def assert_no_exits(cluster):
    exits = cluster.exited_early()
    assert not exits, f"a member exited by itself: {exits}"


def wait_for_refusals(cluster, node, since, want, timeout=30):
    until(lambda: want in refusals(cluster.log_text(node)[since:]), timeout,
          f"node {node} to log 'unknown protocol version {want[0]} (this node speaks version {want[1]})'")


def check_migrated(cluster, node, since):
    until(lambda: MIGRATED.search(cluster.log_text(node)[since:]), 30,
          f"node {node} (new) to migrate the 0.1.0 data directory")
    old, new = (int(v) for v in MIGRATED.search(cluster.log_text(node)[since:]).groups())
    text = cluster.log_text(node)[since:]
    for bad in ("corrupt", "unknown_format_version", "checksum"):
        assert bad not in text, f"node {node}'s log after the upgrade says '{bad}'"
    return old, new


def test_rolling_upgrade_from_v0_1_0(new, old, expect_version):
    timings = {}
    with MixedCluster(old, new) as cluster:
        # ---- 0: three 0.1.0 members ------------------------------------
        old_version = subprocess.run([old, "--version"], capture_output=True, text=True, timeout=30)
        assert old_version.returncode == 2 and "unknown option --version" in old_version.stderr, \
            f"0.1.0 is expected to have no --version: {old_version.returncode} {old_version.stderr[-300:]}"
        cluster.start_all()
        first_leader = cluster.leader(timeout=20)
        view = cluster.view(first_leader)
        assert "version" not in view, f"0.1.0's /v1/cluster has a version object: {view}"
        step(f"0.1.0 cluster up, leader {first_leader}")

        # The lock held across the whole upgrade: a session that cannot expire within the test.
        response = request(cluster.port(first_leader), "POST", "/v1/sessions", body={"ttl": "24h"})
        assert response.status == 200, response
        held_session = response.json["session"]
        response = request(cluster.port(first_leader), "POST", "/v1/locks/upgrade-held",
                           body={"session": held_session})
        assert response.status == 200, response
        held_token = response.json["token"]

        load = Load(cluster)
        load.start()
        until(lambda: len(load.acked) >= 150 and len(load.tokens) >= 20, 60, "the load on 0.1.0")
        assert_no_exits(cluster)

        # ---- 1: one member upgraded (a follower) ------------------------
        first = next(n for n in cluster.ids() if n != first_leader)
        step(f"upgrading node {first} (a follower)")
        since = {n: len(cluster.log_text(n)) for n in cluster.ids()}
        since[first] = cluster.upgrade(first)
        migrated_from, storage_format = check_migrated(cluster, first, since[first])
        assert migrated_from == 1, f"node {first} migrated from version {migrated_from}, want 1 (0.1.0's)"
        olds = [n for n in cluster.ids() if not cluster.is_new(n)]
        # The new member refuses the old ones, naming both versions; they refuse it likewise.
        until(lambda: refusals(cluster.log_text(first)[since[first]:]), 30,
              f"node {first} (new) to refuse a 0.1.0 peer at the handshake")
        (old_protocol, new_protocol), = refusals(cluster.log_text(first)[since[first]:])
        assert old_protocol < new_protocol, (old_protocol, new_protocol)
        for node in olds:
            wait_for_refusals(cluster, node, since[node], (new_protocol, old_protocol))
        # The old majority keeps a leader and serves; the new member sees none and stays behind.
        leader = cluster.leader(timeout=20, exclude=[first])
        assert leader in olds
        stuck = commit_index(cluster, first)
        acked_before = len(load.acked)
        until(lambda: len(load.acked) >= acked_before + 50, 60, "writes on the 0.1.0 majority")
        view = cluster.view(first)
        assert view["role"] != "leader" and not view["serving"] and not view["sees_quorum"], view
        assert view["leader"] is None, f"the upgraded member names a leader it cannot hear: {view}"
        assert commit_index(cluster, first) == stuck, "the upgraded member learned from 0.1.0 peers"
        assert cluster.view(leader)["commit_index"] > stuck
        response = cluster.put(first, "upgrade/on-the-new-minority", "x")
        assert response.status == 503, f"a write on the isolated new member: {response}"
        # In the mixed cluster, /v1/cluster tells the versions apart: only the new member has `version`.
        assert view.get("version", {}).get("protocol") == new_protocol, f"the new member's version: {view}"
        for node in olds:
            assert "version" not in cluster.view(node), f"0.1.0's node {node} reports a version object"
        # No way back in place: 0.1.0 refuses the migrated directory (exit 2, naming the format), never misreads it.
        cluster.kill(first, signal.SIGTERM)
        back = subprocess.run([old, *cluster.args(first)[1:]], capture_output=True, text=True, timeout=60)
        assert back.returncode == 2 and f"format version {storage_format}" in back.stderr, \
            f"0.1.0 on a migrated data directory: exit {back.returncode}, {back.stderr[-500:]}"
        since[first] = len(cluster.log_text(first))
        cluster.start(first)
        until(lambda: "storage_loaded" in cluster.log_text(first)[since[first]:], 30, f"node {first} to restart")
        assert "storage_migrated" not in cluster.log_text(first)[since[first]:], "a second migration"
        until(lambda: commit_index(cluster, first) is not None, 30, f"node {first} to answer again")
        assert commit_index(cluster, first) == stuck, "the restarted upgraded member lost or gained slots"
        assert_no_exits(cluster)
        step(f"step 1: the 0.1.0 pair (leader {leader}) serves; node {first} (new) refused at protocol "
             f"{old_protocol}/{new_protocol}, stuck at commit index {stuck}; 0.1.0 refuses its migrated "
             f"directory: {back.stderr.strip().splitlines()[-1]}")

        # ---- 2: the second member upgraded: the new pair takes over -------
        second = next(n for n in olds if n != leader)
        last_old = leader
        step(f"upgrading node {second} (the other follower); node {last_old} stays on 0.1.0")
        since = {n: len(cluster.log_text(n)) for n in cluster.ids()}
        stopped_at = time.monotonic()
        since[second] = cluster.upgrade(second)
        check_migrated(cluster, second, since[second])
        news = [first, second]
        until(lambda: cluster.serving_leader(news) is not None, 60, "a leader among the two new members",
              pause=0.01)
        timings["leaderless_s"] = time.monotonic() - stopped_at
        leader = cluster.serving_leader(news)
        until(lambda: load.last_ack > stopped_at, 60, "a write acknowledged by the new majority")
        timings["no_write_s"] = load.last_ack - stopped_at
        wait_caught_up(cluster, first, leader)
        wait_caught_up(cluster, second, leader)
        installed = "snapshot_installed" in cluster.log_text(first)[since[first]:]
        wait_for_refusals(cluster, second, since[second], (old_protocol, new_protocol))
        wait_for_refusals(cluster, last_old, since[last_old], (new_protocol, old_protocol))
        stuck = commit_index(cluster, last_old)
        acked_before = len(load.acked)
        until(lambda: len(load.acked) >= acked_before + 50, 60, "writes on the new majority")
        view = cluster.view(last_old)
        assert not view["serving"] and not view["sees_quorum"], f"the lone 0.1.0 member: {view}"
        assert commit_index(cluster, last_old) == stuck, "the 0.1.0 member learned from new peers"
        assert_no_exits(cluster)
        step(f"step 2: the new pair (leader {leader}) serves {timings['leaderless_s']:.1f}s after the second "
             f"SIGTERM (the load's first write acknowledged after {timings['no_write_s']:.1f}s); node {first} "
             f"caught up {'from a snapshot' if installed else 'from the log'}; "
             f"node {last_old} (0.1.0) refused, stuck at commit index {stuck}")

        # ---- 3: the last member upgraded --------------------------------
        step(f"upgrading node {last_old}")
        since_last = cluster.upgrade(last_old)
        check_migrated(cluster, last_old, since_last)
        leader = cluster.leader(timeout=30)
        wait_caught_up(cluster, last_old, leader)
        acked_before = len(load.acked)
        until(lambda: len(load.acked) >= acked_before + 30, 60, "writes on the upgraded cluster")
        load.stop()
        assert_no_exits(cluster)
        step(f"step 3: all three upgraded, leader {leader}; {len(load.acked)} writes and "
             f"{len(load.tokens)} grants acknowledged; refused or unanswered: {dict(load.failures)}")

        # ---- every acknowledged write, on every member; no divergence ----
        for key, value in load.acked.items():
            response = cluster.get(leader, key)
            assert response.status == 200 and response.json["value"] == value, f"{key}: {response}"
        for node in cluster.ids():
            wait_caught_up(cluster, node, leader)
        listings = {node: list_keys(cluster, node) for node in cluster.ids()}
        for node, listing in listings.items():
            assert listing == listings[leader], f"node {node}'s keys differ from the leader {leader}'s"
            for key, value in load.acked.items():
                assert listing.get("/" + key, (None,))[0] == value, f"node {node} lacks {key}={value}"

        # ---- the lock held since 0.1.0, and a new grant's token ----------
        response = request(cluster.port(leader), "GET", "/v1/locks/upgrade-held")
        assert response.status == 200 and response.json["held"], response
        holders = [(h["session"], h["token"]) for h in response.json["holders"]]
        assert holders == [(held_session, held_token)], f"the lock taken on 0.1.0: {holders}"
        response = request(cluster.port(leader), "DELETE", f"/v1/locks/upgrade-held?session={held_session}")
        assert response.status == 200, response
        response = request(cluster.port(leader), "POST", "/v1/locks/upgrade-held?ttl=15s")
        assert response.status == 200, response
        earlier = [held_token, *load.tokens]
        assert response.json["token"] > max(earlier), \
            f"a new grant's token {response.json['token']} is not above every earlier one (max {max(earlier)})"

        # ---- the versions reported ---------------------------------------
        printed = subprocess.run([new, "--version"], capture_output=True, text=True, timeout=30)
        assert printed.returncode == 0, (printed.returncode, printed.stderr[-300:])
        match = VERSION_LINE.match(printed.stdout.strip())
        assert match, f"synod --version printed {printed.stdout!r}"
        package, protocol, storage, snapshot, backup = match.groups()
        assert package == expect_version, f"--version says {package}, CMake's project version is {expect_version}"
        assert int(protocol) == new_protocol, f"--version says protocol {protocol}; the handshake said {new_protocol}"
        assert int(storage) == storage_format, f"--version says storage format {storage}; migration to {storage_format}"
        reported = {"synod": package, "protocol": int(protocol), "storage_format": int(storage),
                    "snapshot_format": int(snapshot), "backup_format": int(backup)}
        for node in cluster.ids():
            view = cluster.view(node)
            assert view.get("version") == reported, f"node {node}'s /v1/cluster version: {view.get('version')}"
        assert_no_exits(cluster)
        step(f"versions: {printed.stdout.strip()}; 0.1.0 spoke protocol {old_protocol} and storage format "
             f"{migrated_from}")
    return timings


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", required=True, help="the synod under test (the new version)")
    parser.add_argument("--source", required=True, help="the git checkout holding the tag")
    parser.add_argument("--cache", required=True, help="where the old version is built, once")
    parser.add_argument("--tag", default="v0.1.0")
    parser.add_argument("--fallback", default="7227abc")
    parser.add_argument("--expect-version", required=True, help="the package version of --binary (PROJECT_VERSION)")
    parser.add_argument("--jobs", type=int, default=None, help="-j of the old build (default 2)")
    parser.add_argument("--launcher", default="", help="CMAKE_CXX_COMPILER_LAUNCHER for the old build")
    parser.add_argument("--cxx", default="", help="CMAKE_CXX_COMPILER for the old build")
    parser.add_argument("--cmake", default="cmake", help="the cmake program for the old build")
    args = parser.parse_args()
    started = time.monotonic()
    try:
        old, _, used, build_s = build_old(os.path.abspath(args.source), os.path.abspath(args.cache), args.tag,
                                          args.fallback, args.jobs, args.launcher, args.cxx, args.cmake)
    except SkipTest as skip:
        print(f"skipped: {skip}")
        return 77
    except BuildError as error:
        print(f"the old version did not build: {error}")
        return 1
    upgrade_started = time.monotonic()
    timings = test_rolling_upgrade_from_v0_1_0(os.path.abspath(args.binary), old, args.expect_version)
    print(f"rolling upgrade from {used}: passed; old build {build_s:.0f}s (0 = cached), upgrade "
          f"{time.monotonic() - upgrade_started:.0f}s, leaderless in step 2 for {timings['leaderless_s']:.1f}s, "
          f"total {time.monotonic() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
