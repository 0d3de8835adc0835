// Turns keyboard, mouse and wheel events on the video into peerdesk input events.
// Keys are sent by KeyboardEvent.code (the physical key), positions in video coordinates
// (correct under letterboxing), and everything held is released when focus is lost.

import { BUTTONS, isValidKeyCode, isValidText, toWireCoord } from './protocol.js';
import { isPasteKey } from './clipboard.js';

const WHEEL_NOTCH = 120;
/** Events held back while a paste's text goes to the host, at most. */
const MAX_HELD = 512;
/** How long a paste shortcut waits for the browser's own `paste` event. */
const PASTE_EVENT_WAIT_MS = 150;

/** The rectangle, in client pixels, where the video's picture is drawn (object-fit: contain). */
export function contentRect(video) {
  const r = video.getBoundingClientRect();
  const vw = video.videoWidth;
  const vh = video.videoHeight;
  if (!vw || !vh || !r.width || !r.height) return null;
  const scale = Math.min(r.width / vw, r.height / vh);
  const w = vw * scale;
  const h = vh * scale;
  return { left: r.left + (r.width - w) / 2, top: r.top + (r.height - h) / 2, width: w, height: h, scale };
}

/** Maps a client point to wire coordinates, or null when it is outside the picture. */
export function toVideoPoint(video, clientX, clientY) {
  const c = contentRect(video);
  if (!c) return null;
  const px = clientX - c.left;
  const py = clientY - c.top;
  if (px < 0 || py < 0 || px >= c.width || py >= c.height) return null;
  return { x: toWireCoord(px, c.width), y: toWireCoord(py, c.height) };
}

function wheelUnits(delta, mode) {
  // deltaMode 0 = pixels (about 100 per notch), 1 = lines (3 per notch), 2 = pages.
  if (mode === 1) return delta * (WHEEL_NOTCH / 3);
  if (mode === 2) return delta * WHEEL_NOTCH * 3;
  return delta * (WHEEL_NOTCH / 100);
}

export class InputCapture {
  /**
   * @param {HTMLVideoElement} video
   * @param {(ev: object) => boolean} send  sends one event; false when not connected
   */
  constructor(video, send) {
    this.video = video;
    this.send = send;
    this.keys = new Set();
    this.buttons = new Set();
    this.wheelRest = { dx: 0, dy: 0 };
    this.enabled = false;
    this.abort = new AbortController();
    const opts = { signal: this.abort.signal };
    const stage = video.parentElement;
    window.addEventListener('keydown', (e) => this.onKey(e, true), opts);
    window.addEventListener('keyup', (e) => this.onKey(e, false), opts);
    stage.addEventListener('pointermove', (e) => this.onMove(e), opts);
    stage.addEventListener('pointerdown', (e) => this.onButton(e, true), opts);
    window.addEventListener('pointerup', (e) => this.onButton(e, false), opts);
    stage.addEventListener('wheel', (e) => this.onWheel(e), { ...opts, passive: false });
    stage.addEventListener('contextmenu', (e) => e.preventDefault(), opts);
    // The mouse's back and forward buttons belong to the remote desktop, not to this page's
    // history.
    const keepNavigation = (e) => { if (this.enabled && (e.button === 3 || e.button === 4)) e.preventDefault(); };
    for (const type of ['pointerdown', 'pointerup', 'mousedown', 'mouseup', 'auxclick']) window.addEventListener(type, keepNavigation, opts);
    window.addEventListener('blur', () => this.releaseAll(), opts);
    document.addEventListener('pointerlockchange', () => { this.locked = document.pointerLockElement === stage; }, opts);
    this.locked = false;
    document.addEventListener('visibilitychange', () => { if (document.hidden) this.releaseAll(); }, opts);
    // A paste shortcut: the browser's own paste event brings the user's clipboard text with no
    // permission prompt (`beforePaste` sends it to the host before the keys).
    window.addEventListener('paste', (e) => {
      if (!this.pasteWaiter) return;
      e.preventDefault();
      this.pasteWaiter(e.clipboardData?.getData('text/plain') ?? null);
    }, { ...opts, capture: true });
    /** Set by the page: async (text or null) => sends the user's clipboard to the host. */
    this.beforePaste = null;
    this.held = null;
    this.pasteWaiter = null;
  }

  /** Sends an event, or holds it while a paste's text is on its way. */
  emit(ev) {
    if (this.held) {
      if (this.held.length < MAX_HELD) this.held.push(ev);
      return true;
    }
    return this.send(ev);
  }

