"""TLS on the client port, mutual TLS between peers, certificate reload, and
the secure default off loopback (issue 19). Real synod processes on
127.0.0.1 with certificates made by the test (pylib/certs.py, deploy/certs.sh).

  test_tls_cluster_serves_and_refuses
    - a 3-node cluster forms over mutual TLS; a write through a follower is
      forwarded to the leader over TLS; curl and synodctl reach it with the CA
    - plain HTTP to the client port is answered 400 tls_required
    - a client certificate from another CA, or an expired one, is refused at
      the handshake (and logged); a good one is accepted
    - plain bytes to a peer port are refused and logged
  test_client_cert_auth
    - with --client-cert-auth a client without a certificate is refused at the
      handshake, one with the CA's certificate is served, and followers still
      forward (they show their node certificate)
  test_plain_ports_refuse_tls
    - TLS to a plaintext client or peer port fails; the node keeps serving
  test_peer_identity_is_checked
    - a third node that shows a certificate from another CA, a valid
      certificate of another member, one of its own id in another cluster, or
      an expired one is refused by both peers with a log line saying why;
      with its own certificate it joins
  test_sighup_rotates_certificates_under_load
    - under a steady write load (keep-alive and new connections, through
      followers and the leader): new certificates from the same CA, then a
      second CA beside the first, certificates from it, and the first CA
      dropped, each by SIGHUP, with 0 failed requests; a reload with a key
      that does not match is refused and the node keeps its certificates
  test_off_loopback_needs_tls
    - plain text off loopback exits 2 unless --insecure-plaintext, which then
      warns in the log and in /v1/status (run in a network namespace of the
      test's own); incomplete or unreadable TLS files exit 2
"""
import os
import random
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

from pylib import runner  # noqa: E402
from pylib.certs import CA, make_ca, make_cert  # noqa: E402
from pylib.cluster import Cluster, free_ports  # noqa: E402
from pylib.http import Http, request  # noqa: E402
from pylib.tls import TlsCluster, client_context  # noqa: E402
from pylib.wait import until  # noqa: E402


def wait_for_log(cluster, node, text, timeout=15):
    try:
        until(lambda: text in cluster.log_text(node), timeout, f"node {node} to log {text!r}")
    except AssertionError:
        print(cluster.log_text(node)[-3000:])
        raise


