#!/usr/bin/env bash
# Builds one libFuzzer target with Debian's clang-14 and runs it on its
# checked-in seed corpus.
#
#   test/fuzz/run_fuzzer.sh NAME SECONDS [BUILD_DIR]
#
# NAME is a target in this folder (fuzz_NAME.cpp, corpus/NAME/). BUILD_DIR
# (or $SYNOD_FUZZ_BUILD_DIR, else build-fuzz/NAME at the repository root)
# receives the binary, the working corpus (new inputs libFuzzer finds; the
# checked-in seeds are only read), crash artifacts and the log.
#
# Exits non-zero on any crash, leak, timeout or out-of-memory, on a run that
# executed nothing, and when clang++-14 is missing: nothing is skipped
# silently. Last line: "fuzz_NAME: N executions in S s, 0 crashes".
set -euo pipefail

usage() { echo "usage: run_fuzzer.sh NAME SECONDS [BUILD_DIR]" >&2; exit 2; }
[[ $# -ge 2 && $# -le 3 ]] || usage
name=$1
seconds=$2
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -ge 1 ]] || usage
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${3:-${SYNOD_FUZZ_BUILD_DIR:-$repo/build-fuzz/$name}}

# The pure sources each target needs (no Asio, no LMDB), and its input bound.
malloc_limit_mb=2048
case "$name" in
  peer_frame)
    sources=(paxos/types.cpp paxos/messages.cpp paxos/value_codec.cpp paxos/configuration.cpp paxos/config_history.cpp
             paxos/quorum.cpp base/crc32c.cpp transport/wire.cpp transport/peer_message.cpp)
    header_dirs=(paxos test/transport)
    max_len=4096
    ;;
  http_request)
    sources=(http/routes.cpp http/request.cpp http/decode_support.cpp http/decode_sessions.cpp http/decode_locks.cpp
             http/decode_elections.cpp http/decode_keys.cpp http/decode_txn.cpp http/decode_auth.cpp http/decode_cluster.cpp
             http/text/duration.cpp
             http/decode_members.cpp http/text/utf8.cpp http/text/base64.cpp http/text/percent.cpp
             lockservice/command.cpp lockservice/znode_command.cpp lockservice/auth.cpp)
    header_dirs=(http lockservice paxos)
    max_len=8192
    ;;
  auth)
    sources=(http/credentials.cpp http/routes.cpp http/request.cpp http/decode_support.cpp http/decode_sessions.cpp
             http/decode_locks.cpp http/decode_elections.cpp http/decode_keys.cpp http/decode_txn.cpp
             http/decode_auth.cpp http/decode_cluster.cpp http/text/duration.cpp http/text/utf8.cpp http/text/base64.cpp
             http/text/percent.cpp http/decode_members.cpp
             lockservice/command.cpp lockservice/znode_command.cpp lockservice/auth.cpp)
    header_dirs=(http lockservice paxos)
    max_len=4096
    ;;
  zookeeper)
    # The ZooKeeper client protocol (zookeeper/: framing, jute, records). A
    # decode allocates about its input's size, so no single allocation may
    # pass 32 MiB (the others keep libFuzzer's default, the RSS limit).
    sources=(zookeeper/frame.cpp zookeeper/jute.cpp zookeeper/records.cpp)
    header_dirs=(zookeeper base)
    max_len=4096
    malloc_limit_mb=32
    ;;
  *)
    echo "run_fuzzer.sh: unknown fuzz target '$name'" >&2
    exit 2
    ;;
esac

if ! command -v clang++-14 >/dev/null 2>&1; then
  echo "run_fuzzer.sh: clang++-14 is not installed, so fuzz_$name cannot run." >&2
  echo "  Install it with: deploy/install-deps.sh --test   (Debian packages clang-14 and libclang-rt-14-dev)" >&2
  exit 1
fi
seeds="$here/corpus/$name"
if [[ ! -d "$seeds" ]] || [[ -z "$(ls -A "$seeds")" ]]; then
  echo "run_fuzzer.sh: the seed corpus $seeds is missing or empty" >&2
  exit 1
fi

mkdir -p "$build/corpus" "$build/artifacts"
binary="$build/fuzz_$name"
inputs=("$here/fuzz_$name.cpp")
for source in "${sources[@]}"; do inputs+=("$repo/$source"); done

# Rebuild when the binary is missing or older than any source or header.
stale=0
[[ -x "$binary" ]] || stale=1
if [[ $stale -eq 0 ]]; then
  while IFS= read -r file; do
    if [[ "$file" -nt "$binary" ]]; then stale=1; break; fi
  done < <(printf '%s\n' "${inputs[@]}"; for dir in "${header_dirs[@]}"; do find "$repo/$dir" -name '*.h'; done)
fi
if [[ $stale -eq 1 ]]; then
  echo "run_fuzzer.sh: building fuzz_$name with clang++-14" >&2
  clang++-14 -std=c++20 -O1 -g -fno-omit-frame-pointer \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
    -I"$repo" -I"$repo/test" "${inputs[@]}" -o "$binary.tmp"
  mv "$binary.tmp" "$binary"
fi

log="$build/fuzz_$name.log"
set +e
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  "$binary" -max_total_time="$seconds" -max_len="$max_len" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb="$malloc_limit_mb" \
  -print_final_stats=1 -artifact_prefix="$build/artifacts/" "$build/corpus" "$seeds" >"$log" 2>&1
status=$?
set -e

executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
if [[ $status -ne 0 ]]; then
  tail -n 60 "$log" >&2
  echo "run_fuzzer.sh: fuzz_$name FAILED (exit $status); artifacts in $build/artifacts, log in $log" >&2
  exit 1
fi
if [[ -z "$executions" || "$executions" -eq 0 ]]; then
  tail -n 30 "$log" >&2
  echo "run_fuzzer.sh: fuzz_$name executed nothing; log in $log" >&2
  exit 1
fi
echo "fuzz_$name: $executions executions in $seconds s, 0 crashes"
