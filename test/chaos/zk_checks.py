"""The `zookeeper` mix's own checks, beside synod-lincheck's verdicts on its
keys and locks histories and checks.check_final_values. Each returns
{violation kind: [details]}; the kinds are in checks.KINDS.

  zk_version_mismatch
      a znode's version went with two values, or a value with two versions
      (values are written once, so either means the versions are wrong), or a
      versioned set answered a version other than the expected one plus one.
      It is also what makes `cas [value read, new]` a faithful record of a
      set with a version.
  zk_fenced_token_not_rising
      a fenced multi [check(lock node), setData] with token a committed
      after one with a higher token b had completed (a was sent after b's
      answer). b's check found b's node, so b was granted; a's node is lower,
      so it existed since before b's grant and until a's commit: two nodes
      were granted at once.
  zk_lock_lost_in_live_session
      a holder's own lock node was reported missing (NoNode on the multi's
      check or on its delete), or its session reported expired in a reply,
      while its client was CONNECTED in the session that made the node. A
      session lives while its client is connected: ZooKeeper closes the
      connections of a session it ends, and a server that cannot reach a
      quorum closes its connections, so such a client learns of the loss
      before anyone else is granted the lock.
  zk_unexpected_error
      NoNode on a znode that exists from the start and is never deleted.
"""
import bisect

from checks import add


def check_versions(versions, jumps):
    found = {}
    by_key = {}
    for v in versions:
        entry = by_key.setdefault(v["key"], ({}, {}))
        entry[0].setdefault(v["version"], {})[v["value"]] = v
        entry[1].setdefault(v["value"], {})[v["version"]] = v
    for key, (values_of, versions_of) in by_key.items():
        for version, values in values_of.items():
            if len(values) > 1:
                add(found, "zk_version_mismatch", {"key": key, "version": version, "values": list(values.values())})
        for value, seen in versions_of.items():
            if len(seen) > 1:
                add(found, "zk_version_mismatch", {"key": key, "value": value, "versions": list(seen.values())})
    for j in jumps:
        add(found, "zk_version_mismatch", {"versioned_set": j})
    return found


def check_fenced_order(fenced):
    found = {}
    by_lock = {}
    for f in fenced:
        if f["result"] == "ok":
            by_lock.setdefault(f["lock"], []).append(f)
    for lock, items in by_lock.items():
        done = sorted(items, key=lambda f: f["recv"])
        recv_times = [f["recv"] for f in done]
        best, prefix_max = None, []
        for f in done:
            best = f if best is None or f["token"] > best["token"] else best
            prefix_max.append(best)
        for a in items:
            i = bisect.bisect_left(recv_times, a["invoke"]) - 1
            if i >= 0 and prefix_max[i]["token"] > a["token"]:
                add(found, "zk_fenced_token_not_rising", {"lock": lock, "write": a, "earlier": prefix_max[i]})
    return found


def check_lost_in_session(reports):
    found = {}
    seen = set()
    for r in reports:
        grant = (r["lock"], r["token"])
        if grant not in seen:
            seen.add(grant)
            add(found, "zk_lock_lost_in_live_session", r)
    return found


def check_unexpected(reports):
    found = {}
    for r in reports:
        add(found, "zk_unexpected_error", r)
    return found


def check_all(rec):
    from checks import merge
    return merge(check_versions(rec.get("zk_versions"), rec.get("zk_cas_version_jump")),
                 check_fenced_order(rec.get("zk_fenced")),
                 check_lost_in_session(rec.get("zk_lost_in_session")),
                 check_unexpected(rec.get("zk_unexpected")))


def expiries(rec, faults, timeout_s):
    """Every session kazoo found expired (LOST without our close), with the
    faults that were active from one session timeout before it: an expiry with
    none is a session that expired while a quorum served it."""
    out = []
    states = rec.get("zk_states")
    for e in rec.get("zk_expired"):
        # How the session's client last saw it: connected to a node from when
        # to when (kazoo notices a silent connection after 2/3 of the timeout).
        mine = [s for s in states if s["client"] == e["client"] and s["session"] == e["session"] and s["at"] <= e["at"]]
        connected = [s for s in mine if s["state"] == "CONNECTED"]
        suspended = [s for s in mine if s["state"] == "SUSPENDED"]
        if connected:
            e = dict(e, last_connected_at=connected[-1]["at"], last_connected_node=connected[-1]["node"])
            ended = [s["at"] for s in suspended if s["at"] >= connected[-1]["at"]]
            if ended:
                e["connected_until"] = ended[0]
                e["connected_ms"] = round((ended[0] - connected[-1]["at"]) / 1e6, 1)
                e["disconnected_ms_before_expiry"] = round((e["at"] - ended[0]) / 1e6, 1)
        window = e["at"] - int((timeout_s + 3.0) * 1e9)
        active = [{"kind": f["kind"], "onset": f.get("onset"), "heal": f.get("heal"), "targets": f.get("targets"),
                   "cut": f.get("cut"), "shape": (f.get("spec") or {}).get("shape")}
                  for f in faults if f.get("kind") != "final_heal" and f.get("onset") is not None
                  and f["onset"] <= e["at"] and (f.get("heal") or e["at"]) >= window]
        out.append(dict(e, faults_before=active))
    return out


def coverage(rec, key_ops):
    states = rec.get("zk_states")
    fenced = rec.get("zk_fenced")
    beliefs = rec.get("beliefs")
    return {
        "zk_grants": len(rec.get("zk_grants")),
        "zk_fenced_ok": sum(1 for f in fenced if f["result"] == "ok"),
        "zk_fenced_refused": sum(1 for f in fenced if f["result"] == "refused"),
        "zk_fenced_unknown": sum(1 for f in fenced if f["result"] == "unknown"),
        "zk_cas_ok": sum(1 for op in key_ops if op["f"] == "cas" and op["type"] == "ok" and op["process"] < 900),
        "zk_cas_failed": sum(1 for op in key_ops if op["f"] == "cas" and op["type"] == "fail" and op["process"] < 900),
        "zk_ops_unknown": sum(1 for op in key_ops if op["type"] in ("info", None) and op["f"] != "read"),
        "zk_sessions": len(rec.get("zk_sessions")),
        "zk_suspended": sum(1 for s in states if s["state"] == "SUSPENDED"),
        "zk_sessions_expired": len(rec.get("zk_expired")),
        "zk_holds_ended_by_state_change": sum(1 for b in beliefs if b.get("ended") == "state change"),
        "zk_long_holds": sum(1 for b in beliefs if b.get("held_s", 0) > 4.0),
    }
