"""docs/recipes.md runs against a real 3-node cluster (issue 22, "Recipes over REST").

The page's ```sh blocks define the recipes as bash functions; each ```sh example
block is followed by the ```text output it prints. test_recipe_examples runs
every example, in one bash after the functions, and compares its output with
the page's: in order with every number blanked, and as a set of lines with only
ids, tokens and revisions (6 digits or more) blanked. The other tests run the
page's functions, unchanged, from many bash clients at once, spread over the
three nodes, and check what each recipe promises, reading the cluster's state
with their own requests: a counter counts every increment once; a queue hands
every item to exactly one consumer, oldest first; nobody passes a barrier
before it is lifted, nor a double barrier before all have entered or left; a
latch has one leader at a time and moves on when its session is deleted or
expires; a watcher sees instances register and leave. The clients' deaths are
SIGKILLs of their process groups (keep-alives included): their sessions
expire.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

from pylib import prometheus, runner, sse, wait  # noqa: E402
from pylib.cluster import running_cluster  # noqa: E402
from pylib.http import request  # noqa: E402

PAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "recipes.md")


def page_blocks():
    """(the functions, [(example, expected output)]) of docs/recipes.md."""
    with open(PAGE) as f:
        fences = re.findall(r"```([^\n]*)\n(.*?)```", f.read(), re.S)
    functions = "".join(body for info, body in fences if info == "sh")
    examples = []
    for i, (info, body) in enumerate(fences):
        if info == "sh example":
            assert i + 1 < len(fences) and fences[i + 1][0] == "text", f"example {body[:40]!r} shows no output"
            examples.append((body, fences[i + 1][1]))
    return functions, examples


def lines(text, pattern):
    return [re.sub(pattern, "N", line.rstrip()) for line in text.strip().splitlines() if line.strip()]


def check_output(shown, actual, where):
    assert lines(actual, r"\d+") == lines(shown, r"\d+"), f"{where}: printed\n{actual}\nthe page shows\n{shown}"
    got, want = sorted(lines(actual, r"\d{6,}")), sorted(lines(shown, r"\d{6,}"))
    assert got == want, f"{where}: printed\n{actual}\nthe page shows\n{shown}"


# What a client tells the test goes in files: `note NAME TEXT` writes $DIR/NAME
# whole (a rename), so the test never reads half a file.
NOTE = 'note() { echo "$2" > "$DIR/.$1" && mv "$DIR/.$1" "$DIR/$1"; }'


class Clients:
    """Bash clients that source the page's functions, each on one node (SYNOD)."""

    def __init__(self, cluster, scratch):
        self.cluster, self.scratch, self.processes = cluster, scratch, []
        self.script = os.path.join(scratch, "recipes.sh")
        with open(self.script, "w") as f:
            f.write(page_blocks()[0])

    def start(self, number, code):
        """Client `number` runs `code` on node number % 3 + 1, in a process group of its own."""
        node = self.cluster.ids()[number % len(self.cluster.ids())]
        env = dict(os.environ, SYNOD=f"http://127.0.0.1:{self.cluster.port(node)}", DIR=self.scratch)
        process = subprocess.Popen(["bash", "-c", f"source {self.script}\n{NOTE}\n{code}"], env=env, cwd=self.scratch,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   start_new_session=True)
        self.processes.append(process)
        return process

    def run(self, number, code, timeout=60):
        return self.output(self.start(number, code), timeout)

    def output(self, process, timeout=60):
        """What the client printed; it must exit 0."""
        out, err = process.communicate(timeout=timeout)
        assert process.returncode == 0, f"a client exited {process.returncode}:\n{out}\n{err}"
        return out

    def kill(self, process):
        """SIGKILL to the client's group: it and its keep-alive loop die, its session expires."""
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()

    def close(self):
        for process in self.processes:
            self.kill(process)


class Recipes:
    def __init__(self, binary):
        self.binary = binary

    def __enter__(self):
        self.cluster_context = running_cluster(self.binary)
        self.cluster = self.cluster_context.__enter__()
        self.scratch_context = tempfile.TemporaryDirectory()
        self.clients = Clients(self.cluster, self.scratch_context.__enter__())
        return self

    def __exit__(self, *failure):
        self.clients.close()
        self.scratch_context.__exit__(*failure)
        return self.cluster_context.__exit__(*failure)

    def get(self, path):
        answer = request(self.cluster.port(1), "GET", path, timeout=10)
        assert answer.status in (200, 404), f"GET {path}: {answer}"
        return answer

    def keys(self, prefix):
        return [k["key"] for k in self.get(f"/v1/kv/{prefix}?recurse&limit=1000").json["keys"]]

    def delete_session(self, session):
        answer = request(self.cluster.port(2), "DELETE", f"/v1/sessions/{session}", timeout=10)
        assert answer.status == 200, answer

    def waiting_reads(self):
        """Long-polls waiting on the three nodes (a node counts those it holds)."""
        return sum(prometheus.scrape(self.cluster.port(n)).value("synod_memory_requests_waiting", kind="read")
                   for n in self.cluster.ids())

    def file(self, name):
        return os.path.join(self.clients.scratch, name)

    def read(self, name):
        with open(self.file(name)) as f:
            return f.read().strip()


