// Input events in peerdesk's compact binary form. Mirrors crates/peerdesk-proto/src/input.rs
// and is tested against the same golden vectors (crates/peerdesk-proto/vectors/input.json).
//
// An event is a plain object shaped like the Rust type's JSON form, for instance
// {type: 'key', code: 'KeyA', down: true}.

export const MAX_KEY_CODE_LEN = 32;
export const MAX_TEXT_LEN = 64;

/** Mouse buttons by `MouseEvent.button` number, as the wire names them. */
export const BUTTONS = ['left', 'middle', 'right', 'back', 'forward'];
const KIND = { pointer_move: 1, pointer_relative: 2, button: 3, wheel: 4, key: 5, release_all: 6, text: 7, gamepad: 8, gamepad_removed: 9 };
/** Gamepads a viewer may use at once (indices 0..3), and the standard mapping's button bits. */
export const MAX_GAMEPADS = 4;
export const GAMEPAD_BUTTONS = (1 << 17) - 1;
const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** Error thrown by decodeInput/encodeInput; `name` matches the Rust variant in snake_case. */
export class InputCodecError extends Error {
  constructor(name, message) {
    super(message);
    this.name = name;
  }
}

export function isValidKeyCode(code) {
  return typeof code === 'string' && code.length >= 1 && code.length <= MAX_KEY_CODE_LEN &&
    /^[A-Za-z0-9]+$/.test(code);
}

/** Whether `text` can travel in a text event: 1 to 64 UTF-8 bytes, no control characters. */
export function isValidText(text) {
  if (typeof text !== 'string' || text.length === 0) return false;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(text)) return false;
  const n = utf8.encode(text).length;
  return n >= 1 && n <= MAX_TEXT_LEN;
}

function clampInt(v, lo, hi) {
  return Math.max(lo, Math.min(hi, Math.round(v)));
}

/** Encodes one event to a Uint8Array. Numbers are clamped to their field's range. */
export function encodeInput(ev) {
  const kind = KIND[ev.type];
  if (kind === undefined) throw new InputCodecError('unknown_kind', `unknown event type ${ev.type}`);
  switch (ev.type) {
    case 'pointer_move':
    case 'pointer_relative':
    case 'wheel': {
      const buf = new Uint8Array(5);
      const dv = new DataView(buf.buffer);
      buf[0] = kind;
      if (ev.type === 'pointer_move') {
        dv.setUint16(1, clampInt(ev.x, 0, 65535));
        dv.setUint16(3, clampInt(ev.y, 0, 65535));
      } else {
        dv.setInt16(1, clampInt(ev.dx, -32768, 32767));
        dv.setInt16(3, clampInt(ev.dy, -32768, 32767));
      }
      return buf;
    }
    case 'button': {
      const b = BUTTONS.indexOf(ev.button);
      if (b < 0) throw new InputCodecError('bad_button', `unknown button ${ev.button}`);
      return Uint8Array.of(kind, b, ev.down ? 1 : 0);
    }
    case 'key': {
      if (!isValidKeyCode(ev.code)) throw new InputCodecError('bad_key_code', `bad key code ${ev.code}`);
      const buf = new Uint8Array(3 + ev.code.length);
      buf[0] = kind;
      buf[1] = ev.down ? 1 : 0;
      buf[2] = ev.code.length;
      for (let i = 0; i < ev.code.length; i++) buf[3 + i] = ev.code.charCodeAt(i);
      return buf;
    }
    case 'text': {
      if (!isValidText(ev.text)) throw new InputCodecError('bad_text', 'bad text');
      const bytes = utf8.encode(ev.text);
      const buf = new Uint8Array(2 + bytes.length);
      buf[0] = kind;
      buf[1] = bytes.length;
      buf.set(bytes, 2);
      return buf;
    }
    case 'gamepad': {
      const index = padIndex(ev.index);
      const buttons = ev.buttons >>> 0;
      if (buttons & ~GAMEPAD_BUTTONS) throw new InputCodecError('bad_buttons', `gamepad buttons beyond the standard mapping: ${buttons}`);
      const buf = new Uint8Array(16);
      const dv = new DataView(buf.buffer);
      buf[0] = kind;
      buf[1] = index;
      dv.setUint32(2, buttons);
      buf[6] = clampInt(ev.lt, 0, 255);
      buf[7] = clampInt(ev.rt, 0, 255);
      ['lx', 'ly', 'rx', 'ry'].forEach((a, i) => dv.setInt16(8 + 2 * i, clampInt(ev[a], -32768, 32767)));
      return buf;
    }
    case 'gamepad_removed':
      return Uint8Array.of(kind, padIndex(ev.index));
    default:
      return Uint8Array.of(kind);
  }
}

