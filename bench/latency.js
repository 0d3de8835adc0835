// Glass-to-glass benchmark, on one machine (one clock), with Debian's Chromium. Three sources:
// - scene: `peerdesk demo`; the test scene draws the Unix time in ms as a time code in every
//   frame, and flips its marker square on every key;
// - x11: `peerdesk serve` and `peerdesk host --source x11` on an Xvfb of the benchmark's own,
//   where `xprobe --animate 60` redraws moving colour bars over the middle 70% of the screen with
//   the same time code 60 times a second, and flips the same marker on every key press it gets;
// - sway: `peerdesk host --source wayland` on a headless sway of the benchmark's own (as the
//   unprivileged user of tests/e2e/wayland-lab.js: wlr-screencopy, the virtual keyboard), where
//   `waylandpaint --animate 60` draws the same bars, time code and marker full screen.
// For every presented frame (requestVideoFrameCallback) the page reads the code: glass to glass
// = presentation time minus drawing time. A key pressed every 400 ms flips the marker: input to
// photon = the first presented frame showing the flip minus the moment the key went down in the
// page (before the client sent it). Reports per source and size: p50/p95/p99/max, frames
// presented per second, frames dropped by the browser, freezes (gaps over 100 ms between
// presented frames), host and browser CPU, the bitrate and the host's own per-stage figures (its
// `stats` message, as the page's overlay shows them).
//
//   cargo build && node bench/latency.js [--seconds 10] [--sizes 1280x720,1920x1080]
//     [--sources scene,x11,sway] [--runs 3] [--host-args "--fixed-bitrate"]
//     [--compare "--fixed-bitrate"] [--busy 1]
// --compare runs a second configuration (the host with those arguments added) beside each run of
// the first, alternating, so both rows come from one sitting. --busy N keeps N CPU-bound
// processes (`python3 -c 'while 1: pass'`) running through every run, started before the host.
// PEERDESK_BIN=target/release/peerdesk measures a release build (`cargo build --release
// --workspace`: xprobe is taken from beside it).

import { cpus } from 'node:os';
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import {
  start, stopAll, launch, waitForFrames, poll, sceneLayout, startTimecodeMonitor, timecodes, timecodeCounts, cpuSeconds,
  inputToPhoton, videoStats, startXvfb, startXprobe, browserCpuSeconds, BIN,
} from '../tests/e2e/harness.js';
import { WaylandLab, hostPid } from '../tests/e2e/wayland-lab.js';
import { arg, percentile } from './lib.js';

const SECONDS = Number(arg('--seconds', '10'));
const SIZES = arg('--sizes', '1280x720,1920x1080').split(',').map((s) => s.split('x').map(Number));
const SOURCES = arg('--sources', 'scene,x11').split(',');
const RUNS = Number(arg('--runs', '3'));
const HOST_ARGS = arg('--host-args', '').split(' ').filter(Boolean);
const COMPARE = arg('--compare', '');
const BUSY = Number(arg('--busy', '0'));

const dropped = async (page) => (await videoStats(page)).framesDropped;

/** The host (and its server) for `source` at W x H: the URL to open and the host's PID. */
async function startSource(source, W, H, extra) {
  if (source === 'scene') {
    const demo = await start(['demo', '--listen', '127.0.0.1:0', '--width', String(W), '--height', String(H), '--fps', '60', ...HOST_ARGS, ...extra], 'open ');
    return { url: demo.url, pid: demo.pid, proc: demo };
  }
  if (source === 'sway') {
    const lab = new WaylandLab();
    const server = await start(['serve', '--listen', '127.0.0.1:0'], 'listening ');
    const host = await lab.host(server, 'bench', { compositor: 'sway', size: [W, H], args: ['--fps', '60', ...HOST_ARGS, ...extra] });
    const client = await lab.client(['--animate', '60']);
    // The host runs as the session's user, under runuser: its own PID for its CPU.
    const pid = hostPid(host);
    return { url: host.url, pid, proc: host, lab, client };
  }
  const xvfb = await startXvfb(`${W}x${H}`);
  await startXprobe(xvfb.display, undefined, ['--animate', '60']);
  const server = await start(['serve', '--listen', '127.0.0.1:0'], 'listening ');
  const host = await start(['host', '--server', server.url, '--room', 'bench', '--source', 'x11', '--display', xvfb.display,
    '--audio', 'none', '--fps', '60', ...HOST_ARGS, ...extra], 'open ');
  return { url: host.url, pid: host.pid, proc: host };
}

