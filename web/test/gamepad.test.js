// The page's gamepad poller with stand-in pads and a stand-in clock: each change is sent once,
// a held state again every 100 ms, an unplugged pad is announced, values are clamped to the
// wire's ranges, and a rumble from the host is clamped before it reaches the pad.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Gamepads, padState, RESEND_MS } from '../gamepad.js';

function pad(index, { pressed = [], axes = [0, 0, 0, 0], lt = 0, rt = 0 } = {}) {
  const buttons = Array.from({ length: 17 }, (_, i) => ({ pressed: pressed.includes(i), value: pressed.includes(i) ? 1 : 0 }));
  buttons[6].value = lt;
  buttons[7].value = rt;
  return { index, connected: true, buttons, axes, vibrationActuator: { calls: [], playEffect(t, p) { this.calls.push([t, p]); return Promise.resolve(); }, reset() { this.calls.push(['reset']); return Promise.resolve(); } } };
}

test('states map to the wire\'s ranges', () => {
  assert.deepEqual(padState(pad(0, { pressed: [0, 16], axes: [1, -1, 0.5, -0.5], lt: 0.5, rt: 2 })),
    { buttons: 1 | (1 << 7) | (1 << 16), lt: 128, rt: 255, lx: 32767, ly: -32768, rx: 16384, ry: -16384 });
  assert.deepEqual(padState({ buttons: [], axes: [NaN] }), { buttons: 0, lt: 0, rt: 0, lx: 0, ly: 0, rx: 0, ry: 0 });
});

test('changes once, held states again, unplugged pads announced', () => {
  let t = 0;
  let pads = [pad(0, { pressed: [0] })];
  const sent = [];
  const g = new Gamepads({ send: (e) => { sent.push(e); return true; }, getGamepads: () => pads, now: () => t, schedule: () => {} });
  g.enabled = true;
  g.poll();
  g.poll();
  assert.equal(sent.length, 1, 'an unchanged state is not sent again at once');
  t += RESEND_MS;
  g.poll();
  assert.equal(sent.length, 2, 'a held state is sent again after 100 ms');
  pads = [pad(0)];
  g.poll();
  t += 10 * RESEND_MS;
  g.poll();
  assert.equal(sent.length, 3, 'a state at rest is sent once, not repeated');
  pads = [null];
  g.poll();
  assert.deepEqual(sent.at(-1), { type: 'gamepad_removed', index: 0 });
  pads = [null, null, null, null, pad(4)];
  g.poll();
  assert.equal(sent.length, 4, 'index 4 and up are not ours to send');
});

test('rumble is clamped and a stop resets the pad', () => {
  const p = pad(1);
  const g = new Gamepads({ send: () => true, getGamepads: () => [null, p], schedule: () => {} });
  g.rumble({ index: 1, strong: 7, weak: -1, duration_ms: 99999 });
  assert.deepEqual(p.vibrationActuator.calls[0], ['dual-rumble', { startDelay: 0, duration: 5000, strongMagnitude: 1, weakMagnitude: 0 }]);
  g.rumble({ index: 1, strong: 0, weak: 0, duration_ms: 0 });
  assert.deepEqual(p.vibrationActuator.calls[1], ['reset']);
  g.rumble({ index: 3, strong: 1, weak: 1, duration_ms: 10 });
  assert.equal(g.rumbles.length, 3, 'recorded even where no pad plays it');
});
