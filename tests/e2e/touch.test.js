// A phone (390x844, touch) against the demo host: a tap clicks where the finger was, a long
// press right-clicks, one finger drags with the left button, two fingers scroll the host's
// wheel, a pinch zooms the picture here (and later taps land where the zoomed picture shows),
// and the keyboard button's field types to the host. Checked in the host's own record of the
// input that reached it.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { start, launch, teardown, waitForFrames, poll, pictureRect, screenshot } from './harness.js';

const dir = mkdtempSync(join(tmpdir(), 'peerdesk-touch-'));
const record = join(dir, 'input.log');
let browser;
let page;
let cdp;
let rect;

const lines = () => readFileSync(record, 'utf8').split('\n').filter(Boolean).map((l) => l.replace(/^p\d+ /, ''));

/** The input recorded from here on, once `pred` holds for it. */
async function recordedAfter(from, what, pred) {
  return poll(what, () => { const got = lines().slice(from); return pred(got) ? got : null; }, 5000);
}

const touches = (type, points) => cdp.send('Input.dispatchTouchEvent', { type, touchPoints: points.map(([x, y], id) => ({ x, y, id })) });
const wire = (v, size) => Math.floor((v / size) * 65536);
const moveAt = (l) => { const m = /^PointerMove \{ x: (\d+), y: (\d+) \}$/.exec(l); return m && [Number(m[1]), Number(m[2])]; };

before(async () => {
  const demo = await start(['demo', '--listen', '127.0.0.1:0', '--ephemeral-links', '--width', '640', '--height', '360', '--fps', '30', '--audio', 'none', '--record-input', record], 'open ');
  browser = await launch({ options: { viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true, deviceScaleFactor: 2 } });
  page = await browser.newPage();
  await page.goto(demo.url);
  await waitForFrames(page, 1);
  await poll('control', () => page.evaluate(() => window.peerdesk.role?.role === 'control'));
  cdp = await page.context().newCDPSession(page);
  rect = await pictureRect(page);
});

after(async () => {
  await teardown(browser);
  rmSync(dir, { recursive: true, force: true });
});

test('on a phone the bar fits the screen, with a keyboard button and no volume slider', { timeout: 20000 }, async () => {
  const boxes = await page.evaluate(() => ['#room-label', '#role', '#sound', '#volume', '#stats-toggle', '#lock', '#keyboard', '#settings-toggle', '#fullscreen'].map((s) => {
    const el = document.querySelector(s);
    const r = el.getBoundingClientRect();
    return { s, shown: !el.hidden && getComputedStyle(el).display !== 'none', left: r.left, right: r.right, width: r.width };
  }));
  const shown = boxes.filter((b) => b.shown).map((b) => b.s);
  assert.deepEqual(shown, ['#room-label', '#role', '#sound', '#stats-toggle', '#lock', '#keyboard', '#settings-toggle', '#fullscreen']);
  for (const b of boxes.filter((x) => x.shown)) assert.ok(b.left >= 0 && b.right <= 390 && b.width >= 20, `${b.s} inside the screen and not squeezed: ${JSON.stringify(b)}`);
  await screenshot(page, 'touch-session-390x844');
});

test('a tap is a left click where the finger was', { timeout: 20000 }, async () => {
  const from = lines().length;
  const [x, y] = [rect.left + rect.width * 0.25, rect.top + rect.height * 0.75];
  await page.touchscreen.tap(x, y);
  const got = await recordedAfter(from, 'a click', (g) => g.includes('Button { button: Left, down: false }'));
  const at = moveAt(got[0]);
  assert.ok(at, `a move first: ${got}`);
  assert.ok(Math.abs(at[0] - wire(x - rect.left, rect.width)) < 400 && Math.abs(at[1] - wire(y - rect.top, rect.height)) < 400, `at ${at}`);
  assert.deepEqual(got.slice(1), ['Button { button: Left, down: true }', 'Button { button: Left, down: false }']);
});

