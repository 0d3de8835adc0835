//! Whether a drop in the bandwidth estimate is the path's doing or the machine's.
//!
//! The delay-based estimator (TWCC) reads any delay that grows from one packet group to the next
//! as a queue on the path. A busy CPU on either side delays packets too (the sender's pacer
//! thread wakes late, the viewer's network thread stamps arrivals late), and the estimator cannot
//! tell the two apart: under load it halves its estimate on a loopback path with room for
//! gigabits. A real queue shows elsewhere as well: the round trip of the viewer's receiver
//! reports (the network's alone, the feedback's own delay taken out) grows and stays up, and a
//! full queue drops packets. So a drop is believed when such evidence comes with it (or came in
//! the last [`EVIDENCE_FOR`]); a drop that the round trip and the loss do not confirm, once they
//! have had time to ([`CONFIRM_WITHIN`]), is the machine's: the estimator starts again from the
//! estimate before the drop, so neither rate control nor the pacer (which spreads each frame at
//! 1.1x the estimate) holds the stream back for it. A path that really is narrower confirms the
//! next drop with a queue; resets back off (doubling from [`RESET_EVERY`]) so a link whose queue
//! never shows is not probed over and over.

use std::time::{Duration, Instant};

use tracing::debug;

/// A round trip this much over the least seen is a queue (and so is one over the least by
/// [`QUEUE_RATIO`], on long paths)...
pub const QUEUE_DELAY: Duration = Duration::from_millis(15);
/// ...in proportion to the least round trip.
pub const QUEUE_RATIO: f64 = 0.3;
/// A round trip this much over the least is a queue at once, alone: a scheduler's hiccup (the
/// viewer's network thread, or the host's task handling the report late on a busy CPU) is not
/// this long, and a bottleneck's buffer fills within a second (waiting for a second report let
/// a 118 ms queue with 6.6% loss pass for a busy CPU and the estimator was restarted into it:
/// bench/network.js --runs start).
pub const QUEUE_ALONE: Duration = Duration::from_millis(100);
/// Loss at which the path counts as congested whatever the round trip (a queue overflowing;
/// 10% let a full 3 Mbit/s bucket's 6.4% pass for a busy CPU).
pub const HEAVY_LOSS: f64 = 0.05;
/// A round trip this far over the least, with at least [`SOME_LOSS`] lost, is a queue at once
/// too: a CPU's delay loses nothing (a session opening on a 3 Mbit/s link showed 71 and 87 ms
/// with 2.0-2.4% lost, and the estimator was restarted into it).
pub const LOSSY_QUEUE: Duration = Duration::from_millis(50);
/// ...the loss that makes it one.
pub const SOME_LOSS: f64 = 0.01;
/// A queue the page measured this long is congestion at once: its figure is the least of a
/// tenth of a second's frames' one-way delay over their least, so a scheduler's hiccup does not
/// make it (the busy-CPU benches show a few ms).
pub const PAGE_QUEUE: Duration = Duration::from_millis(50);
/// How long congestion evidence keeps the estimate believed.
pub const EVIDENCE_FOR: Duration = Duration::from_secs(10);
/// An estimate under this share of the recent peak has dropped.
pub const DROP: f64 = 0.7;
/// How long a drop waits for the round trip and loss to confirm it.
pub const CONFIRM_WITHIN: Duration = Duration::from_millis(1500);
/// Round-trip reports a drop waits for (two in a row make a queue).
pub const CONFIRM_REPORTS: u32 = 2;
/// The least time between two resets (doubling after each, to [`RESET_MAX_EVERY`]).
pub const RESET_EVERY: Duration = Duration::from_secs(4);
/// The longest wait between resets.
pub const RESET_MAX_EVERY: Duration = Duration::from_secs(64);
/// How long the recent peak of the estimate is remembered (an estimate that slides down over
/// less than this, step by small step, is a drop too).
const PEAK_FOR: Duration = Duration::from_secs(30);
/// A drop only matters when the stream uses this share of the lowered estimate (a still
/// desktop sending little is not held back by it; 0.8 was tried and let drops to 1.2x the sent
/// rate through as believed, which halved the frame rate under load)...
const PRESSES: f64 = 0.5;
/// ...except in the first seconds, when what was sent says little yet (the first frames).
const STARTING: Duration = Duration::from_secs(3);

/// A round trip `over` its least with `loss` lost: a queue at once ([`LOSSY_QUEUE`]).
fn lossy_queue(over: Duration, loss: f64) -> bool {
    over >= LOSSY_QUEUE && loss >= SOME_LOSS
}

