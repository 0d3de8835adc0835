//! Wayland capture through the desktop's ScreenCast portal and PipeWire.
//!
//! The portal asks the user (the desktop's own "share your screen" dialog, once: the restore
//! token it gives back skips the dialog next time) and hands over a PipeWire node; frames arrive
//! on it in shared memory when the screen changes (an idle desktop sends none). Two threads: one
//! keeps the portal session (it ends with its D-Bus connection), one runs PipeWire's loop and
//! puts each frame, as BGRA, in a one-place slot that [`Capturer::next_frame`] takes from.

use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ashpd::desktop::PersistMode;
use ashpd::desktop::remote_desktop::{Axis, DeviceType, KeyState, RemoteDesktop, SelectDevicesOptions};
use ashpd::desktop::screencast::{CursorMode, Screencast, SelectSourcesOptions, SourceType};
use pipewire as pw;
use pw::spa;
use tracing::{debug, info, warn};

use crate::{CaptureError, Capturer, Frame, LatestSlot};

/// What the portal gave: the stream and how to keep it.
struct Granted {
    node: u32,
    fd: OwnedFd,
    size: Option<(u32, u32)>,
    restore_token: Option<String>,
    embedded_cursor: bool,
    /// Keyboard and pointer were granted with the screen.
    control: bool,
}

/// A frame or the end of the stream, from the PipeWire thread.
enum Delivery {
    Frame(Frame),
    Ended(String),
}

/// What the host asks of the desktop.
#[derive(Clone, Debug, Default)]
pub struct WaylandRequest {
    /// The token kept from the last run: the desktop shares again without its dialog (when it
    /// still takes it).
    pub restore_token: Option<String>,
    /// Ask for keyboard and pointer too (the RemoteDesktop portal), where the desktop has it.
    pub control: bool,
}

/// One input event for the desktop, in evdev codes and the stream's logical pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum PortalInput {
    /// A key (`KEY_*`) down or up.
    Key(u16, bool),
    /// A character typed through its keysym.
    Keysym(u32),
    /// A pointer button (`BTN_*`) down or up.
    Button(u16, bool),
    /// The pointer to (x, y) of the stream.
    MoveTo(f64, f64),
    /// The pointer by (dx, dy).
    MoveBy(f64, f64),
    /// Wheel notches (x, y), positive right and down.
    Scroll(i32, i32),
}

/// Sends input to the desktop through the RemoteDesktop session the screen came with (the
/// session of the day: a cast asked for again after the desktop ended one gives a new one).
#[derive(Clone, Debug, Default)]
pub struct RemoteControl {
    to: Arc<Mutex<Option<InputRoute>>>,
}

/// Where input goes (the portal session's queue) and the area the pointer moves in.
type InputRoute = (tokio::sync::mpsc::Sender<PortalInput>, (u32, u32));

/// What keeps a token the desktop gives (the host writes it to its state directory).
type TokenKeeper = Box<dyn Fn(&str) + Send>;

/// Input events waiting for the portal at most; more are dropped (the desktop is not keeping up).
const INPUT_QUEUE: usize = 1024;

impl RemoteControl {
    /// Queues `event` for the desktop; false when the queue is full or the session is gone.
    pub fn send(&self, event: PortalInput) -> bool {
        let to = self.to.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        to.as_ref().is_some_and(|(tx, _)| tx.try_send(event).is_ok())
    }

    /// The stream's size in the portal's pointer coordinates (zero while there is no session).
    pub fn area(&self) -> (u32, u32) {
        let to = self.to.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        to.as_ref().map_or((0, 0), |(_, area)| *area)
    }

    fn set(&self, to: Option<InputRoute>) {
        *self.to.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = to;
    }
}

/// One cast the desktop granted: its frames, and its threads until dropped.
struct Live {
    slot: Arc<LatestSlot<Delivery>>,
    size: (u32, u32),
    restore_token: Option<String>,
    embedded_cursor: bool,
    /// Keyboard and pointer granted: where they go, and the area they move in.
    input: Option<InputRoute>,
    persists: bool,
    quit_pw: Option<pw::channel::Sender<()>>,
    quit_portal: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(q) = self.quit_pw.take() {
            let _ = q.send(());
        }
        if let Some(q) = self.quit_portal.take() {
            let _ = q.send(());
        }
    }
}

