//! A host session streams H.264 to a real str0m viewer: the viewer depacketizes every frame,
//! every IDR carries SPS and PPS, the first frame is a keyframe, a PLI brings a new keyframe
//! (throttled), and every packet says playout-delay 0/0.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::sync::Arc;
use std::time::Duration;

use harness::{Pair, nal_types};
use peerdesk_capture::TestScene;
use peerdesk_encode::{Encoder, EncoderConfig, OpenH264Encoder};
use peerdesk_session::{BandwidthConfig, SessionConfig, SessionEvent, VideoFrame};
use str0m::media::MediaTime;

struct Source {
    scene: TestScene,
    encoder: OpenH264Encoder,
    frame: u64,
}

impl Source {
    fn new() -> Self {
        Self {
            scene: TestScene::new(320, 240, 30).expect("scene"),
            encoder: OpenH264Encoder::new(EncoderConfig {
                width: 320,
                height: 240,
                fps: 30,
                bitrate_bps: 1_000_000,
                max_size: (None, None),
            })
            .expect("encoder"),
            frame: 0,
        }
    }

    /// Encodes the next frame; a keyframe when `key`.
    fn next(&mut self, pair: &Pair, key: bool) -> VideoFrame {
        self.frame += 1;
        let mut f = self.scene.render(Duration::from_millis(self.frame * 33));
        f.captured_at = pair.now;
        let e = self.encoder.encode(&f, key).expect("encodes").expect("not skipped");
        VideoFrame { data: Arc::from(e.data), keyframe: e.keyframe, captured_at: pair.now }
    }
}

/// Streams `n` frames at 30 fps, forcing a keyframe whenever the session asks for one.
fn stream(pair: &mut Pair, src: &mut Source, n: usize) -> usize {
    let mut keyframes_asked = 0;
    for _ in 0..n {
        let events = pair.take_host_events();
        let key = events.contains(&SessionEvent::KeyframeNeeded);
        keyframes_asked += usize::from(key);
        let frame = src.next(pair, key);
        pair.send_frame(&frame);
        pair.advance(Duration::from_millis(33));
    }
    keyframes_asked
}

#[test]
fn first_frame_is_a_keyframe_and_every_idr_carries_sps_pps() {
    let mut pair = Pair::new();
    pair.connect();
    let events = pair.take_host_events();
    assert!(events.contains(&SessionEvent::Connected), "{events:?}");
    assert!(events.contains(&SessionEvent::KeyframeNeeded), "a new viewer asks for a keyframe: {events:?}");
    pair.host_events = events.into_iter().filter(|e| *e == SessionEvent::KeyframeNeeded).collect();

    let mut src = Source::new();
    stream(&mut pair, &mut src, 30);

    let media = &pair.viewer.media;
    assert!(media.len() >= 28, "viewer received {} of 30 frames", media.len());
    assert!(media[0].is_keyframe(), "the first frame the viewer gets is a keyframe");
    for m in media {
        let types = nal_types(&m.data);
        if types.contains(&5) {
            assert!(types.contains(&7) && types.contains(&8), "IDR without SPS/PPS: {types:?}");
        }
        assert_eq!(m.ext_vals.play_delay_min, Some(MediaTime::ZERO), "playout-delay min");
        assert_eq!(m.ext_vals.play_delay_max, Some(MediaTime::ZERO), "playout-delay max");
    }
    // RTP time follows the frames' capture times (90 kHz, 33 ms apart).
    let dt = media[2].time.numer() as i64 - media[1].time.numer() as i64;
    assert!((2900..=3100).contains(&dt), "RTP step {dt}");
    assert_eq!(media.iter().filter(|m| m.is_keyframe()).count(), 1, "no keyframe nobody asked for");
}

