#!/usr/bin/env bash
# User-space instructions and system calls per operation of mtls-proxy and of the minimal
# tokio-rustls + hyper server (examples/minimal_server.rs), for A/B comparisons that stay
# repeatable on a busy machine: instruction counts (callgrind) do not depend on what else runs,
# where CPU time does. Each server runs pinned to one CPU (one tokio worker, as in
# compare-nginx.sh); `mtls-proxy bench` drives it.
#
#   benches/instructions.sh                     # every case, both servers
#   CASES="full resumed" benches/instructions.sh
#   PROXY_BIN=/tmp/old-mtls-proxy benches/instructions.sh   # the same for another build
#
# Per case: a warm-up of WARMUP operations, counters zeroed (callgrind_control -z), OPS
# operations, counters dumped. System calls are counted in a second pass without valgrind
# (strace -c -f attached for the OPS operations). Callgrind runs the code as valgrind's CPU
# model supports it (no AVX-512, no SHA extensions), so crypto paths differ from native ones:
# compare builds and servers with it, and read absolute costs from compare-nginx.sh.
#
# Environment knobs (defaults in brackets):
#   CASES [full resumed keepalive full-logs plain]  SERVERS [proxy minimal]
#   OPS [200]  WARMUP [40]  CONCURRENCY [8]  REQS [50]  requests per keep-alive connection
#   SYSCALLS [1]  also count system calls            OUT [benches/results]  where the table goes
#   SKIP_BUILD [0]  PROXY_BIN [target/release/mtls-proxy]
#   MINIMAL_BIN [target/release/examples/minimal_server]  PORT_OFFSET [0]  KEEP_PROFILES [0]
set -euo pipefail

CASES=${CASES:-full resumed keepalive full-logs plain}
SERVERS=${SERVERS:-proxy minimal}
OPS=${OPS:-200}
WARMUP=${WARMUP:-40}
CONCURRENCY=${CONCURRENCY:-8}
REQS=${REQS:-50}
SYSCALLS=${SYSCALLS:-1}
SKIP_BUILD=${SKIP_BUILD:-0}
KEEP_PROFILES=${KEEP_PROFILES:-0}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/benches/results}
BIN=$ROOT/target/release/mtls-proxy
PROXY_BIN=${PROXY_BIN:-$BIN}
MINIMAL_BIN=${MINIMAL_BIN:-$ROOT/target/release/examples/minimal_server}
o=${PORT_OFFSET:-0}
PROXY_PORT=$((19643 + o)) ADMIN_PORT=$((19680 + o)) MINIMAL_PORT=$((19600 + o))
ORIGIN_PORT=$((19690 + o))
TOKEN=bench-token
WORK=$(mktemp -d /tmp/instructions.XXXXXX)

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
# shellcheck source=benches/lib.sh
. "$ROOT/benches/lib.sh"


if [[ $SKIP_BUILD != 1 ]]; then
  (cd "$ROOT" && cargo build --release --bin mtls-proxy --example minimal_server)
fi
for tool in valgrind callgrind_control jq curl openssl; do
  command -v "$tool" >/dev/null || { log "$tool is needed"; exit 1; }
done

# Certificates as compare-nginx.sh makes them: the dev PKI's client side, an ECDSA P-256
# server certificate signed directly by its own CA.
"$BIN" certs init --dir "$WORK/certs" >/dev/null
C=$WORK/certs
NAMES=(mtls.bench.test plain.bench.test ka.bench.test)
bench_server_pki "$C" "instructions server CA" "${NAMES[@]}"

# mtls-proxy's built-in echo origin answers the handshake cases; keep-alive requests
# (ka.bench.test) are forwarded to a real origin over pooled connections: the minimal server in
# plain HTTP/1.1 mode, on the load generator's CPU (its cost is not measured).
taskset -c 1 "$MINIMAL_BIN" --plain --listen "127.0.0.1:$ORIGIN_PORT" 2>"$WORK/origin.log" &
PIDS+=($!)
wait_port "$ORIGIN_PORT" 600
CLIENT=(--cert "$C/client.pem" --key "$C/client-key.pem")

