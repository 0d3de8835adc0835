//! The host's connection to the signaling server, and the host's top-level [`run`].
//!
//! The host joins its room, answers each viewer's offer by starting a viewer task, passes
//! candidates on, and ends a viewer's task when the server says it left. When the server goes
//! away, running sessions keep streaming (media does not pass through it) and the host
//! reconnects with backoff.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use peerdesk_audio::OpusConfig;
use peerdesk_capture::{CursorEvent, TestScene};
use peerdesk_encode::{Backend, Codec, CodecChoice, Encoder, EncoderChoice, EncoderConfig};
use peerdesk_proto::control::MAX_CLIPBOARD_TEXT;
use peerdesk_proto::{ClientMessage, ErrorCode, HostMessage, PROTOCOL_VERSION, PeerId, Role, ServerMessage};
use peerdesk_session::{BandwidthConfig, SessionConfig};
use tokio_tungstenite::Connector;
use tokio_tungstenite::tungstenite::Message;
use tracing::{debug, info, warn};

use crate::audio::{AudioKind, AudioStream, AudioWindow};
use crate::guests::{Guests, HostCommand, Outcome};
use crate::input::{InputSink, PadSink, RecordingSink, SceneInputSink, ViewOnlySink};
use crate::pairing::{Keyring, Links};
use crate::pipeline::StageWindow;
use crate::pipeline::{Pipeline, StreamSetup};
use crate::rate::{Limit, NetworkReport};
use crate::viewer::{CursorState, ViewerCommand, ViewerContext};
use crate::{AudioChoice, HostConfig, SourceKind};

const BACKOFF_MIN: Duration = Duration::from_millis(250);
const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Why the host stopped.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// Another host holds the room.
    #[error("room \"{0}\" already has a host: stop the other host or pick another --room")]
    RoomTaken(String),
    /// The server refused the host for good.
    #[error("the signaling server refused this host: {0}")]
    Refused(String),
    /// The source could not be opened. (Its words are in the message, not a `source`: printed
    /// with its causes the error said them twice.)
    #[error("cannot open the video source: {0}")]
    Capture(peerdesk_capture::CaptureError),
    /// The source failed while streaming (the X server went away, say).
    #[error("the video source stopped: {0}")]
    SourceLost(String),
    /// The encoder could not be set up.
    #[error(transparent)]
    Encode(#[from] peerdesk_encode::EncodeError),
    /// The pipeline's threads could not start.
    #[error("cannot start the capture threads: {0}")]
    Threads(std::io::Error),
    /// No secret could be made.
    #[error(transparent)]
    Random(#[from] crate::pairing::RandomError),
    /// The links' state file could not be used.
    #[error(
        "cannot keep the share links: {0} (pick another place with --state-dir, or use --ephemeral-links)"
    )]
    Keyring(#[from] crate::pairing::KeyringError),
    /// The TLS settings for a wss:// server could not be made.
    #[error("cannot set up TLS to the server: {0}")]
    Tls(String),
    /// The input record file (a test option) could not be opened.
    #[error("cannot open the input record file: {0}")]
    Record(std::io::Error),
}

impl From<peerdesk_capture::CaptureError> for HostError {
    fn from(e: peerdesk_capture::CaptureError) -> Self {
        Self::Capture(e)
    }
}

impl From<std::io::Error> for HostError {
    fn from(e: std::io::Error) -> Self {
        Self::Threads(e)
    }
}

enum Ended {
    /// The connection dropped; reconnect.
    Lost(String),
    /// Stop the host.
    Fatal(HostError),
    /// Shutdown was asked for.
    Shutdown,
}