/// What the check makes of the estimate now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Verdict {
    /// No drop, or nothing to doubt.
    #[default]
    Believed,
    /// The path shows a queue or heavy loss: the estimate is the path's.
    Congested,
    /// The estimate dropped and the round trip and loss have not (yet) confirmed it.
    Doubted,
}

/// Follows one path's estimate, round trip and loss; see the module docs.
#[derive(Clone, Debug)]
pub struct EstimateCheck {
    least_rtt: Option<Duration>,
    /// The latest round trip over the least, and whether the one before was a queue too.
    queue: Option<Duration>,
    queue_before: bool,
    /// When the path last showed congestion.
    evidence_at: Option<Instant>,
    /// The latest loss reported.
    last_loss: f64,
    /// The highest estimate lately, and when it was seen.
    peak: Option<(u64, Instant)>,
    /// Since when the estimate is under [`DROP`] of the peak, and the peak then.
    low_since: Option<(Instant, u64)>,
    /// Round-trip reports since the drop: evidence looked at.
    reports_since_drop: u32,
    next_reset: Option<Instant>,
    reset_every: Duration,
    resets: u32,
    verdict: Verdict,
    /// The first estimate.
    first: Option<Instant>,
}

impl Default for EstimateCheck {
    fn default() -> Self {
        Self {
            least_rtt: None,
            queue: None,
            queue_before: false,
            evidence_at: None,
            last_loss: 0.0,
            peak: None,
            low_since: None,
            reports_since_drop: 0,
            next_reset: None,
            reset_every: RESET_EVERY,
            resets: 0,
            verdict: Verdict::Believed,
            first: None,
        }
    }
}

impl EstimateCheck {
    /// A round trip from the viewer's receiver reports. Two in a row well over the least seen are
    /// a queue (one alone may be a scheduler's hiccup), and so is one alone that is over by
    /// [`QUEUE_ALONE`].
    pub fn round_trip(&mut self, now: Instant, rtt: Duration) {
        let least = self.least_rtt.map_or(rtt, |m| m.min(rtt));
        self.least_rtt = Some(least);
        let over = rtt.saturating_sub(least);
        let queued = over > QUEUE_DELAY.max(least.mul_f64(QUEUE_RATIO));
        if (queued && self.queue_before) || over >= QUEUE_ALONE || lossy_queue(over, self.last_loss) {
            self.evidence_at = Some(now);
        }
        self.queue_before = queued;
        self.queue = Some(over);
        if self.low_since.is_some() {
            self.reports_since_drop += 1;
        }
    }

    /// A queue the viewer's page measured on the path (its `path` message): one of
    /// [`PAGE_QUEUE`] or more is congestion. (It does not replace the round trip's figure,
    /// which the least round trip and the lossy-queue rule need.)
    pub fn page_queue(&mut self, now: Instant, over: Duration) {
        if over >= PAGE_QUEUE {
            self.evidence_at = Some(now);
        }
    }

    /// The fraction of packets the path lost lately (0 to 1).
    pub fn loss(&mut self, now: Instant, loss: f64) {
        let loss = if loss.is_finite() { loss } else { 0.0 };
        self.last_loss = loss;
        if loss >= HEAVY_LOSS || self.queue.is_some_and(|q| lossy_queue(q, loss)) {
            self.evidence_at = Some(now);
        }
    }

    fn congested(&self, now: Instant) -> bool {
        self.evidence_at.is_some_and(|at| now.saturating_duration_since(at) < EVIDENCE_FOR)
    }

    /// The estimate now, with the video bitrate sent over the last second. Returns the bitrate
    /// to restart the estimator from when its drop is not the path's.
    pub fn estimate(&mut self, now: Instant, estimate_bps: u64, sent_bps: u64) -> Option<u64> {
        let congested = self.congested(now);
        let peak = match self.peak {
            // A drop being checked keeps the peak it dropped from.
            Some((p, at))
                if p >= estimate_bps
                    && (self.low_since.is_some() || now.saturating_duration_since(at) < PEAK_FOR)
                    && !congested =>
            {
                p
            }
            _ => {
                self.peak = Some((estimate_bps, now));
                estimate_bps
            }
        };
        if congested {
            self.low_since = None;
            self.verdict = Verdict::Congested;
            return None;
        }
        let first = *self.first.get_or_insert(now);
        let starting = now.saturating_duration_since(first) < STARTING;
        if (estimate_bps as f64) >= DROP * peak as f64
            || (!starting && (sent_bps as f64) < PRESSES * estimate_bps as f64)
        {
            // No drop, or one that holds nothing back: the estimate stands.
            self.low_since = None;
            self.verdict = Verdict::Believed;
            return None;
        }
        let (since, before) = match self.low_since {
            Some(low) => low,
            None => {
                self.reports_since_drop = 0;
                *self.low_since.insert((now, peak))
            }
        };
        if self.verdict != Verdict::Doubted {
            debug!(
                estimate = estimate_bps,
                before = peak,
                queue = ?self.queue,
                "the bandwidth estimate dropped with no queue on the path yet: checking it"
            );
        }
        self.verdict = Verdict::Doubted;
        // Two round trips since the drop, neither a queue, and time enough for the loss to show.
        let waited = now.saturating_duration_since(since) >= CONFIRM_WITHIN
            && self.reports_since_drop >= CONFIRM_REPORTS;
        if !waited || self.next_reset.is_some_and(|at| now < at) {
            return None;
        }
        self.resets += 1;
        self.next_reset = Some(now + self.reset_every);
        self.reset_every = (self.reset_every * 2).min(RESET_MAX_EVERY);
        self.low_since = None;
        self.peak = Some((before, now));
        Some(before)
    }

