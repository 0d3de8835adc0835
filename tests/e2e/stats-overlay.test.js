// The stats overlay: Ctrl+Alt+Shift+S (or the bar's button) shows what the browser measures and
// the host's own per-stage figures, which the host sends every second; the choice is remembered.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startDemoPage, teardown, waitForFrames, poll, screenshot } from './harness.js';

let browser;
let page;

before(async () => {
  ({ browser, page } = await startDemoPage());
});

after(() => teardown(browser));

const overlay = () => page.evaluate(() => {
  const el = document.getElementById('overlay');
  const rows = {};
  el.querySelectorAll('dt').forEach((dt) => { rows[dt.textContent] = dt.nextElementSibling.textContent; });
  return { shown: !el.hidden, titles: [...el.querySelectorAll('h2')].map((h) => h.textContent), rows };
});

test('the hotkey shows the browser\'s and the host\'s figures, and hides them again', { timeout: 30000 }, async () => {
  assert.equal((await overlay()).shown, false, 'hidden at first');
  await page.click('#stage', { position: { x: 640, y: 700 } });
  await page.keyboard.press('Control+Alt+Shift+KeyS');
  const o = await poll('the overlay with host figures', async () => {
    const x = await overlay();
    return x.shown && x.titles.includes('Host') ? x : null;
  }, 5000);
  assert.deepEqual(o.titles, ['Network', 'Video in this browser', 'Host', 'Rate control', 'Sound']);
  assert.match(o.rows.decoded, /^\d+ fps$/);
  // Rate control's figures: its target within the demo's 6 Mbit/s cap, at full frame rate.
  assert.match(o.rows.target, /^\d\.\d\d Mb\/s · 60 fps$/, o.rows.target);
  for (const stage of ['capture', 'convert', 'encode']) assert.match(o.rows[stage], /^\d+\.\d ms$/, stage);
  // The first message after the viewer joined covers a second the host was partly idle in:
  // wait for a full second's figures.
  const host = await poll('a full second of host figures', () => page.evaluate(() => {
    const h = window.peerdesk.hostStats;
    return h && h.fps > 30 ? h : null;
  }), 5000);
  assert.ok(host.fps > 30, `the host sends about 60 fps: ${host.fps}`);
  assert.ok(host.encode_ms > 0 && host.frame_p95_ms >= host.frame_p50_ms, JSON.stringify(host));
  assert.ok(host.target_mbps > 0 && host.target_mbps <= 6, `target within the cap: ${JSON.stringify(host)}`);
  await screenshot(page, 'stats-overlay');
  await page.keyboard.press('Control+Alt+Shift+KeyS');
  assert.equal((await overlay()).shown, false, 'the hotkey hides it');
});

test('the bar button toggles it and the choice survives a reload', { timeout: 30000 }, async () => {
  await page.click('#stats-toggle');
  assert.equal((await overlay()).shown, true);
  await page.reload();
  await waitForFrames(page, 1);
  assert.equal((await overlay()).shown, true, 'remembered');
  await page.click('#stats-toggle');
  assert.equal((await overlay()).shown, false);
});

test('a browser that shows few of its frames is named as the limit, and the frame rate stays', { timeout: 30000 }, async () => {
  // Stand in for a slow laptop: the page's own playback reports go out as a browser that shows
  // a third of what it decodes (a real one here keeps up); the real host reads them.
  await page.evaluate(() => {
    const send = RTCDataChannel.prototype.send;
    RTCDataChannel.prototype.send = function (data) {
      if (typeof data === 'string' && data.includes('"type":"playback"')) {
        const m = JSON.parse(data);
        return send.call(this, JSON.stringify({ ...m, shown: Math.floor(m.decoded / 3), decode_us: 30000 }));
      }
      return send.call(this, data);
    };
  });
  const host = await poll('the host naming this browser', () => page.evaluate(() => {
    const h = window.peerdesk.hostStats;
    return h && h.limit === 'viewer' ? h : null;
  }), 15000);
  assert.match(host.why, /^this browser shows \d+ of the \d+ frames a second it gets, decoding takes 30\.0 ms a frame$/, host.why);
  assert.equal(host.target_fps, 60, 'one stream for every viewer: the host still sends 60');
  assert.equal(host.scale, 1);
  await page.click('#stats-toggle');
  const o = await poll('the overlay saying so', async () => {
    const x = await overlay();
    return x.rows['limited by'] === 'this browser' ? x : null;
  }, 5000);
  assert.match(o.rows.why, /^this browser shows/);
  await screenshot(page, 'stats-overlay-viewer-limit');
  await page.click('#stats-toggle');
});
