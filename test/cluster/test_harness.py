"""The cluster library itself (test/pylib/cluster.py): a sanitizer report in a server's log fails
the test, even when the test saw nothing wrong (a follower can die of one
unnoticed). No synod runs here: a stand-in process prints a report and waits
for its signal, as a sanitized synod that found a leak would.
"""
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

from pylib import runner  # noqa: E402
from pylib.cluster import Cluster  # noqa: E402

STAND_IN = """import signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(23))
print("==4242==ERROR: AddressSanitizer: heap-use-after-free on address 0x602000000010 (planted)", file=sys.stderr, flush=True)
time.sleep(60)
"""


def test_a_sanitizer_report_fails_the_test(binary):
    cluster = Cluster(1, binary)  # the stand-in runs instead of synod
    stand_in = os.path.join(cluster.dir, "stand_in.py")
    with open(stand_in, "w") as f:
        f.write(STAND_IN)
    cluster.args = lambda node, **_: [sys.executable, stand_in]
    cluster.start_all()
    deadline = time.time() + 10
    while "ERROR: AddressSanitizer" not in cluster.log_text(1):  # printed before the stand-in sleeps
        assert time.time() < deadline, "the stand-in printed no report"
        time.sleep(0.05)
    try:
        cluster.close()
    except AssertionError as error:
        assert "heap-use-after-free" in str(error) and "node1.log" in str(error), error
        print("a planted report failed the test, as it should:", str(error).splitlines()[0])
        return
    finally:
        shutil.rmtree(cluster.dir, ignore_errors=True)  # close() keeps it when it finds a report
    raise AssertionError("a sanitizer report in a server's log did not fail the test")


if __name__ == "__main__":
    runner.run(globals())