/// First wait before asking the desktop again after it ended a cast; doubles up to the next.
const REOPEN_FIRST: Duration = Duration::from_secs(1);
const REOPEN_MOST: Duration = Duration::from_secs(30);

/// Asking the desktop again, on a thread of its own (the dialog may wait for the user).
struct Reopening {
    answer: std::sync::mpsc::Receiver<Result<Live, CaptureError>>,
}

/// The desktop's screen through the portal. When the desktop ends the cast (the user stopped
/// sharing, PipeWire went away) it says why through [`Capturer::away`] and asks the desktop
/// again until it shares. Dropping it ends the cast.
pub struct WaylandCapturer {
    live: Option<Live>,
    request: WaylandRequest,
    size: (u32, u32),
    min_interval: Duration,
    last: Option<Instant>,
    embedded_cursor: bool,
    persists: bool,
    control: Option<RemoteControl>,
    on_token: Option<TokenKeeper>,
    away: Option<String>,
    reopening: Option<Reopening>,
    next_try: Instant,
    wait: Duration,
    /// The user refused when asked again: no more asking.
    gave_up: bool,
}

impl std::fmt::Debug for WaylandCapturer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaylandCapturer").field("size", &self.size).finish_non_exhaustive()
    }
}

impl WaylandCapturer {
    /// The token that skips the dialog next time (the portal's, when it gives one).
    pub fn restore_token(&self) -> Option<&str> {
        self.live.as_ref().and_then(|l| l.restore_token.as_deref())
    }

    /// Calls `keep` with each token the desktop gives when asked again later.
    pub fn on_new_token(&mut self, keep: impl Fn(&str) + Send + 'static) {
        self.on_token = Some(Box::new(keep));
    }

    /// Whether the pointer is drawn into the picture (else the viewers do not see it).
    pub fn embedded_cursor(&self) -> bool {
        self.embedded_cursor
    }

    /// Keyboard and pointer, when the desktop granted them with the screen.
    pub fn remote_control(&self) -> Option<RemoteControl> {
        self.control.clone()
    }

    /// Whether this desktop's portal can remember the choice (so a token may come back).
    pub fn persists(&self) -> bool {
        self.persists
    }
}

/// Words for what the portal said.
fn portal_error(e: &ashpd::Error) -> CaptureError {
    let why = match e {
        ashpd::Error::Response(ashpd::desktop::ResponseError::Cancelled) => {
            "the screen share was refused (Cancel in the desktop's dialog); start the host again and press Share".to_owned()
        }
        ashpd::Error::Zbus(_) | ashpd::Error::PortalNotFound(_) => format!(
            "no ScreenCast portal on the session bus ({e}): install xdg-desktop-portal and your desktop's backend (-gnome, -kde or -wlr), and run the host inside the desktop session"
        ),
        other => format!("the ScreenCast portal failed: {other}"),
    };
    CaptureError::Desktop(why)
}

/// The session the portal keeps for us: the screen alone, or the screen with keyboard and
/// pointer.
enum PortalSession {
    Cast(ashpd::desktop::Session<Screencast>),
    Remote(RemoteDesktop, ashpd::desktop::Session<RemoteDesktop>),
}

impl PortalSession {
    async fn close(self) {
        let _ = match self {
            Self::Cast(s) => s.close().await,
            Self::Remote(_, s) => s.close().await,
        };
    }
}

