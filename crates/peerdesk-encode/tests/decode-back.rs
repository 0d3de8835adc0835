//! Each software backend's stream, decoded back with openh264's decoder, shows the picture it
//! was given; x264's intra refresh heals a lost frame without another IDR.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use openh264::decoder::Decoder;
use openh264::formats::YUVSource;
use peerdesk_capture::{Frame, TestScene};
use peerdesk_encode::convert::I420;
use peerdesk_encode::{Backend, Encoder, EncoderChoice, EncoderConfig};

const W: u32 = 640;
const H: u32 = 360;

fn software() -> Vec<Backend> {
    let mut all = vec![Backend::OpenH264];
    if peerdesk_encode::FFMPEG {
        all.push(Backend::X264);
    }
    all
}

fn make(backend: Backend, intra_refresh: bool, bitrate_bps: u32) -> Box<dyn Encoder> {
    let choice = EncoderChoice { backend: Some(backend), intra_refresh, ..EncoderChoice::default() };
    let config = EncoderConfig { width: W, height: H, fps: 60, bitrate_bps, max_size: (None, None) };
    peerdesk_encode::open(&choice, peerdesk_encode::Codec::H264, &config)
        .unwrap_or_else(|e| panic!("{backend}: {e}"))
        .encoder
}

/// Luma PSNR of a decoded picture against the source frame (converted the encoder's way).
fn psnr(decoded: &impl YUVSource, source: &Frame) -> f64 {
    let mut want = I420::new(source.width, source.height);
    want.convert_from(source).unwrap();
    let (want_y, want_stride) = want.y();
    let (got_stride, _, _) = decoded.strides();
    assert_eq!(decoded.dimensions(), (source.width as usize, source.height as usize));
    let mut sum = 0f64;
    for row in 0..source.height as usize {
        let a = &want_y[row * want_stride..][..source.width as usize];
        let b = &decoded.y()[row * got_stride..][..source.width as usize];
        sum += a.iter().zip(b).map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2)).sum::<f64>();
    }
    let mse = sum / f64::from(source.width * source.height);
    if mse == 0.0 { 99.0 } else { 10.0 * (255.0f64 * 255.0 / mse).log10() }
}

/// The moving test scene at frame `i` of 60 a second.
fn frame(scene: &TestScene, i: u64) -> Frame {
    scene.render(Duration::from_millis(i * 1000 / 60))
}

#[test]
fn every_frame_decodes_to_the_picture_it_was_made_from() {
    let scene = TestScene::new(W, H, 60).unwrap();
    for backend in software() {
        let mut enc = make(backend, false, 3_000_000);
        let mut dec = Decoder::new().unwrap();
        let (mut out, mut worst) = (0, f64::MAX);
        for i in 0..90 {
            let source = frame(&scene, i);
            let Some(e) = enc.encode(&source, false).unwrap() else {
                // openh264 may skip a frame to hold its rate; x264 never does.
                assert_ne!(backend, Backend::X264, "x264 held frame {i} back");
                continue;
            };
            out += 1;
            let picture =
                dec.decode(&e.data).unwrap().unwrap_or_else(|| panic!("{backend}: frame {i} decoded"));
            worst = worst.min(psnr(&picture, &source));
        }
        eprintln!("{backend}: {out} of 90 frames out, worst luma PSNR {worst:.1} dB");
        assert!(out >= 80, "{backend}: {out} frames");
        assert!(worst > 30.0, "{backend}: worst PSNR {worst:.1} dB");
    }
}

/// Luma PSNR of a picture decoded by FFmpeg against the source frame.
#[cfg(feature = "ffmpeg")]
fn ff_psnr(decoded: &ffmpeg_next::frame::Video, source: &Frame) -> f64 {
    struct Planes<'a>(&'a ffmpeg_next::frame::Video);
    impl YUVSource for Planes<'_> {
        fn dimensions(&self) -> (usize, usize) {
            (self.0.width() as usize, self.0.height() as usize)
        }
        fn strides(&self) -> (usize, usize, usize) {
            (self.0.stride(0), self.0.stride(1), self.0.stride(2))
        }
        fn y(&self) -> &[u8] {
            self.0.data(0)
        }
        fn u(&self) -> &[u8] {
            self.0.data(1)
        }
        fn v(&self) -> &[u8] {
            self.0.data(2)
        }
    }
    psnr(&Planes(decoded), source)
}

/// A frame is lost on the way (never decoded): FFmpeg's decoder, as a browser's would, shows
/// the damage, and x264's refresh column repaints the picture within a second without an IDR.
#[cfg(feature = "ffmpeg")]
#[test]
fn x264_intra_refresh_heals_a_lost_frame_with_no_idr_after_the_first() {
    use ffmpeg_next as ff;
    let scene = TestScene::new(W, H, 60).unwrap();
    let mut enc = make(Backend::X264, true, 2_000_000);
    let codec = ff::decoder::find(ff::codec::Id::H264).expect("FFmpeg's H.264 decoder");
    let mut dec = ff::codec::context::Context::new_with_codec(codec).decoder().video().unwrap();
    let mut picture = ff::frame::Video::empty();
    let (mut idrs, mut after_loss) = (Vec::new(), Vec::new());
    let mut largest = 0;
    for i in 0..240u64 {
        let source = frame(&scene, i);
        let e = enc.encode(&source, i == 200).unwrap().unwrap_or_else(|| panic!("x264 held frame {i} back"));
        if e.keyframe {
            idrs.push(i);
        }
        if i > 0 && i < 200 {
            largest = largest.max(e.data.len());
        }
        if i == 60 {
            continue; // lost
        }
        dec.send_packet(&ff::Packet::copy(&e.data)).unwrap();
        if dec.receive_frame(&mut picture).is_ok() && i > 60 {
            after_loss.push((i, ff_psnr(&picture, &source)));
        }
    }
    assert_eq!(idrs, vec![0, 200], "an IDR first and when asked, none in between");
    let healed: Vec<f64> =
        after_loss.iter().filter(|(i, _)| (130..200).contains(i)).map(|(_, p)| *p).collect();
    let hurt = after_loss.iter().take(10).map(|(_, p)| *p).fold(f64::MAX, f64::min);
    eprintln!(
        "worst just after the loss {hurt:.1} dB; from a second later {:.1}..{:.1} dB; largest frame {largest} bytes",
        healed.iter().copied().fold(f64::MAX, f64::min),
        healed.iter().copied().fold(0.0, f64::max)
    );
    assert!(healed.len() >= 60, "frames decoded after the refresh: {}", healed.len());
    assert!(healed.iter().all(|&p| p > 50.0), "healed by the refresh: {healed:?}");
}