def test_recipe_examples(binary):
    functions, examples = page_blocks()
    assert len(examples) >= 6, f"the page has {len(examples)} examples"
    with running_cluster(binary) as cluster, tempfile.TemporaryDirectory() as scratch:
        script = [functions]
        for index, (example, _) in enumerate(examples):
            script.append(example.rstrip("\n"))
            script.append(f'rc=$?; [ $rc = 0 ] || {{ echo "@@FAIL {index} $rc"; exit 1; }}; echo "@@END {index}"')
        env = dict(os.environ, SYNOD=f"http://127.0.0.1:{cluster.port(1)}")
        run = subprocess.run(["bash", "-c", "\n".join(script)], capture_output=True, text=True, timeout=120,
                             cwd=scratch, env=env)
        assert run.returncode == 0, f"an example failed:\n{run.stdout}\n{run.stderr}"
        outputs = re.split(r"@@END \d+\n", run.stdout)
        for index, (example, shown) in enumerate(examples):
            check_output(shown, outputs[index], f"example {index + 1} ({example.strip().splitlines()[0][:50]})")
        print(f"{len(examples)} examples ran and printed what the page shows")


def test_recipe_counter_and_queue(binary):
    with Recipes(binary) as r:
        # Counter: 8 clients x 6 increments; each increment sees a value of its own.
        clients, each = 8, 6
        counters = [r.clients.start(i, f"for i in $(seq {each}); do incr counters/hits || exit 1; done")
                    for i in range(clients)]
        values = sorted(int(v) for p in counters for v in r.clients.output(p).split())
        assert values == list(range(1, clients * each + 1)), f"the increments saw {values}"
        assert r.get("/v1/kv/counters/hits").json["value"] == str(clients * each)

        # Queue: consumers wait on the empty queue first; 3 producers add 12 items each.
        consumers = [r.clients.start(i, 'while v=$(dequeue queues/work) && [ "$v" != stop ]; do echo "$v"; done')
                     for i in range(4)]
        producers = [r.clients.start(i, f"for i in $(seq 10 21); do enqueue queues/work p{i}-$i || exit 1; done")
                     for i in range(3)]
        for p in producers:
            r.clients.output(p)
        r.clients.run(0, "for i in 1 2 3 4; do enqueue queues/work stop; done")  # after every item: one per consumer
        taken = [r.clients.output(p).split() for p in consumers]
        every = sorted(v for items in taken for v in items)
        assert every == sorted(f"p{p}-{i}" for p in range(3) for i in range(10, 22)), f"consumed {every}"
        for items in taken:  # oldest first: what one consumer took of one producer came in its order
            for p in range(3):
                mine = [int(v.split("-")[1]) for v in items if v.startswith(f"p{p}-")]
                assert mine == sorted(mine), f"a consumer took {items}"
        assert r.keys("queues/work") == []
        print(f"counter: {len(values)} increments; queue: {len(every)} items, "
              f"taken {[len(t) for t in taken]} by 4 consumers")


def test_recipe_barriers(binary):
    with Recipes(binary) as r:
        # Barrier: 6 waiters, on the three nodes, are all in their long-polls before the lift.
        r.clients.run(0, "barrier_raise gate")
        waiters = [r.clients.start(i, 'barrier_wait gate && echo "$INDEX"') for i in range(6)]
        wait.until(lambda: r.waiting_reads() >= 6 or any(p.poll() is not None for p in waiters), 30,
                   "6 waiters in their long-polls")
        assert all(p.poll() is None for p in waiters), "a waiter passed a raised barrier"
        lifted = int(r.clients.run(1, 'barrier_lift gate && echo "$INDEX"'))
        passed = [int(r.clients.output(p)) for p in waiters]
        assert min(passed) >= lifted, f"lifted at {lifted}, passed on reads at {passed}"

        # Double barrier of 4: two enter, a third enters and dies (its session expires); nobody passes.
        participant = ('S=$(session {ttl}) && keepalive "$S" && note session-{n} "$S"\n'
                       'enter_barrier round-1 4 "$S" || exit 1\n'
                       'touch $DIR/entered-{n}; while [ ! -e $DIR/leave-{n} ]; do sleep 0.05; done\n'
                       'leave_barrier round-1 "$S" && touch $DIR/left-{n}\n')

        def entered():
            return [n for n in range(5) if os.path.exists(r.file(f"entered-{n}"))]

        def left():
            return [n for n in range(5) if os.path.exists(r.file(f"left-{n}"))]

        def inside():
            return len(r.keys("double-barriers/round-1/in"))
        group = [r.clients.start(n, participant.format(n=n, ttl="10s")) for n in (0, 1)]
        doomed = r.clients.start(2, participant.format(n=2, ttl="2s"))
        wait.until(lambda: inside() == 3, 20, "3 participants in")
        r.clients.kill(doomed)
        wait.until(lambda: inside() == 2, 20, "the dead participant's key gone with its session")
        group.append(r.clients.start(3, participant.format(n=3, ttl="10s")))
        wait.until(lambda: inside() == 3, 20, "3 participants in")
        wait.until(lambda: r.waiting_reads() >= 3 or entered(), 20, "3 participants waiting")
        assert entered() == [], f"{entered()} entered with 3 of 4 in"
        group.append(r.clients.start(4, participant.format(n=4, ttl="10s")))
        wait.until(lambda: entered() == [0, 1, 3, 4], 30, "all 4 entered")

        # They leave: three of them wait for the fourth, which dies instead.
        for n in (0, 1, 3):
            open(r.file(f"leave-{n}"), "w").close()
        wait.until(lambda: inside() == 1, 20, "3 participants out")
        wait.until(lambda: r.waiting_reads() >= 3 or left(), 20, "3 participants waiting to leave")
        assert left() == [], f"{left()} left with one still in"
        r.clients.kill(group[3])
        r.delete_session(r.read("session-4"))  # its death, without waiting out the TTL
        for p in group[:3]:
            r.clients.output(p)
        assert left() == [0, 1, 3]
        print(f"barrier: 6 waiters passed on reads at or after the lift ({lifted}); double barrier: 4 of 5 entered")


