#!/usr/bin/env bash
# Runs every test: formatting and lints, the Rust unit and integration tests, the web client's
# unit tests, and the end-to-end tests in Chromium. Installs what they need first.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --test

# The server flood tests hold a thousand connections: allow what the hard limit allows.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

started=$(date +%s)
step() { printf '\n==> %s (%ss)\n' "$1" "$(( $(date +%s) - started ))"; }

step "cargo fmt --check"
cargo fmt --all --check
# Everything is built, linted and tested with FFmpeg's encoders (`--all-features`); peerdesk-encode,
# the one crate whose code changes with the feature, is linted without it too, since a build
# without FFmpeg must keep working (the Windows build below is one as well).
step "cargo clippy"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
cargo clippy -p peerdesk-encode --all-targets --locked -- -D warnings
step "cargo build"
cargo build --workspace --all-features --locked
step "the Windows host: clippy and peerdesk.exe (x86_64-pc-windows-gnu, mingw-w64)"
./scripts/windows-build.sh
step "cargo test"
cargo test --workspace --all-features --locked
step "web client unit tests"
node --test web/test/
step "end-to-end tests in Chromium"
node --test --test-concurrency=1 tests/e2e/
step "fuzzing each parser of untrusted bytes briefly (PEERDESK_FUZZ_SECS, default 15)"
./scripts/fuzz.sh "${PEERDESK_FUZZ_SECS:-15}"
step "all tests passed"
