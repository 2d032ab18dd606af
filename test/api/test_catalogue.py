"""A catalogue of bad requests against a real 3-node cluster (issue #6).

Each case asserts the exact HTTP status and error code. A slow sender and a
slow reader run alongside and must be cut off while the catalogue is served.
The suite ends with every node alive and no response of 500 or above.

Run: python3 test/api/test_catalogue.py --binary build/server/synod test_bad_request_catalogue
"""
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

from pylib import runner  # noqa: E402
from pylib.cluster import running_cluster  # noqa: E402
from pylib.http import call  # noqa: E402

BIG = 64 * 1024 + 1  # one byte over the value limit


def cases(state):
    """(label, method, path, body, headers, status, code). `state` holds ids made during setup."""
    s, stale, fresh = state["session"], state["stale_token"], state["fresh_token"]
    many_ops = {"ops": [{"op": "delete", "key": f"/k{i}"} for i in range(65)]}
    return [
        # ---- malformed and too-deep JSON, wrong types, unknown fields
        ("json truncated", "POST", "/v1/sessions", "{", None, 400, "bad_json"),
        ("json array body", "POST", "/v1/sessions", "[]", None, 400, "bad_json"),
        ("json string body", "POST", "/v1/sessions", '"ttl"', None, 400, "bad_json"),
        ("json not utf-8", "POST", "/v1/sessions", b'{"ttl":"\xff"}', None, 400, "bad_json"),
        ("json trailing garbage", "POST", "/v1/sessions", '{"ttl":"10s"} x', None, 400, "bad_json"),
        ("json too deep", "POST", "/v1/sessions", "[" * 9 + "]" * 9, None, 400, "json_too_deep"),
        ("json too deep in txn", "POST", "/v1/txn", '{"ops":' + "[" * 8 + "]" * 8 + "}", None, 400, "json_too_deep"),
        ("ttl a number", "POST", "/v1/sessions", {"ttl": 15}, None, 400, "bad_type"),
        ("ttl without unit", "POST", "/v1/sessions", {"ttl": "15"}, None, 400, "bad_duration"),
        ("ttl a word", "POST", "/v1/sessions", {"ttl": "fast"}, None, 400, "bad_duration"),
        ("ttl below 2s", "POST", "/v1/sessions", {"ttl": "1s"}, None, 400, "bad_ttl"),
        ("ttl above 24h", "POST", "/v1/sessions", {"ttl": "25h"}, None, 400, "bad_ttl"),
        ("lock_delay above 60s", "POST", "/v1/sessions", {"lock_delay": "2m"}, None, 400, "bad_lock_delay"),
        ("behavior unknown", "POST", "/v1/sessions", {"behavior": "vanish"}, None, 400, "bad_value"),
        ("session unknown field", "POST", "/v1/sessions", {"colour": "blue"}, None, 400, "unknown_field"),
        ("ttl in query and body", "POST", "/v1/sessions?ttl=10s", {"ttl": "10s"}, None, 400, "conflicting_parameters"),
        ("acquire without session or ttl", "POST", "/v1/locks/db", {}, None, 400, "missing_parameter"),
        ("session a number", "POST", "/v1/locks/db", {"session": 42}, None, 400, "bad_type"),
        ("session not digits", "POST", "/v1/locks/db", {"session": "abc"}, None, 400, "bad_session"),
        ("session zero", "POST", "/v1/locks/db", {"session": "0"}, None, 400, "bad_session"),
        ("session and ttl", "POST", "/v1/locks/db", {"session": "5", "ttl": "10s"}, None, 400, "conflicting_parameters"),
        ("mode unknown", "POST", "/v1/locks/db", {"ttl": "10s", "mode": "maybe"}, None, 400, "bad_value"),
        ("semaphore without limit", "POST", "/v1/locks/db", {"ttl": "10s", "mode": "semaphore"}, None, 400, "missing_parameter"),
        ("semaphore limit 0", "POST", "/v1/locks/db", {"ttl": "10s", "mode": "semaphore", "limit": 0}, None, 400, "bad_value"),
        ("limit without semaphore", "POST", "/v1/locks/db", {"ttl": "10s", "limit": 2}, None, 400, "conflicting_parameters"),
        ("wait above 5m", "POST", "/v1/locks/db", {"ttl": "10s", "wait": "6m"}, None, 400, "bad_wait"),
        ("queue a string", "POST", "/v1/locks/db", {"ttl": "10s", "queue": "yes"}, None, 400, "bad_type"),
        ("acquire unknown field", "POST", "/v1/locks/db", {"ttl": "10s", "extra": 1}, None, 400, "unknown_field"),
        ("wait without unit in query", "POST", "/v1/locks/db?ttl=10s&wait=10", None, None, 400, "bad_duration"),
        ("proclaim without token", "POST", "/v1/elections/e/proclaim", {"value": "x"}, None, 400, "missing_parameter"),
        ("proclaim negative token", "POST", "/v1/elections/e/proclaim", {"token": -1}, None, 400, "bad_type"),
        ("proclaim fractional token", "POST", "/v1/elections/e/proclaim", {"token": 1.5}, None, 400, "bad_type"),
        ("resign without session", "POST", "/v1/elections/e/resign", {}, None, 400, "missing_parameter"),
        ("campaign value a number", "POST", "/v1/elections/e/campaign", {"ttl": "10s", "value": 7}, None, 400, "bad_type"),
        ("txn ops an object", "POST", "/v1/txn", {"ops": {}}, None, 400, "bad_type"),
        ("txn op unknown", "POST", "/v1/txn", {"ops": [{"op": "upsert", "key": "/a"}]}, None, 400, "bad_value"),
        ("txn guard without key", "POST", "/v1/txn", {"guards": [{"kind": "exists"}]}, None, 400, "missing_field"),
        ("txn guard extra field", "POST", "/v1/txn", {"guards": [{"kind": "exists", "key": "/a", "version": 1}]}, None, 400, "unknown_field"),
        ("txn guard kind unknown", "POST", "/v1/txn", {"guards": [{"kind": "sometimes", "key": "/a"}]}, None, 400, "bad_value"),
        ("txn bad base64", "POST", "/v1/txn", {"ops": [{"op": "put", "key": "/a", "value_base64": "!!"}]}, None, 400, "bad_value"),
        ("txn too many ops", "POST", "/v1/txn", many_ops, None, 413, "txn_too_large"),
        ("txn relative key", "POST", "/v1/txn", {"ops": [{"op": "put", "key": "a"}]}, None, 400, "bad_key"),
        ("txn unknown field", "POST", "/v1/txn", {"extra": []}, None, 400, "unknown_field"),
        ("txn query parameter", "POST", "/v1/txn?x=1", {}, None, 400, "unknown_parameter"),
        # ---- bad keys and names
        ("key with ..", "GET", "/v1/kv/a/../b", None, None, 400, "bad_key"),
        ("key with .", "GET", "/v1/kv/a/./b", None, None, 400, "bad_key"),
        ("key with empty segment", "GET", "/v1/kv/a//b", None, None, 400, "bad_key"),
        ("key with NUL", "GET", "/v1/kv/a%00b", None, None, 400, "bad_key"),
        ("key not utf-8", "GET", "/v1/kv/a%ff", None, None, 400, "bad_key"),
        ("key overlong utf-8", "GET", "/v1/kv/a%C0%AF", None, None, 400, "bad_key"),
        ("key utf-8 outside the key alphabet", "GET", "/v1/kv/caf%C3%A9", None, None, 400, "bad_key"),
        ("key over 512 bytes", "GET", "/v1/kv/" + "k" * 512, None, None, 400, "key_too_long"),
        ("key empty", "GET", "/v1/kv/", None, None, 400, "bad_key"),
        ("key trailing slash", "PUT", "/v1/kv/a/", "v", None, 400, "bad_key"),
        ("key malformed escape", "PUT", "/v1/kv/a%zz", "v", None, 400, "bad_key"),
        ("value over 64 KiB", "PUT", "/v1/kv/a", "v" * BIG, None, 413, "value_too_large"),
        ("fence without token", "PUT", "/v1/kv/a?lock=db", "v", None, 400, "missing_parameter"),
        ("sequential with cas", "PUT", "/v1/kv/a?sequential&cas=1", "v", None, 400, "conflicting_parameters"),
        ("raw with recurse", "GET", "/v1/kv/a?raw&recurse", None, None, 400, "conflicting_parameters"),
        ("wait without index", "GET", "/v1/kv/a?wait=5s", None, None, 400, "missing_parameter"),
        ("negative index", "GET", "/v1/kv/a?index=-3", None, None, 400, "bad_number"),
        ("index past 2^64", "GET", "/v1/kv/a?index=18446744073709551616", None, None, 400, "bad_number"),
        ("unknown query parameter", "GET", "/v1/kv/a?colour=blue", None, None, 400, "unknown_parameter"),
        ("duplicate query parameter", "GET", "/v1/kv/a?stale&stale", None, None, 400, "duplicate_parameter"),
        ("flag with a bad value", "GET", "/v1/kv/a?stale=perhaps", None, None, 400, "bad_value"),
        ("too many query parameters", "GET", "/v1/kv/a?" + "&".join(f"p{i}" for i in range(17)), None, None, 400, "too_many_parameters"),
        ("GET with a body", "GET", "/v1/kv/a", "body", None, 400, "unexpected_body"),
        ("lock name ..", "GET", "/v1/locks/..", None, None, 400, "bad_name"),
        ("lock name with NUL", "GET", "/v1/locks/a%00", None, None, 400, "bad_name"),
        ("lock name with a space", "POST", "/v1/locks/a%20b?ttl=10s", None, None, 400, "bad_name"),
        ("lock name over 256 bytes", "GET", "/v1/locks/" + "n" * 257, None, None, 400, "name_too_long"),
        ("watch space unknown", "GET", "/v1/watch/?space=planets", None, None, 400, "bad_value"),
        ("session id not a number", "GET", "/v1/sessions/abc", None, None, 400, "bad_session"),
        ("validate without token", "GET", "/v1/locks/db/validate", None, None, 400, "missing_parameter"),
        # ---- routes, methods and headers
        ("unknown route", "GET", "/v2/kv/a", None, None, 404, "no_route"),
        ("unknown route under v1", "GET", "/v1/nothing", None, None, 404, "no_route"),
        ("PATCH a key", "PATCH", "/v1/kv/a", "v", None, 405, "method_not_allowed"),
        ("DELETE the cluster", "DELETE", "/v1/cluster", None, None, 405, "method_not_allowed"),
        ("PUT sessions", "PUT", "/v1/sessions", None, None, 405, "method_not_allowed"),
        ("POST a key", "POST", "/v1/kv/a", "v", None, 405, "method_not_allowed"),
        ("Idempotency-Key with a space", "POST", "/v1/sessions", {}, {"Idempotency-Key": "has space"}, 400, "bad_idempotency_key"),
        ("Idempotency-Key too long", "POST", "/v1/sessions", {}, {"Idempotency-Key": "k" * 200}, 400, "bad_idempotency_key"),
        ("Last-Event-ID not a number", "GET", "/v1/watch/", None, {"Last-Event-ID": "abc"}, 400, "bad_value"),
        # ---- unknown sessions and keys, stale tokens, guards and conflicts
        ("unknown session get", "GET", "/v1/sessions/999999999", None, None, 404, "not_found"),
        ("unknown session keepalive", "POST", "/v1/sessions/999999999/keepalive", None, None, 404, "session_expired"),
        ("unknown session delete", "DELETE", "/v1/sessions/999999999", None, None, 404, "not_found"),
        ("unknown session acquire", "POST", "/v1/locks/db", {"session": "999999999"}, None, 404, "session_expired"),
        ("release by a non-holder", "DELETE", "/v1/locks/db?session=999999999", None, None, 404, "not_found"),
        ("unknown key", "GET", "/v1/kv/no/such/key", None, None, 404, "not_found"),
        ("stale fencing token", "PUT", f"/v1/kv/fenced?lock=db&token={stale}", "late", None, 412, "stale_token"),
        ("stale token in a txn", "POST", "/v1/txn",
         {"ops": [{"op": "put", "key": "/fenced", "value": "x", "lock": "db", "token": stale}]}, None, 412, "stale_token"),
        ("proclaim with a stale token", "POST", "/v1/elections/chosen/proclaim", {"token": stale, "value": "x"}, None, 412, "stale_token"),
        ("compare-and-set on an old index", "PUT", "/v1/kv/fenced?cas=1", "x", None, 412, "guard_failed"),
        ("create-only on an existing key", "PUT", "/v1/kv/fenced?cas=0", "x", None, 412, "guard_failed"),
        ("txn guard fails", "POST", "/v1/txn", {"guards": [{"kind": "missing", "key": "/fenced"}], "ops": []}, None, 412, "guard_failed"),
        ("lock held by another", "POST", "/v1/locks/db", {"ttl": "10s"}, None, 409, "conflict"),
        ("lock exists with another kind", "POST", "/v1/locks/db", {"session": s, "mode": "read"}, None, 409, "conflict"),
        ("fenced write with another lock's token", "PUT", f"/v1/kv/fenced?lock=other&token={fresh}", "x", None, 412, "stale_token"),
    ]


