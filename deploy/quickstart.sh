#!/usr/bin/env bash
# Starts a local 3-node synod cluster on 127.0.0.1 and stays in the foreground.
#
#   deploy/quickstart.sh           reuse the data of an earlier run
#   deploy/quickstart.sh --fresh   wipe it first
#
# Clients: 127.0.0.1:7001, 7002, 7003. Peers: 127.0.0.1:7101-7103.
# Data and logs: .synod-quickstart/ (or $SYNOD_QUICKSTART_DIR).
# Ctrl-C or SIGTERM stops all three cleanly.
#
# On a fresh Debian 12 machine it first installs what is missing (the
# compiler included) and builds a release build; it rebuilds only when the
# binary is missing or older than the sources.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

fresh=0
for arg in "$@"; do
  case "$arg" in
    --fresh) fresh=1 ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) echo "quickstart: unknown argument $arg (try --help)" >&2; exit 2 ;;
  esac
done

build="$root/build-release"
binary="$build/server/synod"
if [[ ! -x "$binary" ]] || [[ -n "$(find paxos lockservice persistence http server CMakeLists.txt -newer "$binary" \( -name '*.cpp' -o -name '*.h' -o -name CMakeLists.txt \) -print -quit)" ]]; then
  deploy/install-deps.sh
  echo "quickstart: building (release) ..." >&2
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j2 --target synod synodctl >/dev/null
fi

data="${SYNOD_QUICKSTART_DIR:-$root/.synod-quickstart}"
if [[ $fresh -eq 1 ]]; then rm -rf "$data"; fi
mkdir -p "$data"

peers=1=127.0.0.1:7101,2=127.0.0.1:7102,3=127.0.0.1:7103
clients=1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003
pids=()
stop() {
  trap - INT TERM
  echo >&2
  echo "quickstart: stopping ..." >&2
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  exit 0
}
trap stop INT TERM

for id in 1 2 3; do
  "$binary" --id "$id" --peers "$peers" --clients "$clients" --data-dir "$data/node$id" \
    --log-format text 2>"$data/node$id.log" &
  pids+=($!)
done

# Wait for a leader (any node answers /v1/cluster with one).
leader=""
for _ in $(seq 1 100); do
  for id in 1 2 3; do
    if ! kill -0 "${pids[$((id - 1))]}" 2>/dev/null; then
      echo "quickstart: node $id exited; see $data/node$id.log" >&2
      tail -3 "$data/node$id.log" >&2
      stop
    fi
  done
  leader=$(curl -sf --max-time 1 http://127.0.0.1:7001/v1/cluster | sed -n 's/.*"leader":{"client_addr":"\([^"]*\)".*/\1/p' || true)
  [[ -n "$leader" ]] && break
  sleep 0.1
done

cat <<MSG
synod is running: 3 nodes on 127.0.0.1 (leader: ${leader:-none yet}).
  node 1: clients http://127.0.0.1:7001  peers 127.0.0.1:7101  log $data/node1.log
  node 2: clients http://127.0.0.1:7002  peers 127.0.0.1:7102  log $data/node2.log
  node 3: clients http://127.0.0.1:7003  peers 127.0.0.1:7103  log $data/node3.log
Try:
  curl -s http://127.0.0.1:7001/v1/cluster
  curl -s -X PUT --data hello http://${leader:-127.0.0.1:7001}/v1/kv/greeting
  curl -s http://${leader:-127.0.0.1:7001}/v1/kv/greeting
Ctrl-C stops the cluster; run this again to restart it with the same data (--fresh wipes it).
MSG
wait
