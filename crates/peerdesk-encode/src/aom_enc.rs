//! AV1 in software through libaom's real-time mode (the encoder Chromium's WebRTC uses for
//! AV1), and its decoder for tests and benchmarks.
//!
//! Why libaom and not SVT-AV1: Debian 12's SVT-AV1 1.4 in its low-delay mode holds every frame
//! until the next one arrives (a frame of latency, measured: frame 0 comes out when frame 1 goes
//! in) and turns a keyframe asked for into an inter frame ("force key frame is only supported
//! with RA CRF/CQP mode"), so a viewer who joins or loses a packet would wait for the next
//! periodic keyframe. libaom encodes each frame in the call it goes in, makes a keyframe when
//! asked and takes a new bitrate on the running encoder (`aom_codec_enc_config_set`), without
//! a keyframe. Through FFmpeg's wrapper libaom would need a restart (a keyframe) for every
//! bitrate change, so it is called directly (the `aom-sys` bindings).
//!
//! Settings: real-time usage, speed 10, no lag (no lookahead, no frame held), constant bitrate
//! with a three-frame buffer, no dropped frames, screen-content tools (palette, intra block
//! copy) for desktops, keyframes only when asked.

use std::time::Instant;

use aom_sys as aom;
use peerdesk_capture::Frame;
use tracing::debug;
use yuv::{BufferStoreMut, YuvConversionMode, YuvPlanarImageMut, YuvRange, YuvStandardMatrix};

use crate::{Backend, EncodeError, EncodedFrame, Encoder, EncoderConfig};

/// libaom's speed in real-time mode: 10 is its fastest.
const SPEED: i32 = 10;

/// Timestamp ticks a second (RTP's video clock).
const TICKS: u32 = 90_000;

/// An aom error code, in words.
fn aom_error(code: aom::aom_codec_err_t::Type) -> String {
    #[allow(unsafe_code)]
    // SAFETY: aom_codec_err_to_string returns a static NUL-terminated string for any code.
    let text = unsafe { std::ffi::CStr::from_ptr(aom::aom_codec_err_to_string(code)) };
    text.to_string_lossy().into_owned()
}

/// An open libaom context (encoder or decoder), destroyed on drop.
struct Context(Box<aom::aom_codec_ctx_t>);

// SAFETY: the context is owned by this value alone and used from one thread at a time (`Send`,
// not `Sync`); libaom keeps no thread-local state between calls.
#[allow(unsafe_code)]
unsafe impl Send for Context {}

impl Drop for Context {
    fn drop(&mut self) {
        #[allow(unsafe_code)]
        // SAFETY: the context was initialised by aom_codec_enc_init_ver / dec_init_ver (only
        // then is a Context made) and is destroyed once.
        unsafe {
            aom::aom_codec_destroy(&mut *self.0);
        }
    }
}

/// A picture buffer of libaom's, freed on drop.
struct Image(*mut aom::aom_image_t);

// SAFETY: as for Context: owned alone, used from one thread at a time.
#[allow(unsafe_code)]
unsafe impl Send for Image {}

impl Drop for Image {
    fn drop(&mut self) {
        #[allow(unsafe_code)]
        // SAFETY: made by aom_img_alloc, freed once.
        unsafe {
            aom::aom_img_free(self.0)
        }
    }
}

/// An AV1 encoder of libaom's.
pub struct AomEncoder {
    config: EncoderConfig,
    ctx: Context,
    cfg: aom::aom_codec_enc_cfg_t,
    image: Image,
    bitrate_bps: u32,
    fps: u32,
    scale: f64,
    last_pts: i64,
    scaler: crate::scale::Scaler,
}

// SAFETY: the config's pointers (two-pass statistics, left null) point at nothing the encoder
// shares; the context and image are owned alone (see `Context`).
#[allow(unsafe_code)]
unsafe impl Send for AomEncoder {}

impl std::fmt::Debug for AomEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AomEncoder").field("config", &self.config).finish_non_exhaustive()
    }
}

