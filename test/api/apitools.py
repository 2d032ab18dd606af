"""Helpers for the API tests: JSON requests, server-sent-event readers, and a
cluster context that keeps logs on failure. Standard library only; 127.0.0.1 only."""
import contextlib
import http.client
import json
import queue
import threading
import time

from harness import Cluster, request


def call(port, method, path, body=None, headers=None, timeout=20.0):
    """One request; a dict body is sent as JSON."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
    return request(port, method, path, body=body, headers=headers, timeout=timeout)


def header(response, name):
    for key, value in response.headers.items():
        if key.lower() == name.lower():
            return value
    return None


def error_code(response):
    try:
        return response.json["error"]["code"]
    except (TypeError, KeyError):
        return None


@contextlib.contextmanager
def running_cluster(binary, size=3, extra_args=()):
    cluster = Cluster(size, binary, extra_args=extra_args)
    failed = False
    try:
        cluster.start_all()
        cluster.leader(timeout=15)
        yield cluster
    except BaseException:
        failed = True
        raise
    finally:
        cluster.close(failed=failed)


def followers(cluster, leader):
    return [n for n in cluster.ids() if n != leader and cluster.running(n)]


def retry(fn, ok, timeout=15.0, pause=0.05):
    """Calls fn() until ok(result) or the timeout; returns the last result."""
    deadline = time.time() + timeout
    result = fn()
    while not ok(result) and time.time() < deadline:
        time.sleep(pause)
        result = fn()
    return result


class Events:
    """A server-sent-event stream read on a background thread."""

    def __init__(self, port, path, headers=None, timeout=60.0):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.connection.request("GET", path, headers=headers or {})
        self.response = self.connection.getresponse()
        self.status = self.response.status
        self.headers = dict(self.response.getheaders())
        self.events = queue.Queue()
        self.ended = threading.Event()
        if self.status == 200:
            threading.Thread(target=self._read, daemon=True).start()
        else:
            self.body = self.response.read().decode("utf-8", "replace")
            self.ended.set()

    def _read(self):
        event = {}
        try:
            while True:
                line = self.response.readline()
                if not line:
                    break
                line = line.decode("utf-8").rstrip("\r\n")
                if line == "":
                    if "data" in event:
                        event["json"] = json.loads(event["data"])
                        self.events.put(event)
                    event = {}
                elif line.startswith(":"):
                    continue
                else:
                    field, _, value = line.partition(":")
                    value = value[1:] if value.startswith(" ") else value
                    event[field] = event.get(field, "") + value if field == "data" else value
        except (OSError, ValueError, http.client.HTTPException):
            pass
        self.ended.set()
        self.events.put(None)

    def next(self, timeout=10.0):
        """The next event, or None when the stream ended; raises on a timeout."""
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no event within {timeout}s") from None

    def until(self, predicate, timeout=15.0):
        """Events up to and including the first that matches."""
        deadline = time.time() + timeout
        seen = []
        while True:
            event = self.next(max(0.01, deadline - time.time()))
            if event is None:
                raise AssertionError(f"the stream ended before a match; saw {seen}")
            seen.append(event)
            if predicate(event):
                return seen

    def close(self):
        with contextlib.suppress(OSError):
            if self.connection.sock:
                self.connection.sock.shutdown(2)
        self.connection.close()


def open_events(port, path, headers=None, timeout=15.0):
    """An event stream, retried while the node is not up yet (a restart)."""
    deadline = time.time() + timeout
    while True:
        try:
            events = Events(port, path, headers=headers)
            if events.status == 200 or time.time() >= deadline:
                return events
        except OSError:
            if time.time() >= deadline:
                raise
        time.sleep(0.1)
