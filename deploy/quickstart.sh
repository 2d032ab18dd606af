#!/usr/bin/env bash
# Starts a local 3-node synod cluster on 127.0.0.1 and stays in the foreground.
#
#   deploy/quickstart.sh             reuse the data of an earlier run
#   deploy/quickstart.sh --fresh     wipe it first (refused while the cluster runs)
#   deploy/quickstart.sh --tls       HTTPS for clients, mutual TLS between peers, auth on
#   deploy/quickstart.sh --nodes 5   five members instead of three (a new cluster's data:
#                                    with --fresh if the data is a 3-node cluster's)
#   deploy/quickstart.sh --restart N in another shell: stop node N and start it again
#                                    (with TLS if the cluster runs with it)
#
# Clients: 127.0.0.1:7001, 7002, 7003 (7004, 7005). Peers: 127.0.0.1:7101-7103 (7104-7105).
# ZooKeeper's protocol: 127.0.0.1:7201-7203 (7204-7205).
# Data, logs (appended, never overwritten) and pid files: .synod-quickstart/
# (or $SYNOD_QUICKSTART_DIR), with its lock file beside it (.synod-quickstart.lock).
# With --tls, deploy/certs.sh first makes what is missing of a development CA,
# the nodes' certificates and a client certificate "admin" in the data's certs/,
# and auth is turned on with a token for "app" in app-token (root's: root-token).
# Ctrl-C or SIGTERM stops them all cleanly.
#
# On a fresh Debian 12 machine it first installs what is missing (the
# compiler and curl included) and builds synod and synodctl in build/, the
# folder and build type the README's test command uses too; it rebuilds only
# when a binary is missing or older than the sources.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

fresh=0
tls=0
restart=""
nodes=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --fresh) fresh=1; shift ;;
    --tls) tls=1; shift ;;
    --nodes)
      [[ "${2:-}" =~ ^[35]$ ]] || { echo "quickstart: --nodes takes 3 or 5" >&2; exit 2; }
      nodes=$2; shift 2 ;;
    --restart)
      [[ "${2:-}" =~ ^[1-5]$ ]] || { echo "quickstart: --restart takes a node id, 1 to 5" >&2; exit 2; }
      restart=$2; shift 2 ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "quickstart: unknown argument $1 (try --help)" >&2; exit 2 ;;
  esac
done

data="${SYNOD_QUICKSTART_DIR:-$root/.synod-quickstart}"
build="$root/build"
binary="$build/server/synod"
synodctl="$build/cli/synodctl"
# How many members the data's cluster has: a cluster's members are fixed by
# its first start (its id is derived from them), so the count is kept with
# the data and a run with another --nodes is refused unless --fresh.
nodesfile="$data/quickstart-nodes"
kept_nodes=$(cat "$nodesfile" 2>/dev/null || true)
if [[ -n "$restart" ]]; then
  nodes=${kept_nodes:-3}
elif [[ $fresh -eq 0 && -n "$kept_nodes" && -n "$nodes" && "$nodes" != "$kept_nodes" ]]; then
  echo "quickstart: the data on $data is a $kept_nodes-node cluster's: run with --nodes $kept_nodes, or add --fresh to wipe it" >&2
  exit 2
fi
[[ $fresh -eq 1 ]] || nodes=${nodes:-${kept_nodes:-3}}
nodes=${nodes:-3}
ids=$(seq 1 "$nodes")
peers=$(for id in $ids; do printf '%s=127.0.0.1:%s,' "$id" $((7100 + id)); done)
peers=${peers%,}
clients=$(for id in $ids; do printf '%s=127.0.0.1:%s,' "$id" $((7000 + id)); done)
clients=${clients%,}
# With --tls: the certificates (deploy/certs.sh), and a file that says the
# cluster runs with TLS, so that --restart starts a node the same way.
certs="$data/certs"
tlsfile="$data/quickstart-tls"

# The running quickstart holds an flock on $lockfile (beside the data, so
# --fresh cannot delete it) from before it installs or builds anything until
# it exits (the kernel drops it if the script dies), and every node holds one
# on its data directory's LOCK file. Either one held means a cluster is
# running, or being started, on this data: nothing may be wiped or started
# over it.
lockfile="${data%/}.lock"
nodes_running() {
  local file
  for file in "$data"/node[1-5]/LOCK; do
    [[ -e "$file" ]] || continue
    if ! flock -n "$file" true 2>/dev/null; then return 0; fi
  done
  return 1
}
quickstart_running() { [[ -e "$lockfile" ]] && ! flock -n "$lockfile" true 2>/dev/null; }

