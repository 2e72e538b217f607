# Shell helpers shared by the benchmark scripts (sourced, not run): logging, waiting for a port,
# and the server PKI every comparison uses.

log() { printf '%s\n' "$*" >&2; }

# wait_port PORT [TRIES]: wait (0.1 s per try, 100 tries by default) until 127.0.0.1:PORT accepts.
wait_port() {
  local tries=${2:-100}
  for _ in $(seq "$tries"); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "port $1 did not open"; exit 1
}

# bench_server_pki DIR CA_NAME NAME...: DIR/bench-ca.pem and DIR/bench-server{,-key}.pem, an
# ECDSA P-256 server certificate for the NAMEs signed directly by its own CA, like the dev PKI's.
# (The dev server certificate's *.localhost is a wildcard directly under a one-label name, which
# webpki rightly refuses, so the benchmarks make their own.)
bench_server_pki() {
  local dir=$1 ca_name=$2
  shift 2
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/bench-ca-key.pem" 2>/dev/null
  openssl req -x509 -new -key "$dir/bench-ca-key.pem" -subj "/CN=$ca_name" -days 7 \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -out "$dir/bench-ca.pem"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/bench-server-key.pem" 2>/dev/null
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' \
    "$(printf 'DNS:%s,' "$@" | sed 's/,$//')" >"$dir/bench-server.ext"
  openssl req -new -key "$dir/bench-server-key.pem" -subj "/CN=$1" \
    | openssl x509 -req -CA "$dir/bench-ca.pem" -CAkey "$dir/bench-ca-key.pem" -set_serial "$RANDOM$RANDOM" \
        -days 7 -sha256 -extfile "$dir/bench-server.ext" -out "$dir/bench-server.pem" 2>/dev/null
}
