#!/usr/bin/env bash
# The one test command: sets up what the tests need, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

# The third-party peers of the interop tests (moto, ministack, botocore, hvac, awscli, PyJWT),
# pinned in tests/interop/requirements.txt, live in a local virtual environment. It is created on
# the first run and re-installed whenever the requirements change (a hash stamp in .venv/).
echo "== python peers (.venv)"
requirements=tests/interop/requirements.txt
if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
wanted_stamp="$( (cat "$requirements"; .venv/bin/python --version) | sha256sum | cut -d' ' -f1)"
if [ "$(cat .venv/requirements.sha256 2>/dev/null || true)" != "$wanted_stamp" ]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r "$requirements"
    echo "$wanted_stamp" >.venv/requirements.sha256
fi
export IAM_AUTH_PYTHON="$PWD/.venv/bin/python"
export PATH="$PWD/.venv/bin:$PATH"

# The shared-cache tests (tests/shared_cache.rs) start their own redis-server on a free loopback
# port, or three of them formed into a Redis Cluster (with CLUSTER commands, no redis-cli);
# Debian's package provides it.
echo "== redis-server"
if ! command -v redis-server >/dev/null 2>&1; then
    apt-get update -qq && apt-get install -y --no-install-recommends redis-server >/dev/null
fi

# The second seed flow's peers in other languages: Go with go-oidc from Debian's packages (built
# in GOPATH mode by the test, no module download), and the npm packages pinned in
# tests/interop/js/package-lock.json (installed again only when the lock file changes).
echo "== go and npm peers"
if ! command -v go >/dev/null 2>&1 || [ ! -d /usr/share/gocode/src/github.com/coreos/go-oidc ]; then
    apt-get install -y -q golang-go golang-github-coreos-go-oidc-dev >/dev/null \
        || { apt-get update -q >/dev/null && apt-get install -y -q golang-go golang-github-coreos-go-oidc-dev >/dev/null; }
fi
js=tests/interop/js
if ! cmp -s "$js/package-lock.json" "$js/node_modules/.package-lock.json.installed" 2>/dev/null; then
    (cd "$js" && npm ci --no-audit --no-fund --silent)
    cp "$js/package-lock.json" "$js/node_modules/.package-lock.json.installed"
fi

# curl: the `iam-auth curl` tests run the real one.
if ! command -v curl >/dev/null 2>&1; then
    echo "== curl (Debian package)"
    apt-get update -qq && apt-get install -y -qq curl
fi

echo "== unit, integration and example tests (all features)"
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --all-features --no-fail-fast
else
    cargo test --all-features --no-fail-fast
fi

echo "== doctests (README included)"
cargo test --doc --all-features

echo "== each feature compiles on its own, without warnings"
for features in "" server client testing jwt kms metrics aws-config cli reqwest-middleware redis; do
    out="$(cargo check --quiet --no-default-features --features "$features" --lib 2>&1)" || {
        echo "$out" >&2
        exit 1
    }
    if grep -qE "^(warning|error)" <<<"$out"; then
        echo "$out" >&2
        echo "features [$features] do not build without warnings" >&2
        exit 1
    fi
done

echo "== quickstart"
cargo run --quiet --example quickstart

# A short fuzz of every parser an attacker reaches (cargo-fuzz, nightly): 20 s per target. Long
# runs: scripts/fuzz.sh SECONDS. The soak (scripts/soak.sh) is not part of this run.
echo "== fuzz (20 s per target)"
bash scripts/fuzz.sh 20
