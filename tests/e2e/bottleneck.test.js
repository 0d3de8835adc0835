// A bottleneck arriving under a running stream: a host streaming an X11 desktop of moving colour
// bars (xprobe --animate, a few Mbit/s; the demo's scene takes a tenth of that), its server and
// Chromium run in a network namespace of this test's own, whose loopback is then capped (tbf)
// under what the stream takes. The page
// measures the queue on its path from its frames' arrival and tells the host in `path` messages;
// the host brings its rate under the link and the picture keeps coming; when the cap goes, the
// page's figure falls back. No timing thresholds tighter than seconds.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, startXvfb, startXprobe, launch, makeNetns, teardown, waitForFrames, videoStats } from './harness.js';

let ns;
let browser;
let page;

before(async () => {
  ns = makeNetns('bottleneck');
  const xvfb = await startXvfb('1280x720');
  await startXprobe(xvfb.display, undefined, ['--animate', '60']);
  const server = await start(['serve', '--listen', '127.0.0.1:0'], 'listening ', { netns: ns });
  const host = await start(['host', '--server', server.url, '--room', 'bottleneck', '--source', 'x11', '--display', xvfb.display,
    '--audio', 'none'], 'open ', { netns: ns });
  browser = await launch({ netns: ns });
  page = await browser.newPage();
  // Every `path` message the page sends, as sent.
  await page.addInitScript(() => {
    window.pathSent = [];
    const send = RTCDataChannel.prototype.send;
    RTCDataChannel.prototype.send = function (data) {
      if (typeof data === 'string' && data.startsWith('{"type":"path"')) window.pathSent.push({ at: performance.now(), ...JSON.parse(data) });
      return send.call(this, data);
    };
  });
  await page.goto(host.url);
  await waitForFrames(page, 1, 20000);
});

after(async () => {
  await teardown(browser);
  await ns?.remove();
});

const pathSince = (at) => page.evaluate((t) => window.pathSent.filter((m) => m.at >= t), at);
const now = () => page.evaluate(() => performance.now());

test('under a bottleneck the page tells the host of the queue, the host goes under the link, the picture keeps coming', { timeout: 90000 }, async (t) => {
  // What the stream takes when nothing limits it.
  await page.waitForTimeout(5000);
  const free = await videoStats(page);
  const quiet = await pathSince(0);
  assert.ok(quiet.length >= 8, `the page tells of its path several times a second: ${quiet.length} messages`);
  assert.ok(quiet.slice(-4).every((m) => m.queue_ms < 20), `no queue on an open path: ${JSON.stringify(quiet.slice(-4))}`);
  const freeMbps = free.host.mbps;
  // A link well under that (it must bind: at least 0.3 Mbit/s under), and no narrower than the
  // picture needs at its full size.
  const capKbit = Math.round(Math.max(700, Math.min(3000, freeMbps * 1000 * 0.6)));
  assert.ok(capKbit < freeMbps * 1000 - 300, `the stream takes ${freeMbps} Mb/s: too little to make a bottleneck of`);

  const capped = await now();
  ns.capBandwidth(capKbit);
  const s = [];
  for (let i = 0; i < 12; i += 1) {
    await page.waitForTimeout(1000);
    s.push(await videoStats(page));
  }
  const told = await pathSince(capped);
  const queued = told.filter((m) => m.queue_ms >= 50);
  assert.ok(queued.length > 0, `the page saw the queue: ${JSON.stringify(told.slice(0, 12))}`);
  // Behind the queue what the page received is what the link carries (payload only: under it).
  const rates = queued.map((m) => m.received_kbps).filter((k) => k !== null);
  assert.ok(rates.length > 0 && rates.some((k) => k <= capKbit * 1.1), `received under the queue ${JSON.stringify(rates)} kbit/s, link ${capKbit}`);
  // The host acted on it: its rate is under the link, and it knows why.
  const last = s[s.length - 1];
  t.diagnostic(`free ${freeMbps.toFixed(2)} Mb/s, link ${capKbit} kbit/s; queue told after the cap ${JSON.stringify(told.slice(0, 20).map((m) => m.queue_ms))} ms; received under it ${JSON.stringify(rates.slice(0, 6))}; sent each second ${JSON.stringify(s.map((x) => x.host.mbps.toFixed(2)))}; frames ${JSON.stringify(s.map((x) => x.framesDecoded))}`);
  assert.ok(last.host.target_mbps * 1000 < capKbit, `target ${last.host.target_mbps} Mb/s on a ${capKbit} kbit/s link`);
  const sent = s.slice(-4).map((x) => x.host.mbps);
  assert.ok(sent.every((m) => m * 1000 < capKbit), `sent ${JSON.stringify(sent)} Mb/s on a ${capKbit} kbit/s link`);
  assert.equal(last.host.limit, 'network', JSON.stringify(last.host));
  // The picture keeps coming once the host has settled (the last six seconds).
  for (let i = s.length - 6; i < s.length; i += 1) {
    const got = s[i].framesDecoded - s[i - 1].framesDecoded;
    assert.ok(got >= 20, `second ${i + 1} after the cap: only ${got} frames decoded (${JSON.stringify(s.map((x) => x.framesDecoded))})`);
  }
  // Under the link the queue is gone.
  const settled = (await pathSince(capped)).slice(-4);
  assert.ok(settled.every((m) => m.queue_ms < 50), `the queue drained: ${JSON.stringify(settled)}`);
  assert.equal(last.state, 'connected');

  ns.capBandwidth(0);
});