/// The RemoteDesktop portal, when the desktop has one that takes keyboard and pointer.
async fn remote_desktop_portal() -> Option<RemoteDesktop> {
    let proxy = match RemoteDesktop::new().await {
        Ok(p) => p,
        Err(e) => {
            debug!("no RemoteDesktop portal: {e}");
            return None;
        }
    };
    match proxy.available_device_types().await {
        Ok(t) if t.contains(DeviceType::Keyboard | DeviceType::Pointer) => Some(proxy),
        Ok(t) => {
            debug!(?t, "the RemoteDesktop portal offers no keyboard and pointer");
            None
        }
        Err(e) => {
            debug!("the RemoteDesktop portal does not answer: {e}");
            None
        }
    }
}

/// Asks the portal for one monitor (with keyboard and pointer when asked and offered): the
/// dialog, or none with a valid restore token.
async fn ask_portal(request: WaylandRequest) -> Result<(PortalSession, Granted, bool), CaptureError> {
    let screencast = Screencast::new().await.map_err(|e| portal_error(&e))?;
    let cursors = screencast.available_cursor_modes().await.map_err(|e| portal_error(&e))?;
    // The pointer drawn into the picture, so viewers see it (the page draws it from metadata
    // on X11; reading the stream's cursor metadata is not built yet). Hidden only where the
    // portal cannot draw it.
    let embedded = cursors.contains(CursorMode::Embedded);
    let cursor = if embedded { CursorMode::Embedded } else { CursorMode::Hidden };
    let token = request.restore_token.as_deref();
    let sources = SelectSourcesOptions::default()
        .set_cursor_mode(cursor)
        .set_sources(Some(SourceType::Monitor.into()))
        .set_multiple(false);
    let remote = if request.control { remote_desktop_portal().await } else { None };
    let (session, started, persists) = if let Some(remote) = remote {
        // RemoteDesktop version 1 (xdg-desktop-portal before 1.18) cannot remember a choice:
        // asking it to fails the session, so it asks each time.
        let persists = remote.version() >= 2;
        let session = remote.create_session(Default::default()).await.map_err(|e| portal_error(&e))?;
        let mut devices =
            SelectDevicesOptions::default().set_devices(DeviceType::Keyboard | DeviceType::Pointer);
        if persists {
            devices = devices.set_persist_mode(PersistMode::ExplicitlyRevoked).set_restore_token(token);
        }
        remote.select_devices(&session, devices).await.map_err(|e| portal_error(&e))?;
        screencast.select_sources(&session, sources).await.map_err(|e| portal_error(&e))?;
        let started = remote
            .start(&session, None, Default::default())
            .await
            .and_then(|r| r.response())
            .map_err(|e| portal_error(&e))?;
        let control = started.devices().contains(DeviceType::Keyboard | DeviceType::Pointer);
        let granted =
            (started.streams().first().cloned(), started.restore_token().map(str::to_owned), control);
        (PortalSession::Remote(remote, session), granted, persists)
    } else {
        debug!("portal: ScreenCast session");
        let session = screencast.create_session(Default::default()).await.map_err(|e| portal_error(&e))?;
        screencast
            .select_sources(
                &session,
                sources.set_restore_token(token).set_persist_mode(PersistMode::ExplicitlyRevoked),
            )
            .await
            .map_err(|e| portal_error(&e))?;
        debug!("portal: start the cast");
        let started = screencast
            .start(&session, None, Default::default())
            .await
            .and_then(|r| r.response())
            .map_err(|e| portal_error(&e))?;
        let granted = (started.streams().first().cloned(), started.restore_token().map(str::to_owned), false);
        (PortalSession::Cast(session), granted, true)
    };
    let (stream, restore_token, control) = started;
    let stream = stream
        .ok_or_else(|| CaptureError::Desktop("the portal started a cast with no stream in it".into()))?;
    debug!("portal: the PipeWire remote");
    let fd = match &session {
        PortalSession::Cast(s) => screencast.open_pipe_wire_remote(s, Default::default()).await,
        PortalSession::Remote(_, s) => screencast.open_pipe_wire_remote(s, Default::default()).await,
    }
    .map_err(|e| portal_error(&e))?;
    let granted = Granted {
        node: stream.pipe_wire_node_id(),
        fd,
        size: stream.size().and_then(|(w, h)| Some((u32::try_from(w).ok()?, u32::try_from(h).ok()?))),
        restore_token,
        embedded_cursor: embedded,
        control,
    };
    Ok((session, granted, persists))
}

