#!/usr/bin/env bash
# Side-by-side comparison of mtls-proxy, a minimal tokio-rustls + hyper server (the control case:
# examples/minimal_server.rs, one session ticket, nothing but TLS and HTTP) and nginx (session
# tickets off and no session cache, its cheapest full handshake; and its default tickets on),
# measured the same way by `mtls-proxy bench`: server CPU time per operation, read from
# /proc/<pid>/stat, with every server pinned to the same CPU and the load generator (and the
# shared origin) pinned to another; all use the same certificates. See docs/benchmarking.md for
# the method, the fairness notes and the results.
#
#   benches/compare-nginx.sh            # one round, ~5 minutes of measurement after the build
#   ROUNDS=3 DURATION=8s benches/compare-nginx.sh   # medians of three rounds
#
# Environment knobs (defaults in brackets):
#   ROUNDS [1]  rounds of every case; the tables give each figure's median over the rounds and
#               the ratios of every round (each measured minutes apart at most)
#   DURATION [10s]  measured run per case and server    WARMUP [2s]  unmeasured run before it
#   CONCURRENCY [32]  connections in flight              REQS [100]  requests per keep-alive conn
#   SERVER_CPU [0]  CLIENT_CPU [1]  CPUs to pin to       OUT [benches/results]  JSON, SVG, table
#   MAX_LOAD [0.7]  wait (up to 20 min) until the 1-minute load is below this before starting
#   MAX_BUSY [15]   before each case, wait while other processes keep the CPUs busier than this %
#   SKIP_BUILD [0]  use the existing target/release/mtls-proxy and examples/minimal_server
#   SETUP_ONLY [0]  start the servers and the origin, print how to reach them, wait for Ctrl-C
#                   (for profiling one server by hand, e.g. with perf record -p PID)
#   PROXY_BIN [target/release/mtls-proxy]  the mtls-proxy binary serving (A/B of two builds)
#   PORT_OFFSET [0]  added to every port, so that two setups can run side by side
set -euo pipefail

ROUNDS=${ROUNDS:-1}
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONCURRENCY=${CONCURRENCY:-32}
REQS=${REQS:-100}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
MAX_LOAD=${MAX_LOAD:-0.7}
MAX_BUSY=${MAX_BUSY:-15}
SKIP_BUILD=${SKIP_BUILD:-0}
SETUP_ONLY=${SETUP_ONLY:-0}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$ROOT/benches/results}
BIN=$ROOT/target/release/mtls-proxy
MINIMAL_BIN=$ROOT/target/release/examples/minimal_server
PROXY_BIN=${PROXY_BIN:-$BIN}
PORT_OFFSET=${PORT_OFFSET:-0}
WORK=$(mktemp -d /tmp/compare-nginx.XXXXXX)
TOKEN=bench-token
HZ=$(getconf CLK_TCK)

# Ports: mtls-proxy listens once and picks the policy by SNI (its design); nginx gets one port
# per policy so that no nginx SNI subtlety decides which ssl_verify_client applies.
o=$PORT_OFFSET
PROXY_PORT=$((19443 + o)) ADMIN_PORT=$((19080 + o)) PROXY_LOG_PORT=$((19444 + o))
ADMIN_LOG_PORT=$((19081 + o)) ORIGIN_PORT=$((19900 + o))
NGX_MTLS=$((19501 + o)) NGX_PLAIN=$((19502 + o)) NGX_OPEN=$((19503 + o)) NGX_KA=$((19504 + o))
NGX_KA_HDRS=$((19505 + o)) NGX_MTLS_LOG=$((19506 + o))
NGX_OFF=$((19507 + o)) NGX_OFF_LOG=$((19508 + o)) NGX_PLAIN_OFF=$((19509 + o))
NGX_OPEN_OFF=$((19510 + o)) MIN_MTLS=$((19600 + o)) MIN_PLAIN=$((19601 + o))

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# shellcheck source=benches/lib.sh
. "$ROOT/benches/lib.sh"

load1() { cut -d' ' -f1 /proc/loadavg; }

# CPU busy % of the whole machine over 2 s, from /proc/stat (everything but idle and iowait).
busy_pct() {
  local a b
  a=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat)
  sleep 2
  b=$(awk '/^cpu /{print $2+$3+$4+$7+$8+$9, $5+$6}' /proc/stat)
  awk -v a="$a" -v b="$b" 'BEGIN{split(a,x," ");split(b,y," ");
    busy=y[1]-x[1]; idle=y[2]-x[2]; if (busy+idle==0) print 0; else printf "%.0f", 100*busy/(busy+idle)}'
}