start_node() {  # start_node ID: in the background, appending to its log
  local id=$1 tls_flags=()
  if [[ $tls -eq 1 ]]; then
    tls_flags=(--tls-cert "$certs/node-$id.pem" --tls-key "$certs/node-$id.key" --tls-ca "$certs/ca.pem"
      --bootstrap-token-file "$data/root-token")
  fi
  echo "=== $(date -u +%FT%TZ) quickstart starts node $id" >>"$data/node$id.log"
  "$binary" --id "$id" --peers "$peers" --clients "$clients" --data-dir "$data/node$id" \
    --zookeeper-addr "127.0.0.1:$((7200 + id))" --log-format text "${tls_flags[@]}" </dev/null >/dev/null 2>>"$data/node$id.log" 9>&- &
  echo $! >"$data/node$id.pid"
}

if [[ -n "$restart" ]]; then
  quickstart_running || { echo "quickstart: no quickstart cluster is running on $data" >&2; exit 1; }
  [[ $restart -le $nodes ]] || { echo "quickstart: the cluster on $data has $nodes nodes, not node $restart" >&2; exit 2; }
  # The node restarts in the cluster's mode, whatever this command says.
  if [[ -e "$tlsfile" ]]; then
    tls=1
  elif [[ $tls -eq 1 ]]; then
    echo "quickstart: the cluster on $data runs without TLS; --restart starts node $restart the same way (drop --tls)" >&2
    exit 2
  fi
  pid=$(cat "$data/node$restart.pid" 2>/dev/null || true)
  # Only a live node of this cluster: a pid file can outlive its process.
  if [[ -n "$pid" ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--data-dir $data/node$restart "; then
    echo "quickstart: stopping node $restart (pid $pid) ..." >&2
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  # The restarted node is not this shell's child; the foreground quickstart
  # stops it on Ctrl-C through its pid file.
  start_node "$restart"
  disown
  echo "quickstart: node $restart runs again as pid $(cat "$data/node$restart.pid"); log $data/node$restart.log" >&2
  exit 0
fi

# Refuse before installing or building anything: a second quickstart would
# fail on the ports, and --fresh would delete the data under live nodes.
exec 9>"$lockfile"
if ! flock -n 9 || nodes_running; then
  echo "quickstart: a cluster is already running (or starting) on $data; stop it first (Ctrl-C in its shell)" >&2
  exit 1
fi

# The stamp is touched after every successful build, so a source change that
# make found no reason to relink for does not send us back to apt and cmake.
stamp="$build/.quickstart-built"
stale() {
  [[ ! -x "$binary" || ! -x "$synodctl" || ! -e "$stamp" ]] && return 0
  [[ -n "$(find base paxos persistence lockservice transport http server cli CMakeLists.txt \
      \( -name '*.cpp' -o -name '*.h' -o -name CMakeLists.txt \) -newer "$stamp" -print -quit)" ]]
}
if stale; then
  deploy/install-deps.sh
  echo "quickstart: building synod and synodctl in build/ (a few minutes the first time) ..." >&2
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  touch "$stamp.new"  # before the build: a source saved during it counts as not built
  # make's own "[ NN%]" lines are the progress; the whole output goes to a log.
  status=0
  cmake --build "$build" -j2 --target synod synodctl 2>&1 | tee "$build/quickstart-build.log" |
    grep --line-buffered -E '^\[ *[0-9]+%\] (Building|Linking)' >&2 || status=${PIPESTATUS[0]}
  if [[ $status -ne 0 ]]; then
    tail -30 "$build/quickstart-build.log" >&2
    echo "quickstart: the build failed; the whole output is in $build/quickstart-build.log" >&2
    exit 1
  fi
  mv "$stamp.new" "$stamp"
fi

if [[ $fresh -eq 1 ]]; then rm -rf "$data"; fi
mkdir -p "$data"
echo "$nodes" >"$nodesfile"

if [[ $tls -eq 1 ]]; then
  # The certificates name the members by the cluster's id, which synod
  # derives from the flags node 1 gets (or reads from its data directory).
  cluster_id=$("$binary" --print-cluster-id --id 1 --peers "$peers" --clients "$clients" --data-dir "$data/node1") ||
    { echo "quickstart: $binary --print-cluster-id failed" >&2; exit 1; }
  [[ "$cluster_id" =~ ^[0-9a-f]{16}$ ]] ||
    { echo "quickstart: $binary --print-cluster-id printed '$cluster_id', not 16 hex digits" >&2; exit 1; }
  # Makes only what is missing (or no longer verifies); prints one line per file made.
  deploy/certs.sh --dir "$certs" --cluster-id "$cluster_id" --nodes "$nodes" --client admin >&2
  # Every node gets the same bootstrap token, so root's token is known
  # whichever node leads first (server/bootstrap_token.h).
  if [[ ! -s "$data/root-token" ]]; then
    (umask 077; printf 'synod_%s\n' "$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')" >"$data/root-token")
  fi
  touch "$tlsfile"
  web=https
  curl_tls=(--cacert "$certs/ca.pem")
else
  rm -f "$tlsfile"
  web=http
  curl_tls=()
fi

stop() {  # stop STATUS
  trap - INT TERM
  echo >&2
  echo "quickstart: stopping ..." >&2
  local pids=() id
  for id in $ids; do [[ -f "$data/node$id.pid" ]] && pids+=("$(cat "$data/node$id.pid")"); done
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done; done
  rm -f "$data"/node[1-5].pid
  exit "$1"
}
trap 'stop 0' INT TERM

for id in $ids; do start_node "$id"; done

# Wait for a leader (any node answers /v1/cluster with one). A node that
# exits now (a port in use, a bad data directory) fails the quickstart.
leader=""
for _ in $(seq 1 100); do
  for id in $ids; do
    if ! kill -0 "$(cat "$data/node$id.pid")" 2>/dev/null; then
      echo "quickstart: node $id exited; the end of $data/node$id.log:" >&2
      tail -3 "$data/node$id.log" >&2
      stop 1
    fi
  done
  leader=$(curl -sf --max-time 1 "${curl_tls[@]}" "$web://127.0.0.1:7001/v1/cluster" | sed -n 's/.*"leader":{"client_addr":"\([^"]*\)".*/\1/p' || true)
  [[ -n "$leader" ]] && break
  sleep 0.1
done

# With --tls, auth is on too: at the first start root makes a token for the
# principal "app" (write on every lock, key, election and its own sessions),
# kept in $data/app-token, and turns auth on. Later starts find it done.
if [[ $tls -eq 1 && -n "$leader" && ! -s "$data/app-token" ]]; then
  root=(-H "Authorization: Bearer $(cat "$data/root-token")")
  as_root() {  # as_root METHOD PATH [BODY]: to the leader, retried while it settles
    local answer
    for _ in $(seq 1 50); do
      if answer=$(curl -sf --max-time 2 "${curl_tls[@]}" "${root[@]}" -X "$1" "https://$leader$2" ${3:+-d "$3"}); then
        printf '%s' "$answer"
        return 0
      fi
      sleep 0.2
    done
    echo "quickstart: $1 $2 failed; auth is not set up" >&2
    stop 1
  }
  app=$(as_root POST /v1/auth/tokens '{"principal":"app"}' | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
  for space in locks keys elections sessions; do
    as_root POST /v1/auth/rules "{\"subject\":\"user:app\",\"space\":\"$space\",\"prefix\":\"\",\"permission\":\"write\"}" >/dev/null
  done
  as_root POST /v1/auth/enable >/dev/null
  (umask 077; printf '%s\n' "$app" >"$data/app-token")
fi

running="synod is running"
curl="curl -s"
synodctl_hint="build/cli/synodctl help            (or: cmake --install build, then synodctl help)"
if [[ $tls -eq 1 ]]; then
  running="synod is running with TLS and auth (certificates in $certs, tokens in $data/app-token and root-token)"
  curl="curl -s --cacert $certs/ca.pem -H \"Authorization: Bearer \$(cat $data/app-token)\""
  synodctl_hint="build/cli/synodctl --cacert $certs/ca.pem --token \$(cat $data/app-token) cluster status"
fi
echo "$running: $nodes nodes on 127.0.0.1 (leader: ${leader:-none yet})."
for id in $ids; do
  echo "  node $id: pid $(cat "$data/node$id.pid")  clients $web://127.0.0.1:$((7000 + id))  peers 127.0.0.1:$((7100 + id))  log $data/node$id.log"
done
# ZooKeeper's protocol (docs/zookeeper.md), one line per node as DESIGN §7 pins it.
for id in $ids; do echo "zookeeper 127.0.0.1:$((7200 + id))"; done
cat <<MSG
Try:
  $curl $web://127.0.0.1:7001/v1/cluster
  $curl -X PUT --data hello $web://127.0.0.1:7001/v1/kv/greeting
  $curl $web://127.0.0.1:7002/v1/kv/greeting
  $synodctl_hint
Restart one node: deploy/quickstart.sh --restart 2 (in another shell).
Ctrl-C stops the cluster; run this again to restart it with the same data (--fresh wipes it).
MSG
# wait returns when a signal arrives (the trap then stops the nodes) or when
# every child has exited.
while true; do
  wait || true
  alive=0
  for id in $ids; do
    pid=$(cat "$data/node$id.pid" 2>/dev/null || true)
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && alive=1
  done
  [[ $alive -eq 1 ]] || { echo "quickstart: every node has exited" >&2; stop 1; }
  sleep 1
done
