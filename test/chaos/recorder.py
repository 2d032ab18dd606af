"""What a chaos run records: histories in synod's JSON-lines format
(docs/history-format.md) and the side records the checks read (sessions and
their keep-alive answers, lock grants, the fenced resource, observers, the
probe writer, the nemesis). One clock for everything: time.monotonic_ns()
less the run's start, in nanoseconds.
"""
import json
import os
import threading
import time


def now_ns():
    """The one clock of a run: every event of every history is stamped with it."""
    return time.monotonic_ns()


class History:
    """One JSON-lines history for synod-lincheck. Thread-safe.

    Events keep their extra fields (node, error, session, ...): the checker
    ignores them and they help whoever reads a failing history."""

    def __init__(self, t0):
        self.t0 = t0
        self.lock = threading.Lock()
        self.events = []

    def now(self):
        return now_ns() - self.t0

    def invoke(self, process, f, key, value=None, time=None, **extra):
        op = {"process": process, "f": f, "key": key, "invoke_value": value}
        event = {"process": process, "type": "invoke", "f": f, "key": key, "value": value,
                 "time": self.now() if time is None else time}
        event.update(extra)
        with self.lock:
            self.events.append(event)
        op["invoke_time"] = event["time"]
        return op

    def complete(self, op, kind, value=None, time=None, **extra):
        """kind: ok, fail or info."""
        event = {"process": op["process"], "type": kind, "f": op["f"], "key": op["key"], "value": value,
                 "time": self.now() if time is None else time}
        event["time"] = max(event["time"], op["invoke_time"])
        event.update(extra)
        with self.lock:
            self.events.append(event)
        op["type"] = kind
        op["complete_time"] = event["time"]
        op["value"] = value
        return event

    def write(self, path, drop=None):
        with self.lock:
            events = list(self.events)
        with open(path, "w") as f:
            for event in events:
                if drop is not None and drop(event):
                    continue
                f.write(json.dumps(event, separators=(",", ":")) + "\n")
        return len(events)

    def operations(self):
        """Invocations paired with their completions (open ones have type None)."""
        with self.lock:
            events = list(self.events)
        open_by_process = {}
        ops = []
        for event in events:
            if event["type"] == "invoke":
                op = dict(event)
                op["invoke_time"] = event["time"]
                op["input"] = event.get("value")
                op["type"] = None
                op["complete_time"] = None
                op["output"] = None
                open_by_process[event["process"]] = op
                ops.append(op)
            else:
                op = open_by_process.pop(event["process"], None)
                if op is None:
                    continue
                op["type"] = event["type"]
                op["complete_time"] = event["time"]
                op["output"] = event.get("value")
                for k, v in event.items():
                    if k not in ("type", "time", "value", "process", "f", "key"):
                        op.setdefault(k, v)
        return ops


class Records:
    """Everything else a run records, as lists of dicts. Thread-safe."""

    def __init__(self, t0):
        self.t0 = t0
        self.lock = threading.Lock()
        self.lists = {}

    def now(self):
        return now_ns() - self.t0

    def add(self, name, **fields):
        with self.lock:
            self.lists.setdefault(name, []).append(fields)

    def get(self, name):
        with self.lock:
            return list(self.lists.get(name, []))

    def write(self, folder):
        with self.lock:
            lists = {k: list(v) for k, v in self.lists.items()}
        for name, items in lists.items():
            with open(os.path.join(folder, f"{name}.jsonl"), "w") as f:
                for item in items:
                    f.write(json.dumps(item, separators=(",", ":")) + "\n")