wait_for_quiet_load() {
  local waited=0
  while awk -v l="$(load1)" -v m="$MAX_LOAD" 'BEGIN{exit !(l>m)}'; do
    if (( waited >= 1200 )); then log "load still $(load1) after 20 min; measuring anyway"; return; fi
    log "1-minute load $(load1) > $MAX_LOAD; waiting 60 s"; sleep 60; waited=$((waited + 60))
  done
}

wait_for_idle_cpus() {
  local waited=0 busy
  busy=$(busy_pct)
  while (( busy > MAX_BUSY )); do
    if (( waited >= 1200 )); then log "CPUs still ${busy}% busy after 20 min; measuring anyway"; break; fi
    log "other processes keep the CPUs ${busy}% busy; waiting 30 s"; sleep 30; waited=$((waited + 30))
    busy=$(busy_pct)
  done
  echo "$busy"
}

# utime+stime of processes, in clock ticks.
cpu_ticks() {
  local total=0 pid t
  for pid in "$@"; do
    t=$(awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$pid/stat")
    total=$((total + t))
  done
  echo "$total"
}


# ---------------------------------------------------------------- build, nginx, certificates
if [[ $SKIP_BUILD != 1 ]]; then
  (cd "$ROOT" && cargo build --release --bin mtls-proxy --example minimal_server)
fi
if ! command -v nginx >/dev/null && [[ -x /usr/sbin/nginx ]]; then PATH=$PATH:/usr/sbin; fi
if ! command -v nginx >/dev/null; then
  log "installing nginx from Debian"
  apt-get install -y nginx >/dev/null || { apt-get update >/dev/null && apt-get install -y nginx >/dev/null; }
fi
NGINX=$(command -v nginx)
mkdir -p "$OUT" "$WORK/ngx-server/logs" "$WORK/ngx-origin/logs" "$WORK/store"
"$BIN" certs init --dir "$WORK/certs" >/dev/null
C=$WORK/certs
# Client side from the dev PKI: client CA (the mutual authentication's bundle, nginx's
# ssl_client_certificate) and the valid client certificate. The dev server certificate names
# localhost, open.localhost and *.localhost, and webpki rightly refuses a wildcard directly
# under a one-label name, so the server certificate both servers use is made here: ECDSA P-256,
# signed directly by its CA like the dev one, naming one host per policy.
NAMES=(mtls.bench.test plain.bench.test open.bench.test ka.bench.test)
bench_server_pki "$C" "compare-nginx server CA" "${NAMES[@]}"

# ---------------------------------------------------------------- origin (shared by both)
# A separate nginx answering `return 200`, pinned with the load generator so that its CPU is
# charged to neither server. Both servers reach it over loopback with pooled connections.
cat >"$WORK/ngx-origin/nginx.conf" <<EOF
worker_processes 1;
pid $WORK/ngx-origin/nginx.pid;
error_log $WORK/ngx-origin/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$ORIGIN_PORT; location / { return 200 "ok\n"; } }
}
EOF
taskset -c "$CLIENT_CPU" "$NGINX" -p "$WORK/ngx-origin" -c "$WORK/ngx-origin/nginx.conf" -g 'daemon off;' &
PIDS+=($!)

