"""Waiting for a condition with a deadline: the tests' only polling loops."""
import time


def until(predicate, timeout, what, pause=0.05):
    """Returns once predicate() is true; an AssertionError naming `what` after `timeout` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(pause)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def retry(fn, ok, timeout=15.0, pause=0.05):
    """Calls fn() until ok(result) or the timeout; returns the last result."""
    deadline = time.time() + timeout
    result = fn()
    while not ok(result) and time.time() < deadline:
        time.sleep(pause)
        result = fn()
    return result
