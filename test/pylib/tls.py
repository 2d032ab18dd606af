"""Clusters over TLS, for the security tests and the chaos suite's TLS mix
(issue 19).

TlsNodes is a mixin for a Cluster (or a ProxiedCluster): its nodes serve
HTTPS on their client ports and mutual TLS on their peer ports, with
certificates that deploy/certs.sh makes for the cluster's id (the one
`synod --print-cluster-id` prints, which each certificate names as
synod://CLUSTER-ID/node/ID). `node_files[node]` holds the (cert, key) a node
starts with and `ca_file` the CA bundle: a test swaps them to start a node with
a bad certificate, or rewrites them and sends SIGHUP to rotate. `ssl_context`
trusts the CA, so every Cluster helper (view, put, get, leader) speaks HTTPS.
"""
import os
import shutil
import ssl
import subprocess

from pylib.certs import make_cluster_certs
from pylib.cluster import Cluster
from pylib.proxied import ProxiedCluster


def cluster_hex(binary, args):
    """What `synod --print-cluster-id ARGS` prints: the id the node's certificate must name."""
    result = subprocess.run([binary, "--print-cluster-id", *args[1:]], capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def client_context(ca_file, cert=None, key=None):
    """An SSLContext that checks a node against ca_file (and presents cert, key)."""
    context = ssl.create_default_context(cafile=ca_file)
    if cert:
        context.load_cert_chain(cert, key)
    return context


class TlsNodes:
    def setup_tls(self):
        """Makes the certificates; call at the end of the cluster's __init__."""
        args = Cluster.args(self, 1)  # its flags without the TLS ones, and without extra_args,
        self.hex = cluster_hex(self.binary, args[:len(args) - len(self.extra_args)])  # which may need TLS
        self.certs = make_cluster_certs(os.path.join(self.dir, "certs"), self.hex, nodes=self.size)
        # A copy the nodes read, so a test can rewrite it (rotation) and keep the original.
        self.ca_file = os.path.join(self.dir, "certs", "ca-bundle.pem")
        shutil.copyfile(self.certs["ca"], self.ca_file)
        self.node_files = dict(self.certs["nodes"])
        self.ssl_context = client_context(self.ca_file)

    def args(self, node, data_dir=None, cluster_id=None):
        cert, key = self.node_files[node]
        return super().args(node, data_dir, cluster_id) + ["--tls-cert", cert, "--tls-key", key,
                                                            "--tls-ca", self.ca_file]


class TlsCluster(TlsNodes, Cluster):
    def __init__(self, size, binary, **kwargs):
        Cluster.__init__(self, size, binary, **kwargs)
        self.setup_tls()


class TlsProxiedCluster(TlsNodes, ProxiedCluster):
    def __init__(self, size, binary, seed, extra_args=()):
        ProxiedCluster.__init__(self, size, binary, seed, extra_args=extra_args)
        self.setup_tls()