# ---------------------------------------------------------------- nginx under test
# One worker, X25519 only (OpenSSL 3.0 has no ML-KEM), TLS 1.3 (+1.2 as mtls-proxy), no access
# log. Two flavours of each case: nginx's default session tickets (stateless like rustls's
# ticketer; OpenSSL 3.0 issues two per TLS 1.3 handshake), and "tickets off" (no tickets, no
# session cache: nginx's cheapest full handshake, the fair baseline for full handshakes).
cat >"$WORK/ngx-server/nginx.conf" <<EOF
worker_processes 1;
pid $WORK/ngx-server/nginx.pid;
error_log $WORK/ngx-server/logs/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  keepalive_requests 1000000;
  ssl_certificate $C/bench-server.pem;
  ssl_certificate_key $C/bench-server-key.pem;
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_ecdh_curve X25519;
  ssl_client_certificate $C/client-ca.pem;
  upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive 64; }
  server { listen 127.0.0.1:$NGX_MTLS ssl; ssl_verify_client on;
           location / { return 200 "ok\n"; } }
  # The same with nginx's default access log (combined format, one write per request).
  server { listen 127.0.0.1:$NGX_MTLS_LOG ssl; ssl_verify_client on;
           access_log $WORK/ngx-server/logs/access.log;
           location / { return 200 "ok\n"; } }
  server { listen 127.0.0.1:$NGX_PLAIN ssl;
           location / { return 200 "ok\n"; } }
  server { listen 127.0.0.1:$NGX_OPEN ssl; ssl_verify_client optional;
           location / { return 200 "ok\n"; } }
  # Tickets off, no session cache.
  server { listen 127.0.0.1:$NGX_OFF ssl; ssl_verify_client on;
           ssl_session_tickets off; ssl_session_cache off;
           location / { return 200 "ok\n"; } }
  server { listen 127.0.0.1:$NGX_OFF_LOG ssl; ssl_verify_client on;
           ssl_session_tickets off; ssl_session_cache off;
           access_log $WORK/ngx-server/logs/access-off.log;
           location / { return 200 "ok\n"; } }
  server { listen 127.0.0.1:$NGX_PLAIN_OFF ssl;
           ssl_session_tickets off; ssl_session_cache off;
           location / { return 200 "ok\n"; } }
  server { listen 127.0.0.1:$NGX_OPEN_OFF ssl; ssl_verify_client optional;
           ssl_session_tickets off; ssl_session_cache off;
           location / { return 200 "ok\n"; } }
  server { listen 127.0.0.1:$NGX_KA ssl; ssl_verify_client on;
           location / { proxy_pass http://origin; proxy_http_version 1.1;
                        proxy_set_header Connection ""; } }
  # The same, also telling the origin about the client certificate as mtls-proxy does.
  server { listen 127.0.0.1:$NGX_KA_HDRS ssl; ssl_verify_client on;
           location / { proxy_pass http://origin; proxy_http_version 1.1;
                        proxy_set_header Connection "";
                        proxy_set_header Client-Cert-Verdict \$ssl_client_verify;
                        proxy_set_header Client-Cert-Subject \$ssl_client_s_dn;
                        proxy_set_header Client-Cert-Issuer \$ssl_client_i_dn;
                        proxy_set_header Client-Cert-Serial \$ssl_client_serial;
                        proxy_set_header Client-Cert-Not-Before \$ssl_client_v_start;
                        proxy_set_header Client-Cert-Not-After \$ssl_client_v_end;
                        proxy_set_header Client-Cert-Fingerprint \$ssl_client_fingerprint;
                        proxy_set_header Client-Cert \$ssl_client_escaped_cert; } }
}
EOF
taskset -c "$SERVER_CPU" "$NGINX" -p "$WORK/ngx-server" -c "$WORK/ngx-server/nginx.conf" -g 'daemon off;' &
NGX_MASTER=$!
PIDS+=($NGX_MASTER)

# ---------------------------------------------------------------- mtls-proxy under test
# Two instances with the same resources: the measured one logs warnings only (nginx runs with
# access_log off), the other keeps the default `info` level, i.e. one connection line and one
# request line per connection, for the "logs on" case. Metrics are always on.
start_proxy() { # NAME PROXY_PORT ADMIN_PORT LOG_LEVEL; sets PROXY_STARTED to the pid
  mkdir -p "$WORK/$1"
  cat >"$WORK/$1/mtls-proxy.toml" <<EOF
[admin]
listen = "127.0.0.1:$3"
token = "$TOKEN"
[store]
path = "$WORK/$1/mtls-proxy.db"
[proxy]
listen = "127.0.0.1:$2"
default_origin = "echo"
[[routes]]
domain = "ka.bench.test"
origin = "http://127.0.0.1:$ORIGIN_PORT"
EOF
  MTLS_PROXY_LOG=$4 taskset -c "$SERVER_CPU" "$PROXY_BIN" serve --config "$WORK/$1/mtls-proxy.toml" \
    2>"$WORK/$1/log" &
  PROXY_STARTED=$!
  PIDS+=($PROXY_STARTED)
}
start_proxy proxy "$PROXY_PORT" "$ADMIN_PORT" warn
PROXY_PID=$PROXY_STARTED
start_proxy proxy-logs "$PROXY_LOG_PORT" "$ADMIN_LOG_PORT" info
PROXY_LOG_PID=$PROXY_STARTED

