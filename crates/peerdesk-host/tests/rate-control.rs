//! Rate control end to end inside the host: a viewer's low bandwidth estimate reaches the encode
//! thread, which lowers the bitrate, halves the frame rate and shrinks the picture of a busy
//! source, and climbs back when the estimate recovers. Real openh264, a real pipeline; the
//! source paints a patch of fresh noise 60 times a second (content that uses any budget here).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use peerdesk_capture::{CaptureError, Capturer, Frame};
use peerdesk_encode::{EncodeError, EncodedFrame, Encoder, EncoderConfig, OpenH264Encoder};
use peerdesk_host::pipeline::{Pipeline, StreamSetup};
use peerdesk_host::rate::{Limit, NetworkReport};
use peerdesk_proto::{PeerId, StreamRequest};
use tokio::sync::broadcast::error::TryRecvError;

const W: u32 = 640;
const H: u32 = 480;

/// A grey picture with a 128x96 patch of fresh noise, at 60 fps, paced like a real source.
struct Noise {
    next: Instant,
    seed: u64,
}

impl Capturer for Noise {
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
        let mut data = vec![128u8; (W * H * 4) as usize];
        for row in 0..96 {
            let start = row * (W * 4) as usize;
            for px in &mut data[start..start + 128 * 4] {
                self.seed ^= self.seed << 13;
                self.seed ^= self.seed >> 7;
                self.seed ^= self.seed << 17;
                *px = self.seed as u8;
            }
        }
        Ok(Some(Frame {
            width: W,
            height: H,
            stride: (W * 4) as usize,
            data,
            captured_at: Instant::now(),
            capture_time: Duration::ZERO,
        }))
    }
}

/// Frames (width, height) the pipeline broadcast over `secs` seconds.
fn collect(rx: &mut tokio::sync::broadcast::Receiver<peerdesk_session::VideoFrame>, secs: f64) -> Vec<usize> {
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let mut sizes = Vec::new();
    while Instant::now() < end {
        match rx.try_recv() {
            Ok(f) => sizes.push(f.data.len()),
            Err(TryRecvError::Empty) => std::thread::sleep(Duration::from_millis(2)),
            Err(TryRecvError::Lagged(_)) => {}
            Err(TryRecvError::Closed) => break,
        }
    }
    sizes
}

/// A stand-in for an encoder on a host too busy for the frame rate: the real one, and 25 ms of
/// the thread's time gone before each frame (60 fps leaves 16.7).
struct Slow(OpenH264Encoder);

impl Encoder for Slow {
    fn encode(&mut self, frame: &Frame, force_keyframe: bool) -> Result<Option<EncodedFrame>, EncodeError> {
        let start = Instant::now();
        std::thread::sleep(Duration::from_millis(25));
        let mut out = self.0.encode(frame, force_keyframe)?;
        if let Some(e) = out.as_mut() {
            e.encode_time = start.elapsed();
        }
        Ok(out)
    }
    fn set_rate(&mut self, bitrate_bps: u32, fps: u32, scale: f64) -> Result<(), EncodeError> {
        self.0.set_rate(bitrate_bps, fps, scale)
    }
    fn rate(&self) -> (u32, u32, f64) {
        self.0.rate()
    }
    fn backend(&self) -> peerdesk_encode::Backend {
        self.0.backend()
    }
}

/// A 640x480 openh264 pipeline, at most 60 fps and 2 Mbit/s, on the noise source;
/// `rate_min_bps`: rate control's floor, `None` for none.
fn noise_pipeline(rate_min_bps: Option<u32>, seed: u64) -> Pipeline {
    let (encoder, setup) = noise_encoder(rate_min_bps);
    Pipeline::start(Box::new(Noise { next: Instant::now(), seed }), Box::new(encoder), setup).unwrap()
}

fn noise_encoder(rate_min_bps: Option<u32>) -> (OpenH264Encoder, StreamSetup) {
    let encoder = OpenH264Encoder::new(EncoderConfig {
        width: W,
        height: H,
        fps: 60,
        bitrate_bps: 2_000_000,
        max_size: (None, None),
    })
    .unwrap();
    let setup = StreamSetup { fps: 60, max_bps: 2_000_000, max_size: (None, None), rate_min_bps };
    (encoder, setup)
}

#[test]
fn a_host_too_slow_for_the_frame_rate_lowers_it_to_what_it_encodes_and_keeps_the_size() {
    let (encoder, setup) = noise_encoder(Some(50_000));
    let source = Box::new(Noise { next: Instant::now(), seed: 0x6A09_E667_F3BC_C908 });
    let pipeline = Pipeline::start(source, Box::new(Slow(encoder)), setup).unwrap();
    let _viewer = pipeline.add_viewer(peerdesk_encode::Codec::H264);
    let mut rx = pipeline.subscribe(peerdesk_encode::Codec::H264);
    // A clean path with room to spare: nothing of this is the network's.
    let mut report = pipeline.network().join();
    report.update(NetworkReport { estimate_bps: Some(20_000_000), ..Default::default() });
    // Too slow for 1.5 s, then the step: give it 3 s.
    collect(&mut rx, 3.0);
    pipeline.stats().take();
    let frames = collect(&mut rx, 2.0);
    let w = pipeline.stats().take();
    let (d, _) = w.rate.expect("a rate decision");
    let why = w.why.unwrap_or_default();
    eprintln!("slow encoder: {d:?}, {} frames in 2 s: {why}", frames.len());
    assert_eq!(d.limit, Limit::Encoder, "{why}");
    assert_eq!(d.scale, 1.0, "the size stays");
    // 25 ms and the encoder's own ~1-3 ms: 1 / 0.027 = 37 frames a second, 35 in steps of 5.
    assert!((25..=35).contains(&d.fps), "what it can encode: {d:?}");
    assert!(
        why.starts_with(&format!("frame rate {}: this host needs ", d.fps))
            && why.ends_with("ms to encode a frame"),
        "{why}"
    );
    // Nothing is held back for it: it encodes back to back, about what it was told.
    let fps = frames.len() as f64 / 2.0;
    assert!(fps > 0.8 * f64::from(d.fps) && fps <= f64::from(d.fps) + 5.0, "sent {fps} fps for {}", d.fps);
    assert_eq!(d.bitrate_bps, 2_000_000, "the network's share is untouched");
}

