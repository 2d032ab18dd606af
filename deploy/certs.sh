#!/usr/bin/env bash
# Makes a development CA and the node and client certificates of one synod
# cluster, with the openssl command alone.
#
#   deploy/certs.sh --dir DIR --cluster-id HEX [--nodes N] [--client NAME]... [--days D]
#
#   --dir DIR          where the files go; made mode 0700 if missing
#   --cluster-id HEX   the cluster's id: 16 lower-case hex digits, as
#                      `synod --print-cluster-id ...` prints it
#   --nodes N          node certificates for ids 1..N (default 3)
#   --client NAME      a client certificate for NAME (repeatable); NAME is
#                      letters, digits, '.', '_' and '-'
#   --days D           validity of node and client certificates (default 825);
#                      the CA's is 3650 days
#
# Files: DIR/ca.pem, ca.key, node-ID.pem, node-ID.key, client-NAME.pem,
# client-NAME.key; keys are EC P-256, mode 0600. A node certificate names
# its member with the URI SAN synod://HEX/node/ID (what peers check in mutual
# TLS) and the host with IP:127.0.0.1 and DNS:localhost (what curl checks); a
# client certificate has CN NAME and the URI SAN synod://HEX/user/NAME.
#
# Running it again adds what is missing: an existing ca.pem and ca.key are
# reused, and an existing node or client certificate is kept while it
# verifies against ca.pem and names the same identity (remade otherwise: one
# signed by another CA, expired, or for another cluster id). It prints one
# line per file made, then checks every certificate with `openssl verify`.
# Exit codes: 0 ok, 1 an openssl step or a check failed, 2 bad usage.
set -euo pipefail

usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; }
die_usage() { echo "certs.sh: $1 (try --help)" >&2; exit 2; }
die() { echo "certs.sh: $1" >&2; exit 1; }

dir=""
cluster=""
nodes=3
days=825
clients=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dir|--cluster-id|--nodes|--client|--days)
      [[ $# -ge 2 ]] || die_usage "$1 needs a value"
      case "$1" in
        --dir) dir=$2 ;;
        --cluster-id) cluster=$2 ;;
        --nodes) nodes=$2 ;;
        --client) clients+=("$2") ;;
        --days) days=$2 ;;
      esac
      shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die_usage "unknown argument $1" ;;
  esac
done

[[ -n "$dir" ]] || die_usage "--dir DIR is required"
[[ -n "$cluster" ]] || die_usage "--cluster-id HEX is required"
[[ "$cluster" =~ ^[0-9a-f]{16}$ ]] ||
  die_usage "--cluster-id takes the cluster's id as exactly 16 lower-case hex digits (as synod --print-cluster-id prints it), not '$cluster'"
