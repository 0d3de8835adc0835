//! Rate control policy: from the network's bandwidth estimate and loss to the encoder's target
//! bitrate, frame rate and scale. A pure function of its inputs and its own small state, so it is
//! tested on traces; the host feeds it str0m's estimate (TWCC) and applies what it returns.
//!
//! The rules, in order:
//! - aim at 85% of the estimate (headroom for audio, retransmissions and the estimate's error),
//!   within the user's bounds; heavy loss (over 10%) counts as congestion the estimate missed:
//!   back off from the current rate by half the loss, once a second, and do not climb meanwhile;
//! - go down at once, go up by at most 10% a second, so a recovering link is probed gently;
//! - when even the lowest sensible quality per pixel does not fit, and the encoder uses what it
//!   is given (it sends at least 80% of its target: the content needs more), halve the frame
//!   rate first (motion stays smooth enough at 30), then lower the resolution (3/4, then 1/2).
//!   A stream that sends far less than its target (a still desktop, a simple scene) keeps its
//!   frame rate and size whatever the estimate: the estimator only knows what it has seen sent
//!   (it grows to about 1.5x that), so a low estimate there says nothing about the link;
//! - climb back one step only after the estimate has left room for it for 2 s (hysteresis), so
//!   a noisy estimate does not make the picture change size every second.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Bits per pixel per frame below which the picture turns to mush: the level at which the
/// policy gives up frame rate, then resolution. (H.264 at 1080p60 and 6 Mbit/s is 0.048.)
const MIN_BITS_PER_PIXEL: f64 = 0.02;
/// Share of the estimate the video may use.
const HEADROOM: f64 = 0.85;
/// Largest increase per second.
const CLIMB_PER_SEC: f64 = 0.10;
/// How long room for a better step must last before taking it.
const STEP_UP_AFTER: Duration = Duration::from_secs(2);
/// Share of its target an encoder must send to count as held back by it.
const CONSTRAINED: f64 = 0.8;
/// Resolution steps, as a fraction of the source size.
const SCALES: [f64; 3] = [1.0, 0.75, 0.5];

/// The user's bounds and the source's shape.
#[derive(Clone, Debug, PartialEq)]
pub struct RateLimits {
    /// Lowest bitrate to ask for.
    pub min_bps: u32,
    /// Highest bitrate (`--bitrate`).
    pub max_bps: u32,
    /// Frame rate wanted (`--fps`).
    pub fps: u32,
    /// Pixels of one full-size frame.
    pub pixels: u64,
}

/// What the encoder should do now.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateDecision {
    /// Target bitrate.
    pub bitrate_bps: u32,
    /// Frame rate.
    pub fps: u32,
    /// Fraction of the full size (1.0, 0.75 or 0.5).
    pub scale: f64,
}

/// The policy's state between calls.
#[derive(Clone, Debug)]
pub struct RatePolicy {
    limits: RateLimits,
    current: f64,
    /// Quality step: 0 full, 1 half frame rate, 2 and 3 smaller pictures at half frame rate.
    step: usize,
    last: Option<Instant>,
    room_since: Option<Instant>,
    loss_cut_at: Option<Instant>,
}

impl RatePolicy {
    /// Starts at the user's bitrate, full frame rate and size.
    pub fn new(limits: RateLimits) -> Self {
        let current = f64::from(limits.max_bps);
        Self { limits, current, step: 0, last: None, room_since: None, loss_cut_at: None }
    }

    fn fps_at(&self, step: usize) -> u32 {
        if step == 0 { self.limits.fps } else { (self.limits.fps / 2).max(1) }
    }

    fn scale_at(step: usize) -> f64 {
        SCALES[step.saturating_sub(1).min(SCALES.len() - 1)]
    }

    /// The stream's own frame rate (`--fps`), which a decision may halve.
    pub fn full_fps(&self) -> u32 {
        self.limits.fps
    }

    /// The pixels of a frame at scale 1 changed (a resolution change on the host, or a viewer
    /// asked for a smaller picture).
    pub fn set_pixels(&mut self, pixels: u64) {
        self.limits.pixels = pixels;
    }

    /// A viewer's settings lowered (or raised back) the frame rate and the most bitrate, within
    /// the host's own: takes effect at the next update, the bitrate lowered at once.
    pub fn set_caps(&mut self, fps: u32, max_bps: u32) {
        self.limits.fps = fps.max(1);
        self.limits.max_bps = max_bps.max(self.limits.min_bps);
        self.current = self.current.min(f64::from(self.limits.max_bps));
    }

