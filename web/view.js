// What the page shows: the join form, the stage with the video, the status line and stats.

import { contentRect } from './input.js';

/** The bar fades out this long after the pointer left the top of the screen. */
const BAR_IDLE_MS = 3000;
/** The pointer this close to the top brings the bar back. */
const BAR_ZONE_PX = 72;

export class View {
  constructor(doc) {
    this.doc = doc;
    this.join = doc.getElementById('join');
    this.stage = doc.getElementById('stage');
    this.video = doc.getElementById('video');
    this.status = doc.getElementById('status');
    this.statusText = doc.getElementById('status-text');
    this.stats = doc.getElementById('stats');
    this.roomLabel = doc.getElementById('room-label');
    this.fullscreen = doc.getElementById('fullscreen');
    this.lock = doc.getElementById('lock');
    this.soundControls = {
      button: doc.getElementById('sound'),
      label: doc.getElementById('sound-label'),
      volume: doc.getElementById('volume'),
    };
    this.hostCursor = doc.getElementById('host-cursor');
    this.overlay = doc.getElementById('overlay');
    this.statsToggle = doc.getElementById('stats-toggle');
    // The host's cursor: its image ({url, hx, hy} or null when hidden) and position.
    this.cursor = { image: null, position: null };
    doc.addEventListener('pointerlockchange', () => this.placeCursor());
    window.addEventListener('resize', () => this.placeCursor());
    this.video.addEventListener('resize', () => this.placeCursor());
  }

  /** Shows the join form; calls `onJoin(url)` with this server's page for a pasted link. */
  showJoin(onJoin) {
    this.stage.hidden = true;
    this.join.hidden = false;
    const input = this.join.querySelector('input');
    const error = this.join.querySelector('.error');
    input.focus();
    this.join.addEventListener('submit', (e) => {
      e.preventDefault();
      const result = linkTarget(input.value, this.doc.location.href);
      if (result.error) {
        error.textContent = result.error;
        return;
      }
      onJoin(result.url);
    });
  }

  /** Shows what this page may do: {role, may_control, peer}, or null before the host says. */
  setRole(role) {
    const el = this.doc.getElementById('role');
    if (!el) return;
    el.hidden = !role;
    if (!role) return;
    el.dataset.role = role.role;
    el.textContent = role.role === 'control' ? 'In control' : 'View only';
    el.title = role.role === 'control'
      ? `Your keyboard and mouse reach the host (you are viewer p${role.peer}).`
      : role.may_control
        ? `Someone else controls the host; you get control when they leave or the host hands it to you (you are viewer p${role.peer}).`
        : `This link lets you watch; the host ignores your keyboard and mouse (you are viewer p${role.peer}).`;
  }

  /**
   * The bar hides itself (fades out) a few seconds after the pointer leaves the top of the
   * screen, and comes back when the pointer (or a finger) comes near the top; it stays while
   * hovered, focused, or a panel of it is open.
   */
  autoHideBar(doc = this.doc) {
    const bar = doc.getElementById('bar');
    let timer = null;
    const show = () => {
      bar.classList.remove('idle');
      clearTimeout(timer);
      timer = setTimeout(() => bar.classList.add('idle'), BAR_IDLE_MS);
    };
    this.stage.addEventListener('pointermove', (e) => { if (e.clientY < BAR_ZONE_PX) show(); });
    this.stage.addEventListener('pointerdown', (e) => { if (e.clientY < BAR_ZONE_PX) show(); });
    this.stage.addEventListener('focusin', (e) => { if (e.target.closest?.('#bar')) show(); });
    show();
  }

  showStage(room) {
    this.join.hidden = true;
    this.stage.hidden = false;
    this.autoHideBar();
    this.roomLabel.textContent = room;
    this.doc.title = `${room} · peerdesk`;
    this.stage.focus();
    this.fullscreen.addEventListener('click', () => {
      this.onFullscreen?.();
      this.stage.focus();
    });
  }

  /** Shows a status line over the video; `kind` is 'info', 'error', or null to hide it. */
  setStatus(text, kind = 'info') {
    this.status.hidden = kind === null;
    this.status.dataset.kind = kind || '';
    // `backticks` mark a command or flag: shown as code, never broken across lines.
    const parts = (text || '').split('`');
    this.statusText.replaceChildren(...parts.map((p, i) => {
      if (i % 2 === 0) return this.doc.createTextNode(p);
      const code = this.doc.createElement('code');
      code.textContent = p;
      return code;
    }));
  }

  setStats(text) {
    this.stats.textContent = text;
  }