# ---------------------------------------------------------------- the control case
# The same certificates; one TLS 1.3 ticket per full handshake; client certificates verified
# against the same CA (MIN_MTLS) or not asked for (MIN_PLAIN).
start_minimal() { # PORT ARGS...; sets MINIMAL_STARTED
  local port=$1; shift
  taskset -c "$SERVER_CPU" "$MINIMAL_BIN" --listen "127.0.0.1:$port" \
    --cert "$C/bench-server.pem" --key "$C/bench-server-key.pem" "$@" 2>>"$WORK/minimal.log" &
  MINIMAL_STARTED=$!
  PIDS+=($MINIMAL_STARTED)
}
start_minimal "$MIN_MTLS" --client-ca "$C/client-ca.pem"
MIN_MTLS_PID=$MINIMAL_STARTED
start_minimal "$MIN_PLAIN"
MIN_PLAIN_PID=$MINIMAL_STARTED

wait_port "$ORIGIN_PORT"; wait_port "$NGX_MTLS"; wait_port "$MIN_MTLS"; wait_port "$MIN_PLAIN"
wait_port "$ADMIN_PORT"; wait_port "$PROXY_PORT"; wait_port "$ADMIN_LOG_PORT"; wait_port "$PROXY_LOG_PORT"
NGX_PIDS=("$NGX_MASTER" $(pgrep -P "$NGX_MASTER"))

api() { # ADMIN_PORT METHOD PATH JSON → response body; fails on a non-2xx answer
  curl -sf -X "$2" "http://127.0.0.1:$1$3" -H "Fastly-Key: $TOKEN" \
    -H 'Content-Type: application/vnd.api+json' --data-binary "$4"
}
configure() { # ADMIN_PORT: key, certificate, two mutual authentications, four activations
  local port=$1 cert ma_enforced ma_open
  api "$port" POST /tls/private_keys "$(jq -n --rawfile k "$C/bench-server-key.pem" \
    '{data:{type:"tls_private_key",attributes:{key:$k,name:"bench"}}}')" >/dev/null
  cert=$(api "$port" POST /tls/certificates "$(jq -n --rawfile c "$C/bench-server.pem" \
    '{data:{type:"tls_certificate",attributes:{cert_blob:$c,name:"bench"}}}')" | jq -r .data.id)
  ma() {
    api "$port" POST /tls/mutual_authentications "$(jq -n --rawfile b "$C/client-ca.pem" \
      --argjson e "$1" '{data:{type:"mutual_authentication",attributes:{cert_bundle:$b,enforced:$e}}}')" \
      | jq -r .data.id
  }
  ma_enforced=$(ma true)
  ma_open=$(ma false)
  activate() { # DOMAIN [MA_ID]
    api "$port" POST /tls/activations "$(jq -n --arg d "$1" --arg c "$cert" --arg m "${2:-}" \
      '{data:{type:"tls_activation", relationships:({tls_certificate:{data:{type:"tls_certificate",id:$c}},
        tls_domain:{data:{type:"tls_domain",id:$d}}}
        + (if $m == "" then {} else {mutual_authentication:{data:{type:"mutual_authentication",id:$m}}} end))}}')" \
      >/dev/null
  }
  activate mtls.bench.test "$ma_enforced"
  activate plain.bench.test
  activate open.bench.test "$ma_open"
  activate ka.bench.test "$ma_enforced"
}
configure "$ADMIN_PORT"
configure "$ADMIN_LOG_PORT"
sleep 0.5

if [[ $SETUP_ONLY == 1 ]]; then
  cp "$C"/bench-ca.pem "$C"/client.pem "$C"/client-key.pem "$OUT"/
  log "mtls-proxy pid $PROXY_PID on 127.0.0.1:$PROXY_PORT (SNI mtls/plain/open/ka.bench.test);" \
      "with info logs: pid $PROXY_LOG_PID on $PROXY_LOG_PORT"
  log "nginx pids ${NGX_PIDS[*]} on $NGX_MTLS (mTLS) $NGX_PLAIN (plain) $NGX_OPEN (optional)" \
      "$NGX_KA (keep-alive) $NGX_KA_HDRS (keep-alive + headers) $NGX_MTLS_LOG (mTLS, access log);" \
      "tickets off: $NGX_OFF (mTLS) $NGX_OFF_LOG (mTLS, access log) $NGX_PLAIN_OFF (plain)" \
      "$NGX_OPEN_OFF (optional); CA and client cert copied to $OUT"
  log "minimal server pid $MIN_MTLS_PID on $MIN_MTLS (mTLS), pid $MIN_PLAIN_PID on $MIN_PLAIN (plain)"
  log "waiting; Ctrl-C to stop"
  sleep infinity
fi