def handshake(port, context):
    """Opens a TLS connection to 127.0.0.1:port and sends one request; the
    answer's status, or the error that stopped it."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"GET /v1/cluster HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                answer = tls.recv(64)
                if not answer:
                    return "closed without an answer"
                return int(answer.split()[1])
    except (ssl.SSLError, OSError) as error:
        return f"{type(error).__name__}: {error}"


def test_tls_cluster_serves_and_refuses(binary):
    with TlsCluster(3, binary) as cluster:
        cluster.start_all()
        leader = cluster.leader(timeout=20)
        follower = cluster.followers(leader)[0]
        written = cluster.put(follower, "over-tls", "yes", timeout=10)
        assert written.status == 200, written
        read = cluster.get(cluster.followers(leader)[-1], "over-tls", timeout=10)
        assert read.status == 200 and read.json["value"] == "yes", read
        print(f"  a write through follower {follower} was forwarded over TLS to leader {leader}")

        if shutil.which("curl"):
            curl = subprocess.run(["curl", "-sS", "--cacert", cluster.ca_file,
                                   f"https://127.0.0.1:{cluster.port(follower)}/v1/kv/over-tls"],
                                  capture_output=True, text=True, timeout=20)
            assert curl.returncode == 0 and '"value":"yes"' in curl.stdout, (curl.stdout, curl.stderr)
            print("  curl --cacert reads it over HTTPS")
        synodctl = os.environ.get("SYNODCTL")
        if synodctl:
            admin_cert, admin_key = cluster.certs["clients"]["admin"]
            endpoints = ",".join(f"127.0.0.1:{cluster.port(n)}" for n in cluster.ids())
            ctl = subprocess.run([synodctl, "--endpoints", endpoints, "--cacert", cluster.ca_file, "--cert", admin_cert,
                                  "--key", admin_key, "kv", "get", "over-tls"], capture_output=True, text=True,
                                 timeout=30)
            assert ctl.returncode == 0 and "yes" in ctl.stdout, (ctl.returncode, ctl.stdout, ctl.stderr)
            plain = subprocess.run([synodctl, "--endpoints", endpoints, "kv", "get", "over-tls"],
                                   capture_output=True, text=True, timeout=30)
            assert plain.returncode != 0 and "tls_required" in plain.stderr, (plain.stdout, plain.stderr)
            print("  synodctl --cacert --cert --key reads it; synodctl in plain HTTP is told tls_required")

        plain = request(cluster.port(leader), "GET", "/v1/cluster")
        assert plain.status == 400 and plain.code() == "tls_required", plain
        print(f"  plain HTTP to a TLS client port: {plain.status} {plain.code()}")

        # Client certificates: optional, but one that comes must check out.
        other_ca = make_ca(os.path.join(cluster.dir, "other"), "other CA")
        foreign = make_cert(other_ca, os.path.join(cluster.dir, "other"), "mallory", ips=["127.0.0.1"])
        own_ca = CA(cert=cluster.certs["ca"], key=cluster.certs["ca_key"], state=state_dir(cluster.dir, "own"))
        expired = make_cert(own_ca, os.path.join(cluster.dir, "own"), "expired-client", expired=True)
        for name, files in [("another CA's", foreign), ("an expired", expired)]:
            outcome = handshake(cluster.port(leader), client_context(cluster.ca_file, *files))
            assert not isinstance(outcome, int), (name, outcome)
            print(f"  {name} client certificate: {outcome}")
        wait_for_log(cluster, leader, "tls_handshake_refused")
        refusals = [line for line in cluster.log_text(leader).splitlines() if "tls_handshake_refused" in line]
        print(f"  logged: {refusals[-1].split(' ', 1)[1][:200]}")
        good = handshake(cluster.port(leader), client_context(cluster.ca_file, *cluster.certs["clients"]["admin"]))
        assert good == 200, good
        print("  a client certificate from the cluster's CA is accepted: 200")

        # Plain bytes to a peer port.
        with socket.create_connection(("127.0.0.1", cluster.peer_port(leader)), timeout=5) as raw:
            raw.sendall(b"GET / HTTP/1.1\r\n\r\n" * 4)
            raw.settimeout(5)
            try:
                assert raw.recv(4096) is not None
            except OSError:
                pass
        wait_for_log(cluster, leader, "the TLS handshake failed")
        line = [x for x in cluster.log_text(leader).splitlines() if "the TLS handshake failed" in x][-1]
        print(f"  plain bytes to a peer port: {line.split('message=', 1)[-1][:200]}")
        assert cluster.put(follower, "still", "served", timeout=10).status == 200


def state_dir(root, name):
    """An `openssl ca` database folder, for signing with a CA pylib did not make."""
    state = os.path.join(root, name + ".state")
    os.makedirs(state, exist_ok=True)
    open(os.path.join(state, "index.txt"), "a").close()
    return state


def test_client_cert_auth(binary):
    with TlsCluster(3, binary, extra_args=["--client-cert-auth"]) as cluster:
        cluster.start_all()
        admin = client_context(cluster.ca_file, *cluster.certs["clients"]["admin"])
        cluster.ssl_context = admin
        leader = cluster.leader(timeout=20)
        follower = cluster.followers(leader)[0]
        anonymous = handshake(cluster.port(follower), client_context(cluster.ca_file))
        assert not isinstance(anonymous, int), anonymous
        print(f"  no client certificate: {anonymous}")
        written = cluster.put(follower, "with-cert", "yes", timeout=10)
        assert written.status == 200, written
        print(f"  the CA's client certificate: {written.status}, through follower {follower}")


def test_plain_ports_refuse_tls(binary):
    with Cluster(1, binary) as cluster:
        cluster.start_all()
        cluster.leader(timeout=20)
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        for what, port in [("client", cluster.port(1)), ("peer", cluster.peer_port(1))]:
            outcome = handshake(port, context)
            assert not isinstance(outcome, int), outcome
            print(f"  TLS to a plaintext {what} port: {outcome}")
        assert cluster.put(1, "k", "v").status == 200
        print("  the node keeps serving")


def test_peer_identity_is_checked(binary):
    with TlsCluster(3, binary) as cluster:
        # A new cluster forms with every member (a fresh node may be one that lost its disk).
        cluster.start_all()
        cluster.leader(timeout=20)
        cluster.kill(3)
        leader = cluster.leader(timeout=20, exclude=(3,))
        certs_dir = os.path.join(cluster.dir, "bad")
        other_ca = make_ca(certs_dir, "other CA")
        own_ca = CA(cert=cluster.certs["ca"], key=cluster.certs["ca_key"], state=state_dir(certs_dir, "own"))
        me = f"synod://{cluster.hex}/node/3"
        cases = [
            ("a certificate from another CA",
             make_cert(other_ca, certs_dir, "node3-other-ca", uris=[me], ips=["127.0.0.1"]),
             "the TLS handshake failed"),
            ("a valid certificate of member 1", cluster.certs["nodes"][1],
             f"its certificate names synod://{cluster.hex}/node/1, not {me}"),
            ("a certificate for node 3 of another cluster",
             make_cert(own_ca, certs_dir, "node3-other-cluster", uris=["synod://00000000000000aa/node/3"],
                       ips=["127.0.0.1"]),
             f"its certificate names synod://00000000000000aa/node/3, not {me}"),
            ("an expired certificate",
             make_cert(own_ca, certs_dir, "node3-expired", uris=[me], ips=["127.0.0.1"], expired=True),
             "certificate has expired"),
        ]
        for what, files, expected in cases:
            cluster.node_files[3] = files
            cluster.start(3)
            for node in (1, 2):
                wait_for_log(cluster, node, expected)
            view = cluster.view(leader)
            member3 = [m for m in view["members"] if m["id"] == 3][0]
            assert not member3["connected"], view
            line = [x for x in cluster.log_text(1).splitlines() if expected in x][-1]
            print(f"  {what}: refused; node 1 logged: {line.split('message=', 1)[-1][:220]}")
            cluster.kill(3)
        cluster.node_files[3] = cluster.certs["nodes"][3]
        cluster.start(3)
        until(lambda: [m for m in cluster.view(leader)["members"] if m["id"] == 3][0]["connected"], 15,
                   "node 3 to connect with its own certificate")
        assert cluster.put(leader, "joined", "3", timeout=10).status == 200
        until(lambda: cluster.get(3, "joined", stale=True).status == 200, 15, "node 3 to apply a write")
        print("  with its own certificate node 3 joins and applies writes")


def rewrite(path, source):
    """Replaces path's contents at once (rename), as a deployment tool would."""
    temporary = path + ".new"
    shutil.copyfile(source, temporary)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def concatenate(path, sources):
    temporary = path + ".new"
    with open(temporary, "w") as out:
        for source in sources:
            with open(source) as f:
                out.write(f.read())
    os.replace(temporary, path)


