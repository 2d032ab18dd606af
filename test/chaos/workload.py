"""The chaos clients: they use synod's REST API as users would and record
every operation (invocation, then ok / fail / info, with times).

  KeyClient       linearizable reads, writes, compare-and-set on the modify
                  index, deletes, on a few keys (history: keys model)
  LockClient      sessions with keep-alives; acquire with wait, release; while
                  it believes it holds the lock it writes to the fenced
                  resource and to synod's own fenced key (?lock=L&token=T).
                  Now and then it is "paused" (a stop-the-world pause, keep-
                  alives included) between checking its validity and writing,
                  like a client in a long GC pause (history: lock model)
  SessionClient   sessions that live with keep-alives, then end cleanly or die
  ElectionClient  campaign, proclaim, resign (history: lock model, one
                  election = one lock)
  Observer        SSE observe of the election, reconnecting anywhere
  SessionWatcher  SSE watch of session events (expiries)
  Probe           per node, a write every 50 ms to that node: availability, liveness

Outcomes. A write that gets no answer, or 504 unknown_outcome, may have taken
effect: it is retried with the same Idempotency-Key (the first answer comes
back, or the write happens once) for a bounded window, then recorded as info.
A 503 no_quorum / not_leader / leader_unreachable / busy, or a connection that
could not be opened, did not take effect.

Session validity. Every answer that carries valid_for_ms (creation, grant,
keep-alive) is a promise: the session lives at least until the time the
request was SENT plus valid_for_ms (lockservice/session_keeper.h). A client
keeps the latest such time as its estimate and believes it holds a lock only
before it, less a margin.
"""
import random
import threading
import time
import traceback

from pylib.http import Http
from pylib.sse import EventStream

DEFINITE_503 = {"no_quorum", "not_leader", "leader_unreachable", "busy"}
CHECK_MARGIN_NS = 150_000_000  # a holder stops using its lock this long before its estimate ends


def classify(response):
    """answer | refused (certainly not applied) | ambiguous (may have been applied)."""
    if response.status == 0:
        return "ambiguous" if response.sent else "refused"
    if response.status == 503:
        return "refused" if response.code() in DEFINITE_503 else "ambiguous"
    if response.status == 504:
        return "ambiguous"
    if response.status == 429:
        return "refused"
    return "answer"


class Context:
    """What every client of one run shares."""

    def __init__(self, cluster, keys_history, locks_history, elections_history, records, fenced, params, seed):
        self.cluster = cluster
        self.keys = keys_history
        self.locks = locks_history
        self.elections = elections_history
        self.records = records
        self.fenced = fenced
        self.params = params
        self.stop = threading.Event()       # clients finish their operation and end
        self.no_pauses = threading.Event()  # no new simulated client pauses
        self.idem_lock = threading.Lock()
        self.idem_next = 0
        self.seed = seed
        self.streams = set()
        self.streams_lock = threading.Lock()

    def now(self):
        return self.records.now()

    def idempotency_key(self):
        with self.idem_lock:
            self.idem_next += 1
            return f"chaos-{self.seed}-{self.idem_next}"

    def close_streams(self):
        with self.streams_lock:
            for stream in list(self.streams):
                stream.close()


