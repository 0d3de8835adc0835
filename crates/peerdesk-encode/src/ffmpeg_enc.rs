//! H.264 through FFmpeg's libavcodec: x264 in software, NVENC, VAAPI and QSV on a GPU; AV1 on
//! the GPUs that have it, where FFmpeg has their AV1 encoders (`av1_nvenc`, `av1_vaapi` and
//! `av1_qsv`: FFmpeg 6.0 and later; Debian 12's 5.1 has none).
//!
//! Every backend is opened for real-time streaming: no B-frames, no lookahead, one frame in and
//! one frame out (a frame the encoder holds back is an error), rate control by bitrate with a
//! buffer of about one frame, IDR only on request (and at the start), SPS and PPS before every
//! IDR, Annex-B out. Bitrate and frame rate change on the running encoder, without a keyframe;
//! a new size restarts it.

use std::path::{Path, PathBuf};
use std::sync::Once;
use std::time::Instant;

use ff::format::Pixel;
use ffmpeg_next as ff;
use peerdesk_capture::Frame;
use tracing::debug;
use yuv::{
    BufferStoreMut, YuvBiPlanarImageMut, YuvConversionMode, YuvPlanarImageMut, YuvRange, YuvStandardMatrix,
};

use crate::{Backend, Codec, EncodeError, EncodedFrame, Encoder, EncoderChoice, EncoderConfig};

/// FFmpeg's name of a backend's encoder of `codec`.
fn codec_name(backend: Backend, codec: Codec) -> Option<&'static str> {
    match (backend, codec) {
        (Backend::X264, Codec::H264) => Some("libx264"),
        (Backend::Nvenc, Codec::H264) => Some("h264_nvenc"),
        (Backend::Vaapi, Codec::H264) => Some("h264_vaapi"),
        (Backend::Qsv, Codec::H264) => Some("h264_qsv"),
        (Backend::Nvenc, Codec::Av1) => Some("av1_nvenc"),
        (Backend::Vaapi, Codec::Av1) => Some("av1_vaapi"),
        (Backend::Qsv, Codec::Av1) => Some("av1_qsv"),
        _ => None,
    }
}

/// Sets FFmpeg up once: its log says only errors (x264's per-stream banner and a GPU probe's
/// expected failures would otherwise fill the host's output; our own errors say what failed).
fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let _ = ff::init();
        ff::util::log::set_level(ff::util::log::Level::Fatal);
    });
}

/// Whether this FFmpeg has the backend's encoder of `codec` at all.
pub(crate) fn has_codec(backend: Backend, codec: Codec) -> bool {
    init();
    codec_name(backend, codec).and_then(ff::encoder::find_by_name).is_some()
}

/// The GPU render nodes, `/dev/dri/renderD*`, in order.
fn render_nodes() -> Vec<PathBuf> {
    let mut nodes: Vec<PathBuf> = std::fs::read_dir("/dev/dri")
        .map(|dir| {
            dir.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("renderD")))
                .collect()
        })
        .unwrap_or_default();
    nodes.sort();
    nodes
}

/// The PCI vendor of a render node (0x8086 Intel, 0x1002 AMD, 0x10de NVIDIA), if sysfs says.
fn vendor(node: &Path) -> Option<u16> {
    let name = node.file_name()?.to_str()?;
    let text = std::fs::read_to_string(format!("/sys/class/drm/{name}/device/vendor")).ok()?;
    u16::from_str_radix(text.trim().trim_start_matches("0x"), 16).ok()
}

