"""The nemesis: faults on a seeded schedule.

schedule(mix, seed, nodes, ttl_max_ms) draws, from random.Random(seed) alone,
the sequence of faults (kinds, shapes, durations, pauses between them, and
the random choices of targets). Replaying a seed replays that sequence; where
a fault names "the leader", the node is resolved when the fault starts (which
node leads depends on timing, as it does in any real cluster).

One fault at a time: inject, hold, heal, wait (bounded) until a write
succeeds again, rest, next. That keeps every unavailability measurement
attributable to one fault.

Kinds:
  kill         kill -9 a node (the leader, a random node, or two in a 5-node
               cluster) and restart it after a while
  restart_all  kill -9 every node, start them all again
  pause        SIGSTOP a node (the leader, a random one, or two of five) for
               longer than the election timeout (0.6-1.5 s) or longer than the
               sessions' TTLs (TTL + 0.5-4 s), then SIGCONT
  partition    cut (connections refused/reset) or blackhole (bytes vanish) in
               a shape: halves, isolate the leader, isolate a random node, a
               majority ring, a bridge node, the leader hears nobody (it can
               send), nobody hears the leader (it can receive)
  net          slow links (delay and jitter on every link), a flaky link
               (resets), one-way loss on one link (blackhole of one direction)
  clock        not injected: synod reads only CLOCK_MONOTONIC and has no
               test hook to skew its rate (see docs/chaos.md)
  transfer     (the planned mix) leadership moved on demand, POST
               /v1/cluster/leader/transfer, to a named member or to the most
               caught-up one
  rolling_restart  (the planned mix) every member in turn stopped with
               SIGTERM (a leader hands over first) and started again, the
               next once the restarted one is ready (GET /readyz)
  replace_follower, replace_leader  (the member mix) kill -9 a follower (the
               leader), add a new node under a new id with its own ports and
               an empty data directory (POST /v1/cluster/members, synod
               --join), promote it once caught up, remove the dead one
  grow_shrink  (the member mix) add two nodes and promote them (3 -> 5
               voters; the second may be promoted by the leader on its own),
               then remove the leader and one more (5 -> 3)
"""
import os
import random
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib
from pylib.http import request  # noqa: E402

MIXES = {
    "kill": {"kill": 7, "restart_all": 3},
    "pause": {"pause": 1},
    "partition": {"partition": 1},
    "net": {"net": 1},
    "mixed": {"kill": 3, "restart_all": 1, "pause": 3, "partition": 4, "net": 2},
    # What an operator does on purpose: each must cost no acknowledged write
    # and at most a retryable error (issue 20's planned changes).
    "planned": {"transfer": 4, "rolling_restart": 1},
    # Membership changes (issue 20) between kills and pauses, on a cluster
    # without proxies (pylib/growing.py): the log owns member addresses, one
    # per member, where the proxies give every link its own.
    "member": {"replace_follower": 2, "replace_leader": 2, "grow_shrink": 1, "kill": 1, "pause": 1},
    # The faults of `mixed` under kazoo clients on the ZooKeeper listeners
    # (zk_workload.py) instead of the REST ones. Not in `all`: it needs kazoo.
    "zookeeper": {"kill": 3, "restart_all": 1, "pause": 3, "partition": 4, "net": 2},
}
ALL_MIXES = ["kill", "pause", "partition", "net", "mixed", "planned", "member"]
MEMBER_KINDS = ("replace_follower", "replace_leader", "grow_shrink")
PLANNED_KINDS = ("transfer", "rolling_restart") + MEMBER_KINDS
SHAPES = ["halves", "isolate_leader", "isolate_random", "ring", "bridge", "leader_deaf", "leader_mute"]
RECOVERY_WAIT_S = 20.0  # the bound on "live again after a heal" (a write succeeds)


