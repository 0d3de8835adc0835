// The encoders alone: `encbench` (crates/peerdesk-testkit) converts and encodes moving colour
// bars over the middle 70% of the picture (what `xprobe --animate` draws on an X11 desktop) with
// peerdesk's own settings for each backend, nothing else running: the floor under the per-frame
// figures of bench/x11-desktop.js and bench/latency.js, where the source, the host and the
// browser share the machine. Every backend this build has and this machine can open is run,
// side by side, --runs times each (the table shows the spread over the runs); one that cannot
// open says why. SSIM: of each frame's luma, decoded back, against the source, at the same
// bitrate for every backend. Quality per bit, AV1 against H.264: several bitrates, the
// scrolling-text content (`scroll`, where AV1's screen tools count) beside the bars:
//
//   node bench/encoder.js --sizes 1280x720 --contents scroll,bars --bitrate 250,500,1000,2000
//     --encoders x264,openh264,aom
//
//   cargo build --release -p peerdesk-testkit --features ffmpeg,av1 && node bench/encoder.js
//     [--sizes 1280x720,1920x1080] [--frames 300] [--bitrate 6000[,...]] [--runs 3]
//     [--contents bars,still] [--encoders openh264,x264,nvenc,vaapi,qsv,aom]

import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { arg } from './lib.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = process.env.ENCBENCH || join(ROOT, 'target/release/encbench');
const SIZES = arg('--sizes', '1280x720,1920x1080').split(',');
const FRAMES = arg('--frames', '300');
const BITRATES = arg('--bitrate', '6000').split(',');
const CONTENTS = arg('--contents', 'bars,still').split(',');
const RUNS = Number(arg('--runs', '3'));
const ENCODERS = arg('--encoders', 'openh264,x264,nvenc,vaapi,qsv,aom').split(',');

const spread = (xs, digits = 2) => {
  const lo = Math.min(...xs), hi = Math.max(...xs);
  return lo.toFixed(digits) === hi.toFixed(digits) ? lo.toFixed(digits) : `${lo.toFixed(digits)}-${hi.toFixed(digits)}`;
};

console.log(`\nmachine: ${cpus().length} x ${cpus()[0].model}; ${new Date().toISOString().slice(0, 10)}; ${BIN}; ${FRAMES} frames at 60 fps, ${RUNS} runs each (min-max)\n`);
console.log('| encoder | size | content | kbit/s | frames out | convert avg (ms) | encode p50 / p95 (ms) | CPU a frame (ms, all threads) | bytes a frame | made kbit/s | SSIM |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
const skipped = new Map();
for (const size of SIZES) {
  for (const content of CONTENTS) for (const BITRATE of BITRATES) {
    for (const encoder of ENCODERS) {
      if (skipped.has(encoder)) continue;
      const runs = [];
      for (let i = 0; i < RUNS; i++) {
        // Interleaved by run would mix warm caches unevenly; each backend's runs back to back.
        const r = JSON.parse(execFileSync(BIN, ['--encoder', encoder, '--size', size, '--frames', FRAMES, '--bitrate', BITRATE, '--content', content], { encoding: 'utf8' }));
        if (r.error) { skipped.set(encoder, r.error); break; }
        runs.push(r);
      }
      if (!runs.length) continue;
      const col = (k, d) => spread(runs.map((r) => r[k]), d);
      console.log(`| ${encoder} | ${size} | ${content} | ${BITRATE} | ${col('frames', 0)} of ${Number(FRAMES) - 30} | ${col('convert_avg')} | ${col('encode_p50')} / ${col('encode_p95')} | ${col('cpu_ms_per_frame', 1)} | ${col('bytes_per_frame', 0)} | ${spread(runs.map((r) => (r.bytes_per_frame * 8 * 60 * r.frames) / (Number(FRAMES) - 30) / 1000), 0)} | ${col('ssim', 4)} |`);
    }
  }
}
for (const [encoder, why] of skipped) console.log(`\n${encoder}: not run: ${why}`);