# ---------------------------------------------------------------- measuring
STAMP=$(date -u +%Y-%m-%dT%H:%MZ)
TABLE=$OUT/compare-nginx.md
CLIENT_CERT=(--cert "$C/client.pem" --key "$C/client-key.pem")

# run_bench SERVER_LABEL PORT SNI CASE_SLUG SERVER_PIDS... -- BENCH_ARGS...
# Prints: completed elapsed_s errors server_cpu_s resumed
run_bench() {
  local label=$1 port=$2 sni=$3 slug=$4; shift 4
  local pids=()
  while [[ $1 != -- ]]; do pids+=("$1"); shift; done; shift
  local common=(bench --target "127.0.0.1:$port" --sni "$sni" --ca "$C/bench-ca.pem"
                --workers 1 --concurrency "$CONCURRENCY" --json)
  taskset -c "$CLIENT_CPU" "$BIN" "${common[@]}" --duration "$WARMUP" "$@" >/dev/null
  local before after json
  before=$(cpu_ticks "${pids[@]}")
  json=$(taskset -c "$CLIENT_CPU" "$BIN" "${common[@]}" --duration "$DURATION" \
           --histogram "$OUT/$slug-$label.svg" "$@")
  after=$(cpu_ticks "${pids[@]}")
  printf '%s\n' "$json" >"$OUT/$slug-$label.json"
  jq -r --argjson t $((after - before)) --argjson hz "$HZ" \
    '"\(.completed) \(.elapsed_s) \(.errors.total) \($t / $hz) \(.resumed)"' <<<"$json"
}

RESULTS=$WORK/results.tsv
: >"$RESULTS"
# measure ROUND CASE SERVER_LABEL PORT SNI SLUG SERVER_PIDS... -- BENCH_ARGS...
# Appends one line to $RESULTS: round, case, server, µs/op, ops/s, server CPU %, errors,
# resumed, CPUs busy before, 1-minute load before.
measure() {
  local round=$1 case=$2 label=$3 port=$4 sni=$5 slug=$6; shift 6
  local busy load c e err cpu res
  busy=$(wait_for_idle_cpus)
  load=$(load1)
  log "[round $round] [$case] $label (CPUs ${busy}% busy, load $load)"
  read -r c e err cpu res < <(run_bench "$label" "$port" "$sni" "$slug" "$@")
  if [[ -z ${c:-} ]]; then log "bench failed for $case / $label"; exit 1; fi
  awk -v r="$round" -v k="$case" -v l="$label" -v c="$c" -v e="$e" -v s="$cpu" -v err="$err" \
      -v res="$res" -v b="$busy" -v ld="$load" 'BEGIN{
    us = (c > 0) ? sprintf("%.1f", s * 1e6 / c) : "n/a";
    printf "%s\t%s\t%s\t%s\t%.0f\t%.0f\t%s\t%s\t%s\t%s\n", r, k, l, us, c / e, 100 * s / e, err, res, b, ld }' \
    >>"$RESULTS"
}

FULL="full mTLS handshake + request"
FULL_LOGS="full mTLS handshake + request, logs on"
RESUMED="resumed mTLS handshake + request"
PLAIN="no client auth, handshake + request"
OPEN="fail-open, no certificate, handshake + request"
KA="keep-alive requests to origin ($REQS/conn)"
KA_HDRS="keep-alive requests to origin, nginx sends cert headers"
MTLS_ARGS=(--mode request --kx x25519 "${CLIENT_CERT[@]}")
KA_ARGS=(--mode keepalive --requests-per-conn "$REQS" --kx x25519 "${CLIENT_CERT[@]}")

wait_for_quiet_load
LOAD_START=$(cat /proc/loadavg)
log "load at start: $LOAD_START"

