"""Auth for the process tests, the chaos suite and the benchmark (issue 19).

give_root_token(cluster, token) makes `token` every node's bootstrap token
(server/bootstrap_token.h), so it becomes root's whichever node leads first;
call it before the cluster starts. as_root(cluster, token, ...) sends root's
request to the leader, over HTTPS if the cluster has an ssl_context, retried
until it answers 200 or `timeout` passes; it returns the last answer.
"""
import os
import time

from pylib.http import request


def give_root_token(cluster, token):
    path = os.path.join(cluster.dir, "bootstrap-token")
    with open(path, "w") as f:
        f.write(token + "\n")
    cluster.extra_args += ["--bootstrap-token-file", path]


def as_root(cluster, token, method, path, body=None, timeout=20.0):
    deadline = time.monotonic() + timeout
    answer = None
    while True:
        leader = cluster.leader_or_none(timeout=min(5.0, max(0.1, deadline - time.monotonic())))
        if leader is not None:
            answer = request(cluster.port(leader), method, path, body=body, timeout=5.0,
                             headers={"Authorization": f"Bearer {token}"}, ssl_context=cluster.ssl_context)
            if answer.status == 200:
                return answer
        if time.monotonic() >= deadline:
            return answer
        time.sleep(0.1)
