// Touch screens: a tap is a click where the finger was, a long press a right click, one finger
// dragging a left-button drag, two fingers dragging scroll the host (its wheel), and a pinch
// zooms the picture here (the host is not told; two fingers pan the zoomed picture). The
// on-screen keyboard button opens the phone's keyboard; what is typed there reaches the host
// as text, Backspace and Enter as keys.

import { toVideoPoint } from './input.js';

/** How far a finger may wander and still tap or long-press, in CSS pixels. */
const SLOP = 10;
/** A finger held this long without moving is a right click. */
export const LONG_PRESS_MS = 500;
/** Wheel units per CSS pixel of two-finger drag (a notch, 120, per 100 px). */
const WHEEL_PER_PX = 1.2;
/** A pinch is a change of the fingers' distance by more than this fraction. */
const PINCH_START = 0.08;
const MAX_ZOOM = 4;

const dist = (a, b) => Math.hypot(a.x - b.x, a.y - b.y);
const mid = (a, b) => ({ x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 });

export class TouchGestures {
  /**
   * @param {HTMLVideoElement} video  the picture (its parent, the stage, takes the touches)
   * @param {(ev: object) => boolean} send  sends one input event to the host
   */
  constructor(video, send, { setTimer = (f, ms) => setTimeout(f, ms), clearTimer = (t) => clearTimeout(t) } = {}) {
    this.video = video;
    this.stage = video.parentElement;
    this.send = send;
    this.setTimer = setTimer;
    this.clearTimer = clearTimer;
    this.enabled = false;
    this.pointers = new Map();
    this.mode = 'idle';
    this.timer = null;
    this.zoom = { scale: 1, x: 0, y: 0 };
    this.wheelRest = 0;
    this.abort = new AbortController();
    const opts = { signal: this.abort.signal };
    const touch = (f) => (e) => { if (e.pointerType === 'touch') f(e); };
    this.stage.addEventListener('pointerdown', touch((e) => this.down(e)), opts);
    this.stage.addEventListener('pointermove', touch((e) => this.move(e)), opts);
    for (const type of ['pointerup', 'pointercancel']) {
      window.addEventListener(type, touch((e) => this.up(e, type === 'pointercancel')), opts);
    }
  }

  setEnabled(on) {
    if (!on) this.cancel();
    this.enabled = on;
  }

  /** Sends a move to where the finger is, when that is on the picture. */
  moveTo(p) {
    const v = toVideoPoint(this.video, p.x, p.y);
    if (v) this.send({ type: 'pointer_move', x: v.x, y: v.y });
    return !!v;
  }

  click(p, button) {
    if (!this.moveTo(p)) return;
    this.send({ type: 'button', button, down: true });
    this.send({ type: 'button', button, down: false });
  }

  down(e) {
    if (e.target instanceof Element && e.target.closest('#bar, #settings')) return;
    e.preventDefault();
    this.pointers.set(e.pointerId, { x: e.clientX, y: e.clientY, sx: e.clientX, sy: e.clientY, t: e.timeStamp });
    if (this.pointers.size === 1) {
      this.mode = 'pending';
      const start = { x: e.clientX, y: e.clientY };
      this.timer = this.setTimer(() => {
        this.timer = null;
        if (this.mode !== 'pending' || this.pointers.size !== 1) return;
        this.mode = 'done';
        if (this.enabled) {
          this.click(start, 'right');
          navigator.vibrate?.(15);
        }
      }, LONG_PRESS_MS);
    } else if (this.pointers.size === 2) {
      this.stopTimer();
      if (this.mode === 'drag' && this.enabled) this.send({ type: 'button', button: 'left', down: false });
      const [a, b] = [...this.pointers.values()];
      this.mode = 'two';
      this.two = { d0: dist(a, b), m0: mid(a, b), last: mid(a, b), zoom: { ...this.zoom } };
    }
  }

