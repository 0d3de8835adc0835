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

#[cfg(test)]
mod tests {
    use super::*;

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
