//! The test scene's sound: a short tone at the start of every second (the scene flashes a
//! square at the same moments, so A/V sync can be measured) and a beep for each input event.

use std::time::{Duration, Instant};

use crate::{AudioError, AudioSource, FRAME_SAMPLES, Pcm, SAMPLE_RATE};

/// Frequency of the tone at the start of each second.
pub const BEAT_HZ: u32 = 1000;
/// How long that tone lasts (the scene's flash lasts as long).
pub const BEAT_LENGTH: Duration = Duration::from_millis(100);
/// Frequency of the beep on input.
pub const BEEP_HZ: u32 = 660;
/// How long the beep on input lasts.
pub const BEEP_LENGTH: Duration = Duration::from_millis(60);

const AMPLITUDE: f64 = 9000.0;
/// Fade in and out over 1 ms, so tones start and stop without clicks.
const RAMP: u64 = (SAMPLE_RATE / 1000) as u64;

/// Synthesises the scene's sound in real time, paced by the wall clock like a sound card.
pub struct ToneSource {
    origin: Instant,
    /// Sample index (since `origin`) of the next frame's first sample.
    next: Option<u64>,
    inputs: Box<dyn Fn() -> u64 + Send>,
    seen_inputs: u64,
    /// Sample index where the current beep started.
    beep_from: Option<u64>,
}

impl std::fmt::Debug for ToneSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToneSource").field("origin", &self.origin).field("next", &self.next).finish()
    }
}

fn samples(d: Duration) -> u64 {
    (d.as_nanos() * u128::from(SAMPLE_RATE) / 1_000_000_000) as u64
}

fn duration(samples: u64) -> Duration {
    Duration::from_nanos(samples * 1_000_000_000 / u64::from(SAMPLE_RATE))
}

fn envelope(pos: u64, len: u64) -> f64 {
    let edge = pos.min(len.saturating_sub(pos + 1));
    if edge >= RAMP { 1.0 } else { edge as f64 / RAMP as f64 }
}

impl ToneSource {
    /// A source whose second beats count from `origin` (the scene's start); `inputs` returns a
    /// counter that grows with every input event (each growth is one beep).
    pub fn new(origin: Instant, inputs: Box<dyn Fn() -> u64 + Send>) -> Self {
        let seen_inputs = inputs();
        Self { origin, next: None, inputs, seen_inputs, beep_from: None }
    }

    /// Fills `pcm` with the sound of the frame starting at sample `start`.
    pub fn render(&mut self, start: u64, pcm: &mut Pcm) {
        let inputs = (self.inputs)();
        if inputs != self.seen_inputs {
            self.seen_inputs = inputs;
            self.beep_from = Some(start);
        }
        let rate = u64::from(SAMPLE_RATE);
        let beat_len = samples(BEAT_LENGTH);
        let beep_len = samples(BEEP_LENGTH);
        for i in 0..FRAME_SAMPLES {
            let n = start + i as u64;
            let mut v = 0.0;
            let in_second = n % rate;
            if in_second < beat_len {
                let t = in_second as f64 / rate as f64;
                v += (t * f64::from(BEAT_HZ) * std::f64::consts::TAU).sin() * envelope(in_second, beat_len);
            }
            if let Some(from) = self.beep_from
                && n >= from
                && n - from < beep_len
            {
                let t = (n - from) as f64 / rate as f64;
                v += (t * f64::from(BEEP_HZ) * std::f64::consts::TAU).sin() * envelope(n - from, beep_len);
            }
            let s = (v * AMPLITUDE) as i16;
            pcm[2 * i] = s;
            pcm[2 * i + 1] = s;
        }
    }
}

impl AudioSource for ToneSource {
    fn read(&mut self, pcm: &mut Pcm) -> Result<Instant, AudioError> {
        let now = Instant::now();
        let current = samples(now.saturating_duration_since(self.origin));
        let frame = FRAME_SAMPLES as u64;
        let start = match self.next {
            // Behind by more than 100 ms (the thread was starved): skip to now.
            Some(next) if current < next + 10 * frame => next,
            _ => current - current % frame,
        };
        self.next = Some(start + frame);
        // A frame is complete when its last sample has played: wait for that, as a sound card
        // delivers a buffer when it is full.
        let complete = self.origin + duration(start + frame);
        if let Some(wait) = complete.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        self.render(start, pcm);
        Ok(self.origin + duration(start))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    fn energy(pcm: &Pcm) -> f64 {
        pcm.iter().map(|&s| f64::from(s).powi(2)).sum::<f64>() / pcm.len() as f64
    }

    #[test]
    fn the_beat_sounds_for_the_first_100_ms_of_each_second_only() {
        let mut src = ToneSource::new(Instant::now(), Box::new(|| 0));
        let mut pcm = [0; crate::FRAME_LEN];
        for second in 0..3u64 {
            for frame in 0..100u64 {
                src.render(second * 48_000 + frame * 480, &mut pcm);
                let loud = energy(&pcm) > 1e6;
                assert_eq!(loud, frame < 10, "second {second}, frame {frame}");
            }
        }
    }

    #[test]
    fn each_input_event_beeps_once_for_60_ms() {
        let count = Arc::new(AtomicU64::new(0));
        let c = count.clone();
        let mut src = ToneSource::new(Instant::now(), Box::new(move || c.load(Ordering::Relaxed)));
        let mut pcm = [0; crate::FRAME_LEN];
        // Half a second in: no beat; an input arrives.
        let at = 24_000;
        src.render(at, &mut pcm);
        assert!(energy(&pcm) < 1.0);
        count.fetch_add(1, Ordering::Relaxed);
        let loud: Vec<bool> = (0..10)
            .map(|f| {
                src.render(at + 480 + f * 480, &mut pcm);
                energy(&pcm) > 1e6
            })
            .collect();
        assert_eq!(loud, [true, true, true, true, true, true, false, false, false, false]);
    }

    #[test]
    fn reading_is_paced_by_the_clock_and_stamped_on_the_frame_grid() {
        let origin = Instant::now();
        let mut src = ToneSource::new(origin, Box::new(|| 0));
        let mut pcm = [0; crate::FRAME_LEN];
        let first = src.read(&mut pcm).unwrap();
        let mut last = first;
        for _ in 0..5 {
            last = src.read(&mut pcm).unwrap();
        }
        assert_eq!(last - first, Duration::from_millis(50), "consecutive frames, 10 ms apart");
        assert!(Instant::now() >= last + Duration::from_millis(10), "no frame before it is complete");
    }
}