/// What a backend needs from this machine before FFmpeg is asked: `Ok` with the device to use
/// (if any), or why it cannot run here, in words.
pub(crate) fn precheck(
    backend: Backend,
    codec: Codec,
    choice: &EncoderChoice,
) -> Result<Option<PathBuf>, String> {
    if !has_codec(backend, codec) {
        let name = codec_name(backend, codec).unwrap_or("such");
        let newer = if codec == Codec::Av1 { " (FFmpeg 6.0 and later have it)" } else { "" };
        return Err(format!("this FFmpeg has no {name} encoder{newer}"));
    }
    match backend {
        Backend::Nvenc if !Path::new("/dev/nvidiactl").exists() => {
            Err("no NVIDIA GPU driver is loaded (/dev/nvidiactl is missing)".into())
        }
        Backend::Vaapi => match &choice.vaapi_device {
            Some(dev) if dev.exists() => Ok(Some(dev.clone())),
            Some(dev) => Err(format!("no VAAPI device found: {} does not exist", dev.display())),
            None => render_nodes().into_iter().next().map(Some).ok_or_else(|| {
                "no VAAPI device found (no GPU render node under /dev/dri; \
                 pass --vaapi-device if yours is elsewhere)"
                    .to_string()
            }),
        },
        Backend::Qsv => {
            let nodes = render_nodes();
            if nodes.is_empty() {
                return Err("no Intel GPU found (no render node under /dev/dri)".into());
            }
            match nodes.iter().find(|n| vendor(n) == Some(0x8086)) {
                Some(n) => Ok(Some(n.clone())),
                None => Err(format!(
                    "no Intel GPU found (render nodes {} are not Intel's)",
                    nodes.iter().map(|n| n.display().to_string()).collect::<Vec<_>>().join(", ")
                )),
            }
        }
        _ => Ok(None),
    }
}

/// A VAAPI device and a pool of GPU surfaces the encoder reads.
struct Vaapi {
    device: *mut ff::ffi::AVBufferRef,
    frames: *mut ff::ffi::AVBufferRef,
    surface: ff::frame::Video,
}

// SAFETY: the buffers are reference-counted FFmpeg objects owned by this value alone; they are
// used from one thread at a time (the encoder is `Send`, not `Sync`).
#[allow(unsafe_code)]
unsafe impl Send for Vaapi {}

impl Drop for Vaapi {
    fn drop(&mut self) {
        #[allow(unsafe_code)]
        // SAFETY: both were made by av_hwdevice_ctx_create / av_hwframe_ctx_alloc (or are null)
        // and are unreferenced once here; the codec context holds its own reference.
        unsafe {
            ff::ffi::av_buffer_unref(&mut self.frames);
            ff::ffi::av_buffer_unref(&mut self.device);
        }
    }
}

impl Vaapi {
    /// Opens `device` and a surface pool of `width` x `height` NV12.
    fn open(device: &Path, width: u32, height: u32) -> Result<Self, String> {
        let path = std::ffi::CString::new(device.as_os_str().as_encoded_bytes())
            .map_err(|_| "device path holds a NUL byte".to_string())?;
        let mut this = Self {
            device: std::ptr::null_mut(),
            frames: std::ptr::null_mut(),
            surface: ff::frame::Video::empty(),
        };
        #[allow(unsafe_code)]
        // SAFETY: the out-pointers are valid; on success FFmpeg hands us one reference each,
        // released in Drop. The frames context's fields are set before av_hwframe_ctx_init as
        // FFmpeg documents.
        unsafe {
            let ret = ff::ffi::av_hwdevice_ctx_create(
                &mut this.device,
                ff::ffi::AVHWDeviceType::AV_HWDEVICE_TYPE_VAAPI,
                path.as_ptr(),
                std::ptr::null_mut(),
                0,
            );
            if ret < 0 {
                return Err(format!(
                    "cannot open VAAPI device {}: {} (is this GPU's VA driver installed? Intel: \
                     intel-media-va-driver, AMD: mesa-va-drivers)",
                    device.display(),
                    ff::Error::from(ret)
                ));
            }
            this.frames = ff::ffi::av_hwframe_ctx_alloc(this.device);
            if this.frames.is_null() {
                return Err("cannot allocate VAAPI surfaces".into());
            }
            let ctx = (*this.frames).data.cast::<ff::ffi::AVHWFramesContext>();
            (*ctx).format = ff::ffi::AVPixelFormat::AV_PIX_FMT_VAAPI;
            (*ctx).sw_format = ff::ffi::AVPixelFormat::AV_PIX_FMT_NV12;
            (*ctx).width = i32::try_from(width).map_err(|_| "width too large")?;
            (*ctx).height = i32::try_from(height).map_err(|_| "height too large")?;
            (*ctx).initial_pool_size = 4;
            let ret = ff::ffi::av_hwframe_ctx_init(this.frames);
            if ret < 0 {
                return Err(format!("cannot set up VAAPI surfaces: {}", ff::Error::from(ret)));
            }
        }
        Ok(this)
    }

