"""Server-sent events (GET .../observe, /v1/watch, /v1/sessions/ID/events).

One parser of the text/event-stream format, and two readers on it:
  Events       read on a background thread into a queue: next(), until() (the API tests)
  EventStream  read by the calling thread as a generator, ended by a stop event (the chaos clients)
Like synod's own streams, a field given twice keeps its last value, except
data, whose lines are joined (without a newline: synod sends one data line).
"""
import contextlib
import http.client
import json
import queue
import socket
import threading
import time

from pylib import openapi
from pylib.http import new_connection, sent_headers


class Parser:
    """Feeds on lines without their line ending; returns an event's fields
    ({"event": ..., "id": ..., "data": ...}) on the blank line that ends it."""

    def __init__(self):
        self.fields = {}

    def feed(self, line):
        if line == "":
            event, self.fields = self.fields, {}
            return event if "data" in event else None
        if line.startswith(":"):
            return None  # a comment: synod's heartbeat
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        self.fields[field] = self.fields.get(field, "") + value if field == "data" else value
        return None


def parse_text(text):
    """The events of a stream's text, as curl prints it; an event cut off
    after its data line (curl --max-time) still counts."""
    parser = Parser()
    events = [event for line in text.splitlines() + [""] if (event := parser.feed(line))]
    return events


def read_events(response, stop=None):
    """Yields the fields of each event of an HTTP response until the stream
    ends, a read fails or times out, or `stop` is set."""
    parser = Parser()
    while stop is None or not stop.is_set():
        try:
            line = response.readline()
        except (OSError, http.client.HTTPException, ValueError):
            return
        if not line:
            return
        event = parser.feed(line.decode("utf-8", "replace").rstrip("\r\n"))
        if event is not None:
            yield event


def _shut(connection):
    """Ends a read blocked on the connection from another thread."""
    with contextlib.suppress(Exception):
        if connection.sock:
            connection.sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(Exception):
        connection.close()


def _check_stream(path, headers, status, response_headers, body):
    """With SYNOD_OPENAPI_CHECK, the stream's head (or its refusal) checked against
    docs/openapi.yaml, and a check of its events; else None."""
    if not openapi.enabled():
        return None
    return openapi.StreamCheck("GET", path, sent_headers(headers), status, response_headers, body)


def _check_event(check, event):
    """An event against its schema. On the reader thread a mismatch is only
    remembered (runner.py fails the test with it), so the stream goes on."""
    if check is not None:
        try:
            check.event(event.get("event"), event.get("data", ""))
        except openapi.OpenApiMismatch:
            pass


class Events:
    """A stream read on a background thread; each event also carries its data
    parsed as JSON under "json". A non-200 answer keeps its text in `body`."""

    def __init__(self, port, path, headers=None, timeout=60.0):
        self.connection = new_connection("127.0.0.1", port, timeout)
        self.connection.request("GET", path, headers=headers or {})
        self.response = self.connection.getresponse()
        self.status = self.response.status
        self.headers = {k.lower(): v for k, v in self.response.getheaders()}
        self.events = queue.Queue()
        self.ended = threading.Event()
        raw = b"" if self.status == 200 else self.response.read()
        self.check = _check_stream(path, headers, self.status, self.headers, raw)
        if self.status == 200:
            threading.Thread(target=self._read, daemon=True).start()
        else:
            self.body = raw.decode("utf-8", "replace")
            self.ended.set()

    def _read(self):
        for event in read_events(self.response):
            _check_event(self.check, event)
            try:
                event["json"] = json.loads(event["data"])
            except ValueError:
                break  # not synod's JSON: the stream is broken, end it
            self.events.put(event)
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
        _shut(self.connection)


def open_events(port, path, headers=None, timeout=15.0):
    """An Events stream, retried while the node is not up yet (a restart)."""
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


class EventStream:
    """A stream read by the calling thread; status 0 when it could not be opened."""

    def __init__(self, port, path, headers=None, timeout=3.0):
        self.connection = new_connection("127.0.0.1", port, timeout)
        self.status = 0
        self.response = None
        self.check = None
        try:
            self.connection.request("GET", path, headers=headers or {})
            self.response = self.connection.getresponse()
            self.status = self.response.status
            raw = b"" if self.status == 200 else self.response.read()
            self.check = _check_stream(path, headers, self.status,
                                       {k.lower(): v for k, v in self.response.getheaders()}, raw)
        except (OSError, http.client.HTTPException):
            self.close()

    def events(self, stop):
        """Yields (id, type, data dict) until the stream ends or stop is set.

        synod sends a heartbeat comment every 10 s, so a read timeout longer
        than that means the node is gone or stopped: the stream ends. Another
        thread ends a blocked read with close()."""
        if self.status != 200:
            return
        for event in read_events(self.response, stop):
            _check_event(self.check, event)
            try:
                data = json.loads(event["data"])
            except ValueError:
                data = {"unparsed": event["data"]}
            yield event.get("id"), event.get("event"), data

    def close(self):
        _shut(self.connection)