/// Runs a host until `shutdown` completes or a fatal error. Prints the share link on stdout
/// (`open URL`, and `view URL` with a view-only link) once the room is first joined, and again
/// when the console asks. `console` carries the lines typed on the host's console (see
/// [`HostCommand`]); `None` or a closed channel: no console.
pub async fn run(
    config: HostConfig,
    console: Option<tokio::sync::mpsc::Receiver<String>>,
    shutdown: impl Future<Output = ()>,
) -> Result<(), HostError> {
    let (capturer, sink, scene_audio) = open_source(&config)?;
    let (width, height) = peerdesk_encode::scale::fit(capturer.size(), config.max_size);
    let encoders = open_encoders(
        &config.encoder,
        &EncoderConfig {
            width,
            height,
            fps: config.fps,
            bitrate_bps: config.bitrate_bps,
            max_size: config.max_size,
        },
    )?;
    let video_codecs = encoders
        .iter()
        .rev()
        .map(|e| match e.codec() {
            Codec::H264 => peerdesk_session::VideoCodec::H264,
            Codec::Av1 => peerdesk_session::VideoCodec::Av1,
        })
        .collect();
    let (feedback, _) = tokio::sync::broadcast::channel(64);
    let sink = with_pads(&config, sink, feedback.clone());
    let (clipboard, host_clipboard) = open_clipboard(&config);
    let sink: Arc<Mutex<dyn InputSink>> = match &config.record_input {
        Some(path) => Arc::new(Mutex::new(RecordingSink::create(path, sink).map_err(HostError::Record)?)),
        None => sink,
    };
    let now = std::time::SystemTime::now();
    let keyring = match &config.state_dir {
        Some(dir) => {
            let path = dir.join(format!("links-{}.json", config.room));
            let ring = Keyring::open(&path, now, config.link_ttl, config.view_link)?;
            info!(
                "share links kept in {} (they survive a restart; `revoke` on the console replaces them)",
                path.display()
            );
            ring
        }
        None => Keyring::new(now, config.link_ttl, config.view_link)?,
    };
    let mut guests = Guests::new(keyring, config.room.as_str(), &config.viewer_url);
    let mut console = console;
    let tls = tls_connector(&config)?;
    let setup = StreamSetup {
        fps: config.fps,
        max_bps: config.bitrate_bps,
        max_size: config.max_size,
        rate_min_bps: config.rate_control.then_some(config.min_bitrate_bps),
    };
    let pipeline = Arc::new(Pipeline::start_codecs(capturer, encoders, setup)?);
    let audio = start_audio(&config, scene_audio);
    let (stats_tx, stats_rx) = tokio::sync::watch::channel(None);
    let (nat_tx, nat_rx) = tokio::sync::watch::channel(Arc::new(crate::nat::NatServers {
        relay_only: config.relay_only,
        ..Default::default()
    }));
    let (signal_tx, mut signal_rx) = tokio::sync::mpsc::unbounded_channel();
    let nat_tx = Arc::new(nat_tx);
    let ctx = ViewerContext {
        nat: nat_rx,
        signal: signal_tx,
        stats: stats_rx,
        cursor: watch_cursor(&config.source),
        audio: audio.clone(),
        pipeline: pipeline.clone(),
        input: sink,
        feedback,
        clipboard,
        host_clipboard,
        session: SessionConfig {
            keyframe_interval: config.keyframe_interval,
            audio: audio.is_some(),
            max_playout_delay: config.max_playout_delay,
            bandwidth: config.rate_control.then(|| bandwidth_config(&config)),
            redundancy: config.redundancy,
            video_codecs,
        },
        ips: watch_addresses(config.loopback_candidates),
    };
    info!(
        room = %config.room, "hosting {}x{} at {} fps, {} kb/s; ICE candidates on {}",
        width, height, config.fps, config.bitrate_bps / 1000,
        ctx.ips.borrow().iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    );
    let fixed = Fixed { bitrate_bps: config.bitrate_bps, fps: config.fps, rate_control: config.rate_control };
    let status = tokio::spawn(status_loop(pipeline.clone(), audio, config.status_interval, fixed, stats_tx));

    let mut announced = false;
    let mut backoff = BACKOFF_MIN;
    tokio::pin!(shutdown);
    let result = loop {
        let ended = tokio::select! {
            () = &mut shutdown => Ended::Shutdown,
            why = pipeline.failed() => Ended::Fatal(HostError::SourceLost(why)),
            ended = connect_and_serve(&config, tls.clone(), &ctx, &nat_tx, &mut signal_rx, &mut guests, &mut console, &mut announced, &mut backoff) => ended,
        };
        match ended {
            Ended::Shutdown => break Ok(()),
            Ended::Fatal(e) => break Err(e),
            Ended::Lost(why) => {
                warn!(
                    "signaling server: {why}; retrying in {:.1} s (running sessions keep streaming)",
                    backoff.as_secs_f32()
                );
                tokio::select! {
                    () = &mut shutdown => break Ok(()),
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
        }
    };
    status.abort();
    drop(guests);
    result
}

/// "; passed over nvenc: why; vaapi: why", or nothing.
fn passed_over(list: &[(Backend, String)]) -> String {
    if list.is_empty() {
        return String::new();
    }
    format!(
        "; passed over {}",
        list.iter().map(|(b, why)| format!("{b}: {why}")).collect::<Vec<_>>().join("; ")
    )
}

/// The H.264 encoder, and an AV1 one when `--codec` asks for it (or, under `auto`, when a GPU
/// or the encoder named makes AV1), each logged once with why others were passed over. AV1
/// comes second: a viewer whose browser decodes AV1 gets it, the others H.264.
fn open_encoders(choice: &EncoderChoice, config: &EncoderConfig) -> Result<Vec<Box<dyn Encoder>>, HostError> {
    if let Some(b) = choice.backend
        && !b.makes(Codec::H264)
        && choice.codec == CodecChoice::H264
    {
        return Err(peerdesk_encode::EncodeError::Setup(format!(
            "--encoder {b} makes AV1 only, and --codec h264 asks for H.264 only (use --codec av1 or auto)"
        ))
        .into());
    }
    let opened = peerdesk_encode::open(choice, Codec::H264, config)?;
    let backend = opened.encoder.backend();
    info!("encoder: {backend} ({}){}", backend.describe(), passed_over(&opened.passed_over));
    if backend == Backend::OpenH264 && !peerdesk_encode::ASSEMBLY {
        warn!("openh264 was built without nasm: encoding is about 2.5x slower than it should be");
    }
    let mut encoders = vec![opened.encoder];
    match choice.codec {
        CodecChoice::H264 => info!("codec: H.264 for every viewer (--codec h264)"),
        CodecChoice::Av1 => {
            let av1 = peerdesk_encode::open(choice, Codec::Av1, config).map_err(|e| {
                peerdesk_encode::EncodeError::Setup(format!(
                    "--codec av1: {e}{}",
                    if peerdesk_encode::AV1 {
                        ""
                    } else {
                        " (build peerdesk with `--features av1` for libaom)"
                    }
                ))
            })?;
            let b = av1.encoder.backend();
            info!(
                "codec: AV1 for browsers that decode it, with {b} ({}){}; H.264 for the others",
                b.describe(),
                passed_over(&av1.passed_over)
            );
            encoders.push(av1.encoder);
        }
        CodecChoice::Auto => {
            // In software AV1 costs three to six times x264's CPU (docs/PERFORMANCE.md): only a
            // GPU's, or the encoder named, is worth it by default.
            let tries: Vec<Backend> = match choice.backend.filter(|b| b.makes(Codec::Av1)) {
                Some(b) => vec![b],
                None => Backend::for_codec(Codec::Av1).filter(|b| b.hardware()).collect(),
            };
            match peerdesk_encode::open_first(tries, Codec::Av1, choice, config) {
                Ok(av1) => {
                    let b = av1.encoder.backend();
                    info!(
                        "codec: AV1 for browsers that decode it, with {b} ({}); H.264 for the others",
                        b.describe()
                    );
                    encoders.push(av1.encoder);
                }
                Err(passed) => info!(
                    "codec: H.264 for every viewer (no GPU here encodes AV1{}; --codec av1 encodes it in software, at three to six times the CPU)",
                    passed_over(&passed).replace("; passed over", ":")
                ),
            }
        }
    }
    Ok(encoders)
}

/// This machine's candidate addresses, checked every 2 s: a change (a new network, a cable
/// pulled, a VPN up) makes every session restart ICE.
fn watch_addresses(loopback: bool) -> tokio::sync::watch::Receiver<Vec<std::net::IpAddr>> {
    let (tx, rx) = tokio::sync::watch::channel(crate::addrs::candidate_ips(loopback));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(2));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = tokio::task::spawn_blocking(move || crate::addrs::candidate_ips(loopback)).await;
            let Ok(now) = now else { break };
            if *tx.borrow() != now {
                info!(addresses = ?now, "this machine's network changed");
                if tx.send(now).is_err() {
                    break;
                }
            }
        }
    });
    rx
}

