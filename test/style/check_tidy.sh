#!/usr/bin/env bash
# Runs clang-tidy-14 with the checks .clang-tidy names over the product's own
# translation units (paxos/, persistence/, lockservice/, http/, server/) of a
# build tree, and fails on any finding.
#
#   test/style/check_tidy.sh BUILD_DIR [JOBS]
#
# BUILD_DIR must hold compile_commands.json (CMakeLists.txt exports it). It
# takes a few minutes of CPU (the Asio and Beast units dominate), so ctest runs
# it in the long tier (style_tidy). A missing clang-tidy-14 fails: nothing is
# skipped silently.
set -euo pipefail
[[ $# -ge 1 && $# -le 2 ]] || { echo "usage: check_tidy.sh BUILD_DIR [JOBS]" >&2; exit 2; }
repo=$(cd "$(dirname "$0")/../.." && pwd)
build=$(cd "$1" && pwd)
jobs=${2:-2}

if ! command -v clang-tidy-14 >/dev/null 2>&1 || ! command -v run-clang-tidy-14 >/dev/null 2>&1; then
  echo "check_tidy: clang-tidy-14 is not installed." >&2
  echo "  Install it with: deploy/install-deps.sh --test   (Debian package clang-tidy-14)" >&2
  exit 1
fi
if [[ ! -f "$build/compile_commands.json" ]]; then
  echo "check_tidy: $build/compile_commands.json is missing: configure the build first" >&2
  exit 2
fi

cd "$repo"
# GCC's flags that clang does not know are warnings, not errors.
if run-clang-tidy-14 -p "$build" -j "$jobs" -quiet -clang-tidy-binary clang-tidy-14 \
    -extra-arg=-Wno-unknown-warning-option \
    "^$repo/(paxos|persistence|lockservice|http|server)/"; then
  echo "check_tidy: no findings"
else
  echo "check_tidy: clang-tidy found the problems above (checks: .clang-tidy)" >&2
  exit 1
fi