start_proxy() { # LOG_LEVEL WRAPPER... ; sets SERVER_PID
  local level=$1; shift
  mkdir -p "$WORK/proxy"
  rm -f "$WORK/proxy/mtls-proxy.db"*
  cat >"$WORK/proxy/mtls-proxy.toml" <<EOF
[admin]
listen = "127.0.0.1:$ADMIN_PORT"
token = "$TOKEN"
[store]
path = "$WORK/proxy/mtls-proxy.db"
[proxy]
listen = "127.0.0.1:$PROXY_PORT"
default_origin = "echo"
[[routes]]
domain = "ka.bench.test"
origin = "http://127.0.0.1:$ORIGIN_PORT"
EOF
  MTLS_PROXY_LOG=$level taskset -c 0 "$@" "$PROXY_BIN" serve --config "$WORK/proxy/mtls-proxy.toml" \
    2>"$WORK/proxy/log" &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_port "$ADMIN_PORT" 600; wait_port "$PROXY_PORT" 600
  configure_proxy
}

api() {
  curl -sf -X "$1" "http://127.0.0.1:$ADMIN_PORT$2" -H "Fastly-Key: $TOKEN" \
    -H 'Content-Type: application/vnd.api+json' --data-binary "$3"
}
configure_proxy() {
  local cert ma
  api POST /tls/private_keys "$(jq -n --rawfile k "$C/bench-server-key.pem" \
    '{data:{type:"tls_private_key",attributes:{key:$k,name:"bench"}}}')" >/dev/null
  cert=$(api POST /tls/certificates "$(jq -n --rawfile c "$C/bench-server.pem" \
    '{data:{type:"tls_certificate",attributes:{cert_blob:$c,name:"bench"}}}')" | jq -r .data.id)
  ma=$(api POST /tls/mutual_authentications "$(jq -n --rawfile b "$C/client-ca.pem" \
    '{data:{type:"mutual_authentication",attributes:{cert_bundle:$b,enforced:true}}}')" | jq -r .data.id)
  for d in mtls.bench.test ka.bench.test plain.bench.test; do
    local m=$ma
    [[ $d == plain.bench.test ]] && m=
    api POST /tls/activations "$(jq -n --arg d "$d" --arg c "$cert" --arg m "$m" \
      '{data:{type:"tls_activation", relationships:({tls_certificate:{data:{type:"tls_certificate",id:$c}},
        tls_domain:{data:{type:"tls_domain",id:$d}}}
        + (if $m == "" then {} else {mutual_authentication:{data:{type:"mutual_authentication",id:$m}}} end))}}')" \
      >/dev/null
  done
}

start_minimal() { # CLIENT_AUTH(yes|no) WRAPPER... ; sets SERVER_PID
  local auth=$1; shift
  local ca=()
  [[ $auth == yes ]] && ca=(--client-ca "$C/client-ca.pem")
  taskset -c 0 "$@" "$MINIMAL_BIN" --listen "127.0.0.1:$MINIMAL_PORT" \
    --cert "$C/bench-server.pem" --key "$C/bench-server-key.pem" "${ca[@]}" 2>"$WORK/minimal.log" &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  wait_port "$MINIMAL_PORT" 600
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
}

# bench_args CASE SERVER → the load generator's arguments
bench_args() {
  local port sni=mtls.bench.test
  case $2 in proxy) port=$PROXY_PORT ;; minimal) port=$MINIMAL_PORT ;; esac
  local common=(--target "127.0.0.1:$port" --ca "$C/bench-ca.pem" --kx x25519
                --concurrency "$CONCURRENCY" --workers 1 --json)
  case $1 in
    full|full-logs) echo "${common[@]}" --sni "$sni" --mode request "${CLIENT[@]}" ;;
    resumed) echo "${common[@]}" --sni "$sni" --mode request --resume "${CLIENT[@]}" ;;
    keepalive) echo "${common[@]}" --sni ka.bench.test --mode keepalive --requests-per-conn "$REQS" \
                 "${CLIENT[@]}" ;;
    plain) echo "${common[@]}" --sni plain.bench.test --mode request ;;
  esac
}

# How many bench connections make OPS operations.
conns_for() { # CASE N
  case $1 in keepalive) echo $(( ($2 + REQS - 1) / REQS )) ;; *) echo "$2" ;; esac
}