/// Follows the source's cursor shape and position on a thread of its own, as ready-to-send
/// control messages.
fn watch_cursor(source: &SourceKind) -> tokio::sync::watch::Receiver<CursorState> {
    let (tx, rx) = tokio::sync::watch::channel(CursorState::default());
    let watched = match source {
        SourceKind::X11 { display, monitor } => Some((display.clone(), monitor.clone())),
        SourceKind::Windows { monitor } => Some((None, monitor.clone())),
        SourceKind::TestScene | SourceKind::Wayland { .. } => None,
    };
    if let Some((display, monitor)) = watched {
        let spawned = std::thread::Builder::new().name("peerdesk-cursor".into()).spawn(move || {
            let result = peerdesk_capture::platform::watch_cursor(display.as_deref(), &monitor, |event| {
                let msg = match event {
                    CursorEvent::Shape(img) => {
                        let hidden = img.is_invisible();
                        HostMessage::Cursor {
                            serial: img.serial,
                            hidden,
                            width: img.width,
                            height: img.height,
                            hot_x: img.hot_x,
                            hot_y: img.hot_y,
                            rgba: if hidden {
                                String::new()
                            } else {
                                peerdesk_proto::control::base64(&img.rgba)
                            },
                        }
                    }
                    CursorEvent::Position(p) => {
                        HostMessage::CursorPosition { x: p.x, y: p.y, width: p.width, height: p.height }
                    }
                };
                let text = match serde_json::to_string(&msg) {
                    Ok(text) => Arc::<str>::from(text),
                    Err(e) => return warn!("cannot encode the cursor: {e}"),
                };
                tx.send_modify(|state| {
                    if matches!(msg, HostMessage::Cursor { .. }) {
                        state.shape = Some(text);
                    } else {
                        state.position = Some(text);
                    }
                });
            });
            if let Err(e) = result {
                warn!("cannot follow the cursor ({e}); viewers see their own arrow");
            }
        });
        if let Err(e) = spawned {
            warn!("cannot start the cursor thread: {e}");
        }
    }
    rx
}

/// The capturer, where input goes, and the test scene's clock and input counter (for its sound).
type Source = (Box<dyn peerdesk_capture::Capturer>, Arc<Mutex<dyn InputSink>>, Option<AudioKind>);