    /// The verdict on the latest estimate.
    pub fn verdict(&self) -> Verdict {
        self.verdict
    }

    /// How far the latest round trip is over the least seen.
    pub fn queue_delay(&self) -> Option<Duration> {
        self.queue
    }

    /// Estimator restarts so far.
    pub fn resets(&self) -> u32 {
        self.resets
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Drives a check a 100 ms step for `secs`: a round trip a second, the estimate each step
    /// (`estimate(t)`, restarted where the check says), the stream sending `sent` of it.
    /// Returns the resets asked for.
    fn drive(
        c: &mut EstimateCheck,
        t: &mut Instant,
        secs: u32,
        estimate: &mut u64,
        mut rtt_at: impl FnMut(u32) -> Duration,
        mut next_estimate: impl FnMut(u32, u64) -> u64,
    ) -> Vec<u64> {
        let mut resets = Vec::new();
        for i in 0..secs * 10 {
            *t += 100 * MS;
            if i % 10 == 5 {
                c.round_trip(*t, rtt_at(i));
            }
            *estimate = next_estimate(i, *estimate);
            if let Some(r) = c.estimate(*t, *estimate, *estimate * 8 / 10) {
                resets.push(r);
                *estimate = r;
            }
        }
        resets
    }

    #[test]
    fn a_drop_with_a_flat_round_trip_is_doubted_then_the_estimator_restarts_from_before_it() {
        let (mut c, mut t, mut e) = (EstimateCheck::default(), Instant::now(), 6_000_000);
        let jitter = |i: u32| Duration::from_millis(2 + u64::from(i * 7 % 9));
        assert!(drive(&mut c, &mut t, 3, &mut e, jitter, |_, e| e).is_empty());
        // CPU jitter: the estimator halves, the round trip stays within a few ms.
        let resets = drive(&mut c, &mut t, 3, &mut e, jitter, |i, e| if i == 0 { 2_700_000 } else { e });
        assert_eq!(resets, vec![6_000_000], "one restart, from the estimate before the drop");
        assert_eq!(c.verdict(), Verdict::Believed);
        // It drops again and again: restarts back off (4 s, then 8 s, ...).
        let resets =
            drive(&mut c, &mut t, 30, &mut e, jitter, |i, e| if i % 20 == 0 { 2_700_000 } else { e });
        assert!((2..=4).contains(&resets.len()), "backed-off restarts: {resets:?}");
    }

    #[test]
    fn a_drop_with_a_growing_round_trip_is_the_paths() {
        let (mut c, mut t, mut e) = (EstimateCheck::default(), Instant::now(), 6_000_000);
        drive(&mut c, &mut t, 3, &mut e, |_| 40 * MS, |_, e| e);
        // A 3 Mbit/s bottleneck: the queue adds 60 ms to the 40 ms round trip.
        let resets =
            drive(&mut c, &mut t, 5, &mut e, |_| 100 * MS, |i, e| if i == 0 { 2_700_000 } else { e });
        assert!(resets.is_empty(), "{resets:?}");
        assert_eq!(c.verdict(), Verdict::Congested);
        assert_eq!(c.queue_delay(), Some(60 * MS));
        // The queue drains at the lower rate; the evidence holds for a while, then a later
        // estimate is a new peak of its own, not a drop to doubt.
        let resets = drive(&mut c, &mut t, 20, &mut e, |_| 41 * MS, |_, e| e);
        assert!(resets.is_empty(), "{resets:?}");
        assert_eq!(c.verdict(), Verdict::Believed);
    }

    #[test]
    fn heavy_loss_confirms_a_drop_and_one_late_round_trip_does_not() {
        let (mut c, mut t, mut e) = (EstimateCheck::default(), Instant::now(), 6_000_000);
        drive(&mut c, &mut t, 2, &mut e, |_| 2 * MS, |_, e| e);
        c.loss(t, 0.25);
        assert!(
            drive(&mut c, &mut t, 3, &mut e, |_| 2 * MS, |i, e| if i == 0 { 2_000_000 } else { e })
                .is_empty()
        );
        assert_eq!(c.verdict(), Verdict::Congested);

        let (mut c, mut t, mut e) = (EstimateCheck::default(), Instant::now(), 6_000_000);
        drive(&mut c, &mut t, 2, &mut e, |_| 2 * MS, |_, e| e);
        let spike = |i: u32| if i == 5 { 60 * MS } else { 2 * MS };
        let resets = drive(&mut c, &mut t, 4, &mut e, spike, |i, e| if i == 0 { 2_000_000 } else { e });
        assert_eq!(resets, vec![6_000_000], "a lone late report is no queue");

        // A shorter one with some loss is one too; without the loss it is not.
        for (loss, doubted) in [(0.02, false), (0.0, true)] {
            let (mut c, mut t, mut e) = (EstimateCheck::default(), Instant::now(), 6_000_000);
            drive(&mut c, &mut t, 2, &mut e, |_| 40 * MS, |_, e| e);
            c.loss(t, loss);
            let late = |i: u32| if i == 5 { 120 * MS } else { 40 * MS };
            let resets = drive(&mut c, &mut t, 4, &mut e, late, |i, e| if i == 0 { 2_000_000 } else { e });
            assert_eq!(resets.is_empty(), !doubted, "loss {loss}: {resets:?}");
        }

        // One report of a queue as long as a bottleneck's buffer is one at once.
        let (mut c, mut t, mut e) = (EstimateCheck::default(), Instant::now(), 6_000_000);
        drive(&mut c, &mut t, 2, &mut e, |_| 2 * MS, |_, e| e);
        let full = |i: u32| if i == 5 { 120 * MS } else { 2 * MS };
        let resets = drive(&mut c, &mut t, 4, &mut e, full, |i, e| if i == 0 { 2_000_000 } else { e });
        assert!(resets.is_empty(), "{resets:?}");
        assert_eq!(c.verdict(), Verdict::Congested);
    }

    #[test]
    fn a_queue_the_page_measures_confirms_a_drop_and_a_short_one_does_not() {
        // The round trip is flat (its reports have not caught up yet); the page says.
        for (page, doubted) in [(80 * MS, false), (PAGE_QUEUE, false), (20 * MS, true)] {
            let (mut c, mut t, mut e) = (EstimateCheck::default(), Instant::now(), 6_000_000);
            drive(&mut c, &mut t, 2, &mut e, |_| 2 * MS, |_, e| e);
            c.page_queue(t, page);
            let resets =
                drive(&mut c, &mut t, 4, &mut e, |_| 2 * MS, |i, e| if i == 0 { 2_000_000 } else { e });
            assert_eq!(resets.is_empty(), !doubted, "page {page:?}: {resets:?}");
            let verdict = if doubted { Verdict::Believed } else { Verdict::Congested };
            assert_eq!(c.verdict(), verdict, "page {page:?}");
        }
    }

    #[test]
    fn an_estimate_sliding_down_in_small_steps_is_a_drop_too() {
        let (mut c, mut t, mut e) = (EstimateCheck::default(), Instant::now(), 8_000_000);
        // 3% less every second for 20 s, the round trip flat: 8 -> 4.4 Mbit/s.
        let resets =
            drive(&mut c, &mut t, 20, &mut e, |_| 2 * MS, |i, e| if i % 10 == 0 { e * 97 / 100 } else { e });
        assert_eq!(resets.len(), 1, "{resets:?}");
        assert!(resets[0] >= 7_000_000, "from the peak before the slide: {resets:?}");
    }

    #[test]
    fn a_stream_sending_little_is_not_held_back_by_a_low_estimate() {
        let (mut c, mut t) = (EstimateCheck::default(), Instant::now());
        c.estimate(t, 6_000_000, 5_000_000);
        t += STARTING;
        for _ in 0..50 {
            t += 100 * MS;
            c.round_trip(t, 2 * MS);
            assert_eq!(c.estimate(t, 1_300_000, 200_000), None);
        }
        assert_eq!(c.verdict(), Verdict::Believed);
        assert_eq!(c.resets(), 0);
    }
}