test('a long press is a right click; a drag holds the left button', { timeout: 20000 }, async () => {
  const [x, y] = [rect.left + rect.width / 2, rect.top + rect.height / 2];
  let from = lines().length;
  await touches('touchStart', [[x, y]]);
  await page.waitForTimeout(800);
  await touches('touchEnd', []);
  let got = await recordedAfter(from, 'a right click', (g) => g.includes('Button { button: Right, down: false }'));
  assert.deepEqual(got.filter((l) => l.startsWith('Button')), ['Button { button: Right, down: true }', 'Button { button: Right, down: false }']);

  from = lines().length;
  await touches('touchStart', [[x, y]]);
  for (let i = 1; i <= 5; i++) await touches('touchMove', [[x + i * 12, y]]);
  await touches('touchEnd', []);
  got = await recordedAfter(from, 'a drag', (g) => g.includes('Button { button: Left, down: false }'));
  assert.equal(got[1], 'Button { button: Left, down: true }', `pressed at the start: ${got}`);
  assert.equal(got.at(-1), 'Button { button: Left, down: false }');
  const moves = got.slice(2, -1).map(moveAt);
  assert.ok(moves.length >= 3 && moves.every(Boolean), `moves while held: ${got}`);
  assert.ok(moves.at(-1)[0] > moves[0][0], 'to the right');
});

test('two fingers dragging up scroll the host down', { timeout: 20000 }, async () => {
  const [x, y] = [rect.left + rect.width / 2, rect.top + rect.height / 2];
  const from = lines().length;
  await touches('touchStart', [[x - 40, y + 50], [x + 40, y + 50]]);
  for (let i = 1; i <= 10; i++) await touches('touchMove', [[x - 40, y + 50 - i * 10], [x + 40, y + 50 - i * 10]]);
  await touches('touchEnd', []);
  const got = await recordedAfter(from, 'wheel', (g) => g.some((l) => l.startsWith('Wheel')));
  await page.waitForTimeout(300);
  const dy = lines().slice(from).map((l) => /^Wheel \{ dx: 0, dy: (-?\d+) \}$/.exec(l)).filter(Boolean).reduce((s, m) => s + Number(m[1]), 0);
  assert.ok(dy >= 90 && dy <= 120, `about a notch down for 100 px: ${dy}`);
  assert.ok(!got.some((l) => l.startsWith('Button')), 'no click');
});

test('a pinch zooms here, not on the host; a tap then lands where the zoomed picture shows', { timeout: 20000 }, async () => {
  const [x, y] = [rect.left + rect.width / 2, rect.top + rect.height / 2];
  const from = lines().length;
  await touches('touchStart', [[x - 20, y], [x + 20, y]]);
  for (let i = 1; i <= 10; i++) await touches('touchMove', [[x - 20 - i * 4, y], [x + 20 + i * 4, y]]);
  await touches('touchEnd', []);
  const zoom = await page.evaluate(() => window.peerdesk.zoom);
  assert.ok(zoom.scale > 2.5 && zoom.scale < 3.5, `zoomed about 3x: ${JSON.stringify(zoom)}`);
  await page.waitForTimeout(300);
  assert.deepEqual(lines().slice(from).filter((l) => !l.startsWith('PointerMove')), [], 'nothing of it reached the host');
  await screenshot(page, 'touch-zoomed-390x844');
  // Where a tap lands: undo the zoom, then the unzoomed picture's mapping.
  const [tx, ty] = [x + 30, y - 20];
  const q = [(tx - zoom.x) / zoom.scale, (ty - zoom.y) / zoom.scale];
  const after = lines().length;
  await page.touchscreen.tap(tx, ty);
  const got = await recordedAfter(after, 'the zoomed tap', (g) => g.includes('Button { button: Left, down: false }'));
  const at = moveAt(got[0]);
  const want = [wire(q[0] - rect.left, rect.width), wire(q[1] - rect.top, rect.height)];
  assert.ok(Math.abs(at[0] - want[0]) < 300 && Math.abs(at[1] - want[1]) < 300, `tap at ${at}, the zoomed picture shows ${want} there`);
});

test('the keyboard button types to the host: text, Backspace and Enter', { timeout: 20000 }, async () => {
  assert.ok(await page.isVisible('#keyboard'), 'a keyboard button on a touch screen');
  await page.tap('#keyboard');
  assert.ok(await page.evaluate(() => document.activeElement?.id === 'soft-keyboard'), 'the field is focused');
  const from = lines().length;
  await page.keyboard.insertText('h\u00e9');
  await page.keyboard.press('Backspace');
  await page.keyboard.press('Enter');
  const got = await recordedAfter(from, 'typing', (g) => g.includes('Key { code: "Enter", down: false }'));
  assert.deepEqual(got, [
    'Text { text: "h" }', 'Text { text: "\u00e9" }',
    'Key { code: "Backspace", down: true }', 'Key { code: "Backspace", down: false }',
    'Key { code: "Enter", down: true }', 'Key { code: "Enter", down: false }',
  ]);
});