/// Opens the capturer and the input sink for the configured source.
fn open_source(config: &HostConfig) -> Result<Source, HostError> {
    Ok(match &config.source {
        SourceKind::TestScene => {
            let scene = TestScene::new(config.width, config.height, config.fps)?;
            let sink = Arc::new(Mutex::new(SceneInputSink::new(scene.control())));
            let control = scene.control();
            // For benchmarks on this machine: the beat's flash and tone fall on whole seconds
            // from here, so their arrival in a browser can be timed against it.
            info!("test scene clock starts at unix time {} ms", scene.started_unix_ms());
            let tones = AudioKind::Scene {
                origin: scene.started(),
                inputs: Arc::new(move || control.snapshot().toggles),
            };
            (Box::new(scene), sink, Some(tones))
        }
        SourceKind::X11 { display, monitor } => {
            let mut capturer = peerdesk_capture::platform::open_x11(display.as_deref(), monitor)?;
            capturer.set_min_interval(Duration::from_secs(1) / config.fps.max(1));
            let sink: Arc<Mutex<dyn InputSink>> =
                match peerdesk_input::platform::open_xtest(display.as_deref(), monitor) {
                    Ok(sink) => Arc::new(Mutex::new(sink)),
                    Err(e) => {
                        warn!("{e}; viewers can watch but not control");
                        Arc::new(Mutex::new(ViewOnlySink))
                    }
                };
            (capturer, sink, None)
        }
        SourceKind::Windows { monitor } => {
            let mut capturer = peerdesk_capture::platform::open_desktop(monitor)?;
            capturer.set_min_interval(Duration::from_secs(1) / config.fps.max(1));
            let sink: Arc<Mutex<dyn InputSink>> = match peerdesk_input::platform::open_sendinput(monitor) {
                Ok(sink) => Arc::new(Mutex::new(sink)),
                Err(e) => {
                    warn!("{e}; viewers can watch but not control");
                    Arc::new(Mutex::new(ViewOnlySink))
                }
            };
            (capturer, sink, None)
        }
        SourceKind::Wayland { control, monitor } => {
            let (capturer, sink) = open_wayland(config, *control, monitor)?;
            (capturer, sink, None)
        }
    })
}

/// A desktop's picture and where its input goes.
type ScreenAndInput = (Box<dyn peerdesk_capture::Capturer>, Arc<Mutex<dyn InputSink>>);

/// The portal's restore token for this room, kept in the state directory (`None` without one):
/// one for the screen alone, one for the screen with keyboard and pointer (a token restores
/// only the kind of session that gave it).
#[cfg(all(target_os = "linux", feature = "wayland"))]
fn wayland_token_path(config: &HostConfig, control: bool) -> Option<std::path::PathBuf> {
    let kind = if control { "wayland-control-token" } else { "wayland-token" };
    config.state_dir.as_ref().map(|d| d.join(format!("{kind}-{}", config.room)))
}

/// Opens a Wayland desktop through its portals: the screen, and keyboard and pointer when
/// `control` and the desktop has a RemoteDesktop portal. With the token kept from the last run
/// the desktop shares without asking; the new token it gives is kept for the next.
#[cfg(all(target_os = "linux", feature = "wayland"))]
fn open_wayland(
    config: &HostConfig,
    control: bool,
    monitor: &peerdesk_capture::MonitorChoice,
) -> Result<ScreenAndInput, HostError> {
    use peerdesk_capture::Capturer as _;
    // A wlroots compositor (sway): its own screencopy and virtual input, no portal (its portal
    // casts DMA-BUF only, and has no RemoteDesktop).
    if peerdesk_capture::platform::wlr_screencopy_available() {
        let mut capturer = peerdesk_capture::platform::open_wlr(monitor)?;
        capturer.set_min_interval(Duration::from_secs(1) / config.fps.max(1));
        info!(
            "a wlroots compositor: streaming output {} through wlr-screencopy (no dialog)",
            capturer.output()
        );
        let sink: Arc<Mutex<dyn InputSink>> = if !control {
            info!("--screen-only: viewers watch, nobody controls");
            Arc::new(Mutex::new(ViewOnlySink))
        } else {
            match peerdesk_input::platform::open_wlr_input(monitor) {
                Ok(sink) => Arc::new(Mutex::new(sink)),
                Err(e) => {
                    warn!("{e}; viewers can watch but not control");
                    Arc::new(Mutex::new(ViewOnlySink))
                }
            }
        };
        return Ok((Box::new(capturer), sink));
    }
    if !matches!(monitor, peerdesk_capture::MonitorChoice::Primary) {
        warn!("--monitor: on this desktop its dialog picks the monitor to share");
    }
    let path = wayland_token_path(config, control);
    let token = path.as_ref().and_then(|p| std::fs::read_to_string(p).ok()).map(|t| t.trim().to_owned());
    let asked = if control { "its screen, keyboard and pointer" } else { "its screen" };
    if token.is_some() {
        info!("asking the desktop to share {asked} again with the token kept from the last run");
    } else {
        info!("asking the desktop to share {asked}: answer its dialog (Share)");
    }
    let request = peerdesk_capture::platform::WaylandRequest { restore_token: token, control };
    let mut capturer = peerdesk_capture::platform::open_wayland(request)?;
    capturer.set_min_interval(Duration::from_secs(1) / config.fps.max(1));
    if let Some(p) = path.clone() {
        capturer.on_new_token(move |t| match crate::pairing::write_private(&p, t.as_bytes()) {
            Ok(()) => info!("kept the desktop's new token in {}", p.display()),
            Err(e) => warn!("cannot keep the desktop's token in {}: {e}", p.display()),
        });
    }
    match (capturer.restore_token(), &path) {
        (Some(t), Some(p)) => match crate::pairing::write_private(p, t.as_bytes()) {
            Ok(()) => info!("kept the desktop's token in {}: no dialog next time", p.display()),
            Err(e) => warn!("cannot keep the desktop's token in {}: {e}", p.display()),
        },
        (Some(_), None) => info!("the desktop gave a token, but there is no state directory to keep it in"),
        (None, _) if !capturer.persists() => info!(
            "this desktop's portal cannot remember remote control (RemoteDesktop version 1, xdg-desktop-portal before 1.18): it asks at every start; --screen-only shares the screen alone, which it remembers"
        ),
        (None, _) => {}
    }
    if !capturer.embedded_cursor() {
        warn!("this desktop's portal cannot draw the pointer into the picture: viewers will not see it");
    }
    let sink: Arc<Mutex<dyn InputSink>> = match capturer.remote_control() {
        Some(remote) => {
            info!(
                "viewers in control reach this desktop's keyboard and pointer through its RemoteDesktop portal"
            );
            Arc::new(Mutex::new(peerdesk_input::platform::portal_sink(remote)))
        }
        None if control => {
            warn!(
                "this desktop gave no keyboard and pointer (its portal has no RemoteDesktop, or it was not allowed): viewers can watch but not control"
            );
            Arc::new(Mutex::new(ViewOnlySink))
        }
        None => {
            info!("--screen-only: viewers watch, nobody controls");
            Arc::new(Mutex::new(ViewOnlySink))
        }
    };
    Ok((Box::new(capturer), sink))
}

