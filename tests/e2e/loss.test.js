// Packet loss: the demo and Chromium run in a network namespace of this test's own, where
// iptables drops a share of the UDP packets (the media; the signaling is TCP). Under 5% loss the
// picture keeps coming: the host sends every packet twice while the loss lasts (and stops when it
// does); under heavy loss the browser also asks for lost packets again (NACK) and the host
// resends them (RTX), asks for keyframes (PLI) and gets them; when the loss stops the stream is
// back at full frame rate. No timing thresholds tighter than seconds.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, launch, makeNetns, teardown, waitForFrames, poll, videoStats, screenshot } from './harness.js';

let ns;
let browser;
let page;

before(async () => {
  ns = makeNetns('loss');
  const demo = await start(['demo', '--listen', '127.0.0.1:0', '--audio', 'none'], 'open ', { netns: ns });
  browser = await launch({ netns: ns });
  page = await browser.newPage();
  await page.goto(demo.url);
  await waitForFrames(page, 1, 20000);
  await page.waitForTimeout(1000);
});

after(async () => {
  await teardown(browser);
  await ns?.remove();
});

const counters = () => videoStats(page);

/** Counters once a second for `secs` seconds (the first sample is taken at once). */
async function sample(secs) {
  const out = [await counters()];
  for (let i = 0; i < secs; i += 1) {
    await page.waitForTimeout(1000);
    out.push(await counters());
  }
  return out;
}

test('under 5% loss the picture keeps coming: the host sends its packets twice and says so', { timeout: 60000 }, async () => {
  ns.dropUdp(0.05);
  const s = await sample(8);
  const first = s[0];
  const last = s[s.length - 1];
  assert.ok(ns.droppedUdp() > 0, 'the namespace dropped packets');
  // Every second brings new frames: no freeze of a second or more.
  for (let i = 1; i < s.length; i += 1) {
    const got = s[i].framesDecoded - s[i - 1].framesDecoded;
    assert.ok(got >= 20, `second ${i}: only ${got} frames decoded (${JSON.stringify(s.map((x) => x.framesDecoded))})`);
  }
  // The browser counts a packet lost only when both copies were; the host reads the path's
  // own loss from that and keeps sending twice while it lasts.
  assert.equal(last.host?.redundant, true, `the host sends twice: ${JSON.stringify(last.host)}`);
  assert.ok(last.host.loss_pct > 0 && last.host.loss_pct <= 20, `the host reads the path's loss: ${last.host.loss_pct}%`);
  assert.equal(last.state, 'connected');
  await page.keyboard.press('Control+Alt+Shift+S');
  await poll('the stats overlay says packets go twice', () => page.evaluate(() => document.body.innerText.includes('packets sent twice')), 5000);
  await screenshot(page, 'loss-overlay');
  await page.keyboard.press('Control+Alt+Shift+S');
});

test('under heavy loss the lost packets are resent; after an outage keyframes are asked for and sent; then the stream is back at full rate', { timeout: 90000 }, async () => {
  const before0 = await counters();
  ns.dropUdp(0.4);
  // A frame decodes only once every packet of it crossed 40% loss (both copies, or a resend):
  // a matter of chance, so the window is 6 s (4 s came up empty once in a CI run on a busy
  // machine).
  const heavy = await sample(6);
  const during = heavy[heavy.length - 1];
  assert.ok(during.framesDecoded > before0.framesDecoded, 'frames still arrive under 40% loss');
  // 40% on the path is 16% with two copies: the browser asks for what it missed, and gets it.
  assert.ok(during.nacks > before0.nacks, `it asked for lost packets again: NACKs ${before0.nacks} -> ${during.nacks}`);
  if (during.retransmitted !== null) {
    assert.ok(during.retransmitted > before0.retransmitted, `and got them resent: ${before0.retransmitted} -> ${during.retransmitted}`);
  }
  // Copies and resends mend 40%; an outage longer than the host keeps packets for resending
  // (3 s) leaves frames that no resend can complete: only a keyframe helps then.
  ns.dropUdp(1);
  await page.waitForTimeout(3500);
  ns.dropUdp(0);
  // Recovery: within 40 s the browser has asked for and decoded a keyframe, decodes about 60
  // frames a second again, and the host's rate control is back at full frame rate and size.
  // Six seconds of 40% loss can take rate control down to half size at half frame rate and the
  // bitrate near its floor; it climbs one step per 2 s of room and the bitrate 10% a second
  // (from 0.5 to 4 Mbit/s alone is 22 s), so 10 s and then 20 s were too tight at times (20 s:
  // 2 of 4 runs on 2026-12-07). How fast it comes back is the benchmark's business (bench/),
  // not this test's.
  // The outage may also take ICE to "failed", and the page then makes a new connection: while it
  // does, there are no figures (null), and after it they count from zero again.
  const back = await poll('the stream back at full rate', async () => {
    const a = await counters();
    await page.waitForTimeout(1000);
    const b = await counters();
    if (!a || !b) return null;
    const fps = b.framesDecoded - a.framesDecoded;
    return fps >= 50 && b.host?.target_fps === 60 && b.host?.scale === 1 ? { ...b, fps } : null;
  }, 40000);
  if (back.framesDecoded >= during.framesDecoded) {
    assert.ok(back.plis > before0.plis, `keyframes were asked for: PLIs ${before0.plis} -> ${back.plis}`);
    assert.ok(back.keyFramesDecoded > before0.keyFramesDecoded, `and sent: keyframes decoded ${before0.keyFramesDecoded} -> ${back.keyFramesDecoded}`);
  } else {
    console.log(`the page made a new connection after the outage (frames decoded ${during.framesDecoded} -> ${back.framesDecoded})`);
    assert.ok(back.keyFramesDecoded >= 1, 'the new connection decoded a keyframe');
  }
  assert.ok(back.host.loss_pct >= 0, 'the host reports the loss it sees');
  assert.equal(back.state, 'connected');
  // With the loss gone, the copies stop (after 15 s of clean reports).
  await poll('the host sending once again', async () => (await counters()).host?.redundant === false, 30000);
});