class Client(threading.Thread):
    def __init__(self, ctx, name, seed):
        super().__init__(name=name, daemon=True)
        self.ctx = ctx
        self.rng = random.Random(seed)
        self.http = Http()
        self.node = self.rng.choice(self.ids)

    @property
    def ids(self):
        """The members now (the `member` mix changes them while clients run)."""
        return self.ctx.cluster.ids()

    def run(self):
        try:
            self.body()
        except Exception:  # noqa: BLE001 - a harness bug: reported as a violation, never a silent pass
            self.ctx.records.add("harness_errors", client=self.name, error=traceback.format_exc()[-3000:])
            self.ctx.stop.wait()
        finally:
            self.http.close()

    def pick(self, failed):
        """Any node works (followers forward); move on after a failure."""
        if failed:
            others = [n for n in self.ids if n != self.node]
            self.node = self.rng.choice(others)
        elif self.rng.random() < 0.1:
            self.node = self.rng.choice(self.ids)

    def call(self, method, path, body=None, headers=None, timeout=2.0):
        node = self.node
        response = self.http.call(self.ctx.cluster.port(node), method, path, body=body, headers=headers,
                                  timeout=timeout)
        response.node = node
        if response.status >= 400 and response.status not in (404, 408, 409, 412) and classify(response) == "answer":
            # Neither a definite "not applied, try again" nor "may have been
            # applied", nor an answer the operation expects (not found, a
            # lock wait that timed out, held, a failed compare): an error a
            # client cannot retry its way out of.
            self.ctx.records.add("non_retryable", client=self.name, method=method, path=path,
                                 status=response.status, code=response.code(), at=self.ctx.now(), node=node)
        self.pick(response.status == 0 or response.status >= 500)
        return response

    def mutate(self, method, path, body=None, timeout=2.0, window_s=6.0):
        """A write retried under one Idempotency-Key.

        Returns (response or None, ambiguous): a response is an answer from
        the lock service (any status but 503/504); None means none came within
        the window, and `ambiguous` says whether an attempt may have applied."""
        headers = {"Idempotency-Key": self.ctx.idempotency_key()}
        deadline = time.monotonic() + window_s
        ambiguous = False
        while True:
            response = self.call(method, path, body=body, headers=headers, timeout=timeout)
            kind = classify(response)
            if kind == "answer":
                return response, ambiguous
            ambiguous = ambiguous or kind == "ambiguous"
            if time.monotonic() >= deadline:
                return None, ambiguous
            time.sleep(self.rng.uniform(0.03, 0.15))

    def sleep(self, seconds):
        self.ctx.stop.wait(seconds)


def outcome(response, ambiguous):
    """A mutation's outcome for the side records: ok (200), unknown (no
    answer, and an attempt may have applied), refused (no attempt could have
    applied), or the error code of the answer."""
    if response is not None:
        return "ok" if response.status == 200 else (response.code() or str(response.status))
    return "unknown" if ambiguous else "refused"


# ------------------------------------------------------------------ keys
class KeyClient(Client):
    """Reads, writes, compare-and-set and deletes on a few keys."""

    def __init__(self, ctx, process, seed):
        super().__init__(ctx, f"keys-{process}", seed)
        self.process = process
        self.count = 0

    def body(self):
        keys = self.ctx.params["keys"]
        while not self.ctx.stop.is_set():
            key = self.rng.choice(keys)
            roll = self.rng.random()
            if roll < 0.40:
                self.read(key)
            elif roll < 0.75:
                self.write(key)
            elif roll < 0.95:
                found, value, index = self.read(key)
                if found is not None:
                    self.cas(key, value, index)
            else:
                self.delete(key)
            self.sleep(self.rng.uniform(0.0, 0.03))
        self.http.close()

    def value(self):
        self.count += 1
        return f"{self.process}-{self.count}"

    def read(self, key):
        """Returns (found, value, modify_index); found None if unknown."""
        h = self.ctx.keys
        op = h.invoke(self.process, "read", key)
        response = self.call("GET", f"/v1/kv/chaos/{key}")
        if response.status == 200 and response.json is not None:
            value = response.json.get("value")
            h.complete(op, "ok", value, node=response.node)
            return True, value, response.json.get("modify_index")
        if response.status == 404 and response.code() == "not_found":
            h.complete(op, "ok", None, node=response.node)
            return False, None, 0
        h.complete(op, "fail" if classify(response) == "refused" else "info", error=response.code() or response.error,
                   node=response.node)
        return None, None, None

    def finish_write(self, op, response, ambiguous):
        h = self.ctx.keys
        if response is not None and response.status == 200:
            h.complete(op, "ok", node=response.node, index=response.json.get("modify_index") if response.json else None)
        elif response is not None:
            h.complete(op, "fail", error=response.code(), status=response.status, node=response.node)
        else:
            h.complete(op, "info" if ambiguous else "fail", error="no answer")

    def write(self, key):
        value = self.value()
        op = self.ctx.keys.invoke(self.process, "write", key, value)
        response, ambiguous = self.mutate("PUT", f"/v1/kv/chaos/{key}", body=value)
        self.finish_write(op, response, ambiguous)

    def cas(self, key, expected, index):
        new = self.value()
        op = self.ctx.keys.invoke(self.process, "cas", key, [expected, new], modify_index=index)
        response, ambiguous = self.mutate("PUT", f"/v1/kv/chaos/{key}?cas={index}", body=new)
        if response is not None and response.status == 412:
            self.ctx.keys.complete(op, "fail", error=response.code(), node=response.node)
            return
        self.finish_write(op, response, ambiguous)

    def delete(self, key):
        op = self.ctx.keys.invoke(self.process, "delete", key)
        response, ambiguous = self.mutate("DELETE", f"/v1/kv/chaos/{key}")
        if response is not None and response.status == 404 and response.code() == "not_found":
            # There was no key to delete: the key is absent after it, as after any delete.
            self.ctx.keys.complete(op, "ok", node=response.node, existed=False)
            return
        self.finish_write(op, response, ambiguous)


