#!/usr/bin/env bash
# The README's test command (.ci/run runs exactly this):
#   deploy/test.sh            install what is missing, build, run the `ci` tests,
#                             then the AddressSanitizer+UBSan pass (`asan` tests)
#   deploy/test.sh --long     the same builds, then the `long` tier and, in the
#                             sanitizer build, the `asan_long` tests
#
# Every test is a ctest test with a label; see test/CMakeLists.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

tier=ci
case "${1:-}" in
  "") ;;
  --long) tier=long ;;
  *) echo "usage: deploy/test.sh [--long]" >&2; exit 2 ;;
esac

deploy/install-deps.sh --test

jobs=2
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo
cmake --build build -j"$jobs"
ctest --test-dir build -L "^${tier}\$" -j"$jobs" --output-on-failure --timeout 3600

# One build under AddressSanitizer and UndefinedBehaviorSanitizer: the modules,
# synod and synodctl, the unit tests and the simulator, without the benchmarks
# and the fuzz, chaos and observability tests (compile time matters; see
# SYNOD_SANITIZE in CMakeLists.txt). The ci tier runs its `asan` tests (unit
# tests, a simulator slice, a few process tests on sanitized servers); the long
# tier its `asan_long` tests (every cluster and API process test).
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSYNOD_SANITIZE=ON -DSYNOD_PURE_ONLY=OFF
cmake --build build-asan -j"$jobs"
asan_label=asan
[[ "$tier" == long ]] && asan_label=asan_long
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir build-asan -L "^${asan_label}\$" -j"$jobs" --output-on-failure --timeout 3600
