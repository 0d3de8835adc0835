// A wlroots desktop: sway on its headless backend and software renderer (no GPU), run by
// tests/e2e/wayland-session.sh as the unprivileged user of tests/e2e/wayland-lab.js.
// `peerdesk host --source wayland` finds a wlroots compositor and streams its output through
// wlr-screencopy (its portal cannot cast without DMA-BUF here, docs/decisions/0010-wayland.md),
// with input through the virtual pointer and keyboard: a native Wayland client of the test's
// (waylandpaint) is on screen, the page shows it at the output's size, and gets the page's key,
// click and wheel; nothing stays pressed after the page closes; a still output costs nothing.
// Needs a build with the `wayland` feature (scripts/test.sh builds with every feature).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { join } from 'node:path';
import { start, launch, teardown, waitForFrames, waitForColour, poll, videoStats, cpuSeconds, screenshot, pixels } from './harness.js';
import { WaylandLab, hostPid, lines, checkInput, ORANGE } from './wayland-lab.js';

const SIZE = [1280, 720];

let server;
let browser;
let lab;
let host;
let client;

before(async () => {
  lab = new WaylandLab();
  server = await start(['serve', '--listen', '127.0.0.1:0'], 'listening ');
  browser = await launch();
  host = await lab.host(server, 'sway', { compositor: 'sway', size: SIZE });
  client = await lab.client();
});

after(async () => {
  await client?.kill();
  await host?.kill();
  await teardown(browser);
  lab.cleanup();
});

test('sway: the host streams the output through wlr-screencopy; the test client gets the page\'s click, key and wheel, and nothing stays pressed after the page closes', { timeout: 90000 }, async () => {
  assert.match(host.stderr, /a wlroots compositor: streaming output HEADLESS-1 through wlr-screencopy/);
  assert.match(host.stderr, /input on this wlroots compositor through its virtual pointer and keyboard/);
  assert.equal(client.url, SIZE.join('x'), 'the client fills the output');
  const page = await browser.newPage();
  await page.setViewportSize({ width: SIZE[0], height: SIZE[1] });
  await page.goto(host.url);
  const s = await waitForFrames(page, 1, 20000);
  assert.deepEqual([s.width, s.height], SIZE, 'the output at its own size');
  await waitForColour(page, [1000, 600], ORANGE, { timeout: 10000 }).catch(async (e) => {
    await screenshot(page, 'sway-client-failed');
    throw new Error(`${e.message}: the page shows ${await pixels(page, [[1000, 600]])} where the client is orange; the client said: ${lines(client).join(' | ')}`);
  });
  await screenshot(page, 'sway-client');

  await checkInput(page, client, host);
});

test('sway: --list-sources names the compositor and its output', { timeout: 30000 }, async () => {
  const socket = await lab.socket();
  const [cmd, ...args] = lab.asUser([join(lab.tools, 'peerdesk'), 'host', '--list-sources'], [`WAYLAND_DISPLAY=${socket}`]);
  const out = execFileSync(cmd, args, { timeout: 20000 }).toString();
  assert.match(out, new RegExp(`^wayland ${socket}   a wlroots compositor: wlr-screencopy, no dialog \\(--source wayland\\)$`, 'm'));
  assert.match(out, /^ {4}monitor 0: HEADLESS-1 {2}1280x720 {2}\(--monitor HEADLESS-1 or --monitor 0\)$/m);
});

test('sway: the clipboard goes both ways (wlr-data-control): a copy in the session lands in the browser, a paste in the browser on the session\'s clipboard', { timeout: 60000 }, async () => {
  assert.match(host.stderr, /the clipboard is shared through the compositor's wlr-data-control/);
  const socket = await lab.socket();
  const inSession = (command) => {
    const [cmd, ...args] = lab.asUser(command, [`WAYLAND_DISPLAY=${socket}`]);
    return [cmd, args];
  };
  await browser.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(host.url).origin });
  const page = await browser.newPage();
  await page.goto(host.url);
  await waitForFrames(page, 1, 20000);
  await poll('control', () => page.evaluate(() => window.peerdesk.role?.role === 'control'));
  await page.click('#stage', { position: { x: 400, y: 300 } });

  const copied = `copied on sway ${Date.now()}: h\u00e9llo \u2713`;
  // wl-copy serves the copy until something else copies (in the foreground: ours to end).
  const copier = spawn(...inSession(['wl-copy', '--foreground', '--', copied]), { stdio: 'ignore' });
  try {
    await poll('the copy in the browser\'s clipboard', async () => (await page.evaluate(() => navigator.clipboard.readText())) === copied, 10000);
  } finally {
    if (copier.exitCode === null) copier.kill('SIGTERM');
  }

  const pasted = `pasted from the browser ${Date.now()}: gr\u00fc\u00dfe`;
  await page.evaluate((t) => navigator.clipboard.writeText(t), pasted);
  await page.keyboard.down('ControlLeft');
  await page.keyboard.press('KeyV');
  await page.keyboard.up('ControlLeft');
  const paste = () => {
    try {
      return execFileSync(...inSession(['wl-paste', '--no-newline']), { timeout: 5000 }).toString();
    } catch {
      return null;
    }
  };
  await poll('the browser\'s text on the session\'s clipboard', () => paste() === pasted, 10000);
  await page.close();
});

test('--source desktop in a Wayland session picks Wayland and says so', { timeout: 60000 }, async () => {
  const other = await lab.host(server, 'desktop', { compositor: 'sway', size: [800, 600], source: 'desktop' });
  try {
    assert.match(other.stderr, /--source desktop: WAYLAND_DISPLAY is set, streaming the Wayland desktop/);
    assert.match(other.stderr, /streaming output HEADLESS-1 through wlr-screencopy/);
    const page = await browser.newPage();
    await page.goto(other.url);
    const s = await waitForFrames(page, 1, 20000);
    assert.deepEqual([s.width, s.height], [800, 600], 'this session\'s output');
    await page.close();
  } finally {
    await other.kill();
  }
});

test('sway: a still output costs the host almost no CPU (screencopy waits for damage)', { timeout: 60000 }, async () => {
  const page = await browser.newPage();
  await page.goto(host.url);
  await waitForFrames(page, 1, 20000);
  await page.waitForTimeout(1500);
  const pid = hostPid(host);
  assert.ok(pid, 'the host runs as the session user');
  const cpu0 = cpuSeconds(pid);
  const frames0 = (await videoStats(page)).framesDecoded;
  const t0 = Date.now();
  await page.waitForTimeout(8000);
  const secs = (Date.now() - t0) / 1000;
  const cpu = ((cpuSeconds(pid) - cpu0) / secs) * 100;
  const frames = (await videoStats(page)).framesDecoded - frames0;
  console.log(`host CPU over ${secs.toFixed(1)} s of a still sway output: ${cpu.toFixed(1)}% of one core; ${frames} frames decoded`);
  assert.ok(frames <= 8, `almost no frames while nothing changes: ${frames} in ${secs.toFixed(1)} s`);
  // Rate control's padding floor is on here (no --fixed-bitrate): a few percent.
  assert.ok(cpu < 10, `idle host CPU ${cpu.toFixed(1)}% is low`);
  await page.close();
});
