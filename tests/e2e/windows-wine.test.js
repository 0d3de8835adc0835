// The Windows host, peerdesk.exe (built by scripts/windows-build.sh), run under Wine inside an
// Xvfb of the test's own, in a Wine virtual desktop of 1280x720: GDI captures that desktop,
// SendInput drives it. A Windows test program (tests/wine/clicktarget.c) shows an orange window
// at a known place and logs what reaches it; the browser must see the window where it is, and
// its clicks, wheel and keys must reach the program as the same pixels and physical keys.
// Wine 8 lacks bcryptprimitives.dll (ProcessPrng), which Rust's standard library imports: the
// shim of tests/wine/ sits beside the exe.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, copyFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ROOT, start, startXvfb, launch, measureFps, videoStats, xclipCopy, xclipPaste, teardown, screenshot, waitForFrames, pixels, near, pictureRect, poll,
} from './harness.js';

const BUILT = join(ROOT, 'target/x86_64-pc-windows-gnu/debug');
const PARTS = ['peerdesk.exe', 'wine-test/bcryptprimitives.dll', 'wine-test/clicktarget.exe'].map((p) => join(BUILT, p));
const DESK = [1280, 720];
// clicktarget's window (x, y, w, h) and colours.
const WIN = [160, 120, 640, 360];
const ORANGE = [250, 140, 20];
const GREEN = [40, 200, 60];

let dir;
let env;
let xvfb;
let target;
let server;
let host;
let browser;
let page;

/** The path Windows programs under Wine use for a file of ours (drive Z: is the root). */
function winPath(path) {
  return `Z:${path.replaceAll('/', '\\')}`;
}

/** Runs a Wine tool of this test's prefix to its end (creating the prefix takes a few seconds). */
function wine(args, timeout = 120000) {
  return execFileSync('wine', args, { env, timeout, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
}

/** Ends this prefix's Wine server and every Windows process of it (the test's own), if any run. */
function stopWine() {
  try {
    execFileSync('wineserver', ['-k'], { env, timeout: 20000, stdio: 'ignore' });
  } catch {
    // No server was running (it ends by itself a few seconds after its last process).
  }
}

/** What clicktarget logged so far, a line each. */
function clicks() {
  try {
    return readFileSync(join(dir, 'clicks.log'), 'utf8').split(/\r?\n/).filter(Boolean);
  } catch {
    return [];
  }
}

/** Waits for a line that `pred` accepts among those logged after the first `from`. */
function logged(pred, what, from = 0, timeout = 8000) {
  return poll(`clicktarget to log ${what} (it logged: ${clicks().slice(-6).join(' | ')})`, () => clicks().slice(from).find(pred) ?? null, timeout);
}

before(async () => {
  const missing = PARTS.filter((p) => !existsSync(p));
  assert.deepEqual(missing, [], 'build the Windows host and the Wine test parts first: ./scripts/windows-build.sh');
  dir = mkdtempSync(join(tmpdir(), 'peerdesk-wine-'));
  symlinkSync(PARTS[0], join(dir, 'peerdesk.exe'));
  copyFileSync(PARTS[1], join(dir, 'bcryptprimitives.dll'));
  copyFileSync(PARTS[2], join(dir, 'clicktarget.exe'));
  xvfb = await startXvfb('1440x900');
  env = {
    ...process.env, WINEPREFIX: join(dir, 'prefix'), WINEDEBUG: '-all', WINEDLLOVERRIDES: 'mscoree,mshtml=', DISPLAY: xvfb.display,
    // Test builds of the host act as if the screen were locked while this file exists.
    PEERDESK_FAULT_DESKTOP_AWAY: winPath(join(dir, 'away')),
  };
  // Every Wine program of this prefix runs in one virtual desktop of DESK's size. Wine reads
  // that when its desktop starts, so the prefix's server (and the desktop) start over after.
  wine(['reg', 'add', 'HKCU\\Software\\Wine\\Explorer', '/v', 'Desktop', '/d', 'Default', '/f']);
  wine(['reg', 'add', 'HKCU\\Software\\Wine\\Explorer\\Desktops', '/v', 'Default', '/d', DESK.join('x'), '/f']);
  stopWine();
  target = spawn('wine', ['clicktarget.exe', winPath(join(dir, 'clicks.log'))], { cwd: dir, env, stdio: 'ignore' });
  await logged((l) => l.startsWith('ready '), 'its ready line', 0, 60000);
  server = await start(['serve', '--listen', '127.0.0.1:0'], 'listening ');
  host = await start(['host', '--server', server.url, '--room', 'wine', '--source', 'desktop'], 'open ', {
    command: ['wine', join(dir, 'peerdesk.exe')], env, timeoutMs: 60000, name: 'peerdesk.exe host',
  });
  browser = await launch();
  await browser.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(host.url).origin });
  page = await browser.newPage();
  // One synthetic pad (the browser's own list replaced), for the gamepad test.
  await page.addInitScript(() => {
    window.__pad = null;
    window.__pressA = () => {
      window.__pad = {
        index: 0, id: 'synthetic pad', connected: true, mapping: 'standard', timestamp: 1, axes: [0, 0, 0, 0],
        buttons: Array.from({ length: 17 }, (_, n) => ({ pressed: n === 0, touched: n === 0, value: n === 0 ? 1 : 0 })),
      };
    };
    Object.defineProperty(navigator, 'getGamepads', { value: () => [window.__pad, null, null, null], configurable: true });
  });
  await page.setViewportSize({ width: 1280, height: 720 });
  await page.goto(host.url);
  await waitForFrames(page, 1, 30000);
});

