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
use crate::{Backend, EncodeError, EncodedFrame, Encoder, EncoderConfig, check_size};

/// The openh264 encoder, set up for real-time streaming: Constrained Baseline, no B-frames,
/// rate control by bitrate with frame skipping, IDR only when asked.
pub struct OpenH264Encoder {
    /// The settings the encoder is built with; `bitrate_bps` is the ceiling rate control works
    /// under (openh264 caps a live change at the rate it was built with).
    config: EncoderConfig,
    encoder: H264,
    /// Rate control's current bitrate, frame rate and scale (applied live, or at a rebuild).
    bitrate_bps: u32,
    fps: u32,
    scale: f64,
    /// Whether openh264 has set itself up (it does at the first frame): options can be changed
    /// only after that.
    initialized: bool,
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

/// An encoder for real-time streaming at bitrate `bps` and `fps` frames a second.
fn build(bps: u32, fps: u32) -> Result<H264, EncodeError> {
    let h264 = H264Config::new()
        .usage_type(UsageType::CameraVideoRealTime)
        .profile(Profile::Baseline)
        .rate_control_mode(RateControlMode::Bitrate)
        .bitrate(BitRate::from_bps(bps))
        .max_frame_rate(FrameRate::from_hz(fps as f32))
        .skip_frames(true)
        .complexity(Complexity::Low)
        .intra_frame_period(IntraFramePeriod::from_num_frames(0))
        .sps_pps_strategy(SpsPpsStrategy::ConstantId)
        .scene_change_detect(false)
        .vui(VuiConfig::bt709());
    H264::with_api_config(OpenH264API::from_source(), h264).map_err(|e| EncodeError::Setup(e.to_string()))
}

impl OpenH264Encoder {
    /// An encoder for frames of exactly `config.width` x `config.height`.
    pub fn new(config: EncoderConfig) -> Result<Self, EncodeError> {
        check_size(config.width, config.height).map_err(EncodeError::Setup)?;
        let encoder = build(config.bitrate_bps, config.fps)?;
        Ok(Self {
            picture: I420::new(config.width, config.height),
            bitrate_bps: config.bitrate_bps,
            fps: config.fps,
            scale: 1.0,
            initialized: false,
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
        let frame = self.scaler.to_stream_size(frame, self.config.max_size, self.scale)?;
        let frame = frame.as_ref();
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
            self.encoder = build(self.bitrate_bps, self.fps)?;
            self.rebuild = false;
            self.initialized = false;
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
        self.initialized = true;
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

    fn set_rate(&mut self, bitrate_bps: u32, fps: u32, scale: f64) -> Result<(), EncodeError> {
        let (bitrate_bps, fps, scale) = crate::bounded_rate(&self.config, bitrate_bps, fps, scale);
        if (bitrate_bps, fps) != (self.bitrate_bps, self.fps) {
            self.bitrate_bps = bitrate_bps;
            self.fps = fps;
            if !self.initialized {
                // Not set up yet: set it up with the new rate at the next frame instead.
                self.rebuild = true;
            } else if !self.rebuild {
                self.apply_rate().map_err(EncodeError::Setup)?;
            }
        }
        // A new scale is a new picture size: the next frame restarts the stream at that size.
        self.scale = scale;
        Ok(())
    }

    fn rate(&self) -> (u32, u32, f64) {
        (self.bitrate_bps, self.fps, self.scale)
    }

    fn backend(&self) -> Backend {
        Backend::OpenH264
    }
}

impl OpenH264Encoder {
    /// Tells the running encoder the current bitrate and frame rate. Both change rate control's
    /// budget per frame from the next frame on, without a keyframe. The layer's ceiling goes to
    /// the configured bitrate first (the encoder was built with the rate of its day as ceiling).
    fn apply_rate(&mut self) -> Result<(), String> {
        let mut ceiling = openh264_sys2::SBitrateInfo {
            iLayer: openh264_sys2::SPATIAL_LAYER_0,
            iBitrate: i32::try_from(self.config.bitrate_bps).unwrap_or(i32::MAX),
        };
        let mut bitrate = openh264_sys2::SBitrateInfo {
            iLayer: openh264_sys2::SPATIAL_LAYER_ALL,
            iBitrate: i32::try_from(self.bitrate_bps).unwrap_or(i32::MAX),
        };
        let mut fps = self.fps as f32;
        #[allow(unsafe_code)]
        // SAFETY: the encoder is set up (`initialized`: it encoded a frame), the option ids
        // match the pointed-to types openh264 documents for them (SBitrateInfo for the two
        // bitrates, float for ENCODER_OPTION_FRAME_RATE), and openh264 only reads them during
        // the call. None is an option the Rust wrapper relies on: it reads back no bitrate or
        // frame rate (a size change makes it set itself up again from its own config, which is
        // why a new size goes through a rebuild here).
        let codes = unsafe {
            let api = self.encoder.raw_api();
            [
                api.set_option(openh264_sys2::ENCODER_OPTION_MAX_BITRATE, (&raw mut ceiling).cast()),
                api.set_option(openh264_sys2::ENCODER_OPTION_BITRATE, (&raw mut bitrate).cast()),
                api.set_option(openh264_sys2::ENCODER_OPTION_FRAME_RATE, (&raw mut fps).cast()),
            ]
        };
        if codes != [0; 3] {
            return Err(format!(
                "openh264 refused bitrate {} b/s or frame rate {} (codes {codes:?})",
                self.bitrate_bps, self.fps
            ));
        }
        Ok(())
    }
}