def schedule(mix, seed, nodes, ttl_max_ms, count=400):
    rng = random.Random(seed)
    weights = MIXES[mix]
    kinds = list(weights)
    faults = []
    ttl_s = ttl_max_ms / 1000.0
    for _ in range(count):
        kind = rng.choices(kinds, [weights[k] for k in kinds])[0]
        f = {"kind": kind, "rest_s": round(rng.uniform(0.5, 2.5), 3), "pick": rng.random()}
        if kind == "kill":
            f["target"] = rng.choice(["leader", "leader", "random"] + (["two"] if nodes >= 5 else []))
            f["hold_s"] = round(rng.uniform(0.5, 4.0), 3)
        elif kind == "restart_all":
            f["hold_s"] = round(rng.uniform(0.2, 2.0), 3)
        elif kind == "pause":
            f["target"] = rng.choice(["leader", "leader", "random"] + (["two"] if nodes >= 5 else []))
            f["long"] = rng.random() < 0.5
            f["hold_s"] = round(rng.uniform(ttl_s + 0.5, ttl_s + 4.0) if f["long"] else rng.uniform(0.6, 1.5), 3)
        elif kind == "partition":
            f["shape"] = rng.choice(SHAPES)
            f["mode"] = rng.choice(["cut", "blackhole"])
            f["hold_s"] = round(rng.uniform(1.5, 8.0), 3)
        elif kind == "transfer":
            f["target"] = rng.choice(["named", "any"])
            f["hold_s"] = round(rng.uniform(0.2, 1.0), 3)
        elif kind in ("rolling_restart",) + MEMBER_KINDS:
            f["hold_s"] = 0.0
        elif kind == "net":
            f["shape"] = rng.choice(["slow", "flaky", "one_way"])
            f["delay_ms"] = rng.choice([20, 50, 100, 200])
            f["jitter_ms"] = rng.choice([0, 10, 50])
            f["reset_prob"] = round(rng.uniform(0.02, 0.2), 3)
            f["hold_s"] = round(rng.uniform(2.0, 8.0), 3)
        f["order"] = rng.sample(range(1, nodes + 1), nodes)  # the random choices of nodes
        faults.append(f)
    return faults


