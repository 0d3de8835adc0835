//! Choosing an encoder for a codec: the one asked for, or the first of
//! [`Backend::for_codec`] that opens and encodes a test frame on this machine.

use std::time::Instant;

use peerdesk_capture::Frame;

use crate::{Backend, Codec, EncodeError, Encoder, EncoderChoice, EncoderConfig, OpenH264Encoder};

/// An encoder ready to stream, and why the backends tried before it were passed over.
pub struct Opened {
    /// The encoder.
    pub encoder: Box<dyn Encoder>,
    /// Each backend tried first and why it could not be used here, in words.
    pub passed_over: Vec<(Backend, String)>,
}

impl std::fmt::Debug for Opened {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opened")
            .field("backend", &self.encoder.backend())
            .field("passed_over", &self.passed_over)
            .finish()
    }
}

/// Opens an encoder of `codec` for frames of `config`'s size: the backend `choice` names when
/// it makes that codec (or an error saying why it cannot run here), else the first that works.
pub fn open(choice: &EncoderChoice, codec: Codec, config: &EncoderConfig) -> Result<Opened, EncodeError> {
    if let Some(backend) = choice.backend.filter(|b| b.makes(codec)) {
        let encoder = open_one(backend, codec, choice, config)
            .map_err(|why| EncodeError::Setup(format!("--encoder {backend}: {why}")))?;
        return Ok(Opened { encoder, passed_over: Vec::new() });
    }
    open_first(Backend::for_codec(codec), codec, choice, config).map_err(|passed_over| {
        EncodeError::Setup(format!(
            "no {codec} encoder works here: {}",
            passed_over.iter().map(|(b, why)| format!("{b}: {why}")).collect::<Vec<_>>().join("; ")
        ))
    })
}

/// Opens the first of `backends` that makes `codec` and encodes a test frame here; or each
/// backend tried and why it could not be used, in words.
pub fn open_first(
    backends: impl IntoIterator<Item = Backend>,
    codec: Codec,
    choice: &EncoderChoice,
    config: &EncoderConfig,
) -> Result<Opened, Vec<(Backend, String)>> {
    let mut passed_over = Vec::new();
    for backend in backends.into_iter().filter(|b| b.makes(codec)) {
        match open_one(backend, codec, choice, config) {
            Ok(encoder) => return Ok(Opened { encoder, passed_over }),
            Err(why) => passed_over.push((backend, why)),
        }
    }
    Err(passed_over)
}

/// Each codec's backends and whether each works on this machine (`Ok`: what it is) or not
/// (`Err`: why), tried at 1280x720.
pub fn list(choice: &EncoderChoice) -> Vec<(Codec, Backend, Result<&'static str, String>)> {
    let config =
        EncoderConfig { width: 1280, height: 720, fps: 60, bitrate_bps: 4_000_000, max_size: (None, None) };
    Codec::ALL
        .into_iter()
        .flat_map(|c| Backend::for_codec(c).map(move |b| (c, b)))
        .map(|(c, b)| (c, b, probe(b, c, choice, &config).map(|()| b.describe())))
        .collect()
}

/// A backend's encoder, built and checked with a test frame; the stream then starts on a fresh
/// one (so its first frame is the IDR a viewer needs).
fn open_one(
    backend: Backend,
    codec: Codec,
    choice: &EncoderChoice,
    config: &EncoderConfig,
) -> Result<Box<dyn Encoder>, String> {
    probe(backend, codec, choice, config)?;
    build(backend, codec, choice, config)
}

/// Builds the backend and encodes one test frame with it.
fn probe(
    backend: Backend,
    codec: Codec,
    choice: &EncoderChoice,
    config: &EncoderConfig,
) -> Result<(), String> {
    let mut encoder = build(backend, codec, choice, config)?;
    match encoder.encode(&test_frame(config.width, config.height), true) {
        Ok(Some(f)) if !f.data.is_empty() => Ok(()),
        Ok(_) => Err("it encoded nothing from a test frame".into()),
        Err(e) => Err(format!("it failed on a test frame: {e}")),
    }
}

fn build(
    backend: Backend,
    codec: Codec,
    choice: &EncoderChoice,
    config: &EncoderConfig,
) -> Result<Box<dyn Encoder>, String> {
    let _ = (choice, codec);
    match backend {
        Backend::OpenH264 => OpenH264Encoder::new(config.clone())
            .map(|e| Box::new(e) as Box<dyn Encoder>)
            .map_err(|e| e.to_string()),
        #[cfg(feature = "av1")]
        Backend::Aom => crate::AomEncoder::new(config.clone())
            .map(|e| Box::new(e) as Box<dyn Encoder>)
            .map_err(|e| e.to_string()),
        #[cfg(not(feature = "av1"))]
        Backend::Aom => Err("this peerdesk was built without libaom (build it with `--features av1`)".into()),
        #[cfg(feature = "ffmpeg")]
        _ => crate::FfmpegEncoder::new(backend, codec, choice, config.clone())
            .map(|e| Box::new(e) as Box<dyn Encoder>)
            .map_err(|e| match e {
                EncodeError::Setup(why) => why,
                other => other.to_string(),
            }),
        #[cfg(not(feature = "ffmpeg"))]
        _ => Err("this peerdesk was built without FFmpeg (build it with `--features ffmpeg`)".into()),
    }
}

/// A grey gradient of this size.
fn test_frame(width: u32, height: u32) -> Frame {
    let stride = width as usize * 4;
    let mut data = vec![0u8; stride * height as usize];
    for (i, px) in data.chunks_exact_mut(4).enumerate() {
        let v = ((i % width as usize) * 255 / width.max(1) as usize) as u8;
        px.copy_from_slice(&[v, v, v, 255]);
    }
    Frame {
        width,
        height,
        stride,
        data,
        captured_at: Instant::now(),
        capture_time: std::time::Duration::ZERO,
    }
}
