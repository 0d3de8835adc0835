//! The encoder's output is what Chromium's WebRTC stack expects: Annex-B, Constrained Baseline,
//! SPS and PPS in front of every IDR, IDR on request only.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use peerdesk_capture::TestScene;
use peerdesk_encode::{Encoder, EncoderConfig, OpenH264Encoder};

/// NAL unit types in an Annex-B buffer.
fn nal_types(annex_b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 3 <= annex_b.len() {
        if annex_b[i..].starts_with(&[0, 0, 1]) {
            if let Some(&h) = annex_b.get(i + 3) {
                out.push(h & 0x1f);
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    out
}

#[test]
fn idr_on_request_with_parameter_sets_and_baseline_profile() {
    let (w, h) = (640, 360);
    let scene = TestScene::new(w, h, 30).expect("scene");
    let mut enc = OpenH264Encoder::new(EncoderConfig {
        width: w,
        height: h,
        fps: 30,
        bitrate_bps: 2_000_000,
        max_size: (None, None),
    })
    .expect("encoder");
    let mut kinds = Vec::new();
    for i in 0..40u64 {
        let frame = scene.render(Duration::from_millis(i * 33));
        let force = i == 20;
        if let Some(e) = enc.encode(&frame, force).expect("encodes") {
            let types = nal_types(&e.data);
            assert!(!types.is_empty(), "frame {i} has NAL units");
            if e.keyframe {
                let sps = types.iter().position(|&t| t == 7).expect("SPS before IDR");
                let pps = types.iter().position(|&t| t == 8).expect("PPS before IDR");
                let idr = types.iter().position(|&t| t == 5).expect("IDR slice");
                assert!(sps < idr && pps < idr, "{types:?}");
                // SPS: profile_idc 66 (Baseline) with constraint_set1 (Constrained Baseline).
                let at = e.data.windows(4).position(|w| w == [0, 0, 1, 0x67]).expect("SPS start code");
                assert_eq!(e.data[at + 4], 66, "profile_idc");
                assert!(e.data[at + 5] & 0x40 != 0, "constraint_set1_flag");
            } else {
                assert!(!types.contains(&5), "non-key frame {i} has no IDR slice: {types:?}");
            }
            kinds.push((i, e.keyframe));
        }
    }
    let keys: Vec<u64> = kinds.iter().filter(|(_, k)| *k).map(|(i, _)| *i).collect();
    assert_eq!(keys, vec![0, 20], "IDR first and when forced, never otherwise");
    assert!(kinds.len() >= 35, "few frames skipped at 2 Mb/s: {}", kinds.len());
}

#[test]
fn refuses_odd_sizes() {
    assert!(
        OpenH264Encoder::new(EncoderConfig {
            width: 641,
            height: 360,
            fps: 30,
            bitrate_bps: 1_000_000,
            max_size: (None, None)
        })
        .is_err()
    );
}

#[test]
fn a_new_frame_size_restarts_the_stream_with_an_idr() {
    let mut enc = OpenH264Encoder::new(EncoderConfig {
        width: 320,
        height: 240,
        fps: 30,
        bitrate_bps: 1_000_000,
        max_size: (None, None),
    })
    .expect("encoder");
    let small = TestScene::new(320, 240, 30).expect("scene").render(Duration::ZERO);
    let big = TestScene::new(640, 480, 30).expect("scene").render(Duration::ZERO);
    assert!(enc.encode(&small, false).expect("encodes").expect("frame").keyframe);
    assert!(!enc.encode(&small, false).expect("encodes").expect("frame").keyframe);
    let e = enc.encode(&big, false).expect("encodes").expect("frame");
    assert!(e.keyframe, "first frame at the new size is an IDR");
    assert_eq!((e.width, e.height), (640, 480));
    let odd = peerdesk_capture::Frame {
        width: 641,
        height: 480,
        stride: 641 * 4,
        data: vec![0; 641 * 480 * 4],
        ..big
    };
    let e = enc.encode(&odd, false).expect("an odd size is scaled to an even one").expect("frame");
    assert_eq!((e.width, e.height), (640, 480));
}

#[test]
fn frames_larger_than_the_bound_are_scaled_down_keeping_aspect() {
    let mut enc = OpenH264Encoder::new(EncoderConfig {
        width: 640,
        height: 360,
        fps: 30,
        bitrate_bps: 1_000_000,
        max_size: (Some(640), None),
    })
    .expect("encoder");
    let big = TestScene::new(1280, 720, 30).expect("scene").render(Duration::ZERO);
    let e = enc.encode(&big, false).expect("encodes").expect("frame");
    assert_eq!((e.width, e.height), (640, 360));
    let small = TestScene::new(320, 180, 30).expect("scene").render(Duration::ZERO);
    let e = enc.encode(&small, false).expect("encodes").expect("frame");
    assert_eq!((e.width, e.height), (320, 180), "never scaled up");
}
