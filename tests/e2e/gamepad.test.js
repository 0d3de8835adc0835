// Gamepads from the browser to virtual pads on the host. The page gets synthetic pads (the
// test replaces navigator.getGamepads); the host writes each virtual pad's evdev events to a
// file in place of its uinput device (--gamepad-dir), checked here byte for byte against the
// kernel's `struct input_event` layout; the games' side of rumble comes in through a FIFO and
// must play on the browser's pad. Without uinput, the host says so once and plays on.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync, rmSync, createWriteStream } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { start, launch, teardown, waitForFrames, poll, measureFps } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'peerdesk-pads-'));
const record = join(dir, 'input.log');
let demo;
let browser;
let page;
let ff;

// Linux input-event-codes.h
const EV_SYN = 0;
const EV_KEY = 1;
const EV_ABS = 3;
const BTN_A = 0x130;
const BTN_B = 0x131;
const BTN_MODE = 0x13c;
const ABS = { X: 0, Y: 1, Z: 2, RX: 3, RY: 4, RZ: 5, HAT0X: 0x10, HAT0Y: 0x11 };

/** The pad file's events: 24-byte `struct input_event` records (x86-64, little-endian). */
function padEvents(slot) {
  const path = join(dir, `pad${slot}.events`);
  if (!existsSync(path)) return [];
  const b = readFileSync(path);
  assert.equal(b.length % 24, 0, `whole input_event records in ${path}`);
  const out = [];
  for (let o = 0; o < b.length; o += 24) {
    assert.equal(b.readBigInt64LE(o), 0n, 'tv_sec left to the kernel');
    assert.equal(b.readBigInt64LE(o + 8), 0n, 'tv_usec left to the kernel');
    out.push([b.readUInt16LE(o + 16), b.readUInt16LE(o + 18), b.readInt32LE(o + 20)]);
  }
  return out;
}

/** Sets synthetic pad `index` (null: unplugged): pressed buttons, axes, triggers. */
function setPad(index, pad) {
  return page.evaluate(([i, p]) => window.__setPad(i, p), [index, pad]);
}

const recorded = () => readFileSync(record, 'utf8').split('\n').filter((l) => l.includes('Gamepad'));

before(async () => {
  execFileSync('mkfifo', [join(dir, 'ff')]);
  demo = await start(['demo', '--listen', '127.0.0.1:0', '--ephemeral-links', '--width', '640', '--height', '360', '--fps', '30', '--audio', 'none', '--record-input', record, '--gamepad-dir', dir], 'open ');
  browser = await launch();
  page = await browser.newPage();
  await page.addInitScript(() => {
    window.__pads = [null, null, null, null];
    window.__played = [];
    const make = (index) => ({
      index, id: `synthetic pad ${index}`, connected: true, mapping: 'standard', timestamp: 0,
      buttons: Array.from({ length: 17 }, () => ({ pressed: false, touched: false, value: 0 })),
      axes: [0, 0, 0, 0],
      vibrationActuator: {
        type: 'dual-rumble',
        playEffect(type, params) { window.__played.push({ index, type, ...params }); return Promise.resolve('complete'); },
        reset() { window.__played.push({ index, reset: true }); return Promise.resolve('complete'); },
      },
    });
    window.__setPad = (i, p) => {
      if (!p) { window.__pads[i] = null; return; }
      const pad = window.__pads[i] || make(i);
      pad.buttons.forEach((b, n) => { const v = (p.buttons || []).includes(n) ? 1 : 0; b.pressed = v > 0; b.value = v; });
      if (p.lt !== undefined) pad.buttons[6].value = p.lt;
      if (p.rt !== undefined) { pad.buttons[7].value = p.rt; pad.buttons[7].pressed = p.rt > 0.5; }
      pad.axes = p.axes || [0, 0, 0, 0];
      pad.timestamp += 1;
      window.__pads[i] = pad;
    };
    Object.defineProperty(navigator, 'getGamepads', { value: () => window.__pads.slice(), configurable: true });
  });
  await page.goto(demo.url);
  await waitForFrames(page, 1);
  await poll('control', () => page.evaluate(() => window.peerdesk.role?.role === 'control'));
});

after(async () => {
  ff?.destroy();
  await teardown(browser);
  rmSync(dir, { recursive: true, force: true });
});

