#!/usr/bin/env bash
# synod beside etcd and ZooKeeper, on this machine, in one run (issues #8, #17).
#
#   bench/compare.sh [--quick] [--out FILE]
#   bench/compare.sh --tls-cost [--quick] [--out FILE]   synod with and without TLS only (issue 19)
#   bench/compare.sh --zookeeper-protocol [--quick] [--out FILE]   zk_load against ZooKeeper
#                    and against synod's ZooKeeper listener only (issue 22)
#
# Installs Debian's etcd-server, zookeeper, gRPC and ZooKeeper's C client if
# they are missing, builds synod and the load generators in build/ (the README
# commands' folder), starts three-node clusters of each system on 127.0.0.1 in
# turn (fresh data, fsync on), drives each through its native protocol with
# the same workloads (bench/compare.py), prints the tables with ratios and
# server CPU per operation, writes one JSON line per row to FILE (default
# bench/results/DATE-COMMIT.jsonl) and the tables to bench/RESULTS.md, and
# stops everything it started. --quick takes about 5 minutes; the full run
# about 40.
set -euo pipefail
cd "$(dirname "$0")/.."

args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) args+=(--quick); shift ;;
    --tls-cost) args+=(--tls-cost); shift ;;
    --zookeeper-protocol) args+=(--zookeeper-protocol); shift ;;
    --out) args+=(--out "$2"); shift 2 ;;
    *) echo "usage: bench/compare.sh [--quick] [--tls-cost] [--zookeeper-protocol] [--out FILE]" >&2; exit 2 ;;
  esac
done

deploy/install-deps.sh --bench
build=build
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j2 --target synod synod-loadgen etcd_load zk_load floor >/dev/null
exec python3 bench/compare.py --build "$build" "${args[@]}"
