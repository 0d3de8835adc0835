//! With bandwidth estimation on, str0m paces video: a frame that fits the pacer's burst leaves
//! as soon as it is sent, all of it, and only a frame larger than that is spread out, at about
//! the estimate. (str0m's pacer asks for a turn of the drive loop between any two packets; a
//! host that waits for a timer to give it that turn sends one packet a millisecond.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::sync::Arc;
use std::time::Duration;

use harness::Pair;
use peerdesk_session::{BandwidthConfig, SessionConfig, VideoFrame};

/// An IDR of `len` bytes in one NAL unit (no start code inside: every byte is 0x55).
fn keyframe(pair: &Pair, len: usize) -> VideoFrame {
    let mut data = vec![0, 0, 0, 1, 0x65];
    data.resize(len, 0x55);
    VideoFrame { data: Arc::from(data), keyframe: true, captured_at: pair.now }
}

fn connected_pair() -> Pair {
    let config = SessionConfig {
        bandwidth: Some(BandwidthConfig { start_bps: 2_000_000, desired_bps: 3_000_000 }),
        ..SessionConfig::default()
    };
    let mut pair = Pair::with_config(config);
    pair.connect();
    // A few small frames first, so the pacer has sent and the estimator has feedback.
    for _ in 0..30 {
        let frame = keyframe(&pair, 2_000);
        pair.send_frame(&frame);
        pair.advance(Duration::from_millis(33));
    }
    pair
}

#[test]
fn a_frame_within_the_pacers_burst_leaves_at_once() {
    let mut pair = connected_pair();
    let estimate = pair.host.network().estimate_bps.expect("an estimate");
    // The pacer lets 40 ms at 1.1x the estimate go in one burst; this frame is well inside it.
    let len = 4_000;
    assert!(len * 8 * 25 < estimate as usize, "the frame fits the burst at {estimate} b/s");
    let before = pair.viewer.media.len();
    let frame = keyframe(&pair, len);
    // No time passes: whatever the host sends now reaches the viewer now.
    pair.send_frame(&frame);
    assert_eq!(
        pair.viewer.media.len(),
        before + 1,
        "the whole {len}-byte frame ({} packets) leaves at the moment it is sent",
        len.div_ceil(1_100)
    );
}

#[test]
fn a_frame_larger_than_the_burst_is_spread_at_about_the_estimate() {
    let mut pair = connected_pair();
    let estimate = pair.host.network().estimate_bps.expect("an estimate");
    let len = 100_000;
    let at_estimate = Duration::from_secs_f64(len as f64 * 8.0 / estimate as f64);
    let before = pair.viewer.media.len();
    let frame = keyframe(&pair, len);
    let start = pair.now;
    pair.send_frame(&frame);
    assert_eq!(pair.viewer.media.len(), before, "a {len}-byte frame is paced, not sent at once");
    let mut arrived = None;
    for _ in 0..2_000 {
        pair.advance(Duration::from_millis(1));
        if pair.viewer.media.len() > before {
            arrived = Some(pair.now - start);
            break;
        }
    }
    let arrived = arrived.expect("the frame arrives within 2 s");
    eprintln!(
        "{len} bytes at an estimate of {estimate} b/s: whole after {arrived:?} ({at_estimate:?} at the estimate)"
    );
    assert!(
        arrived <= at_estimate + Duration::from_millis(50),
        "whole after {arrived:?}: no later than sending it at the estimate ({at_estimate:?})"
    );
    assert!(arrived >= at_estimate / 3, "whole after {arrived:?}: spread out, not one burst");
}