# ------------------------------------------------------------------ sessions
class Session:
    """A session with its own keep-alive thread, and every promise it got."""

    def __init__(self, client, ttl_ms, lock_delay_ms):
        self.client = client
        self.ctx = client.ctx
        self.ttl_ms = ttl_ms
        self.lock_delay_ms = lock_delay_ms
        self.id = None
        self.promise_end = -1      # ns: the latest (send + valid_for_ms) of any answer
        self.expired = False       # the lock service said so (404 session_expired)
        self.ended = False         # we stopped keeping it alive
        self.suspended = False     # a simulated client pause: no keep-alives
        self.keepalive_lock = threading.Lock()
        self.thread = None

    def create(self):
        body = {"ttl": f"{self.ttl_ms}ms", "lock_delay": f"{self.lock_delay_ms}ms", "behavior": "release"}
        send = self.ctx.now()
        response, _ = self.client.mutate("POST", "/v1/sessions", body=body, window_s=4.0)
        if response is None or response.status != 200 or not response.json:
            return False  # an unknown session is never used: nobody keeps it alive, it expires
        self.id = response.json["session"]
        self.ctx.records.add("sessions", session=self.id, owner=self.client.name, ttl_ms=self.ttl_ms,
                             lock_delay_ms=self.lock_delay_ms, send=send, recv=self.ctx.now())
        self.promise("create", send, response.json.get("valid_for_ms", 0), response.node)
        self.thread = threading.Thread(target=self.keepalive_loop, args=(self.client.rng.random(),),
                                       name=f"ka-{self.id}", daemon=True)
        self.thread.start()
        return True

    def promise(self, kind, send, valid_for_ms, node):
        # promise_factor is 1; 2 only under --break promise (an over-trusting client).
        end = send + int(valid_for_ms) * 1_000_000 * self.ctx.params["promise_factor"]
        self.ctx.records.add("promises", session=self.id, kind=kind, send=send, recv=self.ctx.now(),
                             valid_for_ms=int(valid_for_ms) * self.ctx.params["promise_factor"], node=node)
        self.promise_end = max(self.promise_end, end)

    def report_expired(self, source, send, node):
        self.expired = True
        self.ctx.records.add("expired_reports", session=self.id, source=source, send=send, recv=self.ctx.now(),
                             node=node)

    def valid(self, margin_ns=CHECK_MARGIN_NS):
        return not self.expired and self.ctx.now() < self.promise_end - margin_ns

    def keepalive_loop(self, seed):
        try:
            self.keep_alive(seed)
        except Exception:  # noqa: BLE001 - a keep-alive thread that dies is a harness error, never silence
            self.ctx.records.add("harness_errors", client=f"keepalive-{self.id}", error=traceback.format_exc()[-3000:])

    def keep_alive(self, seed):
        http = Http()
        rng = random.Random(seed)
        ids = self.ctx.cluster.ids()
        node = rng.choice(ids)
        interval_ns = self.ttl_ms * 1_000_000 // 3
        next_at = self.ctx.now() + interval_ns
        while True:
            while self.ctx.now() < next_at or self.suspended:
                if self.ended or self.expired:
                    http.close()
                    return
                time.sleep(0.01)
            with self.keepalive_lock:
                if self.ended or self.expired:
                    break
                send = self.ctx.now()
                response = http.call(self.ctx.cluster.port(node), "POST", f"/v1/sessions/{self.id}/keepalive",
                                     timeout=1.0)
                self.ctx.records.add("keepalives", session=self.id, send=send, recv=self.ctx.now(), node=node,
                                     status=response.status, code=response.code())
                if response.status == 200 and response.json:
                    self.promise("keepalive", send, response.json.get("valid_for_ms", 0), node)
                    next_at = send + interval_ns
                    if rng.random() < 0.1:
                        node = rng.choice(ids)
                elif response.status == 404 and response.code() == "session_expired":
                    self.report_expired("keepalive", send, node)
                    break
                else:
                    node = rng.choice([n for n in ids if n != node])
                    next_at = self.ctx.now() + 100_000_000
        http.close()

    def abandon(self):
        """Stop keeping it alive; after this the promise no longer grows."""
        with self.keepalive_lock:
            self.ended = True

    def delete(self, window_s=3.0):
        """A clean end (locks released without lock-delay). Best effort."""
        self.abandon()
        invoke = self.ctx.now()
        response, ambiguous = self.client.mutate("DELETE", f"/v1/sessions/{self.id}", window_s=window_s)
        result = outcome(response, ambiguous)
        if response is not None and response.status == 404 and response.code() == "session_expired":
            self.report_expired("delete", invoke, response.node)
        self.ctx.records.add("session_deletes", session=self.id, invoke=invoke, recv=self.ctx.now(), result=result)


