"""Tokens, ACL rules, sessions that belong to their owner, admin actions and
their audit lines (issue 19). Real synod processes on 127.0.0.1.

  test_tokens_rules_and_session_ownership
    - the bootstrap token becomes root's; root makes tokens and rules and
      turns auth on; then everything is denied unless a rule allows it
    - a rule's prefix covers whole path segments: /app, not /apple
    - a principal cannot release, keep alive or delete another's session
    - a revoked token is refused at once, through any node, keep-alives too
    - healthz, readyz and /v1/cluster stay open; reads are judged where served
    - a forced release needs admin and leaves an audit line
  test_lists_and_streams_leave_out_what_is_not_readable
    - a key listing and a watch leave out keys the principal may not read; a
      session list shows only its own sessions; a lock's holders show
      another principal's session as 0
    - a watch whose token is revoked gets an error event and ends
  test_certificate_principal_over_tls
    - over TLS, a client certificate names its principal; a follower's HTTP
      forward carries it to the leader, which believes it from a member only
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

from pylib import runner  # noqa: E402
from pylib.auth import give_root_token  # noqa: E402
from pylib.cluster import Cluster  # noqa: E402
from pylib.http import request  # noqa: E402
from pylib.sse import Events  # noqa: E402
from pylib.tls import TlsCluster, client_context  # noqa: E402
from pylib.wait import retry, until  # noqa: E402

ROOT_TOKEN = "synod_root_token_for_the_auth_tests_0123456789"


def call(cluster, node, method, path, token=None, body=None, context=None, headers=None):
    h = dict(headers or {})
    if token:
        h["Authorization"] = f"Bearer {token}"
    return request(cluster.port(node), method, path, body=body, headers=h, timeout=20,
                   ssl_context=context if context is not None else cluster.ssl_context)


def expect(answer, status, code=None, what=""):
    assert answer.status == status and (code is None or answer.code() == code), (what, answer)
    print(f"  {what}: {answer.status}{' ' + answer.code() if answer.code() else ''}")


def started_with_root(cluster):
    give_root_token(cluster, ROOT_TOKEN)
    cluster.start_all()
    leader = cluster.leader(timeout=20)
    whoami = retry(lambda: call(cluster, leader, "GET", "/v1/auth/whoami", ROOT_TOKEN),
                   lambda r: r.status == 200 and r.json.get("root"), timeout=15)
    assert whoami.json["root"], whoami
    return leader


def make_token(cluster, node, principal, roles=""):
    body = {"principal": principal}
    if roles:
        body["roles"] = roles
    answer = call(cluster, node, "POST", "/v1/auth/tokens", ROOT_TOKEN, body)
    assert answer.status == 200, answer
    return answer.json["token"], answer.json["id"]


def rule(cluster, node, subject, space, prefix, permission):
    answer = call(cluster, node, "POST", "/v1/auth/rules", ROOT_TOKEN,
                  {"subject": subject, "space": space, "prefix": prefix, "permission": permission})
    assert answer.status == 200, answer
    return answer.json["id"]


def test_tokens_rules_and_session_ownership(binary):
    with Cluster(3, binary, extra_args=["--audit-locks"]) as cluster:
        leader = started_with_root(cluster)
        follower = cluster.followers(leader)[0]
        alice, alice_id = make_token(cluster, follower, "alice")
        bob, _ = make_token(cluster, leader, "bob", "ops")
        for subject, space, prefix, permission in [("user:alice", "keys", "/app", "write"),
                                                   ("user:alice", "locks", "app", "write"),
                                                   ("user:alice", "sessions", "", "write"),
                                                   ("role:ops", "keys", "/app", "read"),
                                                   ("role:ops", "locks", "app", "write"),
                                                   ("role:ops", "sessions", "", "write")]:
            rule(cluster, leader, subject, space, prefix, permission)
        expect(call(cluster, follower, "POST", "/v1/auth/enable", ROOT_TOKEN), 200, None, "root turns auth on")

        # Denied by default; open probes stay open.
        expect(call(cluster, follower, "PUT", "/v1/kv/app/x", body="1"), 401, "unauthenticated", "no token, a write")
        expect(call(cluster, leader, "GET", "/v1/kv/app/x"), 401, "unauthenticated", "no token, a read")
        for path in ("/healthz", "/v1/cluster"):
            expect(call(cluster, follower, "GET", path), 200, None, f"no token, GET {path}")
        expect(call(cluster, leader, "PUT", "/v1/kv/app/x", "synod_an_unknown_token_0123456789", "1"), 401,
               "unauthenticated", "an unknown token")
        expect(call(cluster, leader, "PUT", "/v1/kv/app/x", body="1", headers={"Authorization": "Basic YTpi"}), 401,
               "bad_authorization", "a Basic Authorization header")

        # Rules, and the prefix boundary.
        expect(call(cluster, follower, "PUT", "/v1/kv/app/x", alice, "1"), 200, None, "alice writes /app/x")
        expect(call(cluster, follower, "PUT", "/v1/kv/apple", alice, "1"), 403, "permission_denied",
               "alice writes /apple (the rule covers /app by whole segments)")
        expect(call(cluster, leader, "GET", "/v1/kv/app/x", bob), 200, None, "bob (role ops) reads /app/x")
        expect(call(cluster, leader, "PUT", "/v1/kv/app/y", bob, "1"), 403, "permission_denied", "bob writes /app/y")
        expect(call(cluster, leader, "GET", "/v1/auth/tokens", alice), 403, "permission_denied",
               "alice lists the tokens")

        # Sessions belong to their owner.
        taken = call(cluster, follower, "POST", "/v1/locks/app%2Fdb?ttl=15s", alice)
        expect(taken, 200, None, "alice takes lock app/db in a new session")
        session = taken.json["session"]
        for method, path in [("DELETE", f"/v1/locks/app%2Fdb?session={session}"),
                             ("POST", f"/v1/sessions/{session}/keepalive"),
                             ("DELETE", f"/v1/sessions/{session}")]:
            expect(call(cluster, follower, method, path, bob), 403, "permission_denied", f"bob: {method} {path}")
        expect(call(cluster, follower, "POST", f"/v1/sessions/{session}/keepalive", alice), 200, None,
               "alice keeps her session alive")
        holder = call(cluster, leader, "GET", "/v1/locks/app%2Fdb", alice)
        assert holder.status == 200 and holder.json["holders"][0]["session"] == session, holder
        expect(call(cluster, leader, "GET", "/v1/locks", alice), 403, "permission_denied", "alice lists every lock")
        listing = call(cluster, follower, "GET", "/v1/locks", ROOT_TOKEN)
        assert listing.status == 200 and [lock["lock"] for lock in listing.json["locks"]] == ["app/db"], listing
        print(f"  root lists every lock: {[lock['lock'] for lock in listing.json['locks']]}")
        # The status names sessions, locks, tokens and election values: cluster read.
        expect(call(cluster, follower, "GET", "/v1/status"), 401, "unauthenticated", "the status without a token")
        expect(call(cluster, follower, "GET", "/v1/status", alice), 403, "permission_denied", "alice reads the status")
        expect(call(cluster, follower, "GET", "/v1/status", ROOT_TOKEN), 200, None, "root reads the status")
        expect(call(cluster, follower, "GET", "/metrics"), 200, None, "the metrics without a token (as etcd's)")
        # A backup holds everything, token hashes included: cluster admin only.
        expect(call(cluster, follower, "GET", "/v1/snapshot", alice), 403, "permission_denied", "alice takes a backup")
        expect(call(cluster, follower, "GET", "/v1/snapshot"), 401, "unauthenticated", "a backup without a token")
        backup = call(cluster, leader, "GET", "/v1/snapshot", ROOT_TOKEN)
        assert backup.status == 200 and backup.header("content-type") == "application/octet-stream", backup
        grant = [line for line in cluster.log_text(leader).splitlines() if "action=create_session_and" in line]
        assert grant and f"session:{session} (new)" in grant[-1], grant
        print(f"  with --audit-locks, the grant's audit line: {grant[-1].split(' ', 3)[-1]}")

        # An administrator's forced release, and its audit line.
        expect(call(cluster, leader, "POST", "/v1/locks/app%2Fdb/force-release?reason=incident-42", alice), 403,
               "permission_denied", "alice force-releases (no admin)")
        expect(call(cluster, follower, "POST", "/v1/locks/app%2Fdb/force-release?reason=incident-42", ROOT_TOKEN), 200,
               None, "root force-releases app/db")
        until(lambda: "action=force_release" in cluster.log_text(leader), 10, "the audit line")
        audit = [line for line in cluster.log_text(leader).splitlines() if "action=force_release" in line][-1]
        print(f"  audit: {audit.split(' ', 3)[-1]}")

        # Revocation holds for every request ordered after it, on every node.
        expect(call(cluster, leader, "DELETE", f"/v1/auth/tokens/{alice_id}", ROOT_TOKEN), 200, None,
               "root revokes alice's token")
        for node in cluster.ids():
            expect(call(cluster, node, "PUT", "/v1/kv/app/x", alice, "2"), 401, "unauthenticated",
                   f"alice writes through node {node}")
        expect(call(cluster, follower, "POST", f"/v1/sessions/{session}/keepalive", alice), 401, "unauthenticated",
               "alice's keep-alive after the revocation")
        revoke_line = [line for line in cluster.log_text(leader).splitlines() if "action=revoke_token" in line][-1]
        print(f"  audit: {revoke_line.split(' ', 3)[-1]}")
        assert ROOT_TOKEN not in "".join(cluster.log_text(n) for n in cluster.ids()), "a token in a log"

        # An administrator deletes another principal's session: audited.
        expect(call(cluster, leader, "DELETE", f"/v1/sessions/{session}", ROOT_TOKEN), 200, None,
               "root deletes alice's session")
        until(lambda: f"session:{session} of alice" in cluster.log_text(leader), 10, "the deletion's audit line")
        expect(call(cluster, leader, "POST", "/v1/auth/disable", ROOT_TOKEN), 200, None, "root turns auth off")
        expect(call(cluster, follower, "PUT", "/v1/kv/app/z", body="1"), 200, None, "no token, auth off")


def test_lists_and_streams_leave_out_what_is_not_readable(binary):
    with Cluster(3, binary) as cluster:
        leader = started_with_root(cluster)
        follower = cluster.followers(leader)[0]
        alice, alice_id = make_token(cluster, leader, "alice")
        bob, _ = make_token(cluster, leader, "bob")
        for subject, space, prefix, permission in [("user:alice", "keys", "/app", "write"),
                                                   ("user:alice", "locks", "app", "write"),
                                                   ("user:alice", "sessions", "", "write"),
                                                   ("user:bob", "locks", "app", "read"),
                                                   ("user:bob", "elections", "app", "read"),
                                                   ("user:bob", "sessions", "", "write")]:
            rule(cluster, leader, subject, space, prefix, permission)
        expect(call(cluster, leader, "POST", "/v1/auth/enable", ROOT_TOKEN), 200, None, "root turns auth on")
        expect(call(cluster, leader, "PUT", "/v1/kv/app/a", alice, "1"), 200, None, "alice writes /app/a")
        expect(call(cluster, leader, "PUT", "/v1/kv/secret/x", ROOT_TOKEN, "1"), 200, None, "root writes /secret/x")
        listing = call(cluster, follower, "GET", "/v1/kv/?recurse", alice)
        assert listing.status == 200 and [k["key"] for k in listing.json["keys"]] == ["/app/a"], listing
        print(f"  alice lists every key: {[k['key'] for k in listing.json['keys']]} (not /secret/x)")

        watch = Events(cluster.port(leader), "/v1/watch/?space=key", headers={"Authorization": f"Bearer {alice}"})
        assert watch.status == 200, watch.body
        call(cluster, leader, "PUT", "/v1/kv/secret/y", ROOT_TOKEN, "2")
        call(cluster, leader, "PUT", "/v1/kv/app/b", alice, "2")
        seen = watch.until(lambda e: e["json"].get("key") == "/app/b")
        assert all(e["json"].get("key", "").startswith("/app") for e in seen), seen
        print(f"  alice's watch of every key saw {[e['json']['key'] for e in seen]} (not /secret/y)")
        # A page whose every key is left out still says where the next starts.
        page = call(cluster, follower, "GET", "/v1/kv/?recurse&limit=1&after=/app/b", alice)
        assert page.status == 200 and page.json["keys"] == [] and page.json["more"], page
        assert page.json["next_after"] == "/secret/x", page
        last = call(cluster, follower, "GET", f"/v1/kv/?recurse&limit=1&after={page.json['next_after']}", alice)
        assert last.status == 200 and last.json["keys"] == [] and not last.json["more"], last
        print(f"  alice's page after /app/b: no keys, next_after {page.json['next_after']}; the next page ends it")

        taken = call(cluster, leader, "POST", "/v1/locks/app%2Fdb?ttl=15s", alice)
        assert taken.status == 200, taken
        mine = call(cluster, leader, "GET", "/v1/locks/app%2Fdb", alice).json["holders"][0]["session"]
        theirs = call(cluster, leader, "GET", "/v1/locks/app%2Fdb", bob).json["holders"][0]["session"]
        assert mine == taken.json["session"] and theirs == "0", (mine, theirs)
        print(f"  the lock's holder: alice sees session {mine}, bob sees {theirs}")
        led = call(cluster, leader, "POST", "/v1/elections/app%2Fprimary/campaign?ttl=15s&value=a", ROOT_TOKEN)
        assert led.status == 200, led
        seen_leader = call(cluster, leader, "GET", "/v1/elections/app%2Fprimary", bob).json["leader"]
        assert seen_leader is not None and seen_leader["session"] == "0" and seen_leader["value"] == "a", seen_leader
        print(f"  the election's leader as bob sees it: {seen_leader} (it leads; whose session is hidden)")
        call(cluster, leader, "POST", "/v1/sessions?ttl=15s", bob)
        listed = call(cluster, leader, "GET", "/v1/sessions", bob)
        assert listed.status == 200 and taken.json["session"] not in [x["session"] for x in listed.json["sessions"]], listed
        print(f"  bob lists sessions: {len(listed.json['sessions'])} (his own; not alice's)")

        expect(call(cluster, leader, "DELETE", f"/v1/auth/tokens/{alice_id}", ROOT_TOKEN), 200, None,
               "root revokes alice's token")
        call(cluster, leader, "PUT", "/v1/kv/app/c", ROOT_TOKEN, "3")
        last = watch.until(lambda e: e.get("event") == "error")[-1]
        assert last["json"]["code"] == "unauthenticated", last
        assert watch.next(10) is None  # the stream ended
        print(f"  alice's watch after the revocation: event {last['event']} {last['json']['code']}, then the end")
        watch.close()


def test_certificate_principal_over_tls(binary):
    with TlsCluster(3, binary) as cluster:
        leader = started_with_root(cluster)
        follower = cluster.followers(leader)[0]
        # The client certificate deploy/certs.sh made names user "admin".
        rule(cluster, leader, "user:admin", "keys", "/ops", "write")
        expect(call(cluster, leader, "POST", "/v1/auth/enable", ROOT_TOKEN), 200, None, "root turns auth on")
        admin = client_context(cluster.ca_file, *cluster.certs["clients"]["admin"])
        who = call(cluster, follower, "GET", "/v1/auth/whoami", context=admin)
        assert who.json["principal"] == "admin" and who.json["via"] == "certificate", who
        print(f"  whoami with the admin certificate: {json.dumps(who.json, sort_keys=True)}")
        expect(call(cluster, follower, "PUT", "/v1/kv/ops/x", body="1", context=admin), 200, None,
               "the admin certificate writes /ops/x through a follower")
        expect(call(cluster, follower, "PUT", "/v1/kv/other", body="1", context=admin), 403, "permission_denied",
               "the admin certificate writes /other")
        expect(call(cluster, follower, "PUT", "/v1/kv/ops/y", body="1"), 401, "unauthenticated",
               "no certificate, no token")
        # A client may not claim a certificate principal in the header the
        # members use to forward one: only a member's connection is believed.
        expect(call(cluster, leader, "PUT", "/v1/kv/ops/z", body="1", headers={"X-Synod-Certificate-Name": "admin"}),
               401, "unauthenticated", "a client claiming X-Synod-Certificate-Name")


if __name__ == "__main__":
    runner.run(globals())
