"""The checker of docs/openapi.yaml (test/pylib/openapi.py) on made-up
exchanges, no cluster: that the document is sound (lint), and that the
checker catches what it is there to catch: a body that breaks its schema, a
status the operation does not declare, a request the document refuses that
the server accepts, a malformed-request refusal of a request the document
accepts, a wrong error code for a status, a route the document lacks, a
missing header, an event that breaks its schema. Each case must be caught
(or, for the good exchanges, pass).

Run: python3 test/api/test_openapi.py
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

os.environ["SYNOD_OPENAPI_CHECK"] = "1"
os.environ.pop("SYNOD_OPENAPI_COUNTS", None)

from pylib import openapi  # noqa: E402

API = {"x-synod-index": "7", "x-synod-leader": "1", "content-type": "application/json"}


def error(code, retryable=False, **extra):
    return json.dumps({"error": {"code": code, "message": "m", "retryable": retryable}, **extra}).encode()


def exchange(method, target, status, body, headers=None, sent=b"", request_headers=None):
    openapi.check_exchange(method, target, request_headers or {}, sent, status,
                           headers if headers is not None else API, body)


GOOD = [
    ("healthz", lambda: exchange("GET", "/healthz", 200, b'{"status":"ok","node":1}')),
    ("a session created", lambda: exchange("POST", "/v1/sessions", 200, b'{"session":"1048577","valid_for_ms":9000}',
                                           sent=b'{"ttl":"15s"}')),
    ("a flag without a value", lambda: exchange("GET", "/v1/locks/db?stale", 200,
                                                b'{"lock":"db","held":false,"holders":[],"waiters":[],"log_time_ms":5}',
                                                headers=dict(API, **{"x-synod-stale-ms": "0", "x-synod-lag-slots": "0"}))),
    ("an election with no leader (nullable)", lambda: exchange(
        "GET", "/v1/elections/e", 200, b'{"election":"e","leader":null,"changed_index":0,"candidates":[]}')),
    ("a key under a rest-of-path parameter", lambda: exchange(
        "GET", "/v1/kv/a/b%2Bc", 200,
        b'{"key":"/a/b+c","create_index":1,"modify_index":1,"version":1,"lock_generation":0,'
        b'"value":"v","encoding":"utf-8"}')),
    ("a refused request answered 400", lambda: exchange("GET", "/v1/kv/a?colour=blue", 400, error("unknown_parameter"))),
    ("an unknown route answered 404 no_route", lambda: exchange("GET", "/v2/x", 404, error("no_route"))),
    ("a wrong method answered 405 with the document's methods",
     lambda: exchange("PATCH", "/v1/locks/x", 405, error("method_not_allowed"),
                      headers=dict(API, allow="POST, DELETE, GET"))),
    ("a 503 with its last leader", lambda: exchange(
        "PUT", "/v1/kv/a", 503, error("no_quorum", True, last_leader=None), sent=b"v",
        headers=dict(API, **{"retry-after": "1", "x-synod-last-leader": "0"}))),
]

BAD = [
    ("a body field of the wrong type", "body at $.node",
     lambda: exchange("GET", "/healthz", 200, b'{"status":"ok","node":"one"}')),
    ("a field the document does not have", "Additional properties",
     lambda: exchange("GET", "/healthz", 200, b'{"status":"ok","node":1,"extra":true}')),
    ("a status the operation does not declare", "status 418 is not declared",
     lambda: exchange("GET", "/healthz", 418, error("teapot"))),
    ("a code not of its status", "is not one of",
     lambda: exchange("GET", "/v1/kv/a", 404, error("conflict"))),
    ("a request the document refuses, accepted", "the document refuses this request",
     lambda: exchange("GET", "/v1/kv/a?colour=blue", 200,
                      b'{"key":"/a","create_index":1,"modify_index":1,"version":1,"lock_generation":0,'
                      b'"value":"v","encoding":"utf-8"}')),
    ("a missing required parameter, accepted", "the required query parameter 'session' is missing",
     lambda: exchange("DELETE", "/v1/locks/db", 200, b'{"lock":"db","released":true,"session":"5","token":3}')),
    ("a request the document accepts, refused as malformed", "refuses this request as malformed",
     lambda: exchange("GET", "/v1/kv/a?stale", 400, error("unknown_parameter"))),
    ("an undeclared route served", "no path of the document fits",
     lambda: exchange("GET", "/v1/nothing", 200, b"{}")),
    ("a 405 whose Allow differs from the document", "Allow says",
     lambda: exchange("PATCH", "/v1/locks/x", 405, error("method_not_allowed"), headers=dict(API, allow="GET"))),
    ("a required header missing", "the header X-Synod-Index is missing",
     lambda: exchange("GET", "/healthz", 200, b'{"status":"ok","node":1}',
                      headers={"content-type": "application/json", "x-synod-leader": "1"})),
    ("a Content-Type the response does not declare", "is not one of",
     lambda: exchange("GET", "/healthz", 200, b"ok", headers=dict(API, **{"content-type": "text/plain"}))),
    ("null where the document does not allow it", "None is not of type",
     lambda: exchange("GET", "/v1/elections/e", 200, b'{"election":null,"leader":null,"changed_index":0,'
                                                     b'"candidates":[]}')),
    ("a stream event that breaks its schema", "event 'put'",
     lambda: openapi.StreamCheck("GET", "/v1/watch/", {}, 200, dict(API, **{"content-type": "text/event-stream"}))
     .event("put", '{"revision":"seven","type":"put","space":"key"}')),
]


def main():
    _, problems = openapi.lint()
    assert not problems, "docs/openapi.yaml: " + "; ".join(problems)
    for name, run in GOOD:
        try:
            run()
        except openapi.OpenApiMismatch as mismatch:
            raise AssertionError(f"a good exchange was refused ({name}): {mismatch}") from None
    for name, expected, run in BAD:
        try:
            run()
        except openapi.OpenApiMismatch as mismatch:
            assert expected in str(mismatch), f"{name}: caught, but not for the reason expected ({expected!r}): " \
                                              f"{mismatch}"
            continue
        raise AssertionError(f"the checker missed {name}")
    openapi.forget()
    print(f"docs/openapi.yaml is sound; {len(GOOD)} good exchanges pass and {len(BAD)} bad ones are caught")
    return 0


if __name__ == "__main__":
    sys.exit(main())
