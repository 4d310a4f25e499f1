#!/usr/bin/env bash
# Requests per second and p99 latency of whoami_server (release build) under wrk, for:
#   no layer (/healthz), /ping with a cached proof, with a cached JWT, a cached proof with the
#   20-statement policy of benches/common/policy20.rs, and the fresh-proof path (every request a
#   distinct proof verified by LocalSts).
# Then the same comparisons in instructions per request, under callgrind (see the end).
# Not run in CI: a full run takes about ten minutes on top of the release build.
# Usage: scripts/load.sh [seconds per round, default 3] [connections, default 32]
#                        [pairs of rounds, default 16] [server starts per case, default 4]
# The server and wrk do not share cores: the servers run on the first half of the CPUs (as many
# tokio workers each), wrk on the other half, so that the servers' cores are what runs out and the
# figures are the servers' throughput. Each cached case is compared with its baseline (/healthz,
# no layer, with the same Authorization header) by loading both at the same time, on two servers
# that share the servers' CPUs (see compare), in pairs of rounds in which the two servers swap
# paths; the pairs are spread over several starts of the servers. The table gives the median of
# the pairs' ratios, with a 95% confidence interval for that median (from the pairs' order
# statistics) and the pairs' range, and each path's requests/s and p99 measured alone. A control
# row compares the baseline with itself: the spread that the method shows where there is no
# difference.
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
# A comparison runs two wrk at once, with half the connections each.
half_connections=$(( connections / 2 ))
[ "$half_connections" -ge "$wrk_threads" ] ||
    { echo "error: at least $(( 2 * wrk_threads )) connections (one per thread of two wrk)" >&2; exit 2; }
# The pairs of rounds of a comparison run on one start of its servers after another, this many on
# each.
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

# Starts two servers alike (see start_pinned) for a comparison, both on the server's CPUs; sets
# $server_a/$port_a and $server_b/$port_b, each warmed on both paths.
start_pair() { # baseline_path path header extra-env...
    local baseline_path="$1" path="$2" header="$3"; shift 3
    start_pinned "server$next_port" "$path" "$header" "$@"
    server_a="$server" port_a="$port"
    start_pinned "server$next_port" "$path" "$header" "$@"
    server_b="$server" port_b="$port"
    curl -fs -H "$header" "http://127.0.0.1:$port_a$baseline_path" >/dev/null
    curl -fs -H "$header" "http://127.0.0.1:$port_b$baseline_path" >/dev/null
}
stop_pair() { kill "$server_a" "$server_b"; wait "$server_a" "$server_b" 2>/dev/null || true; }

# Loads two URLs at once, each with its own wrk (half the connections, wrk's threads each) for
# $duration seconds; sets $rps_1 and $rps_2, and fails on any refusal.
measure_pair() { # label url_1 url_2 header
    local label="$1" url_1="$2" url_2="$3" header="$4" out_1 out_2
    out_1="$work/pair.1" out_2="$work/pair.2"
    "${wrk_on[@]}" wrk -t"$wrk_threads" -c"$half_connections" -d"${duration}s" -H "$header" \
        "$url_1" >"$out_1" &
    local first=$!
    "${wrk_on[@]}" wrk -t"$wrk_threads" -c"$half_connections" -d"${duration}s" -H "$header" \
        "$url_2" >"$out_2"
    wait "$first"
    no_refusals "$label" "$(cat "$out_1")"
    no_refusals "$label" "$(cat "$out_2")"
    rps_1="$(awk '/^Requests\/sec/ {print $2}' "$out_1")"
    rps_2="$(awk '/^Requests\/sec/ {print $2}' "$out_2")"
}

# Compares a layered case with its baseline, both loaded at the same time on two servers that
# share the server's CPUs: the scheduler gives each server the same CPU time, so the ratio of
# their throughputs is the inverse ratio of their costs per request, and whatever the machine
# does meanwhile (its speed drifts by several points within seconds on this VM) hits both alike.
# Separate processes of one build can differ by up to about three points in speed, so the servers
# swap paths every round: a pair of rounds gives the geometric mean of the two ratios, in which the
# servers' own speeds cancel. $rounds pairs, spread over $starts starts of the two servers.
# Then each path alone on one server, one round per start, for requests/s and p99 as a client
# sees them (wrk with all the connections). Prints the baseline's row and the case's row (medians
# of the rounds alone), with the median of the pairs' ratios, a 95% confidence interval for that
# median, and the pairs' range.
compare() { # label baseline_path path header extra-env...
    local label="$1" baseline_path="$2" path="$3" header="$4"; shift 4
    local base_rps=() base_p99=() case_rps=() case_p99=() ratios=()
    local pair first
    for pair in $(seq "$rounds"); do
        if [ $(( (pair - 1) % per_start )) = 0 ]; then
            start_pair "$baseline_path" "$path" "$header" "$@"
        fi
        measure_pair "$label" "http://127.0.0.1:$port_a$baseline_path" \
            "http://127.0.0.1:$port_b$path" "$header"
        first="$(awk -v base="$rps_1" -v layered="$rps_2" 'BEGIN {print layered / base}')"
        measure_pair "$label" "http://127.0.0.1:$port_b$baseline_path" \
            "http://127.0.0.1:$port_a$path" "$header"
        ratios+=("$(awk -v first="$first" -v base="$rps_1" -v layered="$rps_2" \
            'BEGIN {print 100 * sqrt(first * layered / base)}')")
        if [ $(( pair % per_start )) = 0 ] || [ "$pair" = "$rounds" ]; then
            # Alone, each first every other start.
            local alone
            for alone in 1 2; do
                if [ $(( (alone + pair / per_start) % 2 )) = 0 ]; then
                    measure "baseline of $label" "http://127.0.0.1:$port_a$baseline_path" -H "$header"
                    base_rps+=("$rps"); base_p99+=("$p99")
                else
                    measure "$label" "http://127.0.0.1:$port_a$path" -H "$header"
                    case_rps+=("$rps"); case_p99+=("$p99")
                fi
            done
            stop_pair
        fi
    done
    local b c ratio bp cp low high
    b="$(printf '%s\n' "${base_rps[@]}" | median)"
    c="$(printf '%s\n' "${case_rps[@]}" | median)"
    ratio="$(printf '%s\n' "${ratios[@]}" | median)"
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
    printf '| %s | %.0f | %.0f µs | %.1f%% (%spairs: %.1f%% to %.1f%%) |\n' "$label" "$c" "$cp" \
        "$ratio" "$interval" "$low" "$high"
}

proof="Authorization: Bearer $(cat "$work/proof")"
jwt="Authorization: Bearer $(cat "$work/jwt")"
any=(IAM_AUTH_ALLOW_ANY_ACCOUNT=1)

echo "whoami_server --release on CPUs $server_cpu_list ($server_cpus tokio workers), wrk -t$wrk_threads" \
    "on CPUs $wrk_cpu_list; ratios: two servers loaded at once, two wrk -c$half_connections" \
    "-d${duration}s, median of $rounds pairs of rounds over $(( (rounds + per_start - 1) / per_start ))" \
    "starts of the servers; requests/s and p99: each path alone, wrk -c$connections" \
    "-d${duration}s, medians of one round per start"
echo
# Each layered case is compared with /healthz (no layer) receiving the same Authorization header,
# so that the two differ only by the layer (hyper parses a 1-2 KiB header either way).
echo "| path | requests/s (alone) | p99 (alone) | vs no layer, same header, loaded at once |"
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
