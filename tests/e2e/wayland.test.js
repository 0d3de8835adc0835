// A Wayland desktop: GNOME's mutter, headless, with PipeWire and the portals, run by
// tests/e2e/wayland-session.sh as an unprivileged user this test creates (a session bus admits
// its owner only). `peerdesk host --source wayland` asks the desktop's portals for the screen
// (and keyboard and pointer, unless --screen-only); the desktop's dialog is answered by clicks,
// as a user would (desktopclick, through mutter's own remote desktop API). With --screen-only
// the page shows the desktop and, started again, the host shares with the token it kept,
// without a dialog. With control, a native Wayland client of the test's (waylandpaint) gets the
// page's keys, clicks and wheel. Needs a build with the `wayland` feature (scripts/test.sh
// builds with every feature).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { start, run, launch, teardown, waitForFrames, waitForColour, poll, videoStats, screenshot, cpuSeconds } from './harness.js';
import { WaylandLab, USER, hostPid, checkInput, ORANGE } from './wayland-lab.js';

const SIZE = [1280, 720];
// The dialogs at 1280x720 (docs/decisions/0010-wayland.md). "Screen Share": the monitor's row,
// then Share. "Remote desktop" (screen and control): the "Allow remote interaction" switch, then
// Share (its one monitor comes ticked).
const SHARE_CLICKS = '640,386 853,233';
const CONTROL_CLICKS = '830,432 853,233';

let server;
let browser;
let lab;

/** `peerdesk host --source wayland [ARGS]` on mutter; `click` ("X,Y ...") answers its dialog. */
function startWaylandHost(room, { click, args = [] }) {
  return lab.host(server, room, { click, args, size: SIZE });
}

before(async () => {
  lab = new WaylandLab();
  server = await start(['serve', '--listen', '127.0.0.1:0'], 'listening ');
  browser = await launch();
});

after(async () => {
  await teardown(browser);
  lab.cleanup();
});

/** The mean colour of the page's picture, from the decoded video. */
function meanColour(page) {
  return page.evaluate(() => {
    const v = document.getElementById('video');
    const c = document.createElement('canvas');
    [c.width, c.height] = [64, 36];
    const g = c.getContext('2d');
    g.drawImage(v, 0, 0, c.width, c.height);
    const px = g.getImageData(0, 0, c.width, c.height).data;
    const sum = [0, 0, 0];
    for (let i = 0; i < px.length; i += 4) for (let k = 0; k < 3; k += 1) sum[k] += px[i + k];
    return sum.map((s) => s / (px.length / 4));
  });
}