class SessionClient(Client):
    """Sessions that live on keep-alives for a while, then end cleanly or die."""

    def __init__(self, ctx, index, seed):
        super().__init__(ctx, f"sessions-{index}", seed)

    def body(self):
        while not self.ctx.stop.is_set():
            session = Session(self, self.rng.choice([2000, 3000, 4000]), 0)
            if not session.create():
                self.sleep(0.3)
                continue
            self.sleep(self.rng.uniform(3.0, 10.0))
            if self.rng.random() < 0.5 or self.ctx.stop.is_set():
                session.delete()
            else:
                session.abandon()  # the client dies: the session must expire, after its promise
                self.ctx.records.add("session_deaths", session=session.id, time=self.ctx.now(),
                                     promise_end=session.promise_end)
            self.sleep(self.rng.uniform(0.2, 1.0))
        self.http.close()


class SessionCycler(Client):
    """A client that runs cycles in one session at a time, with a new one
    whenever the last expired or ended; subclasses say what a session and a
    cycle are."""
    rest_s = (0.0, 0.2)  # between cycles

    def new_session(self):
        raise NotImplementedError

    def cycle(self, s):
        raise NotImplementedError

    def body(self):
        while not self.ctx.stop.is_set():
            s = self.session
            if s is None or s.expired or s.ended:
                s = self.session = self.new_session()
                if not s.create():
                    self.session = None
                    self.sleep(0.3)
                    continue
            self.cycle(s)
            self.sleep(self.rng.uniform(*self.rest_s))
        if self.session is not None and not self.session.ended:
            self.session.delete(window_s=2.0)
        self.http.close()