/// Tells the desktop one input event through the RemoteDesktop session.
async fn notify(
    remote: &RemoteDesktop,
    session: &ashpd::desktop::Session<RemoteDesktop>,
    node: u32,
    event: PortalInput,
) -> ashpd::Result<()> {
    let state = |down: bool| if down { KeyState::Pressed } else { KeyState::Released };
    match event {
        PortalInput::Key(code, down) => {
            remote.notify_keyboard_keycode(session, i32::from(code), state(down), Default::default()).await
        }
        PortalInput::Keysym(sym) => {
            let sym = i32::try_from(sym).unwrap_or(0);
            remote.notify_keyboard_keysym(session, sym, KeyState::Pressed, Default::default()).await?;
            remote.notify_keyboard_keysym(session, sym, KeyState::Released, Default::default()).await
        }
        PortalInput::Button(code, down) => {
            remote.notify_pointer_button(session, i32::from(code), state(down), Default::default()).await
        }
        PortalInput::MoveTo(x, y) => {
            remote.notify_pointer_motion_absolute(session, node, x, y, Default::default()).await
        }
        PortalInput::MoveBy(dx, dy) => {
            remote.notify_pointer_motion(session, dx, dy, Default::default()).await
        }
        PortalInput::Scroll(x, y) => {
            if y != 0 {
                remote.notify_pointer_axis_discrete(session, Axis::Vertical, y, Default::default()).await?;
            }
            if x != 0 {
                remote.notify_pointer_axis_discrete(session, Axis::Horizontal, x, Default::default()).await?;
            }
            Ok(())
        }
    }
}

/// Keeps the portal session until `quit`, passing input events to it as they come.
async fn keep_session(
    session: PortalSession,
    node: u32,
    mut input: tokio::sync::mpsc::Receiver<PortalInput>,
    mut quit: tokio::sync::oneshot::Receiver<()>,
) {
    if let PortalSession::Remote(remote, s) = &session {
        let mut failures = 0u32;
        loop {
            tokio::select! {
                _ = &mut quit => break,
                event = input.recv() => {
                    let Some(event) = event else {
                        let _ = (&mut quit).await;
                        break;
                    };
                    if let Err(e) = notify(remote, s, node, event).await {
                        failures += 1;
                        if failures == 1 || failures.is_power_of_two() {
                            warn!(failures, "the desktop refused input: {e}");
                        }
                    }
                }
            }
        }
    } else {
        let _ = quit.await;
    }
    session.close().await;
}

/// Opens the desktop's screen (and keyboard and pointer, when asked) through the portal,
/// blocking until the user answers its dialog, or at once with a restore token it still takes.
pub fn open_wayland(request: WaylandRequest) -> Result<WaylandCapturer, CaptureError> {
    let live = open_live(request.clone())?;
    let control = live.input.is_some().then(RemoteControl::default);
    if let Some(c) = &control {
        c.set(live.input.clone());
    }
    Ok(WaylandCapturer {
        size: live.size,
        embedded_cursor: live.embedded_cursor,
        persists: live.persists,
        request: WaylandRequest {
            restore_token: live.restore_token.clone().or(request.restore_token),
            ..request
        },
        live: Some(live),
        min_interval: Duration::ZERO,
        last: None,
        control,
        on_token: None,
        away: None,
        reopening: None,
        next_try: Instant::now(),
        wait: REOPEN_FIRST,
        gave_up: false,
    })
}

/// The runtime every portal call runs on, made once and never dropped.
fn portal_runtime() -> Result<&'static tokio::runtime::Runtime, CaptureError> {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    if let Some(rt) = RUNTIME.get() {
        return Ok(rt);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("peerdesk-portal")
        .enable_all()
        .build()
        .map_err(|e| CaptureError::Desktop(format!("cannot start the portal's thread: {e}")))?;
    Ok(RUNTIME.get_or_init(|| rt))
}

