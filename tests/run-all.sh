#!/usr/bin/env bash
# Runs every test tier of the project with nothing skipped:
#   1. installs the programs tests drive when they are missing (Debian/Ubuntu, as root), or says
#      what to install and stops;
#   2. the pinned Python venv (target/test-venv), which the Rust tests use too (websockets and
#      grpcio clients and origins);
#   3. `cargo test --all-targets` with MTLS_PROXY_REQUIRE_TOOLS=1, so a test that cannot find its
#      program (curl, openssl, Chromium, a Python package, PostgreSQL...) fails instead of
#      skipping;
#   4. the real-client suites (official Python `fastly` client, Fastly CLI) with pytest against a
#      freshly built `mtls-proxy`.
# Plain `cargo test` needs only the Rust toolchain: there, such tests print
# "skipped: <tool> not found" and pass.
#
#   bash tests/run-all.sh [extra pytest args]
#
# Env: PYTHON (interpreter used to create the venv, default python3); CHROMIUM (browser binary,
#      default: chromium on PATH); SKIP_CARGO_TEST=1 skips stage 3 (quick reruns of the client
#      suites).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

FASTLY_CLI_VERSION="16.1.0"
VENV="$ROOT/target/test-venv"
REQS="$ROOT/tests/python/requirements.txt"
NPM_PREFIX="$ROOT/target/npm"
CLI_PKG="$NPM_PREFIX/node_modules/@fastly/cli-linux-x64"
CLI_BIN="$CLI_PKG/fastly"

stage() { printf '\n==> %s (at %d s)\n' "$*" "$SECONDS"; }

# No test may pass by skipping for a missing program (tests/common/tools.rs, pytest's CLI suite).
export MTLS_PROXY_REQUIRE_TOOLS=1
# Debian's PostgreSQL keeps initdb and pg_ctl out of PATH.
postgres_on_path() {
    local dir
    for dir in /usr/lib/postgresql/*/bin; do
        if [[ -d "$dir" && ":$PATH:" != *":$dir:"* ]]; then PATH="$PATH:$dir"; fi
    done
    export PATH
}
postgres_on_path

stage "[1/6] programs the tests drive"
missing=() # Debian packages
need() { # need PROGRAM PACKAGE...: the packages when PROGRAM is not on PATH
    local program="$1"
    shift
    command -v "$program" >/dev/null 2>&1 || missing+=("$@")
}
need curl curl
need openssl openssl
[[ -e /etc/ssl/certs/ca-certificates.crt ]] || missing+=(ca-certificates)
if ! command -v "${PYTHON:-python3}" >/dev/null 2>&1; then
    missing+=(python3 python3-venv)
elif ! "${PYTHON:-python3}" -c 'import venv, ensurepip' >/dev/null 2>&1; then
    missing+=(python3-venv)
fi
need npm npm # the Fastly CLI comes from the npm registry
[[ -n "${CHROMIUM:-}" ]] || need chromium chromium # tests/clients/status_page.rs
need initdb postgresql                             # tests that start their own PostgreSQL
need pg_ctl postgresql
if ((${#missing[@]})); then
    readarray -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
    if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
        echo "apt-get install ${missing[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
        postgres_on_path
    else
        echo "error: the full suite drives programs this machine lacks. Install them:" >&2
        echo "    sudo apt-get install ${missing[*]}" >&2
        echo "(as root this script installs them itself; \`cargo test\` alone runs without them," >&2
        echo "skipping the tests that need them)" >&2
        exit 1
    fi
fi
for program in curl openssl npm initdb pg_ctl; do
    printf '%-8s %s\n' "$program" "$(command -v "$program")"
done
printf '%-8s %s\n' chromium "${CHROMIUM:-$(command -v chromium)}"

stage "[2/6] Python venv at target/test-venv (pinned: $(grep -E '^(fastly|pytest|cryptography|websockets|grpcio)==' "$REQS" | tr '\n' ' '))"
if ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    rm -rf "$VENV"
    "${PYTHON:-python3}" -m venv "$VENV"
fi
STAMP="$VENV/.requirements.sha256"
WANT="$(sha256sum "$REQS" | cut -d' ' -f1)"
if [[ "$(cat "$STAMP" 2>/dev/null || true)" == "$WANT" ]] &&
    "$VENV/bin/python" -c 'import fastly, pytest, cryptography, websockets, grpc' >/dev/null 2>&1; then
    echo "pinned packages already installed"
else
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQS"
    echo "$WANT" >"$STAMP"
    echo "installed: $("$VENV/bin/python" -m pip freeze --disable-pip-version-check | tr '\n' ' ')"
fi

# The Rust suite drives Python clients and origins (websockets, grpcio) from the venv, so it is
# made first.
if [[ "${SKIP_CARGO_TEST:-0}" != 1 ]]; then
    stage "[3/6] cargo test --all-targets (MTLS_PROXY_REQUIRE_TOOLS=1)"
    cargo test --all-targets
else
    stage "[3/6] cargo test --all-targets (skipped: SKIP_CARGO_TEST=1)"
fi

stage "[4/6] cargo build (the mtls-proxy binary)"
cargo build --bin mtls-proxy
BIN="$ROOT/target/debug/mtls-proxy"
[[ -x "$BIN" ]] || {
    echo "error: $BIN was not built" >&2
    exit 1
}

stage "[5/6] Fastly CLI @fastly/cli-linux-x64@$FASTLY_CLI_VERSION in target/npm"
# The version is read from package.json: running the binary would start its update check.
cli_installed() {
    [[ -x "$CLI_BIN" ]] && grep -q "\"version\": *\"$FASTLY_CLI_VERSION\"" "$CLI_PKG/package.json"
}
if cli_installed; then
    echo "already installed"
else
    npm install --prefix "$NPM_PREFIX" --no-audit --no-fund --silent \
        "@fastly/cli-linux-x64@$FASTLY_CLI_VERSION"
    cli_installed || {
        echo "error: CLI install did not produce $CLI_BIN" >&2
        exit 1
    }
    echo "installed $CLI_BIN"
fi

stage "[6/6] pytest tests/python (real clients against target/debug/mtls-proxy)"
export MTLS_PROXY_BIN="$BIN"
export PYTHONDONTWRITEBYTECODE=1
"$VENV/bin/python" -m pytest "$ROOT/tests/python" "$@"