#[test]
fn a_pli_brings_a_keyframe_and_a_storm_of_plis_brings_few() {
    let mut pair = Pair::new();
    pair.connect();
    let mut src = Source::new();
    stream(&mut pair, &mut src, 10);
    let before = pair.viewer.media.iter().filter(|m| m.is_keyframe()).count();

    pair.viewer_sends_pli();
    pair.advance(Duration::from_millis(1));
    assert!(pair.host_events.contains(&SessionEvent::KeyframeNeeded), "{:?}", pair.host_events);
    stream(&mut pair, &mut src, 3);
    let after: Vec<_> = pair.viewer.media.iter().filter(|m| m.is_keyframe()).collect();
    assert_eq!(after.len(), before + 1, "one new keyframe after the PLI");
    let types = nal_types(&after[after.len() - 1].data);
    assert!(types.contains(&7) && types.contains(&8) && types.contains(&5), "{types:?}");

    // Ten PLIs in 100 ms: the throttle lets at most one more keyframe through per 300 ms.
    let mut asked = 0;
    for _ in 0..10 {
        pair.viewer_sends_pli();
        asked += stream(&mut pair, &mut src, 1);
    }
    assert!(asked <= 2, "{asked} keyframes for a storm of 10 PLIs in 330 ms");
    assert!(asked >= 1, "the storm is answered at least once");
}

#[test]
fn frames_before_the_first_keyframe_are_held_back() {
    let mut pair = Pair::new();
    pair.connect();
    pair.take_host_events();
    let mut src = Source::new();
    // The host ignores the request for a while (an encoder busy elsewhere): P-frames only.
    src.next(&pair, true);
    for _ in 0..3 {
        let f = src.next(&pair, false);
        assert!(!f.keyframe);
        let now = pair.now;
        assert!(!pair.host.send_video(now, &f).expect("send"), "a P-frame before any keyframe is not sent");
    }
    assert_eq!(pair.host.counters().frames_skipped, 3);
    let f = src.next(&pair, true);
    let now = pair.now;
    assert!(pair.host.send_video(now, &f).expect("send"));
    pair.pump();
    pair.advance(Duration::from_millis(50));
    assert!(pair.viewer.media.first().is_some_and(|m| m.is_keyframe()));
}

#[test]
fn with_av_sync_the_browser_may_hold_the_picture_back_up_to_the_maximum() {
    let config = SessionConfig { max_playout_delay: Duration::from_millis(125), ..Default::default() };
    let mut pair = Pair::with_config(config);
    pair.connect();
    let mut src = Source::new();
    stream(&mut pair, &mut src, 5);
    assert!(!pair.viewer.media.is_empty());
    for m in &pair.viewer.media {
        assert_eq!(m.ext_vals.play_delay_min, Some(MediaTime::ZERO), "playout-delay min");
        // 10 ms steps: 125 ms is sent as 120 ms.
        let max = m.ext_vals.play_delay_max.expect("playout-delay max");
        assert_eq!(max.rebase(str0m::media::Frequency::MILLIS).numer(), 120, "playout-delay max");
    }
}

#[test]
fn with_bandwidth_estimation_the_session_reports_an_estimate_and_the_viewers_nacks() {
    let config = SessionConfig {
        bandwidth: Some(BandwidthConfig { start_bps: 1_000_000, desired_bps: 1_500_000 }),
        ..SessionConfig::default()
    };
    let mut pair = Pair::with_config(config);
    pair.connect();
    let mut src = Source::new();
    stream(&mut pair, &mut src, 60);
    let net = pair.host.network().clone();
    let estimate = net.estimate_bps.expect("an estimate from the viewer's TWCC feedback");
    assert!((100_000..=5_000_000).contains(&estimate), "estimate {estimate}");
    assert_eq!(net.nacks, 0, "no loss, no NACK");
    // Three frames lost on the way: the viewer asks for them again (NACK), and the session's
    // next stats say so.
    pair.drop_to_viewer = true;
    stream(&mut pair, &mut src, 3);
    pair.drop_to_viewer = false;
    stream(&mut pair, &mut src, 60);
    let net = pair.host.network();
    assert!(net.nacks > 0, "the viewer's NACKs are counted: {net:?}");
    assert!(net.rtt.is_some(), "a round trip from the viewer's reports: {net:?}");
}