    /// Uploads `picture` (NV12) to a free surface; the surface to send is `self.surface`.
    fn upload(&mut self, picture: &ff::frame::Video) -> Result<(), String> {
        #[allow(unsafe_code)]
        // SAFETY: `surface` is an AVFrame we own; av_hwframe_get_buffer fills it from the pool
        // (after unref drops the previous surface), and the transfer reads `picture`, an NV12
        // frame of the pool's size.
        unsafe {
            ff::ffi::av_frame_unref(self.surface.as_mut_ptr());
            let ret = ff::ffi::av_hwframe_get_buffer(self.frames, self.surface.as_mut_ptr(), 0);
            if ret < 0 {
                return Err(format!("no free VAAPI surface: {}", ff::Error::from(ret)));
            }
            let ret = ff::ffi::av_hwframe_transfer_data(self.surface.as_mut_ptr(), picture.as_ptr(), 0);
            if ret < 0 {
                return Err(format!("upload to the GPU failed: {}", ff::Error::from(ret)));
            }
        }
        Ok(())
    }
}

/// An H.264 or AV1 encoder of FFmpeg's.
pub struct FfmpegEncoder {
    backend: Backend,
    codec: Codec,
    choice: EncoderChoice,
    /// The device a GPU backend uses.
    device: Option<PathBuf>,
    /// The settings the encoder is built with; `bitrate_bps` is the ceiling, `fps` the frame
    /// rate the encoder's rate control budgets with (see [`FfmpegEncoder::apply_rate`]).
    config: EncoderConfig,
    encoder: ff::encoder::Video,
    vaapi: Option<Vaapi>,
    /// The converted picture (I420 for x264 and NVENC, NV12 for VAAPI and QSV).
    picture: ff::frame::Video,
    packet: ff::Packet,
    bitrate_bps: u32,
    fps: u32,
    scale: f64,
    rebuild: bool,
    started: Instant,
    last_pts: i64,
    scaler: crate::scale::Scaler,
}

impl std::fmt::Debug for FfmpegEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FfmpegEncoder")
            .field("backend", &self.backend)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The pixel format a backend is fed in system memory.
fn sw_format(backend: Backend) -> Pixel {
    match backend {
        Backend::Vaapi | Backend::Qsv => Pixel::NV12,
        _ => Pixel::YUV420P,
    }
}

/// NVENC's real-time settings, the same for H.264 and AV1: fastest preset, ultra-low-latency
/// tune, no frame held, constant bitrate, IDR when forced, no scene cut.
fn nvenc_low_latency(o: &mut ff::Dictionary<'static>, refresh: &str) {
    o.set("preset", "p1");
    o.set("tune", "ull");
    o.set("zerolatency", "1");
    o.set("delay", "0");
    o.set("rc", "cbr");
    o.set("forced-idr", "1");
    o.set("intra-refresh", refresh);
    o.set("no-scenecut", "1");
}

/// Codec options for real-time streaming, per backend.
fn options(backend: Backend, codec: Codec, intra_refresh: bool) -> ff::Dictionary<'static> {
    let mut o = ff::Dictionary::new();
    let refresh = if intra_refresh { "1" } else { "0" };
    if codec == Codec::Av1 {
        // The GPUs' AV1 encoders: the same real-time settings without H.264's profile.
        match backend {
            Backend::Nvenc => nvenc_low_latency(&mut o, refresh),
            Backend::Vaapi => {
                o.set("rc_mode", "CBR");
                o.set("async_depth", "1");
            }
            Backend::Qsv => {
                o.set("preset", "veryfast");
                o.set("async_depth", "1");
                o.set("look_ahead_depth", "0");
            }
            _ => {}
        }
        return o;
    }
    match backend {
        Backend::X264 => {
            // ultrafast: the least CPU (the point of this backend); zerolatency: no lookahead,
            // no B-frames, no frame threads (slices instead), so no frame is held back.
            o.set("preset", "ultrafast");
            o.set("tune", "zerolatency");
            o.set("profile", "baseline");
            o.set("forced-idr", "1");
            o.set("intra-refresh", refresh);
            o.set("x264-params", "scenecut=0:repeat-headers=1:aud=0");
        }
        Backend::Nvenc => {
            nvenc_low_latency(&mut o, refresh);
            o.set("profile", "baseline");
        }
        Backend::Vaapi => {
            o.set("rc_mode", "CBR");
            o.set("profile", "constrained_baseline");
            // FFmpeg's VAAPI encoders keep two frames in flight by default: one, so each frame
            // comes out of the call it went in.
            o.set("async_depth", "1");
        }
        Backend::Qsv => {
            o.set("preset", "veryfast");
            o.set("async_depth", "1");
            o.set("forced_idr", "1");
            o.set("profile", "baseline");
            o.set("look_ahead", "0");
            if intra_refresh {
                o.set("int_ref_type", "vertical");
            }
        }
        Backend::OpenH264 | Backend::Aom => {}
    }
    o
}