async function measure(source, W, H, extra = []) {
  const demo = await startSource(source, W, H, extra);
  const browser = await launch();
  const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
  await page.goto(demo.url);
  await waitForFrames(page, 1, 20000);
  await page.waitForTimeout(2000);
  const layout = sceneLayout(W, H);
  await startTimecodeMonitor(page, layout.timecode, [W, H], layout.marker);
  // Keys go to the host once the page has been clicked (the click itself flips the marker).
  await page.click('#stage', { position: { x: 10, y: 10 } });
  await page.waitForTimeout(500);
  const drop0 = await dropped(page);
  const counts0 = await timecodeCounts(page);
  const cpu0 = cpuSeconds(demo.pid);
  const browserCpu0 = browserCpuSeconds(browser);
  const t0 = Date.now();
  // A key every 400 ms (at an odd offset from the frame clock): the scene flips its marker on
  // each, and the page times the first presented frame that shows it.
  // Rate control's frame rate and limit as the host reports them, every key.
  const targets = [];
  while (Date.now() - t0 < SECONDS * 1000) {
    await page.keyboard.press('KeyA');
    await page.waitForTimeout(400 + Math.floor(Math.random() * 17));
    const h = await page.evaluate(() => window.peerdesk.hostStats);
    if (h) targets.push({ fps: h.target_fps, limit: h.limit ?? 'none' });
  }
  const counts = await timecodeCounts(page);
  const secs = (Date.now() - t0) / 1000;
  const i2p = await inputToPhoton(page);
  const cpu = ((cpuSeconds(demo.pid) - cpu0) / secs) * 100;
  const browserCpu = ((browserCpuSeconds(browser) - browserCpu0) / secs) * 100;
  const frames = (await timecodes(page)).filter((f) => f.presented >= t0);
  const drops = (await dropped(page)) - drop0;
  const host = await poll('host stats', () => page.evaluate(() => window.peerdesk.hostStats), 5000);
  await browser.close_();
  // BENCH_LOG=FILE: the host's rate-control lines of each run, to see what it decided and why.
  if (process.env.BENCH_LOG) {
    const lines = (demo.proc.stderr || '').split('\n').filter((l) => /rate control|bandwidth estimate/.test(l));
    appendFileSync(process.env.BENCH_LOG, `--- ${source} ${W}x${H} ${extra.join(' ') || 'default'}\n${lines.join('\n')}\n`);
  }
  // The Wayland client's own pace (it paints the time code): the most the host could show.
  const painted = demo.client ? [...demo.client.stderr.matchAll(/painted ([\d.]+) fps/g)].map((m) => Number(m[1])) : [];
  if (painted.length) console.error(`${source} ${W}x${H}: the client painted ${painted.join(', ')} fps (each 5 s)`);
  await stopAll();
  demo.lab?.cleanup();
  const g2g = frames.map((f) => f.g2g);
  const gaps = frames.slice(1).map((f, k) => f.presented - frames[k].presented);
  return {
    size: `${W}x${H}`,
    source,
    g2g,
    fps: (counts.presented - counts0.presented) / secs,
    unreadable: counts.unreadable - counts0.unreadable,
    planes: counts.planes,
    drops,
    freezes: gaps.filter((g) => g > 100).length,
    cpu,
    browserCpu,
    host,
    i2p,
    targets,
    config: extra.join(' ') || 'default',
  };
}

