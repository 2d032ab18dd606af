"""The chaos checks on made-up records: each one passes a correct record and
reports the violation it exists for. No cluster; runs in a second.

    python3 test/chaos/test_checks.py
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import checks  # noqa: E402
import nemesis  # noqa: E402
import zk_checks  # noqa: E402 - the zookeeper mix's checks (no kazoo needed)

MS = 1_000_000


def w(f, value, kind, invoke, complete):
    return {"f": f, "value": value, "type": kind, "invoke_time": invoke * MS, "complete_time": complete * MS}


class FinalValues(unittest.TestCase):
    def test_last_acknowledged_write_is_read(self):
        muts = {"k": [w("write", "a", "ok", 0, 10), w("write", "b", "ok", 20, 30)]}
        self.assertEqual(checks.check_final_values(muts, {"k": "b"}), {})

    def test_superseded_acknowledged_write_read_at_the_end_is_a_loss(self):
        muts = {"k": [w("write", "a", "ok", 0, 10), w("write", "b", "ok", 20, 30)]}
        self.assertIn("acknowledged_write_lost", checks.check_final_values(muts, {"k": "a"}))

    def test_concurrent_writes_either_may_win(self):
        muts = {"k": [w("write", "a", "ok", 0, 30), w("write", "b", "ok", 10, 20)]}
        self.assertEqual(checks.check_final_values(muts, {"k": "a"}), {})
        self.assertEqual(checks.check_final_values(muts, {"k": "b"}), {})

    def test_unknown_write_may_win_even_late(self):
        muts = {"k": [w("write", "a", "info", 0, 5), w("write", "b", "ok", 20, 30)]}
        self.assertEqual(checks.check_final_values(muts, {"k": "a"}), {})

    def test_delete_then_absent(self):
        muts = {"k": [w("write", "a", "ok", 0, 10), w("delete", None, "ok", 20, 30)]}
        self.assertEqual(checks.check_final_values(muts, {"k": None}), {})
        self.assertIn("acknowledged_write_lost",
                      checks.check_final_values({"k": muts["k"][:1]}, {"k": None}))

    def test_refused_write_visible(self):
        muts = {"k": [w("write", "a", "ok", 0, 10), w("write", "x", "fail", 20, 30)]}
        self.assertIn("failed_write_visible", checks.check_final_values(muts, {"k": "x"}))


class Fences(unittest.TestCase):
    def test_resource(self):
        ok = [{"lock": "L", "token": 1, "accepted": True, "valid_holder": True, "client": "a", "time": 1},
              {"lock": "L", "token": 5, "accepted": True, "valid_holder": True, "client": "b", "time": 2},
              {"lock": "L", "token": 1, "accepted": False, "valid_holder": False, "client": "a", "time": 3}]
        self.assertEqual(checks.check_resource(ok), {})
        stale = ok[:2] + [dict(ok[2], accepted=True)]
        self.assertIn("resource_token_not_rising", checks.check_resource(stale))
        refused = ok[:1] + [dict(ok[1], accepted=False)]
        self.assertIn("resource_refused_valid_holder", checks.check_resource(refused))

    def test_fenced_key(self):
        a = {"lock": "L", "token": 7, "invoke": 0, "recv": 10, "accepted": True, "lock_generation": 7,
             "valid_holder": True}
        b = dict(a, token=9, invoke=20, recv=30, lock_generation=9)
        self.assertEqual(checks.check_fenced_keys([a, b]), {})
        self.assertIn("fenced_key_token_not_rising", checks.check_fenced_keys([b, dict(a, invoke=40, recv=50)]))
        self.assertIn("fenced_key_generation_wrong", checks.check_fenced_keys([dict(a, lock_generation=3)]))
        self.assertIn("fenced_key_refused_valid_holder",
                      checks.check_fenced_keys([dict(a, accepted=False, code="stale_token")]))

    def test_tokens_unique(self):
        g = {"lock": "L", "token": 3, "session": "s1"}
        self.assertEqual(checks.check_tokens_unique([g, dict(g)]), {})
        self.assertIn("token_reused", checks.check_tokens_unique([g, dict(g, session="s2")]))


class Sessions(unittest.TestCase):
    def index(self, expired_at, deleted_at=None, later_promise=False, delete_result="ok"):
        promises = [{"session": "s", "send": 0, "valid_for_ms": 1000, "kind": "create"},
                    {"session": "s", "send": 500 * MS, "valid_for_ms": 1000, "kind": "keepalive"}]
        if later_promise:
            promises.append({"session": "s", "send": expired_at + MS, "valid_for_ms": 500, "kind": "keepalive"})
        reports = [{"session": "s", "recv": expired_at, "source": "keepalive"}]
        deletes = [] if deleted_at is None else [{"session": "s", "invoke": deleted_at, "result": delete_result}]
        return checks.session_index(promises, reports, deletes, [])

    def test_expiry_after_the_promise(self):
        self.assertEqual(checks.check_sessions(self.index(1600 * MS)), {})

    def test_expiry_before_the_promise(self):
        self.assertIn("session_expired_early", checks.check_sessions(self.index(1400 * MS)))

    def test_deleted_sessions_may_be_gone_early(self):
        self.assertEqual(checks.check_sessions(self.index(1400 * MS, deleted_at=1300 * MS)), {})

    def test_a_refused_delete_is_no_excuse(self):
        self.assertIn("session_expired_early",
                      checks.check_sessions(self.index(1400 * MS, deleted_at=1300 * MS, delete_result="no_quorum")))
        self.assertEqual(checks.check_sessions(self.index(1400 * MS, deleted_at=1300 * MS, delete_result="unknown")), {})

    def test_no_keep_alive_answered_after_an_expiry(self):
        self.assertIn("session_resurrected", checks.check_sessions(self.index(1600 * MS, later_promise=True)))

    def test_watch_events_count_too(self):
        promises = [{"session": "s", "send": 0, "valid_for_ms": 1000, "kind": "create"}]
        events = [{"type": "expired", "session": "s", "recv": 900 * MS}]
        self.assertIn("session_expired_early", checks.check_sessions(checks.session_index(promises, [], [], events)))


class Grants(unittest.TestCase):
    def setup(self, second_recv, lock_delay_ms=0, released_at=None, release_result="ok"):
        promises = [{"session": "s1", "send": 0, "valid_for_ms": 1000, "kind": "grant"}]
        sessions = checks.session_index(promises, [], [], [])
        grants = [{"lock": "L", "session": "s1", "token": 1, "invoke": 0, "recv": 10 * MS},
                  {"lock": "L", "session": "s2", "token": 2, "invoke": 0, "recv": second_recv}]
        releases = [] if released_at is None else [{"lock": "L", "session": "s1", "invoke": released_at,
                                                     "result": release_result}]
        return checks.check_grants(grants, releases, sessions, {"s1": lock_delay_ms})

    def test_after_the_holder_expired(self):
        self.assertEqual(self.setup(1001 * MS), {})

    def test_during_the_holders_validity(self):
        self.assertIn("lock_granted_during_holder_validity", self.setup(999 * MS))

    def test_released_first(self):
        self.assertEqual(self.setup(500 * MS, released_at=400 * MS), {})

    def test_a_refused_release_is_no_excuse(self):
        self.assertIn("lock_granted_during_holder_validity",
                      self.setup(500 * MS, released_at=400 * MS, release_result="no_quorum"))
        self.assertEqual(self.setup(500 * MS, released_at=400 * MS, release_result="unknown"), {})

    def test_inside_the_lock_delay(self):
        # 1100 ms of lock-delay in log time is at least 1000 ms of real time.
        self.assertIn("lock_granted_inside_lock_delay", self.setup(1999 * MS, lock_delay_ms=1100))
        self.assertEqual(self.setup(2001 * MS, lock_delay_ms=1100), {})


class Observers(unittest.TestCase):
    def ev(self, observer, connection, i, kind, session=None, token=None, value=None, snapshot=False):
        return {"observer": observer, "connection": connection, "id": i, "type": kind, "session": session,
                "token": token, "value": value, "snapshot": snapshot}

    def test_agreeing_observers(self):
        seen = [self.ev(0, 1, 10, "leader", "s", 10, "v"), self.ev(1, 1, 10, "leader", "s", 10, "v"),
                self.ev(0, 1, 20, "no_leader"), self.ev(0, 1, 30, "leader", "t", 30, "w")]
        wins = [{"token": 10, "session": "s", "value": "v"}]
        self.assertEqual(checks.check_observers(seen, wins, []), {})

    def test_disagreeing_observers(self):
        seen = [self.ev(0, 1, 10, "leader", "s", 10, "v"), self.ev(1, 1, 10, "leader", "t", 10, "v")]
        self.assertIn("observers_disagree", checks.check_observers(seen, [], []))

    def test_out_of_order(self):
        seen = [self.ev(0, 1, 20, "no_leader"), self.ev(0, 1, 10, "leader", "s", 10, "v")]
        self.assertIn("observer_events_out_of_order", checks.check_observers(seen, [], []))

    def test_tokens_fall(self):
        seen = [self.ev(0, 1, 10, "leader", "s", 30, "v"), self.ev(0, 1, 20, "leader", "t", 20, "w")]
        self.assertIn("election_tokens_not_rising", checks.check_observers(seen, [], []))

    def test_answer_mismatch(self):
        seen = [self.ev(0, 1, 10, "leader", "s", 10, "v"), self.ev(0, 1, 11, "proclaimed", "s", 10, "p")]
        self.assertIn("election_answer_mismatch",
                      checks.check_observers(seen, [{"token": 10, "session": "x", "value": "v"}], []))
        self.assertIn("election_answer_mismatch",
                      checks.check_observers(seen, [], [{"value": "p", "status": 412, "token": 10}]))


class Beliefs(unittest.TestCase):
    def test_overlaps_are_counted(self):
        beliefs = [{"lock": "L", "token": 1, "start": 0, "end": 100},
                   {"lock": "L", "token": 2, "start": 50, "end": 60},
                   {"lock": "L", "token": 3, "start": 100, "end": 120}]
        self.assertEqual(checks.concurrent_beliefs(beliefs)[0], 1)


class LincheckPaths(unittest.TestCase):
    def test_only_decided_histories_count_by_their_path(self):
        verdicts = [{"verdict": "linearizable", "path": "unique-values"},
                    {"verdict": "not-linearizable", "path": "unique-values"},
                    {"verdict": "linearizable", "path": "mixed"},
                    {"verdict": "linearizable", "path": "search"},
                    {"verdict": "unknown", "path": "search"}]
        self.assertEqual(checks.count_paths(verdicts), {"unique-values": 2, "mixed": 1, "search": 1})


class Shapes(unittest.TestCase):
    def test_every_shape_cuts_something_and_keeps_majority_as_documented(self):
        for nodes in (3, 5):
            order = list(range(1, nodes + 1))
            for shape in nemesis.SHAPES:
                cut = nemesis.links_cut(shape, nodes, 1, order)
                self.assertTrue(cut, (shape, nodes))
                self.assertTrue(all(a != b for a, b in cut))
            self.assertTrue(nemesis.majority_connected(nodes, order, nemesis.links_cut("isolate_leader", nodes, 1,
                                                                                         order)))
            self.assertTrue(nemesis.majority_connected(nodes, order, nemesis.links_cut("bridge", nodes, 1, order)))
        # A 3-node directed ring: every node hears one other, no pair hears each other.
        ring = nemesis.links_cut("ring", 3, 1, [1, 2, 3])
        self.assertFalse(nemesis.majority_connected(3, [1, 2, 3], ring))
        self.assertEqual(len(ring), 3)

    def test_schedule_is_a_function_of_the_seed(self):
        a = nemesis.schedule("mixed", 42, 5, 4000)
        self.assertEqual(a, nemesis.schedule("mixed", 42, 5, 4000))
        self.assertNotEqual(a, nemesis.schedule("mixed", 43, 5, 4000))
        kinds = {f["kind"] for f in a}
        self.assertEqual(kinds, {"kill", "restart_all", "pause", "partition", "net"})


class ZkChecks(unittest.TestCase):
    def v(self, key, version, value):
        return {"key": key, "version": version, "value": value}

    def test_versions_one_value_each(self):
        good = [self.v("z0", 0, "init"), self.v("z0", 1, "a"), self.v("z0", 1, "a"), self.v("z1", 1, "b")]
        self.assertEqual(zk_checks.check_versions(good, []), {})
        self.assertIn("zk_version_mismatch", zk_checks.check_versions(good + [self.v("z0", 1, "c")], []))
        self.assertIn("zk_version_mismatch", zk_checks.check_versions(good + [self.v("z0", 2, "a")], []))
        jump = [{"key": "z0", "expected": 1, "got": 3, "value": "d"}]
        self.assertIn("zk_version_mismatch", zk_checks.check_versions(good, jump))

    def f(self, token, invoke, recv, result="ok"):
        return {"lock": "L0", "token": token, "invoke": invoke * MS, "recv": recv * MS, "result": result}

    def test_fenced_tokens_rise_with_real_time(self):
        good = [self.f(3, 0, 10), self.f(5, 20, 30), self.f(4, 25, 40, "refused"), self.f(6, 5, 35)]
        self.assertEqual(zk_checks.check_fenced_order(good), {})
        # Token 4 committed although token 5's multi had completed before it was sent.
        self.assertIn("zk_fenced_token_not_rising", zk_checks.check_fenced_order(good + [self.f(4, 31, 45)]))

    def test_lost_in_session_once_per_grant(self):
        reports = [{"lock": "L0", "token": 7, "what": "multi check: NoNode"},
                   {"lock": "L0", "token": 7, "what": "delete: NoNode"}]
        found = zk_checks.check_lost_in_session(reports)
        self.assertEqual(len(found["zk_lock_lost_in_live_session"]), 1)
        self.assertEqual(zk_checks.check_lost_in_session([]), {})

    def test_unexpected(self):
        self.assertIn("zk_unexpected_error", zk_checks.check_unexpected([{"op": "get", "error": "NoNode"}]))

    def test_every_zk_kind_is_a_violation_kind(self):
        for kind in ("zk_version_mismatch", "zk_fenced_token_not_rising", "zk_lock_lost_in_live_session",
                     "zk_unexpected_error"):
            self.assertIn(kind, checks.KINDS)


if __name__ == "__main__":
    unittest.main(verbosity=1)
