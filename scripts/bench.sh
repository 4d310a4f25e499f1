#!/usr/bin/env bash
# Runs the criterion benches and prints the README's table: medians, and the difference to the
# baseline measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
# `jwt` adds the JWT benches (jwt/*, server/jwt_cached_hit, server/jwt_uncached).
cargo bench --bench server --features jwt -- "$@"
cargo bench --bench policy -- "$@"
# The cost of the `metrics` feature on the hot path: the layer's benches again with it on, saved
# as the criterion baseline `metrics` (no recorder installed: the instrumentation itself).
cargo bench --bench server --features jwt,metrics -- --save-baseline metrics '^server/(bare|proof_cache_hit)$'
python3 - <<'PY'
import json, pathlib
root = pathlib.Path("target/criterion")
# "base": criterion's default baseline, which the first runs save; "new" is whichever ran last
# (here the `metrics` run, for server/bare and server/proof_cache_hit).
def median(name, baseline="base"):
    # Criterion turns '/' in a group name into '_': "policy/evaluate/x/y" is "policy_evaluate_x/y".
    group, function = name.rsplit("/", 1)
    est = root / group.replace("/", "_") / function / baseline / "estimates.json"
    return json.loads(est.read_text())["median"]["point_estimate"] if est.exists() else None
rows = [("server/bare", "server/bare"), ("server/static_bearer", "server/bare"),
        ("server/proof_cache_hit", "server/bare"),
        ("server/proof_cache_hit_wrapped", "server/proof_cache_hit"),
        ("server/proof_cache_hit_router_layer", "server/proof_cache_hit"),
        ("server/proof_cache_hit_policy", "server/proof_cache_hit"),
        ("policy/evaluate/20_statements/allow_last", None),
        ("policy/evaluate/20_statements/deny_first", None),
        ("policy/evaluate/20_statements/implicit_deny", None),
        ("server/proof_reject_malformed", "server/bare"), ("proof/parse_validate", None),
        ("server/jwt_cached_hit", "server/bare"), ("server/jwt_uncached", "server/bare"), ("jwt/verify_rs256", "jwt/decode_raw_rs256"),
        ("jwt/decode_raw_rs256", None), ("jwt/verify_es256", None), ("jwt/verify_eddsa", None)]
print("| bench | median | vs baseline |")
print("|---|---|---|")
for name, base in rows:
    m = median(name)
    if m is None:
        continue
    diff = ""
    if base and base != name and median(base) is not None:
        b = median(base)
        diff = f"{(m - b) / 1000:+.2f} µs ({m / b:.2f}x `{base}`)"
    elif base == name:
        diff = "baseline"
    print(f"| `{name}` | {m / 1000:.2f} µs | {diff} |")
print()
# The overhead benches time each case against server/bare in alternating blocks: their median is
# the difference itself, which the two separate medians above only approximate.
print("| over `server/bare`, paired | median |")
print("|---|---|")
for name in ("static_bearer", "proof_cache_hit", "proof_cache_hit_wrapped",
             "proof_cache_hit_router_layer", "proof_cache_hit_policy", "jwt_cached_hit"):
    m = median(f"overhead/{name}")
    if m is not None:
        print(f"| `{name}` | {m / 1000:.2f} µs |")
print()
print("| bench | without `metrics` | with `metrics` | difference |")
print("|---|---|---|---|")
for name in ("server/bare", "server/proof_cache_hit"):
    off, on = median(name, "base"), median(name, "metrics")
    if off is not None and on is not None:
        print(f"| `{name}` | {off / 1000:.2f} µs | {on / 1000:.2f} µs | {(on - off) / 1000:+.2f} µs |")
PY
