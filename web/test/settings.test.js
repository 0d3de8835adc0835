// The settings' pure parts: only what the host can give is offered, stored choices are
// sanitised (a hostile or stale localStorage cannot send nonsense), and the message's shape.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { options, loadChoices, saveChoices, settingsMessage } from '../settings.js';

function store(init = {}) {
  const m = new Map(Object.entries(init));
  return { getItem: (k) => (m.has(k) ? m.get(k) : null), setItem: (k, v) => m.set(k, String(v)) };
}

test('the lists offer the host\'s own first and nothing above its limits', () => {
  const o = options({ width: 1920, height: 1080, max_fps: 60, max_kbps: 20000 });
  assert.deepEqual(o.sizes.map(([v]) => v), [null, 900, 720, 540, 480, 360]);
  assert.equal(o.sizes[0][1], 'Native (1920\u00d71080)');
  assert.equal(o.sizes.find(([v]) => v === 720)[1], '1280\u00d7720');
  assert.deepEqual(o.rates.map(([v]) => v), [null, 50, 30, 25, 20, 15]);
  assert.deepEqual(o.bitrates.map(([v]) => v), [null, 15000, 10000, 8000, 5000, 3000, 2000, 1000]);
  assert.equal(o.bitrates[0][1], 'Automatic, up to 20 Mbit/s');
  // An odd aspect keeps even widths.
  const odd = options({ width: 1366, height: 768, max_fps: 30, max_kbps: 6000 });
  assert.equal(odd.sizes.find(([v]) => v === 720)[1], '1280\u00d7720');
  assert.equal(odd.bitrates[0][1], 'Automatic, up to 6 Mbit/s');
});

test('stored choices are sanitised and round-trip', () => {
  assert.deepEqual(loadChoices(store()), { height: null, fps: null, max_kbps: null, audio: true });
  const bad = store({ 'peerdesk.settings': '{"height":99999,"fps":"60","max_kbps":-1,"audio":0}' });
  assert.deepEqual(loadChoices(bad), { height: null, fps: null, max_kbps: null, audio: true });
  assert.deepEqual(loadChoices(store({ 'peerdesk.settings': 'not json' })).height, null);
  const s = store();
  saveChoices({ height: 720, fps: 30, max_kbps: 5000, audio: false }, s);
  const back = loadChoices(s);
  assert.deepEqual(back, { height: 720, fps: 30, max_kbps: 5000, audio: false });
  assert.deepEqual(settingsMessage(back), { type: 'settings', stream: { height: 720, fps: 30, max_kbps: 5000 }, audio: false });
});
