// The clipboard between this browser and the host, text only, within the browser's rules:
// the host's copies are written to the user's clipboard when the page may (it has focus; else
// at the next click or key), and a paste (Ctrl+V, Shift+Insert, Cmd+V) first sends the user's
// clipboard text to the host, so the paste keys that follow paste it there.

/** Longest text that crosses, in UTF-8 bytes (the host's MAX_CLIPBOARD_TEXT). */
export const MAX_CLIPBOARD_TEXT = 120 * 1024;

/** Whether a key-down is the paste shortcut. */
export function isPasteKey(e) {
  if (e.code === 'KeyV' && (e.ctrlKey || e.metaKey) && !e.altKey) return true;
  return e.code === 'Insert' && e.shiftKey && !e.ctrlKey && !e.altKey;
}

function utf8Length(text) {
  return new TextEncoder().encode(text).length;
}

export class ClipboardBridge {
  /**
   * @param {{send: (m: object) => boolean, notify: (text: string, kind?: string) => void,
   *          clipboard?: Clipboard, target?: EventTarget}} opts
   *   send: sends a message to the host; notify: tells the user something in a line.
   */
  constructor({ send, notify, clipboard = globalThis.navigator?.clipboard, target = globalThis.window }) {
    this.send = send;
    this.notify = notify;
    this.clipboard = clipboard;
    this.enabled = false;
    // The host's copy not yet written here (no focus or no gesture yet).
    this.pending = null;
    // The text last sent to the host or taken from it: not sent again.
    this.last = null;
    this.warned = new Set();
    this.abort = new AbortController();
    const opts = { signal: this.abort.signal, capture: true };
    // A click or a key is the gesture (and the focus) a pending write waits for.
    for (const type of ['focus', 'pointerdown', 'keydown']) target?.addEventListener?.(type, () => this.flush(), opts);
  }

  /** Controllers only: the host ignores a viewer's pastes and sends it no copies. */
  setEnabled(on) {
    this.enabled = on;
    if (!on) this.pending = null;
  }

  /** The host copied `text`. */
  fromHost(text) {
    if (!this.enabled || typeof text !== 'string') return;
    this.last = text;
    this.pending = text;
    return this.flush();
  }

  /** Writes the host's pending copy to this machine's clipboard, if the browser lets us now. */
  async flush() {
    const text = this.pending;
    if (text === null || !this.clipboard?.writeText) return false;
    try {
      await this.clipboard.writeText(text);
      if (this.pending === text) this.pending = null;
      this.notify('Copied on the host: ready to paste here.');
      return true;
    } catch (e) {
      // Not focused: the next click or key writes it. Denied: say so once.
      if (e?.name === 'NotAllowedError' && globalThis.document?.hasFocus?.() !== false) {
        this.warnOnce('write', 'The host copied text, but this browser does not let the page write the clipboard: allow clipboard access for this site.');
      }
      return false;
    }
  }

  /**
   * The user pastes: send their clipboard text to the host first. `fromEvent` is the text of a
   * `paste` event when there was one (no permission needed); otherwise the clipboard is read
   * (the browser may ask). Resolves when the text is sent or there is none to send.
   */
  async beforePaste(fromEvent = null) {
    if (!this.enabled) return false;
    let text = fromEvent;
    if (text === null) {
      if (!this.clipboard?.readText) return false;
      try {
        text = await withTimeout(this.clipboard.readText(), 2000);
      } catch (e) {
        this.warnOnce('read', e?.name === 'NotAllowedError'
          ? 'To paste into the host, allow this page to read the clipboard (the browser asks once; or see the site settings).'
          : 'The clipboard could not be read; the host pastes what it had.');
        return false;
      }
    }
    if (typeof text !== 'string' || text === '' || text === this.last) return false;
    const bytes = utf8Length(text);
    if (bytes > MAX_CLIPBOARD_TEXT) {
      this.notify(`Clipboard too large to paste into the host (${Math.ceil(bytes / 1024)} KiB; at most ${MAX_CLIPBOARD_TEXT / 1024} KiB).`, 'error');
      return false;
    }
    if (!this.send({ type: 'clipboard', text })) return false;
    this.last = text;
    return true;
  }

  warnOnce(key, text) {
    if (this.warned.has(key)) return;
    this.warned.add(key);
    this.notify(text, 'error');
  }

  destroy() {
    this.abort.abort();
  }
}

function withTimeout(promise, ms) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('timed out')), ms); }),
  ]).finally(() => clearTimeout(timer));
}
