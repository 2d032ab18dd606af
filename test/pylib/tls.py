"""A synod cluster over TLS, for the security tests (issue 19).

TlsCluster is a Cluster whose nodes serve HTTPS on their client ports and
mutual TLS on their peer ports, with certificates that deploy/certs.sh makes
for the cluster's id (the one `synod --print-cluster-id` prints, which each
certificate names as synod://CLUSTER-ID/node/ID). `node_files[node]` holds the
(cert, key) a node starts with and `ca_file` the CA bundle: a test swaps them
to start a node with a bad certificate, or rewrites them and sends SIGHUP to
rotate. `ssl_context` trusts the CA, so every Cluster helper (view, put, get,
leader) speaks HTTPS.
"""
import os
import shutil
import ssl
import subprocess

from pylib.certs import make_cluster_certs
from pylib.cluster import Cluster


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


class TlsCluster(Cluster):
    def __init__(self, size, binary, **kwargs):
        super().__init__(size, binary, **kwargs)
        self.hex = cluster_hex(self.binary, Cluster.args(self, 1))
        self.certs = make_cluster_certs(os.path.join(self.dir, "certs"), self.hex, nodes=size)
        # A copy the nodes read, so a test can rewrite it (rotation) and keep the original.
        self.ca_file = os.path.join(self.dir, "certs", "ca-bundle.pem")
        shutil.copyfile(self.certs["ca"], self.ca_file)
        self.node_files = dict(self.certs["nodes"])
        self.ssl_context = client_context(self.ca_file)

    def args(self, node, data_dir=None, cluster_id=None):
        cert, key = self.node_files[node]
        return super().args(node, data_dir, cluster_id) + ["--tls-cert", cert, "--tls-key", key,
                                                            "--tls-ca", self.ca_file]
