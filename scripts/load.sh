#!/usr/bin/env bash
# Requests per second and p99 latency of whoami_server (release build) under wrk, for:
#   no layer (/healthz), /ping with a cached proof, with a cached JWT, a cached proof with the
#   20-statement policy of benches/common/policy20.rs, and the fresh-proof path (every request a
#   distinct proof verified by LocalSts).
# Not run in CI: a full run takes about a minute on top of the release build.
# Usage: scripts/load.sh [seconds per case, default 10] [connections, default 32]
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-10}"
connections="${2:-32}"
command -v wrk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y --no-install-recommends wrk >/dev/null; }

cargo build --quiet --release --features testing,jwt --example load_fixture --example whoami_server
work="$(mktemp -d)"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# More distinct proofs than the fresh-proof case can use, so that all of its requests miss.
target/release/examples/load_fixture "$work" 60000 2>"$work/fixture.log" &
pids+=($!)
for _ in $(seq 600); do [ -s "$work/sts" ] && break; sleep 0.2; done
[ -s "$work/sts" ] || { cat "$work/fixture.log" >&2; exit 1; }

start_server() { # name port extra-env...
    local name="$1" port="$2"; shift 2
    env IAM_AUTH_LISTEN="127.0.0.1:$port" IAM_AUTH_AUDIENCE=load IAM_AUTH_LOG=warn \
        IAM_AUTH_STS_CONNECT_TO="$(cat "$work/sts")" IAM_AUTH_TRUSTED_ISSUER="$(cat "$work/issuer")" \
        "$@" target/release/examples/whoami_server 2>"$work/$name.log" &
    pids+=($!)
    for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && return; sleep 0.1; done
    cat "$work/$name.log" >&2; exit 1
}

# Runs wrk; prints a table row, with the requests per second as a percentage of `$2` (a baseline's
# requests per second, or "-" for a baseline row), and leaves the requests per second in $last_rps.
run() { # label baseline_rps url [wrk args...]
    local label="$1" baseline="$2" url="$3"; shift 3
    local out
    out="$(wrk -t2 -c"$connections" -d"${duration}s" --latency "$@" "$url")"
    local p99 share
    last_rps="$(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
    p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
    if grep -q "Non-2xx" <<<"$out"; then echo "$out" >&2; echo "error: $label had refusals" >&2; exit 1; fi
    if [ "$baseline" = "-" ]; then
        share="baseline"
    else
        share="$(awk -v a="$last_rps" -v b="$baseline" 'BEGIN {printf "%.1f%%", 100 * a / b}')"
    fi
    printf '| %s | %s | %s | %s |\n' "$label" "$last_rps" "$p99" "$share"
}

# Every fresh proof is an STS call from 127.0.0.1: lift the STS budgets (cached tokens never spend
# them).
start_server any 18181 IAM_AUTH_ALLOW_ANY_ACCOUNT=1 IAM_AUTH_STS_BUDGET_PER_CLIENT=100000/1 \
    IAM_AUTH_STS_BUDGET_PER_ACCESS_KEY=100000/1 IAM_AUTH_STS_BUDGET_OVERALL=100000/1
proof="Bearer $(cat "$work/proof")"
jwt="Bearer $(cat "$work/jwt")"
# Warm the caches.
curl -fs -H "Authorization: $proof" http://127.0.0.1:18181/ping >/dev/null
curl -fs -H "Authorization: $jwt" http://127.0.0.1:18181/ping >/dev/null

echo "wrk -t2 -c$connections -d${duration}s, whoami_server --release"
echo
# Each layered case is compared with /healthz (no layer) receiving the same Authorization header,
# so that the two differ only by the layer (hyper parses a 1-2 KiB header either way).
echo "| path | requests/s | p99 | vs no layer, same header |"
echo "|---|---|---|---|"
run "no layer (\`/healthz\`), no header" - http://127.0.0.1:18181/healthz
run "no layer (\`/healthz\`), proof header" - http://127.0.0.1:18181/healthz -H "Authorization: $proof"
proof_baseline="$last_rps"
run "\`/ping\`, cached proof" "$proof_baseline" http://127.0.0.1:18181/ping -H "Authorization: $proof"
run "no layer (\`/healthz\`), JWT header" - http://127.0.0.1:18181/healthz -H "Authorization: $jwt"
jwt_baseline="$last_rps"
run "\`/ping\`, cached JWT" "$jwt_baseline" http://127.0.0.1:18181/ping -H "Authorization: $jwt"
if [ -s "$work/policy20.json" ]; then
    start_server policy 18182 IAM_AUTH_POLICY_FILE="$work/policy20.json"
    curl -fs -H "Authorization: $proof" http://127.0.0.1:18182/ping >/dev/null
    run "\`/ping\`, cached proof, 20-statement policy" "$proof_baseline" http://127.0.0.1:18182/ping -H "Authorization: $proof"
fi
LOAD_TOKENS="$work/fresh.txt" run "\`/ping\`, fresh proof each request (LocalSts)" "$proof_baseline" \
    http://127.0.0.1:18181/ping -s scripts/load.lua
