#!/usr/bin/env bash
# Installs what peerdesk needs on Debian 12, idempotently: build tools for the demo; with
# --ffmpeg also FFmpeg's libraries for the x264 and GPU encoders (`--features ffmpeg`) and
# libaom for AV1 in software (`--features av1`); with --wayland libpipewire for Wayland capture
# (`--features wayland`); with
# --test also FFmpeg's and what the tests need (Chromium, Xvfb, PulseAudio, coturn, Redis, mingw-w64, Wine and the Rust
# target x86_64-pc-windows-gnu for the Windows build, ip and iptables for the network
# namespaces of the loss tests, the npm packages; a headless GNOME desktop for the Wayland tests:
# mutter, PipeWire, WirePlumber, the portals, and sway). Uses sudo when not root.
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
want_ffmpeg=0
want_wayland=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1; want_ffmpeg=1; want_wayland=1 ;;
    --ffmpeg) want_ffmpeg=1 ;;
    --wayland) want_wayland=1 ;;
    *) echo "setup: unknown option $arg (use --ffmpeg, --wayland and/or --test)" >&2; exit 2 ;;
  esac
done
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"

pkgs=(build-essential pkg-config nasm cmake libpulse-dev)
if [ "$want_ffmpeg" = 1 ]; then
  # libavcodec (with libx264, NVENC, VAAPI and QSV), libaom (AV1), and libclang for the
  # generated bindings.
  pkgs+=(libavcodec-dev libavformat-dev libavutil-dev libaom-dev libclang-dev)
fi
if [ "$want_wayland" = 1 ]; then
  # The ScreenCast portal's streams (libpipewire; libclang for the generated bindings).
  pkgs+=(libpipewire-0.3-dev libclang-dev)
fi
if [ "$want_test" = 1 ]; then
  # Wayland desktops of the tests' own, headless without a GPU: GNOME's mutter (with PipeWire
  # and the portals) and sway (wlroots); pgrep finds the session's processes.
  pkgs+=(mutter pipewire wireplumber dbus xdg-desktop-portal xdg-desktop-portal-gnome sway wl-clipboard procps)
  pkgs+=(mingw-w64 wine wine64 chromium xvfb tigervnc-standalone-server x11-xserver-utils xclip fonts-dejavu-core pulseaudio pulseaudio-utils iproute2 iptables coturn redis-server nodejs npm)
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A newer Node.js than Debian's may already be installed outside dpkg; that one is fine.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do [ "$p" = nodejs ] || [ "$p" = npm ] || filtered+=("$p"); done
  missing=("${filtered[@]+"${filtered[@]}"}")
fi
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null; then
  echo "setup: Rust is not installed. Install it with rustup (https://rustup.rs), then run this again." >&2
  exit 1
fi

if [ "$want_test" = 1 ] && command -v rustup >/dev/null; then
  # The Windows host is built (not run) in every test run.
  if ! rustup target list --installed | grep -qx x86_64-pc-windows-gnu; then
    echo "setup: adding the Rust target x86_64-pc-windows-gnu"
    rustup target add x86_64-pc-windows-gnu
  fi
fi

if [ "$want_test" = 1 ]; then
  # Every dev dependency at the version package.json pins, or npm ci puts them there.
  stale=$(node -e "
    const deps = require('./package.json').devDependencies;
    const bad = Object.entries(deps).filter(([n, v]) => {
      try { return require('./node_modules/' + n + '/package.json').version !== v; } catch { return true; }
    });
    console.log(bad.map(([n]) => n).join(' '));")
  if [ -n "$stale" ]; then
    echo "setup: installing npm packages"
    npm ci --no-audit --no-fund --loglevel=error
  fi
fi