/// libaom's settings for this size, bitrate and frame rate.
fn settings(config: &EncoderConfig, bps: u32) -> Result<aom::aom_codec_enc_cfg_t, EncodeError> {
    #[allow(unsafe_code)]
    // SAFETY: a zeroed config is valid input for aom_codec_enc_config_default, which fills it.
    let mut cfg: aom::aom_codec_enc_cfg_t = unsafe { std::mem::zeroed() };
    #[allow(unsafe_code)]
    // SAFETY: the interface is libaom's static AV1 encoder; `cfg` is a valid out-pointer.
    let ret = unsafe {
        aom::aom_codec_enc_config_default(aom::aom_codec_av1_cx(), &mut cfg, aom::AOM_USAGE_REALTIME)
    };
    if ret != aom::aom_codec_err_t::AOM_CODEC_OK {
        return Err(EncodeError::Setup(format!("libaom has no real-time AV1 settings: {}", aom_error(ret))));
    }
    cfg.g_w = config.width;
    cfg.g_h = config.height;
    cfg.g_timebase = aom::aom_rational { num: 1, den: TICKS as i32 };
    cfg.g_lag_in_frames = 0;
    cfg.g_threads = std::thread::available_parallelism().map_or(2, |n| n.get().min(8) as u32);
    cfg.g_pass = aom::aom_enc_pass::AOM_RC_ONE_PASS;
    cfg.g_error_resilient = 0;
    cfg.rc_end_usage = aom::aom_rc_mode::AOM_CBR;
    cfg.rc_target_bitrate = (bps / 1000).max(10);
    cfg.rc_dropframe_thresh = 0;
    cfg.rc_resize_mode = 0;
    cfg.rc_undershoot_pct = 50;
    cfg.rc_overshoot_pct = 50;
    cfg.rc_min_quantizer = 2;
    cfg.rc_max_quantizer = 63;
    // The buffer in milliseconds: three frames, as the FFmpeg backends (no frame much larger
    // than the rate allows).
    let frame_ms = 1000 / config.fps.max(1);
    cfg.rc_buf_sz = 3 * frame_ms;
    cfg.rc_buf_initial_sz = 2 * frame_ms;
    cfg.rc_buf_optimal_sz = 2 * frame_ms;
    cfg.kf_mode = aom::aom_kf_mode::AOM_KF_DISABLED;
    cfg.kf_max_dist = u32::MAX >> 1;
    Ok(cfg)
}

/// Sets one of libaom's integer controls.
fn control(ctx: &mut Context, id: aom::aome_enc_control_id::Type, value: i32) -> Result<(), EncodeError> {
    #[allow(unsafe_code)]
    // SAFETY: every control set here takes one int (aom_codec_control_type_* of each is int or
    // unsigned int), passed as the variadic argument.
    let ret = unsafe { aom::aom_codec_control(&mut *ctx.0, id as i32, value) };
    if ret != aom::aom_codec_err_t::AOM_CODEC_OK {
        return Err(EncodeError::Setup(format!("libaom refused control {id}: {}", aom_error(ret))));
    }
    Ok(())
}

/// Opens libaom for `cfg`, tuned for real time.
fn open(cfg: &aom::aom_codec_enc_cfg_t) -> Result<Context, EncodeError> {
    #[allow(unsafe_code)]
    // SAFETY: a zeroed context is what aom_codec_enc_init_ver expects to fill; the Box keeps its
    // address fixed while libaom holds pointers into it.
    let mut ctx = Box::new(unsafe { std::mem::zeroed::<aom::aom_codec_ctx_t>() });
    #[allow(unsafe_code)]
    // SAFETY: valid context, interface and config; the ABI version is the one the bindings
    // were made from.
    let ret = unsafe {
        aom::aom_codec_enc_init_ver(
            &mut *ctx,
            aom::aom_codec_av1_cx(),
            cfg,
            0,
            aom::AOM_ENCODER_ABI_VERSION as i32,
        )
    };
    if ret != aom::aom_codec_err_t::AOM_CODEC_OK {
        return Err(EncodeError::Setup(format!("libaom would not open: {}", aom_error(ret))));
    }
    let mut ctx = Context(ctx);
    use aom::aome_enc_control_id as c;
    control(&mut ctx, c::AOME_SET_CPUUSED, SPEED)?;
    control(&mut ctx, c::AV1E_SET_TUNE_CONTENT, aom::aom_tune_content::AOM_CONTENT_SCREEN as i32)?;
    control(&mut ctx, c::AV1E_SET_ENABLE_PALETTE, 1)?;
    control(&mut ctx, c::AV1E_SET_ROW_MT, 1)?;
    // Two tile columns (log2 1) let both threads work on one frame.
    control(&mut ctx, c::AV1E_SET_TILE_COLUMNS, i32::from(cfg.g_threads > 1 && cfg.g_w >= 640))?;
    // Cyclic refresh: the quantiser spends bits on changed blocks first (libaom's RTC mode).
    control(&mut ctx, c::AV1E_SET_AQ_MODE, 3)?;
    control(&mut ctx, c::AV1E_SET_ENABLE_CDEF, 1)?;
    control(&mut ctx, c::AV1E_SET_COEFF_COST_UPD_FREQ, 3)?;
    control(&mut ctx, c::AV1E_SET_MODE_COST_UPD_FREQ, 3)?;
    control(&mut ctx, c::AV1E_SET_MV_COST_UPD_FREQ, 3)?;
    control(&mut ctx, c::AV1E_SET_COLOR_PRIMARIES, aom::aom_color_primaries::AOM_CICP_CP_BT_709 as i32)?;
    control(
        &mut ctx,
        c::AV1E_SET_TRANSFER_CHARACTERISTICS,
        aom::aom_transfer_characteristics::AOM_CICP_TC_BT_709 as i32,
    )?;
    control(
        &mut ctx,
        c::AV1E_SET_MATRIX_COEFFICIENTS,
        aom::aom_matrix_coefficients::AOM_CICP_MC_BT_709 as i32,
    )?;
    control(&mut ctx, c::AV1E_SET_COLOR_RANGE, 0)?;
    Ok(ctx)
}

