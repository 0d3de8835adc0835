// Packet loss: the demo and Chromium run in a network namespace of this test's own, where
// iptables drops a share of the UDP packets (the media; the signaling is TCP). Under 5% loss the
// picture keeps coming (the browser asks for lost packets again, NACK, and the host resends
// them, RTX); under heavy loss the browser asks for keyframes (PLI) and the host sends them; when
// the loss stops the stream is back at full frame rate. No timing thresholds tighter than seconds.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { start, launch, makeNetns, teardown, waitForFrames, poll, videoStats } from './harness.js';

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

test('under 5% loss the picture keeps coming: lost packets are asked for and resent', { timeout: 60000 }, async () => {
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
  assert.ok(last.lost > first.lost, `the browser saw loss: ${first.lost} -> ${last.lost}`);
  assert.ok(last.nacks > first.nacks, `it asked for lost packets again: NACKs ${first.nacks} -> ${last.nacks}`);
  if (last.retransmitted !== null) {
    assert.ok(last.retransmitted > first.retransmitted, `and got them resent: ${first.retransmitted} -> ${last.retransmitted}`);
  }
  assert.equal(last.state, 'connected');
});

test('under heavy loss keyframes are asked for and sent; after it the stream is back at full rate', { timeout: 60000 }, async () => {
  const before0 = await counters();
  ns.dropUdp(0.4);
  // A frame decodes only once every packet of it (or of the keyframe it needs) crossed 40%
  // loss, resends included: a matter of chance, so the window is 6 s (4 s came up empty once in
  // a CI run on a busy machine).
  const heavy = await sample(6);
  ns.dropUdp(0);
  const during = heavy[heavy.length - 1];
  assert.ok(during.framesDecoded > before0.framesDecoded, 'frames still arrive under 40% loss');
  // Recovery: within 20 s the browser has asked for and decoded a keyframe, decodes about 60
  // frames a second again, and the host's rate control is back at full frame rate and size.
  // Six seconds of 40% loss can take rate control down to half size at half frame rate; it
  // climbs one step per 2 s of room and the bitrate 10% a second, so 10 s was too tight once
  // in CI. (How fast it comes back is the benchmark's business, bench/, not this test's.)
  const back = await poll('the stream back at full rate', async () => {
    const a = await counters();
    await page.waitForTimeout(1000);
    const b = await counters();
    const fps = b.framesDecoded - a.framesDecoded;
    return fps >= 50 && b.host?.target_fps === 60 && b.host?.scale === 1 ? { ...b, fps } : null;
  }, 20000);
  assert.ok(back.plis > before0.plis, `keyframes were asked for: PLIs ${before0.plis} -> ${back.plis}`);
  assert.ok(back.keyFramesDecoded > before0.keyFramesDecoded, `and sent: keyframes decoded ${before0.keyFramesDecoded} -> ${back.keyFramesDecoded}`);
  assert.ok(back.host.loss_pct >= 0, 'the host reports the loss it sees');
  assert.equal(back.state, 'connected');
});
