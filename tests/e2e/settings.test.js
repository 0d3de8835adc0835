// The settings panel changes the running stream: a smaller size and a lower frame rate chosen
// in the page reach the decoder on the same peer connection; the choices persist across a
// reload; a view-only viewer cannot change the stream (its panel says so, and a crafted message
// changes nothing); the stream goes back to the host's own when the controller leaves.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, launch, teardown, waitForFrames, videoStats, measureFps, poll, screenshot } from './harness.js';

let demo;
let viewLink;
let browser;
let page;

before(async () => {
  demo = await start(['demo', '--listen', '127.0.0.1:0', '--view-link', '--ephemeral-links', '--width', '1280', '--height', '720', '--fps', '30'], 'open ');
  viewLink = await demo.waitForLine('view ');
  browser = await launch();
  page = await browser.newPage();
  await page.goto(demo.url);
  await waitForFrames(page, 1);
  await poll('control', () => page.evaluate(() => window.peerdesk.role?.role === 'control'));
});

after(() => teardown(browser));

const size = async (p) => { const s = await videoStats(p); return s ? [s.width, s.height] : null; };

test('size and frame rate chosen in the panel change the stream, on the same connection', { timeout: 60000 }, async () => {
  assert.deepEqual(await size(page), [1280, 720]);
  await page.evaluate(() => { window.__firstPc = window.peerdesk.pc; });
  await page.click('#settings-toggle');
  await poll('the host\'s limits in the panel', () => page.evaluate(() => !document.getElementById('set-size').disabled));
  const sizes = await page.$$eval('#set-size option', (os) => os.map((o) => o.textContent));
  assert.equal(sizes[0], 'Native (1280\u00d7720)');
  assert.ok(sizes.includes('640\u00d7360'), `offered sizes: ${sizes}`);
  assert.ok(!sizes.some((s) => /1080/.test(s)), 'nothing larger than the host\'s');
  const rates = await page.$$eval('#set-fps option', (os) => os.map((o) => o.value));
  assert.ok(!rates.includes('60'), `nothing above the host's 30 fps: ${rates}`);
  await screenshot(page, 'settings-panel-1280x720');

  await page.selectOption('#set-size', '360');
  await page.selectOption('#set-fps', '15');
  await poll('a 640x360 picture', async () => JSON.stringify(await size(page)) === '[640,360]', 10000);
  await page.waitForTimeout(1000);
  const fps = await measureFps(page, 3000);
  assert.ok(fps > 10 && fps < 18, `about 15 frames a second decoded: ${fps}`);
  const same = await page.evaluate(() => window.peerdesk.pc === window.__firstPc && window.peerdesk.pc.connectionState);
  assert.equal(same, 'connected', 'the same peer connection, still connected');
  const host = await page.evaluate(() => window.peerdesk.hostStats);
  assert.equal(host.target_fps, 15);
  assert.equal(host.scale, 0.5);
  const told = await page.evaluate(() => window.peerdesk.settings.host.asked);
  assert.deepEqual(told, { height: 360, fps: 15, max_kbps: null });
});

test('the choices persist: after a reload the stream comes back at the chosen size', { timeout: 60000 }, async () => {
  await page.reload();
  await waitForFrames(page, 1);
  await poll('640x360 again without touching the panel', async () => JSON.stringify(await size(page)) === '[640,360]', 15000);
  const choices = await page.evaluate(() => window.peerdesk.settings.choices);
  assert.deepEqual(choices, { height: 360, fps: 15, max_kbps: null, audio: true });
});

/** Audio packets the page has received so far. */
const audioPackets = (p) => p.evaluate(async () => {
  let n = 0;
  (await window.peerdesk.pc.getStats()).forEach((s) => { if (s.type === 'inbound-rtp' && s.kind === 'audio') n = s.packetsReceived; });
  return n;
});

test('sound turned off in the panel stops the host sending it to this viewer; on again, it flows', { timeout: 60000 }, async () => {
  await poll('sound arrives', async () => (await audioPackets(page)) > 50, 10000);
  await page.click('#settings-toggle');
  await page.uncheck('#set-audio');
  await page.waitForTimeout(1000);
  const a = await audioPackets(page);
  await page.waitForTimeout(1500);
  const b = await audioPackets(page);
  assert.ok(b - a <= 2, `no sound while off: ${b - a} packets in 1.5 s`);
  await page.check('#set-audio');
  await poll('sound again', async () => (await audioPackets(page)) > b + 50, 10000);
  await page.click('#settings-close');
});

test('a view-only viewer cannot change the stream; the host\'s own returns when the controller leaves', { timeout: 60000 }, async () => {
  const viewer = await browser.newPage();
  await viewer.goto(viewLink);
  await waitForFrames(viewer, 1);
  await poll('view role', () => viewer.evaluate(() => window.peerdesk.role?.role === 'view'));
  await poll('the viewer sees the controller\'s size', async () => JSON.stringify(await size(viewer)) === '[640,360]', 10000);
  await viewer.click('#settings-toggle');
  assert.ok(await viewer.evaluate(() => document.getElementById('set-size').disabled), 'size is not the viewer\'s to choose');
  assert.match(await viewer.textContent('#settings-note'), /viewer in control chooses/);
  // Crafted by hand: the host ignores a viewer's request of the stream.
  await viewer.evaluate(() => window.peerdesk.channels.input.send(JSON.stringify({ type: 'settings', stream: { height: 144, fps: 5, max_kbps: null }, audio: true })));
  await viewer.waitForTimeout(1500);
  assert.deepEqual(await size(viewer), [640, 360]);
  // The controller leaves: its choices go with it.
  await page.close();
  await poll('the host\'s own size again', async () => JSON.stringify(await size(viewer)) === '[1280,720]', 15000);
  await viewer.close();
});