# ------------------------------------------------------------------ locks
class LockClient(SessionCycler):
    """Acquire (wait), write under the fence, release; sometimes paused."""

    def __init__(self, ctx, index, lock_name, process, key_process, seed):
        super().__init__(ctx, f"lock-{lock_name}-{index}", seed)
        self.lock_name = lock_name
        self.process = process          # in the locks history
        self.key_process = key_process  # in the keys history (fenced key writes)
        self.session = None
        self.count = 0

    def new_session(self):
        return Session(self, self.rng.choice([2000, 3000]), self.rng.choice(self.ctx.params["lock_delays_ms"]))

    def lost_at(self, s, release_time):
        """The holder stopped being sure: a release that may have happened any
        time from its promise's end on (docs/history-format.md, lock model)."""
        h = self.ctx.locks
        op = h.invoke(self.process, "release", self.lock_name, None, time=release_time, session=s.id, reason="lost")
        h.complete(op, "info", time=release_time)

    def cycle(self, s):
        h = self.ctx.locks
        op = h.invoke(self.process, "acquire", self.lock_name, None, session=s.id)
        invoke = op["invoke_time"]
        response, ambiguous = self.mutate("POST", f"/v1/locks/{self.lock_name}", body={"session": s.id, "wait": "2s"},
                                          timeout=6.0, window_s=8.0)
        if response is not None and response.status == 200 and response.json and "token" in response.json:
            token = response.json["token"]
            # Counted from when the operation was first sent: with a retry the
            # answer may be the first attempt's.
            s.promise("grant", invoke, response.json.get("valid_for_ms", 0), response.node)
            h.complete(op, "ok", token, session=s.id, node=response.node)
            self.ctx.records.add("grants", lock=self.lock_name, session=s.id, token=token, client=self.name,
                                 invoke=invoke, recv=op["complete_time"], lock_delay_ms=s.lock_delay_ms)
            self.hold(s, token, op["complete_time"])
            return
        if response is not None:
            if response.status == 404 and response.code() == "session_expired":
                s.report_expired("acquire", invoke, response.node)
            h.complete(op, "fail", error=response.code(), status=response.status, node=response.node)
            return
        if not ambiguous:
            h.complete(op, "fail", error="no answer")
            return
        # Maybe granted, with a token we do not know: give the session up.
        h.complete(op, "info", error="no answer")
        s.abandon()
        self.lost_at(s, self.ctx.now())
        s.delete()

    def hold(self, s, token, granted):
        # A few fenced key writes around the one write to the fenced resource.
        before = self.rng.randint(0, 1)
        steps = ["key"] * before + ["resource"] + ["key"] * self.rng.randint(1, 2)
        pause_before = -1
        if not self.ctx.no_pauses.is_set() and self.rng.random() < self.ctx.params["client_pause_probability"]:
            # Mostly the classic spot: checked the lease, paused, then wrote to the storage.
            pause_before = before if self.rng.random() < 0.7 else self.rng.randrange(len(steps))
        stale = False
        paused_ms = 0
        lost = False
        for i, step in enumerate(steps):
            if i == pause_before:
                # Stop the world between the check and the write.
                low, high = self.ctx.params["client_pause_factor"]
                paused_ms = int(self.rng.uniform(low, high) * s.ttl_ms)
                s.suspended = True
                start = self.ctx.now()
                time.sleep(paused_ms / 1000.0)
                s.suspended = False
                self.ctx.records.add("client_pauses", client=self.name, session=s.id, lock=self.lock_name,
                                     token=token, start=start, end=self.ctx.now(), ms=paused_ms)
                stale = True
            elif not s.valid():
                lost = True
                break
            if step == "resource":
                self.count += 1
                now = self.ctx.now()
                self.ctx.fenced.write(self.lock_name, token, self.name, f"{self.name}-{self.count}",
                                      valid_holder=not stale and now < s.promise_end)
            else:
                self.fenced_key_write(s, token, stale)
            if stale:
                stale = False
                if not s.valid():
                    lost = True
                    break
            self.sleep(self.rng.uniform(0.01, 0.1))
        if lost or not s.valid():
            s.abandon()
            end = self.ctx.now()
            self.ctx.records.add("beliefs", lock=self.lock_name, token=token, client=self.name, session=s.id,
                                 start=granted, end=end, paused_ms=paused_ms)
            self.lost_at(s, min(s.promise_end, end))
            s.delete()
            return
        self.release(s, token, granted, paused_ms)

    def fenced_key_write(self, s, token, stale):
        self.count += 1
        value = f"{self.name}-{self.count}"
        key = f"fenced-{self.lock_name}"
        op = self.ctx.keys.invoke(self.key_process, "write", key, value, token=token)
        response, ambiguous = self.mutate("PUT", f"/v1/kv/chaos/{key}?lock={self.lock_name}&token={token}",
                                          body=value, window_s=3.0)
        recv = self.ctx.now()
        valid_holder = not stale and recv < s.promise_end
        if response is not None and response.status == 200:
            self.ctx.keys.complete(op, "ok", node=response.node)
            generation = response.json.get("lock_generation") if response.json else None
            self.ctx.records.add("fenced_key_writes", lock=self.lock_name, token=token, client=self.name,
                                 invoke=op["invoke_time"], recv=recv, accepted=True, lock_generation=generation,
                                 valid_holder=valid_holder)
        elif response is not None:
            self.ctx.keys.complete(op, "fail", error=response.code(), node=response.node)
            self.ctx.records.add("fenced_key_writes", lock=self.lock_name, token=token, client=self.name,
                                 invoke=op["invoke_time"], recv=recv, accepted=False, code=response.code(),
                                 valid_holder=valid_holder)
        else:
            self.ctx.keys.complete(op, "info" if ambiguous else "fail", error="no answer")

    def release(self, s, token, granted, paused_ms):
        h = self.ctx.locks
        op = h.invoke(self.process, "release", self.lock_name, token, session=s.id)
        self.ctx.records.add("beliefs", lock=self.lock_name, token=token, client=self.name, session=s.id,
                             start=granted, end=op["invoke_time"], paused_ms=paused_ms)
        response, ambiguous = self.mutate("DELETE", f"/v1/locks/{self.lock_name}?session={s.id}")
        # Recorded with its outcome: a release the cluster refused (503 with no
        # quorum, say) does not excuse a grant to someone else.
        self.ctx.records.add("releases", lock=self.lock_name, session=s.id, token=token, invoke=op["invoke_time"],
                             result=outcome(response, ambiguous))
        if response is not None and response.status == 200 and response.json and response.json.get("token") == token:
            h.complete(op, "ok", node=response.node)
            if self.rng.random() < 0.3:
                s.delete()  # a fresh session (other TTL, other lock-delay) next time
            return
        if response is not None and response.status == 404 and response.code() == "session_expired":
            s.report_expired("release", op["invoke_time"], response.node)
        h.complete(op, "info", error=(response.code() if response is not None else "no answer"))
        s.abandon()
        s.delete()


