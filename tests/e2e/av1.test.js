// AV1 in real Chromium: with `--codec av1` a browser that offers AV1 gets AV1 (libaom on the
// host, Chromium's own software decoder), one that does not (AV1 taken out of its capabilities,
// as in a browser without an AV1 decoder) gets H.264 from the same host at the same time, and
// both show the test scene's colours where they belong. Under the default `--codec auto` on a
// machine without a GPU that encodes AV1, Chromium gets H.264 and the log says why.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  start, run, launch, teardown, waitForFrames, videoStats, pixels, near, poll, screenshot, sceneLayout,
  PATCH_COLOURS, stopAll,
} from './harness.js';

const SIZE = [640, 360];
let browser;
let av1Built = false;

// Takes AV1 out of what this page's Chromium says it decodes, before the page's code runs.
const NO_AV1 = () => {
  const real = RTCRtpReceiver.getCapabilities.bind(RTCRtpReceiver);
  RTCRtpReceiver.getCapabilities = (kind) => {
    const caps = real(kind);
    if (caps && kind === 'video') caps.codecs = caps.codecs.filter((c) => c.mimeType !== 'video/AV1');
    return caps;
  };
};

before(async () => {
  const list = await run(['host', '--list-encoders']);
  av1Built = /^\s*aom\s+works/m.test(list.stdout);
  browser = await launch();
});

after(() => teardown(browser));

/** The codec the page decodes (from its own statistics), once frames come. */
async function decodedCodec(page) {
  await waitForFrames(page, 5, 20000);
  return poll('the decoded codec', () => page.evaluate(async () => {
    const report = await window.peerdesk.pc.getStats();
    let codec = null;
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video' && s.codecId) codec = report.get(s.codecId)?.mimeType;
    });
    return codec;
  }), 10000);
}

async function coloursRight(page) {
  const layout = sceneLayout(...SIZE);
  const got = await pixels(page, layout.patches);
  PATCH_COLOURS.forEach((c, i) => assert.ok(near(got[i], c), `patch ${i} at ${layout.patches[i]}: ${got[i]} vs ${c}`));
}

test('a browser that offers AV1 gets AV1 and one that does not gets H.264, from one host', { timeout: 120000 }, async (t) => {
  if (!av1Built) {
    t.skip('this peerdesk was built without --features av1');
    return;
  }
  const demo = await start(['demo', '--listen', '127.0.0.1:0', '--width', String(SIZE[0]), '--height', String(SIZE[1]), '--codec', 'av1'], 'open ');
  await poll('the codec line', () => /codec: AV1 for browsers that decode it, with aom/.test(demo.stderr), 10000);

  const withAv1 = await browser.newPage();
  await withAv1.goto(demo.url);
  assert.equal(await decodedCodec(withAv1), 'video/AV1');
  await coloursRight(withAv1);

  const without = await browser.newPage();
  await without.addInitScript(NO_AV1);
  await without.goto(demo.url);
  assert.equal(await decodedCodec(without), 'video/H264');
  await coloursRight(without);

  // Both keep playing side by side: each codec is encoded once for its own viewers.
  const before = await Promise.all([videoStats(withAv1), videoStats(without)]);
  await withAv1.waitForTimeout(2000);
  const later = await Promise.all([videoStats(withAv1), videoStats(without)]);
  for (const i of [0, 1]) {
    const fps = ((later[i].framesDecoded - before[i].framesDecoded) * 1000) / (later[i].timestamp - before[i].timestamp);
    console.log(`${i === 0 ? 'AV1' : 'H.264'} viewer: ${fps.toFixed(1)} fps decoded`);
    assert.ok(fps > 10, `viewer ${i} plays (${fps.toFixed(1)} fps)`);
  }
  assert.match(demo.stderr, /viewer gets AV1 from aom/);
  assert.match(demo.stderr, /viewer gets H\.264 from /);
  const host = later[0].host;
  assert.ok(host && /aom/.test(host.encoder) && host.encoder.includes('+'), `both encoders named in the stats: ${host?.encoder}`);
  // The overlay says which codec this browser decodes and which encoders the host runs.
  await withAv1.click('#stage', { position: { x: 320, y: 300 } });
  await withAv1.keyboard.press('Control+Alt+Shift+KeyS');
  const rows = await poll('the overlay with host figures', () => withAv1.evaluate(() => {
    const el = document.getElementById('overlay');
    const r = {};
    el.querySelectorAll('dt').forEach((dt) => { r[dt.textContent] = dt.nextElementSibling.textContent; });
    return !el.hidden && r.encoder && r.encoder !== '–' ? r : null;
  }), 5000);
  assert.match(rows.size, /AV1/, rows.size);
  assert.match(rows.encoder, /libaom AV1 \(software\)/, rows.encoder);
  await screenshot(withAv1, 'av1-overlay');
  await withAv1.close();
  await without.close();
  await stopAll();
});

test('under --codec auto with no GPU that encodes AV1, Chromium gets H.264 and the log says why', { timeout: 60000 }, async () => {
  const demo = await start(['demo', '--listen', '127.0.0.1:0', '--width', String(SIZE[0]), '--height', String(SIZE[1])], 'open ');
  await poll('the codec line', () => /codec: H\.264 for every viewer \(no GPU here encodes AV1/.test(demo.stderr), 10000);
  const page = await browser.newPage();
  await page.goto(demo.url);
  assert.equal(await decodedCodec(page), 'video/H264');
  await coloursRight(page);
  await page.close();
  await stopAll();
});
