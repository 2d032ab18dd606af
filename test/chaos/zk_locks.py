"""The `zookeeper` mix's lock clients: kazoo's Lock recipe (zk_workload.py
says what is recorded and why).

A cycle: acquire (wait up to ACQUIRE_WAIT_S), hold, release.
- Granted: the token is the lock node's sequence number (ZooKeeper grants in
  that order). Kazoo's acquire says False when its retries ran out (a
  ConnectionLoss after its create may have left a node that is granted
  later) and raises on a lost session: both are `info`, followed at once by
  a `release` info, and the client closes its session and starts another.
  A LockTimeout is `fail` once the node kazoo cleaned up is confirmed gone.
- Holding: half the grants idle (only watching their connection), half
  write the fenced resource every 0.1-0.4 s with a multi [check(lock node
  version 0), setData(/chaos/res-L)]; a fifth hold 4-7 s, longer than the
  session timeout, as a holder doing slow outside work would.
- Releasing: delete the lock node. ok: the lock was held until that delete
  (a node that exists is the lowest, since lower numbers are never made
  again). Anything else is `release` info stamped with the last moment the
  node was known to exist, and a new session.
"""
from kazoo.exceptions import KazooException, LockTimeout, NoNodeError, SessionExpiredError

from zk_workload import ACQUIRE_WAIT_S, ZkClient, error_name, path_of


