//! A source that can go away for a while and come back by itself (a Windows desktop behind
//! the lock screen or a UAC prompt, which no program of the user may capture): while away the
//! capturer tries again now and then instead of failing the stream, says why, and says once
//! that it is back. Pure, so the pacing is tested anywhere.

use std::time::{Duration, Instant};

/// What the source last showed, and when to try again while away.
#[derive(Debug)]
pub struct Presence {
    away: Option<String>,
    next_try: Instant,
    retry: Duration,
}

/// What a capture attempt changed.
#[derive(Debug, PartialEq, Eq)]
pub enum Change {
    /// Nothing new: still live, or still away.
    None,
    /// The source just went away (tell the user once).
    Left,
    /// The source just came back.
    Back,
}

impl Presence {
    /// A present source that, once away, is tried again every `retry`.
    pub fn new(retry: Duration, now: Instant) -> Self {
        Self { away: None, next_try: now, retry }
    }

    /// Why the source is away, if it is.
    pub fn away(&self) -> Option<&str> {
        self.away.as_deref()
    }

    /// When to try to capture: now while present, at the next retry while away.
    pub fn next_try(&self, now: Instant) -> Instant {
        if self.away.is_some() { self.next_try } else { now }
    }

    /// An attempt failed because of `why` (the reason shown to viewers).
    pub fn failed(&mut self, why: &str, now: Instant) -> Change {
        self.next_try = now + self.retry;
        let change = if self.away.is_none() { Change::Left } else { Change::None };
        if self.away.as_deref() != Some(why) {
            self.away = Some(why.to_owned());
        }
        change
    }

    /// An attempt gave a picture.
    pub fn succeeded(&mut self) -> Change {
        if self.away.take().is_some() { Change::Back } else { Change::None }
    }
}

/// The pace of a source the capturer samples (a Windows desktop through GDI or DXGI): at most
/// one capture per frame interval on the average, without a phase of its own (a late capture
/// does not push the ones after it), and while the source is away, at its [`Presence`]'s retry
/// pace. Pure but for the sleep in [`Pacer::wait`], so the arithmetic is tested anywhere.
#[derive(Debug)]
pub struct Pacer {
    /// Whether the source is there, and when to try again while it is not.
    pub presence: Presence,
    next: Instant,
    min_interval: Duration,
}

impl Pacer {
    /// A present source, due at once, 16 ms between captures until told the stream's rate;
    /// tried again every `retry` while away.
    pub fn new(retry: Duration, now: Instant) -> Self {
        Self { presence: Presence::new(retry, now), next: now, min_interval: Duration::from_millis(16) }
    }

    /// The least time between captures (the stream's frame period).
    pub fn set_min_interval(&mut self, interval: Duration) {
        self.min_interval = interval;
    }

    /// When the next capture is due, seen at `now`.
    pub fn due(&self, now: Instant) -> Instant {
        self.next.max(self.presence.next_try(now))
    }

    /// Sleeps until the next capture is due and returns true; or, when it is not due by
    /// `deadline`, sleeps until the deadline and returns false.
    pub fn wait(&self, deadline: Instant) -> bool {
        let due = self.due(Instant::now());
        if due > deadline {
            std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
            return false;
        }
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        true
    }

    /// A capture began at `start`: the next is due one interval after this one was due, but
    /// not before `start` (after a long pause, one capture follows at once, then the pace).
    pub fn taken(&mut self, start: Instant) {
        self.next = self.next.max(start - self.min_interval) + self.min_interval;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pacer_keeps_the_average_rate_without_a_phase_and_waits_while_away() {
        let ms = Duration::from_millis;
        let t0 = Instant::now() + Duration::from_secs(3600);
        let mut p = Pacer::new(ms(250), t0);
        p.set_min_interval(ms(20));
        assert_eq!(p.due(t0), t0, "the first capture at once");
        p.taken(t0);
        assert_eq!(p.due(t0), t0 + ms(20));
        // Taken on time, or a little late: the next stays on the average pace.
        p.taken(t0 + ms(23));
        assert_eq!(p.due(t0), t0 + ms(40), "a late capture does not push the next one");
        // Much later (a busy machine): one more at once, then the pace again, no burst.
        p.taken(t0 + ms(500));
        assert_eq!(p.due(t0 + ms(500)), t0 + ms(500));
        p.taken(t0 + ms(500));
        assert_eq!(p.due(t0 + ms(500)), t0 + ms(520));
        // Away: the retry pace rules.
        assert_eq!(p.presence.failed("locked", t0 + ms(520)), Change::Left);
        assert_eq!(p.due(t0 + ms(521)), t0 + ms(770));
        assert_eq!(p.presence.succeeded(), Change::Back);
        assert_eq!(p.due(t0 + ms(521)), t0 + ms(521), "back: due at once again");
        // Not due by the deadline: no capture (the deadline is now, so no real wait).
        assert!(!p.wait(Instant::now()), "due an hour from now");
        let mut now = Pacer::new(ms(250), Instant::now());
        now.set_min_interval(ms(20));
        assert!(now.wait(Instant::now() + ms(50)), "due at once");
    }

    #[test]
    fn away_is_said_once_retried_at_its_pace_and_back_once() {
        let t0 = Instant::now();
        let retry = Duration::from_millis(250);
        let mut p = Presence::new(retry, t0);
        assert_eq!(p.away(), None);
        assert_eq!(p.next_try(t0), t0, "a present source is tried at once");
        assert_eq!(p.succeeded(), Change::None);

        assert_eq!(p.failed("locked", t0), Change::Left);
        assert_eq!(p.away(), Some("locked"));
        let t1 = t0 + Duration::from_millis(10);
        assert_eq!(p.next_try(t1), t0 + retry, "away: not before the retry");
        assert_eq!(p.failed("locked", t0 + retry), Change::None, "still away is not news");
        assert_eq!(p.next_try(t1), t0 + 2 * retry);
        assert_eq!(p.failed("a UAC prompt", t0 + 2 * retry), Change::None);
        assert_eq!(p.away(), Some("a UAC prompt"), "the latest reason is shown");

        assert_eq!(p.succeeded(), Change::Back);
        assert_eq!(p.away(), None);
        assert_eq!(p.succeeded(), Change::None, "back is said once");
        assert_eq!(p.next_try(t1), t1);
    }
}
