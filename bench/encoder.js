// The encoder alone: `encbench` (crates/peerdesk-testkit) converts and encodes moving colour
// bars over the middle 70% of the picture (what `xprobe --animate` draws on an X11 desktop) with
// peerdesk's own openh264 settings, on one thread, nothing else running: the floor under the
// per-frame figures of bench/x11-desktop.js and bench/latency.js, where the source, the host and
// the browser share the machine.
//
//   cargo build --release -p peerdesk-testkit && node bench/encoder.js [--sizes 1280x720,1920x1080]
//     [--frames 300] [--bitrate 6000]

import { execFileSync } from 'node:child_process';
import { cpus } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { arg } from './lib.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = process.env.ENCBENCH || join(ROOT, 'target/release/encbench');
const SIZES = arg('--sizes', '1280x720,1920x1080').split(',');
const FRAMES = arg('--frames', '300');
const BITRATE = arg('--bitrate', '6000');

console.log(`\nmachine: ${cpus().length} x ${cpus()[0].model}; ${new Date().toISOString().slice(0, 10)}; ${BIN}; ${FRAMES} frames at 60 fps, ${BITRATE} kbit/s\n`);
console.log('| size | content | convert avg (ms) | encode avg / p50 / p95 (ms) | bytes a frame | openh264 assembly |');
console.log('|---|---|---|---|---|---|');
for (const size of SIZES) {
  for (const content of ['bars', 'still']) {
    const r = JSON.parse(execFileSync(BIN, ['--size', size, '--frames', FRAMES, '--bitrate', BITRATE, '--content', content], { encoding: 'utf8' }));
    const f = (v) => v.toFixed(2);
    console.log(`| ${r.size} | ${r.content} | ${f(r.convert_avg)} | ${f(r.encode_avg)} / ${f(r.encode_p50)} / ${f(r.encode_p95)} | ${r.bytes_per_frame} | ${r.assembly} |`);
  }
}