  move(e) {
    const p = this.pointers.get(e.pointerId);
    if (!p) return;
    e.preventDefault();
    p.x = e.clientX;
    p.y = e.clientY;
    if (this.pointers.size === 1) {
      if (this.mode === 'pending' && Math.hypot(p.x - p.sx, p.y - p.sy) > SLOP) {
        this.stopTimer();
        this.mode = 'drag';
        if (this.enabled && this.moveTo({ x: p.sx, y: p.sy })) this.send({ type: 'button', button: 'left', down: true });
      }
      if (this.mode === 'drag' && this.enabled) this.moveTo(p);
      return;
    }
    if (this.pointers.size !== 2 || !this.two) return;
    const [a, b] = [...this.pointers.values()];
    const m = mid(a, b);
    const ratio = this.two.d0 > 0 ? dist(a, b) / this.two.d0 : 1;
    if (this.mode === 'two') {
      if (Math.abs(ratio - 1) > PINCH_START) this.mode = 'pinch';
      else if (Math.hypot(m.x - this.two.m0.x, m.y - this.two.m0.y) > SLOP) this.mode = this.zoom.scale > 1 ? 'pan' : 'scroll';
    }
    if (this.mode === 'scroll') {
      // Fingers up, page content up: the wheel turns down (positive), as on a touchpad.
      this.wheelRest += (this.two.last.y - m.y) * WHEEL_PER_PX;
      const dy = Math.trunc(this.wheelRest);
      if (dy !== 0 && this.enabled) {
        this.wheelRest -= dy;
        this.send({ type: 'wheel', dx: 0, dy: Math.max(-2400, Math.min(2400, dy)) });
      }
    } else if (this.mode === 'pinch' || this.mode === 'pan') {
      const z0 = this.two.zoom;
      const scale = this.mode === 'pinch' ? Math.max(1, Math.min(MAX_ZOOM, z0.scale * ratio)) : z0.scale;
      // The picture point under the first midpoint stays under the fingers' midpoint.
      const k = scale / z0.scale;
      this.setZoom(scale, m.x - k * (this.two.m0.x - z0.x), m.y - k * (this.two.m0.y - z0.y));
    }
    this.two.last = m;
  }

  up(e, cancelled) {
    const p = this.pointers.get(e.pointerId);
    if (!p) return;
    this.pointers.delete(e.pointerId);
    if (this.mode === 'pending' && !cancelled && this.enabled) {
      this.stopTimer();
      this.click({ x: p.sx, y: p.sy }, 'left');
      this.mode = 'done';
    } else if (this.mode === 'drag' && this.enabled) {
      this.send({ type: 'button', button: 'left', down: false });
      this.mode = 'done';
    }
    if (this.pointers.size === 0) {
      this.stopTimer();
      this.mode = 'idle';
      this.two = null;
      this.wheelRest = 0;
    }
  }

  stopTimer() {
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
  }

  cancel() {
    this.stopTimer();
    if (this.mode === 'drag' && this.enabled) this.send({ type: 'button', button: 'left', down: false });
    this.pointers.clear();
    this.mode = 'idle';
  }

  /** Zooms the picture here: `scale` from the stage's top-left, offset by x, y (kept inside). */
  setZoom(scale, x, y) {
    const w = this.stage.clientWidth;
    const h = this.stage.clientHeight;
    const clamp = (v, size) => Math.min(0, Math.max(size * (1 - scale), v));
    this.zoom = scale <= 1 ? { scale: 1, x: 0, y: 0 } : { scale, x: clamp(x, w), y: clamp(y, h) };
    const z = this.zoom;
    this.video.style.transformOrigin = '0 0';
    this.video.style.transform = z.scale === 1 ? '' : `translate(${z.x}px, ${z.y}px) scale(${z.scale})`;
    this.onZoom?.(z);
  }

  destroy() {
    this.cancel();
    this.abort.abort();
  }
}

/**
 * The on-screen keyboard: a button that focuses a hidden text field (which brings up the
 * phone's keyboard); characters typed there go to the host as text, Backspace and Enter as the
 * keys themselves.
 */
export class SoftKeyboard {
  constructor(button, field, send) {
    this.button = button;
    this.field = field;
    this.send = send;
    button.addEventListener('click', (e) => {
      e.stopPropagation();
      if (document.activeElement === field) field.blur(); else field.focus();
    });
    field.addEventListener('focus', () => button.setAttribute('aria-pressed', 'true'));
    field.addEventListener('blur', () => button.setAttribute('aria-pressed', 'false'));
    field.addEventListener('beforeinput', (e) => this.onInput(e));
    // Words an input method composes arrive whole when the composition ends.
    field.addEventListener('compositionend', (e) => {
      for (const ch of e.data || '') this.send({ type: 'text', text: ch });
      field.value = '';
    });
    // Keyboards that do send key events for these keys.
    field.addEventListener('keydown', (e) => {
      if (e.key === 'Backspace' || e.key === 'Enter' || e.key === 'Tab' || e.key === 'Escape') {
        e.preventDefault();
        this.press(e.key);
      }
    });
  }

  press(code) {
    this.send({ type: 'key', code, down: true });
    this.send({ type: 'key', code, down: false });
  }

  onInput(e) {
    // Composition is the input method's own business until it ends.
    if (e.inputType === 'insertCompositionText' || e.isComposing) return;
    e.preventDefault();
    if (e.inputType === 'insertText' || e.inputType === 'insertReplacementText') {
      for (const ch of e.data || '') {
        if (ch === '\n') this.press('Enter');
        else this.send({ type: 'text', text: ch });
      }
    } else if (e.inputType === 'insertLineBreak' || e.inputType === 'insertParagraph') {
      this.press('Enter');
    } else if (e.inputType === 'deleteContentBackward') {
      this.press('Backspace');
    } else if (e.inputType === 'deleteContentForward') {
      this.press('Delete');
    }
    this.field.value = '';
  }
}
