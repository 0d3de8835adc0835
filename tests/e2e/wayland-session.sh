#!/usr/bin/env bash
# Runs COMMAND... inside a headless Wayland desktop of its own, as the unprivileged user the test
# created (a session bus admits its owner only; sway refuses root), on the D-Bus session bus it
# is started in (dbus-run-session). COMPOSITOR=mutter (the default): PipeWire, WirePlumber,
# GNOME's mutter (--headless, one virtual monitor of $SIZE, default 1280x720; no GPU needed:
# frames in shared memory) and the portals; with CLICK="X,Y ..." it also answers the desktop's
# dialog by clicking there ($CLICK_BIN, desktopclick). COMPOSITOR=sway: sway on wlroots'
# headless backend and software renderer, one output HEADLESS-1 of $SIZE. Everything it started
# ends with it.
set -u
size=${SIZE:-1280x720}
compositor=${COMPOSITOR:-mutter}
export XDG_SESSION_TYPE=wayland
log=$XDG_RUNTIME_DIR/log
mkdir -p "$log"
trap 'kill $(jobs -p) 2>/dev/null' EXIT
trap 'exit 143' TERM INT
if [ "$compositor" = sway ]; then
  export XDG_CURRENT_DESKTOP=sway
  printf 'xwayland disable\noutput HEADLESS-1 resolution %s\ndefault_border none\n' "$size" >"$XDG_RUNTIME_DIR/sway.conf"
  WLR_BACKENDS=headless WLR_RENDERER=pixman WLR_LIBINPUT_NO_DEVICES=1 \
    sway --config "$XDG_RUNTIME_DIR/sway.conf" >"$log/sway.log" 2>&1 &
else
  export XDG_CURRENT_DESKTOP=GNOME
  pipewire >"$log/pipewire.log" 2>&1 &
  wireplumber >"$log/wireplumber.log" 2>&1 &
  mutter --headless --virtual-monitor "$size" --wayland --no-x11 >"$log/mutter.log" 2>&1 &
fi
for _ in $(seq 100); do
  ls "$XDG_RUNTIME_DIR"/wayland-? >/dev/null 2>&1 && break
  sleep 0.1
done
socket=$(ls "$XDG_RUNTIME_DIR"/wayland-? 2>/dev/null | head -1)
if [ -z "$socket" ]; then
  echo "wayland-session: $compositor did not start:" >&2
  cat "$log/$compositor.log" >&2
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
