// A signaling server in the middle: it relays everything but swaps a DTLS fingerprint in the
// SDP (the first step of sitting in the middle of the media). The page refuses the host's
// answer and says why; the host is told and logs why; nothing streams. The same relay passing
// messages unchanged streams normally, so the refusals come from the swap alone.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, launch, teardown, waitForFrames, poll, screenshot, videoStats } from './harness.js';
import { startMitm, swapFingerprint } from './mitm.js';

let demo;
let browser;

before(async () => {
  demo = await start(['demo', '--listen', '127.0.0.1:0', '--width', '640', '--height', '360', '--fps', '30', '--audio', 'none'], 'open ');
  browser = await launch();
});

after(() => teardown(browser));

const status = (page) => page.evaluate(() => window.peerdesk?.status ?? '');
const upstream = () => new URL(demo.url).origin;
/** The host's link, on the relay's address. */
const through = (mitm) => demo.url.replace(upstream(), mitm.url);

test('through a relay that changes nothing, the stream plays', { timeout: 60000 }, async () => {
  const mitm = await startMitm(upstream());
  const page = await browser.newPage();
  await page.goto(through(mitm));
  await waitForFrames(page, 5);
  assert.ok(mitm.seen.some((m) => m.dir === 'up' && m.type === 'proof'), 'the handshake went through the relay');
  await page.close();
  await mitm.close();
});

for (const [what, dir, type] of [
  ['the browser’s fingerprint in the offer', 'up', 'offer'],
  ['the host’s fingerprint in the answer', 'down', 'answer'],
]) {
  test(`a relay that swaps ${what} is caught by both sides`, { timeout: 60000 }, async () => {
    const stderrBefore = demo.stderr.length;
    const mitm = await startMitm(upstream(), (d, m) => (d === dir && m.type === type ? { ...m, sdp: swapFingerprint(m.sdp) } : m));
    const page = await browser.newPage();
    await page.goto(through(mitm));
    await poll('the page refusing the host', async () => /could not prove it holds this link’s key/.test(await status(page)), 10000);
    assert.equal(await page.getAttribute('#status', 'data-kind'), 'error');
    assert.equal(await videoStats(page), null, 'no media connection is left');
    await poll('the host logging why', () => /refused this host's proof: the signaling server may be changing the session/.test(demo.stderr.slice(stderrBefore)), 10000);
    assert.ok(mitm.seen.some((m) => m.dir === 'up' && m.type === 'deny'), 'the page told the host');
    assert.ok(!mitm.seen.some((m) => m.dir === 'up' && m.type === 'proof'), 'the page never proved itself to the impostor');
    await screenshot(page, `mitm-${type}`);
    await page.close();
    await mitm.close();
  });
}
