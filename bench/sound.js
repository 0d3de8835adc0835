// Sound benchmark: the test scene's beat (a 1 kHz tone at the start of every second, with the
// beat square flashing in the picture) through `peerdesk demo` to Debian's Chromium, timed on
// this machine's clock against the scene's own (the host logs when it starts):
// - audio capture-to-playout: from the beat's first sample to the receiver playing out the frame
//   that starts with it (RTCRtpSynchronizationSource.timestamp: delivered to the track), and to
//   its onset heard through a WebAudio tap (adds the tap's buffers and the output device's
//   latency, which headless Chromium fakes);
// - flash capture-to-presentation: from the beat's instant to the frame showing the flash;
// - A/V offset: audio minus video onset per beat;
// - the audio thread's CPU (% of one core), for the scene's tones and for PulseAudio recording
//   a tone through a null sink (a PulseAudio daemon of the benchmark's own).
//
//   cargo build && node bench/sound.js [--seconds 20]

import { cpus } from 'node:os';
import {
  start, startXvfb, startPulse, stopAll, launch, waitForFrames, waitForAudioTrack, poll, sceneLayout, startAvMonitor,
  avOnsets, avOffsets,
} from '../tests/e2e/harness.js';
import { arg, percentile, threadCpuSeconds } from './lib.js';

const SECONDS = Number(arg('--seconds', '20'));
const W = 1280;
const H = 720;

async function open(host) {
  const browser = await launch();
  const page = await browser.newPage();
  await page.goto(host.url);
  await waitForFrames(page, 1, 20000);
  await waitForAudioTrack(page);
  return { browser, page };
}

async function scene(extra = []) {
  const demo = await start(['demo', '--listen', '127.0.0.1:0', '--width', String(W), '--height', String(H), ...extra], 'open ');
  const origin = Number(await poll('the scene clock line', () => (demo.stderr.match(/scene clock starts at unix time (\d+) ms/) || [])[1], 5000));
  const { browser, page } = await open(demo);
  const { beat } = sceneLayout(W, H);
  await startAvMonitor(page, [beat[0] / W, beat[1] / H]);
  // Let the receiver settle (its jitter buffer adapts over the first seconds), then measure.
  await page.waitForTimeout(3000);
  const from = Date.now();
  const cpu0 = threadCpuSeconds(demo.pid, 'peerdesk-audio');
  await page.waitForTimeout(SECONDS * 1000);
  const cpu = ((threadCpuSeconds(demo.pid, 'peerdesk-audio') - cpu0) / SECONDS) * 100;
  const m = await avOnsets(page);
  await browser.close_();
  await stopAll();
  const since = (beats) => beats.filter((t) => t >= from);
  const late = (t) => t - (origin + Math.round((t - origin - 200) / 1000) * 1000);
  const playout = since(m.playout).map(late);
  const heard = since(m.audio).map(late);
  const video = since(m.video).map(late);
  const atPlayout = avOffsets({ video: since(m.video), audio: since(m.playout) });
  const offsets = avOffsets({ video: since(m.video), audio: since(m.audio) });
  return { playout, heard, video, atPlayout, offsets, cpu };
}

/**
 * The WebAudio tap's own delay: a local oscillator started at a known time goes through a
 * MediaStream into the same kind of tap (MediaStreamSource into a ScriptProcessor); the onset is
 * timed the same way. Output device latency is not in it (both ends are on the context clock).
 */
async function tapDelay() {
  const browser = await launch();
  const page = await browser.newPage();
  await page.goto('about:blank');
  const delays = await page.evaluate(async () => {
    const ctx = new AudioContext();
    await ctx.resume();
    const dest = ctx.createMediaStreamDestination();
    const source = ctx.createMediaStreamSource(dest.stream);
    const proc = ctx.createScriptProcessor(256, 1, 1);
    source.connect(proc);
    proc.connect(ctx.destination);
    const out = [];
    let pending = null;
    proc.onaudioprocess = (e) => {
      if (pending === null) return;
      const x = e.inputBuffer.getChannelData(0);
      for (let i = 0; i < x.length; i += 16) {
        const t = e.playbackTime + i / ctx.sampleRate;
        if (Math.abs(x[i]) > 0.03 && t > pending) {
          out.push((t - pending) * 1000);
          pending = null;
          return;
        }
      }
    };
    for (let k = 0; k < 10; k++) {
      const osc = ctx.createOscillator();
      osc.frequency.value = 1000;
      osc.connect(dest);
      const t0 = ctx.currentTime + 0.2;
      osc.start(t0);
      osc.stop(t0 + 0.1);
      pending = t0;
      await new Promise((r) => setTimeout(r, 500));
    }
    return out;
  });
  await browser.close_();
  return delays;
}

async function pulseCpu() {
  const pulse = await startPulse();
  const xvfb = await startXvfb('640x360');
  const server = await start(['serve', '--listen', '127.0.0.1:0'], 'listening ');
  const host = await start(['host', '--server', server.url, '--room', 'bench', '--source', 'x11', '--display', xvfb.display],
    'open ', { env: { PULSE_SERVER: pulse.server } });
  await pulse.pactl(['load-module', 'module-sine', 'sink=peerdesk_test', 'frequency=440']);
  const { browser, page } = await open(host);
  await page.waitForTimeout(2000);
  const cpu0 = threadCpuSeconds(host.pid, 'peerdesk-audio');
  await page.waitForTimeout(SECONDS * 1000);
  const cpu = ((threadCpuSeconds(host.pid, 'peerdesk-audio') - cpu0) / SECONDS) * 100;
  await browser.close_();
  await stopAll();
  return cpu;
}

const plain = await scene();
const synced = await scene(['--av-sync']);
const pulse = await pulseCpu();
const tap = await tapDelay();
const tapMs = percentile(tap, 50);
const row = (name, xs) => `| ${name} | ${xs.length} | ${percentile(xs, 50).toFixed(1)} | ${percentile(xs, 95).toFixed(1)} | ${Math.max(...xs).toFixed(1)} |`;
console.log(`\nmachine: ${cpus().length} x ${cpus()[0].model}; ${new Date().toISOString().slice(0, 10)}; ${SECONDS} s per measure, test scene ${W}x${H}@60\n`);
for (const [name, s] of [['default (picture first: playout delay 0)', plain], ['--av-sync (picture may wait up to 100 ms)', synced]]) {
  console.log(`\n${name}\n`);
  console.log('| measure | beats | p50 (ms) | p95 (ms) | max (ms) |');
  console.log('|---|---|---|---|---|');
  console.log(row('audio: beat to its frame played out (delivered to the track)', s.playout));
  console.log(row('audio: beat to its onset heard through WebAudio', s.heard));
  console.log(row(`audio: heard, minus the tap's own ${tapMs.toFixed(1)} ms`, s.heard.map((x) => x - tapMs)));
  console.log(row('video: beat to the flash presented', s.video));
  console.log(row('A/V offset at playout (audio minus video)', s.atPlayout));
  console.log(row('A/V offset heard through WebAudio', s.offsets));
  console.log(row('A/V offset heard, minus the tap\'s own delay', s.offsets.map((x) => x - tapMs)));
}
console.log(`\naudio thread CPU: test scene tones ${plain.cpu.toFixed(2)}% of one core; PulseAudio (tone through a null sink) ${pulse.toFixed(2)}%`);
