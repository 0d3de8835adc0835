//! Redundancy against random loss: while the path to a viewer loses packets, every RTP packet
//! goes out twice.
//!
//! A lost packet costs a round trip (the viewer asks, the host resends), and every frame behind
//! it waits that long, since a P-frame cannot be decoded before the one it refers to. At 5% loss
//! and a handful of packets per frame, one frame in four loses one: the browser then presents
//! barely half the frames. A second copy of every packet makes a loss need both copies lost
//! (0.25% at 5%): the picture keeps its frame rate for twice the bytes. Neither the browser nor
//! str0m need anything for it: the copy carries the same sequence numbers and the same SRTP
//! packet, so the browser keeps whichever arrives first and drops the other as a replay.
//!
//! Copies are sent only while loss is seen without a queue building up: loss with a round trip
//! well over the least seen is a full queue overflowing (congestion), which copies would only
//! make worse (measured: on a 3 Mbit/s bottleneck copying drove the rate down to 0.3 Mbit/s and
//! the delay to seconds); that loss is left to the congestion controller and resends.
//!
//! The viewer's reports count a packet lost only when both copies were, so while copying the
//! path's own loss is read as the square root of what is reported (two independent chances).

use std::time::{Duration, Instant};

/// Loss on the path at which copying starts.
const ON_AT: f64 = 0.02;
/// Copying stops once no report has counted a packet lost (both copies) for this long. At 5%
/// on the path and 60 packets a second (a quiet scene), both copies of one are lost every 7 s
/// or so: a shorter wait would stop and start again over a path that never got better.
const QUIET_FOR: Duration = Duration::from_secs(15);
/// Weight of a new report in the average of what arrives lost while copying.
const SMOOTHING: f64 = 0.2;
/// A round trip this much over the least seen means packets queue somewhere on the path: the
/// loss is the queue overflowing, and copies would only add to it...
const QUEUE_DELAY: Duration = Duration::from_millis(25);
/// ...as does a round trip this much over the least seen, in proportion (long paths).
const QUEUE_RATIO: f64 = 0.5;
/// Copying does not start for this long after the last queue seen: a loss report that comes
/// after the queue has drained still counts what its overflow lost (a session opening on a
/// 3 Mbit/s link started and stopped copying with each report, its wire rate doubling each
/// time, and rate control cut the frame rate and size for it).
const AFTER_QUEUE: Duration = Duration::from_secs(10);

/// Whether to send RTP packets twice, from the viewer's loss reports.
#[derive(Clone, Debug)]
pub struct Redundancy {
    allowed: bool,
    on: bool,
    /// While copying: the average share reported lost (both copies). A second's report counts
    /// few such packets, often none, so the average is taken before the root, not after.
    residual: f64,
    /// The path's own loss, as last estimated.
    path_loss: f64,
    /// The last report, while copying, that counted a loss.
    last_loss: Option<Instant>,
    /// The least round trip seen, and whether the last one was well over it.
    min_rtt: Option<Duration>,
    queueing: bool,
    /// When a round trip last showed a queue.
    queue_at: Option<Instant>,
}

impl Redundancy {
    /// A policy that copies when loss calls for it, or never when `allowed` is false.
    pub fn new(allowed: bool) -> Self {
        Self {
            allowed,
            on: false,
            residual: 0.0,
            path_loss: 0.0,
            last_loss: None,
            min_rtt: None,
            queueing: false,
            queue_at: None,
        }
    }

    /// A round trip measured (from the viewer's receiver reports). While it stays well over the
    /// least one seen, a queue is building on the path: the loss then is congestion, which
    /// copies would make worse, so copying stops at once and does not start until
    /// [`AFTER_QUEUE`] after the last such round trip.
    pub fn round_trip(&mut self, now: Instant, rtt: Duration) {
        let min = self.min_rtt.map_or(rtt, |m| m.min(rtt));
        self.min_rtt = Some(min);
        self.queueing = rtt > min + QUEUE_DELAY.max(min.mul_f64(QUEUE_RATIO));
        if self.queueing {
            self.queue_at = Some(now);
        }
        if self.queueing && self.on {
            self.on = false;
            // The path's loss is what the viewer reports from here on.
            self.path_loss = self.residual.sqrt();
        }
    }