/// A picture buffer of this size, I420.
fn image(width: u32, height: u32) -> Result<Image, EncodeError> {
    #[allow(unsafe_code)]
    // SAFETY: a null image asks libaom to allocate the descriptor and the planes.
    let img = unsafe {
        aom::aom_img_alloc(std::ptr::null_mut(), aom::aom_img_fmt::AOM_IMG_FMT_I420, width, height, 32)
    };
    if img.is_null() {
        return Err(EncodeError::Setup(format!("cannot allocate a {width}x{height} picture")));
    }
    Ok(Image(img))
}

impl AomEncoder {
    /// An encoder for frames of `config`'s size (others are scaled to fit `max_size`, or
    /// restart the encoder at their own size).
    pub fn new(config: EncoderConfig) -> Result<Self, EncodeError> {
        crate::check_size(config.width, config.height).map_err(EncodeError::Setup)?;
        let cfg = settings(&config, config.bitrate_bps)?;
        let ctx = open(&cfg)?;
        let image = image(config.width, config.height)?;
        debug!("libaom open at {}x{}, {} kb/s", config.width, config.height, config.bitrate_bps / 1000);
        Ok(Self {
            bitrate_bps: config.bitrate_bps,
            fps: config.fps,
            scale: 1.0,
            last_pts: 0,
            scaler: crate::scale::Scaler::default(),
            config,
            ctx,
            cfg,
            image,
        })
    }

    /// BGRA into the picture buffer.
    fn convert(&mut self, frame: &Frame) -> Result<(), EncodeError> {
        let stride =
            u32::try_from(frame.stride).map_err(|_| EncodeError::Convert("stride too large".into()))?;
        #[allow(unsafe_code)]
        // SAFETY: the image was allocated at this size (I420, 8 bit): plane 0 holds `stride[0]`
        // times the height, planes 1 and 2 `stride[i]` times half the height (rounded up); the
        // planes are distinct allocations' parts and do not overlap; nothing else touches them
        // while these slices live.
        let (y, u, v, strides) = unsafe {
            let img = &*self.image.0;
            let h = img.h as usize;
            let ch = h.div_ceil(2);
            (
                std::slice::from_raw_parts_mut(img.planes[0], img.stride[0] as usize * h),
                std::slice::from_raw_parts_mut(img.planes[1], img.stride[1] as usize * ch),
                std::slice::from_raw_parts_mut(img.planes[2], img.stride[2] as usize * ch),
                img.stride,
            )
        };
        let mut planar = YuvPlanarImageMut {
            y_plane: BufferStoreMut::Borrowed(y),
            y_stride: strides[0] as u32,
            u_plane: BufferStoreMut::Borrowed(u),
            u_stride: strides[1] as u32,
            v_plane: BufferStoreMut::Borrowed(v),
            v_stride: strides[2] as u32,
            width: frame.width,
            height: frame.height,
        };
        yuv::bgra_to_yuv420(
            &mut planar,
            &frame.data,
            stride,
            YuvRange::Limited,
            YuvStandardMatrix::Bt709,
            YuvConversionMode::Balanced,
        )
        .map_err(|e| EncodeError::Convert(e.to_string()))
    }

