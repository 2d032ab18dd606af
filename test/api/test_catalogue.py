"""A catalogue of bad requests against a real 3-node cluster (issues #6 and 19).

The cluster speaks HTTPS (client certificates optional) with auth on: the
catalogue's requests carry the token of principal "tester", whose rules let it
do what they need. Each case asserts the exact HTTP status and error code. A
second list tries the auth layer itself: malformed Authorization headers, huge,
unknown and revoked tokens, no token on protected and open routes, a narrow
principal's denials (the /app vs /apple boundary among them), token and rule
bodies, ids, forced releases without admin, a client claiming a certificate
name, and client certificates. A slow sender and a slow reader, over TLS, run
alongside and must be cut off while the catalogue is served. The suite ends
with every node alive and no response of 500 or above.

Run: python3 test/api/test_catalogue.py --binary build/server/synod test_bad_request_catalogue
"""
import json
import os
import socket
import ssl
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

from pylib import runner  # noqa: E402
from pylib.auth import give_root_token  # noqa: E402
from pylib.http import request  # noqa: E402
from pylib.tls import TlsCluster, client_context  # noqa: E402
from pylib.wait import retry  # noqa: E402

ROOT_TOKEN = "synod_root_token_for_the_catalogue_0123456789"

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



def auth_cases(state):
    """(label, method, path, body, who, headers, status, code[, fields]). `who` names whose
    credential goes: a principal's token ("tester", "narrow", "carol", "root", "gone": revoked),
    "cert:admin" (the client certificate deploy/certs.sh made), or None (nothing). An
    Authorization in `headers` replaces the token. `fields` are JSON fields the answer must have."""
    tester, root, s = state["tokens"]["tester"], ROOT_TOKEN, state["session"]
    key = "/v1/kv/fenced"  # tester may read it, narrow may not

    def bearer(token):
        return {"Authorization": f"Bearer {token}"}

    def changed(token):  # the same length, one character different
        return token[:-1] + ("A" if token[-1] != "A" else "B")

    no_principal = {"principal": None}
    return [
        # ---- malformed Authorization headers (401 bad_authorization), and the forms that are accepted
        ("Authorization: Basic", "GET", key, None, None, {"Authorization": "Basic dGVzdGVyOnNlY3JldA=="}, 401, "bad_authorization"),
        ("Authorization: Basic with tester's token", "GET", key, None, None, {"Authorization": f"Basic {tester}"}, 401, "bad_authorization"),
        ("Authorization: Digest", "GET", key, None, None, {"Authorization": 'Digest username="tester"'}, 401, "bad_authorization"),
        ("Authorization: Token scheme", "GET", key, None, None, {"Authorization": f"Token {tester}"}, 401, "bad_authorization"),
        ("Authorization empty (as if absent)", "GET", key, None, None, {"Authorization": ""}, 401, "unauthenticated"),
        ("Authorization: Bearer alone", "GET", key, None, None, {"Authorization": "Bearer"}, 401, "bad_authorization"),
        ("Authorization: Bearer and spaces", "GET", key, None, None, {"Authorization": "Bearer      "}, 401, "bad_authorization"),
        ("Authorization: the token without a scheme", "GET", key, None, None, {"Authorization": tester}, 401, "bad_authorization"),
        ("Authorization: Bearer glued to the token", "GET", key, None, None, {"Authorization": f"Bearer{tester}"}, 401, "bad_authorization"),
        ("Authorization: a tab after Bearer", "GET", key, None, None, {"Authorization": f"Bearer\t{tester}"}, 401, "bad_authorization"),
        ("scheme in lower case (accepted)", "GET", key, None, None, {"Authorization": f"bearer {tester}"}, 200, None),
        ("scheme in upper case (accepted)", "GET", key, None, None, {"Authorization": f"BEARER {tester}"}, 200, None),
        ("two spaces before the token (accepted)", "GET", key, None, None, {"Authorization": f"Bearer  {tester}"}, 200, None),
        ("spaces after the token (accepted)", "GET", key, None, None, {"Authorization": f"Bearer {tester}   "}, 200, None),
        ("two tokens in one header", "GET", key, None, None, {"Authorization": f"Bearer {tester} {tester}"}, 401, "bad_authorization"),
        ("a list of credentials", "GET", key, None, None, {"Authorization": f"Bearer {tester}, Basic YTpi"}, 401, "bad_authorization"),
        ("a quoted token", "GET", key, None, None, {"Authorization": f'Bearer "{tester}"'}, 401, "bad_authorization"),
        # A control character in a header value is refused by the HTTP parser (RFC 9110 field-value), before auth.
        ("a control character in the token", "GET", key, None, None, {"Authorization": f"Bearer {tester[:8]}\x01{tester[9:]}"}, 400, "bad_request"),
        ("DEL in the token", "GET", key, None, None, {"Authorization": f"Bearer {tester[:8]}\x7f{tester[9:]}"}, 400, "bad_request"),
        ("an escape sequence in the token", "GET", key, None, None, {"Authorization": "Bearer \x1b[31m0123456789abcdef"}, 400, "bad_request"),
        ("a non-ASCII token (Latin-1)", "GET", key, None, None, {"Authorization": "Bearer " + "\xe9" * 20}, 401, "bad_authorization"),
        ("a non-ASCII token (UTF-8)", "GET", key, None, None, {"Authorization": ("Bearer jeton-\u00e9t\u00e9-\u2603-0123456789").encode()}, 401, "bad_authorization"),
        ("a token with '%'", "GET", key, None, None, {"Authorization": "Bearer " + "a" * 20 + "%41"}, 401, "bad_authorization"),
        ("a token with '!'", "GET", key, None, None, {"Authorization": "Bearer " + "a" * 20 + "!"}, 401, "bad_authorization"),
        ("a token with ':'", "GET", key, None, None, {"Authorization": "Bearer tester:" + "a" * 20}, 401, "bad_authorization"),
        ("a token of 15 characters", "GET", key, None, None, bearer("t" * 15), 401, "bad_authorization"),
        ("a token of 16 characters (well-formed, unknown)", "GET", key, None, None, bearer("t" * 16), 401, "unauthenticated"),
        ("a token of 512 characters (well-formed, unknown)", "GET", key, None, None, bearer("u" * 512), 401, "unauthenticated"),
        ("a token of 513 characters", "GET", key, None, None, bearer("v" * 513), 401, "bad_authorization"),
        ("a 7 KiB token", "PUT", "/v1/kv/a", "x", None, bearer("w" * 7 * 1024), 401, "bad_authorization"),
        ("a 9 KiB token (over the 8 KiB of headers)", "GET", key, None, None, bearer("x" * 9 * 1024), 431, "headers_too_large"),
        ("a base64 token with padding (well-formed, unknown)", "GET", key, None, None, bearer("QUJDREVGR0hJSktMTU5PUA=="), 401, "unauthenticated"),
        ("a bad Authorization on an open route", "GET", "/healthz", None, None, {"Authorization": "Basic YTpi"}, 401, "bad_authorization"),
        ("a bad Authorization beside a good client certificate", "GET", key, None, "cert:admin", {"Authorization": "Bearer"}, 401, "bad_authorization"),
        # ---- unknown and revoked tokens (401 unauthenticated)
        ("an unknown token, a read", "GET", key, None, None, bearer("synod_an_unknown_token_0123456789"), 401, "unauthenticated"),
        ("an unknown token, a write", "PUT", "/v1/kv/a", "x", None, bearer("synod_an_unknown_token_0123456789"), 401, "unauthenticated"),
        ("an unknown token, a session", "POST", "/v1/sessions?ttl=10s", None, None, bearer("synod_an_unknown_token_0123456789"), 401, "unauthenticated"),
        ("root's token with one character changed", "GET", "/v1/auth/tokens", None, None, bearer(changed(root)), 401, "unauthenticated"),
        ("tester's token with one character changed", "GET", key, None, None, bearer(changed(tester)), 401, "unauthenticated"),
        ("tester's token and a suffix", "GET", key, None, None, bearer(tester + "x"), 401, "unauthenticated"),
        ("tester's token cut short", "GET", key, None, None, bearer(tester[:-1]), 401, "unauthenticated"),
        ("a revoked token, a read", "GET", key, None, "gone", None, 401, "unauthenticated"),
        ("a revoked token, a write", "PUT", "/v1/kv/a", "x", "gone", None, 401, "unauthenticated"),
        ("a revoked token, a session", "POST", "/v1/sessions?ttl=10s", None, "gone", None, 401, "unauthenticated"),
        ("a revoked token, a watch", "GET", "/v1/watch/?space=key", None, "gone", None, 401, "unauthenticated"),
        ("a revoked token, whoami", "GET", "/v1/auth/whoami", None, "gone", None, 200, None, no_principal),
        ("an unknown token, whoami", "GET", "/v1/auth/whoami", None, None, bearer("t" * 16), 200, None, no_principal),
        # ---- no credentials: protected routes refuse, open routes answer
        ("no token, a read", "GET", key, None, None, None, 401, "unauthenticated"),
        ("no token, a write", "PUT", "/v1/kv/a", "x", None, None, 401, "unauthenticated"),
        ("no token, a delete", "DELETE", "/v1/kv/fenced", None, None, None, 401, "unauthenticated"),
        ("no token, a listing", "GET", "/v1/kv/?recurse", None, None, None, 401, "unauthenticated"),
        ("no token, a session", "POST", "/v1/sessions?ttl=10s", None, None, None, 401, "unauthenticated"),
        ("no token, the session list", "GET", "/v1/sessions", None, None, None, 401, "unauthenticated"),
        ("no token, tester's session", "GET", f"/v1/sessions/{s}", None, None, None, 401, "unauthenticated"),
        ("no token, a keep-alive of tester's session", "POST", f"/v1/sessions/{s}/keepalive", None, None, None, 401, "unauthenticated"),
        ("no token, a lock", "POST", "/v1/locks/db2?ttl=10s", None, None, None, 401, "unauthenticated"),
        ("no token, a lock's holders", "GET", "/v1/locks/db", None, None, None, 401, "unauthenticated"),
        ("no token, a release of tester's lock", "DELETE", f"/v1/locks/db?session={s}", None, None, None, 401, "unauthenticated"),
        ("no token, an election", "GET", "/v1/elections/chosen", None, None, None, 401, "unauthenticated"),
        ("no token, a campaign", "POST", "/v1/elections/e2/campaign", {"ttl": "10s", "value": "x"}, None, None, 401, "unauthenticated"),
        ("no token, a txn", "POST", "/v1/txn", {"ops": [{"op": "put", "key": "/a", "value": "x"}]}, None, None, 401, "unauthenticated"),
        ("no token, a watch", "GET", "/v1/watch/?space=key", None, None, None, 401, "unauthenticated"),
        ("no token, the token list", "GET", "/v1/auth/tokens", None, None, None, 401, "unauthenticated"),
        ("no token, a new token", "POST", "/v1/auth/tokens", {"principal": "mallory"}, None, None, 401, "unauthenticated"),
        ("no token, a new rule", "POST", "/v1/auth/rules",
         {"subject": "user:mallory", "space": "keys", "prefix": "", "permission": "admin"}, None, None, 401, "unauthenticated"),
        ("no token, auth off", "POST", "/v1/auth/disable", None, None, None, 401, "unauthenticated"),
        ("no token, a forced release", "POST", "/v1/locks/db/force-release?reason=x", None, None, None, 401, "unauthenticated"),
        ("no token, bad JSON (decoded before the credential)", "POST", "/v1/sessions", "{", None, None, 400, "bad_json"),
        ("no token, /healthz", "GET", "/healthz", None, None, None, 200, None),
        ("no token, /readyz", "GET", "/readyz", None, None, None, 200, None),
        ("no token, GET /v1/cluster", "GET", "/v1/cluster", None, None, None, 200, None),
        ("no token, whoami", "GET", "/v1/auth/whoami", None, None, None, 200, None, {"principal": None, "auth_enabled": True}),
        # ---- a narrow principal: keys read on /pub, keys write on /app, nothing else
        ("narrow reads /pub/x", "GET", "/v1/kv/pub/x", None, "narrow", None, 200, None),
        ("narrow reads a missing key under /pub", "GET", "/v1/kv/pub/missing", None, "narrow", None, 404, "not_found"),
        ("narrow writes /pub/x (read only)", "PUT", "/v1/kv/pub/x", "x", "narrow", None, 403, "permission_denied"),
        ("narrow deletes /pub/x (read only)", "DELETE", "/v1/kv/pub/x", None, "narrow", None, 403, "permission_denied"),
        ("narrow reads /fenced", "GET", key, None, "narrow", None, 403, "permission_denied"),
        ("narrow reads /publish (not under /pub)", "GET", "/v1/kv/publish", None, "narrow", None, 403, "permission_denied"),
        ("narrow writes /app/x", "PUT", "/v1/kv/app/x", "x", "narrow", None, 200, None),
        ("narrow writes /app itself", "PUT", "/v1/kv/app", "x", "narrow", None, 200, None),
        ("narrow reads /app/x (write covers read)", "GET", "/v1/kv/app/x", None, "narrow", None, 200, None),
        ("narrow writes /apple (not under /app)", "PUT", "/v1/kv/apple", "x", "narrow", None, 403, "permission_denied"),
        ("narrow writes /app-x (not under /app)", "PUT", "/v1/kv/app-x", "x", "narrow", None, 403, "permission_denied"),
        ("narrow reads /apple", "GET", "/v1/kv/apple", None, "narrow", None, 403, "permission_denied"),
        ("narrow lists every key (filtered)", "GET", "/v1/kv/?recurse", None, "narrow", None, 200, None),
        ("narrow makes a session", "POST", "/v1/sessions?ttl=10s", None, "narrow", None, 403, "permission_denied"),
        ("narrow takes a lock", "POST", "/v1/locks/db2?ttl=10s", None, "narrow", None, 403, "permission_denied"),
        ("narrow reads a lock", "GET", "/v1/locks/db", None, "narrow", None, 403, "permission_denied"),
        ("narrow campaigns", "POST", "/v1/elections/e2/campaign", {"ttl": "10s", "value": "x"}, "narrow", None, 403, "permission_denied"),
        ("narrow reads an election", "GET", "/v1/elections/chosen", None, "narrow", None, 403, "permission_denied"),
        ("narrow reads tester's session", "GET", f"/v1/sessions/{s}", None, "narrow", None, 403, "permission_denied"),
        ("narrow keeps tester's session alive", "POST", f"/v1/sessions/{s}/keepalive", None, "narrow", None, 403, "permission_denied"),
        ("narrow deletes tester's session", "DELETE", f"/v1/sessions/{s}", None, "narrow", None, 403, "permission_denied"),
        ("narrow releases tester's lock", "DELETE", f"/v1/locks/db?session={s}", None, "narrow", None, 403, "permission_denied"),
        ("narrow's txn writes /pub", "POST", "/v1/txn", {"ops": [{"op": "put", "key": "/pub/y", "value": "x"}]}, "narrow", None, 403, "permission_denied"),
        ("narrow's txn guards an unreadable key", "POST", "/v1/txn",
         {"guards": [{"kind": "exists", "key": "/fenced"}], "ops": [{"op": "put", "key": "/app/t", "value": "x"}]}, "narrow", None, 403, "permission_denied"),
        ("narrow's txn guards a lock", "POST", "/v1/txn",
         {"guards": [{"kind": "holder", "lock": "db", "session": s}], "ops": []}, "narrow", None, 403, "permission_denied"),
        ("narrow's txn within its rules", "POST", "/v1/txn",
         {"guards": [{"kind": "exists", "key": "/pub/x"}], "ops": [{"op": "put", "key": "/app/t", "value": "x"}]}, "narrow", None, 200, None),
        ("narrow lists the tokens", "GET", "/v1/auth/tokens", None, "narrow", None, 403, "permission_denied"),
        ("narrow lists the rules", "GET", "/v1/auth/rules", None, "narrow", None, 403, "permission_denied"),
        ("narrow makes a rule for itself", "POST", "/v1/auth/rules",
         {"subject": "user:narrow", "space": "keys", "prefix": "", "permission": "admin"}, "narrow", None, 403, "permission_denied"),
        ("narrow turns auth off", "POST", "/v1/auth/disable", None, "narrow", None, 403, "permission_denied"),
        ("narrow force-releases db (no admin)", "POST", "/v1/locks/db/force-release?reason=x", None, "narrow", None, 403, "permission_denied"),
        ("narrow force-releases an election (no admin)", "POST", "/v1/elections/chosen/force-release", None, "narrow", None, 403, "permission_denied"),
        ("narrow's whoami", "GET", "/v1/auth/whoami", None, "narrow", None, 200, None, {"principal": "narrow", "via": "token", "root": False}),
        # ---- a role: carol has role ops, which may read keys under /ops
        ("role ops reads /ops/x", "GET", "/v1/kv/ops/x", None, "carol", None, 404, "not_found"),
        ("role ops writes /ops/x (read only)", "PUT", "/v1/kv/ops/x", "x", "carol", None, 403, "permission_denied"),
        ("role ops reads /fenced", "GET", key, None, "carol", None, 403, "permission_denied"),
        # ---- tester: admin of locks, keys, elections and sessions, but not of the cluster
        ("tester makes a token", "POST", "/v1/auth/tokens", {"principal": "mallory"}, "tester", None, 403, "permission_denied"),
        ("tester makes itself cluster admin", "POST", "/v1/auth/rules",
         {"subject": "user:tester", "space": "cluster", "prefix": "", "permission": "admin"}, "tester", None, 403, "permission_denied"),
        ("tester lists the tokens", "GET", "/v1/auth/tokens", None, "tester", None, 403, "permission_denied"),
        ("tester revokes narrow's token", "DELETE", f"/v1/auth/tokens/{state['ids']['narrow']}", None, "tester", None, 403, "permission_denied"),
        ("tester deletes a rule", "DELETE", f"/v1/auth/rules/{state['rules'][0]}", None, "tester", None, 403, "permission_denied"),
        ("tester turns auth off", "POST", "/v1/auth/disable", None, "tester", None, 403, "permission_denied"),
        ("tester force-releases a lock nobody holds", "POST", "/v1/locks/nobody/force-release?reason=x", None, "tester", None, 404, "not_found"),
        ("tester force-releases an election nobody leads", "POST", "/v1/elections/nobody/force-release", None, "tester", None, 404, "not_found"),
        ("auth enable with a body", "POST", "/v1/auth/enable", {}, "root", None, 400, "unexpected_body"),
        # ---- forced releases: decoding
        ("force-release reason over 256 bytes", "POST", "/v1/locks/db/force-release?reason=" + "r" * 257, None, "root", None, 400, "bad_value"),
        ("force-release unknown parameter", "POST", "/v1/locks/db/force-release?colour=blue", None, "root", None, 400, "unknown_parameter"),
        ("force-release session not a number", "POST", "/v1/locks/db/force-release?session=abc", None, "root", None, 400, "bad_session"),
        ("force-release skip_lock_delay=perhaps", "POST", "/v1/locks/db/force-release?skip_lock_delay=perhaps", None, "root", None, 400, "bad_value"),
        ("force-release a bad lock name", "POST", "/v1/locks/a%00b/force-release", None, "root", None, 400, "bad_name"),
        ("GET force-release", "GET", "/v1/locks/db/force-release", None, "root", None, 405, "method_not_allowed"),
        # ---- token bodies
        ("token without principal", "POST", "/v1/auth/tokens", {"roles": "ops"}, "root", None, 400, "missing_parameter"),
        ("token principal empty", "POST", "/v1/auth/tokens", {"principal": ""}, "root", None, 400, "bad_value"),
        ("token principal with a space", "POST", "/v1/auth/tokens", {"principal": "a b"}, "root", None, 400, "bad_value"),
        ("token principal with a slash", "POST", "/v1/auth/tokens", {"principal": "a/b"}, "root", None, 400, "bad_value"),
        ("token principal with NUL", "POST", "/v1/auth/tokens", {"principal": "a\u0000b"}, "root", None, 400, "bad_value"),
        ("token principal not ASCII", "POST", "/v1/auth/tokens", {"principal": "jos\u00e9"}, "root", None, 400, "bad_value"),
        ("token principal of 129 characters", "POST", "/v1/auth/tokens", {"principal": "p" * 129}, "root", None, 400, "bad_value"),
        ("token principal a number", "POST", "/v1/auth/tokens", {"principal": 7}, "root", None, 400, "bad_type"),
        ("token principal null", "POST", "/v1/auth/tokens", {"principal": None}, "root", None, 400, "bad_type"),
        ("token roles a list", "POST", "/v1/auth/tokens", {"principal": "p", "roles": ["a", "b"]}, "root", None, 400, "bad_type"),
        ("token roles with an empty one", "POST", "/v1/auth/tokens", {"principal": "p", "roles": "a,,b"}, "root", None, 400, "bad_value"),
        ("token roles with a space", "POST", "/v1/auth/tokens", {"principal": "p", "roles": "ops admin"}, "root", None, 400, "bad_value"),
        ("token with 17 roles", "POST", "/v1/auth/tokens", {"principal": "p", "roles": ",".join(f"r{i}" for i in range(17))}, "root", None, 400, "bad_value"),
        ("token unknown field", "POST", "/v1/auth/tokens", {"principal": "p", "root": True}, "root", None, 400, "unknown_field"),
        ("token principal of 128 characters (the most)", "POST", "/v1/auth/tokens", {"principal": "p" * 128}, "root", None, 200, None),
        ("token body not JSON", "POST", "/v1/auth/tokens", "principal=p", "root", None, 400, "bad_json"),
        ("token body an array", "POST", "/v1/auth/tokens", [{"principal": "p"}], "root", None, 400, "bad_json"),
        ("token principal in query and body", "POST", "/v1/auth/tokens?principal=p", {"principal": "p"}, "root", None, 400, "conflicting_parameters"),
        # ---- rule bodies
        ("rule without subject", "POST", "/v1/auth/rules", {"space": "keys", "prefix": "/a", "permission": "read"}, "root", None, 400, "missing_parameter"),
        ("rule subject without kind", "POST", "/v1/auth/rules", {"subject": "tester", "space": "keys", "prefix": "/a", "permission": "read"}, "root", None, 400, "bad_value"),
        ("rule subject group:", "POST", "/v1/auth/rules", {"subject": "group:ops", "space": "keys", "prefix": "/a", "permission": "read"}, "root", None, 400, "bad_value"),
        ("rule subject USER:", "POST", "/v1/auth/rules", {"subject": "USER:tester", "space": "keys", "prefix": "/a", "permission": "read"}, "root", None, 400, "bad_value"),
        ("rule subject user: without a name", "POST", "/v1/auth/rules", {"subject": "user:", "space": "keys", "prefix": "/a", "permission": "read"}, "root", None, 400, "bad_value"),
        ("rule subject name with a space", "POST", "/v1/auth/rules", {"subject": "role:a b", "space": "keys", "prefix": "/a", "permission": "read"}, "root", None, 400, "bad_value"),
        ("rule subject name of 129 characters", "POST", "/v1/auth/rules", {"subject": "user:" + "n" * 129, "space": "keys", "prefix": "/a", "permission": "read"}, "root", None, 400, "bad_value"),
        ("rule subject a number", "POST", "/v1/auth/rules", {"subject": 5, "space": "keys", "prefix": "/a", "permission": "read"}, "root", None, 400, "bad_type"),
        ("rule space unknown", "POST", "/v1/auth/rules", {"subject": "user:t", "space": "planets", "prefix": "/a", "permission": "read"}, "root", None, 400, "bad_value"),
        ("rule space in capitals", "POST", "/v1/auth/rules", {"subject": "user:t", "space": "KEYS", "prefix": "/a", "permission": "read"}, "root", None, 400, "bad_value"),
        ("rule space singular", "POST", "/v1/auth/rules", {"subject": "user:t", "space": "key", "prefix": "/a", "permission": "read"}, "root", None, 400, "bad_value"),
        ("rule without space", "POST", "/v1/auth/rules", {"subject": "user:t", "prefix": "/a", "permission": "read"}, "root", None, 400, "bad_value"),
        ("rule permission unknown", "POST", "/v1/auth/rules", {"subject": "user:t", "space": "keys", "prefix": "/a", "permission": "execute"}, "root", None, 400, "bad_value"),
        ("rule without permission", "POST", "/v1/auth/rules", {"subject": "user:t", "space": "keys", "prefix": "/a"}, "root", None, 400, "bad_value"),
        ("rule permission a number", "POST", "/v1/auth/rules", {"subject": "user:t", "space": "keys", "prefix": "/a", "permission": 2}, "root", None, 400, "bad_type"),
        ("rule keys prefix without '/'", "POST", "/v1/auth/rules", {"subject": "user:t", "space": "keys", "prefix": "app", "permission": "read"}, "root", None, 400, "bad_value"),
        ("rule prefix of 513 bytes", "POST", "/v1/auth/rules", {"subject": "user:t", "space": "keys", "prefix": "/" + "p" * 512, "permission": "read"}, "root", None, 400, "bad_value"),
        ("rule locks prefix of 513 bytes", "POST", "/v1/auth/rules", {"subject": "user:t", "space": "locks", "prefix": "l" * 513, "permission": "read"}, "root", None, 400, "bad_value"),
        ("rule prefix a number", "POST", "/v1/auth/rules", {"subject": "user:t", "space": "keys", "prefix": 1, "permission": "read"}, "root", None, 400, "bad_type"),
        ("rule unknown field", "POST", "/v1/auth/rules", {"subject": "user:t", "space": "keys", "prefix": "/a", "permission": "read", "deny": True}, "root", None, 400, "unknown_field"),
        ("rule body truncated", "POST", "/v1/auth/rules", '{"subject": "user:t"', "root", None, 400, "bad_json"),
        # ---- token and rule ids
        ("revoke token id not a number", "DELETE", "/v1/auth/tokens/abc", None, "root", None, 400, "bad_id"),
        ("revoke token id 0", "DELETE", "/v1/auth/tokens/0", None, "root", None, 400, "bad_id"),
        ("revoke token id negative", "DELETE", "/v1/auth/tokens/-1", None, "root", None, 400, "bad_id"),
        ("revoke token id fractional", "DELETE", "/v1/auth/tokens/1.5", None, "root", None, 400, "bad_id"),
        ("revoke token id past 2^64", "DELETE", "/v1/auth/tokens/18446744073709551616", None, "root", None, 400, "bad_id"),
        ("revoke an unknown token id", "DELETE", "/v1/auth/tokens/999999999", None, "root", None, 404, "not_found"),
        ("revoke the revoked token again", "DELETE", f"/v1/auth/tokens/{state['ids']['gone']}", None, "root", None, 404, "not_found"),
        ("delete rule id not a number", "DELETE", "/v1/auth/rules/x1", None, "root", None, 400, "bad_id"),
        ("delete rule id 0", "DELETE", "/v1/auth/rules/0", None, "root", None, 400, "bad_id"),
        ("delete an unknown rule id", "DELETE", "/v1/auth/rules/999999999", None, "root", None, 404, "not_found"),
        ("GET one token", "GET", "/v1/auth/tokens/1", None, "root", None, 405, "method_not_allowed"),
        ("DELETE every token", "DELETE", "/v1/auth/tokens", None, "root", None, 405, "method_not_allowed"),
        ("GET auth enable", "GET", "/v1/auth/enable", None, "root", None, 405, "method_not_allowed"),
        ("unknown auth route", "GET", "/v1/auth/users", None, "root", None, 404, "no_route"),
        # ---- certificate names: a client's header is not believed; a client certificate is
        ("a client claims X-Synod-Certificate-Name", "PUT", "/v1/kv/a", "x", None, {"X-Synod-Certificate-Name": "admin"}, 401, "unauthenticated"),
        ("a client claims root's certificate name", "GET", "/v1/auth/tokens", None, None, {"X-Synod-Certificate-Name": "root"}, 401, "unauthenticated"),
        ("narrow claims a certificate name too", "GET", key, None, "narrow", {"X-Synod-Certificate-Name": "admin"}, 403, "permission_denied"),
        ("whoami with a claimed certificate name", "GET", "/v1/auth/whoami", None, None, {"X-Synod-Certificate-Name": "admin"}, 200, None, no_principal),
        ("client certificate admin, no rule", "GET", key, None, "cert:admin", None, 403, "permission_denied"),
        ("client certificate admin, whoami", "GET", "/v1/auth/whoami", None, "cert:admin", None, 200, None, {"principal": "admin", "via": "certificate"}),
        ("client certificate and tester's token (the token wins)", "GET", key, None, "cert:admin", bearer(tester), 200, None),
        # Over TLS a forward is believed from a member's connection only: the follower forwards as usual.
        ("a client claims X-Synod-Forwarded", "PUT", "/v1/kv/app/q", "x", "narrow", {"X-Synod-Forwarded": "1"}, 200, None),
    ]


