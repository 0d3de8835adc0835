// Copy and paste between the browser and an X11 host, with a real X client (`xclip`) on the
// host's Xvfb: a copy on the host lands on the browser's clipboard, a paste in the browser puts
// the text on the host's clipboard before the paste keys arrive, view-only viewers get neither,
// and a paste over the limit is explained, not cut.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  start, startXvfb, startXprobe, launch, teardown, waitForFrames, poll, xclipCopy, xclipPaste,
} from './harness.js';

let xvfb;
let probe;
let host;
let browser;
let page;
let viewLink;
const ROOM = 'clip';

/** `xclip` copies `text` on the host's display. */
const hostCopy = (text) => xclipCopy(xvfb.display, text);
/** What pasting on the host gives. */
const hostPaste = () => xclipPaste(xvfb.display);

const browserClipboard = (p) => p.evaluate(() => navigator.clipboard.readText());

before(async () => {
  xvfb = await startXvfb('800x600');
  probe = await startXprobe(xvfb.display);
  const server = await start(['serve', '--listen', '127.0.0.1:0'], 'listening ');
  host = await start(['host', '--server', server.url, '--room', ROOM, '--source', 'x11', '--display', xvfb.display, '--view-link', '--ephemeral-links'], 'open ');
  viewLink = await host.waitForLine('view ');
  browser = await launch();
  await browser.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: new URL(host.url).origin });
  page = await browser.newPage();
  await page.goto(host.url);
  await waitForFrames(page, 1);
  await poll('control', () => page.evaluate(() => window.peerdesk.role?.role === 'control'));
  await page.click('#stage', { position: { x: 400, y: 300 } });
});

after(() => teardown(browser));

test('a copy on the host lands on the browser\'s clipboard', { timeout: 30000 }, async () => {
  const text = `copied on the host ${Date.now()}: h\u00e9llo \u2713\nline two`;
  await hostCopy(text);
  await poll('the host\'s copy in the browser\'s clipboard', async () => (await browserClipboard(page)) === text, 10000);
  const state = await page.evaluate(() => window.peerdesk.clipboard);
  assert.equal(state.pending, null, 'nothing left waiting for a gesture');
});

test('a paste in the browser puts the text on the host\'s clipboard, then the paste keys arrive', { timeout: 30000 }, async () => {
  const text = `pasted from the browser ${Date.now()}: gr\u00fc\u00dfe \u2603`;
  await page.evaluate((t) => navigator.clipboard.writeText(t), text);
  probe.events.length = 0;
  await page.keyboard.down('ControlLeft');
  await page.keyboard.press('KeyV');
  await page.keyboard.up('ControlLeft');
  await poll('the browser\'s text on the host\'s clipboard', async () => (await hostPaste()) === text, 10000);
  // Ctrl+V itself reaches the desktop, for the application there to paste.
  const v = await probe.waitFor((e) => e.type === 'key_press' && e.keycode === 55, 'V pressed on the host');
  assert.ok(v.state & 4, 'with Control held');
  await probe.waitFor((e) => e.type === 'key_release' && e.keycode === 55, 'V released');
  // Pasting the same text again sends nothing new, and the keys still arrive.
  probe.events.length = 0;
  await page.keyboard.down('ControlLeft');
  await page.keyboard.press('KeyV');
  await page.keyboard.up('ControlLeft');
  await probe.waitFor((e) => e.type === 'key_press' && e.keycode === 55, 'V pressed again');
});

test('a paste over the limit is explained and leaves the host\'s clipboard alone', { timeout: 30000 }, async () => {
  const before = await hostPaste();
  await page.evaluate(() => navigator.clipboard.writeText('x'.repeat(130 * 1024)));
  await page.keyboard.down('ControlLeft');
  await page.keyboard.press('KeyV');
  await page.keyboard.up('ControlLeft');
  await poll('the status explains', () => page.evaluate(() => /too large to paste/.test(window.peerdesk.status)), 5000);
  assert.equal(await hostPaste(), before);
});

test('a view-only viewer gets no copies, and its pastes never reach the host', { timeout: 30000 }, async () => {
  const viewer = await browser.newPage();
  await viewer.goto(viewLink);
  await waitForFrames(viewer, 1);
  await poll('view role', () => viewer.evaluate(() => window.peerdesk.role?.role === 'view'));
  const secret = `host secret ${Date.now()}`;
  await hostCopy(secret);
  // The controller gets it; the viewer must not, then or later.
  await page.bringToFront();
  await poll('the controller gets the copy', async () => (await browserClipboard(page)) === secret, 10000);
  await viewer.bringToFront();
  await viewer.waitForTimeout(500);
  assert.equal((await viewer.evaluate(() => window.peerdesk.clipboard)).last, null, 'the viewer was sent nothing');
  // A hostile viewer sends a clipboard message by hand: the host ignores it.
  await viewer.evaluate(() => window.peerdesk.channels.input.send(JSON.stringify({ type: 'clipboard', text: 'from a viewer' })));
  await viewer.waitForTimeout(500);
  assert.equal(await hostPaste(), secret);
  await viewer.close();
});