class Load:
    """Writers through every node over HTTPS; a fresh connection every 5th request."""

    def __init__(self, cluster, context, threads=3):
        self.cluster, self.context = cluster, context
        self.ok = 0
        self.failures = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True) for i in range(threads)]

    def run(self, index):
        client = Http(ssl_context=self.context)
        rng = random.Random(index)
        n = 0
        while not self.stop.is_set():
            node = rng.choice(self.cluster.ids())
            answer = client.call(self.cluster.port(node), "PUT", f"/v1/kv/load/{index}", body=str(n), timeout=10)
            if answer.status == 200:
                self.ok += 1
            else:
                self.failures.append((node, answer))
            n += 1
            if n % 5 == 0:
                client.close()
        client.close()

    def __enter__(self):
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)


def reload_all(cluster, generation):
    for node in cluster.ids():
        cluster.processes[node].send_signal(signal.SIGHUP)
    for node in cluster.ids():
        wait_for_log(cluster, node, f"tls_reloaded generation={generation}")


def issuer_of_served_certificate(port, context):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            issuer = dict(x[0] for x in tls.getpeercert()["issuer"])
            return issuer.get("commonName")


def test_sighup_rotates_certificates_under_load(binary):
    with TlsCluster(3, binary) as cluster:
        cluster.start_all()
        cluster.leader(timeout=20)
        work = os.path.join(cluster.dir, "rotation")
        first_ca = CA(cert=cluster.certs["ca"], key=cluster.certs["ca_key"], state=state_dir(work, "first"))
        second_ca = make_ca(work, "second CA")
        both = os.path.join(work, "both.pem")
        concatenate(both, [first_ca.cert, second_ca.cert])
        context = client_context(both)  # the clients trust both CAs throughout

        def node_cert(ca, node, tag):
            return make_cert(ca, work, f"node{node}-{tag}", uris=[f"synod://{cluster.hex}/node/{node}"],
                             ips=["127.0.0.1"], dns=["localhost"])

        with Load(cluster, context) as load:
            time.sleep(1.5)
            # 1. New certificates from the same CA.
            for node in cluster.ids():
                cert, key = node_cert(first_ca, node, "renewed")
                rewrite(cluster.node_files[node][0], cert)
                rewrite(cluster.node_files[node][1], key)
            reload_all(cluster, 2)
            time.sleep(1)
            # 2. The second CA beside the first: the peer links handshake again.
            concatenate(cluster.ca_file, [first_ca.cert, second_ca.cert])
            reload_all(cluster, 3)
            for node in cluster.ids():
                wait_for_log(cluster, node, "tls_reloaded generation=3 ca_changed=true")
            time.sleep(1)
            # 3. Certificates from the second CA, then the first CA dropped.
            for node in cluster.ids():
                cert, key = node_cert(second_ca, node, "second")
                rewrite(cluster.node_files[node][0], cert)
                rewrite(cluster.node_files[node][1], key)
            reload_all(cluster, 4)
            time.sleep(1)
            rewrite(cluster.ca_file, second_ca.cert)
            reload_all(cluster, 5)
            time.sleep(1)
            # 4. A key that does not match its certificate is refused; the node keeps what it has.
            _, stray_key = node_cert(second_ca, 1, "stray")
            good_key = cluster.node_files[1][1] + ".good"
            shutil.copyfile(cluster.node_files[1][1], good_key)
            rewrite(cluster.node_files[1][1], stray_key)
            cluster.processes[1].send_signal(signal.SIGHUP)
            wait_for_log(cluster, 1, "tls_reload_failed")
            time.sleep(1.5)
            rewrite(cluster.node_files[1][1], good_key)
        ops = load.ok
        assert ops > 100, ops
        assert not load.failures, load.failures[:5]
        for node in cluster.ids():
            issuer = issuer_of_served_certificate(cluster.port(node), context)
            assert issuer == "second CA", (node, issuer)
        failed = [x for x in cluster.log_text(1).splitlines() if "tls_reload_failed" in x][-1]
        print(f"  {ops} writes through 4 reloads (renewal, a second CA, its certificates, the first CA dropped): "
              f"0 failed; every node now serves a certificate of the second CA")
        print(f"  a key that does not match: {failed.split(' ', 2)[-1][:200]}")


