// The page's measure of a queue on its path to the host, and the message that carries it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PathMeter, pathMessage, EVERY_MS, QUEUED_EVERY_MS } from '../path.js';

/**
 * Feeds `meter` 60 frames a second for `secs` from `t0` (ms): frame i captured at `rtp0` plus
 * its time, arriving `delay(ms since t0)` later (plus a clock offset). Returns the figures told,
 * as [ms since t0, queue].
 */
function feed(meter, t0, secs, delay, rtp0 = 1_000_000) {
  const told = [];
  for (let i = 0; i < secs * 60; i += 1) {
    const at = i * (1000 / 60);
    const receive = 5_000 + t0 + at + delay(t0 + at);
    const rtp = (rtp0 + Math.round((t0 + at) * 90)) >>> 0;
    const q = meter.frame(receive, rtp, receive);
    if (q !== null) told.push([t0 + at, q]);
  }
  return told;
}

test('a flat delay, jitter and a late frame or two tell no queue, four times a second', () => {
  const m = new PathMeter();
  // 40 ms one way, a few ms of jitter, and every 37th frame stamped 80 ms late by a busy thread.
  const told = feed(m, 0, 5, (t) => 40 + ((t * 7) % 5) + (Math.round(t / (1000 / 60)) % 37 === 0 ? 80 : 0));
  assert.ok(told.every(([, q]) => q <= 5), JSON.stringify(told));
  // Four a second (the cadence follows the frames' arrival, jitter and all).
  assert.ok(told.length >= 18 && told.length <= 20, JSON.stringify(told));
});

test('a queue building on the path shows within a tenth of a second, and is told more often', () => {
  const m = new PathMeter();
  feed(m, 0, 3, () => 40);
  // From second 3 the queue grows 500 ms a second (4.5 Mbit/s into a 3 Mbit/s link) to 200 ms.
  const told = feed(m, 3000, 1, (t) => 40 + Math.min(200, (t - 3000) / 2));
  const first = told.find(([, q]) => q >= 50);
  assert.ok(first && first[0] < 3000 + 100 + 150 + EVERY_MS, `50 ms of queue told at ${first?.[0]}`);
  const busy = told.filter(([t]) => t > first[0]);
  const gaps = busy.slice(1).map(([t], i) => t - busy[i][0]);
  assert.ok(gaps.every((g) => g < QUEUED_EVERY_MS + 20), JSON.stringify(gaps));
  assert.ok(Math.abs(told[told.length - 1][1] - 200) <= 10, JSON.stringify(told));
  // It drains: the figure follows it down, and the path's own delay stays the base.
  const after = feed(m, 4000, 2, (t) => 40 + Math.max(0, 200 - (t - 4000) / 2));
  assert.ok(after[after.length - 1][1] <= 2, JSON.stringify(after));
});

test('timestamps that wrap, a new stream and nonsense', () => {
  const m = new PathMeter();
  // The RTP clock wraps within the run: no jump in the figure.
  const wrapAt = 2 ** 32 - 90 * 1000;
  const told = feed(m, 0, 3, () => 30, wrapAt);
  assert.ok(told.length >= 8 && told.every(([, q]) => q <= 1), JSON.stringify(told));
  // A restarted host's timestamps start anywhere: the meter starts over, no 13-hour queue.
  const again = feed(m, 3000, 2, () => 30, 12345);
  assert.ok(again.length >= 5 && again.every(([, q]) => q <= 1), JSON.stringify(again));
  // Nothing from frames without the figures (a browser that does not give them).
  assert.equal(m.frame(undefined, 5, 1e9), null);
  assert.equal(m.frame(1e9, -1, 1e9), null);
  assert.equal(m.frame(1e9, 1.5, 1e9), null);
});

test('a still desktop\'s rare frames give no figure', () => {
  const m = new PathMeter();
  const told = [];
  for (let i = 0; i < 10; i += 1) {
    const q = m.frame(1000 + i * 700, 90 * 700 * i, 1000 + i * 700);
    if (q !== null) told.push(q);
  }
  assert.deepEqual(told, []);
});

test('the received rate between two counts, and the message', () => {
  const m = new PathMeter();
  assert.equal(m.received(1000, 0), null, 'the first count has nothing to compare with');
  assert.equal(m.received(1250, 93_750), 3000, '93750 bytes in 250 ms: 3 Mbit/s');
  assert.equal(m.received(1500, 1000), null, 'a count that goes back: a new connection');
  assert.equal(m.received(5000, 2000), null, 'after a gap of seconds');
  assert.equal(m.received(5100, 1e15), 10_000_000, 'within the protocol\'s bound');
  assert.deepEqual(pathMessage(42, null), { type: 'path', queue_ms: 42, received_kbps: null });
});