#[cfg(not(all(target_os = "linux", feature = "wayland")))]
fn open_wayland(
    _config: &HostConfig,
    _control: bool,
    _monitor: &peerdesk_capture::MonitorChoice,
) -> Result<ScreenAndInput, HostError> {
    Err(peerdesk_capture::CaptureError::Unsupported(
        "this build has no Wayland capture (build with --features wayland, on Linux)",
    )
    .into())
}

/// The input sink with the viewers' gamepads in front: virtual pads through uinput (or files,
/// for tests); their rumble goes back to the viewer whose pad it is, through `feedback`.
fn with_pads(
    config: &HostConfig,
    inner: Arc<Mutex<dyn InputSink>>,
    feedback: tokio::sync::broadcast::Sender<(PeerId, Arc<str>)>,
) -> Arc<Mutex<dyn InputSink>> {
    use peerdesk_input::gamepad::{FileBackend, PadBackend, Pads, Rumble};
    let backend: Result<Box<dyn PadBackend>, String> = match &config.gamepad_dir {
        Some(dir) => FileBackend::new(dir)
            .map(|b| Box::new(b) as Box<dyn PadBackend>)
            .map_err(|e| format!("cannot write gamepads to {}: {e}", dir.display())),
        None => peerdesk_input::platform::open_pads(),
    };
    let on_rumble = Arc::new(move |peer: PeerId, index: u8, r: Rumble| {
        let msg = HostMessage::Rumble {
            index,
            strong: f32::from(r.strong) / f32::from(u16::MAX),
            weak: f32::from(r.weak) / f32::from(u16::MAX),
            duration_ms: r.duration_ms,
        };
        if let Ok(text) = serde_json::to_string(&msg) {
            // Nobody listening: the viewer left.
            let _ = feedback.send((peer, Arc::from(text)));
        }
    });
    Arc::new(Mutex::new(PadSink::new(Pads::new(backend, on_rumble), inner)))
}

/// The latest of a kind of message for viewers, ready to send.
type MessageWatch = tokio::sync::watch::Receiver<Option<Arc<str>>>;

/// The desktop's clipboard, when the source is a desktop and sharing it is on, and the host's
/// latest copy as a `clipboard` message ready to send.
fn open_clipboard(config: &HostConfig) -> (Option<Arc<dyn peerdesk_input::Clipboard>>, MessageWatch) {
    let (tx, rx) = tokio::sync::watch::channel(None);
    let display = match &config.source {
        SourceKind::X11 { display, .. } => Some(display.clone()),
        SourceKind::Windows { .. } => Some(None),
        SourceKind::Wayland { .. } => None,
        SourceKind::TestScene => return (None, rx),
    };
    if !config.clipboard {
        info!("clipboard sharing is off (--no-clipboard)");
        return (None, rx);
    }
    let on_copy =
        Box::new(move |text: String| match serde_json::to_string(&HostMessage::Clipboard { text }) {
            Ok(msg) => {
                tx.send_replace(Some(Arc::from(msg)));
            }
            Err(e) => warn!("cannot encode the clipboard: {e}"),
        });
    let opened = match display {
        Some(display) => {
            peerdesk_input::platform::open_clipboard(display.as_deref(), MAX_CLIPBOARD_TEXT, on_copy)
        }
        None => open_wayland_clipboard(on_copy),
    };
    match opened {
        Ok(c) => (Some(c), rx),
        Err(e) => {
            warn!("{e}; the clipboard is not shared");
            (None, rx)
        }
    }
}

/// A Wayland desktop's clipboard: wlr-data-control where the compositor has it (wlroots).
#[cfg(all(target_os = "linux", feature = "wayland"))]
fn open_wayland_clipboard(
    on_copy: Box<dyn FnMut(String) + Send>,
) -> Result<Arc<dyn peerdesk_input::Clipboard>, peerdesk_input::InputError> {
    peerdesk_input::platform::open_wlr_clipboard(MAX_CLIPBOARD_TEXT, on_copy)
}