/// An FFmpeg error while setting up, with what was being done.
fn ff_err(what: &str) -> impl Fn(ff::Error) -> EncodeError + '_ {
    move |e| EncodeError::Setup(format!("{what}: {e}"))
}

impl FfmpegEncoder {
    /// An encoder of `codec` by `backend` for frames of exactly `config.width` x
    /// `config.height`.
    pub fn new(
        backend: Backend,
        codec: Codec,
        choice: &EncoderChoice,
        config: EncoderConfig,
    ) -> Result<Self, EncodeError> {
        if codec_name(backend, codec).is_none() {
            return Err(EncodeError::Setup(format!("{} makes no {codec} through FFmpeg", backend.name())));
        }
        let device = precheck(backend, codec, choice).map_err(EncodeError::Setup)?;
        let (encoder, vaapi) =
            open(backend, codec, choice, device.as_deref(), &config, config.bitrate_bps, config.fps)?;
        Ok(Self {
            backend,
            codec,
            choice: choice.clone(),
            device,
            picture: ff::frame::Video::new(sw_format(backend), config.width, config.height),
            packet: ff::Packet::empty(),
            bitrate_bps: config.bitrate_bps,
            fps: config.fps,
            scale: 1.0,
            rebuild: false,
            started: Instant::now(),
            last_pts: -1,
            scaler: crate::scale::Scaler::default(),
            encoder,
            vaapi,
            config,
        })
    }

    /// Rate control's budget to the running encoder: bitrate, maximum rate and a buffer of one
    /// frame. The encoder was opened for `config.fps`; with fewer frames fed (rate control
    /// lowered the frame rate) it would spend only `fps / config.fps` of the bitrate, so it is
    /// told the bitrate scaled up by the same factor (its budget per frame is then
    /// `bitrate / fps`, as asked). FFmpeg's libx264 and NVENC apply a changed bitrate at the next
    /// frame without a keyframe.
    fn apply_rate(&mut self) {
        set_budget(&mut self.encoder, budget(self.bitrate_bps, self.fps, self.config.fps));
    }