#[test]
fn a_low_estimate_lowers_rate_frame_rate_and_size_and_a_good_one_brings_them_back() {
    let pipeline = noise_pipeline(Some(50_000), 0x9E37_79B9_7F4A_7C15);
    let _viewer = pipeline.add_viewer(peerdesk_encode::Codec::H264);
    let mut rx = pipeline.subscribe(peerdesk_encode::Codec::H264);
    let mut report = pipeline.network().join();

    // A fast link: the full 2 Mbit/s at 60 fps and full size.
    report.update(NetworkReport { estimate_bps: Some(20_000_000), ..Default::default() });
    collect(&mut rx, 1.0);
    pipeline.stats().take();
    let frames = collect(&mut rx, 2.0);
    let w = pipeline.stats().take();
    let (d, net) = w.rate.expect("a rate decision");
    assert_eq!((d.bitrate_bps, d.fps, d.scale), (2_000_000, 60, 1.0));
    assert_eq!(net.estimate_bps, Some(20_000_000));
    let full_fps = frames.len() as f64 / 2.0;
    eprintln!(
        "full rate: {full_fps} fps, {} bytes a frame",
        frames.iter().sum::<usize>() / frames.len().max(1)
    );
    assert!(full_fps > 40.0, "about 60 frames a second at full rate: {full_fps}");

    // 100 kbit/s: 85 usable, under 640x480's floor at 60 fps (184k) and at 30 (92k): 30 fps at
    // 3/4 size (52k). The noise uses all of it, so the policy takes the steps.
    report.update(NetworkReport { estimate_bps: Some(100_000), ..Default::default() });
    collect(&mut rx, 1.5);
    pipeline.stats().take();
    let frames = collect(&mut rx, 2.0);
    let w = pipeline.stats().take();
    let (d, _) = w.rate.expect("a rate decision");
    assert_eq!((d.bitrate_bps, d.fps, d.scale), (85_000, 30, 0.75));
    let fps = w.frames as f64 / 2.0;
    let bps = frames.iter().sum::<usize>() as f64 * 8.0 / 2.0;
    eprintln!("low: {fps} fps, {bps} b/s");
    assert!((24.0..=32.0).contains(&fps), "about 30 frames a second: {fps}");
    assert!(bps < 170_000.0, "about 85 kbit/s: {bps}");

    // The link recovers: one step at a time, full rate again within about 35 s (10% a second
    // from 85k to 2M, each step after 2 s of room); checked at the end.
    report.update(NetworkReport { estimate_bps: Some(20_000_000), ..Default::default() });
    let deadline = Instant::now() + Duration::from_secs(50);
    loop {
        collect(&mut rx, 1.0);
        let (d, _) = pipeline.stats().take().rate.expect("a rate decision");
        if (d.fps, d.scale) == (60, 1.0) && d.bitrate_bps == 2_000_000 {
            break;
        }
        assert!(Instant::now() < deadline, "not back at full rate: {d:?}");
    }
}

#[test]
fn the_controllers_request_bounds_size_frame_rate_and_bitrate_until_withdrawn() {
    // No rate control (--fixed-bitrate): the request alone shapes the stream.
    let pipeline = noise_pipeline(None, 0x2545_F491_4F6C_DD1D);
    let _viewer = pipeline.add_viewer(peerdesk_encode::Codec::H264);
    let mut rx = pipeline.subscribe(peerdesk_encode::Codec::H264);
    let state = pipeline.state();
    collect(&mut rx, 0.5);
    assert_eq!(state.borrow().full, (W, H), "the full size is known from the frames");

    let peer = PeerId(7);
    pipeline.request(peer, StreamRequest { height: Some(240), fps: Some(20), max_kbps: Some(500) });
    collect(&mut rx, 0.5);
    pipeline.stats().take();
    collect(&mut rx, 2.0);
    let w = pipeline.stats().take();
    let (d, _) = w.rate.expect("the settings in force");
    assert_eq!((d.bitrate_bps, d.fps, d.scale), (500_000, 20, 0.5));
    let fps = w.frames as f64 / 2.0;
    assert!((16.0..=22.0).contains(&fps), "about 20 frames a second: {fps}");

    // Over the host's own limits: held to them.
    pipeline.request(peer, StreamRequest { height: Some(1080), fps: Some(120), max_kbps: Some(50_000) });
    collect(&mut rx, 0.5);
    let (d, _) = pipeline.stats().take().rate.expect("the settings in force");
    assert_eq!((d.bitrate_bps, d.fps, d.scale), (2_000_000, 60, 1.0));

    // Another viewer's withdrawal changes nothing; the controller's own brings the host's back.
    pipeline.request(peer, StreamRequest { height: None, fps: Some(30), max_kbps: None });
    pipeline.withdraw(PeerId(8));
    collect(&mut rx, 0.5);
    assert_eq!(pipeline.stats().take().rate.unwrap().0.fps, 30);
    pipeline.withdraw(peer);
    collect(&mut rx, 0.5);
    assert_eq!(pipeline.stats().take().rate.unwrap().0.fps, 60);
    assert_eq!(state.borrow().request, None);
}