def leader_auth_cases(state):
    """auth_cases() sent to the leader: a client posing as a follower's forward is not believed."""
    forged = {"X-Synod-Forwarded": "1", "X-Synod-Certificate-Name": "admin"}
    return [
        ("a forged forward naming a certificate", "PUT", "/v1/kv/a", "x", None, forged, 401, "unauthenticated"),
        ("a forged forward naming a certificate, whoami", "GET", "/v1/auth/whoami", None, None, forged, 200, None,
         {"principal": None}),
        ("a forged forward with narrow's token", "PUT", "/v1/kv/fenced", "x", "narrow", forged, 403, "permission_denied"),
        ("a forged forward with a revoked token", "GET", "/v1/kv/fenced", None, "gone", forged, 401, "unauthenticated"),
    ]


def raw_exchange(port, data, timeout=5.0, context=None):
    """Sends raw bytes (over TLS with `context`); returns (status, code) of the answer, or (0, None)
    if the server closed first."""
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as plain:
        s = context.wrap_socket(plain, server_hostname="127.0.0.1") if context is not None else plain
        try:
            s.sendall(data)
        except OSError:
            pass
        try:
            while b"\r\n\r\n" not in received or len(received) < received.find(b"\r\n\r\n") + 4 + _length(received):
                chunk = s.recv(65536)
                if not chunk:
                    break
                received += chunk
        except OSError:
            pass
        if s is not plain:
            s.close()
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