test('a pad\'s buttons, sticks and triggers reach the host as the exact event and as evdev events', { timeout: 30000 }, async () => {
  await setPad(0, { buttons: [0, 12, 15], axes: [0.5, -1, 0, 1], rt: 1 });
  // Buttons: A (bit 0), RT pressed (7), d-pad up (12) and right (15) = 36993.
  await poll('the state recorded', () => recorded().some((l) => l.includes('Gamepad { index: 0, buttons: 36993, lt: 0, rt: 255, lx: 16384, ly: -32768, rx: 0, ry: 32767 }')));
  await poll('the first batch in pad0.events', () => padEvents(0).length >= 8);
  assert.deepEqual(padEvents(0).slice(0, 8), [
    [EV_KEY, BTN_A, 1],
    [EV_ABS, ABS.X, 16384],
    [EV_ABS, ABS.Y, -32768],
    [EV_ABS, ABS.RY, 32767],
    [EV_ABS, ABS.RZ, 255],
    [EV_ABS, ABS.HAT0X, 1],
    [EV_ABS, ABS.HAT0Y, -1],
    [EV_SYN, 0, 0],
  ]);
  // A held state is sent again (the channel may lose one), but the device gets changes only.
  const lines = recorded().length;
  await page.waitForTimeout(1000);
  assert.ok(recorded().length - lines >= 5, `the held state is repeated: ${recorded().length - lines} in 1 s`);
  assert.equal(padEvents(0).length, 8, 'no events for an unchanged state');

  // Release A, press B and Guide, sticks and d-pad back to rest: only what changed.
  await setPad(0, { buttons: [1, 16] });
  await poll('the change in pad0.events', () => padEvents(0).length > 8);
  await poll('the whole batch', () => padEvents(0).at(-1)[0] === EV_SYN);
  assert.deepEqual(padEvents(0).slice(8), [
    [EV_KEY, BTN_A, 0],
    [EV_KEY, BTN_B, 1],
    [EV_KEY, BTN_MODE, 1],
    [EV_ABS, ABS.X, 0],
    [EV_ABS, ABS.Y, 0],
    [EV_ABS, ABS.RY, 0],
    [EV_ABS, ABS.RZ, 0],
    [EV_ABS, ABS.HAT0X, 0],
    [EV_ABS, ABS.HAT0Y, 0],
    [EV_SYN, 0, 0],
  ]);
});

test('rumble from a game plays on the browser\'s pad', { timeout: 30000 }, async () => {
  ff = createWriteStream(join(dir, 'ff'));
  ff.write('0 upload 3 40000 20000 300\n0 play 3 1\n');
  const played = await poll('the rumble on pad 0', async () => (await page.evaluate(() => window.__played)).find((p) => p.type === 'dual-rumble'));
  assert.equal(played.index, 0);
  assert.equal(played.duration, 300);
  assert.ok(Math.abs(played.strongMagnitude - 40000 / 65535) < 0.001, `strong ${played.strongMagnitude}`);
  assert.ok(Math.abs(played.weakMagnitude - 20000 / 65535) < 0.001, `weak ${played.weakMagnitude}`);
  ff.write('0 play 3 0\n');
  await poll('the stop', async () => (await page.evaluate(() => window.__played)).some((p) => p.reset));
});

test('pads keep their slots: one unplugged frees its slot for the next, the other stays', { timeout: 30000 }, async () => {
  await setPad(1, { buttons: [3] });
  await poll('pad 1 in slot 1', () => padEvents(1).some(([t, c, v]) => t === EV_KEY && c === 0x134 && v === 1));
  const before0 = padEvents(0).length;
  await setPad(0, null);
  await poll('the removal recorded', () => recorded().some((l) => l.includes('GamepadRemoved { index: 0 }')));
  // Removed: what it held is released first.
  await poll('pad 0 released', () => padEvents(0).length > before0);
  assert.deepEqual(padEvents(0).slice(before0), [[EV_KEY, BTN_B, 0], [EV_KEY, BTN_MODE, 0], [EV_SYN, 0, 0]]);
  // A new pad (browser index 2) takes the free slot 0; pad 1 is still in slot 1.
  await setPad(2, { buttons: [0] });
  await poll('the new pad in slot 0', () => padEvents(0).length > before0 + 3);
  assert.deepEqual(padEvents(0).slice(before0 + 3), [[EV_KEY, BTN_A, 1], [EV_SYN, 0, 0]]);
  await setPad(1, { buttons: [] });
  await poll('pad 1 released in slot 1', () => padEvents(1).some(([t, c, v]) => t === EV_KEY && c === 0x134 && v === 0));
});

test('without uinput the host says so once, and the session plays on', { timeout: 60000 }, async (t) => {
  if (existsSync('/dev/uinput')) {
    t.skip('this machine has /dev/uinput: the host makes real pads here');
    return;
  }
  const other = await start(['demo', '--listen', '127.0.0.1:0', '--ephemeral-links', '--room', 'nopads', '--width', '320', '--height', '180', '--fps', '30', '--audio', 'none'], 'open ');
  const p = await browser.newPage();
  await p.addInitScript(() => {
    const pad = { index: 0, id: 'synthetic', connected: true, mapping: 'standard', timestamp: 0, axes: [0, 0, 0, 0], buttons: Array.from({ length: 17 }, (_, i) => ({ pressed: i === 0, value: i === 0 ? 1 : 0 })) };
    Object.defineProperty(navigator, 'getGamepads', { value: () => [pad, null, null, null], configurable: true });
    setInterval(() => { pad.buttons[0].pressed = !pad.buttons[0].pressed; pad.buttons[0].value = pad.buttons[0].pressed ? 1 : 0; }, 50);
  });
  await p.goto(other.url);
  await waitForFrames(p, 1);
  await poll('the host says so', () => /no \/dev\/uinput/.test(other.stderr), 10000);
  await p.waitForTimeout(1500);
  const said = other.stderr.match(/no \/dev\/uinput/g).length;
  assert.equal(said, 1, `said once: ${said}`);
  assert.match(other.stderr, /gamepads are ignored, the rest of the session works/);
  const fps = await measureFps(p, 2000);
  assert.ok(fps > 15, `the picture goes on: ${fps} fps`);
  await p.close();
  await other.kill();
});