[[ "$nodes" =~ ^[0-9]+$ && ${#nodes} -le 4 ]] || die_usage "--nodes takes a number of nodes, not '$nodes'"
nodes=$((10#$nodes))
[[ "$days" =~ ^[1-9][0-9]{0,4}$ ]] || die_usage "--days takes a positive number of days, not '$days'"
for name in ${clients[@]+"${clients[@]}"}; do
  [[ "$name" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ ]] ||
    die_usage "--client takes a name of letters, digits, '.', '_' and '-' (at most 64), not '$name'"
done
command -v openssl >/dev/null || die "needs the openssl command (Debian: apt-get install openssl)"

umask 077
if [[ ! -d "$dir" ]]; then mkdir -p "$dir"; chmod 0700 "$dir"; fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/synod-certs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# openssl's own output is kept in $tmp/log and shown only when a step fails.
run() {
  if ! "$@" >"$tmp/log" 2>&1; then
    cat "$tmp/log" >&2
    die "failed: $*"
  fi
}

newkey() {  # newkey FILE
  run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
  chmod 0600 "$1"
}

# A config for `openssl req` that reads nothing else (the subject comes from -subj).
cat >"$tmp/req.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
EOF

# install SRC DST: moves a file made in $tmp into DIR and says so.
install_file() {
  mv -f "$1" "$2"
  echo "made $2"
}

ca_pem="$dir/ca.pem"
ca_key="$dir/ca.key"
if [[ -e "$ca_pem" || -e "$ca_key" ]]; then
  [[ -f "$ca_pem" ]] || die "$ca_key exists without $ca_pem; restore it, or remove $ca_key to make a new CA"
  [[ -f "$ca_key" ]] || die "$ca_pem exists without $ca_key; restore it, or remove $ca_pem to make a new CA"
  # The key must be the certificate's: every signature below uses both.
  if [[ "$(openssl x509 -in "$ca_pem" -noout -pubkey 2>/dev/null)" != "$(openssl pkey -in "$ca_key" -pubout 2>/dev/null)" ]]; then
    die "$ca_key is not the key of $ca_pem (or one of them is unreadable)"
  fi
else
  cat "$tmp/req.cnf" - >"$tmp/ca.cnf" <<'EOF'
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
  newkey "$tmp/ca.key"
  run openssl req -new -x509 -config "$tmp/ca.cnf" -key "$tmp/ca.key" -sha256 -days 3650 \
    -subj "/CN=synod development CA" -extensions ca_ext -out "$tmp/ca.pem"
  install_file "$tmp/ca.key" "$ca_key"
  chmod 0644 "$tmp/ca.pem"
  install_file "$tmp/ca.pem" "$ca_pem"
fi

# The subject alternative names a certificate has, one per line, in
# openssl's spelling (URI:..., IP Address:..., DNS:...).
sans() {
  openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null | tail -n +2 | sed 's/^ *//; s/, /\n/g'
}

# keep PEM KEY URI: whether an existing certificate may stay: it and its key
# exist, the key is its key, it verifies against ca.pem now (so it is neither
# another CA's nor expired), and it names URI. If not, `why` says why.
why=""
keep() {
  local pem=$1 key=$2 uri=$3
  why=""
  [[ -e "$pem" || -e "$key" ]] || return 1
  if [[ ! -f "$pem" || ! -f "$key" ]]; then why="only one of $pem and $key exists"; return 1; fi
  if [[ "$(openssl x509 -in "$pem" -noout -pubkey 2>/dev/null)" != "$(openssl pkey -in "$key" -pubout 2>/dev/null)" ]]; then
    why="$key is not the key of $pem"; return 1
  fi
  if ! openssl verify -CAfile "$ca_pem" "$pem" >"$tmp/log" 2>&1; then
    why="$pem does not verify against $ca_pem ($(grep -m1 -o 'error [0-9]* at [^:]*: .*' "$tmp/log" || echo "openssl verify failed"))"
    return 1
  fi
  if ! sans "$pem" | grep -qxF "URI:$uri"; then why="$pem does not name $uri"; return 1; fi
}

# issue BASE CN URI SAN EKU: DIR/BASE.pem and DIR/BASE.key, unless keep says
# the existing ones may stay.
issue() {
  local base=$1 cn=$2 uri=$3 san=$4 eku=$5
  local pem="$dir/$base.pem" key="$dir/$base.key"
  if keep "$pem" "$key" "$uri"; then return 0; fi
  if [[ -n "$why" ]]; then echo "certs.sh: $why; making it again" >&2; fi
  cat >"$tmp/$base.ext" <<EOF
[leaf]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = $eku
subjectAltName = $san
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF
  newkey "$tmp/$base.key"
  run openssl req -new -config "$tmp/req.cnf" -key "$tmp/$base.key" -subj "/CN=$cn" -out "$tmp/$base.csr"
  run openssl x509 -req -in "$tmp/$base.csr" -CA "$ca_pem" -CAkey "$ca_key" \
    -set_serial "0x$(openssl rand -hex 16)" -sha256 -days "$days" \
    -extfile "$tmp/$base.ext" -extensions leaf -out "$tmp/$base.pem"
  install_file "$tmp/$base.key" "$key"
  chmod 0644 "$tmp/$base.pem"
  install_file "$tmp/$base.pem" "$pem"
}

# check PEM PURPOSE: openssl verify against ca.pem, strictly, for PURPOSE.
check() {
  if ! openssl verify -x509_strict -purpose "$2" -CAfile "$ca_pem" "$1" >"$tmp/log" 2>&1; then
    cat "$tmp/log" >&2
    die "$1 does not verify against $ca_pem"
  fi
}

for ((id = 1; id <= nodes; id++)); do
  uri="synod://$cluster/node/$id"
  issue "node-$id" "synod-node-$id" "$uri" "URI:$uri, IP:127.0.0.1, DNS:localhost" "serverAuth, clientAuth"
done
for name in ${clients[@]+"${clients[@]}"}; do
  uri="synod://$cluster/user/$name"
  issue "client-$name" "$name" "$uri" "URI:$uri" "clientAuth"
done

check "$ca_pem" any
for ((id = 1; id <= nodes; id++)); do
  check "$dir/node-$id.pem" sslserver
  check "$dir/node-$id.pem" sslclient
done
for name in ${clients[@]+"${clients[@]}"}; do check "$dir/client-$name.pem" sslclient; done