    fn convert(&mut self, frame: &Frame) -> Result<(), EncodeError> {
        let stride =
            u32::try_from(frame.stride).map_err(|_| EncodeError::Convert("stride too large".into()))?;
        #[allow(unsafe_code)]
        // SAFETY: make_writable leaves `picture` with buffers of its own (it copies them if
        // the encoder still held a reference, which it does not after a packet came out).
        let writable = unsafe { ff::ffi::av_frame_make_writable(self.picture.as_mut_ptr()) };
        if writable < 0 {
            return Err(EncodeError::Convert(format!("no writable picture: {}", ff::Error::from(writable))));
        }
        let (width, height) = (self.picture.width(), self.picture.height());
        let planes = self.picture.planes();
        let mut slices: Vec<(*mut u8, usize, u32)> = Vec::with_capacity(3);
        for i in 0..planes {
            let plane = self.picture.data_mut(i);
            slices.push((plane.as_mut_ptr(), plane.len(), self.picture.stride(i) as u32));
        }
        let err = |e: yuv::YuvError| EncodeError::Convert(e.to_string());
        #[allow(unsafe_code)]
        // SAFETY: each (pointer, length) is one plane of `picture` as FFmpeg laid it out
        // (stride times the plane's rows); planes never overlap, and `picture` is not touched
        // otherwise while the slices live.
        let plane = |i: usize| unsafe { std::slice::from_raw_parts_mut(slices[i].0, slices[i].1) };
        match self.picture.format() {
            Pixel::NV12 => {
                let mut image = YuvBiPlanarImageMut {
                    y_plane: BufferStoreMut::Borrowed(plane(0)),
                    y_stride: slices[0].2,
                    uv_plane: BufferStoreMut::Borrowed(plane(1)),
                    uv_stride: slices[1].2,
                    width,
                    height,
                };
                yuv::bgra_to_yuv_nv12(
                    &mut image,
                    &frame.data,
                    stride,
                    YuvRange::Limited,
                    YuvStandardMatrix::Bt709,
                    YuvConversionMode::Balanced,
                )
                .map_err(err)
            }
            _ => {
                let mut image = YuvPlanarImageMut {
                    y_plane: BufferStoreMut::Borrowed(plane(0)),
                    y_stride: slices[0].2,
                    u_plane: BufferStoreMut::Borrowed(plane(1)),
                    u_stride: slices[1].2,
                    v_plane: BufferStoreMut::Borrowed(plane(2)),
                    v_stride: slices[2].2,
                    width,
                    height,
                };
                yuv::bgra_to_yuv420(
                    &mut image,
                    &frame.data,
                    stride,
                    YuvRange::Limited,
                    YuvStandardMatrix::Bt709,
                    YuvConversionMode::Balanced,
                )
                .map_err(err)
            }
        }
    }
}

/// The bitrate, maximum rate and buffer (bits) to tell an encoder opened for `base_fps` so
/// that each of `fps` frames a second gets `bps / fps` bits on average.
///
/// Constant bitrate (the maximum rate is the bitrate): x264 takes a new bitrate on the running
/// encoder only in that mode (with a higher maximum it keeps the bitrate it was opened with and
/// only the maximum changes). The buffer holds three frames, so no frame is larger than three
/// frames' worth (50 ms of the rate at 60 fps): with one, x264 made half the bitrate asked on
/// the noisy scene of tests/h264-output.rs and 76% on encbench's bars at 1080p (SSIM 0.996);
/// with three, 75% and 80% (SSIM 0.999).
fn budget(bps: u32, fps: u32, base_fps: u32) -> (i64, i64, i32) {
    let fps = u64::from(fps.max(1));
    let scaled = i64::try_from(u64::from(bps) * u64::from(base_fps.max(1)) / fps).unwrap_or(i64::MAX);
    let buffer = 3 * u64::from(bps) / fps;
    (scaled, scaled, i32::try_from(buffer.max(1000)).unwrap_or(i32::MAX))
}

/// The lowest H.264 level (times ten) whose macroblock rate and frame size hold this stream.
fn h264_level(width: u32, height: u32, fps: u32) -> i32 {
    let frame = u64::from(width.div_ceil(16)) * u64::from(height.div_ceil(16));
    let rate = frame * u64::from(fps.max(1));
    // (level, most macroblocks a second, most macroblocks a frame), from the standard's table A-1.
    const LEVELS: [(i32, u64, u64); 9] = [
        (31, 108_000, 3_600),
        (32, 216_000, 5_120),
        (40, 245_760, 8_192),
        (42, 522_240, 8_704),
        (50, 589_824, 22_080),
        (51, 983_040, 36_864),
        (52, 2_073_600, 36_864),
        (60, 4_177_920, 139_264),
        (62, 16_711_680, 139_264),
    ];
    LEVELS.iter().find(|(_, mbps, fs)| rate <= *mbps && frame <= *fs).map_or(62, |l| l.0)
}

