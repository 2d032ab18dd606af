"""Abuse limits (issue 19): one client address cannot hold every connection
slot of a node with half-sent requests. Run in a network namespace of the
test's own, where the honest client can come from another loopback address
(127.0.0.2) than the attacker (127.0.0.1).

  test_half_sent_requests_hold_only_their_address_quota
    - 100 connections from 127.0.0.1 that send half a request: the first 64
      (--unproven-connections-per-address-max) are held, the rest answered
      429 too_many_connections at once
    - meanwhile a client from 127.0.0.2 is served (200), and one more from
      127.0.0.1 is refused; once the attacker leaves, 127.0.0.1 is served
    - 30 long-polls from 127.0.0.1 with --waiting-requests-per-address-max 20:
      20 wait, 10 are answered 429 too_many_requests, 127.0.0.2 is served
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

from pylib import runner  # noqa: E402
from pylib.cluster import free_ports  # noqa: E402

INNER = r'''
import json, socket, subprocess, sys, time
binary, data, peer, client = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
node = subprocess.Popen([binary, "--id", "1", "--peers", f"1=127.0.0.1:{peer}", "--data-dir", data,
                         "--clients", f"1=127.0.0.1:{client}", "--log-format", "text",
                         "--waiting-requests-per-address-max", "20"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

def get(source, path="/healthz"):
    s = socket.create_connection(("127.0.0.1", client), timeout=5, source_address=(source, 0))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    answer = s.recv(4096).decode(errors="replace")
    s.close()
    return int(answer.split()[1]) if answer else 0

out = {}
try:
    for _ in range(100):
        try:
            if get("127.0.0.1") == 200:
                break
        except OSError:
            pass
        time.sleep(0.1)
    # All at once (well within the 10 s a request may take to arrive), then
    # see which were answered.
    sockets = []
    for _ in range(100):
        s = socket.create_connection(("127.0.0.1", client), timeout=5, source_address=("127.0.0.1", 0))
        s.sendall(b"GET /v1/kv/x HTTP/1.1\r\nHost: x\r\n")  # half a request
        sockets.append(s)
    time.sleep(0.5)
    held, refused = [], 0
    for s in sockets:
        s.setblocking(False)
        try:
            answer = s.recv(4096).decode(errors="replace")
            refused += " 429 " in answer and "too_many_connections" in answer
            s.close()
        except BlockingIOError:
            held.append(s)
    out["held"] = len(held)
    out["refused"] = refused
    out["other_address"] = get("127.0.0.2")
    try:
        out["same_address"] = get("127.0.0.1")
    except OSError:
        out["same_address"] = 0
    for s in held:
        s.close()
    time.sleep(0.3)
    out["same_address_after"] = get("127.0.0.1")

    # Long-polls: whole requests that wait for a change that does not come.
    polls = []
    for _ in range(30):
        s = socket.create_connection(("127.0.0.1", client), timeout=5, source_address=("127.0.0.1", 0))
        s.sendall(b"GET /v1/kv/never?index=1000000000&wait=60s HTTP/1.1\r\nHost: x\r\n\r\n")
        polls.append(s)
    time.sleep(0.5)
    waiting, too_many = 0, 0
    for s in polls:
        s.setblocking(False)
        try:
            answer = s.recv(4096).decode(errors="replace")
            too_many += " 429 " in answer and "too_many_requests" in answer
        except BlockingIOError:
            waiting += 1
    out["polls_waiting"], out["polls_refused"] = waiting, too_many
    out["poll_other_address"] = get("127.0.0.2")
    for s in polls:
        s.close()
finally:
    node.terminate()
    node.wait(timeout=20)
print(json.dumps(out))
'''


def test_half_sent_requests_hold_only_their_address_quota(binary):
    if os.geteuid() != 0 or not shutil.which("unshare"):
        raise AssertionError("this test needs root and unshare for its own network namespace")
    peer, client = free_ports(2)
    with tempfile.TemporaryDirectory(prefix="synod-abuse-") as scratch:
        result = subprocess.run(["unshare", "--net", "--", "/bin/sh", "-c", 'ip link set lo up && exec "$@"', "sh",
                                 sys.executable, "-c", INNER, binary, os.path.join(scratch, "data"), str(peer),
                                 str(client)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    print(f"  100 half-sent requests from 127.0.0.1: {out['held']} held, {out['refused']} answered 429")
    assert out["held"] == 64 and out["refused"] == 36, out
    print(f"  meanwhile: 127.0.0.2 gets {out['other_address']}, 127.0.0.1 gets {out['same_address']}")
    assert out["other_address"] == 200 and out["same_address"] == 429, out
    print(f"  once the attacker leaves, 127.0.0.1 gets {out['same_address_after']}")
    assert out["same_address_after"] == 200, out
    print(f"  30 long-polls from 127.0.0.1 (--waiting-requests-per-address-max 20): {out['polls_waiting']} wait, "
          f"{out['polls_refused']} answered 429; 127.0.0.2 gets {out['poll_other_address']}")
    assert out["polls_waiting"] == 20 and out["polls_refused"] == 10 and out["poll_other_address"] == 200, out


if __name__ == "__main__":
    runner.run(globals())
