#!/usr/bin/env bash
# Requests per second and p99 latency of whoami_server (release build) under wrk, for:
#   no layer (/healthz), /ping with a cached proof, with a cached JWT, a cached proof with the
#   20-statement policy of benches/common/policy20.rs, and the fresh-proof path (every request a
#   distinct proof verified by LocalSts).
# Then the same comparisons in instructions per request, under callgrind (see the end).
# Not run in CI: a full run takes about ten minutes on top of the release build.
# Usage: scripts/load.sh [seconds per run, default 3] [connections, default 32] [rounds, default 16]
#                        [server starts per case, default 4]
# The server and wrk do not share cores: the server runs on the first half of the CPUs (as many
# tokio workers), wrk on the other half, so that the server's core is what runs out and the
# figure is its throughput (sharing two cores, wrk and the server measured the scheduler as much as
# the layer: the control's rounds spread over 16 points). Each cached case is measured in rounds
# that alternate with its baseline (/healthz, no layer, with the same Authorization header), the
# case first every other round, so that drift of the machine and the order hit both alike; the
# rounds are spread over several starts of the server, so that no one process's speed decides
# (separate starts of one build have differed by a few points). The table gives the medians of the
# rounds, and the median of each round's ratio to its baseline with a 95% confidence interval for
# that median (from the rounds' order statistics) and the rounds' range. A control row compares the
# baseline with itself: the spread that the method shows where there is no difference.
set -euo pipefail
# Failures inside $(...) stop the script too.
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
duration="${1:-3}"
connections="${2:-32}"
rounds="${3:-16}"
starts="${4:-4}"
for value in "$duration" "$connections" "$rounds" "$starts"; do
    [[ "$value" =~ ^[1-9][0-9]*$ ]] ||
        { echo "usage: scripts/load.sh [seconds] [connections] [rounds] [starts] (positive integers)" >&2; exit 2; }
done
command -v wrk >/dev/null 2>&1 && command -v valgrind >/dev/null 2>&1 &&
    command -v taskset >/dev/null 2>&1 ||
    { apt-get update -qq && apt-get install -y --no-install-recommends wrk valgrind util-linux >/dev/null; }