/// Tells an open codec its bitrate, maximum rate and buffer, from its next frame on.
fn set_budget(encoder: &mut ff::encoder::Video, (bitrate, max_rate, buffer): (i64, i64, i32)) {
    #[allow(unsafe_code)]
    // SAFETY: plain integer fields of the open codec context, read by the codec at its next
    // frame (how FFmpeg's libx264 and NVENC take a new rate while running).
    unsafe {
        let ctx = encoder.as_mut_ptr();
        (*ctx).bit_rate = bitrate;
        (*ctx).rc_max_rate = max_rate;
        (*ctx).rc_buffer_size = buffer;
    }
}

/// Opens the backend's codec for this size, bitrate and frame rate.
fn open(
    backend: Backend,
    codec: Codec,
    choice: &EncoderChoice,
    device: Option<&Path>,
    config: &EncoderConfig,
    bps: u32,
    fps: u32,
) -> Result<(ff::encoder::Video, Option<Vaapi>), EncodeError> {
    init();
    let name = codec_name(backend, codec).unwrap_or_default();
    let ff_codec = ff::encoder::find_by_name(name)
        .ok_or_else(|| EncodeError::Setup(format!("this FFmpeg has no {name} encoder")))?;
    let mut video = ff::codec::context::Context::new_with_codec(ff_codec)
        .encoder()
        .video()
        .map_err(ff_err("cannot make a video encoder"))?;
    video.set_width(config.width);
    video.set_height(config.height);
    video.set_time_base((1, 1000));
    video.set_frame_rate(Some((i32::try_from(config.fps.max(1)).unwrap_or(60), 1)));
    video.set_max_b_frames(0);
    // Intra refresh runs a column of intra blocks across the picture once per GOP: a second.
    // Without it the only IDR is the first one and those asked for.
    video.set_gop(if choice.intra_refresh { config.fps.max(1) } else { 1 << 30 });
    video.set_colorspace(ff::color::Space::BT709);
    video.set_color_range(ff::color::Range::MPEG);
    video.set_color_primaries(ff::color::Primaries::BT709);
    video.set_color_transfer_characteristic(ff::color::TransferCharacteristic::BT709);
    let (bitrate, max_rate, buffer) = budget(bps, fps, config.fps);
    video.set_bit_rate(usize::try_from(bitrate).unwrap_or(usize::MAX));
    video.set_max_bit_rate(usize::try_from(max_rate).unwrap_or(usize::MAX));
    #[allow(unsafe_code)]
    // SAFETY: integer fields of a codec context not yet opened.
    unsafe {
        let ctx = video.as_mut_ptr();
        (*ctx).rc_buffer_size = buffer;
        // Left to itself x264 derives the level from that bitrate (6.1, which decoders such
        // as openh264's refuse); the level of the size and frame rate is what the stream needs.
        if codec == Codec::H264 {
            (*ctx).level = h264_level(config.width, config.height, config.fps);
        }
    }
    let vaapi = match (backend, device) {
        (Backend::Vaapi, Some(dev)) => {
            let v = Vaapi::open(dev, config.width, config.height).map_err(EncodeError::Setup)?;
            #[allow(unsafe_code)]
            // SAFETY: the context takes a reference of its own to the frames context.
            unsafe {
                let ctx = video.as_mut_ptr();
                (*ctx).hw_frames_ctx = ff::ffi::av_buffer_ref(v.frames);
                (*ctx).pix_fmt = ff::ffi::AVPixelFormat::AV_PIX_FMT_VAAPI;
            }
            Some(v)
        }
        _ => {
            video.set_format(sw_format(backend));
            None
        }
    };
    let encoder = video
        .open_as_with(ff_codec, options(backend, codec, choice.intra_refresh))
        .map_err(|e| EncodeError::Setup(format!("{name} would not open: {e}")))?;
    debug!("{name} open at {}x{}, {} kb/s, {fps} fps", config.width, config.height, bps / 1000);
    Ok((encoder, vaapi))
}

