#!/usr/bin/env bash
# Soak test: DURATION seconds (default 600) of mixed traffic at saturation against a
# release build on loopback — full mTLS handshakes + request, resumed handshakes, fail-open
# requests without a certificate, misdirected (421) requests, and a bundle rotation every few
# seconds — while the server's resident memory and open file descriptors are sampled.
# Every traffic loop is bounded in time and stops by itself. Fails (exit 1) on any unexpected
# error, on resident memory growing more than 10 % after warm-up, or on fd growth.
#
#   bash benches/soak.sh [DURATION_SECONDS]      (not part of the default test run)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DURATION="${1:-600}"
WARMUP=$(( DURATION / 10 > 30 ? DURATION / 10 : 30 ))
ROTATE_EVERY=3

cargo build --release --bin mtls-proxy >/dev/null
BIN="$PWD/target/release/mtls-proxy"
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ADMIN=$(free_port); PROXY=$(free_port); TOKEN=soak
"$BIN" certs init --dir "$WORK/certs" >/dev/null
C="$WORK/certs"
cat >"$WORK/config.toml" <<TOML
[admin]
listen = "127.0.0.1:$ADMIN"
token = "$TOKEN"
[store]
path = "$WORK/store.db"
[proxy]
listen = "127.0.0.1:$PROXY"
max_connections = 4000
drain_timeout = "2s"
TOML
"$BIN" serve --config "$WORK/config.toml" 2>"$WORK/server.log" &
PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$ADMIN/ready" >/dev/null && break; sleep 0.1; done

api() { curl -sf -X "$1" "http://127.0.0.1:$ADMIN$2" -H "Fastly-Key: $TOKEN" -H 'Content-Type: application/vnd.api+json' ${3:+-d "$3"}; }
json_str() { python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$1"; }
id_of() { python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["id"])'; }

api POST /tls/private_keys "{\"data\":{\"attributes\":{\"key\":$(json_str "$C/server-key.pem")}}}" >/dev/null
CERT=$(api POST /tls/certificates "{\"data\":{\"attributes\":{\"cert_blob\":$(json_str "$C/server.pem")}}}" | id_of)
cat "$C/client-ca.pem" "$C/other-ca.pem" >"$WORK/both.pem"
ENF=$(api POST /tls/mutual_authentications "{\"data\":{\"attributes\":{\"cert_bundle\":$(json_str "$C/client-ca.pem"),\"enforced\":true}}}" | id_of)
OPEN=$(api POST /tls/mutual_authentications "{\"data\":{\"attributes\":{\"cert_bundle\":$(json_str "$C/client-ca.pem"),\"enforced\":false}}}" | id_of)
for pair in "localhost:$ENF" "open.localhost:$OPEN"; do
  domain=${pair%%:*}; ma=${pair#*:}
  act=$(api POST /tls/activations "{\"data\":{\"relationships\":{\"tls_certificate\":{\"data\":{\"type\":\"tls_certificate\",\"id\":\"$CERT\"}},\"tls_domain\":{\"data\":{\"type\":\"tls_domain\",\"id\":\"$domain\"}}}}}" | id_of)
  api PATCH "/tls/activations/$act" "{\"data\":{\"relationships\":{\"mutual_authentication\":{\"data\":{\"type\":\"mutual_authentication\",\"id\":\"$ma\"}}}}}" >/dev/null
done

bench() { # name, extra args...
  local name=$1; shift
  "$BIN" bench --target "127.0.0.1:$PROXY" --ca "$C/server-ca.pem" --duration "${DURATION}s" \
    --kx x25519 --json "$@" >"$WORK/$name.json" 2>"$WORK/$name.err" &
}
bench full --sni localhost --cert "$C/client.pem" --key "$C/client-key.pem" --mode request --concurrency 4
bench resumed --sni localhost --cert "$C/client.pem" --key "$C/client-key.pem" --mode request --resume --concurrency 2
bench failopen --sni open.localhost --mode request --concurrency 2

# 421s and rotations, bounded by the same deadline.
END=$(( $(date +%s) + DURATION ))
misdirected=0; rotations=0; unexpected=0
( while (( $(date +%s) < END )); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --cacert "$C/server-ca.pem" \
      --resolve "open.localhost:$PROXY:127.0.0.1" -H "Host: localhost" "https://open.localhost:$PROXY/" || true)
    [[ $code == 421 ]] && echo ok || echo "bad $code"
    sleep 0.2
  done >"$WORK/421.log" ) &
( i=0; while (( $(date +%s) < END )); do
    bundle=$([[ $((i % 2)) == 0 ]] && echo "$WORK/both.pem" || echo "$C/client-ca.pem")
    api PATCH "/tls/mutual_authentications/$ENF" "{\"data\":{\"attributes\":{\"cert_bundle\":$(json_str "$bundle")}}}" >/dev/null && echo ok || echo bad
    i=$((i + 1)); sleep "$ROTATE_EVERY"
  done >"$WORK/rotations.log" ) &

rss() { awk '/VmRSS/ {print $2}' "/proc/$PID/status"; }
fds() { ls "/proc/$PID/fd" | wc -l; }
echo "t_seconds,rss_kib,fds" >"$WORK/samples.csv"
START=$(date +%s)
while (( $(date +%s) < END )); do
  echo "$(( $(date +%s) - START )),$(rss),$(fds)" >>"$WORK/samples.csv"
  sleep 10
done
wait $(jobs -p | grep -v "^$PID$") 2>/dev/null || true
sleep 3
echo "$(( $(date +%s) - START )),$(rss),$(fds)" >>"$WORK/samples.csv"

python3 - "$WORK" "$WARMUP" <<'PY'
import csv, json, sys
work, warmup = sys.argv[1], int(sys.argv[2])
failed = False
print(f"{'traffic':10} {'ops':>9} {'ops/s':>8} {'p99 ms':>8} {'errors':>7}")
for name in ["full", "resumed", "failopen"]:
    r = json.load(open(f"{work}/{name}.json"))
    errors = r["errors"]["total"]
    p99_ms = r["latency_us"]["p99"] / 1000
    print(f"{name:10} {r['completed']:>9} {r['per_second']:>8.0f} {p99_ms:>8.2f} {errors:>7}")
    if errors:
        print("   errors by kind:", r["errors"]["by_kind"])
    failed |= errors != 0 or r["completed"] == 0
m = open(f"{work}/421.log").read().split()
bad421 = [x for x in open(f"{work}/421.log").read().splitlines() if x != "ok"]
rot = open(f"{work}/rotations.log").read().splitlines()
print(f"421 probes: {m.count('ok')} ok, {len(bad421)} unexpected; rotations: {rot.count('ok')} ok, {len(rot) - rot.count('ok')} failed")
failed |= bool(bad421) or rot.count("ok") != len(rot)
rows = [(int(t), int(r), int(f)) for t, r, f in list(csv.reader(open(f"{work}/samples.csv")))[1:]]
after = [row for row in rows if row[0] >= warmup]
base = after[0] if after else rows[0]
peak_rss = max(r for _, r, _ in after) if after else 0
last = rows[-1]
growth = (peak_rss - base[1]) / base[1] * 100 if base[1] else 0
print(f"RSS after warm-up {base[1]} KiB, peak {peak_rss} KiB ({growth:+.1f} %), final {last[1]} KiB")
print(f"open fds after warm-up {base[2]}, final {last[2]}")
failed |= growth > 10 or last[2] > base[2] + 16
print("samples:", " ".join(f"{t}s:{r}KiB/{f}fd" for t, r, f in rows))
sys.exit(1 if failed else 0)
PY