for round in $(seq "$ROUNDS"); do
  # Full handshakes: the three servers back to back, nginx both ways.
  measure "$round" "$FULL" mtls-proxy "$PROXY_PORT" mtls.bench.test full "$PROXY_PID" -- "${MTLS_ARGS[@]}"
  measure "$round" "$FULL" minimal "$MIN_MTLS" mtls.bench.test full "$MIN_MTLS_PID" -- "${MTLS_ARGS[@]}"
  measure "$round" "$FULL" "nginx-tickets-off" "$NGX_OFF" mtls.bench.test full "${NGX_PIDS[@]}" -- "${MTLS_ARGS[@]}"
  measure "$round" "$FULL" nginx "$NGX_MTLS" mtls.bench.test full "${NGX_PIDS[@]}" -- "${MTLS_ARGS[@]}"
  # Logs on: mtls-proxy's default info level (connection + request line) vs nginx's access log.
  measure "$round" "$FULL_LOGS" mtls-proxy "$PROXY_LOG_PORT" mtls.bench.test full-logs "$PROXY_LOG_PID" -- "${MTLS_ARGS[@]}"
  measure "$round" "$FULL_LOGS" "nginx-tickets-off" "$NGX_OFF_LOG" mtls.bench.test full-logs "${NGX_PIDS[@]}" -- "${MTLS_ARGS[@]}"
  # Resumption needs tickets: nginx with its default ones.
  measure "$round" "$RESUMED" mtls-proxy "$PROXY_PORT" mtls.bench.test resumed "$PROXY_PID" -- "${MTLS_ARGS[@]}" --resume
  measure "$round" "$RESUMED" minimal "$MIN_MTLS" mtls.bench.test resumed "$MIN_MTLS_PID" -- "${MTLS_ARGS[@]}" --resume
  measure "$round" "$RESUMED" nginx "$NGX_MTLS" mtls.bench.test resumed "${NGX_PIDS[@]}" -- "${MTLS_ARGS[@]}" --resume
  measure "$round" "$PLAIN" mtls-proxy "$PROXY_PORT" plain.bench.test plain "$PROXY_PID" -- --mode request --kx x25519
  measure "$round" "$PLAIN" minimal "$MIN_PLAIN" plain.bench.test plain "$MIN_PLAIN_PID" -- --mode request --kx x25519
  measure "$round" "$PLAIN" "nginx-tickets-off" "$NGX_PLAIN_OFF" plain.bench.test plain "${NGX_PIDS[@]}" -- --mode request --kx x25519
  measure "$round" "$OPEN" mtls-proxy "$PROXY_PORT" open.bench.test open "$PROXY_PID" -- --mode request --kx x25519
  measure "$round" "$OPEN" "nginx-tickets-off" "$NGX_OPEN_OFF" open.bench.test open "${NGX_PIDS[@]}" -- --mode request --kx x25519
  measure "$round" "$KA" mtls-proxy "$PROXY_PORT" ka.bench.test keepalive "$PROXY_PID" -- "${KA_ARGS[@]}"
  measure "$round" "$KA" nginx "$NGX_KA" ka.bench.test keepalive "${NGX_PIDS[@]}" -- "${KA_ARGS[@]}"
  measure "$round" "$KA_HDRS" mtls-proxy "$PROXY_PORT" ka.bench.test keepalive-hdrs "$PROXY_PID" -- "${KA_ARGS[@]}"
  measure "$round" "$KA_HDRS" "nginx+headers" "$NGX_KA_HDRS" ka.bench.test keepalive-hdrs "${NGX_PIDS[@]}" -- "${KA_ARGS[@]}"
  # X25519MLKEM768: mtls-proxy and the minimal server only (OpenSSL 3.0 cannot do it).
  measure "$round" "$FULL (X25519MLKEM768)" mtls-proxy "$PROXY_PORT" mtls.bench.test full-pq "$PROXY_PID" -- \
    --mode request --kx x25519mlkem768 "${CLIENT_CERT[@]}"
  measure "$round" "$FULL (X25519MLKEM768)" minimal "$MIN_MTLS" mtls.bench.test full-pq "$MIN_MTLS_PID" -- \
    --mode request --kx x25519mlkem768 "${CLIENT_CERT[@]}"
done

LOAD_END=$(cat /proc/loadavg)
cp "$RESULTS" "$OUT/compare-nginx.tsv"
{
  echo "## Comparison run $STAMP"
  echo
  echo "Machine: $(nproc) CPUs, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo);" \
       "$("$NGINX" -v 2>&1 | sed 's/.*: //'), $(openssl version 2>/dev/null | cut -d' ' -f1-2)."
  echo "Servers on CPU $SERVER_CPU, client and origin on CPU $CLIENT_CPU; $DURATION per run after a" \
       "$WARMUP warm-up; $CONCURRENCY connections in flight; X25519 unless stated; $ROUNDS round(s);" \
       "loadavg at start: $LOAD_START, at end: $LOAD_END."
  echo
  python3 "$ROOT/benches/compare_table.py" "$RESULTS"
} | tee "$OUT/compare-nginx.md"
log "table: $OUT/compare-nginx.md; per-run figures in $OUT/compare-nginx.tsv, JSON and SVG per run in $OUT"