  /** The paste shortcut went down: the clipboard text first, then `ev` and what came since. */
  paste(ev) {
    this.held = [ev];
    const fromEvent = new Promise((resolve) => {
      this.pasteWaiter = resolve;
      setTimeout(() => resolve(null), PASTE_EVENT_WAIT_MS);
    });
    return fromEvent
      .then((text) => { this.pasteWaiter = null; return this.beforePaste(text); })
      .catch(() => {})
      .finally(() => {
        const held = this.held || [];
        this.held = null;
        for (const h of held) this.send(h);
      });
  }

  setEnabled(on) {
    if (!on) this.releaseAll();
    this.enabled = on;
  }

  onKey(e, down) {
    // The page's own hotkeys (Ctrl+Alt+Shift+letter, as Moonlight's) stay on the page.
    if (e.ctrlKey && e.altKey && e.shiftKey && this.hotkeys?.[e.code]) {
      e.preventDefault();
      if (down && !e.repeat) this.hotkeys[e.code]();
      return;
    }
    if (!this.enabled) return;
    if (e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement) return;
    // Keys aimed at the page's own controls (a focused bar button) stay on the page.
    if (e.target instanceof Element && e.target.closest('#bar, #settings')) return;
    if (!isValidKeyCode(e.code)) {
      // No physical key (a virtual keyboard, an IME, a character the layout makes without
      // one): send the character itself, for the host to type however it can.
      if (down && !e.ctrlKey && !e.metaKey && [...e.key].length === 1 && isValidText(e.key)) {
        e.preventDefault();
        this.emit({ type: 'text', text: e.key });
      }
      return;
    }
    if (down && !e.repeat && !this.held && this.beforePaste && isPasteKey(e)) {
      // Not prevented: the browser then fires its paste event with the clipboard's text.
      this.keys.add(e.code);
      this.paste({ type: 'key', code: e.code, down: true });
      return;
    }
    e.preventDefault();
    if (!down && !this.keys.has(e.code)) return;
    if (down) this.keys.add(e.code); else this.keys.delete(e.code);
    // Browser auto-repeat arrives as further key-downs; the host passes them on as repeats.
    this.emit({ type: 'key', code: e.code, down });
  }

  /** Asks the browser to lock the pointer (needs a click or key press to allow it). */
  lockPointer() {
    const stage = this.video.parentElement;
    const asked = stage.requestPointerLock?.({ unadjustedMovement: true });
    // Some browsers refuse unadjusted movement; ask again without it.
    asked?.catch?.(() => stage.requestPointerLock());
  }

  onMove(e) {
    // Fingers are gestures (touch.js), not a mouse.
    if (!this.enabled || e.pointerType === 'touch') return;
    if (this.locked) {
      // Pointer lock (games): relative motion, as the mouse moved.
      if (e.movementX || e.movementY) this.emit({ type: 'pointer_relative', dx: e.movementX, dy: e.movementY });
      return;
    }
    const p = toVideoPoint(this.video, e.clientX, e.clientY);
    if (p) this.emit({ type: 'pointer_move', x: p.x, y: p.y });
  }

  onButton(e, down) {
    if (!this.enabled || e.button < 0 || e.button > 4 || e.pointerType === 'touch') return;
    // The page's own controls (the bar) are not the remote desktop.
    if (down && e.target instanceof Element && e.target.closest('#bar, #settings')) return;
    if (down && this.locked) {
      e.preventDefault();
      this.buttons.add(e.button);
    } else if (down) {
      const p = toVideoPoint(this.video, e.clientX, e.clientY);
      if (!p) return;
      e.preventDefault();
      this.video.parentElement.focus?.();
      this.emit({ type: 'pointer_move', x: p.x, y: p.y });
      this.buttons.add(e.button);
    } else {
      if (!this.buttons.has(e.button)) return;
      this.buttons.delete(e.button);
    }
    this.emit({ type: 'button', button: BUTTONS[e.button], down });
  }

  onWheel(e) {
    if (!this.enabled) return;
    e.preventDefault();
    // Accumulate smooth deltas; send whole units only.
    this.wheelRest.dx += wheelUnits(e.deltaX, e.deltaMode);
    this.wheelRest.dy += wheelUnits(e.deltaY, e.deltaMode);
    const dx = Math.trunc(this.wheelRest.dx);
    const dy = Math.trunc(this.wheelRest.dy);
    if (dx === 0 && dy === 0) return;
    this.wheelRest.dx -= dx;
    this.wheelRest.dy -= dy;
    this.emit({ type: 'wheel', dx, dy });
  }

  releaseAll() {
    if (this.keys.size || this.buttons.size) this.emit({ type: 'release_all' });
    this.keys.clear();
    this.buttons.clear();
  }

  destroy() {
    this.releaseAll();
    this.abort.abort();
  }
}
