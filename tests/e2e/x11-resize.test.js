// When the host's screen resolution changes (xrandr), the stream follows without the page
// reloading: the video takes the new size, the picture is right, and clicks still land on the
// right pixel.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  start, startXvfb, startXprobe, launch, teardown, waitForFrames, pixels, near, poll, pictureRect, xrandr,
} from './harness.js';

let xserver;
let probe;
let browser;
let page;

const RED = [0xe6, 0x28, 0x28];
const GREEN = [0x28, 0xdc, 0x3c];

before(async () => {
  xserver = await startXvfb('1280x800', { resizable: true });
  probe = await startXprobe(xserver.display, '40,40,200,120,e62828;560,40,200,120,28dc3c');
  const server = await start(['serve', '--listen', '127.0.0.1:0'], 'listening ');
  const host = await start(['host', '--server', server.url, '--room', 'resize', '--source', 'x11', '--display', xserver.display], 'open ');
  browser = await launch();
  page = await browser.newPage();
  await page.goto(host.url);
  await waitForFrames(page, 1);
});

after(() => teardown(browser));

const videoSize = () => page.evaluate(() => {
  const v = document.getElementById('video');
  return `${v.videoWidth}x${v.videoHeight}`;
});

for (const size of ['1280x800', '1024x768', '1920x1080', '800x600']) {
  test(`at ${size} the stream has that size, the right picture, and exact clicks`, { timeout: 30000 }, async () => {
    const pcBefore = await page.evaluateHandle(() => window.peerdesk.pc);
    if ((await videoSize()) !== size) {
      const t0 = Date.now();
      await xrandr(xserver.display, ['-s', size]);
      await poll(`the video at ${size}`, async () => (await videoSize()) === size, 5000);
      console.log(`stream followed the change to ${size} in ${Date.now() - t0} ms`);
    }
    assert.equal(await page.evaluate((old) => window.peerdesk.pc === old, pcBefore), true, 'same connection, no reload');
    const got = await pixels(page, [[140, 100], [660, 100]]);
    assert.ok(near(got[0], RED) && near(got[1], GREEN), `fields at ${size}: ${got}`);
    const [w, h] = size.split('x').map(Number);
    const r = await pictureRect(page);
    for (const [vx, vy] of [[w - 1, h - 1], [Math.floor(w / 2), Math.floor(h / 3)]]) {
      probe.events.length = 0;
      await page.mouse.click(r.left + (vx + 0.5) * r.scale, r.top + (vy + 0.5) * r.scale);
      const ev = await probe.waitFor((e) => e.type === 'button_press', `click at ${vx},${vy}`);
      assert.ok(Math.abs(ev.x - vx) <= 1 && Math.abs(ev.y - vy) <= 1, `click at ${vx},${vy} landed at ${ev.x},${ev.y}`);
    }
  });
}