    /// Whether packets are being sent twice.
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// The path's loss as last estimated (0 to 1).
    pub fn path_loss(&self) -> f64 {
        self.path_loss
    }

    /// A loss report at `now`: the fraction of the packets sent lately that the viewer did not
    /// receive (in either copy while copying). Returns the path's own loss.
    pub fn report(&mut self, now: Instant, reported: f64) -> f64 {
        let reported = if reported.is_finite() { reported.clamp(0.0, 1.0) } else { 0.0 };
        if !self.on {
            self.path_loss = reported;
            let queued_lately = self.queueing
                || self.queue_at.is_some_and(|at| now.saturating_duration_since(at) < AFTER_QUEUE);
            if self.allowed && !queued_lately && reported >= ON_AT {
                self.on = true;
                // What the viewer will report from now on, if the path stays as it is.
                self.residual = reported * reported;
                self.last_loss = Some(now);
            }
            return self.path_loss;
        }
        self.residual += SMOOTHING * (reported - self.residual);
        self.path_loss = self.residual.sqrt();
        if reported > 0.0 {
            self.last_loss = Some(now);
        } else if self.last_loss.is_none_or(|at| now.saturating_duration_since(at) >= QUIET_FOR) {
            self.on = false;
        }
        self.path_loss
    }
}