# ------------------------------------------------------------------ elections
class ElectionClient(SessionCycler):
    """Campaign (wait 1 s), proclaim a few values as leader, resign."""

    def __init__(self, ctx, index, election, process, seed):
        super().__init__(ctx, f"election-{election}-{index}", seed)
        self.election = election
        self.process = process
        self.session = None
        self.count = 0

    rest_s = (0.05, 0.4)

    def new_session(self):
        return Session(self, 3000, self.rng.choice([0, 500]))

    def value(self):
        self.count += 1
        return f"{self.name}-{self.count}"

    def give_up(self, s, at):
        h = self.ctx.elections
        op = h.invoke(self.process, "release", self.election, None, time=at, session=s.id, reason="lost")
        h.complete(op, "info", time=at)
        s.abandon()
        s.delete()

    def cycle(self, s):
        h = self.ctx.elections
        value = self.value()
        op = h.invoke(self.process, "acquire", self.election, value, session=s.id)
        invoke = op["invoke_time"]
        response, ambiguous = self.mutate("POST", f"/v1/elections/{self.election}/campaign",
                                          body={"session": s.id, "value": value, "wait": "1s"}, timeout=5.0)
        if response is None:
            h.complete(op, "info" if ambiguous else "fail", error="no answer")
            if ambiguous:
                self.give_up(s, self.ctx.now())
            return
        if response.status == 200 and response.json and response.json.get("leader"):
            token = response.json["token"]
            s.promise("grant", invoke, response.json.get("valid_for_ms", 0), response.node)
            h.complete(op, "ok", token, session=s.id, node=response.node)
            self.ctx.records.add("campaign_wins", election=self.election, session=s.id, token=token, value=value,
                                 invoke=invoke, recv=op["complete_time"])
            self.lead(s, token)
            return
        if response.status == 202:
            # A candidate: withdraw. The answer says whether it had become leader meanwhile.
            self.resign(s, op, None)
            return
        if response.status == 404 and response.code() == "session_expired":
            s.report_expired("campaign", invoke, response.node)
        h.complete(op, "fail", error=response.code(), status=response.status, node=response.node)

    def lead(self, s, token):
        for _ in range(self.rng.randint(0, 3)):
            self.sleep(self.rng.uniform(0.05, 0.3))
            if not s.valid():
                self.give_up(s, min(s.promise_end, self.ctx.now()))
                return
            value = self.value()
            invoke = self.ctx.now()
            response, _ = self.mutate("POST", f"/v1/elections/{self.election}/proclaim",
                                      body={"token": token, "value": value}, window_s=3.0)
            if response is not None:
                index = response.header("x-synod-index")
                self.ctx.records.add("proclaims", election=self.election, session=s.id, token=token, value=value,
                                     invoke=invoke, recv=self.ctx.now(), status=response.status, code=response.code(),
                                     index=int(index) if index else None)
        if not s.valid():
            self.give_up(s, min(s.promise_end, self.ctx.now()))
            return
        self.resign(s, None, token)

    def resign(self, s, campaign_op, token):
        """Ends a leadership (token known) or a candidacy (campaign_op open)."""
        h = self.ctx.elections
        invoke = self.ctx.now()
        response, ambiguous = self.mutate("POST", f"/v1/elections/{self.election}/resign", body={"session": s.id})
        self.ctx.records.add("resigns", election=self.election, session=s.id, invoke=invoke,
                             result=outcome(response, ambiguous))
        ok = response is not None and response.status == 200 and response.json is not None
        got = response.json.get("token") if ok else None
        if campaign_op is not None:
            if ok and got is None:
                h.complete(campaign_op, "fail", error="withdrew")
                return
            if ok:
                # It had become leader while queued: granted by now, released by the resign.
                h.complete(campaign_op, "ok", got, session=s.id, late=True)
                self.ctx.records.add("campaign_wins", election=self.election, session=s.id, token=got,
                                     value=campaign_op["invoke_value"], invoke=campaign_op["invoke_time"],
                                     recv=campaign_op["complete_time"], late=True)
                token = got
            else:
                # Maybe leader, maybe still queued: released at the latest when the session ends.
                h.complete(campaign_op, "info", error="resign failed")
                if response is not None and response.status == 404 and response.code() == "session_expired":
                    s.report_expired("resign", invoke, response.node)
                self.give_up(s, invoke)
                return
        op = h.invoke(self.process, "release", self.election, token, time=invoke, session=s.id)
        if ok and got == token:
            h.complete(op, "ok", node=response.node)
            return
        if response is not None and response.status == 404 and response.code() == "session_expired":
            s.report_expired("resign", invoke, response.node)
        h.complete(op, "info", error=(response.code() if response is not None else "no answer"))
        s.abandon()
        s.delete()


