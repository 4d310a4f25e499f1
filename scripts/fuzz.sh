#!/usr/bin/env bash
# Fuzzes every parser an attacker reaches (fuzz/fuzz_targets/), SECONDS each (default 20), with
# cargo-fuzz on the nightly toolchain. Exits non-zero on the first crash, leaving the input in
# fuzz/artifacts/<target>/. Prints the executions per target.
#
#   scripts/fuzz.sh 20                     # every target, 20 s each (what CI runs)
#   FUZZ_TARGETS="jwt_token jwks" scripts/fuzz.sh 600
#
# Built with debug assertions (integer overflow is a crash) and without a sanitizer: the crate
# forbids unsafe code, and the sanitizer would halve the executions. New inputs the fuzzer finds go
# to fuzz/target/corpus/<target>/ (not committed); fuzz/corpus/<target>/ holds the committed seeds.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-20}"
cargo_fuzz_version=0.13.1

if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz.sh needs the nightly toolchain (rustup toolchain install nightly)" >&2
    exit 1
fi
if [ "$(cargo fuzz --version 2>/dev/null || true)" != "cargo-fuzz $cargo_fuzz_version" ]; then
    echo "== installing cargo-fuzz $cargo_fuzz_version"
    cargo install --quiet --locked cargo-fuzz --version "$cargo_fuzz_version"
fi

# The fuzz crate is its own workspace with its own target directory.
unset CARGO_TARGET_DIR
flags=(--release --debug-assertions --sanitizer none --fuzz-dir fuzz)
echo "== building the fuzz targets"
cargo +nightly fuzz build "${flags[@]}"

targets="${FUZZ_TARGETS:-$(cargo +nightly fuzz list --fuzz-dir fuzz)}"
summary=()
for target in $targets; do
    echo "== fuzzing $target for ${seconds}s"
    work="fuzz/target/corpus/$target"
    mkdir -p "$work"
    log="fuzz/target/$target.log"
    if ! cargo +nightly fuzz run "${flags[@]}" "$target" "$work" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -max_len=8192 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1; then
        tail -n 60 "$log" >&2
        echo "fuzz target $target crashed: see $log and fuzz/artifacts/$target/" >&2
        exit 1
    fi
    runs="$(grep -oE '^stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo '?')"
    summary+=("$(printf '%-16s %12s executions in %ss' "$target" "$runs" "$seconds")")
done

echo "== fuzzing done, no crash"
printf '%s\n' "${summary[@]}"
