"""Certificates for the TLS tests, good and bad, made with the openssl command.

make_ca makes a CA, make_cert a certificate it signs with any names, uses and
validity (an expired one included), and make_cluster_certs runs
deploy/certs.sh, the script operators use, for a whole cluster. Keys are EC
P-256, mode 0600. Every file goes into the directory the caller names; openssl
reads no configuration but the files written here.
"""
import dataclasses
import datetime
import os
import re
import subprocess

CERTS_SH = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "deploy",
                                         "certs.sh"))


@dataclasses.dataclass(frozen=True)
class CA:
    """A CA: its certificate and key (PEM files), and the folder `openssl ca` keeps its database in."""
    cert: str
    key: str
    state: str


def _openssl(*args):
    """Runs openssl; an AssertionError with its output if it fails."""
    result = subprocess.run(["openssl", *args], capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"openssl {' '.join(args)} failed:\n{result.stdout}{result.stderr}")
    return result.stdout


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def _new_key(path):
    _openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", path)
    os.chmod(path, 0o600)
    return path


def _subject(name):
    """`/CN=name` for -subj, with the characters it treats specially escaped."""
    return "/CN=" + re.sub(r"([/+=\\])", r"\\\1", name)


def _file_name(name):
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


_REQ_CONFIG = "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\n"


def make_ca(directory, name="test CA"):
    """A self-signed CA with common name `name` (ten years, CA:TRUE, keyCertSign and
    cRLSign), as DIRECTORY/NAME.pem and .key; NAME is `name` with characters other
    than letters, digits, '.', '_' and '-' replaced by '_'. Returns a CA."""
    os.makedirs(directory, exist_ok=True)
    base = os.path.join(directory, _file_name(name))
    config = _write(base + ".cnf", _REQ_CONFIG + "[ca_ext]\nbasicConstraints = critical, CA:TRUE\n"
                    "keyUsage = critical, keyCertSign, cRLSign\nsubjectKeyIdentifier = hash\n"
                    "authorityKeyIdentifier = keyid:always\n")
    key = _new_key(base + ".key")
    _openssl("req", "-new", "-x509", "-config", config, "-key", key, "-sha256", "-days", "3650",
             "-subj", _subject(name), "-extensions", "ca_ext", "-out", base + ".pem")
    state = base + ".state"
    os.makedirs(state, exist_ok=True)
    _write(os.path.join(state, "index.txt"), "")
    return CA(cert=base + ".pem", key=key, state=state)


def make_cert(ca, directory, name, uris=(), ips=(), dns=(), server=True, client=True, days=30, expired=False):
    """A certificate with common name `name` signed by `ca`, and its key: returns
    (cert_path, key_path), DIRECTORY/NAME.pem and .key (NAME as in make_ca).

    uris, ips and dns are its subject alternative names (none: no SAN at all);
    server and client put serverAuth and clientAuth in its extended key usage
    (neither: no extended key usage). It is valid from an hour ago for `days`
    days; with expired=True from 30 days ago until yesterday, so that
    `openssl verify` reports "certificate has expired". `openssl ca` signs it,
    because it takes explicit -startdate and -enddate (openssl 3.0's
    `x509 -req` only counts -days from now)."""
    os.makedirs(directory, exist_ok=True)
    base = os.path.join(directory, _file_name(name))
    now = datetime.datetime.now(datetime.timezone.utc)
    if expired:
        start, end = now - datetime.timedelta(days=30), now - datetime.timedelta(days=1)
    else:
        start, end = now - datetime.timedelta(hours=1), now + datetime.timedelta(days=days)
    sans = [f"URI:{u}" for u in uris] + [f"IP:{i}" for i in ips] + [f"DNS:{d}" for d in dns]
    uses = ["serverAuth"] * server + ["clientAuth"] * client
    extensions = "basicConstraints = CA:FALSE\nkeyUsage = critical, digitalSignature\n" \
                 "subjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid, issuer\n"
    if sans:
        extensions += f"subjectAltName = {', '.join(sans)}\n"
    if uses:
        extensions += f"extendedKeyUsage = {', '.join(uses)}\n"
    config = _write(base + ".cnf", _REQ_CONFIG + f"""[ca]
default_ca = test_ca
[test_ca]
database = {ca.state}/index.txt
new_certs_dir = {ca.state}
serial = {ca.state}/serial
unique_subject = no
default_md = sha256
policy = any_name
[any_name]
commonName = supplied
[leaf]
{extensions}""")
    key = _new_key(base + ".key")
    _openssl("req", "-new", "-config", config, "-key", key, "-subj", _subject(name), "-out", base + ".csr")
    stamp = "%Y%m%d%H%M%SZ"
    _openssl("ca", "-batch", "-config", config, "-cert", ca.cert, "-keyfile", ca.key, "-rand_serial",
             "-notext", "-startdate", start.strftime(stamp), "-enddate", end.strftime(stamp),
             "-extensions", "leaf", "-in", base + ".csr", "-out", base + ".pem")
    return base + ".pem", key


def make_cluster_certs(directory, cluster_hex, nodes=3, clients=("admin",)):
    """Runs deploy/certs.sh for a cluster whose id is `cluster_hex` (16 hex
    digits) into `directory`, with node certificates for ids 1..nodes and
    client certificates for `clients`. Returns {"ca": ca.pem, "ca_key": ca.key,
    "nodes": {id: (cert, key)}, "clients": {name: (cert, key)}}."""
    command = [CERTS_SH, "--dir", directory, "--cluster-id", cluster_hex, "--nodes", str(nodes)]
    for name in clients:
        command += ["--client", name]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} exited {result.returncode}:\n{result.stdout}{result.stderr}")
    path = lambda name: os.path.join(directory, name)  # noqa: E731
    return {"ca": path("ca.pem"), "ca_key": path("ca.key"),
            "nodes": {i: (path(f"node-{i}.pem"), path(f"node-{i}.key")) for i in range(1, nodes + 1)},
            "clients": {name: (path(f"client-{name}.pem"), path(f"client-{name}.key")) for name in clients}}
