"""A Cluster whose membership changes (issue 20): ports for `capacity` nodes
are reserved up front; nodes 1..size form the cluster with --peers, and any
other node joins it with --join (its own addresses, the client ports of the
members at its start to ask). ids() are the members the test knows of now: tests and the chaos
suite's `member` mix add and remove ids as they change the membership."""
from pylib.cluster import Cluster


class GrowingCluster(Cluster):
    def __init__(self, binary, size=3, capacity=5, **kwargs):
        super().__init__(capacity, binary, **kwargs)
        self.original = list(range(1, size + 1))
        self.members = list(self.original)

    def ids(self):
        return list(self.members)

    def next_id(self):
        """An id no node of this cluster ever had (ids are never reused)."""
        used = max(list(self.members) + list(self.processes) + self.original)
        if used >= self.size:
            raise RuntimeError(f"no ports left for node {used + 1} (capacity {self.size})")
        return used + 1

    def args(self, node, data_dir=None, cluster_id=None):
        common = ["--data-dir", data_dir or self.data_dir(node), "--cluster-id", cluster_id or self.cluster_id,
                  "--log-format", "text"] + self.extra_args
        if node in self.original:
            peers = ",".join(f"{j}=127.0.0.1:{self.peer_port(j)}" for j in self.original)
            clients = ",".join(f"{j}=127.0.0.1:{self.port(j)}" for j in self.original)
            return [self.binary, "--id", str(node), "--peers", peers, "--clients", clients] + common
        # The members now: the original ones may have been removed since.
        join = ",".join(f"127.0.0.1:{self.port(j)}" for j in self.members if j != node)
        return [self.binary, "--id", str(node), "--join", join, "--peers", f"{node}=127.0.0.1:{self.peer_port(node)}",
                "--clients", f"{node}=127.0.0.1:{self.port(node)}"] + common

    # The chaos suite's nemesis heals links between faults; this cluster has
    # no proxies, so there is nothing to heal.
    def heal(self):
        pass