class Observer(Client):
    """Observes an election over SSE from any node; reconnects on an end."""

    def __init__(self, ctx, index, election, seed):
        super().__init__(ctx, f"observer-{index}", seed)
        self.index = index
        self.election = election

    def body(self):
        last_id = None
        connection = 0
        while not self.ctx.stop.is_set():
            node = self.rng.choice(self.ids)
            connection += 1
            headers = {"Last-Event-ID": str(last_id)} if last_id is not None else None
            stream = EventStream(self.ctx.cluster.port(node), f"/v1/elections/{self.election}/observe",
                                 headers=headers, timeout=15.0)
            with self.ctx.streams_lock:
                self.ctx.streams.add(stream)
            first = last_id is None
            for event in stream.events(self.ctx.stop):
                event_id, kind, data = event
                self.ctx.records.add("observed", observer=self.index, connection=connection, node=node,
                                     recv=self.ctx.now(), id=int(event_id) if event_id else None, type=kind,
                                     snapshot=first, session=data.get("session"), token=data.get("token"),
                                     value=data.get("value"))
                if kind == "compacted":
                    last_id = None
                    break
                first = False
                if event_id:
                    last_id = int(event_id)
            stream.close()
            with self.ctx.streams_lock:
                self.ctx.streams.discard(stream)
            self.sleep(self.rng.uniform(0.1, 0.5))