def raw_exchange(port, data, timeout=5.0):
    """Sends raw bytes; returns (status, code) of the answer, or (0, None) if the server closed first."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        try:
            s.sendall(data)
        except OSError:
            pass
        received = b""
        try:
            while b"\r\n\r\n" not in received or len(received) < received.find(b"\r\n\r\n") + 4 + _length(received):
                chunk = s.recv(65536)
                if not chunk:
                    break
                received += chunk
        except OSError:
            pass
    if not received.startswith(b"HTTP/1.1 "):
        return 0, None
    status = int(received[9:12])
    body = received[received.find(b"\r\n\r\n") + 4:]
    try:
        return status, json.loads(body)["error"]["code"]
    except (ValueError, KeyError):
        return status, None


def _length(head):
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def raw_cases():
    head = b"POST /v1/sessions HTTP/1.1\r\nHost: x\r\n"
    return [
        ("headers over 8 KiB", b"GET /v1/cluster HTTP/1.1\r\nHost: x\r\nX-Big: " + b"h" * 9000 + b"\r\n\r\n", 431, "headers_too_large"),
        ("request line over 8 KiB", b"GET /v1/kv/" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", 431, "headers_too_large"),
        ("body over 256 KiB", head + b"Content-Length: 300000\r\n\r\n" + b"x" * 300000, 413, "body_too_large"),
        ("Content-Length and Transfer-Encoding", head + b"Content-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400, "bad_framing"),
        ("Transfer-Encoding then Content-Length", head + b"Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n0\r\n\r\n", 400, "bad_framing"),
        ("Transfer-Encoding gzip", head + b"Transfer-Encoding: gzip\r\n\r\n{}", 400, "bad_framing"),
        ("two different Content-Lengths", head + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400, "bad_framing"),
        ("Content-Length not a number", head + b"Content-Length: abc\r\n\r\n{}", 400, "bad_framing"),
        ("not HTTP at all", b"GARBAGE\r\n\r\n", 400, "bad_request"),
        ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, "bad_request"),
    ]


def slow_sender(port, result):
    """Sends a request one byte a second; records when the server hung up."""
    started = time.time()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"GET /v1/cluster HTTP/1.1\r\nHost: x\r\n")
        try:
            for _ in range(60):
                s.sendall(b"X")
                time.sleep(1.0)
                s.setblocking(False)
                try:
                    if s.recv(1) == b"":
                        break
                except BlockingIOError:
                    pass
                finally:
                    s.setblocking(True)
        except OSError:
            pass
    result["seconds"] = time.time() - started


def slow_reader(port, result, ready):
    """Watches a busy prefix without ever reading; records when the server hung up."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(60)
    s.connect(("127.0.0.1", port))
    s.sendall(b"GET /v1/watch/flood/ HTTP/1.1\r\nHost: x\r\n\r\n")
    started = time.time()
    ready.set()
    time.sleep(result["read_after"])
    # Now drain: a cut connection ends (EOF) after what was in flight.
    try:
        while s.recv(1 << 20):
            pass
        result["ended"] = True
    except OSError:
        result["ended"] = True
    result["seconds"] = time.time() - started
    s.close()


