// Gamepads (Gamepad API, standard mapping) to the host: up to 4 pads, each pad's whole state on
// every change and again every 100 ms while anything is held (the channel is unordered and
// lossy: a lost state is replaced by the next), a pad that goes away is announced, and the
// host's rumble plays on the pad it names.

import { MAX_GAMEPADS } from './protocol.js';

/** While anything is held, the state is sent again this often. */
export const RESEND_MS = 100;

function axis(v) {
  if (!Number.isFinite(v)) return 0;
  const c = Math.max(-1, Math.min(1, v));
  return c >= 0 ? Math.round(c * 32767) : Math.round(c * 32768);
}

function trigger(b) {
  const v = typeof b === 'object' ? b?.value : b;
  return Number.isFinite(v) ? Math.round(Math.max(0, Math.min(1, v)) * 255) : 0;
}

/** A pad's state as the wire carries it ({buttons, lt, rt, lx, ly, rx, ry}). */
export function padState(pad) {
  let buttons = 0;
  const bs = pad.buttons || [];
  for (let i = 0; i < 17 && i < bs.length; i++) {
    const b = bs[i];
    const pressed = typeof b === 'object' ? b.pressed || b.value > 0.5 : b > 0.5;
    if (pressed) buttons |= 1 << i;
  }
  const a = pad.axes || [];
  return { buttons, lt: trigger(bs[6]), rt: trigger(bs[7]), lx: axis(a[0]), ly: axis(a[1]), rx: axis(a[2]), ry: axis(a[3]) };
}

function atRest(s) {
  return !s.buttons && !s.lt && !s.rt && !s.lx && !s.ly && !s.rx && !s.ry;
}

export class Gamepads {
  /**
   * @param {{send: (ev: object) => boolean, getGamepads?: () => (Gamepad|null)[],
   *          now?: () => number, schedule?: (f: () => void) => void}} opts
   */
  constructor({ send, getGamepads, now = () => performance.now(), schedule = (f) => requestAnimationFrame(f) }) {
    this.send = send;
    this.getGamepads = getGamepads || (() => (navigator.getGamepads ? [...navigator.getGamepads()] : []));
    this.now = now;
    this.schedule = schedule;
    this.enabled = false;
    // Per browser index: the last state sent and when.
    this.sent = new Map();
    // The rumbles played, for people debugging (and the tests).
    this.rumbles = [];
  }

  /** Controllers only; turning off tells the host every pad went. */
  setEnabled(on) {
    if (on === this.enabled) return;
    this.enabled = on;
    if (!on) {
      for (const index of this.sent.keys()) this.send({ type: 'gamepad_removed', index });
      this.sent.clear();
      return;
    }
    const loop = () => {
      if (!this.enabled) return;
      this.poll();
      this.schedule(loop);
    };
    loop();
  }

  /** Looks at every pad once: sends what changed, what is held, and what went away. */
  poll() {
    const t = this.now();
    const pads = this.getGamepads() || [];
    const seen = new Set();
    for (const pad of pads) {
      if (!pad || pad.connected === false || !(pad.index >= 0 && pad.index < MAX_GAMEPADS)) continue;
      seen.add(pad.index);
      const state = padState(pad);
      const last = this.sent.get(pad.index);
      const changed = !last || Object.keys(state).some((k) => state[k] !== last.state[k]);
      const due = last && !atRest(state) && t - last.at >= RESEND_MS;
      if (!changed && !due) continue;
      if (this.send({ type: 'gamepad', index: pad.index, ...state })) this.sent.set(pad.index, { state, at: t });
    }
    for (const index of [...this.sent.keys()]) {
      if (seen.has(index)) continue;
      if (this.send({ type: 'gamepad_removed', index })) this.sent.delete(index);
    }
  }

  /** The host's `rumble` message: plays it on that pad where the browser can. */
  rumble(m) {
    if (!Number.isInteger(m.index)) return;
    const pad = (this.getGamepads() || []).find((p) => p && p.index === m.index);
    const actuator = pad?.vibrationActuator;
    const effect = {
      startDelay: 0,
      duration: Math.max(0, Math.min(5000, Number(m.duration_ms) || 0)),
      strongMagnitude: Math.max(0, Math.min(1, Number(m.strong) || 0)),
      weakMagnitude: Math.max(0, Math.min(1, Number(m.weak) || 0)),
    };
    this.rumbles.push({ index: m.index, ...effect });
    if (this.rumbles.length > 50) this.rumbles.shift();
    if (!actuator) return;
    const stop = effect.duration === 0 || (effect.strongMagnitude === 0 && effect.weakMagnitude === 0);
    const done = stop ? actuator.reset?.() : actuator.playEffect?.('dual-rumble', effect);
    done?.catch?.(() => {});
  }
}