def raw_auth_cases(state):
    """(label, data, status, code, tls): Authorization headers http.client will not send, and plain HTTP."""
    tester = state["tokens"]["tester"].encode()
    get = b"GET /v1/kv/fenced HTTP/1.1\r\nHost: x\r\n"
    return [
        # Two Authorization headers: the first is the one judged (a forward carries only it).
        ("two Authorization headers, both tester's", get + b"Authorization: Bearer " + tester + b"\r\nAuthorization: Bearer " + tester + b"\r\n\r\n", 401, "bad_authorization", True),
        ("two Authorization headers, a bad one first", get + b"Authorization: Basic YTpi\r\nAuthorization: Bearer " + tester + b"\r\n\r\n", 401, "bad_authorization", True),
        ("two Authorization headers, an unknown token last", get + b"Authorization: Bearer " + tester + b"\r\nAuthorization: Bearer " + b"u" * 20 + b"\r\n\r\n", 401, "bad_authorization", True),
        ("two Authorization headers, an unknown token first", get + b"Authorization: Bearer " + b"u" * 20 + b"\r\nAuthorization: Bearer " + tester + b"\r\n\r\n", 401, "bad_authorization", True),
        ("NUL in the token", get + b"Authorization: Bearer " + tester[:8] + b"\x00" + tester[9:] + b"\r\n\r\n", 400, "bad_request", True),
        # obs-fold is joined with a space (RFC 9112 allows that or a 400): a valid header.
        ("Authorization folded onto two lines", get + b"Authorization: Bearer\r\n " + tester + b"\r\n\r\n", 200, None, True),
        ("a space before the Authorization colon", get + b"Authorization : Bearer " + tester + b"\r\n\r\n", 400, "bad_request", True),
        ("plain HTTP with a token to the TLS port", get + b"Authorization: Bearer " + tester + b"\r\n\r\n", 400, "tls_required", False),
    ]


