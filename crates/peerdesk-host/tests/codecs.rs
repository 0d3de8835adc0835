//! A host making H.264 and AV1: each frame is encoded only in the codecs someone watches, each
//! codec's viewers get its frames (starting on a keyframe), and a codec whose last viewer left
//! stops costing anything. Real openh264 and libaom, a real pipeline, a paced test scene.

#![cfg(feature = "av1")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use peerdesk_capture::{CaptureError, Capturer, Frame, TestScene};
use peerdesk_encode::{AomEncoder, Backend, Codec, EncoderConfig, OpenH264Encoder};
use peerdesk_host::pipeline::{Pipeline, StreamSetup};
use peerdesk_session::VideoFrame;
use tokio::sync::broadcast::{Receiver, error::TryRecvError};

const W: u32 = 480;
const H: u32 = 270;

/// The moving test scene at 60 fps, paced like a real source.
struct Scene {
    scene: TestScene,
    start: Instant,
    next: Instant,
}

impl Capturer for Scene {
    fn size(&self) -> (u32, u32) {
        (W, H)
    }

    fn next_frame(&mut self, deadline: Instant) -> Result<Option<Frame>, CaptureError> {
        if self.next > deadline {
            std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
            return Ok(None);
        }
        std::thread::sleep(self.next.saturating_duration_since(Instant::now()));
        self.next += Duration::from_micros(16_667);
        Ok(Some(self.scene.render(self.start.elapsed())))
    }
}

fn config() -> EncoderConfig {
    EncoderConfig { width: W, height: H, fps: 60, bitrate_bps: 1_000_000, max_size: (None, None) }
}

fn pipeline() -> Pipeline {
    let now = Instant::now();
    let source = Scene { scene: TestScene::new(W, H, 60).unwrap(), start: now, next: now };
    let h264 = Box::new(OpenH264Encoder::new(config()).unwrap());
    let av1 = Box::new(AomEncoder::new(config()).unwrap());
    // A second H.264 encoder is left out: one per codec.
    let again = Box::new(OpenH264Encoder::new(config()).unwrap());
    let setup = StreamSetup { fps: 60, max_bps: 1_000_000, max_size: (None, None), rate_min_bps: None };
    Pipeline::start_codecs(Box::new(source), vec![h264, av1, again], setup).unwrap()
}

/// Frames received over `secs` seconds.
fn collect(rx: &mut Receiver<VideoFrame>, secs: f64) -> Vec<VideoFrame> {
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let mut frames = Vec::new();
    while Instant::now() < end {
        match rx.try_recv() {
            Ok(f) => frames.push(f),
            Err(TryRecvError::Empty) => std::thread::sleep(Duration::from_millis(2)),
            Err(TryRecvError::Lagged(_)) => {}
            Err(TryRecvError::Closed) => break,
        }
    }
    frames
}

/// Whether an AV1 temporal unit starts with a temporal delimiter and holds a sequence header.
fn av1_keyframe_unit(data: &[u8]) -> bool {
    let obu_type = |header: u8| (header >> 3) & 0x0f;
    // The temporal delimiter (type 2, size 0) and then the sequence header (type 1).
    data.len() > 3 && obu_type(data[0]) == 2 && data[1] == 0 && obu_type(data[2]) == 1
}

#[test]
fn each_codec_is_encoded_for_its_own_viewers_only() {
    let p = pipeline();
    assert_eq!(p.encoders(), [(Codec::H264, Backend::OpenH264), (Codec::Av1, Backend::Aom)]);
    let mut h264 = p.subscribe(Codec::H264);
    let mut av1 = p.subscribe(Codec::Av1);

    // An AV1 viewer alone: AV1 frames, no H.264 made.
    let av1_viewer = p.add_viewer(Codec::Av1);
    let got = collect(&mut av1, 1.0);
    assert!(got.len() >= 30, "AV1 frames in a second: {}", got.len());
    assert!(got[0].keyframe && av1_keyframe_unit(&got[0].data), "the first AV1 frame is a keyframe");
    assert_eq!(got.iter().filter(|f| f.keyframe).count(), 1, "no keyframe but the first");
    assert!(collect(&mut h264, 0.2).is_empty(), "nobody watches H.264: none made");
    assert_eq!(p.encoders_in_use(), "aom");

    // An H.264 viewer joins: both codecs, H.264 from a keyframe (an IDR: NAL type 5).
    let h264_viewer = p.add_viewer(Codec::H264);
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| collect(&mut av1, 1.0));
        let b = s.spawn(|| collect(&mut h264, 1.0));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert!(a.len() >= 30 && b.len() >= 30, "both play: AV1 {}, H.264 {}", a.len(), b.len());
    assert!(b[0].keyframe && b[0].data.windows(5).any(|w| w[..4] == [0, 0, 0, 1] && w[4] & 0x1f == 5));
    assert_eq!(a.iter().filter(|f| f.keyframe).count(), 0, "the AV1 viewer is not disturbed");
    assert_eq!(p.encoders_in_use(), "openh264+aom");

    // A keyframe asked for in one codec comes in that codec only.
    p.request_keyframe(Codec::Av1);
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| collect(&mut av1, 0.5));
        let b = s.spawn(|| collect(&mut h264, 0.5));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(a.iter().filter(|f| f.keyframe).count(), 1, "one AV1 keyframe, as asked");
    assert_eq!(b.iter().filter(|f| f.keyframe).count(), 0, "no H.264 keyframe");

    // The AV1 viewer leaves: AV1 stops, H.264 goes on.
    drop(av1_viewer);
    collect(&mut av1, 0.1);
    assert!(collect(&mut av1, 0.3).is_empty(), "no AV1 once its last viewer left");
    assert!(collect(&mut h264, 0.3).len() >= 10);
    assert_eq!(p.encoders_in_use(), "openh264");
    drop(h264_viewer);
}
