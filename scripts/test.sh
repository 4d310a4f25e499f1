#!/usr/bin/env bash
# The one test command: sets up what the tests need, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== unit, integration and example tests (all features)"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --all-features --no-fail-fast
else
    cargo test --all-features --no-fail-fast
fi

echo "== doctests (README included)"
cargo test --doc --all-features

echo "== each feature compiles on its own"
for features in server client testing; do
    cargo check --quiet --no-default-features --features "$features" --lib
done
cargo check --quiet --no-default-features --lib

echo "== quickstart"
cargo run --quiet --example quickstart