# The server's CPUs and wrk's: halves of the CPUs this process may use (a machine with one CPU:
# both on it).
allowed=()
IFS=, read -ra ranges <<<"$(awk '/^Cpus_allowed_list:/ {print $2}' /proc/self/status)"
for range in "${ranges[@]}"; do
    for ((cpu = ${range%-*}; cpu <= ${range#*-}; cpu++)); do allowed+=("$cpu"); done
done
cpus="${#allowed[@]}"
server_cpus="$(( cpus > 1 ? cpus / 2 : 1 ))"
wrk_threads="$(( cpus > 1 ? cpus - server_cpus : 1 ))"
comma_list() { local IFS=,; echo "$*"; }
server_cpu_list="$(comma_list "${allowed[@]:0:server_cpus}")"
wrk_cpu_list="$(comma_list "${allowed[@]:$(( cpus > 1 ? server_cpus : 0 ))}")"
server_on=(taskset -c "$server_cpu_list")
wrk_on=(taskset -c "$wrk_cpu_list")
[ "$connections" -ge "$wrk_threads" ] ||
    { echo "error: at least $wrk_threads connections (one per wrk thread)" >&2; exit 2; }
# The rounds of a comparison run on one server start after another, this many on each.
per_start=$(( (rounds + starts - 1) / starts ))

cargo build --quiet --release --features testing,jwt --example load_fixture --example whoami_server
work="$(mktemp -d)"
cleanup() {
    # Only the background jobs still running: a pid already reaped may belong to another process.
    for pid in $(jobs -pr); do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

# More distinct proofs than the fresh-proof case can use, so that all of its requests miss.
target/release/examples/load_fixture "$work" 60000 2>"$work/fixture.log" &
for _ in $(seq 600); do [ -s "$work/sts" ] && break; sleep 0.2; done
[ -s "$work/sts" ] || { cat "$work/fixture.log" >&2; exit 1; }

# Starts whoami_server (with the command in the array `under` before it, if any: a profiler);
# sets $server to its pid.
under=()
start_server() { # name port extra-env...
    local name="$1" port="$2"; shift 2
    env IAM_AUTH_LISTEN="127.0.0.1:$port" IAM_AUTH_AUDIENCE=load IAM_AUTH_LOG=warn \
        IAM_AUTH_STS_CONNECT_TO="$(cat "$work/sts")" IAM_AUTH_TRUSTED_ISSUER="$(cat "$work/issuer")" \
        "$@" "${under[@]}" target/release/examples/whoami_server 2>"$work/$name.log" &
    server=$!
    for _ in $(seq 300); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && return; sleep 0.1; done
    cat "$work/$name.log" >&2; exit 1
}

# wrk on its CPUs, with its threads and connections.
wrk_pinned() { "${wrk_on[@]}" wrk -t"$wrk_threads" -c"$connections" "$@"; }

# Runs wrk once; sets $rps, $p99 and $wrk_out (its output), and fails on any refusal.
measure() { # label url [wrk args...]
    local label="$1" url="$2"; shift 2
    local out
    out="$(wrk_pinned -d"${duration}s" --latency "$@" "$url")"
    wrk_out="$out"
    rps="$(awk '/^Requests\/sec/ {print $2}' <<<"$out")"
    p99="$(awk '$1 == "99%" {print $2}' <<<"$out")"
    no_refusals "$label" "$out"
}

# Fails when wrk's output reports any answer other than 2xx.
no_refusals() { # label wrk-output
    if grep -q "Non-2xx" <<<"$2"; then echo "$2" >&2; echo "error: $1 had refusals" >&2; exit 1; fi
}

# wrk's latencies ("812.00us", "1.20ms", "2.01s") in microseconds.
micros() { awk '{v = $1 + 0; if ($1 ~ /ms$/) v *= 1000; else if ($1 ~ /[0-9]s$/) v *= 1000000; print v}'; }

median() { sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# A 95% confidence interval for the median of the values on stdin, from their order statistics
# alone (no assumption about their distribution): the k-th smallest and the k-th largest, k the
# largest rank with P(Binomial(n, 1/2) < k) <= 2.5%. Prints "LOW HIGH", or nothing below 6 values.
median_interval() {
    sort -g | awk '{v[NR] = $1} END {
        n = NR; p = 0.5 ^ n; below = 0; k = 0
        for (i = 0; i < n; i++) { if (below + p > 0.025) break; below += p; k = i + 1; p = p * (n - i) / (i + 1) }
        if (k >= 1) print v[k], v[n - k + 1]
    }'
}

# A port for each server started, so that none waits for the last one's to be free.
next_port=18200
# Starts whoami_server on the server's CPUs (as many tokio workers) with the given environment,
# warms its caches with one request to `path`; sets $port.
start_pinned() { # name path header extra-env...
    local name="$1" path="$2" header="$3"; shift 3
    port=$((next_port++))
    under=("${server_on[@]}")
    start_server "$name" "$port" TOKIO_WORKER_THREADS="$server_cpus" "$@"
    under=()
    curl -fs -H "$header" "http://127.0.0.1:$port$path" >/dev/null
    # A first second of load that counts for neither side: a server just started is slower,
    # and the first round of each start would otherwise always take it for the same side.
    wrk_pinned -d1s -H "$header" "http://127.0.0.1:$port$path" >/dev/null
}
stop_server() { kill "$server"; wait "$server" 2>/dev/null || true; }

# Alternates a baseline and a layered case for $rounds rounds, spread over $starts starts of the
# server; prints the baseline's row and the case's row (medians), with the median of the rounds'
# ratios of the case to the baseline.
compare() { # label baseline_path path header extra-env...
    local label="$1" baseline_path="$2" path="$3" header="$4"; shift 4
    local base_rps=() base_p99=() case_rps=() case_p99=()
    local round
    for round in $(seq "$rounds"); do
        if [ $(( (round - 1) % per_start )) = 0 ]; then
            [ "$round" = 1 ] || stop_server
            start_pinned "server$next_port" "$path" "$header" "$@"
        fi
        # Each goes first every other round, so that any effect of the order (a run that
        # follows another may find the machine warmer or busier) falls on both alike.
        if [ $((round % 2)) = 1 ]; then
            measure "baseline of $label" "http://127.0.0.1:$port$baseline_path" -H "$header"
            base_rps+=("$rps"); base_p99+=("$p99")
        fi
        measure "$label" "http://127.0.0.1:$port$path" -H "$header"
        case_rps+=("$rps"); case_p99+=("$p99")
        if [ $((round % 2)) = 0 ]; then
            measure "baseline of $label" "http://127.0.0.1:$port$baseline_path" -H "$header"
            base_rps+=("$rps"); base_p99+=("$p99")
        fi
    done
    stop_server
    local b c ratio i ratios=()
    b="$(printf '%s\n' "${base_rps[@]}" | median)"
    c="$(printf '%s\n' "${case_rps[@]}" | median)"
    # Each round's case against the baseline run beside it, then the median of those ratios:
    # the machine's drift between rounds (larger than the layer's share) cancels out.
    for i in "${!case_rps[@]}"; do
        ratios+=("$(awk -v a="${case_rps[$i]}" -v b="${base_rps[$i]}" 'BEGIN {print 100 * a / b}')")
    done
    ratio="$(printf '%s\n' "${ratios[@]}" | median)"
    local bp cp low high
    bp="$(printf '%s\n' "${base_p99[@]}" | micros | median)"
    cp="$(printf '%s\n' "${case_p99[@]}" | micros | median)"
    low="$(printf '%s\n' "${ratios[@]}" | sort -g | head -1)"
    high="$(printf '%s\n' "${ratios[@]}" | sort -g | tail -1)"
    local interval="" interval_low="" interval_high=""
    read -r interval_low interval_high < <(printf '%s\n' "${ratios[@]}" | median_interval) || true
    if [ -n "$interval_low" ]; then
        interval="$(awk -v a="$interval_low" -v b="$interval_high" \
            'BEGIN {printf "median in %.1f%% to %.1f%% (95%%), ", a, b}')"
    fi
    printf '| no layer (`/healthz`), same header | %.0f | %.0f µs | baseline |\n' "$b" "$bp"
    printf '| %s | %.0f | %.0f µs | %.1f%% (%srounds: %.0f%% to %.0f%%) |\n' "$label" "$c" "$cp" \
        "$ratio" "$interval" "$low" "$high"
}

proof="Authorization: Bearer $(cat "$work/proof")"
jwt="Authorization: Bearer $(cat "$work/jwt")"
any=(IAM_AUTH_ALLOW_ANY_ACCOUNT=1)

echo "wrk -t$wrk_threads -c$connections -d${duration}s on CPUs $wrk_cpu_list, whoami_server --release" \
    "on CPUs $server_cpu_list ($server_cpus tokio workers), medians of $rounds rounds over" \
    "$(( (rounds + per_start - 1) / per_start )) starts of the server"
echo
# Each layered case is compared with /healthz (no layer) receiving the same Authorization header,
# so that the two differ only by the layer (hyper parses a 1-2 KiB header either way). The p99
# column is the median of the rounds' p99s.
echo "| path | requests/s | p99 | vs no layer, same header |"
echo "|---|---|---|---|"
# The control: the baseline against itself.
compare "control: \`/healthz\` again (no layer)" /healthz /healthz "$proof" "${any[@]}"
compare "\`/ping\`, cached proof" /healthz /ping "$proof" "${any[@]}"
compare "\`/ping\`, cached JWT" /healthz /ping "$jwt" "${any[@]}"
if [ -s "$work/policy20.json" ]; then
    compare "\`/ping\`, cached proof, 20-statement policy" /healthz /ping "$proof" \
        IAM_AUTH_POLICY_FILE="$work/policy20.json"
fi
# The fresh-proof case runs once: each round would need its own unused proofs. Every fresh proof
# is an STS call from 127.0.0.1: lift the STS budgets (cached tokens never spend them).
start_pinned fresh /healthz "$proof" "${any[@]}" IAM_AUTH_STS_BUDGET_PER_CLIENT=100000/1 \
    IAM_AUTH_STS_BUDGET_PER_ACCESS_KEY=100000/1 IAM_AUTH_STS_BUDGET_OVERALL=100000/1
LOAD_TOKENS="$work/fresh.txt" LOAD_THREADS="$wrk_threads" \
    measure "fresh proofs" "http://127.0.0.1:$port/ping" -s scripts/load.lua
stop_server
# load.lua says when a thread ran past its share of the list (its tail would be cache hits).
grep -q "proofs reused" <<<"$wrk_out" && { echo "$wrk_out" >&2; echo "error: too few fresh proofs" >&2; exit 1; }
printf '| `/ping`, fresh proof each request (LocalSts) | %.0f | %.0f µs | |\n' "$rps" "$(micros <<<"$p99")"

# The same comparisons counted in instructions: each server under callgrind with one worker
# thread, the user-space instructions it runs per request (hyper, axum, the layer...) while wrk
# sends one path for $duration seconds, counted from zero after a warm-up. Unlike requests per
# second on a shared machine, these counts repeat from run to run; they leave out the kernel's
# share of each request (most of it here: sockets), which the layer does not change.
# Its dump number N is $work/callgrind.NAME.N (callgrind numbers a process's dumps from 1).
instructions() { # name dump-number port path header -> prints instructions per request
    local name="$1" number="$2" port="$3" path="$4" header="$5" out requests total
    local dump="$work/callgrind.$name.$number"
    wrk -t1 -c8 -d2s -H "$header" "http://127.0.0.1:$port$path" >/dev/null
    timeout 60 callgrind_control -z "$server" >/dev/null 2>>"$work/callgrind_control.log"
    out="$(wrk -t1 -c8 -d"${duration}s" -H "$header" "http://127.0.0.1:$port$path")"
    timeout 60 callgrind_control -d "$server" >/dev/null 2>>"$work/callgrind_control.log"
    no_refusals "$name" "$out"
    requests="$(awk '/requests in/ {print $1}' <<<"$out")"
    for _ in $(seq 100); do [ -s "$dump" ] && break; sleep 0.1; done
    total="$(awk '/^(summary|totals):/ {print $2; exit}' "$dump")"
    [ -n "$total" ] && [ "$requests" -gt 0 ] || { echo "error: no count in $dump" >&2; exit 1; }
    awk -v t="$total" -v n="$requests" 'BEGIN {printf "%.0f", t / n}'
}
compare_instructions() { # label name port header
    local label="$1" name="$2" port="$3" header="$4" base layered
    base="$(instructions "$name" 1 "$port" /healthz "$header")"
    layered="$(instructions "$name" 2 "$port" /ping "$header")"
    printf '| no layer (`/healthz`), same header | %s | baseline |\n' "$base"
    printf '| %s | %s | %+d (%+.1f%%) |\n' "$label" "$layered" "$((layered - base))" \
        "$(awk -v a="$layered" -v b="$base" 'BEGIN {print 100 * (a - b) / b}')"
}
echo
echo "Instructions per request, user space (callgrind, one worker thread, wrk -t1 -c8 -d${duration}s):"
echo
echo "| path | instructions per request | over no layer, same header |"
echo "|---|---|---|"
for name in proof jwt policy; do
    under=(valgrind --tool=callgrind "--callgrind-out-file=$work/callgrind.$name")
    case "$name" in
        policy) [ -s "$work/policy20.json" ] || continue
                start_server "cg.$name" 18183 TOKIO_WORKER_THREADS=1 IAM_AUTH_POLICY_FILE="$work/policy20.json"
                header="$proof"; label="\`/ping\`, cached proof, 20-statement policy" ;;
        proof)  start_server "cg.$name" 18183 TOKIO_WORKER_THREADS=1 IAM_AUTH_ALLOW_ANY_ACCOUNT=1
                header="$proof"; label="\`/ping\`, cached proof" ;;
        jwt)    start_server "cg.$name" 18183 TOKIO_WORKER_THREADS=1 IAM_AUTH_ALLOW_ANY_ACCOUNT=1
                header="$jwt"; label="\`/ping\`, cached JWT" ;;
    esac
    curl -fs -H "$header" http://127.0.0.1:18183/ping >/dev/null
    compare_instructions "$label" "$name" 18183 "$header"
    kill "$server"; wait "$server" 2>/dev/null || true
done
