"""The fenced resource: a small in-test service that lock holders write to.

It stands for the storage a lock protects (Kleppmann's "How to do distributed
locking"): it accepts a write for lock L only with a fencing token strictly
higher than every token it accepted for L before. Lock clients write to it
once per grant, so a holder whose lock has passed on to a newer token (its
session expired while it was paused) is refused.

Two records come out of it, for the checks:
  - every write, accepted or refused, with whether the writer could know it
    still held the lock (it was not paused since it last checked, and the
    write came before the end of its session's promised validity);
  - nothing else: the resource never consults synod.

`broken=True` is the test-only switch that proves the checks can fail
(--break fence): it accepts every token, as a resource without fencing
would, so a holder that was paused past its session's expiry overwrites its
successor and the check "accepted tokens strictly rise" reports it.
"""
import threading


class FencedResource:
    def __init__(self, records, broken=False):
        self.records = records
        self.broken = broken
        self.lock = threading.Lock()
        self.highest = {}

    def write(self, lock_name, token, client, value, valid_holder):
        """Returns True if the write is accepted."""
        with self.lock:
            highest = self.highest.get(lock_name)
            accepted = highest is None or token > highest or self.broken
            if accepted:
                self.highest[lock_name] = token if highest is None else max(highest, token)
            self.records.add("resource_writes", time=self.records.now(), lock=lock_name, token=token, client=client,
                             value=value, accepted=accepted, highest_before=highest, valid_holder=valid_holder)
        return accepted
