#!/usr/bin/env bash
# The whole Baoming test suite, from a fresh checkout: formatting, lints, every Rust test
# (unit, property and end-to-end), and a smoke run of every benchmark.
# It installs what it needs by itself and stops at the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "npm packages of the interop test (a stock automerge-repo client)"
npm install --prefix tests/interop --no-save --no-audit --no-fund --loglevel=error

step "a real browser for the payment page test (Debian's chromium, driven by playwright-core)"
if [ ! -x /usr/bin/chromium ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq chromium >/dev/null
fi
npm install --prefix tests/browser --no-save --no-audit --no-fund --loglevel=error

step "formatting (cargo fmt --check)"
cargo fmt --all -- --check

step "lints (cargo clippy -D warnings)"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "API docs build without broken links (cargo doc -D warnings)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features --locked --quiet

step "fuzz targets type-check (they run with cargo-fuzz, see core/fuzz/README.md)"
cargo check --manifest-path core/fuzz/Cargo.toml --locked --quiet

step "benchmarks, each run once as a smoke test (small sizes, against the debug server)"
# The figures in the README come from release builds (`cargo bench`); here the harnesses only
# have to work end to end, so they drive the debug binary the tests build anyway.
cargo build -p baoming-server --bin baoming-server --locked --quiet
# (--bench '*' selects the bench targets only; --benches would run every unit test again)
BENCH_SERVER_BINARY="${CARGO_TARGET_DIR:-$PWD/target}/debug/baoming-server" \
  cargo test --workspace --all-features --locked --quiet --bench '*'

step "tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --all-features --locked --no-fail-fast
else
  cargo test --workspace --all-features --locked --no-fail-fast
fi

step "bindings: the wheel and the jar (dist profile), then the host suites on them"
bash bindings/run-tests.sh
