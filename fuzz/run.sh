#!/usr/bin/env bash
# Builds the fuzz targets with cargo fuzz on the stable toolchain and runs each for a while.
#
#   bash fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 30 s, every target)
#
# cargo-fuzz is installed into target/tools on first use. `--sanitizer none` keeps to stable
# Rust: cargo fuzz's coverage instrumentation needs no nightly flag, only AddressSanitizer does,
# and the crate forbids unsafe code. Builds go to target/fuzz; the corpus grows in
# target/fuzz/corpus/<target>, started from the seeds in fuzz/seeds/<target>; a finding is
# written to fuzz/artifacts/<target>/ and fails the run.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$(pwd)"

CARGO_FUZZ_VERSION="0.13.2"
SECONDS_PER_TARGET="${1:-30}"
shift || true
TARGETS=("$@")
if ((${#TARGETS[@]} == 0)); then TARGETS=(client_hello pki jsonapi authority); fi

export PATH="$ROOT/target/tools/bin:$PATH"
FUZZ=(cargo fuzz)
OPTS=(--sanitizer none --target-dir "$ROOT/target/fuzz")

stage() { printf '\n==> %s\n' "$*"; }

if [[ "$(cargo fuzz --version 2>/dev/null || true)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
    stage "cargo install cargo-fuzz@$CARGO_FUZZ_VERSION (into target/tools)"
    cargo install --locked --quiet --root "$ROOT/target/tools" "cargo-fuzz@$CARGO_FUZZ_VERSION"
fi

# Fuzz the dependency versions the product ships: start from its lock file (cargo adds the
# fuzz-only packages).
cp "$ROOT/Cargo.lock" "$ROOT/fuzz/Cargo.lock"

stage "cargo fuzz build (${TARGETS[*]})"
for target in "${TARGETS[@]}"; do
    "${FUZZ[@]}" build "${OPTS[@]}" "$target"
done

mkdir -p "$ROOT/target/fuzz/logs"
for target in "${TARGETS[@]}"; do
    stage "cargo fuzz run $target (${SECONDS_PER_TARGET} s)"
    corpus="$ROOT/target/fuzz/corpus/$target"
    log="$ROOT/target/fuzz/logs/$target.log"
    mkdir -p "$corpus"
    # -timeout: an input that runs 10 s is a hang, and a finding. -max_len: a post-quantum
    # ClientHello or a chain of certificates is longer than libFuzzer's 4 KiB default.
    if "${FUZZ[@]}" run "${OPTS[@]}" "$target" "$corpus" "$ROOT/fuzz/seeds/$target" -- \
        -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -max_len=16384 \
        -print_final_stats=1 >"$log" 2>&1; then
        grep -E '^(Done |stat::average_exec_per_sec|stat::new_units_added)' "$log" || true
        echo "corpus: $(find "$corpus" -type f | wc -l) inputs in ${corpus#"$ROOT"/}"
    else
        tail -n 60 "$log" >&2
        echo "error: fuzz target $target found a problem; the input is in fuzz/artifacts/$target/ (full log: ${log#"$ROOT"/})" >&2
        exit 1
    fi
done
stage "fuzzing: no findings in ${#TARGETS[@]} targets x ${SECONDS_PER_TARGET} s"