    /// Least bitrate that keeps step `step` above the quality floor.
    fn floor_of(&self, step: usize) -> f64 {
        let scale = Self::scale_at(step);
        self.limits.pixels as f64 * scale * scale * f64::from(self.fps_at(step)) * MIN_BITS_PER_PIXEL
    }

    /// The decision for an estimate `estimate_bps` (None: no estimate yet), the fraction of
    /// packets lost recently (0 to 1) and the video bitrate actually sent over the last second
    /// `sent_bps`, at `now`.
    pub fn update(
        &mut self,
        now: Instant,
        estimate_bps: Option<u64>,
        loss: f64,
        sent_bps: u64,
    ) -> RateDecision {
        let (min, max) = (f64::from(self.limits.min_bps), f64::from(self.limits.max_bps));
        let mut target = estimate_bps.map_or(max, |e| e as f64 * HEADROOM);
        if loss > 0.10 {
            let due =
                self.loss_cut_at.is_none_or(|at| now.saturating_duration_since(at) >= Duration::from_secs(1));
            let factor = if due {
                self.loss_cut_at = Some(now);
                1.0 - loss.min(0.5) / 2.0
            } else {
                1.0
            };
            target = target.min(self.current * factor);
        }
        let target = target.clamp(min, max);
        let elapsed = self.last.map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
        self.last = Some(now);
        self.current = if target < self.current {
            target
        } else {
            (self.current * (1.0 + CLIMB_PER_SEC * elapsed.as_secs_f64())).min(target)
        };
        // Step down as far as needed at once (when the content wants more than it gets); step
        // up one at a time, after lasting room.
        let last_step = SCALES.len();
        let constrained = sent_bps as f64 >= CONSTRAINED * self.current;
        while constrained && self.step < last_step && self.current < self.floor_of(self.step) {
            self.step += 1;
            self.room_since = None;
        }
        if self.step > 0 && self.current >= self.floor_of(self.step - 1) * 1.3 {
            let since = *self.room_since.get_or_insert(now);
            if now.saturating_duration_since(since) >= STEP_UP_AFTER {
                self.step -= 1;
                self.room_since = None;
            }
        } else {
            self.room_since = None;
        }
        RateDecision {
            bitrate_bps: self.current.round() as u32,
            fps: self.fps_at(self.step),
            scale: Self::scale_at(self.step),
        }
    }
}

/// One viewer's latest view of its network path.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct NetworkReport {
    /// Its bandwidth estimate, once it has one.
    pub estimate_bps: Option<u64>,
    /// Fraction of packets its path lost lately (0 to 1).
    pub loss: f64,
    /// Whether its packets go out twice against that loss.
    pub redundant: bool,
}

/// Every viewer's latest report, shared by the viewer tasks (which write them) and the encode
/// thread (which reads the worst). One encoded stream serves all viewers, so the weakest path
/// sets its rate.
#[derive(Debug, Default)]
pub struct NetworkReports {
    reports: Mutex<HashMap<u64, NetworkReport>>,
    next_id: AtomicU64,
}

impl NetworkReports {
    /// A place for one more viewer's reports; it goes when the returned handle is dropped.
    pub fn join(self: &Arc<Self>) -> ReportSlot {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        ReportSlot { id, reports: self.clone(), last: None }
    }

    /// The lowest estimate and the highest loss among the viewers; `None` without reports.
    pub fn worst(&self) -> Option<NetworkReport> {
        let reports = self.reports.lock().unwrap_or_else(|p| p.into_inner());
        reports.values().copied().reduce(|a, b| NetworkReport {
            estimate_bps: match (a.estimate_bps, b.estimate_bps) {
                (Some(x), Some(y)) => Some(x.min(y)),
                (x, y) => x.or(y),
            },
            loss: a.loss.max(b.loss),
            redundant: a.redundant || b.redundant,
        })
    }
}

/// One viewer's entry in [`NetworkReports`].
#[derive(Debug)]
pub struct ReportSlot {
    id: u64,
    reports: Arc<NetworkReports>,
    last: Option<NetworkReport>,
}

impl ReportSlot {
    /// Records the viewer's latest report (cheap when nothing changed).
    pub fn update(&mut self, report: NetworkReport) {
        if self.last == Some(report) {
            return;
        }
        self.last = Some(report);
        self.reports.reports.lock().unwrap_or_else(|p| p.into_inner()).insert(self.id, report);
    }
}