def test_recipe_leader_latch(binary):
    with Recipes(binary) as r:
        candidate = ('S=$(session 5s) && keepalive "$S" && note session-{n} "$S"\n'
                     'T=$(latch primary "$S" host-{n}) && note leader-{n} "$S $T" && sleep 600')
        candidates = [r.clients.start(n, candidate.format(n=n)) for n in range(4)]

        def leaders():
            return [n for n in range(4) if os.path.exists(r.file(f"leader-{n}"))]
        wait.until(lambda: len(leaders()) > 1 or (leaders() and r.waiting_reads() >= 3), 30,
                   "a leader and 3 waiting candidates")
        seen, tokens = [], []
        for step in range(4):
            current = [n for n in leaders() if n not in seen]
            assert len(current) == 1, f"leaders {leaders()} after {seen} ended"
            leader = current[0]
            session, token = r.read(f"leader-{leader}").split()
            election = r.get("/v1/elections/primary").json
            assert election["leader"]["session"] == session and election["leader"]["value"] == f"host-{leader}"
            assert election["leader"]["token"] == int(token), election
            waiting = {r.read(f"session-{n}") for n in range(4) if n not in seen and n != leader}
            assert {c["session"] for c in election["candidates"]} == waiting, election
            tokens.append(int(token))
            seen.append(leader)
            if step % 2 == 0:
                r.delete_session(session)  # it leaves
            else:
                r.clients.kill(candidates[leader])  # it dies: its session expires
            if step < 3:
                wait.until(lambda: len(leaders()) >= step + 2, 30, f"leader {step + 2}")
        assert tokens == sorted(tokens) and len(set(tokens)) == 4, f"tokens {tokens}"
        print(f"latch: 4 leaders in turn, tokens {tokens}")


def test_recipe_service_discovery(binary):
    with Recipes(binary) as r:
        r.clients.start(0, "instances web > $DIR/listing && changes web --max-time 60 > $DIR/events")
        instance = ('S=$(session {ttl}) && keepalive "$S" && register web host-{n} 10.0.0.{n}:8080 "$S" '
                    '&& note session-{n} "$S" && sleep 600')
        wait.until(lambda: os.path.exists(r.file("events")), 20, "the watcher's listing")
        assert r.read("listing") == '{"keys":[],"more":false}', r.read("listing")
        instances = [r.clients.start(n, instance.format(n=n, ttl="3s" if n == 2 else "10s")) for n in range(3)]
        wait.until(lambda: all(os.path.exists(r.file(f"session-{n}")) for n in range(3)), 20, "3 instances registered")
        assert len(r.keys("services/web")) == 3
        r.delete_session(r.read("session-0"))  # host-0 leaves
        r.clients.kill(instances[2])  # host-2 dies
        wait.until(lambda: r.keys("services/web") == ["/services/web/host-1"], 30, "host-0 and host-2 gone")
        r.delete_session(r.read("session-1"))  # host-1 leaves

        def seen():
            with open(r.file("events")) as f:
                text = f.read()
            events = [e for e in sse.parse_text(text[:text.rfind("\n\n") + 1]) if "event" in e]  # whole events
            return [(e["event"], json.loads(e["data"])["key"]) for e in events]
        wait.until(lambda: len(seen()) >= 6, 20, "6 events")
        got = seen()
        assert sorted(e for e in got if e[0] == "put") == [("put", f"/services/web/host-{n}") for n in range(3)], got
        assert [e for e in got if e[0] != "put"] == [
            ("deleted", "/services/web/host-0"), ("expired", "/services/web/host-2"),
            ("deleted", "/services/web/host-1")], got
        print(f"discovery: the watcher saw {got}")


if __name__ == "__main__":
    runner.run(globals())
