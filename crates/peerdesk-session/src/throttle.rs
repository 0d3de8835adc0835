//! Keyframe throttle: a viewer that lost packets asks for a keyframe (PLI/FIR), but a large IDR
//! takes a while to arrive and the viewer may ask again meanwhile. Answering every request
//! causes a keyframe storm; this lets one through per interval and remembers one more.

use std::time::{Duration, Instant};

/// At most one keyframe per `min_interval`; a request inside the interval is held until it ends.
#[derive(Debug, Clone)]
pub struct KeyframeThrottle {
    min_interval: Duration,
    last: Option<Instant>,
    pending: bool,
}

impl KeyframeThrottle {
    /// A throttle letting one keyframe through per `min_interval`.
    pub fn new(min_interval: Duration) -> Self {
        Self { min_interval, last: None, pending: false }
    }

    /// A keyframe was asked for at `now`.
    pub fn request(&mut self, _now: Instant) {
        self.pending = true;
    }

    /// A keyframe was sent at `now` (asked for or not): it satisfies any pending request.
    pub fn keyframe_sent(&mut self, now: Instant) {
        self.pending = false;
        self.last = Some(now);
    }

    /// Whether a keyframe should be produced now; clears the pending request when it says yes.
    pub fn poll(&mut self, now: Instant) -> bool {
        if !self.pending {
            return false;
        }
        let ready = self.last.is_none_or(|t| now.saturating_duration_since(t) >= self.min_interval);
        if ready {
            self.pending = false;
            // Counts as sent for throttling, so repeated polls before the IDR arrives say no.
            self.last = Some(now);
        }
        ready
    }

    /// When a held request becomes due (`now` if it is due already), if one is held.
    pub fn poll_timeout(&self, now: Instant) -> Option<Instant> {
        if !self.pending {
            return None;
        }
        Some(self.last.map_or(now, |t| (t + self.min_interval).max(now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_keyframe_per_interval_and_one_held_request() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut k = KeyframeThrottle::new(ms(300));
        assert!(!k.poll(t0), "nothing asked");
        k.request(t0);
        assert_eq!(k.poll_timeout(t0), Some(t0));
        assert!(k.poll(t0), "first request goes through at once");
        // A storm of requests while the IDR travels: held, then one more keyframe.
        for i in 1..30 {
            k.request(t0 + ms(i * 10));
            assert!(!k.poll(t0 + ms(i * 10)));
        }
        assert_eq!(k.poll_timeout(t0 + ms(290)), Some(t0 + ms(300)));
        assert!(k.poll(t0 + ms(300)));
        assert!(!k.poll(t0 + ms(301)), "only one");
        assert_eq!(k.poll_timeout(t0 + ms(301)), None);
    }

    #[test]
    fn a_keyframe_sent_for_someone_else_satisfies_a_request() {
        let t0 = Instant::now();
        let mut k = KeyframeThrottle::new(Duration::from_millis(300));
        k.request(t0);
        k.keyframe_sent(t0);
        assert!(!k.poll(t0 + Duration::from_secs(1)));
    }
}
