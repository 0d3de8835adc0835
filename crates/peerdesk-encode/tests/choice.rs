//! Choosing an encoder on this machine: `auto` takes the first backend that opens and encodes a
//! test frame, and says why it passed the others over; a backend named that cannot run here is
//! an error that says why. CI machines have no GPU: there `auto` must pick x264 (openh264 in a
//! build without FFmpeg). On a machine with a GPU the first two tests say so and check nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use peerdesk_encode::{Backend, EncoderChoice, EncoderConfig};

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
    let opened = peerdesk_encode::open(&EncoderChoice::default(), &CONFIG).unwrap();
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
    let err = peerdesk_encode::open(&vaapi, &CONFIG).unwrap_err().to_string();
    let want = if peerdesk_encode::FFMPEG { "no VAAPI device found" } else { "built without FFmpeg" };
    assert!(err.contains("--encoder vaapi") && err.contains(want), "{err}");
    if peerdesk_encode::FFMPEG {
        let elsewhere = EncoderChoice { vaapi_device: Some("/dev/dri/renderD199".into()), ..vaapi };
        let err = peerdesk_encode::open(&elsewhere, &CONFIG).unwrap_err().to_string();
        assert!(err.contains("/dev/dri/renderD199 does not exist"), "{err}");
    }
}

#[test]
fn the_list_says_for_every_backend_whether_it_works_here() {
    let list = peerdesk_encode::list(&EncoderChoice::default());
    assert_eq!(list.iter().map(|(b, _)| *b).collect::<Vec<_>>(), Backend::ALL);
    let works = |b: Backend| list.iter().any(|(l, r)| *l == b && r.is_ok());
    assert!(works(Backend::OpenH264), "{list:?}");
    assert_eq!(works(Backend::X264), peerdesk_encode::FFMPEG, "{list:?}");
    for (b, r) in &list {
        if let Err(why) = r {
            assert!(!why.is_empty(), "{b}: a reason");
        }
    }
}