/// One cast, as [`open_wayland`] opens it.
fn open_live(request: WaylandRequest) -> Result<Live, CaptureError> {
    // The portal session lives as long as its D-Bus connection, which ashpd shares for the
    // whole process and whose reader runs on the runtime it was made on: one runtime of the
    // portal's own keeps it for as long as the process lives (the host calls this from inside
    // its own runtime, where another cannot block).
    let (granted_tx, granted_rx) = std::sync::mpsc::channel();
    let (quit_portal, quit_rx) = tokio::sync::oneshot::channel::<()>();
    let (input_tx, input_rx) = tokio::sync::mpsc::channel::<PortalInput>(INPUT_QUEUE);
    portal_runtime()?.spawn(async move {
        match ask_portal(request).await {
            Ok((session, granted, persists)) => {
                let node = granted.node;
                let _ = granted_tx.send(Ok((granted, persists)));
                keep_session(session, node, input_rx, quit_rx).await;
            }
            Err(e) => {
                let _ = granted_tx.send(Err(e));
            }
        }
    });
    let (granted, persists) = granted_rx
        .recv()
        .map_err(|_| CaptureError::Desktop("the portal thread ended without an answer".into()))??;
    info!(
        node = granted.node,
        size = ?granted.size,
        cursor = if granted.embedded_cursor { "in the picture" } else { "not shown (this portal cannot draw it)" },
        "the desktop shares its screen{} through the {} portal{}",
        if granted.control { " and keyboard and pointer" } else { "" },
        if granted.control { "RemoteDesktop" } else { "ScreenCast" },
        if granted.restore_token.is_some() { " (it gave a token: no dialog next time)" } else { "" }
    );
    let slot = Arc::new(LatestSlot::new());
    let (quit_pw, quit_pw_rx) = pw::channel::channel::<()>();
    let (size_tx, size_rx) = std::sync::mpsc::channel();
    let thread_slot = slot.clone();
    let Granted { node, fd, size, restore_token, embedded_cursor, control } = granted;
    std::thread::Builder::new()
        .name("peerdesk-pipewire".into())
        .spawn(move || {
            if let Err(e) = run_stream(node, fd, &thread_slot, quit_pw_rx, size_tx) {
                thread_slot.put(Delivery::Ended(e));
            }
            thread_slot.close();
        })
        .map_err(|e| CaptureError::Desktop(e.to_string()))?;
    // The picture's size, once PipeWire has agreed on a format (the portal's own figure if
    // it said; the stream's decides).
    let frame_size = match size_rx.recv_timeout(Duration::from_secs(10)) {
        Ok(s) => s,
        Err(_) => size.ok_or_else(|| {
            CaptureError::Desktop("PipeWire agreed on no picture format within 10 s".into())
        })?,
    };
    // Pointer positions are in the stream's logical pixels: the portal's size where it gave one.
    let input = control.then(|| (input_tx, size.unwrap_or(frame_size)));
    Ok(Live {
        slot,
        size: frame_size,
        restore_token,
        embedded_cursor,
        input,
        persists,
        quit_pw: Some(quit_pw),
        quit_portal: Some(quit_portal),
    })
}

/// The byte order of a PipeWire video format, as the index of B, G, R in a pixel (alpha or
/// padding in the fourth); `None` for formats not taken.
fn channel_order(format: spa::param::video::VideoFormat) -> Option<[usize; 3]> {
    use spa::param::video::VideoFormat as F;
    match format {
        f if f == F::BGRx || f == F::BGRA => Some([0, 1, 2]),
        f if f == F::RGBx || f == F::RGBA => Some([2, 1, 0]),
        _ => None,
    }
}

