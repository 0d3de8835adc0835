//! Choosing an encoder on this machine: `auto` takes the first backend that opens and encodes a
//! test frame, and says why it passed the others over; a backend named that cannot run here is
//! an error that says why. CI machines have no GPU: there `auto` must pick x264 (openh264 in a
//! build without FFmpeg). On a machine with a GPU the first two tests say so and check nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use peerdesk_encode::{Backend, Codec, CodecChoice, EncoderChoice, EncoderConfig};

const CONFIG: EncoderConfig =
    EncoderConfig { width: 640, height: 360, fps: 60, bitrate_bps: 2_000_000, max_size: (None, None) };

fn has_gpu() -> bool {
    let render_node = std::fs::read_dir("/dev/dri").is_ok_and(|d| {
        d.filter_map(Result::ok).any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
    });
    render_node || Path::new("/dev/nvidiactl").exists()
}

#[test]
fn auto_without_a_gpu_picks_the_cheapest_software_encoder_and_says_why_not_the_gpus() {
    if has_gpu() {
        eprintln!("this machine has a GPU: what auto picks depends on it");
        return;
    }
    let opened =
        peerdesk_encode::open(&EncoderChoice::default(), peerdesk_encode::Codec::H264, &CONFIG).unwrap();
    let passed: Vec<Backend> = opened.passed_over.iter().map(|(b, _)| *b).collect();
    let why = |b: Backend| opened.passed_over.iter().find(|(p, _)| *p == b).map(|(_, w)| w.clone()).unwrap();
    eprintln!("{opened:?}");
    if peerdesk_encode::FFMPEG {
        assert_eq!(opened.encoder.backend(), Backend::X264);
        assert_eq!(passed, [Backend::Nvenc, Backend::Vaapi, Backend::Qsv]);
        assert!(why(Backend::Nvenc).contains("no NVIDIA GPU driver"), "{}", why(Backend::Nvenc));
        assert!(why(Backend::Vaapi).contains("no VAAPI device found"), "{}", why(Backend::Vaapi));
        assert!(why(Backend::Qsv).contains("no Intel GPU found"), "{}", why(Backend::Qsv));
    } else {
        assert_eq!(opened.encoder.backend(), Backend::OpenH264);
        assert!(why(Backend::X264).contains("built without FFmpeg"), "{}", why(Backend::X264));
    }
}

#[test]
fn a_gpu_asked_for_that_is_not_here_is_an_error_that_says_why() {
    if has_gpu() {
        eprintln!("this machine has a GPU");
        return;
    }
    let vaapi = EncoderChoice { backend: Some(Backend::Vaapi), ..EncoderChoice::default() };
    let err = peerdesk_encode::open(&vaapi, peerdesk_encode::Codec::H264, &CONFIG).unwrap_err().to_string();
    let want = if peerdesk_encode::FFMPEG { "no VAAPI device found" } else { "built without FFmpeg" };
    assert!(err.contains("--encoder vaapi") && err.contains(want), "{err}");
    if peerdesk_encode::FFMPEG {
        let elsewhere = EncoderChoice { vaapi_device: Some("/dev/dri/renderD199".into()), ..vaapi };
        let err =
            peerdesk_encode::open(&elsewhere, peerdesk_encode::Codec::H264, &CONFIG).unwrap_err().to_string();
        assert!(err.contains("/dev/dri/renderD199 does not exist"), "{err}");
    }
}

#[test]
fn the_list_says_for_every_backend_of_each_codec_whether_it_works_here() {
    let list = peerdesk_encode::list(&EncoderChoice::default());
    let of = |c: Codec| list.iter().filter(|(l, ..)| *l == c).map(|(_, b, _)| *b).collect::<Vec<_>>();
    assert_eq!(of(Codec::H264), Backend::for_codec(Codec::H264).collect::<Vec<_>>());
    assert_eq!(of(Codec::Av1), [Backend::Nvenc, Backend::Vaapi, Backend::Qsv, Backend::Aom]);
    let works = |c: Codec, b: Backend| list.iter().any(|(lc, l, r)| *lc == c && *l == b && r.is_ok());
    assert!(works(Codec::H264, Backend::OpenH264), "{list:?}");
    assert_eq!(works(Codec::H264, Backend::X264), peerdesk_encode::FFMPEG, "{list:?}");
    assert_eq!(works(Codec::Av1, Backend::Aom), peerdesk_encode::AV1, "{list:?}");
    for (c, b, r) in &list {
        if let Err(why) = r {
            assert!(!why.is_empty(), "{c} {b}: a reason");
        }
    }
}

#[test]
fn av1_is_opened_only_by_backends_that_make_it() {
    // x264 makes no AV1: asked for AV1 with x264 named, the choice falls to the AV1 backends.
    let x264 = EncoderChoice { backend: Some(Backend::X264), ..EncoderChoice::default() };
    let opened = peerdesk_encode::open(&x264, Codec::Av1, &CONFIG);
    assert_eq!(opened.is_ok(), peerdesk_encode::AV1, "{opened:?}");
    match opened {
        Ok(opened) => {
            assert_eq!(opened.encoder.backend(), Backend::Aom);
            assert_eq!(opened.encoder.codec(), Codec::Av1);
            // The GPUs were tried first, each passed over with a reason.
            let passed: Vec<Backend> = opened.passed_over.iter().map(|(b, _)| *b).collect();
            assert_eq!(passed, [Backend::Nvenc, Backend::Vaapi, Backend::Qsv], "{:?}", opened.passed_over);
        }
        Err(e) => {
            assert!(e.to_string().contains("no AV1 encoder works here"), "{e}");
        }
    }
    // Named, aom makes AV1 or says how to get it.
    let aom = EncoderChoice { backend: Some(Backend::Aom), ..EncoderChoice::default() };
    match peerdesk_encode::open(&aom, Codec::Av1, &CONFIG) {
        Ok(opened) => assert_eq!(opened.encoder.backend(), Backend::Aom),
        Err(e) => assert!(e.to_string().contains("--features av1"), "{e}"),
    }
}

#[test]
fn codec_names_parse() {
    assert_eq!("auto".parse::<CodecChoice>(), Ok(CodecChoice::Auto));
    assert_eq!("H264".parse::<CodecChoice>(), Ok(CodecChoice::H264));
    assert_eq!("av1".parse::<CodecChoice>(), Ok(CodecChoice::Av1));
    assert!("vp9".parse::<CodecChoice>().unwrap_err().contains("one of auto, h264, av1"));
    assert_eq!("aom".parse::<Backend>(), Ok(Backend::Aom));
}