    /// Restarts the encoder for a new size (its first frame is then a keyframe).
    fn restart(&mut self, width: u32, height: u32) -> Result<(), EncodeError> {
        crate::check_size(width, height).map_err(EncodeError::Encode)?;
        debug!("frame size changed to {width}x{height}; restarting libaom");
        self.config.width = width;
        self.config.height = height;
        let mut cfg = settings(&self.config, self.bitrate_bps)?;
        cfg.rc_target_bitrate = self.cfg.rc_target_bitrate;
        // Drop the old context before opening the new one.
        self.ctx = open(&cfg)?;
        self.cfg = cfg;
        self.image = image(width, height)?;
        Ok(())
    }
}

impl Encoder for AomEncoder {
    fn encode(&mut self, frame: &Frame, force_keyframe: bool) -> Result<Option<EncodedFrame>, EncodeError> {
        let t0 = Instant::now();
        let frame = self.scaler.to_stream_size(frame, self.config.max_size, self.scale)?;
        let frame = frame.as_ref();
        let mut force = force_keyframe;
        if (frame.width, frame.height) != (self.config.width, self.config.height) {
            self.restart(frame.width, frame.height)?;
            force = true;
        }
        self.convert(frame)?;
        let convert_time = t0.elapsed();

        let t1 = Instant::now();
        // Frames are stamped at the frame rate rate control set, not at their capture times:
        // libaom's rate control takes its frame rate from the stamps, and each frame is to get
        // `bitrate / fps` bits however early or late it came (as x264 at constant bitrate).
        let duration = TICKS / self.fps.max(1);
        let pts = self.last_pts + i64::from(duration);
        self.last_pts = pts;
        let duration = std::ffi::c_ulong::from(duration);
        let flags = if force { i64::from(aom::AOM_EFLAG_FORCE_KF) } else { 0 };
        #[allow(unsafe_code)]
        // SAFETY: open context, an image of the configured size; libaom reads it during the
        // call only.
        let ret = unsafe { aom::aom_codec_encode(&mut *self.ctx.0, self.image.0, pts, duration, flags) };
        if ret != aom::aom_codec_err_t::AOM_CODEC_OK {
            return Err(EncodeError::Encode(format!("libaom failed: {}", aom_error(ret))));
        }
        let mut data = Vec::new();
        let mut keyframe = false;
        let mut iter: aom::aom_codec_iter_t = std::ptr::null();
        loop {
            #[allow(unsafe_code)]
            // SAFETY: iterating the packets of the last encode call; each is valid until the
            // next libaom call on this context, and copied out before it.
            let packet = unsafe { aom::aom_codec_get_cx_data(&mut *self.ctx.0, &mut iter) };
            if packet.is_null() {
                break;
            }
            #[allow(unsafe_code)]
            // SAFETY: a frame packet's `frame` member is the active one; buf/sz describe bytes
            // libaom owns until its next call.
            unsafe {
                if (*packet).kind == aom::aom_codec_cx_pkt_kind::AOM_CODEC_CX_FRAME_PKT {
                    let f = (*packet).data.frame;
                    data.extend_from_slice(std::slice::from_raw_parts(f.buf.cast::<u8>(), f.sz));
                    keyframe |= f.flags & aom::AOM_FRAME_IS_KEY != 0;
                }
            }
        }
        let encode_time = t1.elapsed();
        if data.is_empty() {
            return Ok(None);
        }
        Ok(Some(EncodedFrame {
            data,
            keyframe,
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
        self.scale = scale;
        if (bitrate_bps, fps) == (self.bitrate_bps, self.fps) {
            return Ok(());
        }
        self.bitrate_bps = bitrate_bps;
        self.fps = fps;
        // libaom's rate control takes the frame rate from the frames' times and durations; the
        // bitrate and the buffer (three frames at the new rate) change on the running encoder.
        self.cfg.rc_target_bitrate = (bitrate_bps / 1000).max(10);
        let frame_ms = 1000 / fps.max(1);
        self.cfg.rc_buf_sz = 3 * frame_ms;
        self.cfg.rc_buf_initial_sz = 2 * frame_ms;
        self.cfg.rc_buf_optimal_sz = 2 * frame_ms;
        #[allow(unsafe_code)]
        // SAFETY: open context and a config of the same size it was opened with.
        let ret = unsafe { aom::aom_codec_enc_config_set(&mut *self.ctx.0, &self.cfg) };
        if ret != aom::aom_codec_err_t::AOM_CODEC_OK {
            return Err(EncodeError::Encode(format!("libaom refused the new rate: {}", aom_error(ret))));
        }
        Ok(())
    }

    fn rate(&self) -> (u32, u32, f64) {
        (self.bitrate_bps, self.fps, self.scale)
    }

    fn backend(&self) -> Backend {
        Backend::Aom
    }

    fn codec(&self) -> crate::Codec {
        crate::Codec::Av1
    }
}

/// A decoded picture, I420, tightly packed planes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedPicture {
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
    /// Luma, `width * height` bytes.
    pub y: Vec<u8>,
    /// Blue difference, a quarter of the luma's size (rounded up).
    pub u: Vec<u8>,
    /// Red difference.
    pub v: Vec<u8>,
}

/// libaom's AV1 decoder, for tests and benchmarks (the browser decodes what is streamed).
pub struct Av1Decoder {
    ctx: Context,
}

impl std::fmt::Debug for Av1Decoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Av1Decoder").finish_non_exhaustive()
    }
}

