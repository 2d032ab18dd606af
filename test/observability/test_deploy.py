"""Checks of deploy/prometheus.yml and deploy/grafana-dashboard.json.

  python3 test/observability/test_deploy.py prometheus_config --source .
  python3 test/observability/test_deploy.py dashboard --source . --binary build/server/synod

prometheus_config: `promtool check config` accepts the scrape configuration,
and it scrapes exactly the quickstart cluster's client addresses.
dashboard: the top row holds the four SRE numbers; every query parses as
PromQL (`promtool check rules` on a rules file made of them); and every
metric the queries use is exported by a running node's GET /metrics.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))  # test/, for pylib

from pylib.cluster import Cluster  # noqa: E402
from pylib.prometheus import scrape  # noqa: E402

SRE_METRICS = ["synod_election_duration_seconds", "synod_commit_latency_seconds",
               "synod_heartbeat_interval_seconds", "synod_quorum_health_ratio"]


def promtool():
    path = shutil.which("promtool")
    if not path:
        raise AssertionError("promtool is not installed (Debian's prometheus package): run deploy/install-deps.sh --test")
    return path


def prometheus_config(source):
    config = os.path.join(source, "deploy", "prometheus.yml")
    result = subprocess.run([promtool(), "check", "config", config], capture_output=True, text=True)
    assert result.returncode == 0, f"promtool check config: {result.stdout}{result.stderr}"
    with open(config) as f:
        targets = set(re.findall(r'"(127\.0\.0\.1:\d+)"', f.read()))
    # The quickstart's client addresses: 127.0.0.1:(BASE + id) for ids 1 to
    # its default node count (deploy/quickstart.sh computes them).
    with open(os.path.join(source, "deploy", "quickstart.sh")) as f:
        script = f.read()
    base = int(re.search(r"clients=\$\(for id in \$ids; do printf '%s=127\.0\.0\.1:%s,' \"\$id\" \$\(\((\d+) \+ id\)\)",
                         script).group(1))
    default_nodes = int(re.search(r"^nodes=\$\{nodes:-(\d+)\}$", script, re.M).group(1))
    quickstart = {f"127.0.0.1:{base + i}" for i in range(1, default_nodes + 1)}
    assert targets == quickstart, f"scrape targets {sorted(targets)} != quickstart clients {sorted(quickstart)}"
    print(f"prometheus.yml: valid; scrapes {sorted(targets)}")


def queries(dashboard):
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            yield panel, target["expr"]


def check_promql(dashboard):
    """Every expression parses: promtool checks them as recording rules."""
    rules = ["groups:", "  - name: dashboard", "    rules:"]
    for i, (_, expr) in enumerate(queries(dashboard)):
        # Grafana's own variable is not PromQL; any range stands in for it.
        rules += [f"      - record: dashboard:query_{i}", f"        expr: {json.dumps(expr.replace('$__rate_interval', '5m'))}"]
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as f:
        f.write("\n".join(rules) + "\n")
        path = f.name
    try:
        result = subprocess.run([promtool(), "check", "rules", path], capture_output=True, text=True)
        assert result.returncode == 0, f"a dashboard query is not valid PromQL: {result.stdout}{result.stderr}"
    finally:
        os.unlink(path)


def metric_names(expr):
    return set(re.findall(r"\b((?:synod|process)_[a-z0-9_]+)\b", expr))


def dashboard(source, binary):
    with open(os.path.join(source, "deploy", "grafana-dashboard.json")) as f:
        board = json.load(f)
    top = sorted((p for p in board["panels"] if p["type"] != "row" and p["gridPos"]["y"] <= 1),
                 key=lambda p: p["gridPos"]["x"])
    assert len(top) == 4, f"the top row has {len(top)} panels, not the four SRE numbers"
    for panel, metric in zip(top, SRE_METRICS):
        used = set().union(*(metric_names(t["expr"]) for t in panel["targets"]))
        assert any(name.startswith(metric) for name in used), f"top-row panel '{panel['title']}' does not show {metric}"
    check_promql(board)

    used = set()
    for _, expr in queries(board):
        used |= metric_names(expr)
    with Cluster(3, binary) as cluster:
        cluster.start_all()
        leader = cluster.leader(timeout=15)
        assert cluster.put(leader, "dashboard", "v").status == 200
        families, types = set(), {}
        for node in cluster.ids():  # the leader and the followers export different halves
            metrics = scrape(cluster.port(node))
            families |= metrics.families()
            types.update(metrics.types)
        missing = []
        for name in sorted(used):
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            if name in families:
                continue
            if base != name and types.get(base) == "histogram":
                continue
            missing.append(name)
        assert not missing, f"the dashboard uses metrics no node exports: {missing}"
        print(f"grafana-dashboard.json: {len(board['panels'])} panels; all {len(used)} metrics exported")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("check", choices=["prometheus_config", "dashboard"])
    parser.add_argument("--source", required=True, help="the repository's root")
    parser.add_argument("--binary")
    args = parser.parse_args()
    if args.check == "prometheus_config":
        prometheus_config(args.source)
    else:
        dashboard(args.source, args.binary)


if __name__ == "__main__":
    main()
