#!/usr/bin/env bash
# Fuzzes the parsers of untrusted bytes for a while each (default 60 s):
#   scripts/fuzz.sh [SECONDS] [TARGET...]
# Targets: input_event, signal_message, session_offer, nat_datagram, ws_frame, viewer_message. Uses cargo-fuzz (installed if missing);
# on a stable toolchain RUSTC_BOOTSTRAP=1 lets it use the sanitizer flags it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-60}"
shift || true
targets=("$@")
[ "${#targets[@]}" -gt 0 ] || targets=(input_event signal_message session_offer nat_datagram ws_frame viewer_message)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in "${targets[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  echo "==> fuzzing $t for ${secs}s"
  if ! cargo fuzz run -O "$t" "fuzz/corpus/$t" "fuzz/corpus-seed/$t" -- -max_total_time="$secs" -rss_limit_mb=2048 >"$log" 2>&1; then
    echo "fuzz target $t failed; the crashing input is under fuzz/artifacts/$t/:" >&2
    tail -40 "$log" >&2
    exit 1
  fi
  grep -E "^Done [0-9]+ runs" "$log" || tail -3 "$log"
done
