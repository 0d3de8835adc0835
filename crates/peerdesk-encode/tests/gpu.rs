//! The GPU backends on a machine that has the GPU: run by hand (CI machines have none, and
//! their probing and fallbacks are tested in choice.rs):
//!
//! ```sh
//! cargo test -p peerdesk-encode --features ffmpeg --test gpu -- --ignored --nocapture
//! ```
//!
//! For each of NVENC, VAAPI and QSV that opens here: every frame comes out of the call it went
//! in, an IDR first and where asked and nowhere else, the picture decoded back (FFmpeg's H.264
//! decoder) matches the source, and a lower bitrate takes hold without a keyframe. One that
//! cannot open says why and is skipped; the test fails if none opens.

#![cfg(feature = "ffmpeg")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use ffmpeg_next as ff;
use peerdesk_capture::{Frame, TestScene};
use peerdesk_encode::convert::I420;
use peerdesk_encode::{Backend, EncoderChoice, EncoderConfig};

const W: u32 = 1280;
const H: u32 = 720;

/// Luma PSNR of a decoded picture against the source.
fn psnr(decoded: &ff::frame::Video, source: &Frame) -> f64 {
    let mut want = I420::new(source.width, source.height);
    want.convert_from(source).unwrap();
    let (y, stride) = want.y();
    let (got, got_stride) = (decoded.data(0), decoded.stride(0));
    let mut sum = 0f64;
    for row in 0..H as usize {
        for x in 0..W as usize {
            sum += (f64::from(y[row * stride + x]) - f64::from(got[row * got_stride + x])).powi(2);
        }
    }
    let mse = sum / f64::from(W * H);
    if mse == 0.0 { 99.0 } else { 10.0 * (255.0f64 * 255.0 / mse).log10() }
}

/// The test scene at frame `i` with a 320x180 patch of fresh noise: content no bitrate here
/// pays for in full, so the rate asked is what the encoder makes.
fn busy(scene: &TestScene, i: u64) -> Frame {
    let mut frame = scene.render(Duration::from_millis(i * 1000 / 60));
    let mut x = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    for row in 0..180 {
        for px in &mut frame.data[row * frame.stride..row * frame.stride + 320 * 4] {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            *px = x as u8;
        }
    }
    frame
}

fn run(backend: Backend) -> Result<(), String> {
    let choice = EncoderChoice { backend: Some(backend), ..EncoderChoice::default() };
    let config =
        EncoderConfig { width: W, height: H, fps: 60, bitrate_bps: 4_000_000, max_size: (None, None) };
    let mut enc = peerdesk_encode::open(&choice, peerdesk_encode::Codec::H264, &config)
        .map_err(|e| e.to_string())?
        .encoder;
    let scene = TestScene::new(W, H, 60).unwrap();
    let codec = ff::decoder::find(ff::codec::Id::H264).expect("FFmpeg's H.264 decoder");
    let mut dec = ff::codec::context::Context::new_with_codec(codec).decoder().video().unwrap();
    let mut picture = ff::frame::Video::empty();
    let (mut idrs, mut worst, mut bytes) = (Vec::new(), f64::MAX, [0usize; 2]);
    for i in 0..240u64 {
        if i == 120 {
            enc.set_rate(1_000_000, 60, 1.0).unwrap();
        }
        let source = busy(&scene, i);
        let e =
            enc.encode(&source, i == 60).unwrap().unwrap_or_else(|| panic!("{backend}: frame {i} held back"));
        if e.keyframe {
            idrs.push(i);
        }
        if (30..120).contains(&i) {
            bytes[0] += e.data.len();
        } else if i >= 150 {
            bytes[1] += e.data.len();
        }
        dec.send_packet(&ff::Packet::copy(&e.data)).unwrap();
        dec.receive_frame(&mut picture).unwrap();
        worst = worst.min(psnr(&picture, &source));
    }
    let (high, low) = (bytes[0] * 8 * 60 / 90, bytes[1] * 8 * 60 / 90);
    eprintln!(
        "{backend}: IDRs at {idrs:?}, worst luma PSNR {worst:.1} dB, {high} b/s asked 4M, {low} b/s asked 1M"
    );
    assert_eq!(idrs, vec![0, 60], "{backend}: IDR first and when asked only");
    assert!(worst > 20.0, "{backend}: PSNR {worst:.1} (the noise patch costs some)");
    assert!(low < high * 3 / 4 && low < 1_500_000, "{backend}: 1 Mbit/s asked, {low} made ({high} at 4)");
    Ok(())
}

#[test]
#[ignore = "needs a GPU: run by hand with --ignored"]
fn each_gpu_backend_here_streams_what_a_browser_needs() {
    let mut ran = 0;
    for backend in [Backend::Nvenc, Backend::Vaapi, Backend::Qsv] {
        match run(backend) {
            Ok(()) => ran += 1,
            Err(why) => eprintln!("{backend}: not here: {why}"),
        }
    }
    assert!(ran > 0, "no GPU backend opened on this machine");
}