class SessionWatcher(Client):
    """Watches session events (created, deleted, expired) from any node."""

    def __init__(self, ctx, seed):
        super().__init__(ctx, "session-watcher", seed)

    def body(self):
        last_id = None
        while not self.ctx.stop.is_set():
            node = self.rng.choice(self.ids)
            path = "/v1/watch/?space=session" + (f"&index={last_id}" if last_id is not None else "")
            stream = EventStream(self.ctx.cluster.port(node), path, timeout=15.0)
            with self.ctx.streams_lock:
                self.ctx.streams.add(stream)
            for event_id, kind, data in stream.events(self.ctx.stop):
                self.ctx.records.add("session_events", recv=self.ctx.now(), node=node,
                                     id=int(event_id) if event_id else None, type=kind, session=data.get("session"))
                if kind == "compacted":
                    last_id = data.get("next_index")
                    break
                if event_id:
                    last_id = int(event_id)
            stream.close()
            with self.ctx.streams_lock:
                self.ctx.streams.discard(stream)
            self.sleep(self.rng.uniform(0.1, 0.3))


class Probe(Client):
    """A write every 50 ms (params["probe_interval_s"]) to one node, always the same (0.5 s timeout): one
    probe per node, so that "the cluster could take a write" is measured, not
    one client's luck in picking a node."""

    def __init__(self, ctx, node, seed):
        super().__init__(ctx, f"probe-{node}", seed)
        self.node = node
        self.key = f"probe-{node}"
        self.count = 0

    def pick(self, failed):
        pass  # always the same node

    def body(self):
        while not self.ctx.stop.is_set():
            if self.node not in self.ids:
                # Its node was removed (the `member` mix): it writes through a member now.
                self.node = sorted(self.ids)[int(self.key.split("-")[1]) % len(self.ids)]
            self.count += 1
            value = f"{self.key}-{self.count}"
            invoke = self.ctx.now()
            response = self.call("PUT", f"/v1/kv/chaos/{self.key}", body=value, timeout=0.5)
            recv = self.ctx.now()
            self.ctx.records.add("probe", key=self.key, invoke=invoke, recv=recv, value=value,
                                 status=response.status, outcome=("ok" if response.status == 200 else classify(response)),
                                 node=response.node)
            self.sleep(self.ctx.params["probe_interval_s"] if response.status == 200 else 0.02)


class Availability:
    """When could the cluster take a write? From every probe's records."""

    def __init__(self, ctx):
        self.ctx = ctx

    def longest_gap_ms(self, start, end):
        """The longest time in [start, end] with no probe write completing:
        no write committed then (as the probes see it: each node's probe
        writes every 50 ms, so the resolution is about 20 ms)."""
        done = sorted(x["recv"] for x in self.ctx.records.get("probe") if x["outcome"] == "ok" and start <= x["recv"] <= end)
        edges = [start] + done + [end]
        return max(b - a for a, b in zip(edges, edges[1:])) / 1e6

    def ok_after(self, t, timeout_s):
        """Waits until a probe write invoked at or after t succeeded; the
        earliest such completion time, or None after timeout_s."""
        deadline = time.monotonic() + timeout_s
        while True:
            done = [x["recv"] for x in self.ctx.records.get("probe") if x["invoke"] >= t and x["outcome"] == "ok"]
            if done:
                return min(done)
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.02)