class ZkLockClient(ZkClient):
    def __init__(self, ctx, lock_name, index, process, key_process, seed):
        super().__init__(ctx, f"zklock-{lock_name}-{index}", seed)
        self.lock_name = lock_name
        self.process = process          # in the locks history
        self.key_process = key_process  # in the keys history (fenced writes)
        self.parent = f"/chaos-locks/{lock_name}"

    def body(self):
        while not self.ctx.stop.is_set():
            if self.conn is None and not self.reconnect():
                return
            self.cycle()
            self.ctx.stop.wait(self.rng.uniform(0.0, 0.2))

    def record_release(self, invoke, kind, recv=None, **extra):
        h = self.ctx.locks
        op = h.invoke(self.process, "release", self.lock_name, None, time=invoke, **extra)
        h.complete(op, kind, time=recv)

    def lost(self, known_until, **extra):
        """The lock may be gone from `known_until` on; a new session from here."""
        self.record_release(known_until, "info", **extra)
        self.reconnect()

    def cycle(self):
        h = self.ctx.locks
        conn = self.conn
        lock = conn.zk.Lock(self.parent, self.name)
        epoch = conn.epoch
        op = h.invoke(self.process, "acquire", self.lock_name, None, session=conn.session)
        try:
            got = lock.acquire(timeout=ACQUIRE_WAIT_S)
            error = None
        except LockTimeout:
            got, error = False, "LockTimeout"
        except KazooException as e:
            got, error = None, type(e).__name__
        if got:
            token = int(lock.node[-10:])
            session = conn.zk.client_id[0]
            h.complete(op, "ok", token, session=session, node=conn.node)
            self.ctx.records.add("zk_grants", lock=self.lock_name, token=token, client=self.name, session=session,
                                 invoke=op["invoke_time"], recv=op["complete_time"], node=conn.node)
            self.hold(lock, token, session, epoch, op["complete_time"])
            return
        if error == "LockTimeout" and lock.node is not None:
            kind, result = conn.call("exists", f"{self.parent}/{lock.node}")
            if kind == "ok" and result is None:
                h.complete(op, "fail", error=error, node=conn.node)
                return
        # Maybe granted now or later, under a token nobody knows.
        h.complete(op, "info", error=error or "retries ran out", node=conn.node)
        self.lost(self.ctx.now(), reason="acquire unknown")

    def believes(self, session, epoch):
        return self.conn.epoch == epoch and self.conn.connected_in(session)

    def hold(self, lock, token, session, epoch, granted):
        fenced = self.rng.random() < 0.5
        seconds = self.rng.uniform(4.0, 7.0) if self.rng.random() < 0.2 else self.rng.uniform(0.2, 2.0)
        until = granted + int(seconds * 1e9)
        node_path = f"{self.parent}/{lock.node}"
        known_until = granted      # the node existed at least until then
        believed_until = granted   # the last check that found the belief intact
        gone = None                # why the holder stopped early
        while self.ctx.now() < until and not self.ctx.stop.is_set():
            checked = self.ctx.now()
            if not self.believes(session, epoch):
                gone = "state change"
                break
            believed_until = checked
            if fenced:
                result = self.fenced_write(node_path, token, session, epoch)
                if result is not None:
                    if result == "ok":
                        known_until = checked
                    else:
                        gone = result
                        break
                self.ctx.stop.wait(self.rng.uniform(0.1, 0.4))
            else:
                self.ctx.stop.wait(0.05)
        self.ctx.records.add("beliefs", lock=self.lock_name, token=token, client=self.name, session=session,
                             start=granted, end=believed_until, fenced=fenced, held_s=round(seconds, 3),
                             ended=gone or "release")
        self.release(node_path, token, session, epoch, known_until, gone)

    def fenced_write(self, node_path, token, session, epoch):
        """None: the outcome is unknown; "ok"; or why the multi was refused."""
        value = self.value()
        key = f"res-{self.lock_name}"
        op = self.ctx.keys.invoke(self.key_process, "write", key, value, token=token)
        transaction = self.conn.zk.transaction()
        transaction.check(node_path, 0)
        transaction.set_data(path_of(key), value.encode())
        try:
            results = transaction.commit_async().get(timeout=3.0)
            error = None
        except self.conn.zk.handler.timeout_exception:
            results, error = None, "timeout"
        except KazooException as e:
            results, error = None, e
        recv = self.ctx.now()
        record = {"lock": self.lock_name, "token": token, "client": self.name, "session": session,
                  "invoke": op["invoke_time"], "recv": recv, "value": value}
        if results is not None and not any(isinstance(r, Exception) for r in results):
            self.ctx.keys.complete(op, "ok", node=self.conn.node)
            self.version_seen(key, results[1].version, value, "multi")
            self.ctx.records.add("zk_fenced", result="ok", **record)
            return "ok"
        if results is not None:
            # The multi failed as a whole: nothing of it applied.
            names = [type(r).__name__ for r in results]
            self.ctx.keys.complete(op, "fail", error=names, node=self.conn.node)
            self.ctx.records.add("zk_fenced", result="refused", error=names, **record)
            if isinstance(results[0], NoNodeError):
                self.lost_in_session("multi check: NoNode", node_path, token, session, epoch, op["invoke_time"])
            return "refused " + ",".join(names)
        name = error if error == "timeout" else type(error).__name__
        self.ctx.keys.complete(op, "info", error=name, node=self.conn.node)
        self.ctx.records.add("zk_fenced", result="unknown", error=name, **record)
        if isinstance(error, SessionExpiredError):
            self.lost_in_session("multi: SessionExpired", node_path, token, session, epoch, op["invoke_time"])
        return None

    def lost_in_session(self, what, node_path, token, session, epoch, invoke):
        """The server said the holder's node or session is gone. If the client
        is still connected in the session that made the node, a server
        should not say so (zk_checks: zk_lock_lost_in_live_session)."""
        if self.conn.connected_in(session):
            self.ctx.records.add("zk_lost_in_session", lock=self.lock_name, token=token, client=self.name,
                                 session=session, node=self.conn.node, what=what, path=node_path, invoke=invoke,
                                 recv=self.ctx.now(), state_changes_since_grant=self.conn.epoch - epoch)

    def release(self, node_path, token, session, epoch, known_until, gone):
        invoke = self.ctx.now()
        if self.conn.connected_in(session):
            kind, result = self.conn.call("delete", node_path)
            if kind == "ok":
                self.record_release(invoke, "ok", session=session, node=self.conn.node)
                return
            if isinstance(result, (NoNodeError, SessionExpiredError)):
                self.lost_in_session(f"delete: {type(result).__name__}", node_path, token, session, epoch, invoke)
            gone = gone or f"delete: {error_name(kind, result)}"
        self.lost(known_until, session=session, reason=gone or "not connected in its session")