/// Streams 10 s at 30 fps over a path losing 10% of the host's RTP datagrams; the host's
/// network view, the packets it sent twice, the viewer's NACKs in the last 5 s (as the host
/// counts them: by then copying has long started), the
/// frames the viewer got whole, and the RTP datagrams sent and dropped on the way.
fn lossy_run(redundancy: bool) -> (peerdesk_session::NetworkStats, u64, u64, usize, (u64, u64)) {
    let config = SessionConfig {
        bandwidth: Some(BandwidthConfig { start_bps: 1_000_000, desired_bps: 1_500_000 }),
        redundancy,
        ..SessionConfig::default()
    };
    let mut pair = Pair::with_config(config);
    pair.connect();
    let mut src = Source::new();
    stream(&mut pair, &mut src, 30);
    pair.rtp_loss = 0.10;
    (pair.rtp_sent, pair.rtp_dropped) = (0, 0);
    let before = pair.viewer.media.len();
    // Every frame an IDR: several packets a frame, like a desktop's frames (the str0m viewer's
    // transport feedback misses a loss at the edge of its report window, so a stream of one
    // packet a frame hides most of its loss from the host).
    let mut nacks_at_half = 0;
    for i in 0..300 {
        if i == 150 {
            nacks_at_half = pair.host.network().nacks;
        }
        let frame = src.next(&pair, true);
        pair.send_frame(&frame);
        pair.advance(Duration::from_millis(33));
    }
    let net = pair.host.network().clone();
    let copies = pair.host.counters().copies_sent;
    let frames = pair.viewer.media.len() - before;
    (net, copies, pair.host.network().nacks - nacks_at_half, frames, (pair.rtp_sent, pair.rtp_dropped))
}

#[test]
fn under_loss_packets_go_twice_and_few_are_asked_for_again() {
    let (plain, plain_copies, plain_nacks, plain_frames, (sent, dropped)) = lossy_run(false);
    assert!(dropped * 100 / sent >= 8, "the path lost {dropped} of {sent}");
    assert!(!plain.redundant && plain_copies == 0, "not allowed, never copied: {plain:?}");
    let (net, copies, nacks, frames, _) = lossy_run(true);
    eprintln!(
        "one copy: {plain_nacks} NACKs, {plain_frames} frames; two: {nacks} NACKs, {frames} frames, {copies} copies"
    );
    assert!(net.redundant, "copying under 10% loss: {net:?}");
    assert!(copies > 500, "{copies} packets sent twice");
    // The viewer reports only what both copies lost; the host reads the path's loss from it.
    // It reads low here: the str0m viewer's transport feedback misses losses at the
    // tail of its report window, and a frame's packets (then their copies) leave together, so
    // its last packets are that tail for every frame; 10% reads as 2-5% (1.8% once, in a
    // fresh-clone run: the handshake's random sizes shift which packets the loss falls on), and
    // Chromium reports the tail: 5% reads as 5-7% in bench/network.js. Read, not zero, is the
    // point here.
    assert!((0.01..=0.25).contains(&net.loss), "the path's loss read as {}", net.loss);
    assert!(plain_nacks >= 15, "a lossy path without copies: {plain_nacks} NACKs in 5 s");
    assert!(
        nacks * 4 <= plain_nacks,
        "copies leave few packets to ask for: {nacks} NACKs against {plain_nacks}"
    );
    assert!(frames >= plain_frames, "no frame lost for it: {frames} against {plain_frames}");
}

#[test]
fn without_bandwidth_estimation_there_is_no_estimate() {
    let mut pair = Pair::new();
    pair.connect();
    let mut src = Source::new();
    stream(&mut pair, &mut src, 60);
    assert_eq!(pair.host.network().estimate_bps, None);
}
