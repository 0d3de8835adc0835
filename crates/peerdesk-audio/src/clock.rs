//! RTP timestamps for audio frames: counted in samples, so they never drift from the audio, and
//! tied to the wall clock when a recording (re)starts, so a gap in the recording is a gap in
//! time for the browser too.

use std::time::{Duration, Instant};

use crate::{FRAME_SAMPLES, SAMPLE_RATE};

/// Stamps consecutive 10 ms frames with 48 kHz RTP timestamps.
#[derive(Clone, Debug)]
pub struct RtpClock {
    origin: Instant,
    next: Option<u64>,
}

impl RtpClock {
    /// A clock whose timestamp 0 is `origin`.
    pub fn new(origin: Instant) -> Self {
        Self { origin, next: None }
    }

    /// The recording (re)started with a frame captured at `at`: the next stamp follows the wall
    /// clock from `origin`, never going back.
    pub fn restart(&mut self, at: Instant) {
        let wall = samples(at.saturating_duration_since(self.origin));
        self.next = Some(match self.next {
            Some(next) => next.max(wall),
            None => wall,
        });
    }

    /// The timestamp of a frame captured at `at`: the previous one plus one frame, or from the
    /// wall clock for the first frame after [`restart`](Self::restart) (or ever).
    pub fn stamp(&mut self, at: Instant) -> u64 {
        let rtp = match self.next {
            Some(next) => next,
            None => samples(at.saturating_duration_since(self.origin)),
        };
        self.next = Some(rtp + FRAME_SAMPLES as u64);
        rtp
    }
}

fn samples(d: Duration) -> u64 {
    (d.as_nanos() * u128::from(SAMPLE_RATE) / 1_000_000_000) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hour_of_frames_is_exactly_an_hour_of_samples() {
        let origin = Instant::now();
        let mut clock = RtpClock::new(origin);
        // The capture times jitter by a few ms, as a sound card's wake-ups do: the stamps don't.
        let frames = 360_000u64;
        let mut last = 0;
        for i in 0..frames {
            let jitter = Duration::from_micros((i * 7919) % 3000);
            last = clock.stamp(origin + Duration::from_millis(10 * i) + jitter);
            assert_eq!(last, i * 480, "frame {i}");
        }
        assert_eq!(last + 480, u64::from(SAMPLE_RATE) * 3600);
    }

    #[test]
    fn a_restart_after_a_gap_jumps_to_the_wall_clock_and_never_back() {
        let origin = Instant::now();
        let mut clock = RtpClock::new(origin);
        assert_eq!(clock.stamp(origin + Duration::from_millis(100)), 4800);
        assert_eq!(clock.stamp(origin + Duration::from_millis(110)), 5280);
        // The sound server was gone for 2 s.
        clock.restart(origin + Duration::from_millis(2120));
        assert_eq!(clock.stamp(origin + Duration::from_millis(2120)), 101_760);
        assert_eq!(clock.stamp(origin + Duration::from_millis(2130)), 102_240);
        // A restart that claims an earlier time does not rewind the stamps.
        clock.restart(origin);
        assert_eq!(clock.stamp(origin), 102_720);
    }
}