def test_bad_request_catalogue(binary):
    with running_cluster(binary) as cluster:
        leader = cluster.leader()
        follower = cluster.followers(leader)[0]
        port = cluster.port(follower)  # bad input is refused where it lands; the rest is forwarded
        statuses = []

        def checked(*args, **kwargs):
            r = call(*args, **kwargs)
            statuses.append(r.status)
            return r

        # Setup: a lock taken, released and taken again (a stale and a fresh token),
        # an election with a leader, a key written under the fence.
        first = checked(port, "POST", "/v1/locks/db?ttl=30s")
        assert first.status == 200, first
        assert checked(port, "DELETE", f"/v1/locks/db?session={first.json['session']}").status == 200
        second = checked(port, "POST", "/v1/locks/db?ttl=30s")
        assert second.status == 200, second
        assert checked(port, "PUT", f"/v1/kv/fenced?lock=db&token={second.json['token']}", body="v").status == 200
        assert checked(port, "POST", "/v1/elections/chosen/campaign", {"ttl": "30s", "value": "x"}).status == 200
        assert checked(port, "POST", "/v1/locks/other?ttl=30s").status == 200
        state = {"session": second.json["session"], "stale_token": first.json["token"], "fresh_token": second.json["token"]}

        # The slow clients start first and run while the catalogue is served.
        sender = {}
        reader = {"read_after": 12.0}
        reader_ready = threading.Event()
        threads = [threading.Thread(target=slow_sender, args=(port, sender)),
                   threading.Thread(target=slow_reader, args=(port, reader, reader_ready))]
        for t in threads:
            t.start()
        reader_ready.wait(5)
        time.sleep(0.3)
        # Flood the slow reader's watch: far more than its buffers can hold.
        value = "f" * 60_000
        for i in range(120):
            r = checked(cluster.port(leader), "PUT", f"/v1/kv/flood/k{i % 10}", body=value)
            assert r.status == 200, r

        failures = []
        catalogue = cases(state)
        for label, method, path, body, headers, status, code in catalogue:
            r = checked(port, method, path, body=body, headers=headers)
            if r.status != status or r.code() != code:
                failures.append(f"{label}: {method} {path[:60]} -> {r.status} {r.code()}, want {status} {code}: {r.raw[:200]}")
        for label, data, status, code in raw_cases():
            got = raw_exchange(port, data)
            statuses.append(got[0])
            if got != (status, code):
                failures.append(f"{label}: -> {got}, want {(status, code)}")
        # Wrong-method answers name the allowed methods.
        allow = checked(port, "PATCH", "/v1/locks/db")
        assert allow.header("Allow") == "POST, DELETE, GET", allow.headers

        for t in threads:
            t.join(timeout=60)
        total = len(catalogue) + len(raw_cases())
        print(f"{total} bad requests, {len(failures)} failures")
        assert not failures, "\n".join(failures)
        # Other clients were served all along; the slow ones were cut off.
        assert 8.0 <= sender["seconds"] <= 16.0, f"the slow sender was cut off after {sender.get('seconds')} s"
        assert reader.get("ended"), "the slow reader's stream was not ended"
        logs = "".join(cluster.log_text(n) for n in cluster.ids())
        assert "slow_sender_cut" in logs, "the slow sender was not cut off for being slow"
        assert "stream_cut" in logs and "slow reader" in logs, "the slow reader was not cut off for being slow"
        # Nothing crashed, and nothing answered 500 or above.
        for node in cluster.ids():
            assert cluster.running(node), f"node {node} died"
            assert cluster.view(node) is not None
        assert statuses and all(0 < s < 500 for s in statuses), sorted(set(statuses))
        print(f"{len(statuses)} responses, statuses seen: {sorted(set(statuses))}; 0 crashes")


if __name__ == "__main__":
    runner.run(globals())