impl Encoder for FfmpegEncoder {
    fn encode(&mut self, frame: &Frame, force_keyframe: bool) -> Result<Option<EncodedFrame>, EncodeError> {
        let t0 = Instant::now();
        let frame = self.scaler.to_stream_size(frame, self.config.max_size, self.scale)?;
        let frame = frame.as_ref();
        if (frame.width, frame.height) != (self.config.width, self.config.height) {
            crate::check_size(frame.width, frame.height).map_err(EncodeError::Encode)?;
            debug!("frame size changed to {}x{}; restarting the encoder", frame.width, frame.height);
            self.config.width = frame.width;
            self.config.height = frame.height;
            self.picture = ff::frame::Video::new(sw_format(self.backend), frame.width, frame.height);
            self.rebuild = true;
        }
        let mut force = force_keyframe;
        if self.rebuild {
            // Drop the old encoder (and its GPU surfaces) before opening the new one.
            self.vaapi = None;
            let (encoder, vaapi) = open(
                self.backend,
                self.codec,
                &self.choice,
                self.device.as_deref(),
                &self.config,
                self.bitrate_bps,
                self.fps,
            )?;
            self.encoder = encoder;
            self.vaapi = vaapi;
            self.rebuild = false;
            force = true;
        }
        self.convert(frame)?;
        let convert_time = t0.elapsed();

        let t1 = Instant::now();
        // Strictly increasing milliseconds since the start (two frames in one millisecond get
        // consecutive stamps).
        let pts = i64::try_from(frame.captured_at.saturating_duration_since(self.started).as_millis())
            .unwrap_or(i64::MAX)
            .max(self.last_pts + 1);
        self.last_pts = pts;
        let kind = if force { ff::picture::Type::I } else { ff::picture::Type::None };
        let sent = match &mut self.vaapi {
            Some(v) => {
                v.upload(&self.picture).map_err(EncodeError::Encode)?;
                v.surface.set_pts(Some(pts));
                v.surface.set_kind(kind);
                self.encoder.send_frame(&v.surface)
            }
            None => {
                self.picture.set_pts(Some(pts));
                self.picture.set_kind(kind);
                self.encoder.send_frame(&self.picture)
            }
        };
        sent.map_err(|e| EncodeError::Encode(format!("{} refused a frame: {e}", self.backend.name())))?;
        match self.encoder.receive_packet(&mut self.packet) {
            Ok(()) => {}
            Err(ff::Error::Other { errno: ff::error::EAGAIN }) => {
                return Err(EncodeError::Encode(format!(
                    "{} held a frame back instead of encoding it at once (it must not buffer)",
                    self.backend.name()
                )));
            }
            Err(e) => return Err(EncodeError::Encode(format!("{} failed: {e}", self.backend.name()))),
        }
        let data = self.packet.data().map(<[u8]>::to_vec).unwrap_or_default();
        let encode_time = t1.elapsed();
        if data.is_empty() {
            return Ok(None);
        }
        let keyframe = match self.codec {
            Codec::H264 => crate::annexb::is_idr(&data),
            Codec::Av1 => self.packet.is_key(),
        };
        Ok(Some(EncodedFrame {
            keyframe,
            data,
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
            self.apply_rate();
        }
        self.scale = scale;
        Ok(())
    }

    fn rate(&self) -> (u32, u32, f64) {
        (self.bitrate_bps, self.fps, self.scale)
    }

    fn backend(&self) -> Backend {
        self.backend
    }

    fn codec(&self) -> Codec {
        self.codec
    }
}

#[cfg(test)]
mod tests {
    use super::{budget, h264_level};

    #[test]
    fn the_level_is_the_least_that_holds_the_size_and_rate() {
        assert_eq!(h264_level(1280, 720, 30), 31);
        assert_eq!(h264_level(1280, 720, 60), 32);
        assert_eq!(h264_level(1920, 1080, 30), 40);
        assert_eq!(h264_level(1920, 1080, 60), 42);
        assert_eq!(h264_level(3840, 2160, 60), 52);
    }

    #[test]
    fn half_the_frames_get_the_same_bits_each() {
        // 3 Mb/s at 60 fps: 50 kbit a frame; at 30 fps the encoder (opened for 60) is told
        // 6 Mb/s so that each of the 30 frames gets 100 kbit; the buffer is three frames.
        assert_eq!(budget(3_000_000, 60, 60), (3_000_000, 3_000_000, 150_000));
        assert_eq!(budget(3_000_000, 30, 60), (6_000_000, 6_000_000, 300_000));
        assert_eq!(budget(3_000_000, 0, 60).0, 180_000_000);
    }
}