test('--screen-only: the desktop asks once, the user shares, the page shows the Wayland desktop at its size; started again, the host shares without asking', { timeout: 150000 }, async () => {
  const host = await startWaylandHost('wayland', { click: SHARE_CLICKS, args: ['--screen-only'] });
  assert.match(host.stderr, /asking the desktop to share its screen: answer its dialog/);
  assert.match(host.stderr, /shares its screen through the ScreenCast portal/);
  assert.match(host.stderr, /kept the desktop's token in .*wayland-token-wayland: no dialog next time/);
  const page = await browser.newPage();
  await page.goto(host.url);
  const s = await waitForFrames(page, 1, 20000)
    .catch((e) => { throw new Error(`${e.message}; the host said:\n${host.stderr}`); });
  assert.deepEqual([s.width, s.height], SIZE, 'the monitor at its own size');
  // mutter's default background: a blue gradient (the dialog went with the click).
  const [r, g, b] = await meanColour(page);
  assert.ok(b > r + 30 && b > 60, `a blue desktop, not a black or blank picture: ${[r, g, b].map(Math.round)}`);
  await screenshot(page, 'wayland-desktop');
  await page.close();
  await host.kill();

  // The same room again, no one to click: the kept token shares at once.
  const again = await startWaylandHost('wayland', { click: null, args: ['--screen-only'] });
  assert.match(again.stderr, /with the token kept from the last run/);
  const page2 = await browser.newPage();
  await page2.goto(again.url);
  const s2 = await waitForFrames(page2, 1, 20000);
  assert.deepEqual([s2.width, s2.height], SIZE);
  const state2 = await videoStats(page2);
  assert.equal(state2.state, 'connected');
  await page2.close();
  await again.kill();
});

/** Whether the session's desktopclick is still running. */
function clickerRunning() {
  try {
    execFileSync('pgrep', ['-u', USER, '-x', 'desktopclick'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

test('screen and control: the user allows remote interaction; a native Wayland client gets the page\'s click, key and wheel, and nothing stays pressed after the page closes', { timeout: 150000 }, async () => {
  const host = await startWaylandHost('control', { click: CONTROL_CLICKS });
  assert.match(host.stderr, /asking the desktop to share its screen, keyboard and pointer: answer its dialog/);
  assert.match(host.stderr, /shares its screen and keyboard and pointer through the RemoteDesktop portal/);
  assert.match(host.stderr, /viewers in control reach this desktop's keyboard and pointer/);
  // mutter lets no other program at its clipboard: said once, the rest goes on.
  assert.equal(host.stderr.match(/lets no other program see its clipboard \(no wlr-data-control\); the clipboard is not shared/g)?.length, 1);
  // Debian 12's portal (1.16) cannot remember remote control: the host says so.
  assert.match(host.stderr, /cannot remember remote control .* --screen-only/);
  // The test's own client, full screen, painted orange; started once the dialog is gone and the
  // clicker has let go of mutter (a client mapped while its virtual pointer is there gets no
  // pointer events from the portal's).
  await poll('the clicker gone', () => !clickerRunning(), 20000);
  const client = await lab.client();
  assert.equal(client.url, SIZE.join('x'), 'the client fills the monitor');
  const page = await browser.newPage();
  await page.setViewportSize({ width: SIZE[0], height: SIZE[1] });
  await page.goto(host.url);
  const s = await waitForFrames(page, 1, 20000);
  assert.deepEqual([s.width, s.height], SIZE);
  await waitForColour(page, [1000, 600], ORANGE, { timeout: 10000 });

  // Headless mutter has no keyboard until the first key comes through the portal (its virtual
  // keyboard is made then): the client gets it, and the focus, with that first key (Shift here).
  await checkInput(page, client, host, { firstKey: 'ShiftLeft' });
  await client.kill();
  await host.kill();
});

test('PipeWire stopped mid-stream: the host and the page say so, and the picture comes back when PipeWire is started again', { timeout: 150000 }, async () => {
  // --screen-only: the portal remembers the share (the token from the first test, or the
  // dialog answered here), so asking again needs nobody.
  const host = await startWaylandHost('pipewire', { click: SHARE_CLICKS, args: ['--screen-only'] });
  const page = await browser.newPage();
  await page.goto(host.url);
  await waitForFrames(page, 1, 20000)
    .catch((e) => { throw new Error(`${e.message}; the host said:\n${host.stderr}`); });
  const pipewire = hostPid(host, 'pipewire');
  const wireplumber = hostPid(host, 'wireplumber');
  assert.ok(pipewire && wireplumber, 'the session runs PipeWire and WirePlumber');
  // The session's own processes, started by this test (as its user).
  process.kill(wireplumber, 'SIGTERM');
  process.kill(pipewire, 'SIGTERM');
  const said = await poll('the host to say the cast ended', () => /viewers see the last picture; the host asks the desktop to share again/.test(host.stderr), 10000);
  assert.ok(said);
  const status = await poll('the page to say why', async () => {
    const s = await page.evaluate(() => window.peerdesk.status);
    return /asking the desktop to share it again/.test(s) ? s : null;
  }, 10000);
  await screenshot(page, 'wayland-pipewire-stopped');
  assert.ok(host.child.exitCode === null, `the host keeps running (page said: ${status})`);

  // PipeWire back, as the session's user: the host asks again (with the kept token) and streams.
  const restarted = ['pipewire', 'wireplumber'].map((name) => {
    const [cmd, ...args] = lab.asUser([name]);
    return spawn(cmd, args, { stdio: 'ignore' });
  });
  try {
    await poll('the host streaming again', () => /the desktop shares its screen again: streaming/.test(host.stderr), 60000)
      .catch((e) => { throw new Error(`${e.message}; the host said:\n${host.stderr}`); });
    await poll('the status cleared', async () => ((await page.evaluate(() => window.peerdesk.status)) === '' ? true : null), 10000);
    const before = (await videoStats(page)).framesDecoded;
    // A still desktop sends frames only when it changes: a keyframe at least.
    await poll('frames again', async () => ((await videoStats(page)).framesDecoded > before ? true : null), 15000);
  } finally {
    await page.close();
    await host.kill();
    for (const p of restarted) if (p.exitCode === null) p.kill('SIGTERM');
  }
});

test('a still Wayland desktop costs the host almost no CPU: the compositor sends no frames, the host encodes none', { timeout: 120000 }, async () => {
  // --fixed-bitrate as in x11-idle.test.js: the capture and encode path alone (rate control's
  // padding floor costs a few percent more, docs/PERFORMANCE.md).
  const host = await startWaylandHost('idle', { click: SHARE_CLICKS, args: ['--screen-only', '--fixed-bitrate'] });
  try {
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
    console.log(`host CPU over ${secs.toFixed(1)} s of a still Wayland desktop: ${cpu.toFixed(1)}% of one core; ${frames} frames decoded`);
    assert.ok(frames <= 8, `almost no frames while nothing changes: ${frames} in ${secs.toFixed(1)} s`);
    assert.ok(cpu < 5, `idle host CPU ${cpu.toFixed(1)}% is near zero`);
    await page.close();
  } finally {
    await host.kill();
  }
});

test('Cancel in the desktop\'s dialog: the host says the share was refused and what to do, once, and ends', { timeout: 90000 }, async () => {
  // The "Remote desktop" dialog's Cancel, top left (docs/decisions/0010-wayland.md).
  const refused = await lab.host(server, 'cancel', { click: '430,233', size: SIZE }).then(
    () => assert.fail('the host started although the user pressed Cancel'),
    (e) => e.message,
  );
  assert.match(refused, /exited with [1-9]\d* before printing "open "/);
  // (The desktop's document portal logs an "error: fuse init failed" of its own here.)
  const line = refused.split('\n').find((l) => l.startsWith('error: cannot'));
  assert.match(line, /^error: cannot open the video source: the screen share was refused \(Cancel in the desktop's dialog\); start the host again and press Share$/);
  assert.equal(refused.split('was refused').length, 2, 'said once');
});

test('outside a desktop session the host says there is no portal and what to do', { timeout: 30000 }, async () => {
  // No session bus: a host started over ssh, or by a service outside the user's desktop.
  const empty = mkdtempSync(join(tmpdir(), 'peerdesk-wl-nobus-'));
  try {
    const r = await run(['host', '--server', server.url, '--room', 'nobus', '--source', 'wayland'], {
      env: { DBUS_SESSION_BUS_ADDRESS: '', XDG_RUNTIME_DIR: empty },
    });
    assert.notEqual(r.code, 0);
    const line = r.stderr.split('\n').find((l) => l.startsWith('error: '));
    assert.match(line, /cannot open the video source: no ScreenCast portal on the session bus .*run the host inside the desktop session$/);
    assert.equal(line.split('no ScreenCast portal').length, 2, `said once: ${line}`);
  } finally {
    rmSync(empty, { recursive: true, force: true });
  }
});
