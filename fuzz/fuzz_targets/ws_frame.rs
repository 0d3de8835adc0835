//! WebSocket frames from a client (our own framing, peerdesk-signal's wsframe): the header
//! parser and the reader never panic, never take a frame or message over the limits, and a
//! refused header is refused however many bytes follow it.
#![no_main]

use futures_util::FutureExt;
use libfuzzer_sys::fuzz_target;
use peerdesk_signal::wsframe::{Incoming, ReadError, Reader, parse_header};

const MAX: usize = 4096;

fuzz_target!(|data: &[u8]| {
    if let Ok(Some((h, n))) = parse_header(data, MAX as u64) {
        assert!(h.len <= MAX as u64 && (6..=14).contains(&n));
    }
    let mut r = Reader::new(data, MAX, MAX);
    for _ in 0..1000 {
        match r.next().now_or_never() {
            Some(Ok(Incoming::Text(t))) => assert!(t.len() <= MAX),
            Some(Ok(Incoming::Binary(n))) => assert!(n <= MAX),
            Some(Ok(Incoming::Ping(p))) => assert!(p.len() <= 125),
            Some(Ok(_)) => {}
            Some(Err(ReadError::Io(_) | ReadError::Frame(_))) | None => break,
        }
    }
});
