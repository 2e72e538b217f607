#!/usr/bin/env bash
# Side-by-side comparison of mtls-proxy and nginx, measured the same way by `mtls-proxy bench`:
# server CPU time per operation, read from /proc/<pid>/stat, with the server pinned to one CPU
# and the load generator (and the shared origin) pinned to another. See docs/benchmarking.md for the
# method, the fairness notes and the results.
#
#   benches/compare-nginx.sh            # full run, ~4 minutes of measurement after the build
#   DURATION=5s benches/compare-nginx.sh
#
# Environment knobs (defaults in brackets):
#   DURATION [10s]  measured run per case and server    WARMUP [2s]  unmeasured run before it
#   CONCURRENCY [32]  connections in flight              REQS [100]  requests per keep-alive conn
#   SERVER_CPU [0]  CLIENT_CPU [1]  CPUs to pin to       OUT [benches/results]  JSON, SVG, table
#   MAX_LOAD [0.7]  wait (up to 20 min) until the 1-minute load is below this before starting
#   MAX_BUSY [15]   before each case, wait while other processes keep the CPUs busier than this %
#   SKIP_BUILD [0]  use the existing target/release/mtls-proxy
#   SETUP_ONLY [0]  start both servers and the origin, print how to reach them, wait for Ctrl-C
#                   (for profiling one server by hand, e.g. with perf record -p PID)
#   PROXY_BIN [target/release/mtls-proxy]  the mtls-proxy binary serving (A/B of two builds)
#   PORT_OFFSET [0]  added to every port, so that two setups can run side by side
set -euo pipefail

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

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

log() { printf '%s\n' "$*" >&2; }

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

wait_port() {
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "port $1 did not open"; exit 1
}

# ---------------------------------------------------------------- build, nginx, certificates
if [[ $SKIP_BUILD != 1 ]]; then
  (cd "$ROOT" && cargo build --release --bin mtls-proxy)
fi
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
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$C/bench-ca-key.pem" 2>/dev/null
openssl req -x509 -new -key "$C/bench-ca-key.pem" -subj "/CN=compare-nginx server CA" -days 7 \
  -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
  -out "$C/bench-ca.pem"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$C/bench-server-key.pem" 2>/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' \
  "$(printf 'DNS:%s,' "${NAMES[@]}" | sed 's/,$//')" >"$C/bench-server.ext"
openssl req -new -key "$C/bench-server-key.pem" -subj "/CN=${NAMES[0]}" \
  | openssl x509 -req -CA "$C/bench-ca.pem" -CAkey "$C/bench-ca-key.pem" -set_serial "$RANDOM$RANDOM" \
      -days 7 -sha256 -extfile "$C/bench-server.ext" -out "$C/bench-server.pem" 2>/dev/null

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
# One worker, X25519 only (OpenSSL 3.0 has no ML-KEM), TLS 1.3 (+1.2 as mtls-proxy), default
# session tickets (stateless, like rustls's ticketer), no session cache, no access log.
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

wait_port "$ORIGIN_PORT"; wait_port "$NGX_MTLS"
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
      "CA and client cert copied to $OUT"
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
                --threads 1 --concurrency "$CONCURRENCY" --json)
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

ROWS=()
ROW_US=
row() { # CASE SERVER completed elapsed errors cpu_s resumed busy; sets ROW_US
  if [[ -z $3 ]]; then log "bench failed for $1 / $2"; exit 1; fi
  local us per_core util rate
  us=$(awk -v c="$3" -v s="$6" 'BEGIN{ if (c>0) printf "%.1f", s*1e6/c; else print "n/a" }')
  per_core=$(awk -v c="$3" -v s="$6" 'BEGIN{ if (s>0) printf "%.0f", c/s; else print "n/a" }')
  util=$(awk -v e="$4" -v s="$6" 'BEGIN{ printf "%.0f", 100*s/e }')
  rate=$(awk -v c="$3" -v e="$4" 'BEGIN{ printf "%.0f", c/e }')
  ROWS+=("| $1 | $2 | $rate | $util % | $us | $per_core | $5 | $7 | $8 % |")
  ROW_US=$us
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a+0>0 && b+0>0) printf "%.2f×", b/a; else print "n/a" }'; }

RATIOS=()
compare() { # CASE SLUG MTLS_SNI NGINX_PORT NGINX_SERVER_LABEL -- BENCH_ARGS...
  local case=$1 slug=$2 sni=$3 nport=$4 nlabel=$5; shift 6
  local busy; busy=$(wait_for_idle_cpus)
  log "[$case] mtls-proxy (CPUs ${busy}% busy before)"
  read -r c e err cpu res < <(run_bench mtls-proxy "$CUR_PORT" "$sni" "$slug" "$CUR_PID" -- "$@")
  row "$case" mtls-proxy "$c" "$e" "$err" "$cpu" "$res" "$busy"
  local mus=$ROW_US
  log "[$case] $nlabel"
  read -r c e err cpu res < <(run_bench nginx "$nport" "$sni" "$slug" "${NGX_PIDS[@]}" -- "$@")
  row "$case" "$nlabel" "$c" "$e" "$err" "$cpu" "$res" "$busy"
  local nus=$ROW_US
  RATIOS+=("| $case | $mus | $nus | $(ratio "$mus" "$nus") |")
}