after(async () => {
  await teardown(browser);
  if (target && target.exitCode === null) target.kill('SIGKILL');
  if (env) stopWine();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test('the Wine desktop streams at its size, with the Windows program\'s window where it is', { timeout: 30000 }, async () => {
  const size = await page.evaluate(() => [document.getElementById('video').videoWidth, document.getElementById('video').videoHeight]);
  assert.deepEqual(size, DESK);
  const [x, y, w, h] = WIN;
  const inside = [[x + w / 2, y + h / 2], [x + 20, y + 20], [x + w - 20, y + h - 20]];
  const outside = [[x - 40, y + h / 2], [x + w + 40, y + h / 2], [x + w / 2, y + h + 40]];
  const got = await poll('the orange window in the picture', async () => {
    const px = await pixels(page, [...inside, ...outside]);
    return px.slice(0, 3).every((p) => near(p, ORANGE, 30)) ? px : null;
  }, 10000);
  got.slice(3).forEach((p, i) => assert.ok(!near(p, ORANGE, 60), `outside the window at ${outside[i]}: ${p} is not the window's orange`));
  // The host says which capture path it took, and why not the faster ones.
  // Wine has no DXGI duplication: the host says it took GDI, and why not the faster paths.
  assert.match(host.stderr, /capturing the Windows desktop through GDI \(1280x720 at 0,0\), the path that always works: DXGI desktop duplication is not available: \S/);
  // GDI says nothing of changes: a still desktop streams frame after frame all the same.
  const fps = await measureFps(page, 2000);
  assert.ok(fps > 5, `frames keep coming from a still desktop: ${fps.toFixed(1)} a second`);
  await screenshot(page, 'windows-wine-desktop');
});

test('a click from the browser reaches the Windows program at the same pixel, and the picture shows it', { timeout: 30000 }, async () => {
  const r = await pictureRect(page);
  const [x, y, w, h] = WIN;
  for (const [cx, cy] of [[w / 2, h / 2], [10, 10], [w - 11, h - 7]]) {
    const from = clicks().length;
    await page.mouse.click(r.left + (x + cx + 0.5) * r.scale, r.top + (y + cy + 0.5) * r.scale);
    const down = await logged((l) => l.startsWith('down L '), `a left click at ${cx},${cy}`, from);
    const [, , lx, ly] = down.split(' ').map(Number);
    assert.ok(Math.abs(lx - cx) <= 1 && Math.abs(ly - cy) <= 1, `click at ${cx},${cy} of the window landed at ${lx},${ly}`);
    await logged((l) => l.startsWith('up L '), 'the release', from);
  }
  // Three clicks: orange, green, orange, green.
  await poll('the window turned green in the picture', async () => {
    const [p] = await pixels(page, [[x + w / 2, y + h / 2]]);
    return near(p, GREEN, 30) ? p : null;
  }, 5000);
  await screenshot(page, 'windows-wine-clicked');
});

test('right and middle buttons and the wheel both ways reach the program', { timeout: 30000 }, async () => {
  const r = await pictureRect(page);
  const at = [r.left + (WIN[0] + 100.5) * r.scale, r.top + (WIN[1] + 50.5) * r.scale];
  const from = clicks().length;
  await page.mouse.click(...at, { button: 'right' });
  await logged((l) => l === 'down R 100 50', 'a right click at 100,50', from);
  await page.mouse.click(...at, { button: 'middle' });
  await logged((l) => l === 'down M 100 50', 'a middle click at 100,50', from);
  await page.mouse.wheel(0, 100);
  await logged((l) => /^wheel -\d+$/.test(l), 'the wheel turned down (towards the user)', from);
  await page.mouse.wheel(0, -100);
  await logged((l) => /^wheel \d+$/.test(l), 'the wheel turned up', from);
});

// KeyboardEvent.code, set-1 scan code, extended, the virtual key Windows made of it (US layout).
const KEYS = [
  ['KeyA', 0x1e, 0, 0x41], ['KeyZ', 0x2c, 0, 0x5a], ['Digit1', 0x02, 0, 0x31], ['Space', 0x39, 0, 0x20],
  ['Enter', 0x1c, 0, 0x0d], ['Escape', 0x01, 0, 0x1b], ['F5', 0x3f, 0, 0x74], ['ArrowLeft', 0x4b, 1, 0x25],
  ['Delete', 0x53, 1, 0x2e], ['Home', 0x47, 1, 0x24], ['NumpadEnter', 0x1c, 1, 0x0d],
];

test('keys arrive as the same physical keys: scan codes, extended keys flagged', { timeout: 60000 }, async () => {
  for (const [code, sc, ext, vk] of KEYS) {
    const from = clicks().length;
    await page.keyboard.press(code);
    const line = await logged((l) => l.startsWith('key '), `the key ${code}`, from);
    assert.equal(line, `key ${sc} ${ext} ${vk}`, `${code}: scan code, extended flag, virtual key`);
  }
  const from = clicks().length;
  await page.keyboard.down('ShiftLeft');
  await page.keyboard.press('KeyQ');
  await page.keyboard.up('ShiftLeft');
  await logged((l) => l === `char ${'Q'.charCodeAt(0)}`, 'a capital Q typed with Shift', from);
});

// Wine reads no other program's cursor shape (Windows does: that path is the one the unit
// tests of CursorImage::from_windows_* cover), so here the host falls back to its arrow.
test('the host follows the cursor: an image with a hotspot while it shows, nothing while the program hides it', { timeout: 30000 }, async () => {
  const cursorCss = () => page.evaluate(() => document.getElementById('video').style.cursor);
  const r = await pictureRect(page);
  await page.mouse.click(r.left + (WIN[0] + 200.5) * r.scale, r.top + (WIN[1] + 100.5) * r.scale);
  let seen = '';
  const shown = async () => {
    seen = await cursorCss();
    return /^url\(.*\) \d+ \d+, auto$/.test(seen) ? seen : null;
  };
  const why = (e) => { throw new Error(`${e.message}; the page's cursor: ${seen.slice(0, 40)}...${seen.slice(-20)}; the host said: ${host.stderr.split('\n').filter((l) => /cursor/.test(l)).slice(-3).join(' | ')}`); };
  const css = await poll('a cursor image in the page', shown, 10000).catch(why);
  const img = await page.evaluate(async (css) => {
    const im = new Image();
    im.src = css.match(/url\("?([^")]*)"?\)/)[1];
    await im.decode();
    const c = document.createElement('canvas');
    [c.width, c.height] = [im.width, im.height];
    const g = c.getContext('2d');
    g.drawImage(im, 0, 0);
    const px = g.getImageData(0, 0, im.width, im.height).data;
    let opaque = 0;
    for (let i = 3; i < px.length; i += 4) if (px[i] > 128) opaque++;
    return { w: im.width, h: im.height, opaque };
  }, css);
  assert.ok(img.w >= 8 && img.w <= 256 && img.h >= 8 && img.h <= 256, `cursor size ${img.w}x${img.h}`);
  assert.ok(img.opaque >= 10 && img.opaque < img.w * img.h / 2, `an arrow-like cursor: ${img.opaque} opaque pixels of ${img.w * img.h}`);
  // F8: the program hides its cursor (ShowCursor), and shows it again.
  let from = clicks().length;
  await page.keyboard.press('F8');
  await logged((l) => l === 'cursor hidden', 'its cursor hidden', from);
  await poll('no cursor in the page', async () => ((seen = await cursorCss()) === 'none' ? seen : null), 10000).catch(why);
  from = clicks().length;
  await page.keyboard.press('F8');
  await logged((l) => l === 'cursor shown', 'its cursor shown', from);
  await poll('the cursor image back in the page', shown, 10000).catch(why);
});

// Wine's clipboard is the X display's CLIPBOARD: xclip stands in for a Windows program's copy
// and paste, and the host's side is the Windows clipboard API.
test('the clipboard crosses both ways, line ends and all', { timeout: 30000 }, async () => {
  const copied = `copied on Windows ${Date.now()}: h\u00e9llo \u2713\nline two`;
  await xclipCopy(xvfb.display, copied);  // Wine's clipboard follows the X display's
  await poll('the host\'s copy in the browser\'s clipboard', async () => (await page.evaluate(() => navigator.clipboard.readText())) === copied, 10000);
  const pasted = `pasted from the browser ${Date.now()}: gr\u00fc\u00dfe \u2603\nzwei`;
  await page.evaluate((t) => navigator.clipboard.writeText(t), pasted);
  const from = clicks().length;
  await page.keyboard.down('ControlLeft');
  await page.keyboard.press('KeyV');
  await page.keyboard.up('ControlLeft');
  await poll('the browser\'s text on the host\'s clipboard', async () => xclipPaste(xvfb.display) === pasted, 10000);
  // The paste keys follow, for the program to paste.
  await logged((l) => l === 'key 47 0 86', 'V (scan code 47) pressed', from);
});

// Windows lets no user program capture the lock screen or a UAC prompt; Wine has neither, so
// the host's test-build switch makes capturing fail as it does there.
test('while the screen cannot be captured the page says why, and the stream goes on when it is back', { timeout: 30000 }, async () => {
  const decoded = async () => (await videoStats(page)).framesDecoded;
  writeFileSync(join(dir, 'away'), '');
  const shown = await poll('the page to say the screen is locked', async () => {
    const s = await page.evaluate(() => window.peerdesk.status);
    return /locked or showing a UAC prompt/.test(s) ? s : null;
  }, 10000);
  assert.match(shown, /comes back when it is unlocked/);
  await screenshot(page, 'windows-wine-locked');
  await poll('the host to say so', () => /cannot capture the desktop/.test(host.stderr), 5000);
  rmSync(join(dir, 'away'));
  await poll('the status cleared', async () => ((await page.evaluate(() => window.peerdesk.status)) === '' ? true : null), 10000);
  await poll('the host back to streaming', () => /the desktop is back: streaming again/.test(host.stderr), 5000);
  const before = await decoded();
  await poll('frames again', async () => ((await decoded()) > before + 10 ? true : null), 10000);
  assert.ok(host.child.exitCode === null, 'the host kept running');
});

// Wine has no ViGEmBus (nor has a Windows machine until someone installs it): the host must
// say what to install, once, and go on with everything else.
test('a pad without ViGEmBus on the host: the host says what to install, and the session goes on', { timeout: 30000 }, async () => {
  await page.evaluate(() => window.__pressA());
  await poll('the host to name the missing driver', () => /need the ViGEmBus driver, which is not installed: install it/.test(host.stderr), 10000);
  await page.waitForTimeout(500);
  assert.equal(host.stderr.match(/ViGEmBus driver/g).length, 1, 'said once');
  const r = await pictureRect(page);
  const from = clicks().length;
  await page.mouse.click(r.left + (WIN[0] + 30.5) * r.scale, r.top + (WIN[1] + 30.5) * r.scale);
  await logged((l) => l === 'down L 30 30', 'a click after the pad', from);
});

test('--list-sources lists the Windows monitors and the sound outputs', { timeout: 60000 }, async () => {
  const out = execFileSync('wine', [join(dir, 'peerdesk.exe'), 'host', '--source', 'desktop', '--list-sources'], { env, timeout: 50000, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  assert.match(out, /desktop\s+1280x720 virtual desktop/);
  assert.match(out, /monitor 0: \\\\\.\\DISPLAY1\s+1280x720\+0\+0\s+primary\s+\(--monitor 0\)/);
  assert.match(out, /^sound/m, 'a line about sound, whatever Wine has');
});
