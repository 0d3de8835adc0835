//! Frames and the latest-wins slot that hands them from one thread to another.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// One captured picture, 32-bit BGRA (byte order B, G, R, A), rows `stride` bytes apart.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Bytes from the start of one row to the next (at least `width * 4`).
    pub stride: usize,
    /// The pixels.
    pub data: Vec<u8>,
    /// When the picture was taken.
    pub captured_at: Instant,
    /// How long taking it took.
    pub capture_time: Duration,
}

impl Frame {
    /// The BGRA bytes of pixel (x, y), if it is inside the frame.
    pub fn pixel(&self, x: u32, y: u32) -> Option<[u8; 4]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = y as usize * self.stride + x as usize * 4;
        self.data.get(i..i + 4).and_then(|p| p.try_into().ok())
    }
}

/// A one-place mailbox: a new value replaces the one not yet taken ("latest wins"), so a slow
/// consumer never makes frames queue up.
#[derive(Debug)]
pub struct LatestSlot<T> {
    value: Mutex<SlotState<T>>,
    ready: Condvar,
}

#[derive(Debug)]
struct SlotState<T> {
    value: Option<T>,
    replaced: u64,
    closed: bool,
}

impl<T> Default for LatestSlot<T> {
    fn default() -> Self {
        Self {
            value: Mutex::new(SlotState { value: None, replaced: 0, closed: false }),
            ready: Condvar::new(),
        }
    }
}

impl<T> LatestSlot<T> {
    /// An empty slot.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> std::sync::MutexGuard<'_, SlotState<T>> {
        // The state is a plain value that stays valid across a panic of another holder.
        self.value.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Puts a value in, dropping any value not yet taken.
    pub fn put(&self, v: T) {
        let mut s = self.state();
        if s.value.replace(v).is_some() {
            s.replaced += 1;
        }
        drop(s);
        self.ready.notify_one();
    }

    /// Takes the value, waiting at most `timeout` for one. `None` on timeout or when closed.
    pub fn take(&self, timeout: Duration) -> Option<T> {
        let s = self.state();
        let (mut s, _) = self
            .ready
            .wait_timeout_while(s, timeout, |s| s.value.is_none() && !s.closed)
            .unwrap_or_else(|p| p.into_inner());
        s.value.take()
    }

    /// How many values were replaced before anyone took them.
    pub fn replaced(&self) -> u64 {
        self.state().replaced
    }

    /// Wakes every waiter and makes further waits return at once.
    pub fn close(&self) {
        self.state().closed = true;
        self.ready.notify_all();
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.state().closed
    }
}

/// `rows` rows of `row_bytes` each, read from `src` where they start every `pitch` bytes (a
/// GPU texture's mapped rows are padded), packed tight; `None` when `src` is too short or the
/// pitch is smaller than a row.
pub fn tight_rows(src: &[u8], pitch: usize, row_bytes: usize, rows: usize) -> Option<Vec<u8>> {
    if pitch < row_bytes || rows == 0 || src.len() < pitch * (rows - 1) + row_bytes {
        return None;
    }
    let mut out = Vec::with_capacity(row_bytes * rows);
    for r in 0..rows {
        out.extend_from_slice(&src[r * pitch..r * pitch + row_bytes]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_wins() {
        let slot = LatestSlot::new();
        slot.put(1);
        slot.put(2);
        slot.put(3);
        assert_eq!(slot.take(Duration::ZERO), Some(3));
        assert_eq!(slot.replaced(), 2);
        assert_eq!(slot.take(Duration::from_millis(1)), None);
        slot.close();
        assert_eq!(slot.take(Duration::from_secs(60)), None, "closed slot does not wait");
    }

    #[test]
    fn padded_rows_are_packed_tight_and_short_buffers_refused() {
        // 2 rows of 3 bytes, each padded to 5.
        let src = [1, 2, 3, 0, 0, 4, 5, 6];
        assert_eq!(tight_rows(&src, 5, 3, 2), Some(vec![1, 2, 3, 4, 5, 6]));
        assert_eq!(tight_rows(&src, 3, 3, 2), Some(vec![1, 2, 3, 0, 0, 4]));
        assert_eq!(tight_rows(&src, 5, 3, 3), None, "too short for a third row");
        assert_eq!(tight_rows(&src, 2, 3, 1), None, "pitch under a row");
        assert_eq!(tight_rows(&src, 5, 3, 0), None);
    }
}