def slow_sender(port, context, result):
    """Sends a request one byte a second over TLS; records when the server hung up."""
    started = time.time()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as plain, \
            context.wrap_socket(plain, server_hostname="127.0.0.1") as s:
        s.sendall(b"GET /v1/cluster HTTP/1.1\r\nHost: x\r\n")
        try:
            for _ in range(60):
                s.sendall(b"X")
                time.sleep(1.0)
                s.setblocking(False)
                try:
                    if s.recv(1) == b"":
                        break
                except (BlockingIOError, ssl.SSLWantReadError):
                    pass
                finally:
                    s.setblocking(True)
        except OSError:
            pass
    result["seconds"] = time.time() - started


def slow_reader(port, context, token, result, ready):
    """Watches a busy prefix over TLS without ever reading; records when the server hung up."""
    plain = socket.socket()
    plain.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    plain.settimeout(60)
    plain.connect(("127.0.0.1", port))
    s = context.wrap_socket(plain, server_hostname="127.0.0.1")
    s.sendall(b"GET /v1/watch/flood/ HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token.encode() + b"\r\n\r\n")
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


def started_with_auth(cluster):
    """Starts the cluster with a root token; makes the principals and rules the cases need; turns
    auth on. Returns the leader and {"tokens", "ids", "rules"}."""
    give_root_token(cluster, ROOT_TOKEN)
    cluster.start_all()
    leader = cluster.leader(timeout=15)
    root = {"Authorization": f"Bearer {ROOT_TOKEN}"}

    def as_root(method, path, body=None):
        answer = request(cluster.port(leader), method, path, body=body, headers=root, timeout=20,
                         ssl_context=cluster.ssl_context)
        assert answer.status == 200, (method, path, answer)
        return answer

    whoami = retry(lambda: request(cluster.port(leader), "GET", "/v1/auth/whoami", headers=root,
                                   ssl_context=cluster.ssl_context),
                   lambda r: r.status == 200 and r.json.get("root"), timeout=15)
    assert whoami.status == 200 and whoami.json["root"], whoami
    tokens, ids = {}, {}
    for principal, roles in [("tester", ""), ("narrow", ""), ("carol", "ops"), ("gone", "")]:
        made = as_root("POST", "/v1/auth/tokens", {"principal": principal, **({"roles": roles} if roles else {})})
        tokens[principal], ids[principal] = made.json["token"], made.json["id"]
    rules = [as_root("POST", "/v1/auth/rules", {"subject": subject, "space": space, "prefix": prefix,
                                                 "permission": permission}).json["id"]
             for subject, space, prefix, permission in
             [("user:tester", "locks", "", "admin"), ("user:tester", "keys", "", "admin"),
              ("user:tester", "elections", "", "admin"), ("user:tester", "sessions", "", "admin"),
              ("user:narrow", "keys", "/pub", "read"), ("user:narrow", "keys", "/app", "write"),
              ("user:gone", "keys", "", "admin"), ("role:ops", "keys", "/ops", "read")]]
    as_root("PUT", "/v1/kv/pub/x", "public")
    as_root("POST", "/v1/auth/enable")
    as_root("DELETE", f"/v1/auth/tokens/{ids['gone']}")
    tokens["root"] = ROOT_TOKEN
    return leader, {"tokens": tokens, "ids": ids, "rules": rules}


def test_bad_request_catalogue(binary):
    with TlsCluster(3, binary) as cluster:
        leader, auth = started_with_auth(cluster)
        follower = cluster.followers(leader)[0]
        port = cluster.port(follower)  # bad input is refused where it lands; the rest is forwarded
        tester = auth["tokens"]["tester"]
        admin_context = client_context(cluster.ca_file, *cluster.certs["clients"]["admin"])
        statuses = []

        def checked(port, method, path, body=None, headers=None, token=tester, context=None):
            """One request over HTTPS; with tester's token unless `headers` has an Authorization or token is None."""
            sent = {"Authorization": f"Bearer {token}"} if token else {}
            sent.update(headers or {})
            r = request(port, method, path, body=body, headers=sent, timeout=20,
                        ssl_context=context or cluster.ssl_context)
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
        state.update(auth)

        # The slow clients start first and run while the catalogue is served.
        sender = {}
        reader = {"read_after": 12.0}
        reader_ready = threading.Event()
        threads = [threading.Thread(target=slow_sender, args=(port, cluster.ssl_context, sender)),
                   threading.Thread(target=slow_reader, args=(port, cluster.ssl_context, tester, reader, reader_ready))]
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
            got = raw_exchange(port, data, context=cluster.ssl_context)
            statuses.append(got[0])
            if got != (status, code):
                failures.append(f"{label}: -> {got}, want {(status, code)}")
        # Wrong-method answers name the allowed methods.
        allow = checked(port, "PATCH", "/v1/locks/db")
        assert allow.header("Allow") == "POST, DELETE, GET", allow.headers

        # The auth layer's own bad requests.
        catalogue_auth = [(port, case) for case in auth_cases(state)] + \
            [(cluster.port(leader), case) for case in leader_auth_cases(state)]
        for to, (label, method, path, body, who, headers, status, code, *fields) in catalogue_auth:
            token = state["tokens"][who] if who in state["tokens"] else None
            r = checked(to, method, path, body=body, headers=headers, token=token,
                        context=admin_context if who == "cert:admin" else None)
            want = fields[0] if fields else {}
            if r.status != status or r.code() != code or any((r.json or {}).get(k, "-") != v for k, v in want.items()):
                failures.append(f"[auth] {label}: {method} {path[:60]} -> {r.status} {r.code()}, want {status} {code}"
                                f"{' ' + json.dumps(want) if want else ''}: {r.raw[:200]}")
        raw_auth = raw_auth_cases(state)
        for label, data, status, code, tls in raw_auth:
            got = raw_exchange(port, data, context=cluster.ssl_context if tls else None)
            statuses.append(got[0])
            if got != (status, code):
                failures.append(f"[auth] {label}: -> {got}, want {(status, code)}")

        for t in threads:
            t.join(timeout=60)
        total = len(catalogue) + len(raw_cases()) + len(catalogue_auth) + len(raw_auth)
        print(f"{total} bad requests ({len(catalogue_auth) + len(raw_auth)} of them for auth), {len(failures)} failures")
        assert not failures, "\n".join(failures)
        # Other clients were served all along; the slow ones were cut off.
        assert 8.0 <= sender["seconds"] <= 16.0, f"the slow sender was cut off after {sender.get('seconds')} s"
        assert reader.get("ended"), "the slow reader's stream was not ended"
        logs = "".join(cluster.log_text(n) for n in cluster.ids())
        assert "slow_sender_cut" in logs, "the slow sender was not cut off for being slow"
        assert "stream_cut" in logs and "slow reader" in logs, "the slow reader was not cut off for being slow"
        for secret in state["tokens"].values():
            assert secret not in logs, "a token in a log"
        # Nothing crashed, and nothing answered 500 or above.
        for node in cluster.ids():
            assert cluster.running(node), f"node {node} died"
            assert cluster.view(node) is not None
        assert statuses and all(0 < s < 500 for s in statuses), sorted(set(statuses))
        print(f"{len(statuses)} responses, statuses seen: {sorted(set(statuses))}; 0 crashes")


if __name__ == "__main__":
    runner.run(globals())