def links_cut(shape, nodes, leader, order):
    """Directed pairs (a, b) whose messages from a to b are stopped."""
    ids = list(range(1, nodes + 1))
    cut = set()

    def split(group_a, group_b):
        for a in group_a:
            for b in group_b:
                cut.add((a, b))
                cut.add((b, a))

    if shape == "halves":
        half = order[: nodes // 2]
        split(half, [n for n in ids if n not in half])
    elif shape == "isolate_leader":
        split([leader], [n for n in ids if n != leader])
    elif shape == "isolate_random":
        split([order[0]], [n for n in ids if n != order[0]])
    elif shape == "ring":
        # Every node sees a majority, no two the same majority. With 5 nodes a
        # symmetric ring (each hears its two neighbours); with 3, a symmetric
        # ring is no fault, so a directed one (each hears only the next node).
        ring = order
        allowed = set()
        for k, a in enumerate(ring):
            if nodes >= 5:
                allowed.add((a, ring[(k + 1) % nodes]))
                allowed.add((ring[(k + 1) % nodes], a))
            else:
                allowed.add((ring[(k + 1) % nodes], a))
        cut = {(a, b) for a in ids for b in ids if a != b and (a, b) not in allowed}
    elif shape == "bridge":
        bridge = order[0]
        rest = order[1:]
        half = len(rest) // 2
        split(rest[:half], rest[half:])
        del bridge
    elif shape == "leader_deaf":
        cut = {(n, leader) for n in ids if n != leader}
    elif shape == "leader_mute":
        cut = {(leader, n) for n in ids if n != leader}
    return cut


def majority_connected(nodes, up, cut):
    """Can some up node exchange messages both ways with a majority (itself included)?"""
    for a in up:
        reach = 1 + sum(1 for b in up if b != a and (a, b) not in cut and (b, a) not in cut)
        if reach > nodes // 2:
            return True
    return False


class Nemesis:
    def __init__(self, cluster, records, probe, faults, start_after_s, stop_at_s, t0_s, admin_headers=None):
        self.cluster = cluster
        self.admin_headers = admin_headers or {}  # root's, when auth is on: a transfer needs cluster admin
        self.records = records
        self.probe = probe
        self.faults = faults
        self.start_after_s = start_after_s
        self.stop_at_s = stop_at_s
        self.t0_s = t0_s
        self.injected = 0
        self.final_heal = None
        self.errors = []

    def elapsed(self):
        return time.monotonic() - self.t0_s

    def sleep_until(self, t_s, stop):
        while self.elapsed() < t_s and not stop.is_set():
            time.sleep(0.02)

    def leader(self, fallback):
        found = self.cluster.leader_or_none(timeout=1.0)
        return found if found is not None else fallback

    def run(self, stop):
        self.sleep_until(self.start_after_s, stop)
        for f in self.faults:
            if stop.is_set() or self.elapsed() + 1.0 >= self.stop_at_s:
                break
            # A fault never outlasts the window: faults end by stop_at_s.
            hold_s = min(f["hold_s"], self.stop_at_s - self.elapsed())
            try:
                self.inject(f, hold_s, stop)
            except Exception as error:  # noqa: BLE001 - a harness problem, reported, never a pass
                self.errors.append(f"{f['kind']}: {error!r}")
                self.heal_everything()
            self.sleep_until(self.elapsed() + f["rest_s"], stop)
        self.heal_everything()
        self.final_heal = self.records.now()
        self.records.add("nemesis", kind="final_heal", onset=self.final_heal, heal=self.final_heal)

    def heal_everything(self):
        self.cluster.heal()
        for node in self.cluster.ids():
            self.cluster.resume(node)
        for node in self.cluster.ids():
            if not self.cluster.running(node):
                self.cluster.start(node)

    # ------------------------------------------------------------ membership
    def member_call(self, method, path, body=None, ok=(200, 201), deadline_s=30.0):
        """A membership request to a member (followers forward), again on a
        retryable answer (409 change_in_progress, 503, 504, no answer) until
        the deadline. Returns the last answer."""
        deadline = time.monotonic() + deadline_s
        while True:
            target = self.cluster.leader_or_none(timeout=2.0)
            if target is None:
                target = self.cluster.ids()[0]
            answer = request(self.cluster.port(target), method, path, body=body, headers=self.admin_headers,
                             timeout=25.0, ssl_context=self.cluster.ssl_context)
            if answer.status in ok or time.monotonic() > deadline:
                return answer
            if answer.status == 409 and answer.code() != "change_in_progress":
                return answer  # member_exists: nothing to retry
            time.sleep(0.1)

    def add_member(self, record):
        """A new node under a new id: POST /v1/cluster/members, then synod --join."""
        node = self.cluster.next_id()
        body = {"id": node, "peer_addr": f"127.0.0.1:{self.cluster.peer_port(node)}",
                "client_addr": f"127.0.0.1:{self.cluster.port(node)}"}
        started = self.records.now()
        answer = self.member_call("POST", "/v1/cluster/members", body)
        record["steps"].append({"add": node, "status": answer.status, "started": started, "at": self.records.now()})
        if answer.status not in (200, 201):
            raise RuntimeError(f"adding node {node}: {answer.status} {answer.raw[:200]}")
        self.cluster.members.append(node)
        self.cluster.start(node)
        return node

    def promote(self, node, record):
        """Once it caught up (the leader refuses before): POST .../promote."""
        started = self.records.now()
        answer = self.member_call("POST", f"/v1/cluster/members/{node}/promote", ok=(200,), deadline_s=60.0)
        record["steps"].append({"promote": node, "status": answer.status, "code": answer.code(), "started": started,
                                "at": self.records.now()})
        # 409 member_exists: the leader promoted it on its own (voters were even).
        if answer.status != 200 and answer.code() != "member_exists":
            raise RuntimeError(f"promoting node {node}: {answer.status} {answer.raw[:200]}")

    def remove(self, node, record):
        started = self.records.now()
        leader = self.cluster.leader_or_none(timeout=1.0)
        answer = self.member_call("DELETE", f"/v1/cluster/members/{node}", ok=(200,))
        record["steps"].append({"remove": node, "leader": node == leader, "status": answer.status, "started": started,
                                "at": self.records.now()})
        if answer.status != 200:
            raise RuntimeError(f"removing node {node}: {answer.status} {answer.raw[:200]}")
        self.cluster.members.remove(node)
        if self.cluster.running(node):
            self.cluster.kill(node, signal.SIGTERM)  # a removed process is refused by all; stop it

    def replace(self, kind, leader, order, record, stop):
        ids = self.cluster.ids()
        dead = leader if kind == "replace_leader" else next(n for n in order + ids if n in ids and n != leader)
        record["targets"] = [dead]
        self.cluster.kill(dead)
        record["steps"].append({"kill": dead, "at": self.records.now()})
        node = self.add_member(record)
        self.promote(node, record)
        self.remove(dead, record)

    def grow_shrink(self, record, stop):
        added = [self.add_member(record), self.add_member(record)]
        for node in added:
            self.promote(node, record)
        leader = self.leader(None)
        others = [n for n in self.cluster.ids() if n != leader and n not in added]
        removed = ([leader] if leader is not None else []) + others[:1]
        record["targets"] = added + removed
        for node in removed:
            self.remove(node, record)

    def inject(self, f, hold_s, stop):
        order = f["order"]
        ids = self.cluster.ids()
        nodes = len(ids)
        leader_before = self.leader(None)
        leader = leader_before if leader_before is not None else order[0]
        kind = f["kind"]
        record = {"kind": kind, "spec": {k: v for k, v in f.items() if k not in ("order", "pick")},
                  "leader_before": leader_before}
        if kind in ("kill", "pause"):
            if f["target"] == "leader":
                targets = [leader]
            elif f["target"] == "two":
                targets = [leader, next(n for n in order if n != leader)] if f["pick"] < 0.5 else order[:2]
            else:
                targets = [order[0]]
            record["targets"] = targets
            record["leader_hit"] = leader_before in targets
            record["majority"] = majority_connected(nodes, [n for n in ids if n not in targets], set())
            record["onset"] = self.records.now()
            for n in targets:
                if kind == "kill":
                    self.cluster.kill(n)
                else:
                    self.cluster.pause(n)
            self.injected += 1
            self.sleep_until(self.elapsed() + hold_s, stop)
            for n in targets:
                if kind == "kill":
                    self.cluster.start(n)
                else:
                    self.cluster.resume(n)
        elif kind == "restart_all":
            record["targets"] = ids
            record["leader_hit"] = True
            record["majority"] = False
            record["onset"] = self.records.now()
            for n in ids:
                self.cluster.kill(n)
            self.injected += 1
            self.sleep_until(self.elapsed() + hold_s, stop)
            for n in ids:
                self.cluster.start(n)
        elif kind == "partition":
            cut = links_cut(f["shape"], nodes, leader, order)
            record["cut"] = sorted(cut)
            if leader_before is None:
                record["leader_hit"] = False
            else:
                reach = 1 + sum(1 for n in ids if n != leader_before and (leader_before, n) not in cut and
                                (n, leader_before) not in cut)
                record["leader_hit"] = reach <= nodes // 2  # the leader lost its majority
            record["majority"] = majority_connected(nodes, ids, cut)
            record["onset"] = self.records.now()
            for a, b in cut:
                self.cluster.set_pair(a, b, f["mode"])
            self.injected += 1
            self.sleep_until(self.elapsed() + hold_s, stop)
            self.cluster.heal()
        elif kind == "transfer":
            record["majority"] = True
            record["leader_hit"] = True
            to = next((n for n in order if n != leader), None) if f["target"] == "named" else None
            record["targets"] = [leader] + ([to] if to else [])
            record["onset"] = self.records.now()
            answer = request(self.cluster.port(leader), "POST",
                             "/v1/cluster/leader/transfer" + (f"?to={to}" if to else ""),
                             headers=self.admin_headers, timeout=5.0, ssl_context=self.cluster.ssl_context)
            record["answer"] = answer.status
            record["moved_to"] = (answer.json or {}).get("leader") if answer.status == 200 else None
            self.injected += 1
            self.sleep_until(self.elapsed() + hold_s, stop)
        elif kind == "rolling_restart":
            record["majority"] = True
            record["leader_hit"] = True
            record["targets"] = list(order)
            record["onset"] = self.records.now()
            record["exit_codes"] = {}
            for n in order:
                if stop.is_set():
                    break
                record["exit_codes"][n] = self.cluster.kill(n, signal.SIGTERM)
                self.cluster.start(n)
                deadline = time.monotonic() + RECOVERY_WAIT_S
                while time.monotonic() < deadline and not stop.is_set():
                    if request(self.cluster.port(n), "GET", "/readyz", timeout=1.0,
                               ssl_context=self.cluster.ssl_context).status == 200:
                        break
                    time.sleep(0.05)
            self.injected += 1
        elif kind in MEMBER_KINDS:
            record["majority"] = True
            record["leader_hit"] = kind != "replace_follower"
            record["onset"] = self.records.now()
            record["steps"] = []
            if kind == "grow_shrink":
                self.grow_shrink(record, stop)
            else:
                self.replace(kind, leader, order, record, stop)
            self.injected += 1
        elif kind == "net":
            shape = f["shape"]
            record["majority"] = True
            record["leader_hit"] = False
            record["onset"] = self.records.now()
            if shape == "slow":
                for a in ids:
                    for b in ids:
                        if a != b:
                            self.cluster.set_pair(a, b, "pass", delay_ms=f["delay_ms"], jitter_ms=f["jitter_ms"])
                record["targets"] = "all links"
            elif shape == "flaky":
                a, b = order[0], order[1]
                self.cluster.set_pair(a, b, "pass", reset_prob=f["reset_prob"])
                self.cluster.set_pair(b, a, "pass", reset_prob=f["reset_prob"])
                record["targets"] = [a, b]
            else:
                a, b = (leader, order[0] if order[0] != leader else order[1]) if f["pick"] < 0.5 else order[:2]
                self.cluster.set_pair(a, b, "blackhole")
                record["targets"] = [a, b]
            self.injected += 1
            self.sleep_until(self.elapsed() + hold_s, stop)
            self.cluster.heal()
        record["heal"] = self.records.now()
        if kind in PLANNED_KINDS:
            # A planned change's cost: the longest stretch with no write
            # committed, from its start to a moment after its end.
            time.sleep(0.2)
            record["no_commit_ms_max"] = self.probe.longest_gap_ms(record["onset"], self.records.now())
            # Each membership step's own: from its request to 0.2 s after its answer.
            for step in record.get("steps", []):
                if "started" in step:
                    step["no_commit_ms_max"] = self.probe.longest_gap_ms(step["started"], step["at"] + 200_000_000)
        # Measure from the onset when a majority could still work, else from the heal.
        reference = record["onset"] if record["majority"] else record["heal"]
        done = self.probe.ok_after(reference, RECOVERY_WAIT_S)
        record["recovered"] = done
        record["unavailable_ms"] = None if done is None else (done - reference) / 1e6
        # Liveness is judged from the heal on either way: a probe that a
        # majority answered during the fault says nothing about after it.
        live = done if reference == record["heal"] else self.probe.ok_after(record["heal"], RECOVERY_WAIT_S)
        record["live_after_heal_ms"] = None if live is None else (live - record["heal"]) / 1e6
        self.records.add("nemesis", **record)
