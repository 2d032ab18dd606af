"""Backup and restore on real processes (issue 21): GET /v1/snapshot through
`synodctl snapshot save` while a writer keeps writing, `synodctl snapshot
inspect`, and `synod restore` into a new 3-node cluster that holds exactly
the backup's revision, keeps fencing tokens rising, and refuses the old
cluster's members. Damaged files are refused with a sentence, and nothing is
written.

Run one: python3 test/ops/test_backup.py --binary build/server/synod --synodctl build/cli/synodctl NAME
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

from pylib import runner  # noqa: E402
from pylib.cluster import Cluster, running_cluster  # noqa: E402
from pylib.http import Http, call  # noqa: E402
from pylib.wait import until  # noqa: E402

KEYS = 40  # the writer cycles over these, so a later write overwrites an earlier one


def synodctl(cluster, *words, check=True):
    endpoints = ",".join(f"127.0.0.1:{cluster.port(n)}" for n in cluster.ids())
    done = subprocess.run([os.environ["SYNODCTL"], "--endpoints", endpoints, *words], capture_output=True, text=True,
                          timeout=120)
    if check:
        assert done.returncode == 0, (words, done.returncode, done.stdout, done.stderr)
    return done


def new_session(port, ttl="60s"):
    r = call(port, "POST", "/v1/sessions", {"ttl": ttl, "lock_delay": "0s"})
    assert r.status == 200, r
    return r.json["session"]


class Writer:
    """Puts k/0..k/KEYS-1 in turn from its own thread, and remembers each
    acknowledged write with the revision it was applied at."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.acked = []  # (revision, key, value)
        self.unknown = set()  # keys with a write of unknown outcome: not checked
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        client = Http()
        n = 0
        while not self.stop.is_set():
            key, value = f"k/{n % KEYS}", f"v{n}"
            port = self.cluster.port(self.cluster.leader())
            r = client.call(port, "PUT", f"/v1/kv/{key}", body=value, timeout=10)
            if r.status == 200:
                self.acked.append((int(r.header("x-synod-index")), key, value))
            else:
                self.unknown.add(key)
            n += 1
        client.close()

    def expected_at(self, revision):
        """Each key's value as of `revision`: its last acknowledged write at or before it."""
        state = {}
        for at, key, value in sorted(self.acked):
            if at <= revision:
                state[key] = value
        return {k: v for k, v in state.items() if k not in self.unknown}


