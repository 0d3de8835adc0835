// Reads the connection's statistics once a second and turns them into figures a person can read.

export class StatsSampler {
  constructor(getPc, onSample) {
    this.getPc = getPc;
    this.onSample = onSample;
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
    let pair = null;
    report.forEach((s) => {
      if (s.type === 'inbound-rtp' && s.kind === 'video') video = s;
      if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') pair = s;
    });
    if (!video) return;
    const now = video.timestamp;
    const out = {
      width: video.frameWidth || 0,
      height: video.frameHeight || 0,
      framesDecoded: video.framesDecoded || 0,
      fps: 0,
      mbps: 0,
      rttMs: pair && pair.currentRoundTripTime !== undefined ? pair.currentRoundTripTime * 1000 : null,
      lost: video.packetsLost || 0,
    };
    if (this.prev) {
      const dt = (now - this.prev.t) / 1000;
      if (dt > 0) {
        out.fps = (out.framesDecoded - this.prev.frames) / dt;
        out.mbps = ((video.bytesReceived - this.prev.bytes) * 8) / dt / 1e6;
      }
    }
    this.prev = { t: now, frames: out.framesDecoded, bytes: video.bytesReceived };
    this.onSample(out);
  }

  stop() {
    clearInterval(this.timer);
  }
}

export function formatStats(s) {
  const parts = [];
  if (s.width) parts.push(`${s.width}×${s.height}`);
  parts.push(`${Math.round(s.fps)} fps`);
  parts.push(`${s.mbps.toFixed(1)} Mb/s`);
  if (s.rttMs !== null) parts.push(`${Math.round(s.rttMs)} ms RTT`);
  return parts.join(' · ');
}
