// Bad networks: the host, its server and Debian's Chromium run in a network namespace of the
// benchmark's own, streaming an X11 desktop (an Xvfb of its own; xprobe --animate redraws moving
// colour bars and the time code 60 times a second). Two runs:
//
// - loss: 40 ms round trip (our user-space delayer, 20 ms each way) and 5% of the UDP packets
//   dropped (iptables statistic), for --seconds; then the loss stops. Reports glass to glass
//   (which includes the 20 ms one way), presented fps, the longest gap between presented frames,
//   freezes over 500 ms, NACKs and PLIs, and how long after the loss stopped the stream was back
//   at full quality (a second of 55+ presented frames with the host at full frame rate and size).
// - bottleneck: a 3 Mbit/s token bucket (tbf) on the namespace's loopback, 40 ms round trip, for
//   --seconds, at 1920x1080 (the bars need about 3.7 Mbit/s). Reports, second by second, what
//   the host sends and its rate control's target, when the sent rate first stayed under the cap,
//   and glass to glass after that. With --host-args "--fixed-bitrate" for comparison.
// - start: the same link capped before the page connects (a session that opens on a narrow
//   link). Reports the time to the first frame, and over the first --seconds what the host
//   sent, the packets the full bucket dropped, PLIs and frames decoded.
//
//   cargo build && node bench/network.js [--seconds 15] [--runs loss,bottleneck] [--loss 0.05]
//     [--rtt 40] [--host-args "..."]
// BENCH_LOG=FILE appends the host's rate-control lines of each run to FILE.

import { appendFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import {
  start, startXvfb, startXprobe, stopAll, launch, waitForFrames, makeNetns, sceneLayout,
  startTimecodeMonitor, timecodes, poll, videoStats,
} from '../tests/e2e/harness.js';
import { arg, percentile } from './lib.js';

const SECONDS = Number(arg('--seconds', '15'));
const RUNS = arg('--runs', 'loss,bottleneck').split(',');
const HOST_ARGS = arg('--host-args', '').split(' ').filter(Boolean);
const LOSS = Number(arg('--loss', '0.05'));
const RTT = Number(arg('--rtt', '40'));

const counters = videoStats;

async function setUp(ns, size, settle = 2000) {
  const [W, H] = size.split('x').map(Number);
  const xvfb = await startXvfb(size);
  await startXprobe(xvfb.display, undefined, ['--animate', '60']);
  const server = await start(['serve', '--listen', '127.0.0.1:0'], 'listening ', { netns: ns });
  const host = await start(['host', '--server', server.url, '--room', 'bench', '--source', 'x11', '--display', xvfb.display,
    '--audio', 'none', ...HOST_ARGS], 'open ', { netns: ns });
  const browser = await launch({ netns: ns });
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
  await page.goto(host.url);
  try {
    await waitForFrames(page, 1, 20000);
  } catch (e) {
    // Say what each side saw, so a run that never starts can be told apart.
    const text = await page.evaluate(() => document.body.innerText.slice(0, 400)).catch(() => '?');
    throw new Error(`${e.message}\npage: ${text}\nconsole:\n${consoleLines.slice(-20).join('\n')}\nhost:\n${host.stderr.slice(-2500)}\nserver:\n${server.stderr.slice(-1500)}`);
  }
  if (settle) await page.waitForTimeout(settle);
  await startTimecodeMonitor(page, sceneLayout(W, H).timecode, [W, H]);
  return { browser, page, host };
}

/** BENCH_LOG=FILE: the host's rate-control lines of each run, to see what it decided and why. */
function keepLog(run, host) {
  if (!process.env.BENCH_LOG) return;
  const lines = (host.stderr || '').split('\n').filter((l) => /rate control|bandwidth estimate/.test(l));
  appendFileSync(process.env.BENCH_LOG, `--- ${run} ${HOST_ARGS.join(' ') || 'default'}\n${lines.join('\n')}\n`);
}

const f1 = (v) => (Number.isFinite(v) ? v.toFixed(1) : '–');

function summary(frames, secs) {
  const g2g = frames.map((f) => f.g2g);
  const gaps = frames.slice(1).map((f, k) => f.presented - frames[k].presented);
  return {
    p50: percentile(g2g, 50), p95: percentile(g2g, 95), fps: frames.length / secs,
    longestGap: Math.max(0, ...gaps), freezes: gaps.filter((g) => g > 500).length,
  };
}

async function lossRun() {
  const ns = makeNetns('bench-loss');
  try {
    if (RTT > 0) await ns.delayUdp(RTT / 2);
    const { browser, page, host } = await setUp(ns, '1280x720');
    const c0 = await counters(page);
    ns.dropUdp(LOSS);
    const t0 = Date.now();
    const trace = [];
    let largest = 0;
    for (let s = 0; s < SECONDS; s += 1) {
      await page.waitForTimeout(1000);
      const h = (await counters(page)).host;
      largest = Math.max(largest, h?.largest_frame_kb ?? 0);
      trace.push(h ? `${h.fps.toFixed(0)} fps ${h.mbps.toFixed(2)} (${h.target_mbps.toFixed(2)}; est ${h.estimate_mbps?.toFixed(2)}; loss ${h.loss_pct.toFixed(0)}%${h.redundant ? ', sent twice' : ''}; ${h.target_fps}/${h.scale})` : '-');
    }
    const frames = (await timecodes(page)).filter((f) => f.presented >= t0);
    const c1 = await counters(page);
    const dropped = ns.droppedUdp();
    ns.dropUdp(0);
    const stopped = Date.now();
    const back = await poll('full quality again', async () => {
      const a = await counters(page);
      await page.waitForTimeout(1000);
      const b = await counters(page);
      return b.framesDecoded - a.framesDecoded >= 55 && b.host?.target_fps === 60 && b.host?.scale === 1 ? Date.now() : null;
    }, 30000);
    keepLog('loss', host);
    await browser.close_();
    return { trace, largest, ...summary(frames, SECONDS), nacks: c1.nacks - c0.nacks, plis: c1.plis - c0.plis, dropped,
      recovery: (back - stopped) / 1000 };
  } finally {
    await stopAll();
    await ns.remove();
  }
}

/** The host's figures each second for --seconds: what it sent, its target, frame rate, size. */
async function hostSeconds(page) {
  const seconds = [];
  for (let s = 0; s < SECONDS; s += 1) {
    await page.waitForTimeout(1000);
    const h = (await counters(page)).host;
    seconds.push({ sent: h?.mbps ?? null, target: h?.target_mbps ?? null, fps: h?.fps ?? null, scale: h?.scale ?? null, twice: h?.redundant ?? false });
  }
  return seconds;
}

async function bottleneckRun() {
  const ns = makeNetns('bench-cap');
  try {
    await ns.delayUdp(20);
    const { browser, page, host } = await setUp(ns, '1920x1080');
    ns.capBandwidth(3000);
    const t0 = Date.now();
    const seconds = await hostSeconds(page);
    // Settled: the first second from which every later one sent under 3 Mbit/s.
    let settled = seconds.length;
    for (let s = seconds.length - 1; s >= 0 && seconds[s].sent !== null && seconds[s].sent < 3; s -= 1) settled = s;
    const all = (await timecodes(page)).filter((f) => f.presented >= t0);
    const after = all.filter((f) => f.presented >= t0 + (settled + 1) * 1000);
    await browser.close_();
    keepLog('bottleneck', host);
    return {
      seconds,
      settled: settled < seconds.length ? settled + 1 : null,
      whole: summary(all, SECONDS),
      ...summary(after, Math.max(1, SECONDS - settled - 1)),
    };
  } finally {
    await stopAll();
    await ns.remove();
  }
}

async function startRun() {
  const ns = makeNetns('bench-start');
  try {
    await ns.delayUdp(20);
    // The page loads through the cap too: loopback's 64 KB packets never fit the 16 KB bucket.
    execFileSync('ip', ['-n', ns.name, 'link', 'set', 'lo', 'mtu', '1500']);
    ns.capBandwidth(3000);
    const t0 = Date.now();
    const { browser, page, host } = await setUp(ns, '1920x1080', 0);
    const first = Date.now() - t0;
    const c0 = await counters(page);
    const seconds = await hostSeconds(page);
    const c1 = await counters(page);
    const drops = ns.cappedDrops();
    await browser.close_();
    keepLog('start', host);
    return { first, seconds, drops, plis: c1.plis, decoded: c1.framesDecoded - c0.framesDecoded };
  } finally {
    await stopAll();
    await ns.remove();
  }
}

const head = `machine: ${cpus().length} x ${cpus()[0].model}; ${new Date().toISOString().slice(0, 10)}; ${SECONDS} s${HOST_ARGS.length ? `; host ${HOST_ARGS.join(' ')}` : ''}`;
if (RUNS.includes('loss')) {
  const r = await lossRun();
  console.log(`\n${head}\n\nloss: 1280x720 X11 desktop, ${RTT} ms round trip, ${LOSS * 100}% UDP loss`);
  console.log('| glass to glass p50 / p95 (ms) | presented fps | longest gap (ms) | freezes > 500 ms | packets dropped | NACKs | PLIs | largest frame (kB) | back to full quality after the loss (s) |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  console.log(`host each second: sent fps, Mb/s (target; estimate; loss; fps/scale allowed): ${r.trace.join(' · ')}`);
  console.log(`| ${r.p50.toFixed(1)} / ${r.p95.toFixed(1)} | ${r.fps.toFixed(1)} | ${r.longestGap.toFixed(0)} | ${r.freezes} | ${r.dropped} | ${r.nacks} | ${r.plis} | ${r.largest.toFixed(1)} | ${r.recovery.toFixed(1)} |`);
}
if (RUNS.includes('bottleneck')) {
  const r = await bottleneckRun();
  console.log(`\n${head}\n\nbottleneck: 1920x1080 X11 desktop, 3 Mbit/s, 40 ms round trip`);
  console.log(`sent Mb/s each second (target): ${r.seconds.map((s) => `${s.sent?.toFixed(2)} (${s.target?.toFixed(2)})${s.twice ? ' sent twice' : ''}`).join(', ')}`);
  console.log(`host fps / scale each second: ${r.seconds.map((s) => `${s.fps?.toFixed(0)}/${s.scale}`).join(', ')}`);
  console.log('| under the cap from second | glass to glass after that p50 / p95 (ms) | presented fps after | glass to glass, whole run p50 / p95 | presented fps, whole run | longest gap (ms) | freezes > 500 ms |');
  console.log('|---|---|---|---|---|---|---|');
  const w = r.whole;
  console.log(`| ${r.settled ?? 'never'} | ${f1(r.p50)} / ${f1(r.p95)} | ${f1(r.fps)} | ${f1(w.p50)} / ${f1(w.p95)} | ${f1(w.fps)} | ${w.longestGap.toFixed(0)} | ${w.freezes} |`);
}
if (RUNS.includes('start')) {
  const r = await startRun();
  console.log(`\n${head}\n\nstart: 1920x1080 X11 desktop, capped at 3 Mbit/s before the page connects, 40 ms round trip`);
  console.log(`sent Mb/s each second after the first frame (target): ${r.seconds.map((s) => `${s.sent?.toFixed(2)} (${s.target?.toFixed(2)})`).join(', ')}`);
  console.log('| first frame after (ms) | packets the full bucket dropped | PLIs | frames decoded in the seconds above |');
  console.log('|---|---|---|---|');
  console.log(`| ${r.first} | ${r.drops} | ${r.plis} | ${r.decoded} |`);
}