/** Runs of one configuration pooled: every frame and key of every run, rates averaged. */
function pool(runs) {
  const avg = (f) => runs.reduce((t, r) => t + f(r), 0) / runs.length;
  const sum = (f) => runs.reduce((t, r) => t + f(r), 0);
  const host = (k) => avg((r) => r.host[k]);
  return {
    ...runs[0],
    g2g: runs.flatMap((r) => r.g2g),
    runP50: runs.map((r) => percentile(r.g2g, 50)),
    i2p: { delays: runs.flatMap((r) => r.i2p.delays), keys: sum((r) => r.i2p.keys) },
    fps: avg((r) => r.fps),
    unreadable: sum((r) => r.unreadable),
    planes: runs.every((r) => r.planes),
    drops: sum((r) => r.drops),
    freezes: sum((r) => r.freezes),
    cpu: avg((r) => r.cpu),
    browserCpu: avg((r) => r.browserCpu),
    host: Object.fromEntries(['capture_ms', 'convert_ms', 'encode_ms', 'frame_p50_ms', 'mbps', 'target_mbps'].map((k) => [k, host(k)])),
    estimate: runs.map((r) => r.host.estimate_mbps).filter((e) => e !== null),
    targets: runs.flatMap((r) => r.targets),
  };
}

// Headless Chromium shows frames on a 60 Hz clock of its own, and the host draws on another: the
// phase between them is new each run and then holds, and it decides whether a frame waits a
// little or most of a frame period for its turn (run medians 17 ms apart at 1280x720). So each
// configuration runs --runs times, and its figures pool every frame of every run.
const busy = [];
for (let i = 0; i < BUSY; i += 1) {
  busy.push(spawn('python3', ['-c', 'while 1: pass'], { stdio: 'ignore' }));
}
const rows = [];
try {
  for (const source of SOURCES) {
    for (const [W, H] of SIZES) {
      const configs = COMPARE ? [[], COMPARE.split(' ').filter(Boolean)] : [[]];
      const runs = configs.map(() => []);
      for (let i = 0; i < RUNS; i += 1) {
        for (const [k, extra] of configs.entries()) runs[k].push(await measure(source, W, H, extra));
      }
      for (const r of runs) rows.push(pool(r));
    }
  }
} finally {
  for (const p of busy) p.kill();
}
console.log(`\nmachine: ${cpus().length} x ${cpus()[0].model}; ${new Date().toISOString().slice(0, 10)}; ${RUNS} runs of ${SECONDS} s per row; 60 fps; ${BIN}${HOST_ARGS.length ? `; host ${HOST_ARGS.join(' ')}` : ''}${BUSY ? `; ${BUSY} CPU-bound process${BUSY > 1 ? 'es' : ''} competing` : ''}`);
console.log(`time codes read ${rows.every((r) => r.planes) ? "from the decoder's planes (VideoFrame.copyTo)" : 'through a canvas (the whole frame converted to RGB, every frame)'}\n`);
console.log('| source | size | host | glass to glass p50 / p95 / p99 / max (ms) | p50 of each run | input to photon p50 / p95 (ms, keys) | presented fps | unreadable codes | dropped | freezes > 100 ms | host CPU / browser CPU (% of a core) | host capture / convert / encode, per frame p50 (ms) | sent Mb/s (target; estimate) | rate control fps (lowest) and limits seen |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  const p = (q) => percentile(r.g2g, q).toFixed(1);
  const h = r.host;
  const est = r.estimate.length ? (r.estimate.reduce((a, b) => a + b, 0) / r.estimate.length).toFixed(2) : 'none';
  const limits = [...new Set(r.targets.map((t) => t.limit))].join(', ') || '–';
  const lowest = r.targets.length ? Math.min(...r.targets.map((t) => t.fps)) : '–';
  console.log(`| ${r.source} | ${r.size} | ${r.config} | ${p(50)} / ${p(95)} / ${p(99)} / ${Math.max(...r.g2g).toFixed(1)} | ${r.runP50.map((x) => x.toFixed(1)).join(', ')} | ${percentile(r.i2p.delays, 50).toFixed(1)} / ${percentile(r.i2p.delays, 95).toFixed(1)} (${r.i2p.delays.length} of ${r.i2p.keys}) | ${r.fps.toFixed(1)} | ${r.unreadable} | ${r.drops} | ${r.freezes} | ${r.cpu.toFixed(1)} / ${r.browserCpu.toFixed(1)} | ${h.capture_ms.toFixed(1)} / ${h.convert_ms.toFixed(1)} / ${h.encode_ms.toFixed(1)}, ${h.frame_p50_ms.toFixed(1)} | ${h.mbps.toFixed(2)} (${h.target_mbps.toFixed(2)}; ${est}) | ${lowest}; ${limits} |`);
}
