#!/usr/bin/env bash
# Soak: whoami_server (release build) under a mixed load from wrk for SOAK_SECONDS (default 60):
# cached and fresh valid proofs, garbage, unknown prefixes, non-bearer and missing credentials,
# expired proofs, proofs for another audience, an account that is not let in, and JWTs. Every
# answer is checked against its class (scripts/soak/mixed.lua); the server's resident memory
# (VmRSS) is sampled every second.
#
#   scripts/soak.sh              # 60 s
#   SOAK_SECONDS=20 scripts/soak.sh
#
# Exits non-zero on any wrong answer, any socket error, or resident memory growing by 10% or more
# between the end of the warm-up (the first quarter of the run) and the end.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${SOAK_SECONDS:-60}"
threads="${SOAK_THREADS:-4}"
fresh="${SOAK_FRESH:-4000}"
# Smaller than the fresh proofs, so that they keep being evicted and re-verified by STS for the
# whole run instead of all becoming cache hits.
cache_entries="${SOAK_CACHE_ENTRIES:-1000}"
audience=soak-service
account=123456789012

if ! command -v wrk >/dev/null; then
    echo "== installing wrk"
    apt-get install -y -qq wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
fi

echo "== building (release)"
cargo build --quiet --release --features testing --example soak_fixture --example whoami_server
bin="${CARGO_TARGET_DIR:-target}/release/examples"

work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# Waits for "NAME listening on ADDR" on a process's stderr file and prints ADDR.
listening_on() {
    local name="$1" log="$2"
    for _ in $(seq 1 600); do
        if addr="$(grep -oE "^$name listening on [^ ]+" "$log" | awk '{print $4}')" && [ -n "$addr" ]; then
            echo "$addr"
            return 0
        fi
        sleep 0.1
    done
    echo "$name did not start:" >&2
    cat "$log" >&2
    return 1
}

"$bin/soak_fixture" "$work/tokens" "$audience" "$fresh" 2>"$work/fixture.log" &
pids+=($!)
sts="$(listening_on soak_fixture "$work/fixture.log")"

# The load comes from one address and a few access keys, far above the default STS budgets,
# which would answer most fresh proofs 429: the soak checks answers, not the budgets.
IAM_AUTH_LISTEN=127.0.0.1:0 IAM_AUTH_AUDIENCE="$audience" IAM_AUTH_ALLOWED_ACCOUNTS="$account" \
    IAM_AUTH_STS_CONNECT_TO="$sts" IAM_AUTH_CACHE_MAX_ENTRIES="$cache_entries" IAM_AUTH_LOG=error \
    IAM_AUTH_STS_BUDGET_PER_CLIENT=1000000/1 IAM_AUTH_STS_BUDGET_PER_ACCESS_KEY=1000000/1 \
    IAM_AUTH_STS_BUDGET_OVERALL=1000000/1 \
    "$bin/whoami_server" 2>"$work/server.log" &
server_pid=$!
pids+=("$server_pid")
server="$(listening_on whoami_server "$work/server.log")"

echo "== soak: ${seconds}s, $threads connections, $(wc -l <"$work/tokens/fresh") fresh proofs, cache of $cache_entries"
(
    while kill -0 "$server_pid" 2>/dev/null; do
        awk '/^VmRSS:/ {print $2}' "/proc/$server_pid/status" 2>/dev/null || true
        sleep 1
    done
) >"$work/rss" &
pids+=($!)

SOAK_TOKENS="$work/tokens" SOAK_THREADS="$threads" wrk -t "$threads" -c "$threads" -d "${seconds}s" \
    --timeout 10s -s scripts/soak/mixed.lua "http://$server" | tee "$work/wrk.out"

value() { awk -v k="$1" '$1 == "SOAK" && $2 == k {print $3}' "$work/wrk.out"; }
requests="$(value requests)"
checked="$(value checked)"
wrong="$(value wrong)"
socket_errors="$(value socket_errors)"
mapfile -t rss <"$work/rss"
samples=${#rss[@]}
warm=$((samples / 4))
baseline="${rss[$warm]}"
final="${rss[$((samples - 1))]}"
peak="$(printf '%s\n' "${rss[@]:$warm}" | sort -n | tail -1)"
growth="$(awk -v b="$baseline" -v f="$final" 'BEGIN {printf "%.1f", (f - b) * 100 / b}')"

echo "== soak results"
echo "requests:            $requests (checked $checked)"
echo "wrong answers:       $wrong"
echo "socket errors:       $socket_errors"
echo "resident memory:     ${rss[0]} kB at start, $baseline kB after warm-up, $final kB at the end (peak $peak kB)"
echo "growth after warm-up: ${growth}%"

status=0
if [ "$wrong" != 0 ] || [ "$checked" = 0 ]; then
    echo "FAIL: $wrong wrong answers of $checked" >&2
    status=1
fi
if [ "$socket_errors" != 0 ]; then
    echo "FAIL: $socket_errors socket errors" >&2
    status=1
fi
if awk -v g="$growth" 'BEGIN {exit !(g >= 10)}'; then
    echo "FAIL: resident memory grew by ${growth}% after warm-up" >&2
    status=1
fi
exit "$status"
