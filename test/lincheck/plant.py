"""Plants one violation into a linearizable history, or makes a fault-heavy history to plant into.

  plant.py KIND IN OUT [--seed N]       KIND: stale-read, lost-write, never-written,
                                        read-before-write (register histories), double-grant (locks)
  plant.py synth-register OUT [--operations N] [--seed N]
  plant.py synth-lock OUT [--operations N] [--seed N]
  plant.py strip IN OUT                 keep only the fields synod-lincheck reads

Each planted kind is placed where real time forces the violation, whatever the rest of the
history allows (the argument is at each function), so the checker must answer not-linearizable.
The synthetic histories are linearizable by construction: every operation takes effect at one
point inside its interval (or, for an indeterminate one, at some point after its invocation, or
never), and the recorded results are those of that order. Histories are synod-lincheck's JSON
lines (docs/history-format.md). The last line printed is a JSON summary.
"""
import argparse
import json
import random
import sys

FIELDS = ("process", "type", "f", "key", "value", "time")
MIDDLE = (0.4, 0.6)  # plant in the middle of the history, where the search has the most behind it
STALE_NS = 2_000_000_000  # a stale read returns a value overwritten at least this long before it


def read_events(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def write_events(path, events):
    """In the given order: the file order of the events read, then any planted ones. A process's
    events must stay in its own order, and a recorder may stamp an event with a time earlier than
    the one before it (the chaos suite's late campaign wins), so events are never sorted by time."""
    with open(path, "w") as f:
        for e in events:
            f.write(json.dumps({k: e[k] for k in FIELDS if k in e}, separators=(",", ":")) + "\n")


def operations(events):
    """Invocations paired with completions: dicts with invoke/complete events and times."""
    open_ops, ops = {}, []
    for e in events:
        if e["type"] == "invoke":
            op = {"invoke": e, "complete": None, "process": e["process"], "f": e["f"], "key": e.get("key", ""),
                  "invoke_time": e["time"], "complete_time": None, "type": None}
            open_ops[e["process"]] = op
            ops.append(op)
        elif e["process"] in open_ops:
            op = open_ops.pop(e["process"])
            op.update(complete=e, complete_time=e["time"], type=e["type"])
    return ops


def middle(ops, rng, pred):
    lo, hi = int(len(ops) * MIDDLE[0]), int(len(ops) * MIDDLE[1])
    candidates = [op for op in ops[lo:hi] if pred(op)]
    rng.shuffle(candidates)
    return candidates


def ok(op, f):
    return op["type"] == "ok" and op["f"] == f


def new_operation(events, f, key, value, invoke_time, complete_time, output=None):
    process = max(e["process"] for e in events) + 1
    events.append({"process": process, "type": "invoke", "f": f, "key": key, "value": value, "time": invoke_time})
    events.append({"process": process, "type": "ok", "f": f, "key": key, "value": output, "time": complete_time})


def plant_stale_read(events, ops, rng):
    """A read r returns v although a write of u, invoked after v's write completed, completed 2 s
    before r began: v's block must precede u's, and u's must precede r, which is in v's."""
    writes = sorted((op for op in ops if ok(op, "write")), key=lambda op: op["complete_time"])
    for r in middle(ops, rng, lambda op: ok(op, "read")):
        on_key = [w for w in writes if w["key"] == r["key"] and w["complete_time"] < r["invoke_time"] - STALE_NS]
        for u in reversed(on_key[-50:]):
            older = [w for w in on_key if w["complete_time"] < u["invoke_time"]]
            if older:
                v = older[-1]
                r["complete"]["value"] = v["invoke"]["value"]
                return {"read_invoked": r["invoke_time"], "value": v["invoke"]["value"],
                        "overwritten_by": u["invoke"]["value"],
                        "overwritten_ms_before": (r["invoke_time"] - u["complete_time"]) / 1e6}
    raise SystemExit("no place for a stale read")


def writer_of(ops):
    return {(op["key"], op["invoke"]["value"]): op for op in ops if op["f"] == "write" and op["type"] in ("ok", "info")}


def plant_lost_write(events, ops, rng):
    """An acknowledged write x, invoked after the write of v completed and completed before a read
    of v began: x must come after v's write and before the read, inside v's block."""
    writers = writer_of(ops)
    for r in middle(ops, rng, lambda op: ok(op, "read") and op["complete"]["value"] is not None):
        w = writers.get((r["key"], r["complete"]["value"]))
        if w is not None and w["type"] == "ok" and w["complete_time"] + 2 < r["invoke_time"]:
            new_operation(events, "write", r["key"], "planted-lost-write", w["complete_time"] + 1, r["invoke_time"] - 1)
            return {"key": r["key"], "read_invoked": r["invoke_time"], "read_value": r["complete"]["value"]}
    raise SystemExit("no place for a lost write")


def plant_never_written(events, ops, rng):
    """A read of a value no operation wrote."""
    r = middle(ops, rng, lambda op: ok(op, "read"))[0]
    r["complete"]["value"] = "planted-never-written"
    return {"key": r["key"], "read_invoked": r["invoke_time"]}


def plant_read_before_write(events, ops, rng):
    """A read returns v but completed before v's write was invoked."""
    for w in middle(ops, rng, lambda op: op["f"] == "write" and op["type"] in ("ok", "info")):
        earlier = [r for r in ops if ok(r, "read") and r["key"] == w["key"] and r["complete_time"] < w["invoke_time"]]
        if earlier:
            r = earlier[-1]
            r["complete"]["value"] = w["invoke"]["value"]
            return {"key": w["key"], "value": w["invoke"]["value"], "read_completed": r["complete_time"],
                    "write_invoked": w["invoke_time"]}
    raise SystemExit("no place for a read before its write")


def plant_double_grant(events, ops, rng):
    """A grant to a new process inside another's hold: invoked after the holder's grant completed,
    completed before the holder's release began, with a token between the holder's and the next.
    The holder's hold must end between the two grants, and no release of its process can."""
    grants = sorted((op for op in ops if ok(op, "acquire") and isinstance(op["complete"]["value"], int)),
                    key=lambda op: op["complete"]["value"])
    tokens = {(g["key"], g["complete"]["value"]) for g in grants}
    for g in middle(grants, rng, lambda op: True):
        token = g["complete"]["value"] + 1
        releases = [op for op in ops if op["f"] == "release" and op["process"] == g["process"] and op["key"] == g["key"]]
        after = [op for op in releases if op["invoke_time"] >= g["complete_time"]]
        if (g["key"], token) in tokens or not after or after[0]["invoke_time"] - g["complete_time"] < 3:
            continue
        end = after[0]["invoke_time"] - 1
        # No release of the holder may take effect inside the hold: an earlier one must have
        # completed before the grant began (one of unknown outcome could take effect any time).
        if any(op["invoke_time"] < end and (op["type"] != "ok" or op["complete_time"] >= g["invoke_time"])
               for op in releases if op is not after[0]):
            continue
        new_operation(events, "acquire", g["key"], None, g["complete_time"] + 1, end, output=token)
        return {"lock": g["key"], "holder_token": token - 1, "planted_token": token}
    raise SystemExit("no place for a second grant")


PLANTS = {"stale-read": plant_stale_read, "lost-write": plant_lost_write, "never-written": plant_never_written,
          "read-before-write": plant_read_before_write, "double-grant": plant_double_grant}


# ---------------------------------------------------------------- synthetic histories
class Clock:
    """Events of concurrent clients in one simulated time line (ns)."""

    def __init__(self, rng, processes):
        self.rng = rng
        self.free_at = [0] * processes

    def next_process(self):
        p = min(range(len(self.free_at)), key=lambda i: self.free_at[i])
        return p, self.free_at[p] + self.rng.randint(0, 2_000_000)


def synth_register(operations_count, rng, keys=3, processes=12):
    """Reads and writes of unique values; 1.5% of the writes indeterminate (some take effect late,
    some never), and a few fault windows in which a whole burst of writes is indeterminate."""
    clock = Clock(rng, processes)
    effects = []  # (time, order, kind, ...) applied in time order to compute what reads return
    ops = []
    for n in range(operations_count):
        p, start = clock.next_process()
        key = f"r{rng.randrange(keys)}"
        duration = rng.randint(1_000_000, 30_000_000)
        end = start + duration
        point = rng.randint(start, end)
        if rng.random() < 0.5:
            ops.append({"p": p, "f": "read", "key": key, "start": start, "end": end, "point": point, "type": "ok"})
        else:
            value = f"{p}-{n}"
            fault = (start // 1_000_000_000) % 7 == 3 and rng.random() < 0.08
            kind = "info" if fault or rng.random() < 0.015 else "ok"
            if kind == "info":
                point = rng.choice([None, start + rng.randint(0, 3_000_000_000)])
            ops.append({"p": p, "f": "write", "key": key, "value": value, "start": start, "end": end, "point": point,
                        "type": kind})
        clock.free_at[p] = end + rng.randint(0, 1_000_000)
    state = {}
    for op in sorted((op for op in ops if op["point"] is not None), key=lambda op: (op["point"], op["f"] != "write")):
        if op["f"] == "write":
            state[op["key"]] = op["value"]
        else:
            op["value_read"] = state.get(op["key"])
    events = []
    for op in ops:
        events.append({"process": op["p"], "type": "invoke", "f": op["f"], "key": op["key"],
                       "value": op.get("value"), "time": op["start"]})
        out = op.get("value_read") if op["f"] == "read" else None
        events.append({"process": op["p"], "type": op["type"], "f": op["f"], "key": op["key"], "value": out,
                       "time": op["end"]})
    return events


def synth_lock(operations_count, rng, locks=2, clients=12):
    """Acquire, hold, release; tokens rise with gaps (they are log indices). Some acquires are
    indeterminate: granted or not, the client then records a lost release (history-format.md).
    After an indeterminate outcome a client goes on as a fresh process, Jepsen's convention."""
    events = []
    token = 1000
    names = [f"L{i}" for i in range(locks)]
    now = {name: 0 for name in names}
    process = {(name, c): i for i, (name, c) in enumerate((n, c) for n in names for c in range(clients))}
    fresh = [len(process)]

    def renew(name, client):
        process[(name, client)] = fresh[0]
        fresh[0] += 1

    def add(name, client, f, start, end, outcome, value=None):
        p = process[(name, client)]
        events.append({"process": p, "type": "invoke", "f": f, "key": name, "time": start})
        events.append({"process": p, "type": outcome, "f": f, "key": name, "value": value, "time": end})
        if outcome == "info":
            renew(name, client)

    count = 0
    while count < operations_count:
        name = rng.choice(names)
        t = now[name]
        holder = rng.randrange(clients)
        acquire_start = t + rng.randint(0, 1_000_000)
        granted_at = acquire_start + rng.randint(100_000, 5_000_000)
        token += rng.randint(1, 5)
        outcome = "info" if rng.random() < 0.03 else "ok"
        # Processes are taken before add(), which renews the holder's after an info.
        release_start = granted_at + rng.randint(1_000_000, 20_000_000)
        release_end = release_start + rng.randint(100_000, 5_000_000)
        if outcome == "info":
            p = process[(name, holder)]
            add(name, holder, "acquire", acquire_start, granted_at, "info")
            # Maybe granted: the client records the loss at once (with its old process).
            events.append({"process": p, "type": "invoke", "f": "release", "key": name, "time": granted_at})
            events.append({"process": p, "type": "info", "f": "release", "key": name, "time": granted_at})
        else:
            add(name, holder, "acquire", acquire_start, granted_at, "ok", token)
            lost = rng.random() < 0.02
            add(name, holder, "release", release_start, release_start if lost else release_end,
                "info" if lost else "ok")
        # Others try while it is held and are refused: failures, dropped by the checker.
        for other in rng.sample([c for c in range(clients) if c != holder], rng.randint(0, 2)):
            refused_at = rng.randint(granted_at, release_start)
            add(name, other, "acquire", refused_at, refused_at + 50_000, "fail")
            count += 1
        now[name] = release_end + rng.randint(0, 2_000_000)
        count += 2
    return events


def summary(events):
    ops = operations(events)
    kinds = {}
    for op in ops:
        kinds[f"{op['f']}_{op['type']}"] = kinds.get(f"{op['f']}_{op['type']}", 0) + 1
    return {"operations": len(ops), "by_kind": kinds}


def main(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=sorted(PLANTS) + ["synth-register", "synth-lock", "strip"])
    p.add_argument("paths", nargs="+")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--operations", type=int, default=100_000)
    args = p.parse_args(argv)
    rng = random.Random(args.seed)
    if args.command.startswith("synth-"):
        make = synth_register if args.command == "synth-register" else synth_lock
        events = make(args.operations, rng)
        write_events(args.paths[0], events)
        print(json.dumps(summary(events) | {"file": args.paths[0]}))
        return
    events = read_events(args.paths[0])
    planted = {}
    if args.command != "strip":
        planted = PLANTS[args.command](events, operations(events), rng)
    write_events(args.paths[1], events)
    print(json.dumps({"planted": args.command, "where": planted, "file": args.paths[1]}))


if __name__ == "__main__":
    main(sys.argv[1:])