/// A frame of `width` x `height` from rows `stride` bytes apart in `src`, pixels in `order`,
/// as tight BGRA; `None` when `src` is too short.
pub fn to_bgra(src: &[u8], width: u32, height: u32, stride: usize, order: [usize; 3]) -> Option<Vec<u8>> {
    let (w, h) = (width as usize, height as usize);
    if stride < w * 4 || h == 0 || src.len() < stride * (h - 1) + w * 4 {
        return None;
    }
    if order == [0, 1, 2] {
        let mut out = crate::tight_rows(src, stride, w * 4, h)?;
        // Padding bytes (BGRx) are not alpha: opaque.
        out.iter_mut().skip(3).step_by(4).for_each(|a| *a = 255);
        return Some(out);
    }
    let mut out = Vec::with_capacity(w * h * 4);
    for row in src.chunks(stride).take(h) {
        for px in row[..w * 4].chunks_exact(4) {
            out.extend_from_slice(&[px[order[0]], px[order[1]], px[order[2]], 255]);
        }
    }
    Some(out)
}

/// PipeWire's loop for one stream: frames into `slot` until `quit`.
fn run_stream(
    node: u32,
    fd: OwnedFd,
    slot: &Arc<LatestSlot<Delivery>>,
    quit: pw::channel::Receiver<()>,
    size_tx: std::sync::mpsc::Sender<(u32, u32)>,
) -> Result<(), String> {
    pw::init();
    let mainloop = pw::main_loop::MainLoop::new(None).map_err(|e| format!("PipeWire: {e}"))?;
    let context = pw::context::Context::new(&mainloop).map_err(|e| format!("PipeWire: {e}"))?;
    let core =
        context.connect_fd(fd, None).map_err(|e| format!("cannot reach PipeWire through the portal: {e}"))?;
    let stream = pw::stream::Stream::new(
        &core,
        "peerdesk",
        pw::properties::properties! {
            *pw::keys::MEDIA_TYPE => "Video",
            *pw::keys::MEDIA_CATEGORY => "Capture",
            *pw::keys::MEDIA_ROLE => "Screen",
        },
    )
    .map_err(|e| format!("PipeWire stream: {e}"))?;
    struct Negotiated {
        size: (u32, u32),
        order: Option<[usize; 3]>,
    }
    let state = std::rc::Rc::new(std::cell::RefCell::new(Negotiated { size: (0, 0), order: None }));
    let (on_format, on_frame) = (state.clone(), state);
    let (ended, frames) = (slot.clone(), slot.clone());
    let ml = mainloop.clone();
    let _listener = stream
        .add_local_listener_with_user_data(())
        .state_changed(move |_, _, old, new| {
            debug!(?old, ?new, "PipeWire stream");
            if let pw::stream::StreamState::Error(e) = &new {
                ended.put(Delivery::Ended(format!("the desktop's PipeWire stream failed: {e}")));
                ml.quit();
            } else if matches!(new, pw::stream::StreamState::Unconnected) {
                ended.put(Delivery::Ended("the desktop stopped sharing the screen".into()));
                ml.quit();
            }
        })
        .param_changed(move |_, _, id, param| {
            let Some(param) = param else { return };
            if id != spa::param::ParamType::Format.as_raw() {
                return;
            }
            let mut info = spa::param::video::VideoInfoRaw::default();
            if info.parse(param).is_err() {
                return;
            }
            let mut n = on_format.borrow_mut();
            n.size = (info.size().width, info.size().height);
            n.order = channel_order(info.format());
            if n.order.is_none() {
                warn!(format = ?info.format(), "PipeWire offered a picture format peerdesk does not take");
            }
            let _ = size_tx.send(n.size);
        })
        .process(move |s, _| {
            let Some(mut buffer) = s.dequeue_buffer() else { return };
            let started = Instant::now();
            let n = on_frame.borrow();
            let (Some(order), (w, h)) = (n.order, n.size) else { return };
            let Some(data) = buffer.datas_mut().first_mut() else { return };
            let (stride, size) = (data.chunk().stride(), data.chunk().size());
            // A buffer with no picture (only metadata: the cursor moved) changes nothing.
            if size == 0 || stride <= 0 {
                return;
            }
            let Some(bytes) = data.data() else { return };
            if let Some(px) = to_bgra(bytes, w, h, stride as usize, order) {
                frames.put(Delivery::Frame(Frame {
                    width: w,
                    height: h,
                    stride: w as usize * 4,
                    data: px,
                    captured_at: started,
                    capture_time: started.elapsed(),
                }));
            }
        })
        .register()
        .map_err(|e| format!("PipeWire listener: {e}"))?;
    let format = format_offer()?;
    let mut params = [spa::pod::Pod::from_bytes(&format).ok_or("PipeWire format")?];
    stream
        .connect(
            spa::utils::Direction::Input,
            Some(node),
            pw::stream::StreamFlags::AUTOCONNECT | pw::stream::StreamFlags::MAP_BUFFERS,
            &mut params,
        )
        .map_err(|e| format!("cannot connect to the desktop's PipeWire stream: {e}"))?;
    let ml = mainloop.clone();
    let _quit = quit.attach(mainloop.loop_(), move |()| ml.quit());
    mainloop.run();
    Ok(())
}