def test_off_loopback_needs_tls(binary):
    work = Cluster(1, binary)  # for its folder and ports only
    try:
        peer, client = free_ports(2)
        base = [binary, "--id", "1", "--peers", f"1=127.0.0.1:{peer}", "--data-dir", os.path.join(work.dir, "d")]

        def refused(args, expected):
            result = subprocess.run(base + args, capture_output=True, text=True, timeout=20)
            assert result.returncode == 2 and expected in result.stderr, (args, result.returncode, result.stderr)
            print(f"  exit 2: {result.stderr.strip()[:200]}")

        refused(["--client-addr", f"0.0.0.0:{client}"], "off loopback, in plain text")
        refused(["--peer-addr", f"0.0.0.0:{peer}"], "off loopback, in plain text")
        refused(["--tls-cert", "/nonexistent.pem"], "all three of --tls-cert, --tls-key and --tls-ca")
        certs = os.path.join(work.dir, "certs")
        ca = make_ca(certs)
        cert, key = make_cert(ca, certs, "n1", ips=["127.0.0.1"])
        _, other_key = make_cert(ca, certs, "n2", ips=["127.0.0.1"])
        refused(["--tls-cert", cert, "--tls-key", other_key, "--tls-ca", ca.cert], "does not match the certificate")
        refused(["--tls-cert", cert + ".missing", "--tls-key", key, "--tls-ca", ca.cert], "cannot read the certificate")
        assert not os.path.exists(os.path.join(work.dir, "d", "cluster")), "a refused node wrote its data directory"

        # --insecure-plaintext: in a network namespace of our own, where 0.0.0.0 is only its loopback.
        if os.geteuid() != 0 or not shutil.which("unshare"):
            raise AssertionError("this test needs root and unshare for its own network namespace")
        inner = f"""
import json, subprocess, sys, time, urllib.request
node = subprocess.Popen({base!r} + ["--client-addr", "0.0.0.0:{client}", "--peer-addr", "0.0.0.0:{peer}",
                        "--insecure-plaintext", "--log-format", "text"], stdout=subprocess.PIPE,
                        stderr=subprocess.STDOUT, text=True)
status = None
for _ in range(100):
    try:
        status = json.load(urllib.request.urlopen("http://127.0.0.1:{client}/v1/status", timeout=2))
        break
    except OSError:
        time.sleep(0.1)
node.terminate()
log = node.communicate(timeout=20)[0]
print(json.dumps({{"status": status, "log": log}}))
"""
        result = subprocess.run(["unshare", "--net", "--", "/bin/sh", "-c", 'ip link set lo up && exec "$@"', "sh",
                                 sys.executable, "-c", inner], capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        import json
        outcome = json.loads(result.stdout.strip().splitlines()[-1])
        assert outcome["status"] is not None, outcome["log"][-2000:]
        warnings = outcome["status"]["security"]["warnings"]
        assert outcome["status"]["security"]["tls"] is False and warnings, outcome["status"]["security"]
        assert "insecure_plaintext" in outcome["log"], outcome["log"][-2000:]
        print(f"  --insecure-plaintext on 0.0.0.0 (own network namespace): starts; /v1/status warns: {warnings[0]}")
    finally:
        work.close()


if __name__ == "__main__":
    runner.run(globals())
