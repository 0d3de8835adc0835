#!/usr/bin/env bash
# Fuzzes the parsers of untrusted bytes for a while each (default 60 s):
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# Targets: input_event, signal_message, session_offer. Uses cargo-fuzz (installed if missing);
# on a stable toolchain RUSTC_BOOTSTRAP=1 lets it use the sanitizer flags it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
shift || true
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(input_event signal_message session_offer)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  echo "==> fuzzing $t for ${secs}s"
  cargo fuzz run -O "$t" "fuzz/corpus/$t" "fuzz/corpus-seed/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 2>&1 | grep -E "^(#[0-9]+.*(DONE|pulse)|Done|==[0-9]+==|SUMMARY|panicked)" | tail -3
done
