// The settings panel: the stream's size, frame rate and bitrate cap (the viewer in control
// chooses; the host applies them live, within its own limits), this viewer's sound, and the
// stats overlay. Choices persist in this browser and are sent again on every connection.

const KEY = 'peerdesk.settings';
const HEIGHTS = [2160, 1440, 1080, 900, 720, 540, 480, 360];
const RATES = [240, 144, 120, 90, 60, 50, 30, 25, 20, 15];
const MBITS = [100, 50, 30, 20, 15, 10, 8, 5, 3, 2, 1];

/** The stored choices, sanitised: {height, fps, max_kbps} (null = the host's own) and audio. */
export function loadChoices(storage = globalThis.localStorage) {
  let raw = null;
  try { raw = JSON.parse(storage?.getItem(KEY) ?? 'null'); } catch { raw = null; }
  const num = (v, lo, hi) => (Number.isInteger(v) && v >= lo && v <= hi ? v : null);
  return {
    height: num(raw?.height, 144, 4320),
    fps: num(raw?.fps, 1, 240),
    max_kbps: num(raw?.max_kbps, 100, 500000),
    audio: raw?.audio !== false,
  };
}

export function saveChoices(choices, storage = globalThis.localStorage) {
  try { storage?.setItem(KEY, JSON.stringify(choices)); } catch { /* not remembered */ }
}

/** The `settings` message for the host. */
export function settingsMessage(c) {
  return { type: 'settings', stream: { height: c.height, fps: c.fps, max_kbps: c.max_kbps }, audio: c.audio };
}

/**
 * The options of each list for the host's limits ({width, height, max_fps, max_kbps}): [value,
 * label] pairs, null standing for the host's own. Only what the host can give is offered.
 */
export function options(limits) {
  const { width, height, max_fps: maxFps, max_kbps: maxKbps } = limits;
  const native = width && height ? `Native (${width}\u00d7${height})` : 'Native';
  const sizes = [[null, native]];
  for (const h of HEIGHTS) {
    if (height && h < height) sizes.push([h, `${Math.round((width * h) / height / 2) * 2}\u00d7${h}`]);
  }
  const rates = [[null, `${maxFps} fps (the host's)`]];
  for (const r of RATES) if (r < maxFps) rates.push([r, `${r} fps`]);
  const mbps = (k) => (k >= 10000 ? `${Math.round(k / 1000)}` : `${(k / 1000).toFixed(1).replace(/\.0$/, '')}`);
  const bitrates = [[null, `Automatic, up to ${mbps(maxKbps)} Mbit/s`]];
  for (const m of MBITS) if (m * 1000 < maxKbps) bitrates.push([m * 1000, `At most ${m} Mbit/s`]);
  return { sizes, rates, bitrates };
}

export class SettingsPanel {
  /**
   * @param {Document} doc
   * @param {{send: (m: object) => boolean, toggleOverlay: () => void, overlayShown: () => boolean,
   *          onClose?: () => void}} hooks
   */
  constructor(doc, hooks, storage = globalThis.localStorage) {
    this.doc = doc;
    this.hooks = hooks;
    this.storage = storage;
    this.panel = doc.getElementById('settings');
    this.button = doc.getElementById('settings-toggle');
    this.size = doc.getElementById('set-size');
    this.fps = doc.getElementById('set-fps');
    this.bitrate = doc.getElementById('set-bitrate');
    this.audio = doc.getElementById('set-audio');
    this.overlay = doc.getElementById('set-overlay');
    this.note = doc.getElementById('settings-note');
    this.choices = loadChoices(storage);
    this.limits = null;
    this.role = null;
    this.button.addEventListener('click', (e) => {
      e.stopPropagation();
      this.toggle();
    });
    doc.getElementById('settings-close').addEventListener('click', () => this.toggle(false));
    // Keys typed in the panel stay in the panel (Escape closes it).
    this.panel.addEventListener('keydown', (e) => {
      e.stopPropagation();
      if (e.key === 'Escape') this.toggle(false);
    });
    this.panel.addEventListener('keyup', (e) => e.stopPropagation());
    this.panel.addEventListener('pointerdown', (e) => e.stopPropagation());
    const pick = (el, field) => el.addEventListener('change', () => {
      this.choices[field] = el.value === '' ? null : Number(el.value);
      this.changed();
    });
    pick(this.size, 'height');
    pick(this.fps, 'fps');
    pick(this.bitrate, 'max_kbps');
    this.audio.addEventListener('change', () => {
      this.choices.audio = this.audio.checked;
      this.changed();
    });
    this.overlay.addEventListener('change', () => {
      if (this.overlay.checked !== this.hooks.overlayShown()) this.hooks.toggleOverlay();
    });
  }

  get open() { return !this.panel.hidden; }

  toggle(on = this.panel.hidden) {
    this.panel.hidden = !on;
    this.button.setAttribute('aria-pressed', String(on));
    if (on) {
      this.overlay.checked = this.hooks.overlayShown();
      this.render();
      this.size.focus();
    } else {
      this.hooks.onClose?.();
    }
  }

  changed() {
    saveChoices(this.choices, this.storage);
    this.send();
  }

  /** Sends this browser's choices (on every new connection, and on every change). */
  send() {
    return this.hooks.send(settingsMessage(this.choices));
  }

  setRole(role) {
    this.role = role;
    this.render();
  }

  /** The host's `settings` message: its limits and what is in force. */
  fromHost(m) {
    if (!Number.isInteger(m.max_fps) || !Number.isInteger(m.max_kbps)) return;
    this.limits = m;
    this.render();
  }

  render() {
    const m = this.limits;
    const controls = this.role?.role === 'control';
    for (const el of [this.size, this.fps, this.bitrate]) el.disabled = !m || !controls;
    this.audio.disabled = !m?.has_audio;
    this.audio.parentElement.title = m && !m.has_audio ? 'This host streams no sound.' : '';
    this.audio.checked = !!m?.has_audio && this.choices.audio;
    if (!m) {
      this.note.textContent = 'Waiting for the host…';
      return;
    }
    const { sizes, rates, bitrates } = options(m);
    // What is in force: the controller's request as the host took it.
    const asked = m.asked || {};
    fill(this.size, sizes, controls ? this.choices.height : asked.height ?? null);
    fill(this.fps, rates, controls ? this.choices.fps : asked.fps ?? null);
    fill(this.bitrate, bitrates, controls ? this.choices.max_kbps : asked.max_kbps ?? null);
    this.note.textContent = controls
      ? 'Changes apply at once, for everyone watching. The host may lower the rate and size further when the network is slow.'
      : 'The viewer in control chooses the stream\u2019s size, frame rate and bitrate.';
  }
}

/** Fills a <select> with [value, label] pairs and selects `value` (or the nearest below it). */
function fill(select, pairs, value) {
  const doc = select.ownerDocument;
  select.replaceChildren(...pairs.map(([v, label]) => {
    const o = doc.createElement('option');
    o.value = v === null ? '' : String(v);
    o.textContent = label;
    return o;
  }));
  const values = pairs.map(([v]) => v);
  // A stored choice the host cannot give any more (another host, a smaller screen): the next
  // one it can, else its own.
  let chosen = values.includes(value) ? value : null;
  if (chosen === null && value !== null) chosen = values.filter((v) => v !== null && v <= value).sort((a, b) => b - a)[0] ?? null;
  select.value = chosen === null ? '' : String(chosen);
}
