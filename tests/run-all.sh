#!/usr/bin/env bash
# Runs every test of the project: the Rust tests (some drive the pinned Python `websockets` and
# `grpcio` from the venv made first), then the real-client suites (official Python `fastly`
# client and, when available, the Fastly CLI) against a freshly built `mtls-proxy`.
#
#   bash tests/run-all.sh [extra pytest args]
#
# Env: PYTHON (interpreter used to create the venv, default python3);
#      REQUIRE_FASTLY_CLI=1 makes a missing npm / failed CLI install an error instead of a skip
#      (.ci/run sets it); SKIP_CARGO_TEST=1 skips stage 2 (quick reruns of the client suites).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

FASTLY_CLI_VERSION="16.1.0"
VENV="$ROOT/target/test-venv"
REQS="$ROOT/tests/python/requirements.txt"
NPM_PREFIX="$ROOT/target/npm"
CLI_PKG="$NPM_PREFIX/node_modules/@fastly/cli-linux-x64"
CLI_BIN="$CLI_PKG/fastly"

stage() { printf '\n==> %s\n' "$*"; }

stage "[1/5] Python venv at target/test-venv (pinned: $(grep -E '^(fastly|pytest|cryptography|websockets|grpcio)==' "$REQS" | tr '\n' ' '))"
if ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    rm -rf "$VENV"
    "${PYTHON:-python3}" -m venv "$VENV"
fi
STAMP="$VENV/.requirements.sha256"
WANT="$(sha256sum "$REQS" | cut -d' ' -f1)"
if [[ "$(cat "$STAMP" 2>/dev/null || true)" == "$WANT" ]] \
    && "$VENV/bin/python" -c 'import fastly, pytest, cryptography, websockets, grpc' >/dev/null 2>&1; then
    echo "pinned packages already installed"
else
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQS"
    echo "$WANT" >"$STAMP"
    echo "installed: $("$VENV/bin/python" -m pip freeze --disable-pip-version-check | tr '\n' ' ')"
fi

# The Rust suite drives Python clients and origins (websockets, grpcio) from this venv, so it
# is made first.
if [[ "${SKIP_CARGO_TEST:-0}" != 1 ]]; then
    stage "[2/5] cargo test --all-targets"
    cargo test --all-targets
else
    stage "[2/5] cargo test --all-targets (skipped: SKIP_CARGO_TEST=1)"
fi

stage "[3/5] cargo build (the mtls-proxy binary)"
cargo build --bin mtls-proxy
BIN="$ROOT/target/debug/mtls-proxy"
[[ -x "$BIN" ]] || { echo "error: $BIN was not built" >&2; exit 1; }

stage "[4/5] Fastly CLI @fastly/cli-linux-x64@$FASTLY_CLI_VERSION in target/npm"
# The version is read from package.json: running the binary would start its update check.
cli_installed() {
    [[ -x "$CLI_BIN" ]] && grep -q "\"version\": *\"$FASTLY_CLI_VERSION\"" "$CLI_PKG/package.json"
}
if cli_installed; then
    echo "already installed"
elif command -v npm >/dev/null 2>&1; then
    npm install --prefix "$NPM_PREFIX" --no-audit --no-fund --silent \
        "@fastly/cli-linux-x64@$FASTLY_CLI_VERSION"
    cli_installed || { echo "error: CLI install did not produce $CLI_BIN" >&2; exit 1; }
    echo "installed $CLI_BIN"
elif [[ "${REQUIRE_FASTLY_CLI:-0}" == 1 ]]; then
    echo "error: npm not found and REQUIRE_FASTLY_CLI=1" >&2
    exit 1
else
    echo "warning: npm not found; the Fastly CLI tests will be skipped"
fi

stage "[5/5] pytest tests/python (real clients against target/debug/mtls-proxy)"
export MTLS_PROXY_BIN="$BIN"
export PYTHONDONTWRITEBYTECODE=1
"$VENV/bin/python" -m pytest "$ROOT/tests/python" "$@"