impl Av1Decoder {
    /// A decoder.
    pub fn new() -> Result<Self, String> {
        #[allow(unsafe_code)]
        // SAFETY: as for the encoder: a zeroed boxed context filled by the init call.
        let mut ctx = Box::new(unsafe { std::mem::zeroed::<aom::aom_codec_ctx_t>() });
        #[allow(unsafe_code)]
        // SAFETY: valid context and libaom's static decoder interface; no config (defaults).
        let ret = unsafe {
            aom::aom_codec_dec_init_ver(
                &mut *ctx,
                aom::aom_codec_av1_dx(),
                std::ptr::null(),
                0,
                aom::AOM_DECODER_ABI_VERSION as i32,
            )
        };
        if ret != aom::aom_codec_err_t::AOM_CODEC_OK {
            return Err(format!("libaom's decoder would not open: {}", aom_error(ret)));
        }
        Ok(Self { ctx: Context(ctx) })
    }

    /// Decodes one temporal unit; the picture it shows, if any.
    pub fn decode(&mut self, data: &[u8]) -> Result<Option<DecodedPicture>, String> {
        #[allow(unsafe_code)]
        // SAFETY: open decoder; libaom reads `data` during the call only.
        let ret = unsafe {
            aom::aom_codec_decode(&mut *self.ctx.0, data.as_ptr(), data.len(), std::ptr::null_mut())
        };
        if ret != aom::aom_codec_err_t::AOM_CODEC_OK {
            return Err(format!("libaom could not decode: {}", aom_error(ret)));
        }
        let mut iter: aom::aom_codec_iter_t = std::ptr::null();
        let mut last = None;
        loop {
            #[allow(unsafe_code)]
            // SAFETY: pictures of the last decode call, valid until the next call; copied out.
            let img = unsafe { aom::aom_codec_get_frame(&mut *self.ctx.0, &mut iter) };
            if img.is_null() {
                break;
            }
            #[allow(unsafe_code)]
            // SAFETY: an 8-bit I420 picture (what the encoder makes): each plane has `stride`
            // bytes a row over its rows; only `d_w` (half for chroma) of each row is read.
            let picture = unsafe {
                let img = &*img;
                if img.fmt != aom::aom_img_fmt::AOM_IMG_FMT_I420 {
                    return Err(format!("picture format {} is not 8-bit 4:2:0", img.fmt));
                }
                let (w, h) = (img.d_w as usize, img.d_h as usize);
                let plane = |i: usize, pw: usize, ph: usize| {
                    let mut out = Vec::with_capacity(pw * ph);
                    for row in 0..ph {
                        let start = img.planes[i].add(row * img.stride[i] as usize);
                        out.extend_from_slice(std::slice::from_raw_parts(start, pw));
                    }
                    out
                };
                DecodedPicture {
                    width: img.d_w,
                    height: img.d_h,
                    y: plane(0, w, h),
                    u: plane(1, w.div_ceil(2), h.div_ceil(2)),
                    v: plane(2, w.div_ceil(2), h.div_ceil(2)),
                }
            };
            last = Some(picture);
        }
        Ok(last)
    }
}