function padIndex(i) {
  if (!Number.isInteger(i) || i < 0 || i >= MAX_GAMEPADS) throw new InputCodecError('bad_pad', `gamepad index must be 0 to 3, got ${i}`);
  return i;
}

function exact(kind, body, need) {
  if (body.length < need) {
    throw new InputCodecError('truncated', `kind ${kind} needs ${need} bytes, got ${body.length}`);
  }
  if (body.length > need) {
    throw new InputCodecError('trailing', `kind ${kind} has ${body.length - need} trailing bytes`);
  }
  return body;
}

function flag(b) {
  if (b === 0) return false;
  if (b === 1) return true;
  throw new InputCodecError('bad_flag', `flag byte must be 0 or 1, got ${b}`);
}

/** Decodes one event from bytes; throws InputCodecError for anything invalid. */
export function decodeInput(bytes) {
  if (bytes.length === 0) throw new InputCodecError('empty', 'empty input message');
  const kind = bytes[0];
  const body = bytes.subarray(1);
  const dv = new DataView(body.buffer, body.byteOffset, body.byteLength);
  switch (kind) {
    case 1:
      exact(kind, body, 4);
      return { type: 'pointer_move', x: dv.getUint16(0), y: dv.getUint16(2) };
    case 2:
      exact(kind, body, 4);
      return { type: 'pointer_relative', dx: dv.getInt16(0), dy: dv.getInt16(2) };
    case 3: {
      exact(kind, body, 2);
      const button = BUTTONS[body[0]];
      if (button === undefined) throw new InputCodecError('bad_button', `unknown mouse button ${body[0]}`);
      return { type: 'button', button, down: flag(body[1]) };
    }
    case 4:
      exact(kind, body, 4);
      return { type: 'wheel', dx: dv.getInt16(0), dy: dv.getInt16(2) };
    case 5: {
      if (body.length < 2) throw new InputCodecError('truncated', `kind 5 needs 2 bytes, got ${body.length}`);
      const down = flag(body[0]);
      const codeBytes = exact(kind, body.subarray(2), body[1]);
      const code = String.fromCharCode(...codeBytes);
      if (!isValidKeyCode(code)) throw new InputCodecError('bad_key_code', 'bad key code');
      return { type: 'key', code, down };
    }
    case 6:
      exact(kind, body, 0);
      return { type: 'release_all' };
    case 7: {
      if (body.length < 1) throw new InputCodecError('truncated', 'kind 7 needs 1 byte, got 0');
      const bytes = exact(kind, body.subarray(1), body[0]);
      let text;
      try {
        text = strictUtf8.decode(bytes);
      } catch {
        throw new InputCodecError('bad_text', 'text is not UTF-8');
      }
      if (!isValidText(text)) throw new InputCodecError('bad_text', 'bad text');
      return { type: 'text', text };
    }
    case 8: {
      exact(kind, body, 15);
      const index = padIndex(body[0]);
      const buttons = dv.getUint32(1);
      if (buttons & ~GAMEPAD_BUTTONS) throw new InputCodecError('bad_buttons', 'gamepad buttons beyond the standard mapping');
      return {
        type: 'gamepad', index, buttons, lt: body[5], rt: body[6],
        lx: dv.getInt16(7), ly: dv.getInt16(9), rx: dv.getInt16(11), ry: dv.getInt16(13),
      };
    }
    case 9:
      exact(kind, body, 1);
      return { type: 'gamepad_removed', index: padIndex(body[0]) };
    default:
      throw new InputCodecError('unknown_kind', `unknown input event kind ${kind}`);
  }
}

/** Whether the event must travel on the reliable, ordered channel. */
export function needsReliable(ev) {
  return ev.type === 'button' || ev.type === 'key' || ev.type === 'release_all' || ev.type === 'text' || ev.type === 'gamepad_removed';
}

/** Position on a video of `size` pixels to the wire's 0..65535 scale (v/65536 of the size). */
export function toWireCoord(pixel, size) {
  if (!(size > 0)) return 0;
  return clampInt(Math.floor((pixel / size) * 65536), 0, 65535);
}
