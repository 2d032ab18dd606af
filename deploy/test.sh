#!/usr/bin/env bash
# The README's test command (.ci/run runs exactly this):
#   deploy/test.sh            install what is missing, build, run the `ci` tests,
#                             then the AddressSanitizer+UBSan pass (`asan` tests)
#   deploy/test.sh --long     the same build, then the `long` tier
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

if [[ "$tier" == ci ]]; then
  # One build under AddressSanitizer and UndefinedBehaviorSanitizer, of the
  # modules without Asio or Beast, their unit tests and the simulator
  # (compile time matters).
  cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSYNOD_SANITIZE=ON -DSYNOD_PURE_ONLY=ON
  cmake --build build-asan -j"$jobs"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan -L '^asan$' -j"$jobs" --output-on-failure
fi
