//! Choosing an encoder: the one asked for, or the first of [`Backend::ALL`] that opens and
//! encodes a test frame on this machine.

use std::time::Instant;

use peerdesk_capture::Frame;

use crate::{Backend, EncodeError, Encoder, EncoderChoice, EncoderConfig, OpenH264Encoder};

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

/// Opens the encoder `choice` asks for, for frames of `config`'s size. With a backend named,
/// that one or an error saying why it cannot run here; with none, the first that works.
pub fn open(choice: &EncoderChoice, config: &EncoderConfig) -> Result<Opened, EncodeError> {
    if let Some(backend) = choice.backend {
        let encoder = open_one(backend, choice, config)
            .map_err(|why| EncodeError::Setup(format!("--encoder {backend}: {why}")))?;
        return Ok(Opened { encoder, passed_over: Vec::new() });
    }
    let mut passed_over = Vec::new();
    for backend in Backend::ALL {
        match open_one(backend, choice, config) {
            Ok(encoder) => return Ok(Opened { encoder, passed_over }),
            Err(why) => passed_over.push((backend, why)),
        }
    }
    Err(EncodeError::Setup(format!(
        "no encoder works here: {}",
        passed_over.iter().map(|(b, why)| format!("{b}: {why}")).collect::<Vec<_>>().join("; ")
    )))
}

/// Each backend and whether it works on this machine (`Ok`: what it is) or not (`Err`: why),
/// tried at 1280x720.
pub fn list(choice: &EncoderChoice) -> Vec<(Backend, Result<&'static str, String>)> {
    let config =
        EncoderConfig { width: 1280, height: 720, fps: 60, bitrate_bps: 4_000_000, max_size: (None, None) };
    Backend::ALL.into_iter().map(|b| (b, probe(b, choice, &config).map(|()| b.describe()))).collect()
}

/// A backend's encoder, built and checked with a test frame; the stream then starts on a fresh
/// one (so its first frame is the IDR a viewer needs).
fn open_one(
    backend: Backend,
    choice: &EncoderChoice,
    config: &EncoderConfig,
) -> Result<Box<dyn Encoder>, String> {
    probe(backend, choice, config)?;
    build(backend, choice, config)
}

/// Builds the backend and encodes one test frame with it.
fn probe(backend: Backend, choice: &EncoderChoice, config: &EncoderConfig) -> Result<(), String> {
    let mut encoder = build(backend, choice, config)?;
    match encoder.encode(&test_frame(config.width, config.height), true) {
        Ok(Some(f)) if !f.data.is_empty() => Ok(()),
        Ok(_) => Err("it encoded nothing from a test frame".into()),
        Err(e) => Err(format!("it failed on a test frame: {e}")),
    }
}

fn build(
    backend: Backend,
    choice: &EncoderChoice,
    config: &EncoderConfig,
) -> Result<Box<dyn Encoder>, String> {
    let _ = choice;
    match backend {
        Backend::OpenH264 => OpenH264Encoder::new(config.clone())
            .map(|e| Box::new(e) as Box<dyn Encoder>)
            .map_err(|e| e.to_string()),
        #[cfg(feature = "ffmpeg")]
        _ => crate::FfmpegEncoder::new(backend, choice, config.clone())
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
