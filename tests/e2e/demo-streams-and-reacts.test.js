// `peerdesk demo` in real Chromium: the test scene is decoded at the target frame rate, its
// known colours are at their known places, and keys, clicks and the pointer change it.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startWithPage, teardown, launch, screenshot, waitForFrames, measureFps, pixels, waitForColour, near, videoStats,
  sceneLayout, PATCH_COLOURS, MARKER_OFF, MARKER_ON, DOT, pictureRect,
} from './harness.js';

let demo;
let browser;
let page;
const FPS = 60;

before(async () => {
  ({ proc: demo, browser, page } = await startWithPage(['demo', '--listen', '127.0.0.1:0'], 'open '));
});

after(() => teardown(browser));

test('the printed link opens the moving test scene at the target frame rate', { timeout: 60000 }, async () => {
  assert.match(demo.url, /^http:\/\/127\.0\.0\.1:\d+\/\?room=demo#k=[A-Za-z0-9_-]{43}$/);
  assert.doesNotMatch(demo.url, /:0\//, 'the link shows the real port');
  const t0 = Date.now();
  await page.goto(demo.url);
  const stats = await waitForFrames(page, 1, 10000);
  console.log(`first frame decoded ${Date.now() - t0} ms after opening the page`);
  assert.equal(stats.width, 1280);
  assert.equal(stats.height, 720);

  const fps = await measureFps(page, 3000);
  console.log(`decoded ${fps.toFixed(1)} fps (target ${FPS})`);
  assert.ok(Math.abs(fps - FPS) <= FPS * 0.2, `fps ${fps.toFixed(1)} within 20% of ${FPS}`);

  const layout = sceneLayout(1280, 720);
  const got = await pixels(page, [...layout.patches, layout.marker]);
  PATCH_COLOURS.forEach((c, i) => assert.ok(near(got[i], c), `patch ${i} at ${layout.patches[i]}: ${got[i]} vs ${c}`));
  assert.ok(near(got[4], MARKER_OFF), `marker ${got[4]} is off (cyan)`);

  // The sweeping bar moves: find it along a row above the patches, twice.
  const row = Array.from({ length: 160 }, (_, i) => [i * 8 + 4, 20]);
  const barAt = async () => (await pixels(page, row)).findIndex((p) => p[0] > 100 && p[1] > 100);
  const a = await barAt();
  await page.waitForTimeout(400);
  const b = await barAt();
  assert.ok(a >= 0 && b >= 0 && a !== b, `the bar moved (${a} -> ${b})`);
  await screenshot(page, 'demo');
});

test('a key press and a click toggle the marker, seen in the decoded video', { timeout: 30000 }, async () => {
  const { marker } = sceneLayout(1280, 720);
  await page.keyboard.press('KeyA');
  await waitForColour(page, marker, MARKER_ON);
  const rect = await pictureRect(page);
  await page.mouse.click(rect.left + 100, rect.top + 400);
  await waitForColour(page, marker, MARKER_OFF);
  // Holding a key (auto-repeat) toggles once, not on every repeat.
  await page.keyboard.down('KeyB');
  await page.keyboard.down('KeyB');
  await page.keyboard.down('KeyB');
  await page.keyboard.up('KeyB');
  await waitForColour(page, marker, MARKER_ON);
  await page.waitForTimeout(300);
  assert.ok(near((await pixels(page, [marker]))[0], MARKER_ON), 'repeats did not toggle again');
});

test('the pointer dot lands where the pointer is, also when the video is letterboxed', { timeout: 30000 }, async () => {
  for (const viewport of [{ width: 1280, height: 720 }, { width: 900, height: 800 }, { width: 1400, height: 500 }]) {
    await page.setViewportSize(viewport);
    const rect = await pictureRect(page);
    for (const [vx, vy] of [[400, 500], [900, 250], [640, 60]]) {
      await page.mouse.move(rect.left + (vx + 0.5) * rect.scale, rect.top + (vy + 0.5) * rect.scale);
      await waitForColour(page, [vx, vy], DOT, { tol: 30 });
    }
  }
  await page.setViewportSize({ width: 1280, height: 720 });
});

test('several viewers share the stream; one vanishing leaves the others playing', { timeout: 60000 }, async () => {
  const { marker } = sceneLayout(1280, 720);
  const other = await launch();
  const second = await other.newPage();
  await second.goto(demo.url);
  await waitForFrames(second, 10);
  // Both see the same scene state: the marker is whatever the first page left it at.
  const colour = (await pixels(page, [marker]))[0];
  assert.ok(near((await pixels(second, [marker]))[0], colour), 'both viewers see the same marker');

  // The first viewer's browser goes away without a goodbye.
  await browser.close_();
  browser = null;
  const before = (await videoStats(second)).framesDecoded;
  const fps = await measureFps(second, 2000);
  assert.ok(fps > 40, `the remaining viewer still plays at ${fps.toFixed(1)} fps`);
  assert.ok((await videoStats(second)).framesDecoded > before);
  // And it still controls the scene.
  const target = near(colour, MARKER_ON) ? MARKER_OFF : MARKER_ON;
  await second.keyboard.press('KeyC');
  await waitForColour(second, marker, target);
  browser = other;
});
