//! libaom's AV1 stream, as the host makes it: every frame out of the call it went in, decoded
//! back (libaom's decoder) to the picture it was made from, a keyframe with its sequence
//! header only at the start and when asked, a live bitrate change without a keyframe, a new
//! size restarting the stream with a keyframe.

#![cfg(feature = "av1")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use peerdesk_capture::{Frame, TestScene};
use peerdesk_encode::convert::I420;
use peerdesk_encode::{Av1Decoder, Backend, Codec, DecodedPicture, Encoder, EncoderChoice, EncoderConfig};

fn make(width: u32, height: u32, bitrate_bps: u32) -> Box<dyn Encoder> {
    let choice = EncoderChoice { backend: Some(Backend::Aom), ..EncoderChoice::default() };
    let config = EncoderConfig { width, height, fps: 60, bitrate_bps, max_size: (None, None) };
    let enc = peerdesk_encode::open(&choice, Codec::Av1, &config).expect("libaom opens").encoder;
    assert_eq!((enc.backend(), enc.codec()), (Backend::Aom, Codec::Av1));
    enc
}

/// The OBU types of a temporal unit (low-overhead format: every OBU has its size).
fn obu_types(mut data: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    while let Some(&header) = data.first() {
        assert_eq!(header & 0x80, 0, "forbidden bit");
        assert_ne!(header & 0x02, 0, "every OBU carries its size");
        types.push((header >> 3) & 0x0f);
        let mut i = 1 + usize::from(header & 0x04 != 0);
        let (mut size, mut shift) = (0usize, 0);
        loop {
            let b = data[i];
            size |= usize::from(b & 0x7f) << shift;
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
            shift += 7;
        }
        data = &data[i + size..];
    }
    types
}

const SEQUENCE_HEADER: u8 = 1;

/// Luma PSNR of a decoded picture against the source frame (converted the encoder's way).
fn psnr(decoded: &DecodedPicture, source: &Frame) -> f64 {
    let mut want = I420::new(source.width, source.height);
    want.convert_from(source).unwrap();
    let (want_y, want_stride) = want.y();
    assert_eq!((decoded.width, decoded.height), (source.width, source.height));
    let w = source.width as usize;
    let mut sum = 0f64;
    for row in 0..source.height as usize {
        let a = &want_y[row * want_stride..][..w];
        let b = &decoded.y[row * w..][..w];
        sum += a.iter().zip(b).map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2)).sum::<f64>();
    }
    let mse = sum / f64::from(source.width * source.height);
    if mse == 0.0 { 99.0 } else { 10.0 * (255.0f64 * 255.0 / mse).log10() }
}

fn frame(scene: &TestScene, i: u64) -> Frame {
    scene.render(Duration::from_millis(i * 1000 / 60))
}

#[test]
fn every_frame_comes_out_at_once_and_decodes_to_its_picture() {
    let scene = TestScene::new(640, 360, 60).unwrap();
    let mut enc = make(640, 360, 2_000_000);
    let mut dec = Av1Decoder::new().unwrap();
    let mut worst = f64::MAX;
    let mut keyframes = Vec::new();
    for i in 0..90 {
        let source = frame(&scene, i);
        let e = enc.encode(&source, i == 45).unwrap().unwrap_or_else(|| panic!("frame {i} held back"));
        let types = obu_types(&e.data);
        assert_eq!(e.keyframe, types.contains(&SEQUENCE_HEADER), "frame {i}: {types:?}");
        if e.keyframe {
            keyframes.push(i);
        }
        let picture = dec.decode(&e.data).unwrap().unwrap_or_else(|| panic!("frame {i} shows nothing"));
        worst = worst.min(psnr(&picture, &source));
    }
    eprintln!("aom: worst luma PSNR {worst:.1} dB, keyframes {keyframes:?}");
    assert_eq!(keyframes, [0, 45], "a keyframe at the start and where asked, none otherwise");
    assert!(worst > 30.0, "worst PSNR {worst:.1} dB");
}

/// The test scene with a patch of fresh noise: content no bitrate here fully pays for.
fn busy_frame(scene: &TestScene, i: u64) -> Frame {
    let mut frame = frame(scene, i);
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

/// Bytes and keyframes of `n` busy frames from `first`.
fn run(enc: &mut dyn Encoder, scene: &TestScene, first: u64, n: u64) -> (usize, usize) {
    let (mut bytes, mut keys) = (0, 0);
    for i in first..first + n {
        let e = enc.encode(&busy_frame(scene, i), false).unwrap().expect("a frame each call");
        bytes += e.data.len();
        keys += usize::from(e.keyframe);
    }
    (bytes, keys)
}

#[test]
fn the_bitrate_changes_live_without_a_keyframe() {
    let scene = TestScene::new(640, 360, 60).unwrap();
    let mut enc = make(640, 360, 2_000_000);
    run(enc.as_mut(), &scene, 0, 30);
    let (full, _) = run(enc.as_mut(), &scene, 30, 120);
    enc.set_rate(500_000, 60, 1.0).unwrap();
    run(enc.as_mut(), &scene, 150, 30);
    let (low, keys) = run(enc.as_mut(), &scene, 180, 120);
    let (full_bps, low_bps) = (full * 8 / 2, low * 8 / 2);
    eprintln!("aom: asked 2 Mbit/s: {full_bps}; asked 0.5 Mbit/s: {low_bps}");
    assert_eq!(keys, 0, "a bitrate change needs no keyframe");
    assert!((1_100_000..=2_600_000).contains(&full_bps), "2 Mbit/s asked, {full_bps} made");
    assert!((250_000..=700_000).contains(&low_bps), "0.5 Mbit/s asked, {low_bps} made");
    assert_eq!(enc.rate(), (500_000, 60, 1.0));
    enc.set_rate(50_000_000, 120, 1.0).unwrap();
    assert_eq!(enc.rate(), (2_000_000, 60, 1.0), "never above what it was made with");
}

#[test]
fn a_new_size_restarts_the_stream_with_a_keyframe() {
    let mut enc = make(640, 360, 2_000_000);
    let big = TestScene::new(640, 360, 60).unwrap();
    let small = TestScene::new(320, 180, 60).unwrap();
    let mut dec = Av1Decoder::new().unwrap();
    for i in 0..5 {
        let e = enc.encode(&frame(&big, i), false).unwrap().unwrap();
        dec.decode(&e.data).unwrap();
    }
    let e = enc.encode(&frame(&small, 5), false).unwrap().unwrap();
    assert!(e.keyframe && (e.width, e.height) == (320, 180));
    let picture = dec.decode(&e.data).unwrap().unwrap();
    assert_eq!((picture.width, picture.height), (320, 180));
    // A smaller scale asked by rate control: the same.
    enc.set_rate(1_000_000, 60, 0.5).unwrap();
    let e = enc.encode(&frame(&small, 6), false).unwrap().unwrap();
    assert!(e.keyframe && (e.width, e.height) == (160, 90), "{}x{}", e.width, e.height);
}

#[test]
fn garbage_is_refused_by_the_decoder_without_harm() {
    let mut dec = Av1Decoder::new().unwrap();
    assert!(dec.decode(&[0xff; 64]).is_err());
    let mut enc = make(320, 180, 1_000_000);
    let e =
        enc.encode(&TestScene::new(320, 180, 60).unwrap().render(Duration::ZERO), false).unwrap().unwrap();
    assert!(dec.decode(&e.data).unwrap().is_some(), "a keyframe after garbage decodes");
}