/// Whether a datagram is an RTP packet (SRTP), the kind that is copied: not STUN, DTLS or
/// RTCP (RFC 7983 for the first byte, RFC 5761 for telling RTP from RTCP).
pub fn is_rtp(datagram: &[u8]) -> bool {
    datagram.len() >= 12 && (128..=191).contains(&datagram[0]) && !(64..=95).contains(&(datagram[1] & 0x7f))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(r: &mut Redundancy, t: &mut Instant, secs: u32, path: f64) -> Vec<bool> {
        let mut seen = Vec::new();
        for _ in 0..secs {
            *t += Duration::from_secs(1);
            // What the viewer reports: while copying, a packet is lost only if both copies are.
            let reported = if r.is_on() { path * path } else { path };
            r.report(*t, reported);
            seen.push(r.is_on());
        }
        seen
    }

    #[test]
    fn random_loss_turns_copying_on_and_it_stays_on_while_the_loss_lasts() {
        let mut t = Instant::now();
        let mut r = Redundancy::new(true);
        assert!(feed(&mut r, &mut t, 10, 0.0).iter().all(|on| !on), "a clean path is not copied");
        assert!(feed(&mut r, &mut t, 5, 0.005).iter().all(|on| !on), "half a percent is left to resends");
        let seen = feed(&mut r, &mut t, 30, 0.05);
        assert!(seen[0], "on at the first report of 5%");
        assert!(
            seen.iter().all(|on| *on),
            "the reports of 0.25% that follow read as 5% on the path: {seen:?}"
        );
        assert!((r.path_loss() - 0.05).abs() < 0.01, "path loss {}", r.path_loss());
        // Loss stops: copying stops some seconds later, not at the first clean report.
        let seen = feed(&mut r, &mut t, 20, 0.0);
        assert!(seen[0] && seen[9], "{seen:?}");
        assert!(!seen[19], "{seen:?}");
        let off_at = seen.iter().position(|on| !on).unwrap();
        assert!(off_at <= 16, "off {off_at} s after the loss stopped");
        assert!(r.path_loss() < 0.01, "path loss {}", r.path_loss());
    }

    #[test]
    fn a_path_near_the_threshold_does_not_flap() {
        let mut t = Instant::now();
        let mut r = Redundancy::new(true);
        feed(&mut r, &mut t, 3, 0.03);
        assert!(r.is_on());
        // 1.5% on the path: the reports say 0.02%, whose root is 1.5%: it stays on.
        let seen = feed(&mut r, &mut t, 60, 0.015);
        assert!(seen.iter().all(|on| *on), "{seen:?}");
    }

    #[test]
    fn few_packets_a_second_keep_copying_and_read_near_the_path_loss() {
        // 60 packets a second at 5% on the path: while copying, both copies of a packet are lost
        // every 7 s on average; most reports say 0, one in seven says 1/60.
        let mut t = Instant::now();
        let mut r = Redundancy::new(true);
        r.report(t, 0.05);
        assert!(r.is_on());
        let mut lowest = 1.0_f64;
        for s in 1..=120 {
            t += Duration::from_secs(1);
            r.report(t, if s % 7 == 0 { 1.0 / 60.0 } else { 0.0 });
            assert!(r.is_on(), "off after {s} s");
            lowest = lowest.min(r.path_loss());
        }
        assert!(lowest > 0.01, "the path's loss read as low as {lowest}");
    }

    #[test]
    fn loss_with_a_queue_building_is_congestion_and_gets_no_copies() {
        let mut t = Instant::now();
        let mut r = Redundancy::new(true);
        let ms = Duration::from_millis;
        r.round_trip(t, ms(40));
        feed(&mut r, &mut t, 3, 0.05);
        assert!(r.is_on(), "random loss on an unloaded path");
        // A bottleneck: the round trip grows with the queue, then the queue overflows.
        r.round_trip(t, ms(90));
        assert!(!r.is_on(), "a queue building up stops the copies at once");
        assert!(feed(&mut r, &mut t, 10, 0.08).iter().all(|on| !on), "and they stay off while it lasts");
        assert!((r.path_loss() - 0.08).abs() < 1e-9, "the loss is read as it is reported");
        // The queue drains: random loss is copied again.
        r.round_trip(t, ms(45));
        assert_eq!(feed(&mut r, &mut t, 1, 0.05), vec![true]);
        // A queue that drained before the loss of its overflow was reported: still no copies
        // for a while (each copy doubles what goes onto the full link).
        let mut r = Redundancy::new(true);
        r.round_trip(t, ms(40));
        r.round_trip(t, ms(300));
        t += Duration::from_secs(1);
        r.round_trip(t, ms(42));
        assert!(feed(&mut r, &mut t, 8, 0.06).iter().all(|on| !on), "no copies 10 s after a queue");
        assert_eq!(feed(&mut r, &mut t, 1, 0.05), vec![true], "10 s on, random loss is copied again");
        // A long path's round trip may vary more before it means a queue.
        let mut long = Redundancy::new(true);
        long.round_trip(t, ms(200));
        long.round_trip(t, ms(280));
        assert_eq!(
            feed(&mut long, &mut t, 1, 0.05),
            vec![true],
            "280 ms over a least of 200 is not yet a queue"
        );
        long.round_trip(t, ms(320));
        assert!(!long.is_on());
    }

    #[test]
    fn not_allowed_never_copies_but_still_reports_the_loss() {
        let mut t = Instant::now();
        let mut r = Redundancy::new(false);
        assert!(feed(&mut r, &mut t, 10, 0.2).iter().all(|on| !on));
        assert!((r.path_loss() - 0.2).abs() < 1e-9);
    }

    #[test]
    fn nonsense_reports_are_read_as_no_loss_or_all() {
        let mut r = Redundancy::new(true);
        let t = Instant::now();
        assert_eq!(r.report(t, f64::NAN), 0.0);
        assert!(!r.is_on());
        assert_eq!(r.report(t, 7.0), 1.0);
        assert!(r.is_on());
    }

    #[test]
    fn only_rtp_is_copied() {
        let rtp = [0x80, 0x66, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4, 9];
        let rtp_marker = [0x80, 0xe6, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4];
        let rtcp_sr = [0x80, 200, 0, 6, 1, 2, 3, 4, 0, 0, 0, 0];
        let rtcp_rr = [0x81, 201, 0, 7, 1, 2, 3, 4, 0, 0, 0, 0];
        let stun = [0x00, 0x01, 0, 0, 0x21, 0x12, 0xa4, 0x42, 0, 0, 0, 0];
        let dtls = [22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(is_rtp(&rtp) && is_rtp(&rtp_marker));
        assert!(!is_rtp(&rtcp_sr) && !is_rtp(&rtcp_rr) && !is_rtp(&stun) && !is_rtp(&dtls));
        assert!(!is_rtp(&rtp[..11]), "too short for an RTP header");
    }
}
