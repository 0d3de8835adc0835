// The reference for issue 21's CPU target: Debian's `ffmpeg` grabbing an X display and encoding
// it with libx264 `ultrafast` + `zerolatency`, the command the issue quotes, on these cores,
// beside peerdesk's own encoder on the same content (encbench: convert and encode the same bars,
// no capture). An Xvfb of its own at --size, with `xprobe --animate 60` drawing moving colour
// bars over the middle 70% (the content of bench/encoder.js and bench/latency.js). For each run:
// ffmpeg for --seconds, its CPU time (all threads) from /proc, the frames it encoded (from its
// progress line), so CPU a frame and share of a core at what it managed. Nothing else may run.
//
//   apt-get install ffmpeg    (Debian's; the reference only, peerdesk never runs it)
//   cargo build --release -p peerdesk-testkit --features ffmpeg && node bench/reference.js
//     [--size 1920x1080] [--seconds 15] [--runs 3] [--bitrate 6000]

import { spawn, execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { startXvfb, startXprobe, stopAll, cpuSeconds, ROOT } from '../tests/e2e/harness.js';
import { arg } from './lib.js';

const SIZE = arg('--size', '1920x1080');
const SECONDS = Number(arg('--seconds', '15'));
const RUNS = Number(arg('--runs', '3'));
const KBPS = arg('--bitrate', '6000');
const ENCBENCH = process.env.ENCBENCH || join(ROOT, 'target/release/encbench');

try {
  execFileSync('ffmpeg', ['-hide_banner', '-version'], { stdio: 'ignore' });
} catch {
  console.error('Debian\'s ffmpeg is not installed: apt-get install ffmpeg (the reference only)');
  process.exit(2);
}

/** One ffmpeg x11grab + libx264 run: CPU seconds, frames encoded, seconds. */
function ffmpegRun(display, extra) {
  return new Promise((resolve, reject) => {
    const args = ['-hide_banner', '-nostats', '-progress', 'pipe:2', '-f', 'x11grab', '-framerate', '60',
      '-video_size', SIZE, '-draw_mouse', '0', '-i', display, '-t', String(SECONDS),
      '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-pix_fmt', 'yuv420p',
      ...extra, '-f', 'null', '-'];
    const child = spawn('ffmpeg', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    let cpu = 0;
    const started = Date.now();
    const sample = setInterval(() => { try { cpu = cpuSeconds(child.pid); } catch { /* gone */ } }, 200);
    child.stderr.on('data', (d) => { err = (err + d).slice(-20000); });
    child.on('exit', (code) => {
      clearInterval(sample);
      const frames = Number([...err.matchAll(/^frame=(\d+)/gm)].pop()?.[1] ?? NaN);
      if (code !== 0) reject(new Error(`ffmpeg exited ${code}: ${err.slice(-500)}`));
      else resolve({ cpu, frames, secs: (Date.now() - started) / 1000 });
    });
  });
}

const xvfb = await startXvfb(SIZE);
await startXprobe(xvfb.display, undefined, ['--animate', '60']);
console.log(`\nmachine: ${cpus().length} x ${cpus()[0].model}; ${new Date().toISOString().slice(0, 10)}; ${SIZE}, xprobe --animate 60, ${SECONDS} s a run, ${RUNS} runs\n`);
console.log('| run | what | frames a second | CPU a frame (ms, all threads) | share of a core |');
console.log('|---|---|---|---|---|');
const modes = [
  ['ffmpeg x11grab + libx264 ultrafast zerolatency (the issue\'s command)', []],
  [`the same at ${KBPS} kbit/s constant bitrate, a 3-frame buffer, baseline (peerdesk's settings)`,
    ['-b:v', `${KBPS}k`, '-maxrate', `${KBPS}k`, '-bufsize', `${Math.round(Number(KBPS) * 3 / 60)}k`, '-profile:v', 'baseline']],
];
for (let run = 1; run <= RUNS; run++) {
  for (const [what, extra] of modes) {
    const r = await ffmpegRun(xvfb.display, extra);
    const fps = r.frames / SECONDS;
    console.log(`| ${run} | ${what} | ${fps.toFixed(1)} | ${(r.cpu * 1000 / r.frames).toFixed(1)} | ${(r.cpu / SECONDS * 100).toFixed(0)}% |`);
  }
  // peerdesk's x264 on the same bars, convert + encode only (no capture), from encbench.
  const [w, h] = SIZE.split('x');
  const e = JSON.parse(execFileSync(ENCBENCH, ['--encoder', 'x264', '--size', `${w}x${h}`, '--frames', '300', '--bitrate', KBPS], { encoding: 'utf8' }));
  if (e.error) console.log(`| ${run} | peerdesk x264 (encbench) | not run: ${e.error} | | |`);
  else console.log(`| ${run} | peerdesk x264, convert + encode (encbench, no capture) | - | ${e.cpu_ms_per_frame.toFixed(1)} | ${(e.cpu_ms_per_frame * 60 / 10).toFixed(0)}% at 60 fps |`);
}
await stopAll();
