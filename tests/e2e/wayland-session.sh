#!/usr/bin/env bash
# Runs COMMAND... inside a headless Wayland desktop of its own: PipeWire, WirePlumber, GNOME's
# mutter (--headless, one virtual monitor of $SIZE, default 1280x720; no GPU needed: frames in
# shared memory) and the portals, on the D-Bus session bus it is started in (dbus-run-session),
# as the unprivileged user the test created (a session bus admits its owner only). With
# CLICK="X,Y ..." it also answers the desktop's "Screen Share" dialog by clicking there
# ($CLICK_BIN, desktopclick). Everything it started ends with it.
set -u
size=${SIZE:-1280x720}
export XDG_CURRENT_DESKTOP=GNOME XDG_SESSION_TYPE=wayland
log=$XDG_RUNTIME_DIR/log
mkdir -p "$log"
trap 'kill $(jobs -p) 2>/dev/null' EXIT
trap 'exit 143' TERM INT
pipewire >"$log/pipewire.log" 2>&1 &
wireplumber >"$log/wireplumber.log" 2>&1 &
mutter --headless --virtual-monitor "$size" --wayland --no-x11 >"$log/mutter.log" 2>&1 &
for _ in $(seq 100); do
  ls "$XDG_RUNTIME_DIR"/wayland-? >/dev/null 2>&1 && break
  sleep 0.1
done
socket=$(ls "$XDG_RUNTIME_DIR"/wayland-? 2>/dev/null | head -1)
if [ -z "$socket" ]; then
  echo "wayland-session: mutter did not start:" >&2
  cat "$log/mutter.log" >&2
  exit 1
fi
export WAYLAND_DISPLAY=${socket##*/}
# The portals are started by D-Bus activation: they need the display and the desktop's name.
dbus-update-activation-environment WAYLAND_DISPLAY XDG_CURRENT_DESKTOP XDG_SESSION_TYPE
if [ -n "${CLICK:-}" ]; then
  # shellcheck disable=SC2086
  "$CLICK_BIN" --after 3 --hold 10 $CLICK &
fi
"$@" &
wait $!
