// Reads the connection's statistics once a second and turns them into figures a person can read.

export class StatsSampler {
  /**
   * `getPc` gives the peer connection (or null); `onSample` gets each second's figures;
   * `presented` (optional) gives how many frames were put on screen so far.
   */
  constructor(getPc, onSample, presented = () => null) {
    this.getPc = getPc;
    this.onSample = onSample;
    this.presented = presented;
    this.prev = null;
    this.timer = setInterval(() => this.sample(), 1000);
  }

  async sample() {
    const pc = this.getPc();
    if (!pc || pc.connectionState !== 'connected') {
      this.prev = null;
      return;
    }
    const report = await pc.getStats();
    let video = null;
    let audio = null;
    let pair = null;
    let codec = null;
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') video = s;
      if (s.type === 'inbound-rtp' && s.kind === 'audio') audio = s;
      if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s;
    });
    if (!video) return;
    if (video.codecId) codec = report.get(video.codecId)?.mimeType?.replace(/^video\//, '') ?? null;
    const now = video.timestamp;
    const cur = {
      t: now,
      frames: video.framesDecoded || 0,
      bytes: video.bytesReceived || 0,
      decodeTime: video.totalDecodeTime || 0,
      jbDelay: video.jitterBufferDelay || 0,
      jbCount: video.jitterBufferEmittedCount || 0,
      received: video.packetsReceived || 0,
      lost: video.packetsLost || 0,
      dropped: video.framesDropped || 0,
      audioJbDelay: audio?.jitterBufferDelay || 0,
      audioJbCount: audio?.jitterBufferEmittedCount || 0,
      audioBytes: audio?.bytesReceived || 0,
      concealed: audio?.concealedSamples || 0,
      samples: audio?.totalSamplesReceived || 0,
      presented: this.presented(),
    };
    const out = {
      width: video.frameWidth || 0,
      height: video.frameHeight || 0,
      codec,
      framesDecoded: cur.frames,
      fps: 0,
      mbps: 0,
      rttMs: pair && pair.currentRoundTripTime !== undefined ? pair.currentRoundTripTime * 1000 : null,
      lost: cur.lost,
      lossPct: null,
      jitterMs: video.jitter !== undefined ? video.jitter * 1000 : null,
      jitterBufferMs: null,
      decodeMs: null,
      dropped: cur.dropped,
      freezes: video.freezeCount ?? null,
      nacks: video.nackCount ?? null,
      plis: video.pliCount ?? null,
      audio: !!audio,
      audioKbps: null,
      audioJitterBufferMs: null,
      concealedPct: null,
      // Over the last second: frames decoded, dropped and put on screen (null: unknown).
      decodedNow: null,
      droppedNow: null,
      shownNow: null,
    };
    const p = this.prev;
    if (p) {
      const dt = (now - p.t) / 1000;
      const per = (num, den) => (den > 0 ? num / den : null);
      if (dt > 0) {
        out.fps = (cur.frames - p.frames) / dt;
        out.mbps = ((cur.bytes - p.bytes) * 8) / dt / 1e6;
        if (audio) out.audioKbps = ((cur.audioBytes - p.audioBytes) * 8) / dt / 1000;
      }
      out.decodedNow = Math.max(0, cur.frames - p.frames);
      out.droppedNow = Math.max(0, cur.dropped - p.dropped);
      if (cur.presented !== null && p.presented !== null) out.shownNow = Math.max(0, cur.presented - p.presented);
      const decodeS = per(cur.decodeTime - p.decodeTime, cur.frames - p.frames);
      out.decodeMs = decodeS === null ? null : decodeS * 1000;
      const jb = per(cur.jbDelay - p.jbDelay, cur.jbCount - p.jbCount);
      out.jitterBufferMs = jb === null ? null : jb * 1000;
      const ajb = per(cur.audioJbDelay - p.audioJbDelay, cur.audioJbCount - p.audioJbCount);
      out.audioJitterBufferMs = ajb === null ? null : ajb * 1000;
      const got = cur.received - p.received;
      const lostNow = Math.max(0, cur.lost - p.lost);
      out.lossPct = got + lostNow > 0 ? (100 * lostNow) / (got + lostNow) : 0;
      const conc = per(cur.concealed - p.concealed, cur.samples - p.samples);
      out.concealedPct = conc === null ? null : conc * 100;
    }
    this.prev = cur;
    this.onSample(out);
  }

  stop() {
    clearInterval(this.timer);
  }
}

/**
 * The `playback` message for the host from one second's figures: what this browser decoded,
 * showed and dropped, so the host can tell a slow viewer from a slow network or encoder, and the
 * video it received (behind a queue on the path, what the path carries). Null when the second is
 * not fully known.
 */