  /** Whether the stats overlay is shown. */
  get overlayShown() {
    return !this.overlay.hidden;
  }

  /** Shows or hides the stats overlay. */
  showOverlay(on) {
    this.overlay.hidden = !on;
    this.statsToggle.setAttribute('aria-pressed', String(on));
  }

  /** Fills the overlay: [[title, [[label, value], ...]], ...]. */
  setOverlay(sections) {
    const doc = this.doc;
    const parts = [];
    for (const [title, rows] of sections) {
      const h = doc.createElement('h2');
      h.textContent = title;
      const dl = doc.createElement('dl');
      for (const [label, value] of rows) {
        const dt = doc.createElement('dt');
        dt.textContent = label;
        const dd = doc.createElement('dd');
        dd.textContent = String(value);
        dl.append(dt, dd);
      }
      parts.push(h, dl);
    }
    this.overlay.replaceChildren(...parts);
  }

  /**
   * Shows the host's cursor shape as this page's own cursor over the video, so the pointer
   * never lags: {hidden} or {width, height, hot_x, hot_y, rgba (base64)}; null resets it.
   * While the pointer is locked (games) the browser shows no cursor: the page draws the host's
   * cursor itself, where the host says it is.
   */
  setCursor(m) {
    if (!m) {
      this.video.style.cursor = '';
      this.cursor = { image: null, position: null };
      this.placeCursor();
      return;
    }
    if (m.hidden) {
      this.video.style.cursor = 'none';
      this.cursor.image = null;
      this.placeCursor();
      return;
    }
    const { width, height } = m;
    if (!(width > 0 && height > 0 && width <= 256 && height <= 256)) return;
    let bytes;
    try {
      bytes = Uint8ClampedArray.from(atob(m.rgba), (c) => c.charCodeAt(0));
    } catch {
      return;
    }
    if (bytes.length !== width * height * 4) return;
    const canvas = this.doc.createElement('canvas');
    canvas.width = width;
    canvas.height = height;
    canvas.getContext('2d').putImageData(new ImageData(bytes, width, height), 0, 0);
    const hx = Math.min(m.hot_x, width - 1);
    const hy = Math.min(m.hot_y, height - 1);
    const url = canvas.toDataURL('image/png');
    this.video.style.cursor = `url(${url}) ${hx} ${hy}, auto`;
    this.cursor.image = { url, hx, hy, width, height };
    this.hostCursor.style.backgroundImage = `url(${url})`;
    this.hostCursor.style.width = `${width}px`;
    this.hostCursor.style.height = `${height}px`;
    this.placeCursor();
  }

  /** Where the host's pointer is: {x, y, width, height} in pixels of the streamed area. */
  setCursorPosition(m) {
    const ok = [m.x, m.y, m.width, m.height].every(Number.isFinite) && m.width > 0 && m.height > 0;
    if (!ok) return;
    this.cursor.position = { x: m.x, y: m.y, width: m.width, height: m.height };
    this.placeCursor();
  }

  /** Draws the host's cursor over the video while the pointer is locked, hides it otherwise. */
  placeCursor() {
    const { image, position } = this.cursor;
    const locked = this.doc.pointerLockElement === this.stage;
    const c = contentRect(this.video);
    const inside = position && position.x >= 0 && position.y >= 0
      && position.x < position.width && position.y < position.height;
    if (!locked || !image || !inside || !c) {
      this.hostCursor.hidden = true;
      return;
    }
    // The hotspot goes on the middle of the host pixel the pointer is on.
    const left = c.left + ((position.x + 0.5) / position.width) * c.width - image.hx;
    const top = c.top + ((position.y + 0.5) / position.height) * c.height - image.hy;
    this.hostCursor.style.transform = `translate(${left}px, ${top}px)`;
    this.hostCursor.hidden = false;
  }
}

/**
 * Where a pasted share link leads on this server: {url} (this page with the link's room and
 * key), or {error} in words. The key stays in the fragment, so it never reaches a server.
 */
export function linkTarget(text, here) {
  let url;
  try {
    url = new URL(text.trim(), here);
  } catch {
    return { error: 'That is not a link. Paste the whole link the host printed.' };
  }
  const room = url.searchParams.get('room') || '';
  const key = new URLSearchParams(url.hash.replace(/^#/, '')).get('k');
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(room) || !key) {
    return { error: 'Paste the whole link the host printed: it names the room (?room=) and carries the access key (after #k=).' };
  }
  const base = new URL(here);
  return { url: `${base.origin}${base.pathname}?room=${encodeURIComponent(room)}#k=${encodeURIComponent(key)}` };
}