CUR_PORT=$PROXY_PORT CUR_PID=$PROXY_PID
wait_for_quiet_load
LOAD_START=$(cat /proc/loadavg)
log "load at start: $LOAD_START"

compare "full mTLS handshake + request" full mtls.bench.test "$NGX_MTLS" nginx -- \
  --mode request --kx x25519 "${CLIENT_CERT[@]}"
compare "resumed mTLS handshake + request" resumed mtls.bench.test "$NGX_MTLS" nginx -- \
  --mode request --kx x25519 --resume "${CLIENT_CERT[@]}"
compare "no client auth, handshake + request" plain plain.bench.test "$NGX_PLAIN" nginx -- \
  --mode request --kx x25519
compare "fail-open, no certificate, handshake + request" open open.bench.test "$NGX_OPEN" nginx -- \
  --mode request --kx x25519
compare "keep-alive requests to origin ($REQS/conn)" keepalive ka.bench.test "$NGX_KA" nginx -- \
  --mode keepalive --requests-per-conn "$REQS" --kx x25519 "${CLIENT_CERT[@]}"
compare "keep-alive requests to origin, nginx sends cert headers" keepalive-hdrs ka.bench.test \
  "$NGX_KA_HDRS" "nginx+headers" -- \
  --mode keepalive --requests-per-conn "$REQS" --kx x25519 "${CLIENT_CERT[@]}"
# Logs on: mtls-proxy's default info level (connection + request line) vs nginx's access log.
CUR_PORT=$PROXY_LOG_PORT CUR_PID=$PROXY_LOG_PID
compare "full mTLS handshake + request, logs on" full-logs mtls.bench.test "$NGX_MTLS_LOG" nginx -- \
  --mode request --kx x25519 "${CLIENT_CERT[@]}"
CUR_PORT=$PROXY_PORT CUR_PID=$PROXY_PID

# X25519MLKEM768: mtls-proxy only (Debian 12's OpenSSL 3.0 cannot do it).
PQ_ROWS=()
for spec in "full mTLS handshake + request|full-pq|mtls.bench.test|${CLIENT_CERT[*]}" \
            "resumed mTLS handshake + request|resumed-pq|mtls.bench.test|--resume ${CLIENT_CERT[*]}" \
            "no client auth, handshake + request|plain-pq|plain.bench.test|"; do
  IFS='|' read -r case slug sni extra <<<"$spec"
  busy=$(wait_for_idle_cpus)
  log "[$case, X25519MLKEM768] mtls-proxy"
  # shellcheck disable=SC2086
  read -r c e err cpu res < <(run_bench mtls-proxy "$PROXY_PORT" "$sni" "$slug" "$PROXY_PID" -- \
    --mode request --kx x25519mlkem768 $extra)
  row "$case (X25519MLKEM768)" mtls-proxy "$c" "$e" "$err" "$cpu" "$res" "$busy"
  PQ_ROWS+=("| $case | $ROW_US |")
done

LOAD_END=$(cat /proc/loadavg)
{
  echo "## Comparison run $STAMP"
  echo
  echo "Machine: $(nproc) CPUs, $(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo);" \
       "$("$NGINX" -v 2>&1 | sed 's/.*: //'), $(openssl version 2>/dev/null | cut -d' ' -f1-2)."
  echo "Server on CPU $SERVER_CPU, client and origin on CPU $CLIENT_CPU; $DURATION per run after a" \
       "$WARMUP warm-up; $CONCURRENCY connections in flight; X25519; loadavg at start: $LOAD_START," \
       "at end: $LOAD_END."
  echo
  echo "| case | server | completed/s | server CPU used | server µs/op | ops/s per server core | errors | resumed | CPUs busy before |"
  echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${ROWS[@]}"
  echo
  echo "| case | mtls-proxy µs/op | nginx µs/op | nginx ÷ mtls-proxy |"
  echo "|---|---:|---:|---:|"
  printf '%s\n' "${RATIOS[@]}"
  echo
  echo "| mtls-proxy with X25519MLKEM768 | server µs/op |"
  echo "|---|---:|"
  printf '%s\n' "${PQ_ROWS[@]}"
} | tee "$TABLE"
log "table: $TABLE; JSON and SVG per run in $OUT"