run_load() { # CASE SERVER N → completed operations (fails on any error)
  local json
  # shellcheck disable=SC2046
  json=$(taskset -c 1 "$BIN" bench $(bench_args "$1" "$2") --count "$(conns_for "$1" "$3")" \
           --timeout 120s)
  if [[ $(jq .errors.total <<<"$json") != 0 ]]; then
    log "errors in $1/$2: $(jq -c .errors <<<"$json")"; exit 1
  fi
  jq .completed <<<"$json"
}

start_server() { # CASE SERVER WRAPPER...
  local case=$1 server=$2; shift 2
  local level=warn auth=yes
  [[ $case == full-logs ]] && level=info
  [[ $case == plain ]] && auth=no
  case $server in
    proxy) start_proxy "$level" "$@" ;;
    minimal) start_minimal "$auth" "$@" ;;
  esac
}

measure_instructions() { # CASE SERVER → Ir per operation
  local case=$1 server=$2 out=$WORK/cg.out
  start_server "$case" "$server" valgrind --tool=callgrind --callgrind-out-file="$out.%p" \
    --dump-instr=no --collect-jumps=no
  run_load "$case" "$server" "$WARMUP" >/dev/null
  sleep 1
  callgrind_control -z "$SERVER_PID" >/dev/null
  local done
  done=$(run_load "$case" "$server" "$OPS")
  sleep 1
  callgrind_control -d "measured" "$SERVER_PID" >/dev/null
  sleep 1
  local dump
  dump=$(grep -l 'measured' "$out.$SERVER_PID".* 2>/dev/null | head -1)
  local ir
  ir=$(awk '/^(summary|totals):/{print $2; exit}' "$dump")
  if [[ $KEEP_PROFILES == 1 ]]; then
    cp "$dump" "$OUT/callgrind.$case-$server"
  fi
  stop_server
  awk -v ir="$ir" -v n="$done" 'BEGIN{ printf "%.0f", ir / n }'
}

measure_syscalls() { # CASE SERVER → system calls per operation, and the top ones
  local case=$1 server=$2
  start_server "$case" "$server"
  run_load "$case" "$server" "$WARMUP" >/dev/null
  strace -c -f -q -p "$SERVER_PID" -o "$WORK/strace.out" &
  local tracer=$!
  sleep 1
  local done
  done=$(run_load "$case" "$server" "$OPS")
  sleep 0.5
  kill -INT "$tracer"; wait "$tracer" 2>/dev/null || true
  stop_server
  awk -v n="$done" '
    $1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" { c[$NF] += $4; total += $4 }
    END {
      printf "%.2f", total / n;
      m = 0; for (k in c) { order[++m] = k }
      for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (c[order[j]] > c[order[i]]) { t = order[i]; order[i] = order[j]; order[j] = t }
      printf " (";
      for (i = 1; i <= m && i <= 8; i++) printf "%s%s %.2f", (i > 1 ? ", " : ""), order[i], c[order[i]] / n;
      printf ")";
    }' "$WORK/strace.out"
}

mkdir -p "$OUT"
STAMP=$(date -u +%Y-%m-%dT%H:%MZ)
ROWS=()
for case in $CASES; do
  for server in $SERVERS; do
    # The minimal server has no logs.
    [[ $server == minimal && $case == full-logs ]] && continue
    log "[$case] $server: instructions"
    ir=$(measure_instructions "$case" "$server")
    sc=n/a
    if [[ $SYSCALLS == 1 ]]; then
      log "[$case] $server: system calls"
      sc=$(measure_syscalls "$case" "$server")
    fi
    ROWS+=("| $case | $server | $ir | $sc |")
    log "  $ir instructions/op; system calls/op: $sc"
  done
done
{
  echo "## Instructions per operation, $STAMP"
  echo
  echo "$(nproc) CPUs, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo); valgrind" \
       "$(valgrind --version | sed 's/valgrind-//'); $OPS operations after $WARMUP," \
       "$CONCURRENCY connections in flight, keep-alive $REQS requests per connection."
  echo
  echo "| case | server | instructions/op (user space) | system calls/op (most frequent) |"
  echo "|---|---|---:|---|"
  printf '%s\n' "${ROWS[@]}"
} | tee "$OUT/instructions.md"
