// `--monitor` streams one RandR monitor of the display: by name or by number, the page shows
// just that monitor, and clicks land on the matching pixel of the whole desktop.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  start, startXvfb, startXprobe, launch, teardown, waitForFrames, pixels, near, pictureRect, xrandr, run,
} from './harness.js';

let xserver;
let probe;
let server;
let browser;

const RED = [0xe6, 0x28, 0x28];
const GREEN = [0x28, 0xdc, 0x3c];

before(async () => {
  xserver = await startXvfb('1280x480', { resizable: true });
  await xrandr(xserver.display, ['--setmonitor', 'LEFT', '640/100x480/100+0+0', 'none']);
  await xrandr(xserver.display, ['--setmonitor', 'RIGHT', '640/100x480/100+640+0', 'none']);
  // A red field on the left monitor, a green one on the right.
  probe = await startXprobe(xserver.display, '100,100,200,100,e62828;740,100,200,100,28dc3c');
  server = await start(['serve', '--listen', '127.0.0.1:0'], 'listening ');
  browser = await launch();
});

after(() => teardown(browser));

test('--list-sources shows the monitors', { timeout: 20000 }, async () => {
  const r = await run(['host', '--list-sources', '--display', xserver.display]);
  assert.equal(r.code, 0);
  assert.match(r.stdout, /monitor 0: LEFT {2}640x480\+0\+0/);
  assert.match(r.stdout, /monitor 1: RIGHT {2}640x480\+640\+0/);
});

for (const [monitor, colour, offset] of [['RIGHT', GREEN, 640], ['0', RED, 0]]) {
  test(`--monitor ${monitor} streams that monitor only, and clicks land on it`, { timeout: 30000 }, async () => {
    const room = `mon-${monitor}`;
    const host = await start(['host', '--server', server.url, '--room', room, '--source', 'x11', '--display', xserver.display, '--monitor', monitor], 'open ');
    const page = await browser.newPage();
    await page.goto(host.url);
    const stats = await waitForFrames(page, 1);
    assert.deepEqual([stats.width, stats.height], [640, 480]);
    const got = await pixels(page, [[200, 150]]);
    assert.ok(near(got[0], colour), `monitor ${monitor} shows ${got[0]}, expected ${colour}`);
    const r = await pictureRect(page);
    for (const [vx, vy] of [[5, 5], [639, 479], [320, 240]]) {
      probe.events.length = 0;
      await page.mouse.click(r.left + (vx + 0.5) * r.scale, r.top + (vy + 0.5) * r.scale);
      const ev = await probe.waitFor((e) => e.type === 'button_press', `click at ${vx},${vy}`);
      assert.ok(Math.abs(ev.x - (vx + offset)) <= 1 && Math.abs(ev.y - vy) <= 1, `click at ${vx},${vy} on ${monitor} landed at ${ev.x},${ev.y}`);
    }
    await page.close();
  });
}

test('--width scales the stream down keeping its aspect; clicks still land where they point', { timeout: 30000 }, async () => {
  const host = await start(['host', '--server', server.url, '--room', 'scaled', '--source', 'x11', '--display', xserver.display, '--monitor', 'RIGHT', '--width', '320'], 'open ');
  const page = await browser.newPage();
  await page.goto(host.url);
  const stats = await waitForFrames(page, 1);
  assert.deepEqual([stats.width, stats.height], [320, 240]);
  const got = await pixels(page, [[100, 75]]);
  assert.ok(near(got[0], GREEN), `scaled picture shows ${got[0]}`);
  const r = await pictureRect(page);
  // One video pixel is two desktop pixels here: a click lands within 2 px.
  for (const [vx, vy] of [[0, 0], [319, 239], [160, 120]]) {
    probe.events.length = 0;
    await page.mouse.click(r.left + (vx + 0.5) * r.scale, r.top + (vy + 0.5) * r.scale);
    const ev = await probe.waitFor((e) => e.type === 'button_press', `click at ${vx},${vy}`);
    const want = [640 + vx * 2, vy * 2];
    assert.ok(Math.abs(ev.x - want[0]) <= 2 && Math.abs(ev.y - want[1]) <= 2, `click at ${vx},${vy} landed at ${ev.x},${ev.y}, want ${want}`);
  }
  await page.close();
});

test('a monitor that does not exist is refused with the way to list them', { timeout: 20000 }, async () => {
  const r = await run(['host', '--server', server.url, '--room', 'nope', '--source', 'x11', '--display', xserver.display, '--monitor', 'HDMI-9']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no monitor HDMI-9; `peerdesk host --list-sources` lists them/);
});