#[cfg(not(all(target_os = "linux", feature = "wayland")))]
fn open_wayland_clipboard(
    _on_copy: Box<dyn FnMut(String) + Send>,
) -> Result<Arc<dyn peerdesk_input::Clipboard>, peerdesk_input::InputError> {
    Err(peerdesk_input::InputError::Unsupported("this build has no Wayland support"))
}

/// Starts the audio thread for the configured sound, if any.
fn start_audio(config: &HostConfig, scene: Option<AudioKind>) -> Option<Arc<AudioStream>> {
    let kind = match (&config.audio, scene) {
        (AudioChoice::Off, _) => return None,
        (AudioChoice::Source(name), _) => AudioKind::Desktop(name.clone()),
        (AudioChoice::Auto, Some(tones)) => tones,
        (AudioChoice::Auto, None) => AudioKind::Desktop(peerdesk_audio::platform::DEFAULT_SOURCE.to_owned()),
    };
    info!(
        "sound: {}",
        match &kind {
            AudioKind::Scene { .. } => "the test scene's tones".to_owned(),
            AudioKind::Desktop(name) => format!("source {name}"),
        }
    );
    let opus = OpusConfig { bitrate_bps: config.audio_bitrate_bps };
    match AudioStream::start(kind, opus) {
        Ok(a) => Some(Arc::new(a)),
        Err(e) => {
            warn!("cannot start the audio thread ({e}); streaming video alone");
            None
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn connect_and_serve(
    config: &HostConfig,
    tls: Option<Connector>,
    ctx: &ViewerContext,
    nat: &tokio::sync::watch::Sender<Arc<crate::nat::NatServers>>,
    signal_rx: &mut tokio::sync::mpsc::UnboundedReceiver<ClientMessage>,
    guests: &mut Guests,
    console: &mut Option<tokio::sync::mpsc::Receiver<String>>,
    announced: &mut bool,
    backoff: &mut Duration,
) -> Ended {
    let (ws, _) = match tokio_tungstenite::connect_async_tls_with_config(
        config.signal_url.as_str(),
        None,
        true,
        tls,
    )
    .await
    {
        Ok(ok) => ok,
        Err(e) => {
            let hint = if e.to_string().contains("UnknownIssuer") {
                " (a server with a certificate of its own? trust it with --server-ca FILE, the file `peerdesk serve` printed)"
            } else {
                ""
            };
            return Ended::Lost(format!("cannot connect to {}: {e}{hint}", config.signal_url));
        }
    };
    let (mut sink, mut stream) = ws.split();
    let join = ClientMessage::Join { v: PROTOCOL_VERSION, room: config.room.to_string(), role: Role::Host };
    if let Err(e) = send(&mut sink, &join).await {
        return Ended::Lost(e);
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let out = tokio::select! {
            frame = stream.next() => {
                let frame = match frame {
                    Some(Ok(f)) => f,
                    Some(Err(e)) => return Ended::Lost(format!("connection lost: {e}")),
                    None => return Ended::Lost("connection closed".into()),
                };
                let text = match frame {
                    Message::Text(t) => t,
                    Message::Close(_) => return Ended::Lost("the server closed the connection".into()),
                    _ => continue,
                };
                let msg: ServerMessage = match serde_json::from_str(text.as_str()) {
                    Ok(m) => m,
                    Err(e) => {
                        warn!("ignoring a message from the server that is not understood: {e}");
                        continue;
                    }
                };
                if let ServerMessage::Joined { ice_servers, ice_policy, .. } = &msg {
                    let relay_only = config.relay_only || *ice_policy == Some(peerdesk_proto::IcePolicy::Relay);
                    let servers = crate::nat::resolve(ice_servers, relay_only).await;
                    if !servers.stun.is_empty() || relay_only {
                        info!(
                            "NAT traversal: STUN {:?}, TURN {:?}{}",
                            servers.stun,
                            servers.turn.iter().map(|t| t.addr).collect::<Vec<_>>(),
                            if relay_only { " (relays only)" } else { "" }
                        );
                    }
                    nat.send_replace(Arc::new(servers));
                }
                match on_message(config, ctx, guests, msg, announced, backoff).await {
                    Ok(out) => out,
                    Err(ended) => return ended,
                }
            }
            Some(msg) = signal_rx.recv() => vec![msg],
            line = next_line(console) => match line {
                Some(line) if !line.trim().is_empty() => {
                    let outcome = match HostCommand::parse(&line) {
                        Ok(cmd) => guests.command(cmd, std::time::Instant::now()),
                        Err(e) => Outcome { lines: vec![format!("error: {e}")], ..Outcome::default() },
                    };
                    say(&outcome.lines);
                    if let Some(links) = &outcome.links {
                        announce(links, config.qr);
                    }
                    outcome.send
                }
                Some(_) => Vec::new(),
                None => {
                    *console = None;
                    Vec::new()
                }
            },
            _ = tick.tick() => guests.tick(std::time::Instant::now()),
        };
        for msg in &out {
            if let Err(e) = send(&mut sink, msg).await {
                return Ended::Lost(e);
            }
        }
    }
}

/// Acts on one message from the server; the messages to send back, or why to stop.
async fn on_message(
    config: &HostConfig,
    ctx: &ViewerContext,
    guests: &mut Guests,
    msg: ServerMessage,
    announced: &mut bool,
    backoff: &mut Duration,
) -> Result<Vec<ClientMessage>, Ended> {
    let now = std::time::Instant::now();
    Ok(match msg {
        ServerMessage::Joined { room, .. } => {
            *backoff = BACKOFF_MIN;
            info!(%room, "joined the signaling server; waiting for viewers");
            if !*announced {
                *announced = true;
                announce(&guests.links().map_err(|e| Ended::Fatal(e.into()))?, config.qr);
            }
            Vec::new()
        }
        ServerMessage::Offer { peer, sdp, auth } => guests.offer(peer, &sdp, auth.as_ref(), ctx, now).await,
        ServerMessage::Proof { peer, mac } => guests.proof(peer, &mac, now),
        ServerMessage::Deny { peer, code, .. } => {
            guests.denied_by_viewer(peer, code);
            Vec::new()
        }
        ServerMessage::Candidate { peer, candidate, .. } => {
            guests.candidate(peer, ViewerCommand::Candidate(candidate));
            Vec::new()
        }
        ServerMessage::ViewerJoined { peer } => {
            debug!(%peer, "viewer joined the room");
            Vec::new()
        }
        ServerMessage::ViewerLeft { peer } => {
            guests.left(peer);
            Vec::new()
        }
        // Back after the server (or one of several) went away, the room may still hold this
        // host's earlier connection until it times out: wait for it. The first time, another
        // host holds the room.
        ServerMessage::Error { code: ErrorCode::HostExists, .. } if *announced => {
            return Err(Ended::Lost(
                "the room still counts this host's previous connection; waiting for it to time out".into(),
            ));
        }
        ServerMessage::Error { code: ErrorCode::HostExists, .. } => {
            return Err(Ended::Fatal(HostError::RoomTaken(config.room.to_string())));
        }
        ServerMessage::Error { code: ErrorCode::Unavailable, message } => {
            return Err(Ended::Lost(message));
        }
        ServerMessage::Error { code, message } => match code {
            ErrorCode::UnsupportedVersion | ErrorCode::InvalidRoom | ErrorCode::TooManyRooms => {
                return Err(Ended::Fatal(HostError::Refused(message)));
            }
            _ => {
                warn!(?code, "the server refused a message: {message}");
                Vec::new()
            }
        },
        ServerMessage::Answer { peer, sdp, .. } => {
            guests.candidate(peer, ViewerCommand::Answer(sdp));
            Vec::new()
        }
        ServerMessage::HostOnline { .. } | ServerMessage::HostOffline => {
            debug!("ignoring a message meant for viewers");
            Vec::new()
        }
    })
}

/// The next console line; never when there is no console.
async fn next_line(console: &mut Option<tokio::sync::mpsc::Receiver<String>>) -> Option<String> {
    match console {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Console output: on stdout, a line each.
fn say(lines: &[String]) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for l in lines {
        let _ = writeln!(out, "{l}");
    }
    let _ = out.flush();
}

async fn send<S>(sink: &mut S, msg: &ClientMessage) -> Result<(), String>
where
    S: futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
{
    let text = serde_json::to_string(msg).map_err(|e| format!("cannot encode a message: {e}"))?;
    sink.send(Message::Text(text.into())).await.map_err(|e| format!("send failed: {e}"))
}

/// For a `wss://` server: rustls trusting the public roots and `--server-ca`.
fn tls_connector(config: &HostConfig) -> Result<Option<Connector>, HostError> {
    use rustls_pki_types::pem::PemObject;
    if !config.signal_url.starts_with("wss://") {
        return Ok(None);
    }
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(path) = &config.server_ca {
        let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|e| HostError::Tls(format!("{}: {e}", path.display())))?;
        if certs.is_empty() {
            return Err(HostError::Tls(format!("{}: no certificate in it", path.display())));
        }
        for c in certs {
            roots.add(c).map_err(|e| HostError::Tls(format!("{}: {e}", path.display())))?;
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| HostError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Some(Connector::Rustls(Arc::new(tls))))
}

/// The lines a user (or a script) looks for: `open URL` (the control link) and, with a
/// view-only link, `view URL`; the control link also as a QR code on stderr when asked.
fn announce(links: &Links, qr: bool) {
    let mut lines = vec![format!("open {}", links.control)];
    if let Some(view) = &links.view {
        lines.push(format!("view {view}"));
    }
    say(&lines);
    if qr {
        match crate::pairing::qr_code(&links.control) {
            Some(code) => eprintln!("{code}"),
            None => warn!("the link is too long for a QR code"),
        }
    }
}

/// The video's settings without rate control.
#[derive(Clone, Copy, Debug)]
struct Fixed {
    bitrate_bps: u32,
    fps: u32,
    /// Whether rate control runs (else the status line has no estimate to tell).
    rate_control: bool,
}

/// Every second: the host's own figures to every viewer (the page's stats overlay). Every
/// `every`: a status line in the log, over the same numbers.
async fn status_loop(
    pipeline: Arc<Pipeline>,
    audio: Option<Arc<AudioStream>>,
    every: Duration,
    fixed: Fixed,
    to_viewers: tokio::sync::watch::Sender<Option<Arc<str>>>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    pipeline.stats().take();
    let audio_window = || audio.as_ref().map(|a| a.stats().take()).unwrap_or_default();
    audio_window();
    let mut video_total = StageWindow::default();
    let mut audio_total = AudioWindow::default();
    let mut total_since = std::time::Instant::now();
    loop {
        tick.tick().await;
        let w = pipeline.stats().take();
        let a = audio_window();
        let viewers = pipeline.viewers();
        if viewers > 0 {
            let secs = w.since.map_or(1.0, |s| s.elapsed().as_secs_f64()).max(0.001);
            let (target_bps, target_fps, scale, limit, net) = match w.rate {
                Some((d, net)) => (d.bitrate_bps, d.fps, d.scale, d.limit, net),
                None => (fixed.bitrate_bps, fixed.fps, 1.0, Limit::None, NetworkReport::default()),
            };
            let msg = HostMessage::Stats {
                encoder: pipeline.encoders_in_use(),
                fps: (w.frames as f64 / secs) as f32,
                mbps: (w.bytes as f64 * 8.0 / secs / 1e6) as f32,
                capture_ms: ms(w.average(w.capture)) as f32,
                convert_ms: ms(w.average(w.convert)) as f32,
                encode_ms: ms(w.average(w.encode)) as f32,
                frame_p50_ms: ms(w.total_percentile(50)) as f32,
                frame_p95_ms: ms(w.total_percentile(95)) as f32,
                keyframes: u32::try_from(w.keyframes).unwrap_or(u32::MAX),
                largest_frame_kb: (w.largest as f64 / 1000.0) as f32,
                audio_kbps: (a.bytes as f64 * 8.0 / secs / 1000.0) as f32,
                target_mbps: (f64::from(target_bps) / 1e6) as f32,
                target_fps,
                scale: scale as f32,
                estimate_mbps: net.estimate_bps.map(|e| (e as f64 / 1e6) as f32),
                loss_pct: (net.loss * 100.0) as f32,
                redundant: net.redundant,
                limit: limit.name().to_owned(),
                why: w.why.clone(),
                queue_ms: net.queue_delay.map(|q| ms(q) as f32),
                estimate_doubted: net.doubted,
                estimate_resets: net.estimate_resets,
            };
            to_viewers.send_replace(serde_json::to_string(&msg).ok().map(Arc::from));
        }
        video_total.merge(w);
        audio_total.merge(a);
        if total_since.elapsed() < every {
            continue;
        }
        let secs = total_since.elapsed().as_secs_f64().max(0.001);
        total_since = std::time::Instant::now();
        let (w, a) = (std::mem::take(&mut video_total), std::mem::take(&mut audio_total));
        if viewers == 0 {
            continue;
        }
        info!(
            "{} viewer{} · {} · {:.0} fps · {:.1} Mb/s · capture {:.1} ms · convert {:.1} ms · encode {:.1} ms (max {:.1}) · per frame p50 {:.1} ms, p95 {:.1} ms · {} keyframes",
            viewers,
            if viewers == 1 { "" } else { "s" },
            pipeline.encoders_in_use(),
            w.frames as f64 / secs,
            w.bytes as f64 * 8.0 / secs / 1e6,
            ms(w.average(w.capture)),
            ms(w.average(w.convert)),
            ms(w.average(w.encode)),
            ms(w.encode_max),
            ms(w.total_percentile(50)),
            ms(w.total_percentile(95)),
            w.keyframes,
        );
        if let Some((d, net)) = w.rate
            && fixed.rate_control
        {
            info!(
                "rate control · target {:.2} Mb/s, {} fps, {:.0}% size · limit {}{} · estimate {}{} · queue on the path {} · loss {:.1}%{}",
                f64::from(d.bitrate_bps) / 1e6,
                d.fps,
                d.scale * 100.0,
                d.limit.name(),
                w.why.as_deref().map_or(String::new(), |why| format!(" ({why})")),
                net.estimate_bps.map_or("none yet".into(), |e| format!("{:.2} Mb/s", e as f64 / 1e6)),
                match net.estimate_resets {
                    0 => String::new(),
                    n => format!(" ({n} unconfirmed drop{} restarted)", if n == 1 { "" } else { "s" }),
                },
                net.queue_delay.map_or("not measured".into(), |q| format!("{:.0} ms", ms(q))),
                net.loss * 100.0,
                if net.redundant { " (packets sent twice)" } else { "" },
            );
        }
        if a.frames > 0 {
            info!(
                "sound · {:.0} kb/s · {} of {} frames sent (silence is not) · encode {:.2} ms a frame",
                a.bytes as f64 * 8.0 / secs / 1000.0,
                a.packets,
                a.frames,
                ms(a.encode) / a.frames as f64,
            );
        }
    }
}

/// The bandwidth estimator starts at the video's full rate plus the sound's, and probes for
/// enough above it that the video's share of the estimate (85%) can reach the full rate.
fn bandwidth_config(config: &HostConfig) -> BandwidthConfig {
    let audio =
        if matches!(config.audio, AudioChoice::Off) { 0 } else { u64::from(config.audio_bitrate_bps) };
    let video = u64::from(config.bitrate_bps);
    BandwidthConfig { start_bps: video + audio, desired_bps: video * 3 / 2 + audio }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
