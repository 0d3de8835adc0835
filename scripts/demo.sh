#!/usr/bin/env bash
# Builds peerdesk and runs the demo: a signaling server and a test-scene host on this machine.
# Open the link it prints. Arguments are passed on (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# With FFmpeg's libraries present (scripts/setup.sh --ffmpeg), the host can encode with x264 or
# a GPU, and with libaom's AV1 (--codec av1); without them, with the built-in openh264. With
# libpipewire (scripts/setup.sh --wayland) it can stream a Wayland desktop (--source wayland).
features=()
if compgen -G "/usr/lib/llvm-*/lib/libclang*.so*" >/dev/null; then
  with=()
  pkg-config --exists libavcodec libavformat libavutil 2>/dev/null && with+=(ffmpeg)
  pkg-config --exists aom 2>/dev/null && with+=(av1)
  pkg-config --exists libpipewire-0.3 2>/dev/null && with+=(wayland)
  if [ "${#with[@]}" -gt 0 ]; then
    features=(--features "$(IFS=,; echo "${with[*]}")")
  fi
fi
cargo build --locked -p peerdesk "${features[@]+"${features[@]}"}"
exec ./target/debug/peerdesk demo "$@"