/// The formats asked for: 32-bit RGB in either order, any size and rate.
fn format_offer() -> Result<Vec<u8>, String> {
    use spa::param::format::{FormatProperties, MediaSubtype, MediaType};
    use spa::param::video::VideoFormat;
    let obj = spa::pod::object!(
        spa::utils::SpaTypes::ObjectParamFormat,
        spa::param::ParamType::EnumFormat,
        spa::pod::property!(FormatProperties::MediaType, Id, MediaType::Video),
        spa::pod::property!(FormatProperties::MediaSubtype, Id, MediaSubtype::Raw),
        spa::pod::property!(
            FormatProperties::VideoFormat,
            Choice,
            Enum,
            Id,
            VideoFormat::BGRx,
            VideoFormat::BGRx,
            VideoFormat::BGRA,
            VideoFormat::RGBx,
            VideoFormat::RGBA
        ),
        spa::pod::property!(
            FormatProperties::VideoSize,
            Choice,
            Range,
            Rectangle,
            spa::utils::Rectangle { width: 1920, height: 1080 },
            spa::utils::Rectangle { width: 2, height: 2 },
            spa::utils::Rectangle { width: crate::MAX_DIMENSION, height: crate::MAX_DIMENSION }
        ),
        spa::pod::property!(
            FormatProperties::VideoFramerate,
            Choice,
            Range,
            Fraction,
            spa::utils::Fraction { num: 60, denom: 1 },
            spa::utils::Fraction { num: 0, denom: 1 },
            spa::utils::Fraction { num: 1000, denom: 1 }
        ),
    );
    spa::pod::serialize::PodSerializer::serialize(
        std::io::Cursor::new(Vec::new()),
        &spa::pod::Value::Object(obj),
    )
    .map(|(c, _)| c.into_inner())
    .map_err(|e| format!("PipeWire format: {e:?}"))
}

impl WaylandCapturer {
    /// The cast ended: say why, drop it, and ask again soon.
    fn lost(&mut self, why: &str) {
        self.live = None;
        if let Some(c) = &self.control {
            c.set(None);
        }
        warn!("{why}: viewers see the last picture; the host asks the desktop to share again");
        let mut chars = why.chars();
        let why_up: String =
            chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
        self.away = Some(format!("{why_up}; the host is asking the desktop to share it again"));
        self.wait = REOPEN_FIRST;
        self.next_try = Instant::now() + self.wait;
    }