export function playbackMessage(s) {
  if (s.decodedNow === null || s.droppedNow === null) return null;
  const count = (n) => Math.min(1000, Math.max(0, Math.round(n)));
  const decoded = count(s.decodedNow);
  // Without a presentation count, what was decoded is taken as shown.
  const shown = s.shownNow === null ? decoded : count(s.shownNow);
  const decodeUs = s.decodeMs === null || !Number.isFinite(s.decodeMs) ? null : Math.min(10_000_000, Math.max(0, Math.round(s.decodeMs * 1000)));
  const receivedKbps = Number.isFinite(s.mbps) ? Math.min(10_000_000, Math.max(0, Math.round(s.mbps * 1000))) : null;
  return { type: 'playback', decoded, shown, dropped: count(s.droppedNow), decode_us: decodeUs, received_kbps: receivedKbps };
}

const LIMIT_NAMES = { network: 'the network', encoder: 'the host\'s encoder', viewer: 'this browser' };
const ENCODER_NAMES = {
  x264: 'x264 (software)', openh264: 'openh264 (software)', nvenc: 'NVIDIA GPU (NVENC)',
  vaapi: 'GPU (VAAPI)', qsv: 'Intel GPU (Quick Sync)', aom: 'libaom AV1 (software)',
};

/** The host's encoders in words: "x264+aom" (viewers of both codecs) names each. */
export function encoderNames(encoder) {
  if (!encoder) return '–';
  return String(encoder).split('+').map((e) => ENCODER_NAMES[e] ?? e).join(' + ');
}

export function formatStats(s) {
  const parts = [];
  if (s.width) parts.push(`${s.width}×${s.height}`);
  parts.push(`${Math.round(s.fps)} fps`);
  parts.push(`${s.mbps.toFixed(1)} Mb/s`);
  if (s.rttMs !== null) parts.push(`${Math.round(s.rttMs)} ms RTT`);
  return parts.join(' · ');
}

const num = (v, digits = 1, unit = '') => (v === null || v === undefined || !Number.isFinite(v) ? '–' : `${v.toFixed(digits)}${unit}`);

/**
 * The stats overlay's sections: what the browser measures (`s`, from the sampler) and the host's
 * own figures (`host`, its latest `stats` message, or null).
 */
export function overlaySections(s, host) {
  const sections = [
    ['Network', [
      ['round trip', num(s.rttMs, 0, ' ms')],
      ['packet loss', num(s.lossPct, 1, ' %')],
      ['jitter', num(s.jitterMs, 1, ' ms')],
      ['video bitrate', num(s.mbps, 2, ' Mb/s')],
      ['retransmissions asked (NACK)', s.nacks ?? '–'],
      ['keyframes asked (PLI)', s.plis ?? '–'],
    ]],
    ['Video in this browser', [
      ['size', s.width ? `${s.width}×${s.height}${s.codec ? ` ${s.codec}` : ''}` : '–'],
      ['decoded', num(s.fps, 0, ' fps')],
      ['jitter buffer', num(s.jitterBufferMs, 1, ' ms')],
      ['decode', num(s.decodeMs, 1, ' ms')],
      ['frames dropped', s.dropped],
      ['freezes', s.freezes ?? '–'],
    ]],
  ];
  if (host) {
    sections.push(['Host', [
      ['sent', `${num(host.fps, 0, ' fps')} · ${num(host.mbps, 2, ' Mb/s')}`],
      ['encoder', encoderNames(host.encoder)],
      ['capture', num(host.capture_ms, 1, ' ms')],
      ['convert', num(host.convert_ms, 1, ' ms')],
      ['encode', num(host.encode_ms, 1, ' ms')],
      ['per frame p50 / p95', `${num(host.frame_p50_ms, 1)} / ${num(host.frame_p95_ms, 1, ' ms')}`],
      ['keyframes', host.keyframes],
      ['largest frame', num(host.largest_frame_kb, 1, ' kB')],
    ]]);
    if (host.target_mbps !== undefined) {
      const size = host.scale !== undefined && host.scale < 1 ? ` · ${Math.round(host.scale * 100)}% size` : '';
      sections.push(['Rate control', [
        ['bandwidth estimate', num(host.estimate_mbps, 2, ' Mb/s')],
        ['target', `${num(host.target_mbps, 2, ' Mb/s')} · ${host.target_fps ?? '–'} fps${size}`],
        ['loss the host sees', `${num(host.loss_pct, 1, ' %')}${host.redundant ? ' · packets sent twice' : ''}`],
        ['queue on the path', host.queue_ms === null || host.queue_ms === undefined ? '–' : `${num(host.queue_ms, 0, ' ms')} over its least`],
        ['limited by', host.limit && host.limit !== 'none' ? LIMIT_NAMES[host.limit] ?? host.limit : 'nothing'],
        ['why', host.why ?? '–'],
        ['estimate drops not confirmed', `${host.estimate_resets ?? 0}${host.estimate_doubted ? ' · checking one now' : ''}`],
      ]]);
    }
  }
  if (s.audio) {
    sections.push(['Sound', [
      ['bitrate', num(s.audioKbps, 0, ' kb/s')],
      ['jitter buffer', num(s.audioJitterBufferMs, 1, ' ms')],
      ['concealed', num(s.concealedPct, 1, ' %')],
    ]]);
  }
  return sections;
}
