// What this page tells the host of the path between them, several times a second: how much later
// than their least the latest frames arrive (a queue building on the path shows here within a
// tenth of a second, where the receiver reports take up to a second and a half), and the video it
// received lately (behind a queue, what the path carries).
//
// Each presented frame gives its time of arrival (the last packet's, from the network thread) and
// its RTP timestamp (the host's capture time, 90 kHz). Their difference is the one-way delay plus
// an unknown clock offset; against the least difference over the last seconds the offset cancels
// and what is left is the queue (and the host's encode and pacing time). The least over the
// frames of the last 50 ms (three at least) is taken, so a frame stamped late by a busy thread
// does not count: a queue delays every frame.

/** The frames whose least delay is the queue figure (by time of arrival)... */
export const WINDOW_MS = 50;
/** ...at least this many of them (a still desktop sends a frame now and then)... */
export const WINDOW_FRAMES = 3;
/** ...arrived within this long, else there is no figure. */
export const SPARSE_MS = 500;
/** The least delay over this long is the path's own. */
export const BASE_MS = 15_000;
/** A message this often... */
export const EVERY_MS = 250;
/** ...and this often while there is a queue worth telling at once. */
export const QUEUED_EVERY_MS = 100;
export const QUEUED_MS = 20;
/** A delay this far from the least is another stream (a restarted host): start over. */
const NEW_STREAM_MS = 10_000;
/** The protocol's bounds. */
const MAX_QUEUE_MS = 60_000;
const MAX_KBPS = 10_000_000;

export class PathMeter {
  constructor() {
    this.reset();
    this.sentAt = -Infinity;
    this.told = 0;
    this.count = null;
  }

  reset() {
    this.lastRtp = null;
    this.ticks = 0;
    this.recent = [];
    // [second, least delay in it], oldest first.
    this.seconds = [];
  }

  /** The least delay over the last [`BASE_MS`], or null before any frame. */
  base() {
    return this.seconds.length ? Math.min(...this.seconds.map(([, d]) => d)) : null;
  }

  /**
   * One frame presented: when it arrived (ms, the page's clock) and its RTP timestamp. Returns
   * the queue figure (ms) when a message is due at `now`, else null.
   */
  frame(receiveMs, rtpTimestamp, now) {
    if (!Number.isFinite(receiveMs) || !Number.isInteger(rtpTimestamp) || rtpTimestamp < 0) return null;
    if (this.lastRtp !== null) {
      // 32-bit timestamps wrap; a step back is a frame out of order.
      let step = (rtpTimestamp - this.lastRtp) >>> 0;
      if (step >= 2 ** 31) step -= 2 ** 32;
      this.ticks += step;
    }
    this.lastRtp = rtpTimestamp;
    const delay = receiveMs - this.ticks / 90;
    const base = this.base();
    if (base !== null && Math.abs(delay - base) > NEW_STREAM_MS) {
      this.reset();
      return this.frame(receiveMs, rtpTimestamp, now);
    }
    const second = Math.floor(receiveMs / 1000);
    const last = this.seconds[this.seconds.length - 1];
    if (last && last[0] === second) last[1] = Math.min(last[1], delay);
    else this.seconds.push([second, delay]);
    while (this.seconds.length && this.seconds[0][0] <= second - BASE_MS / 1000) this.seconds.shift();
    this.recent.push([receiveMs, delay]);
    while (this.recent.length > WINDOW_FRAMES && this.recent[0][0] < receiveMs - WINDOW_MS) this.recent.shift();
    if (this.recent.length < WINDOW_FRAMES || this.recent[0][0] < receiveMs - SPARSE_MS) return null;
    const queue = Math.min(MAX_QUEUE_MS, Math.max(0, Math.round(Math.min(...this.recent.map(([, d]) => d)) - this.base())));
    const every = queue >= QUEUED_MS || this.told >= QUEUED_MS ? QUEUED_EVERY_MS : EVERY_MS;
    if (now - this.sentAt < every) return null;
    this.sentAt = now;
    this.told = queue;
    return queue;
  }

  /**
   * The video bytes received so far, counted at `atMs`: kbit/s since the previous count (null
   * for the first, after a gap of more than 2 s, or when the count went back: a new connection).
   */
  received(atMs, bytes) {
    const prev = this.count;
    this.count = Number.isFinite(atMs) && Number.isFinite(bytes) ? [atMs, bytes] : null;
    if (!prev || !this.count) return null;
    const [ms, b] = [atMs - prev[0], bytes - prev[1]];
    if (ms <= 0 || ms > 2000 || b < 0) return null;
    return Math.min(MAX_KBPS, Math.round((b * 8) / ms));
  }
}

/** The `path` message for the host. */
export function pathMessage(queueMs, receivedKbps) {
  return { type: 'path', queue_ms: queueMs, received_kbps: receivedKbps };
}
