//! The host's encoder flags from the command line: `--list-encoders` names each backend of each
//! codec and whether it works here, `--encoder vaapi` without a GPU stops with the reason,
//! `--encoder` and `--codec` with an unknown name list the names, `--codec av1` without AV1
//! says how to get it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

fn peerdesk(args: &[&str]) -> (bool, String) {
    let out =
        Command::new(env!("CARGO_BIN_EXE_peerdesk")).args(args).env("RUST_LOG", "info").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

fn has_gpu() -> bool {
    std::fs::read_dir("/dev/dri").is_ok_and(|d| {
        d.filter_map(Result::ok).any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
    }) || std::path::Path::new("/dev/nvidiactl").exists()
}

#[test]
fn list_encoders_names_each_and_what_auto_picks() {
    let (ok, out) = peerdesk(&["host", "--list-encoders"]);
    assert!(ok, "{out}");
    for name in ["nvenc", "vaapi", "qsv", "x264", "openh264"] {
        assert!(out.lines().any(|l| l.trim_start().starts_with(name)), "{name} listed:\n{out}");
    }
    if !has_gpu() {
        let pick = if peerdesk_encode::FFMPEG { "x264" } else { "openh264" };
        let line = out.lines().find(|l| l.contains("<- picked")).unwrap_or_default();
        assert!(line.trim_start().starts_with(pick), "auto picks {pick}:\n{out}");
        assert!(out.contains("vaapi     no: no VAAPI device found"), "{out}");
        // AV1: the GPUs' encoders, then libaom's.
        let av1 = &out[out.find("AV1 encoders").expect("an AV1 section")..];
        let aom = av1.lines().find(|l| l.trim_start().starts_with("aom")).unwrap_or_default();
        if peerdesk_encode::AV1 {
            assert!(aom.contains("works: libaom AV1, software  <- picked"), "{out}");
        } else {
            assert!(aom.contains("no: this peerdesk was built without libaom"), "{out}");
        }
    }
}

#[test]
fn a_missing_vaapi_device_stops_the_host_with_the_reason() {
    if has_gpu() {
        return;
    }
    // The server is never reached: the encoder is opened first.
    let (ok, out) = peerdesk(&[
        "host",
        "--room",
        "enc",
        "--server",
        "http://127.0.0.1:9",
        "--encoder",
        "vaapi",
        "--ephemeral-links",
    ]);
    assert!(!ok, "{out}");
    let want = if peerdesk_encode::FFMPEG { "no VAAPI device found" } else { "built without FFmpeg" };
    assert!(out.contains("--encoder vaapi") && out.contains(want), "{out}");
}

#[test]
fn an_unknown_encoder_name_lists_the_names() {
    let (ok, out) = peerdesk(&["host", "--room", "enc", "--encoder", "h265"]);
    assert!(!ok);
    assert!(
        out.contains("no encoder named \"h265\"; one of nvenc, vaapi, qsv, x264, openh264, aom"),
        "{out}"
    );
    let (ok, out) = peerdesk(&["host", "--room", "enc", "--codec", "vp9"]);
    assert!(!ok);
    assert!(out.contains("no codec named \"vp9\"; one of auto, h264, av1"), "{out}");
}

#[test]
fn av1_only_encoder_with_h264_only_codec_is_refused_and_av1_without_it_says_how() {
    if has_gpu() {
        return;
    }
    let host = |extra: &[&str]| {
        let mut args = vec!["host", "--room", "enc", "--server", "http://127.0.0.1:9", "--ephemeral-links"];
        args.extend_from_slice(extra);
        peerdesk(&args)
    };
    let (ok, out) = host(&["--encoder", "aom", "--codec", "h264"]);
    assert!(!ok && out.contains("--encoder aom makes AV1 only"), "{out}");
    if !peerdesk_encode::AV1 {
        let (ok, out) = host(&["--codec", "av1"]);
        assert!(!ok && out.contains("--codec av1") && out.contains("--features av1"), "{out}");
    }
}
