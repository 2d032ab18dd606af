#!/usr/bin/env bash
# Installs, from Debian 12 packages only, whatever synod needs to build and
# test that is not installed yet: the compiler, cmake and make included, so a
# bare machine needs nothing by hand. As root it calls apt-get directly;
# otherwise it uses sudo. Packages already installed are left alone, and apt is
# not touched at all when nothing is missing.
#
#   deploy/install-deps.sh            what the quickstart needs: the build dependencies, and
#                                     curl, which its script and its printed instructions use, and openssl (--tls)
#   deploy/install-deps.sh --test     plus what the test suite runs (clang for fuzzing, clang-format and
#                                     clang-tidy for the style checks, curl, chromium for the status-page
#                                     test, prometheus for promtool, etcd, ZooKeeper, gRPC and ZooKeeper's C
#                                     client for the benchmark's smoke test, iproute2 for the network
#                                     namespaces some tests make, python3-yaml and python3-jsonschema
#                                     to check the API tests' requests and answers against docs/openapi.yaml,
#                                     python3-kazoo to check the ZooKeeper codec against kazoo's own bytes,
#                                     dpkg-dev, lintian, systemd and strace for the Debian package's tests:
#                                     cpack's dpkg-shlibdeps, lintian, systemd-analyze, the unit's syscall filter, ...)
set -euo pipefail

packages=(g++ cmake make pkg-config libboost1.81-dev nlohmann-json3-dev liblmdb-dev catch2 libssl-dev openssl curl)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(clang-14 libclang-rt-14-dev clang-format-14 clang-tidy-14 procps python3 python3-yaml python3-jsonschema python3-kazoo chromium prometheus debootstrap iproute2
             dpkg-dev lintian systemd strace)
fi
if [[ "${1:-}" == "--test" || "${1:-}" == "--bench" ]]; then
  # The systems bench/compare.sh sets synod beside, and the native clients
  # its load generators drive them with: gRPC and protobuf for etcd_load,
  # ZooKeeper's C client for zk_load (the test suite smoke-runs all three).
  packages+=(curl procps python3 etcd-server zookeeper libzookeeper-mt-dev libgrpc++-dev libprotobuf-dev
             protobuf-compiler protobuf-compiler-grpc)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
if [[ $(id -u) -eq 0 ]]; then
  as_root=()
elif command -v sudo >/dev/null 2>&1; then
  as_root=(sudo)
else
  echo "install-deps: missing packages (${missing[*]}) and not root, and sudo is not installed" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
