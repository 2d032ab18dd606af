"""CPU time of processes over a measured window, for bench/compare.py's
server CPU per operation and the load generator's CPU share (issue #17).

A CpuSampler reads user plus system time of each pid from /proc every
`period_s` in a thread of its own, with the wall-clock time of the reading.
rate() gives the CPU cores a process used inside a window: the CPU time
between the first and the last reading inside it, over the time between
them. A rate, not a sum, because the readings never fall exactly on the
window's edges, and a load generator's process is gone soon after its
window ends.
"""
import os
import threading
import time

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """User plus system CPU seconds of a process, all its threads; None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


class CpuSampler:
    def __init__(self, pids, period_s=0.1):
        self.pids = list(pids)
        self.period_s = period_s
        self.readings = {pid: [] for pid in self.pids}  # pid: [(unix_s, cpu_s)]
        self.done = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def __enter__(self):
        self.read()
        self.thread.start()
        return self

    def __exit__(self, *_):
        self.done.set()
        self.thread.join()

    def read(self):
        for pid in self.pids:
            now, cpu = time.time(), cpu_seconds(pid)
            if cpu is not None:
                self.readings[pid].append((now, cpu))

    def run(self):
        while not self.done.wait(self.period_s):
            self.read()

    def rate(self, pid, start_s, end_s):
        """Cores the process used between start_s and end_s (unix seconds), or None without two readings."""
        inside = [(t, c) for t, c in self.readings[pid] if start_s <= t <= end_s]
        if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
            return None
        return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])