    /// Asks the desktop again when it is time, and takes its answer when it has come.
    fn reopen(&mut self, deadline: Instant) {
        if let Some(r) = &self.reopening {
            let answer = match r.answer.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(a) => a,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => return,
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    Err(CaptureError::Desktop("the portal thread ended without an answer".into()))
                }
            };
            self.reopening = None;
            match answer {
                Ok(live) => {
                    info!("the desktop shares its screen again: streaming");
                    if let (Some(t), Some(keep)) = (&live.restore_token, &self.on_token) {
                        keep(t);
                    }
                    if live.restore_token.is_some() {
                        self.request.restore_token.clone_from(&live.restore_token);
                    }
                    if let Some(c) = &self.control {
                        c.set(live.input.clone());
                    }
                    self.live = Some(live);
                    self.away = None;
                    self.last = None;
                }
                Err(CaptureError::Desktop(why)) if why.contains("refused") => {
                    warn!("{why}");
                    self.away = Some("the desktop's user refused to share the screen again; the host must be started again to ask".into());
                    self.gave_up = true;
                }
                Err(e) => {
                    if self.wait == REOPEN_FIRST {
                        warn!("the desktop does not share yet ({e}); the host keeps asking");
                    } else {
                        debug!("the desktop does not share yet: {e}");
                    }
                    self.wait = (self.wait * 2).min(REOPEN_MOST);
                    self.next_try = Instant::now() + self.wait;
                }
            }
            return;
        }
        let now = Instant::now();
        if self.gave_up {
            std::thread::sleep(deadline.saturating_duration_since(now));
            return;
        }
        if now < self.next_try {
            std::thread::sleep(self.next_try.min(deadline).saturating_duration_since(now));
            if Instant::now() < self.next_try {
                return;
            }
        }
        let (tx, answer) = std::sync::mpsc::channel();
        let request = self.request.clone();
        let spawned = std::thread::Builder::new().name("peerdesk-reopen".into()).spawn(move || {
            let _ = tx.send(open_live(request));
        });
        match spawned {
            Ok(_) => self.reopening = Some(Reopening { answer }),
            Err(e) => {
                warn!("cannot start a thread to ask the desktop again: {e}");
                self.next_try = Instant::now() + REOPEN_MOST;
            }
        }
    }
}

impl Capturer for WaylandCapturer {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn next_frame(&mut self, deadline: Instant) -> Result<Option<Frame>, CaptureError> {
        let Some(live) = &self.live else {
            self.reopen(deadline);
            let now = Instant::now();
            if self.live.is_none() && now < deadline {
                std::thread::sleep(deadline.saturating_duration_since(now).min(Duration::from_millis(100)));
            }
            return Ok(None);
        };
        // At most one frame a frame period: a frame that comes sooner waits in the slot (a newer
        // one replaces it).
        if let Some(last) = self.last {
            let due = last + self.min_interval;
            if due > deadline {
                std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                return Ok(None);
            }
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        }
        match live.slot.take(deadline.saturating_duration_since(Instant::now())) {
            Some(Delivery::Frame(f)) => {
                self.last = Some(Instant::now());
                self.size = (f.width, f.height);
                Ok(Some(f))
            }
            Some(Delivery::Ended(why)) => {
                self.lost(&why);
                Ok(None)
            }
            None if live.slot.is_closed() => {
                self.lost("the desktop's PipeWire stream ended");
                Ok(None)
            }
            None => Ok(None),
        }
    }

    fn set_min_interval(&mut self, interval: Duration) {
        self.min_interval = interval;
    }

    fn away(&self) -> Option<String> {
        self.away.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_in_either_byte_order_become_tight_opaque_bgra() {
        // 2x2, rows padded to 12 bytes; pixels (b, g, r, x).
        let src = [1, 2, 3, 0, 4, 5, 6, 0, 9, 9, 9, 9, 7, 8, 9, 0, 10, 11, 12, 0, 9, 9, 9, 9];
        let bgr = to_bgra(&src, 2, 2, 12, [0, 1, 2]).unwrap();
        assert_eq!(bgr, [1, 2, 3, 255, 4, 5, 6, 255, 7, 8, 9, 255, 10, 11, 12, 255]);
        // The same bytes read as (r, g, b, x).
        let rgb = to_bgra(&src, 2, 2, 12, [2, 1, 0]).unwrap();
        assert_eq!(rgb, [3, 2, 1, 255, 6, 5, 4, 255, 9, 8, 7, 255, 12, 11, 10, 255]);
        assert_eq!(to_bgra(&src[..19], 2, 2, 12, [0, 1, 2]), None, "too short");
        assert_eq!(to_bgra(&src, 2, 2, 7, [0, 1, 2]), None, "a stride under a row");
    }
}
