//! H.264 through Cisco's openh264 (built from source, BSD licensed).

use std::time::Instant;

use openh264::OpenH264API;
use openh264::Timestamp;
use openh264::encoder::{
    BitRate, Complexity, Encoder as H264, EncoderConfig as H264Config, FrameRate, FrameType,
    IntraFramePeriod, Profile, RateControlMode, SpsPpsStrategy, UsageType, VuiConfig,
};
use openh264::formats::YUVSource;
use peerdesk_capture::Frame;
use tracing::debug;

use crate::convert::I420;
use crate::{EncodeError, EncodedFrame, Encoder, EncoderConfig};

/// The openh264 encoder, set up for real-time streaming: Constrained Baseline, no B-frames,
/// rate control by bitrate with frame skipping, IDR only when asked.
pub struct OpenH264Encoder {
    config: EncoderConfig,
    encoder: H264,
    picture: I420,
    started: Instant,
    rebuild: bool,
    scaler: crate::scale::Scaler,
}

impl std::fmt::Debug for OpenH264Encoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenH264Encoder").field("config", &self.config).finish_non_exhaustive()
    }
}

fn build(config: &EncoderConfig) -> Result<H264, EncodeError> {
    let h264 = H264Config::new()
        .usage_type(UsageType::CameraVideoRealTime)
        .profile(Profile::Baseline)
        .rate_control_mode(RateControlMode::Bitrate)
        .bitrate(BitRate::from_bps(config.bitrate_bps))
        .max_frame_rate(FrameRate::from_hz(config.fps as f32))
        .skip_frames(true)
        .complexity(Complexity::Low)
        .intra_frame_period(IntraFramePeriod::from_num_frames(0))
        .sps_pps_strategy(SpsPpsStrategy::ConstantId)
        .scene_change_detect(false)
        .vui(VuiConfig::bt709());
    H264::with_api_config(OpenH264API::from_source(), h264).map_err(|e| EncodeError::Setup(e.to_string()))
}

/// 4:2:0 video needs positive, even sizes.
fn check_size(width: u32, height: u32) -> Result<(), String> {
    if width == 0 || height == 0 || !width.is_multiple_of(2) || !height.is_multiple_of(2) {
        return Err(format!("size {width}x{height} must be positive and even"));
    }
    Ok(())
}

impl OpenH264Encoder {
    /// An encoder for frames of exactly `config.width` x `config.height`.
    pub fn new(config: EncoderConfig) -> Result<Self, EncodeError> {
        check_size(config.width, config.height).map_err(EncodeError::Setup)?;
        let encoder = build(&config)?;
        Ok(Self {
            picture: I420::new(config.width, config.height),
            config,
            encoder,
            started: Instant::now(),
            rebuild: false,
            scaler: crate::scale::Scaler::default(),
        })
    }
}

struct Source<'a>(&'a I420);

impl YUVSource for Source<'_> {
    fn dimensions(&self) -> (usize, usize) {
        (self.0.width as usize, self.0.height as usize)
    }

    fn strides(&self) -> (usize, usize, usize) {
        (self.0.y().1, self.0.u().1, self.0.v().1)
    }

    fn y(&self) -> &[u8] {
        self.0.y().0
    }

    fn u(&self) -> &[u8] {
        self.0.u().0
    }

    fn v(&self) -> &[u8] {
        self.0.v().0
    }
}

impl Encoder for OpenH264Encoder {
    fn encode(&mut self, frame: &Frame, force_keyframe: bool) -> Result<Option<EncodedFrame>, EncodeError> {
        let t0 = Instant::now();
        let (w, h) = crate::scale::fit((frame.width, frame.height), self.config.max_size);
        let scaled;
        let frame = if (w, h) == (frame.width, frame.height) {
            frame
        } else {
            scaled = self.scaler.scale(frame, w, h)?;
            &scaled
        };
        if (frame.width, frame.height) != (self.config.width, self.config.height) {
            // The source changed size (a resolution change): start a new stream at the new size.
            check_size(frame.width, frame.height).map_err(EncodeError::Encode)?;
            debug!("frame size changed to {}x{}; restarting the encoder", frame.width, frame.height);
            self.config.width = frame.width;
            self.config.height = frame.height;
            self.picture = I420::new(frame.width, frame.height);
            self.rebuild = true;
        }
        self.picture.convert_from(frame)?;
        let convert_time = t0.elapsed();

        let mut force = force_keyframe;
        if self.rebuild {
            self.encoder = build(&self.config)?;
            self.rebuild = false;
            force = true;
        }
        if force {
            self.encoder.force_intra_frame();
        }
        let t1 = Instant::now();
        let ts = Timestamp::from_millis(
            frame.captured_at.saturating_duration_since(self.started).as_millis() as u64,
        );
        let stream = self
            .encoder
            .encode_at(&Source(&self.picture), ts)
            .map_err(|e| EncodeError::Encode(e.to_string()))?;
        let kind = stream.frame_type();
        let data = stream.to_vec();
        let encode_time = t1.elapsed();
        if data.is_empty() || matches!(kind, FrameType::Skip | FrameType::Invalid) {
            debug!("encoder skipped a frame");
            return Ok(None);
        }
        Ok(Some(EncodedFrame {
            data,
            keyframe: matches!(kind, FrameType::IDR),
            width: frame.width,
            height: frame.height,
            captured_at: frame.captured_at,
            capture_time: frame.capture_time,
            convert_time,
            encode_time,
        }))
    }

    fn set_bitrate(&mut self, bps: u32) {
        // openh264's safe API cannot change the bitrate of a running encoder; rebuild it before
        // the next frame (which becomes an IDR). Rate control (a later issue) will call this rarely.
        if bps != self.config.bitrate_bps {
            self.config.bitrate_bps = bps;
            self.rebuild = true;
        }
    }
}
