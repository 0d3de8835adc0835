//! Cuts a stream of interleaved stereo samples, arriving in packets of any length, into the
//! 10 ms frames the encoder takes. For sources that go quiet by saying nothing (Windows'
//! loopback capture delivers no packets while nothing plays): once a frame is overdue the
//! queue hands out silence, so the sound's timeline keeps going. Latest sound wins: more than
//! [`MAX_QUEUED`] waiting is cut from the oldest end, never played late.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::{FRAME_LEN, Pcm, SAMPLE_RATE};

/// One frame's length.
const FRAME: Duration = Duration::from_millis(10);
/// Nothing for this long past the last frame: silence is handed out.
const QUIET_AFTER: Duration = Duration::from_millis(20);
/// The most sound kept waiting, in interleaved samples (40 ms).
pub const MAX_QUEUED: usize = 4 * FRAME_LEN;

/// Samples waiting to become frames.
#[derive(Debug, Default)]
pub struct FrameQueue {
    samples: VecDeque<i16>,
    last_out: Option<Instant>,
    /// Samples cut because they waited too long.
    pub dropped: u64,
}

impl FrameQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a packet of interleaved stereo samples (an odd last sample is kept for the next).
    pub fn push(&mut self, interleaved: &[i16]) {
        self.samples.extend(interleaved);
        if self.samples.len() > MAX_QUEUED {
            // Whole stereo pairs, so left stays left.
            let cut = (self.samples.len() - MAX_QUEUED + 1) & !1;
            self.samples.drain(..cut);
            self.dropped += cut as u64;
        }
    }

    /// Adds `frames` stereo frames of silence (a packet the source marked silent).
    pub fn push_silence(&mut self, frames: usize) {
        let n = (frames * 2).min(MAX_QUEUED);
        self.push(&vec![0; n]);
    }

    /// The next frame into `pcm`, with when its first sample was captured: a whole frame when
    /// one is queued; silence (after what is queued) when the source has said nothing for
    /// too long; else `None` (wait for more).
    pub fn next(&mut self, pcm: &mut Pcm, now: Instant) -> Option<Instant> {
        if self.samples.len() >= FRAME_LEN {
            for (s, v) in pcm.iter_mut().zip(self.samples.drain(..FRAME_LEN)) {
                *s = v;
            }
            self.last_out = Some(now);
            // What is still queued came after this frame.
            let behind = samples_to_time(self.samples.len()) + FRAME;
            return Some(now.checked_sub(behind).unwrap_or(now));
        }
        let quiet = self.last_out.is_none_or(|t| now.saturating_duration_since(t) >= QUIET_AFTER);
        if !quiet {
            return None;
        }
        let have = self.samples.len();
        for (i, s) in pcm.iter_mut().enumerate() {
            *s = if i < have { self.samples[i] } else { 0 };
        }
        self.samples.clear();
        self.last_out = Some(now);
        Some(now.checked_sub(FRAME).unwrap_or(now))
    }
}

/// How long `n` interleaved stereo samples play.
fn samples_to_time(n: usize) -> Duration {
    Duration::from_micros((n / 2) as u64 * 1_000_000 / u64::from(SAMPLE_RATE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_of_any_length_become_whole_frames_in_order() {
        let t0 = Instant::now();
        let mut q = FrameQueue::new();
        let mut pcm = [0i16; FRAME_LEN];
        let ramp: Vec<i16> = (0..(FRAME_LEN as i16 * 2 + 100)).collect();
        // 441-sample packets (44.1 kHz-sized, as a device may give).
        for chunk in ramp.chunks(441 * 2) {
            q.push(chunk);
        }
        let first = q.next(&mut pcm, t0).expect("a whole frame");
        assert_eq!(pcm[0], 0);
        assert_eq!(pcm[FRAME_LEN - 1], FRAME_LEN as i16 - 1);
        // One more frame and 100 samples (50 stereo frames, ~1 ms) still queued behind it.
        assert!(t0 - first >= FRAME + Duration::from_millis(10), "{:?}", t0 - first);
        q.next(&mut pcm, t0).expect("the second frame");
        assert_eq!(pcm[0], FRAME_LEN as i16);
        assert_eq!(q.next(&mut pcm, t0 + Duration::from_millis(5)), None, "a partial frame waits");
    }

    #[test]
    fn a_quiet_source_gets_silence_once_a_frame_is_overdue() {
        let t0 = Instant::now();
        let mut q = FrameQueue::new();
        let mut pcm = [7i16; FRAME_LEN];
        // Never heard from: silence at once, so the stream starts.
        assert!(q.next(&mut pcm, t0).is_some());
        assert!(pcm.iter().all(|&s| s == 0));
        assert_eq!(q.next(&mut pcm, t0 + Duration::from_millis(10)), None, "not yet overdue");
        // A partial packet, then nothing: what there is, padded with silence.
        q.push(&[5, 6, 7, 8]);
        let at = t0 + QUIET_AFTER;
        assert!(q.next(&mut pcm, at).is_some());
        assert_eq!(&pcm[..6], &[5, 6, 7, 8, 0, 0]);
        assert_eq!(q.next(&mut pcm, at), None, "and not twice at once");
    }

    #[test]
    fn a_backlog_is_cut_from_the_old_end_keeping_channels() {
        let mut q = FrameQueue::new();
        let long: Vec<i16> = (0..(MAX_QUEUED as i16 + 11)).collect();
        q.push(&long);
        assert_eq!(q.dropped % 2, 0, "whole stereo pairs");
        assert!(q.samples.len() <= MAX_QUEUED);
        assert_eq!(*q.samples.back().unwrap(), MAX_QUEUED as i16 + 10, "the newest kept");
        assert_eq!(q.samples.front().unwrap() % 2, 0, "a left sample first");
        q.push_silence(1_000_000);
        assert!(q.samples.len() <= MAX_QUEUED);
    }
}
