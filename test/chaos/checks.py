"""The checks a chaos run must pass. Each returns {violation kind: [details]}.

All times are the harness's one monotonic clock (ns). Every check is sound
against timing noise: it compares an upper bound of one event's real time
with a lower bound of another's (a response's receive time bounds when the
server acted from above; a request's send time bounds it from below), so a
slow or paused harness can hide a violation but never invent one.

Kinds (every one must be 0):
  keys_not_linearizable, locks_not_linearizable, elections_not_linearizable
      synod-lincheck's verdict on the run's histories
  lincheck_unknown
      synod-lincheck could not decide a history (its search ran out of
      budget): the history proves nothing, so the run fails unless
      --allow-unknown is given
  acknowledged_write_lost
      a key's final value (read after the heal) is neither the value of an
      acknowledged write that no later acknowledged write superseded, nor of a
      write with an unknown outcome
  failed_write_visible
      the final value came from a write that was refused for certain
  resource_token_not_rising
      the fenced resource accepted a token not higher than one it had accepted
  resource_refused_valid_holder
      the resource refused a holder that was within its session's promised
      validity and had not been paused: someone got a newer token while it
      still held the lock
  fenced_key_token_not_rising, fenced_key_refused_valid_holder,
  fenced_key_generation_wrong
      the same for synod's own fenced key writes (?lock=L&token=T), and an
      accepted write whose lock_generation is not its token
  token_reused
      one fencing token granted to two sessions
  session_expired_early
      a session reported expired (a 404 session_expired answer, or an expired
      event on a watch) before the end of a validity it had been promised
  session_resurrected
      a keep-alive answered ok after the session was reported expired
  lock_granted_during_holder_validity, lock_granted_inside_lock_delay
      a lock (or an election) granted to another session while the holder's
      session was still promised, or before promise + lock_delay / (1 + drift)
      when the holder neither released nor deleted its session
  observer_events_out_of_order, observers_disagree, election_tokens_not_rising,
  election_answer_mismatch
      what election observers saw: ids rise on each stream, all observers saw
      the same events at the same revision, leader tokens rise, and observed
      leaders and proclaimed values match what campaigners were answered
  not_live_after_heal
      no write succeeded within the bound after a heal (nemesis.RECOVERY_WAIT_S)
  node_crashed
      a synod process ended by itself (an assertion, a crash)
  harness_error
      the harness could not do what it claims (reported loudly, never a pass)
  zk_version_mismatch, zk_fenced_token_not_rising, zk_lock_lost_in_live_session,
  zk_unexpected_error
      the zookeeper mix's, over ZooKeeper's protocol (zk_checks.py)
"""
import bisect
import json
import subprocess

DRIFT = 0.10  # synod's default --drift-bound-percent

KINDS = [
    "keys_not_linearizable", "locks_not_linearizable", "elections_not_linearizable", "lincheck_unknown",
    "acknowledged_write_lost", "failed_write_visible",
    "resource_token_not_rising", "resource_refused_valid_holder",
    "fenced_key_token_not_rising", "fenced_key_refused_valid_holder", "fenced_key_generation_wrong",
    "token_reused", "session_expired_early", "session_resurrected",
    "lock_granted_during_holder_validity", "lock_granted_inside_lock_delay",
    "observer_events_out_of_order", "observers_disagree", "election_tokens_not_rising", "election_answer_mismatch",
    "not_live_after_heal", "node_crashed", "harness_error",
    # The zookeeper mix's own (zk_checks.py).
    "zk_version_mismatch", "zk_fenced_token_not_rising", "zk_lock_lost_in_live_session", "zk_unexpected_error",
]


def add(found, kind, detail):
    found.setdefault(kind, []).append(detail)


def ended_cleanly(record):
    """A release, resign or session delete counts as the holder's clean end
    only if it took effect or may have (ok, or no answer after an attempt
    that may have applied); one the cluster refused leaves the lock held."""
    return record.get("result", "ok") in ("ok", "unknown")