def restore_into(binary, backup, size=3):
    """A new cluster whose members `synod restore` seeded from `backup`; not started."""
    restored = Cluster(size, binary, prefix="synod-restored-")
    for node in restored.ids():
        done = subprocess.run([binary, "restore", "--snapshot", backup, *restored.args(node)[1:]],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, (done.stdout, done.stderr)
        assert f"member {node} of new cluster" in done.stdout, done.stdout
    return restored


def kv_value(port, key):
    r = call(port, "GET", f"/v1/kv/{key}")
    return r.json["value"] if r.status == 200 else None


def all_keys(port):
    r = call(port, "GET", "/v1/kv/?recurse&limit=1000")
    assert r.status == 200 and not r.json.get("more"), r
    return {k["key"].lstrip("/") for k in r.json["keys"]}


def test_backup_under_load_restores_into_a_new_cluster(binary):
    with tempfile.TemporaryDirectory(prefix="synod-backup-") as scratch, running_cluster(binary) as old:
        port = old.port(old.leader())
        # What is not written during the save: sessions, locks, an election.
        sessions = [new_session(port) for _ in range(3)]
        tokens = {}
        for i, sid in enumerate(sessions):
            r = call(port, "POST", f"/v1/locks/lock{i}", {"session": sid})
            assert r.status == 200, r
            tokens[f"lock{i}"] = r.json["token"]
        r = call(port, "POST", "/v1/elections/primary/campaign", {"session": sessions[0], "value": "node-a"})
        assert r.status == 200, r

        writer = Writer(old)
        writer.thread.start()
        until(lambda: len(writer.acked) >= 200, 30, "200 acknowledged writes before the save")
        backup = os.path.join(scratch, "backup.snapshot")
        saved = json.loads(synodctl(old, "--json", "snapshot", "save", backup).stdout)
        until(lambda: len(writer.acked) >= 400, 30, "writes after the save")
        writer.stop.set()
        writer.thread.join()
        revision = saved["header"]["revision"]
        assert any(at > revision for at, _, _ in writer.acked), "the writer wrote after the save"
        assert any(at < revision for at, _, _ in writer.acked), "the writer wrote before the save"

        inspected = json.loads(synodctl(old, "--json", "snapshot", "inspect", backup).stdout)
        assert inspected["header"] == saved["header"], (inspected, saved)
        assert inspected["counts"]["sessions"] == 3 and inspected["counts"]["locks"] == 3, inspected
        assert inspected["counts"]["elections"] == 1, inspected
        expected = writer.expected_at(revision)
        assert inspected["counts"]["keys"] == len(all_keys(port)) and len(expected) == KEYS, (inspected, expected)
        old_tokens_max = max(tokens.values())

        with restore_into(binary, backup) as restored:
            restored.start_all()
            new_port = restored.port(restored.leader(timeout=20))
            # Every key as of the backup's revision, and no other.
            assert all_keys(new_port) == set(expected), "the restored key set"
            for key, value in expected.items():
                assert kv_value(new_port, key) == value, (key, value, kv_value(new_port, key))
            # Sessions, their locks with their tokens, and the election.
            for i, sid in enumerate(sessions):
                assert call(new_port, "GET", f"/v1/sessions/{sid}").status == 200, sid
                lock = call(new_port, "GET", f"/v1/locks/lock{i}").json
                holders = lock["holders"]
                assert [(h["session"], h["token"]) for h in holders] == [(sid, tokens[f"lock{i}"])], lock
            election = call(new_port, "GET", "/v1/elections/primary").json
            assert election["leader"]["value"] == "node-a", election
            # Tokens keep rising: a lock freed in the new cluster goes to a
            # new session with a token above every token of the old one.
            assert call(new_port, "DELETE", f"/v1/sessions/{sessions[1]}").status == 200
            taker = new_session(new_port)
            granted = call(new_port, "POST", "/v1/locks/lock1", {"session": taker})
            assert granted.status == 200, granted
            assert granted.json["token"] > old_tokens_max, (granted.json, old_tokens_max)
            fresh = call(new_port, "POST", "/v1/locks/fresh", {"session": taker})
            assert fresh.status == 200 and fresh.json["token"] > old_tokens_max, fresh

            # The new cluster refuses the old cluster's member: node 3 of the
            # old cluster, started where node 3 of the new one was.
            restored.kill(3)
            old.kill(3)
            since = {n: len(restored.log_text(n)) for n in (1, 2)}
            intruder_args = restored.args(3, data_dir=old.data_dir(3))
            with open(os.path.join(scratch, "intruder.log"), "w") as log:
                intruder = subprocess.Popen(intruder_args, stdout=log, stderr=log, cwd=scratch)
                try:
                    until(lambda: any("belongs to cluster" in restored.log_text(n)[since[n]:] for n in (1, 2)), 20,
                          "the new cluster refusing the old member")
                    _, written = restored.put_anywhere("after-intruder", "x")  # nodes 1 and 2 still commit
                    assert written.status == 200, written
                finally:
                    intruder.terminate()
                    intruder.wait(timeout=10)


def damaged_copies(backup, scratch):
    """A truncated file, a flipped byte in the image, and a newer format."""
    data = open(backup, "rb").read()
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x40
    newer = bytearray(data)
    newer[8] += 1  # the backup format version's low byte
    copies = {}
    for name, content in (("truncated", data[:-100]), ("flipped", bytes(flipped)), ("newer", bytes(newer))):
        path = os.path.join(scratch, name + ".snapshot")
        with open(path, "wb") as f:
            f.write(content)
        copies[name] = path
    return copies


def test_damaged_backups_are_refused_and_nothing_is_written(binary):
    with tempfile.TemporaryDirectory(prefix="synod-backup-") as scratch, running_cluster(binary) as cluster:
        port = cluster.port(cluster.leader())
        for i in range(50):
            assert call(port, "PUT", f"/v1/kv/app/{i}", body="x" * 100).status == 200
        backup = os.path.join(scratch, "good.snapshot")
        synodctl(cluster, "snapshot", "save", backup)
        assert synodctl(cluster, "snapshot", "inspect", backup).returncode == 0
        # The route itself, as curl sees it.
        r = Http().call(port, "GET", "/v1/snapshot", timeout=30)
        assert r.status == 200 and r.header("content-type") == "application/octet-stream", r
        words = {"truncated": "truncated", "flipped": "checksum mismatch", "newer": "newer"}
        for name, path in damaged_copies(backup, scratch).items():
            inspected = synodctl(cluster, "snapshot", "inspect", path, check=False)
            assert inspected.returncode == 1 and words[name] in inspected.stderr, (name, inspected.stderr)
            target = os.path.join(scratch, f"restore-{name}")
            done = subprocess.run([binary, "restore", "--snapshot", path, "--id", "1", "--peers", "1=127.0.0.1:1",
                                   "--data-dir", target], capture_output=True, text=True, timeout=60)
            assert done.returncode == 2 and words[name] in done.stderr, (name, done.stderr)
            assert "nothing was written" in done.stderr and not os.path.exists(target), (name, done.stderr)
        # A directory that holds anything is not seeded.
        occupied = os.path.join(scratch, "occupied")
        os.makedirs(occupied)
        open(os.path.join(occupied, "something"), "w").close()
        done = subprocess.run([binary, "restore", "--snapshot", backup, "--id", "1", "--peers", "1=127.0.0.1:1",
                               "--data-dir", occupied], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2 and "not empty" in done.stderr, done.stderr
        assert os.listdir(occupied) == ["something"]


if __name__ == "__main__":
    runner.run(globals())
