//! Opus for the browser: 48 kHz stereo, the low-delay (CELT) mode, 10 ms frames.

use opus::{Application, Bitrate, Channels};

use crate::{AudioError, Pcm};

/// Settings of the Opus encoder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpusConfig {
    /// Target bitrate in bits per second (6000 to 510000).
    pub bitrate_bps: u32,
}

impl Default for OpusConfig {
    fn default() -> Self {
        Self { bitrate_bps: 128_000 }
    }
}

/// Encodes 10 ms stereo frames. Variable bitrate, so silence costs a few bytes a frame (about
/// 2.4 kbit/s instead of the target's 128).
pub struct OpusEncoder {
    inner: opus::Encoder,
    out: Vec<u8>,
}

impl std::fmt::Debug for OpusEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpusEncoder").finish_non_exhaustive()
    }
}

/// Largest packet: 510 kbit/s for 10 ms is under 640 bytes; RFC 6716 allows 1275.
const MAX_PACKET: usize = 1275;

fn err(e: opus::Error) -> AudioError {
    AudioError::Encode(e.to_string())
}

impl OpusEncoder {
    /// A new encoder.
    pub fn new(config: &OpusConfig) -> Result<Self, AudioError> {
        let mut inner =
            opus::Encoder::new(crate::SAMPLE_RATE, Channels::Stereo, Application::LowDelay).map_err(err)?;
        inner.set_vbr(true).map_err(err)?;
        // No discontinuous transmission: with it the browser conceals every silent stretch and
        // restarts at each sound; without it silence still costs only about 3 bytes a frame.
        inner.set_dtx(false).map_err(err)?;
        // Desktop sound travels over a network that may lose packets: let the decoder conceal.
        inner.set_packet_loss_perc(5).map_err(err)?;
        let mut encoder = Self { inner, out: vec![0; MAX_PACKET] };
        encoder.set_bitrate(config.bitrate_bps)?;
        Ok(encoder)
    }

    /// Encodes one frame; `None` when it need not be sent (a packet of 2 bytes or less: a
    /// discontinuous-transmission frame, RFC 6716).
    pub fn encode(&mut self, pcm: &Pcm) -> Result<Option<Vec<u8>>, AudioError> {
        let n = self.inner.encode(pcm, &mut self.out).map_err(err)?;
        if n <= 2 {
            return Ok(None);
        }
        Ok(Some(self.out[..n].to_vec()))
    }

    /// Sets the target bitrate (clamped to what Opus takes, 6 to 510 kbit/s).
    pub fn set_bitrate(&mut self, bps: u32) -> Result<(), AudioError> {
        self.inner.set_bitrate(Bitrate::Bits(bps.clamp(6_000, 510_000) as i32)).map_err(err)
    }

    /// Samples of look-ahead the encoder adds (its algorithmic delay), per channel.
    pub fn lookahead(&mut self) -> Result<u32, AudioError> {
        Ok(self.inner.get_lookahead().map_err(err)?.max(0) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{FRAME_LEN, FRAME_SAMPLES, SAMPLE_RATE};

    fn sine(freq: f64, frame: usize) -> Pcm {
        let mut pcm = [0i16; FRAME_LEN];
        for i in 0..FRAME_SAMPLES {
            let t = (frame * FRAME_SAMPLES + i) as f64 / f64::from(SAMPLE_RATE);
            let v = ((t * freq * std::f64::consts::TAU).sin() * 12_000.0) as i16;
            pcm[2 * i] = v;
            pcm[2 * i + 1] = v;
        }
        pcm
    }

    /// The strongest frequency in `samples` (mono, 48 kHz), by scanning a Goertzel filter.
    fn peak(samples: &[f32]) -> f64 {
        let mut best = (0.0, 0.0);
        for f in (100..4000).step_by(10) {
            let w = std::f64::consts::TAU * f64::from(f) / f64::from(SAMPLE_RATE);
            let (mut s1, mut s2) = (0.0, 0.0);
            for &x in samples {
                let s = f64::from(x) + 2.0 * w.cos() * s1 - s2;
                s2 = s1;
                s1 = s;
            }
            let power = s1 * s1 + s2 * s2 - 2.0 * w.cos() * s1 * s2;
            if power > best.1 {
                best = (f64::from(f), power);
            }
        }
        best.0
    }

    #[test]
    fn a_tone_comes_back_at_its_frequency_after_decoding() {
        let mut enc = OpusEncoder::new(&OpusConfig::default()).unwrap();
        let mut dec = opus::Decoder::new(SAMPLE_RATE, Channels::Stereo).unwrap();
        let mut left = Vec::new();
        for frame in 0..50 {
            let packet = enc.encode(&sine(880.0, frame)).unwrap().expect("a tone is sent");
            assert!(packet.len() <= 400, "10 ms at 128 kbit/s is about 160 bytes, got {}", packet.len());
            let mut out = [0i16; FRAME_LEN];
            let n = dec.decode(&packet, &mut out, false).unwrap();
            assert_eq!(n, FRAME_SAMPLES, "every packet is one 10 ms frame");
            left.extend(out.iter().step_by(2).map(|&s| f32::from(s)));
        }
        // Skip the first 100 ms (the encoder settling), then the peak is the tone.
        let f = peak(&left[4800..]);
        assert!((f - 880.0).abs() <= 10.0, "peak at {f} Hz");
    }

    #[test]
    fn silence_costs_almost_nothing() {
        let mut enc = OpusEncoder::new(&OpusConfig::default()).unwrap();
        let silence = [0i16; FRAME_LEN];
        let mut bytes = 0;
        let mut sent = 0;
        // A short tone, then silence: once the encoder has noticed (a few hundred ms), a second
        // of silence is measured.
        for frame in 0..10 {
            enc.encode(&sine(440.0, frame)).unwrap();
        }
        for _ in 0..50 {
            enc.encode(&silence).unwrap();
        }
        for _ in 0..100 {
            if let Some(p) = enc.encode(&silence).unwrap() {
                bytes += p.len();
                sent += 1;
            }
        }
        // 128 kbit/s would be 16000 bytes a second.
        assert!(bytes < 500, "a second of silence took {bytes} bytes in {sent} packets");
    }

    #[test]
    fn the_encoder_adds_little_delay() {
        let mut enc = OpusEncoder::new(&OpusConfig::default()).unwrap();
        // Low-delay mode: 2.5 ms of look-ahead (120 samples at 48 kHz).
        assert!(enc.lookahead().unwrap() <= 120);
    }
}