# ---------------------------------------------------------------- lincheck
def lincheck(binary, path, timeout_s=300):
    """synod-lincheck's last line, as a dict; verdict 'unknown' if it could not say.
    Its "path" says which of the checker's paths decided (unique-values, search, mixed)."""
    try:
        result = subprocess.run([binary, path], capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return {"verdict": "unknown", "reason": "timeout", "path": "none", "harness": True}
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    try:
        verdict = json.loads(lines[-1])
    except (IndexError, ValueError):
        return {"verdict": "unknown", "reason": "no verdict", "path": "none", "stderr": result.stderr[-2000:],
                "harness": True}
    if verdict.get("verdict") != "linearizable":
        verdict["stderr"] = result.stderr[-4000:]
    # Unknown is a search out of budget (lincheck_unknown); with no operations
    # it is input the checker could not read, which is the harness's fault.
    if verdict.get("verdict") == "unknown" and not verdict.get("operations"):
        verdict["harness"] = True
    return verdict


# ---------------------------------------------------------------- writes
def check_final_values(mutations_by_key, final_values):
    """mutations: dicts with f (write|cas|delete), value (written; None for a
    delete), type (ok|info|fail|None), invoke_time, complete_time."""
    found = {}
    for key, final in final_values.items():
        if final is _UNREAD:
            continue
        mutations = mutations_by_key.get(key, [])
        acknowledged = sorted(m["invoke_time"] for m in mutations if m["type"] == "ok")

        def superseded(m):
            if m["type"] != "ok":
                return False  # may take effect at any time after its invocation
            i = bisect.bisect_right(acknowledged, m["complete_time"])
            return i < len(acknowledged)

        candidates = [m for m in mutations if m["type"] in ("ok", "info", None) and not superseded(m)]
        if any(m["value"] == final for m in candidates) or (final is None and not any(
                m["type"] == "ok" for m in mutations if m["f"] != "delete")):
            continue
        if final is None and any(m["f"] == "delete" for m in candidates):
            continue
        failed = [m for m in mutations if m["type"] == "fail" and m["value"] == final and final is not None]
        last_ok = sorted((m for m in mutations if m["type"] == "ok"), key=lambda m: m["complete_time"])[-3:]
        detail = {"key": key, "final": final, "candidates": [m["value"] for m in candidates][:10],
                  "last_acknowledged": [(m["f"], m["value"], m["invoke_time"], m["complete_time"]) for m in last_ok]}
        add(found, "failed_write_visible" if failed else "acknowledged_write_lost", detail)
    return found


_UNREAD = object()


def key_mutations(operations):
    """From a keys history's operations: mutations per key, in check_final_values' form."""
    by_key = {}
    for op in operations:
        if op["f"] not in ("write", "cas", "delete"):
            continue
        value = op["input"]
        if op["f"] == "cas":
            value = value[1]
        elif op["f"] == "delete":
            value = None
        by_key.setdefault(op["key"], []).append({"f": op["f"], "value": value, "type": op["type"],
                                                 "invoke_time": op["invoke_time"],
                                                 "complete_time": op["complete_time"]})
    return by_key


def probe_mutations(probe_records):
    """The probes' writes, per probe key (no retries: a write without an answer is of unknown outcome)."""
    out = {}
    for p in probe_records:
        kind = {"ok": "ok", "ambiguous": "info"}.get(p["outcome"], "fail")
        out.setdefault(p["key"], []).append({"f": "write", "value": p["value"], "type": kind,
                                             "invoke_time": p["invoke"], "complete_time": p["recv"]})
    return out


# ---------------------------------------------------------------- fences
def check_resource(writes):
    found = {}
    highest = {}
    for w in writes:  # in the order the resource took them
        lock = w["lock"]
        if w["accepted"]:
            if lock in highest and w["token"] <= highest[lock]:
                add(found, "resource_token_not_rising", {"lock": lock, "token": w["token"], "highest": highest[lock],
                                                         "client": w["client"], "time": w["time"]})
            highest[lock] = max(highest.get(lock, w["token"]), w["token"])
        elif w["valid_holder"]:
            add(found, "resource_refused_valid_holder", w)
    return found


def check_fenced_keys(writes):
    found = {}
    by_lock = {}
    for w in writes:
        if w["accepted"]:
            if w.get("lock_generation") != w["token"]:
                add(found, "fenced_key_generation_wrong", w)
            by_lock.setdefault(w["lock"], []).append(w)
        elif w["valid_holder"] and w.get("code") == "stale_token":
            add(found, "fenced_key_refused_valid_holder", w)
    for lock, items in by_lock.items():
        # b must not carry a lower token than any a that completed before b was sent.
        done = sorted(items, key=lambda w: w["recv"])
        recv_times = [w["recv"] for w in done]
        prefix_max = []
        best = None
        for w in done:
            best = w if best is None or w["token"] > best["token"] else best
            prefix_max.append(best)
        for b in items:
            i = bisect.bisect_left(recv_times, b["invoke"]) - 1
            if i >= 0 and prefix_max[i]["token"] > b["token"]:
                add(found, "fenced_key_token_not_rising", {"lock": lock, "write": b, "earlier": prefix_max[i]})
    return found


def check_tokens_unique(grants):
    found = {}
    seen = {}
    for g in grants:
        k = (g.get("space", "lock"), g["lock"], g["token"])
        if k in seen and seen[k] != g["session"]:
            add(found, "token_reused", {"name": g["lock"], "token": g["token"], "sessions": [seen[k], g["session"]]})
        seen.setdefault(k, g["session"])
    return found


# ---------------------------------------------------------------- sessions
def session_index(promises, expired_reports, deletes, session_events):
    sessions = {}

    def entry(s):
        return sessions.setdefault(s, {"promises": [], "expired": [], "deletes": []})

    for p in promises:
        entry(p["session"])["promises"].append((p["send"], p["send"] + p["valid_for_ms"] * 1_000_000, p["kind"]))
    for r in expired_reports:
        entry(r["session"])["expired"].append((r["recv"], r["source"]))
    for e in session_events:
        if e.get("type") == "expired" and e.get("session"):
            entry(e["session"])["expired"].append((e["recv"], "watch"))
    for d in deletes:
        if ended_cleanly(d):
            entry(d["session"])["deletes"].append(d["invoke"])
    return sessions


def check_sessions(sessions, coverage=None):
    found = {}
    coverage = {} if coverage is None else coverage
    for sid, s in sessions.items():
        first_delete = min(s["deletes"]) if s["deletes"] else None
        for recv, source in s["expired"]:
            if first_delete is not None and first_delete <= recv:
                continue  # we ended it ourselves; a 404 after that says nothing
            coverage["expiry_reports_checked"] = coverage.get("expiry_reports_checked", 0) + 1
            promised = [end for send, end, kind in s["promises"] if send < recv]
            if promised and max(promised) > recv:
                add(found, "session_expired_early", {"session": sid, "reported": recv, "source": source,
                                                     "promised_until": max(promised),
                                                     "early_ms": (max(promised) - recv) / 1e6})
            later = [(send, kind) for send, end, kind in s["promises"] if send > recv and end > send]
            if later:
                add(found, "session_resurrected", {"session": sid, "reported": recv, "source": source,
                                                   "promise_sent": later[0]})
    return found


def check_grants(grants, releases, sessions, lock_delay_ms_of, coverage=None):
    """No grant to another session inside the holder's validity or lock-delay,
    unless the holder released the lock or deleted its session first."""
    found = {}
    coverage = {} if coverage is None else coverage
    by_name = {}
    for g in grants:
        by_name.setdefault((g.get("space", "lock"), g["lock"]), []).append(g)
    released = {}
    for r in releases:
        if not ended_cleanly(r):
            continue
        released.setdefault((r.get("space", "lock"), r["lock"], r["session"]), []).append(r["invoke"])
    for (space, name), items in by_name.items():
        items.sort(key=lambda g: g["token"])
        for i, g1 in enumerate(items):
            s1 = sessions.get(g1["session"], {"promises": [], "deletes": []})
            ends = [end for send, end, kind in s1["promises"]]
            if not ends:
                continue
            promised = max(ends)
            delay_ns = lock_delay_ms_of.get(g1["session"], 0) * 1_000_000 / (1 + DRIFT)
            clean_ends = released.get((space, name, g1["session"]), []) + s1["deletes"]
            for g2 in items[i + 1:]:
                if g2["session"] == g1["session"] or g2["token"] == g1["token"]:
                    continue
                if any(g1["invoke"] <= t < g2["recv"] for t in clean_ends):
                    continue
                coverage["grants_after_a_lost_holder"] = coverage.get("grants_after_a_lost_holder", 0) + 1
                if delay_ns > 0:
                    coverage["grants_after_a_lost_holder_with_lock_delay"] = coverage.get(
                        "grants_after_a_lost_holder_with_lock_delay", 0) + 1
                if g2["recv"] < promised:
                    add(found, "lock_granted_during_holder_validity",
                        {"space": space, "name": name, "holder": g1, "granted": g2, "holder_promised_until": promised})
                elif g2["recv"] < promised + delay_ns:
                    add(found, "lock_granted_inside_lock_delay",
                        {"space": space, "name": name, "holder": g1, "granted": g2, "holder_promised_until": promised,
                         "lock_delay_ms": lock_delay_ms_of.get(g1["session"], 0)})
    return found


# ---------------------------------------------------------------- observers
def check_observers(observed, campaign_wins, proclaims):
    found = {}
    by_connection = {}
    for e in observed:
        if e.get("type") == "compacted" or e.get("id") is None:
            continue
        by_connection.setdefault((e["observer"], e["connection"]), []).append(e)
    # (id, type) -> what each connection saw. Compared per event type, not per
    # revision: a stream cut in the middle of a revision saw only part of it.
    per_event = {}
    for key, events in by_connection.items():
        last = None
        for e in events:
            if last is not None and e["id"] < last:
                add(found, "observer_events_out_of_order", {"observer": key, "event": e, "after": last})
            last = e["id"] if last is None else max(last, e["id"])
            if not e["snapshot"]:
                per_event.setdefault((e["id"], e["type"]), []).append((key, (e["session"], e["token"], e["value"])))
    leaders = {}
    for (event_id, kind), seen in per_event.items():
        variants = {content for _, content in seen}
        if len(variants) > 1:
            add(found, "observers_disagree", {"id": event_id, "type": kind,
                                              "seen": [(list(k), list(c)) for k, c in seen]})
        if kind == "leader":
            session, token, value = seen[0][1]
            leaders[event_id] = (token, session, value)
    last_token = None
    for event_id in sorted(leaders):
        token = leaders[event_id][0]
        if last_token is not None and token is not None and token < last_token:
            add(found, "election_tokens_not_rising", {"id": event_id, "token": token, "previous": last_token})
        if token is not None:
            last_token = token if last_token is None else max(last_token, token)
    by_token = {token: (session, value) for token, session, value in leaders.values()}
    for win in campaign_wins:
        seen = by_token.get(win["token"])
        if seen is not None and (seen[0] != win["session"] or seen[1] != win["value"]):
            add(found, "election_answer_mismatch", {"campaign": win, "observed": seen})
    told = {p["value"]: p for p in proclaims}
    for (event_id, kind), seen in per_event.items():
        session, token, value = seen[0][1]
        if kind != "proclaimed" or value not in told:
            continue
        p = told[value]
        if p["status"] == 412 or (p["status"] == 200 and p["token"] != token):
            add(found, "election_answer_mismatch", {"proclaim": p, "observed": [event_id, session, token]})
    return found


# ---------------------------------------------------------------- beliefs
def concurrent_beliefs(beliefs):
    """Pairs of grants of one lock whose holders believed, at one moment, that they held it."""
    count = 0
    by_lock = {}
    for b in beliefs:
        by_lock.setdefault(b["lock"], []).append(b)
    examples = []
    for lock, items in by_lock.items():
        items.sort(key=lambda b: b["start"])
        for i, a in enumerate(items):
            for b in items[i + 1:]:
                if b["start"] >= a["end"]:
                    break
                if b["token"] != a["token"]:
                    count += 1
                    if len(examples) < 5:
                        examples.append({"lock": lock, "a": a, "b": b})
    return count, examples


def count_paths(verdicts):
    """How many of the histories each of synod-lincheck's paths decided: {path: count}."""
    counts = {}
    for v in verdicts:
        if v.get("verdict") in ("linearizable", "not-linearizable"):
            counts[v.get("path", "none")] = counts.get(v.get("path", "none"), 0) + 1
    return counts


def merge(*results):
    out = {}
    for r in results:
        for kind, items in r.items():
            out.setdefault(kind, []).extend(items)
    return out
