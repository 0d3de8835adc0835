// A Wayland desktop: GNOME's mutter, headless, with PipeWire and the portals, run by
// tests/e2e/wayland-session.sh as an unprivileged user this test creates (a session bus admits
// its owner only). `peerdesk host --source wayland` asks the desktop's ScreenCast portal for the
// screen; the desktop's "Screen Share" dialog is answered by a click, as a user would
// (desktopclick, through mutter's own remote desktop API); the page shows the desktop. Started
// again, the host shares with the token it kept, without a dialog. Needs a build with the
// `wayland` feature (scripts/test.sh builds with every feature).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, chownSync, chmodSync, rmSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { BIN, ROOT, start, run, launch, teardown, waitForFrames, videoStats, screenshot } from './harness.js';

const USER = 'peerdesk-wl';
const SIZE = [1280, 720];
// The dialog at 1280x720: the monitor's row, then Share (docs/decisions/0010-wayland.md).
const SHARE_CLICKS = '640,386 853,233';

let server;
let browser;
let uid;
let runtime;
let state;
// What the session's user runs, copied where it can read it (a checkout under /root or a 0700
// temporary directory is closed to it).
let tools;

/** The user the desktop session runs as: made once, kept (a system user with a home). */
function ensureUser() {
  try {
    execFileSync('id', ['-u', USER], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--create-home', '--shell', '/usr/sbin/nologin', USER]);
  }
  return Number(execFileSync('id', ['-u', USER]).toString().trim());
}

/** A directory of this test's own that the session's user owns, mode 0700. */
function ownedDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  chownSync(dir, uid, uid);
  chmodSync(dir, 0o700);
  return dir;
}

/** `peerdesk host --source wayland` in a fresh desktop session; `click` answers its dialog. */
function startWaylandHost(room, { click }) {
  const env = [
    `HOME=/home/${USER}`, 'PATH=/usr/bin:/bin', `XDG_RUNTIME_DIR=${runtime}`, `XDG_STATE_HOME=${state}`,
    'RUST_LOG=info', `SIZE=${SIZE.join('x')}`, `CLICK_BIN=${join(tools, 'desktopclick')}`,
    ...(click ? [`CLICK=${SHARE_CLICKS}`] : []),
  ];
  return start(['host', '--server', server.url, '--room', room, '--source', 'wayland', '--audio', 'none'], 'open ', {
    command: ['runuser', '-u', USER, '--', 'env', '-i', ...env, 'dbus-run-session', '--',
      join(tools, 'wayland-session.sh'), join(tools, 'peerdesk')],
    group: true,
    timeoutMs: 45000,
    name: 'wayland host',
  });
}

before(async () => {
  uid = ensureUser();
  runtime = ownedDir('peerdesk-wl-run-');
  state = ownedDir('peerdesk-wl-state-');
  tools = ownedDir('peerdesk-wl-tools-');
  for (const [from, name] of [[BIN, 'peerdesk'], [join(dirname(BIN), 'desktopclick'), 'desktopclick'], [join(ROOT, 'tests/e2e/wayland-session.sh'), 'wayland-session.sh']]) {
    copyFileSync(from, join(tools, name));
    chmodSync(join(tools, name), 0o755);
  }
  server = await start(['serve', '--listen', '127.0.0.1:0'], 'listening ');
  browser = await launch();
});

after(async () => {
  await teardown(browser);
  rmSync(runtime, { recursive: true, force: true });
  rmSync(state, { recursive: true, force: true });
  rmSync(tools, { recursive: true, force: true });
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

test('the desktop asks once, the user shares, the page shows the Wayland desktop at its size; started again, the host shares without asking', { timeout: 150000 }, async () => {
  const host = await startWaylandHost('wayland', { click: true });
  assert.match(host.stderr, /asking the desktop to share its screen: answer its dialog/);
  assert.match(host.stderr, /shares its screen through the ScreenCast portal/);
  assert.match(host.stderr, /kept the desktop's token in .*wayland-token-wayland: no dialog next time/);
  const page = await browser.newPage();
  await page.goto(host.url);
  const s = await waitForFrames(page, 1, 20000);
  assert.deepEqual([s.width, s.height], SIZE, 'the monitor at its own size');
  // mutter's default background: a blue gradient (the dialog went with the click).
  const [r, g, b] = await meanColour(page);
  assert.ok(b > r + 30 && b > 60, `a blue desktop, not a black or blank picture: ${[r, g, b].map(Math.round)}`);
  await screenshot(page, 'wayland-desktop');
  await page.close();
  await host.kill();

  // The same room again, no one to click: the kept token shares at once.
  const again = await startWaylandHost('wayland', { click: false });
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