impl Drop for ReportSlot {
    fn drop(&mut self) {
        self.reports.reports.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RatePolicy {
        RatePolicy::new(RateLimits { min_bps: 300_000, max_bps: 6_000_000, fps: 60, pixels: 1920 * 1080 })
    }

    /// Feeds one estimate a 100 ms for `secs` seconds, the encoder sending all it is allowed
    /// (busy content); returns the decisions.
    fn run(p: &mut RatePolicy, t: &mut Instant, secs: f64, estimate: u64, loss: f64) -> Vec<RateDecision> {
        let n = (secs * 10.0) as usize;
        (0..n)
            .map(|_| {
                *t += Duration::from_millis(100);
                let sent = p.current as u64;
                p.update(*t, Some(estimate), loss, sent)
            })
            .collect()
    }

    #[test]
    fn a_stream_sending_little_keeps_its_frame_rate_and_size_under_a_low_estimate() {
        // A still 1080p desktop sends 0.2 Mbit/s; the estimator, knowing only that, says
        // 1.3 Mbit/s. Under 1080p60's floor, but nothing is held back: no step.
        let (mut p, mut t) = (policy(), Instant::now());
        for _ in 0..50 {
            t += Duration::from_millis(100);
            let d = p.update(t, Some(1_300_000), 0.0, 200_000);
            assert_eq!((d.fps, d.scale), (60, 1.0));
            assert_eq!(d.bitrate_bps, 1_105_000, "the target still follows the estimate");
        }
        // The content gets busy and uses its whole target: now the floor matters (1.1 Mbit/s
        // is under 1080p30's 1.24 too: 3/4 size).
        t += Duration::from_millis(100);
        let d = p.update(t, Some(1_300_000), 0.0, 1_100_000);
        assert_eq!((d.fps, d.scale), (30, 0.75));
    }

    #[test]
    fn a_viewer_cap_bounds_the_rate_at_once_and_its_frame_rate_halves_from_there() {
        let (mut p, mut t) = (policy(), Instant::now());
        run(&mut p, &mut t, 1.0, 50_000_000, 0.0);
        p.set_caps(30, 2_000_000);
        let d = run(&mut p, &mut t, 0.1, 50_000_000, 0.0)[0];
        assert_eq!((d.bitrate_bps, d.fps, d.scale), (2_000_000, 30, 1.0), "capped at once");
        // Under the cap, congestion halves the viewer's 30 fps, not the host's 60.
        let d = *run(&mut p, &mut t, 1.0, 800_000, 0.0).last().unwrap();
        assert_eq!(d.fps, 15);
        // The cap lifted: back to the host's own, climbing as usual.
        p.set_caps(60, 6_000_000);
        let d = *run(&mut p, &mut t, 30.0, 50_000_000, 0.0).last().unwrap();
        assert_eq!((d.bitrate_bps, d.fps, d.scale), (6_000_000, 60, 1.0));
    }

    #[test]
    fn the_weakest_viewer_sets_the_rate_and_a_viewer_that_leaves_no_longer_counts() {
        let reports = Arc::new(NetworkReports::default());
        assert_eq!(reports.worst(), None);
        let mut fast = reports.join();
        let report = |estimate_bps, loss, redundant| NetworkReport { estimate_bps, loss, redundant };
        fast.update(report(Some(20_000_000), 0.01, false));
        {
            let mut slow = reports.join();
            slow.update(report(Some(2_000_000), 0.0, false));
            let mut fresh = reports.join();
            fresh.update(report(None, 0.2, true));
            // The lowest estimate, the highest loss, and copies sent to any of them.
            assert_eq!(reports.worst(), Some(report(Some(2_000_000), 0.2, true)));
        }
        assert_eq!(reports.worst(), Some(report(Some(20_000_000), 0.01, false)));
        drop(fast);
        assert_eq!(reports.worst(), None);
    }

    #[test]
    fn a_good_link_keeps_the_users_bitrate_and_full_quality() {
        let (mut p, mut t) = (policy(), Instant::now());
        let last = *run(&mut p, &mut t, 5.0, 50_000_000, 0.0).last().unwrap();
        assert_eq!(last, RateDecision { bitrate_bps: 6_000_000, fps: 60, scale: 1.0 });
    }

    #[test]
    fn a_drop_in_the_estimate_lowers_the_bitrate_at_once_and_recovery_is_gradual() {
        let (mut p, mut t) = (policy(), Instant::now());
        run(&mut p, &mut t, 2.0, 50_000_000, 0.0);
        // A 3 Mbit/s bottleneck: under the cap within one update.
        let d = run(&mut p, &mut t, 0.1, 3_000_000, 0.0)[0];
        assert_eq!(d.bitrate_bps, 2_550_000);
        assert_eq!((d.fps, d.scale), (60, 1.0), "2.55 Mbit/s still carries 1080p60 above the floor");
        // The link recovers: at most 10% a second, so 2.55 -> 6 Mbit/s takes about 9 s.
        let climb = run(&mut p, &mut t, 12.0, 50_000_000, 0.0);
        let after_1s = climb[9].bitrate_bps;
        assert!((2_780_000..=2_830_000).contains(&after_1s), "after 1 s: {after_1s}");
        assert!(climb.windows(2).all(|w| w[1].bitrate_bps >= w[0].bitrate_bps), "no sawtooth");
        assert_eq!(climb.last().unwrap().bitrate_bps, 6_000_000);
    }

    #[test]
    fn heavy_congestion_halves_the_frame_rate_then_the_size_and_recovers_step_by_step() {
        let (mut p, mut t) = (policy(), Instant::now());
        // 1080p60 needs 2.49 Mbit/s at the floor; 1.5 Mbit/s (1.275 usable) fits 1080p30.
        let d = *run(&mut p, &mut t, 1.0, 1_500_000, 0.0).last().unwrap();
        assert_eq!((d.fps, d.scale), (30, 1.0));
        // 600 kbit/s (510 usable): 1080p30 needs 1.24 at the floor, 3/4 size 0.70, half 0.31.
        let d = *run(&mut p, &mut t, 1.0, 600_000, 0.0).last().unwrap();
        assert_eq!((d.fps, d.scale), (30, 0.5));
        assert_eq!(d.bitrate_bps, 510_000);
        // Back to a fast link: one step at a time, each after 2 s of room, never skipping.
        let trace = run(&mut p, &mut t, 40.0, 50_000_000, 0.0);
        let steps: Vec<(u32, f64)> = trace.iter().map(|d| (d.fps, d.scale)).fold(Vec::new(), |mut v, s| {
            if v.last() != Some(&s) {
                v.push(s);
            }
            v
        });
        assert_eq!(steps, vec![(30, 0.5), (30, 0.75), (30, 1.0), (60, 1.0)]);
        assert_eq!(*trace.last().unwrap(), RateDecision { bitrate_bps: 6_000_000, fps: 60, scale: 1.0 });
    }

    #[test]
    fn a_noisy_estimate_around_a_threshold_does_not_flap() {
        let (mut p, mut t) = (policy(), Instant::now());
        let mut changes = 0;
        let mut prev = None;
        // The estimate jumps between 2.6 and 3.4 Mbit/s every 300 ms for 20 s: 1080p60's floor
        // (2.49 Mbit/s) is crossed by the usable share (2.21 / 2.89) every time.
        for i in 0..200 {
            t += Duration::from_millis(100);
            let e = if (i / 3) % 2 == 0 { 2_600_000 } else { 3_400_000 };
            let sent = p.current as u64;
            let d = p.update(t, Some(e), 0.0, sent);
            if prev.is_some_and(|q: RateDecision| (q.fps, q.scale) != (d.fps, d.scale)) {
                changes += 1;
            }
            prev = Some(d);
        }
        assert!(changes <= 2, "the picture changed shape {changes} times in 20 s");
    }

    #[test]
    fn heavy_loss_counts_as_congestion_and_the_bounds_hold() {
        let (mut p, mut t) = (policy(), Instant::now());
        let d = run(&mut p, &mut t, 0.5, 50_000_000, 0.3).pop().unwrap();
        assert_eq!(d.bitrate_bps, 5_100_000, "30% loss: 15% less, once in that second");
        let d = run(&mut p, &mut t, 1.0, 50_000_000, 0.3).pop().unwrap();
        assert_eq!(d.bitrate_bps, 4_335_000, "and 15% again the next second");
        let d = run(&mut p, &mut t, 0.5, 1_000, 0.0).pop().unwrap();
        assert_eq!(d.bitrate_bps, 300_000, "never under the minimum");
        let mut fresh = policy();
        assert_eq!(
            fresh.update(Instant::now(), None, 0.0, 0).bitrate_bps,
            6_000_000,
            "no estimate yet: the cap"
        );
    }
}
