//! One task per viewer: its own UDP sockets, its sans-IO session, frames in, input out.
//!
//! The task ends when the viewer disconnects, the host closes it, or the session fails; a panic
//! inside it ends that task only (tokio catches it) and the guards release the viewer's input
//! and its place in the pipeline.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use peerdesk_proto::{ClientMessage, HostMessage, InputEvent, PeerId, ViewerMessage, ViewerRole};
use peerdesk_session::{AudioFrame, Session, SessionConfig, SessionError, SessionEvent, Verdict, VideoFrame};
use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc, watch};
use tracing::{Instrument, debug, info, info_span, warn};

use crate::input::InputSink;
use crate::nat::{Found, Gatherer, NatServers, Received};
use crate::pipeline::Pipeline;
use crate::rate::{NetworkReport, Playback, ReportSlot};

/// How long a page's playback figures count (it sends them every second).
const PLAYBACK_FRESH: Duration = Duration::from_secs(3);
/// How long a page's `path` figures stand (it sends them four to ten times a second): after
/// that, the receiver reports' round trip gives the queue again.
const PATH_FRESH: Duration = Duration::from_secs(1);

/// Largest datagram read.
const MAX_DATAGRAM: usize = 2048;
/// Datagrams buffered between the socket readers and the session.
const NET_QUEUE: usize = 1024;
/// Input events taken from one viewer in a second; more are dropped. A 1000 Hz mouse, a
/// wheel and a keyboard stay well under.
const MAX_INPUT_PER_SECOND: u32 = 4000;
/// Seconds in a row over that before the viewer's session is ended as a flood.
const FLOOD_SECONDS: u32 = 3;
/// Malformed input events in one second before the session is ended.
const MAX_BAD_INPUT_PER_SECOND: u32 = 100;
/// Largest wheel step one event may carry (20 notches) and largest relative motion (pixels).
const MAX_WHEEL: i16 = 20 * 120;
const MAX_RELATIVE: i16 = 4096;

/// What the host shares with every viewer task.
#[derive(Clone)]
pub struct ViewerContext {
    /// The capture and encode pipeline.
    pub pipeline: Arc<Pipeline>,
    /// Where input goes.
    pub input: Arc<Mutex<dyn InputSink>>,
    /// Messages for one viewer from the input side (rumble for its pads), tagged with it.
    pub feedback: broadcast::Sender<(PeerId, Arc<str>)>,
    /// The desktop's clipboard, when it is shared: the controller's pastes go there.
    pub clipboard: Option<Arc<dyn peerdesk_input::Clipboard>>,
    /// The desktop's latest copy as a `clipboard` message, for the controller.
    pub host_clipboard: watch::Receiver<Option<Arc<str>>>,
    /// Session settings.
    pub session: SessionConfig,
    /// Local IPs to offer as candidates, kept up to date: when they change, every session
    /// restarts ICE on the new ones.
    pub ips: watch::Receiver<Vec<std::net::IpAddr>>,
    /// The current cursor as control messages (JSON), when the source has one.
    pub cursor: watch::Receiver<CursorState>,
    /// The sound, when the host streams some.
    pub audio: Option<Arc<crate::audio::AudioStream>>,
    /// The host's figures of the last second, as a `stats` control message.
    pub stats: watch::Receiver<Option<Arc<str>>>,
    /// The STUN and TURN servers the signaling server gave, resolved (and whether to use
    /// relays only).
    pub nat: watch::Receiver<Arc<NatServers>>,
    /// Messages to the signaling server (the candidates found after the answer).
    pub signal: mpsc::UnboundedSender<ClientMessage>,
}

/// The latest cursor messages of the source, ready to send.
#[derive(Clone, Debug, Default)]
pub struct CursorState {
    /// A `cursor` message (the shape).
    pub shape: Option<Arc<str>>,
    /// A `cursor_position` message.
    pub position: Option<Arc<str>>,
}

impl std::fmt::Debug for ViewerContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewerContext").field("ips", &self.ips).finish_non_exhaustive()
    }
}

/// Commands from the signaling client to a viewer task.
#[derive(Debug)]
pub enum ViewerCommand {
    /// A trickled ICE candidate from the browser.
    Candidate(String),
    /// The browser's answer to our ICE restart offer.
    Answer(String),
    /// The browser restarts ICE (its network changed): its new offer for this session.
    Restart(String),
    /// The viewer proved its link: what it may do now. Until the first of these the task sends
    /// the viewer nothing and drops its input.
    SetRole {
        /// Control or view.
        role: ViewerRole,
        /// Whether its link allows control.
        may_control: bool,
    },
}

/// The signaling client's handle on a viewer task; dropping it ends the task.
#[derive(Debug)]
pub struct ViewerHandle {
    commands: mpsc::Sender<ViewerCommand>,
    abuse: Arc<Mutex<Option<&'static str>>>,
}

impl ViewerHandle {
    /// Why the task ended the session for the viewer's own doing (an input flood, garbage),
    /// if it did: the viewer is then told.
    pub fn abuse(&self) -> Option<&'static str> {
        *self.abuse.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Passes a command on; false when the task has ended.
    pub fn send(&self, cmd: ViewerCommand) -> bool {
        self.commands.try_send(cmd).is_ok()
    }

    /// Whether the task has ended.
    pub fn is_finished(&self) -> bool {
        self.commands.is_closed()
    }
}

/// Why a viewer could not be started.
#[derive(Debug, thiserror::Error)]
pub enum ViewerError {
    /// No UDP socket could be bound.
    #[error("cannot open a UDP socket: {0}")]
    Socket(#[from] std::io::Error),
    /// The offer could not be answered.
    #[error(transparent)]
    Session(#[from] SessionError),
}

/// Answers `peer`'s offer and starts its task. Returns the answer SDP and the task's handle.
pub async fn start(
    peer: PeerId,
    offer: &str,
    ctx: &ViewerContext,
) -> Result<(String, ViewerHandle), ViewerError> {
    let nat = ctx.nat.borrow().clone();
    let mut ips_now = ctx.ips.clone();
    let ips = ips_now.borrow_and_update().clone();
    let mut sockets = Vec::new();
    for &ip in &ips {
        match UdpSocket::bind(SocketAddr::new(ip, 0)).await {
            Ok(s) => sockets.push((s.local_addr()?, Arc::new(s))),
            Err(e) => warn!(%ip, "cannot bind a UDP socket: {e}"),
        }
    }
    let addrs: Vec<SocketAddr> = sockets.iter().map(|(a, _)| *a).collect();
    // The TURN server is reached from a socket of its own, through whichever interface routes.
    let mut turn_local = None;
    if !nat.turn.is_empty() {
        let s = UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], 0))).await?;
        let local = s.local_addr()?;
        turn_local = Some(local);
        sockets.push((local, Arc::new(s)));
    }
    if sockets.is_empty() {
        return Err(ViewerError::Socket(std::io::Error::other("no local address could be bound")));
    }
    if nat.relay_only && turn_local.is_none() {
        warn!("relays only, but the signaling server gave no TURN server: this viewer cannot connect");
    }
    // Relays only: no host candidate in the answer; the relayed one follows once allocated.
    let offered: &[SocketAddr] = if nat.relay_only { &[] } else { &addrs };
    let now = Instant::now();
    let (session, answer) = Session::accept_offer(offer, offered, now, &ctx.session)?;
    let gatherer = Gatherer::new(&nat, &addrs, turn_local, now);
    let (tx, rx) = mpsc::channel(64);
    let abuse = Arc::new(Mutex::new(None));
    // Only a page that takes sound makes the host record it.
    let audio = if session.has_audio() { ctx.audio.as_ref().map(|a| a.subscribe()) } else { None };
    let codec = codec_of(&session);
    let task = ViewerTask {
        peer,
        session,
        gatherer,
        ips: ips_now,
        net_tx: None,
        readers: Vec::new(),
        sockets,
        frames: ctx.pipeline.subscribe(codec),
        feedback: ctx.feedback.subscribe(),
        audio,
        commands: rx,
        ctx: ctx.clone(),
        sent_shape: None,
        sent_position: None,
        sent_clipboard: None,
        wants_audio: true,
        settings_sent: false,
        screen_sent: None,
        report: ctx.pipeline.network().join(),
        playback: None,
        path: None,
        role: None,
        role_sent: false,
        budget: InputBudget::new(Instant::now()),
        abuse: abuse.clone(),
    };
    tokio::spawn(task.run().instrument(info_span!("viewer", %peer)));
    Ok((answer, ViewerHandle { commands: tx, abuse }))
}

struct ViewerTask {
    peer: PeerId,
    session: Session,
    gatherer: Gatherer,
    /// This machine's addresses, to notice a change of network.
    ips: watch::Receiver<Vec<std::net::IpAddr>>,
    /// Where the socket readers send what arrives (for sockets opened later).
    net_tx: Option<mpsc::Sender<(SocketAddr, SocketAddr, Vec<u8>)>>,
    readers: Vec<tokio::task::JoinHandle<()>>,
    sockets: Vec<(SocketAddr, Arc<UdpSocket>)>,
    frames: broadcast::Receiver<VideoFrame>,
    /// Rumble and the like for some viewer (this one's are sent on).
    feedback: broadcast::Receiver<(PeerId, Arc<str>)>,
    audio: Option<broadcast::Receiver<AudioFrame>>,
    commands: mpsc::Receiver<ViewerCommand>,
    ctx: ViewerContext,
    /// The cursor messages the page has, to send each change once.
    sent_shape: Option<Arc<str>>,
    sent_position: Option<Arc<str>>,
    /// The host's copy the page has (controllers only).
    sent_clipboard: Option<Arc<str>>,
    /// Whether the viewer takes sound (its settings).
    wants_audio: bool,
    /// Whether the page has the stream's settings as they are.
    settings_sent: bool,
    /// What the page was last told of the screen (`None`: nothing yet).
    screen_sent: Option<Option<String>>,
    /// This viewer's network report for rate control.
    report: ReportSlot,
    /// The page's latest playback figures, and when they came.
    playback: Option<(Instant, Playback, Option<u64>)>,
    /// The page's latest `path` figures: the queue on the path, what it received lately.
    path: Option<(Instant, Duration, Option<u64>)>,
    /// What the viewer may do (`None` until it proves its link) and whether its link allows
    /// control.
    role: Option<(ViewerRole, bool)>,
    /// Whether the page has been told its current role.
    role_sent: bool,
    /// Input taken this second.
    budget: InputBudget,
    /// Set when the session ends for the viewer's abuse.
    abuse: Arc<Mutex<Option<&'static str>>>,
}

/// Counts one viewer's input per second: too much is dropped, a flood or a stream of garbage
/// ends the session.
#[derive(Debug)]
struct InputBudget {
    second: Instant,
    taken: u32,
    bad: u32,
    over_seconds: u32,
    dropped: u64,
}

impl InputBudget {
    fn new(now: Instant) -> Self {
        Self { second: now, taken: 0, bad: 0, over_seconds: 0, dropped: 0 }
    }

    fn roll(&mut self, now: Instant) {
        if now.saturating_duration_since(self.second) >= std::time::Duration::from_secs(1) {
            self.over_seconds = if self.taken > MAX_INPUT_PER_SECOND { self.over_seconds + 1 } else { 0 };
            self.second = now;
            self.taken = 0;
            self.bad = 0;
        }
    }

    /// Whether one more event may be injected now; `Err` ends the session.
    fn take(&mut self, now: Instant) -> Result<bool, &'static str> {
        self.roll(now);
        self.taken = self.taken.saturating_add(1);
        if self.over_seconds >= FLOOD_SECONDS {
            return Err("ended: the viewer flooded its input channel");
        }
        let ok = self.taken <= MAX_INPUT_PER_SECOND;
        if !ok {
            self.dropped += 1;
        }
        Ok(ok)
    }

    /// Counts a malformed event; `Err` ends the session.
    fn bad(&mut self, now: Instant) -> Result<(), &'static str> {
        self.roll(now);
        self.bad += 1;
        if self.bad > MAX_BAD_INPUT_PER_SECOND {
            return Err("ended: the viewer sent a stream of malformed input");
        }
        Ok(())
    }
}

/// Whether a decoded event is within what the host injects (the decoder already checked its
/// shape and key code).
fn within_limits(ev: &InputEvent) -> bool {
    match ev {
        InputEvent::Wheel { dx, dy } => {
            dx.unsigned_abs() <= MAX_WHEEL.unsigned_abs() && dy.unsigned_abs() <= MAX_WHEEL.unsigned_abs()
        }
        InputEvent::PointerRelative { dx, dy } => {
            dx.unsigned_abs() <= MAX_RELATIVE.unsigned_abs()
                && dy.unsigned_abs() <= MAX_RELATIVE.unsigned_abs()
        }
        _ => true,
    }
}

/// Withdraws the viewer's request of the stream when the task ends, however it ends.
struct RequestGuard {
    peer: PeerId,
    pipeline: Arc<Pipeline>,
}

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.pipeline.withdraw(self.peer);
    }
}

/// Releases the viewer's held input when the task ends, however it ends.
struct InputGuard {
    peer: PeerId,
    input: Arc<Mutex<dyn InputSink>>,
}

impl Drop for InputGuard {
    fn drop(&mut self) {
        let mut sink = self.input.lock().unwrap_or_else(|p| p.into_inner());
        sink.release(self.peer);
    }
}

impl ViewerTask {
    async fn run(mut self) {
        let codec = codec_of(&self.session);
        info!("viewer gets {codec} from {}", self.ctx.pipeline.encoder(codec).map_or("?", |b| b.name()));
        let _count = self.ctx.pipeline.add_viewer(codec);
        let _input = InputGuard { peer: self.peer, input: self.ctx.input.clone() };
        let _request = RequestGuard { peer: self.peer, pipeline: self.ctx.pipeline.clone() };
        let (net_tx, mut net_rx) = mpsc::channel(NET_QUEUE);
        self.readers = self
            .sockets
            .iter()
            .map(|(local, sock)| tokio::spawn(read_socket(*local, sock.clone(), net_tx.clone())))
            .collect();
        self.net_tx = Some(net_tx);

        match self.drive(&mut net_rx).await {
            Ok(reason) => info!("viewer session ended: {reason}"),
            Err(e) => warn!("viewer session failed: {e}"),
        }
        if self.budget.dropped > 0 {
            info!(
                "{} input events from this viewer were not injected (view only, or over the rate limit)",
                self.budget.dropped
            );
        }
        for r in self.readers.drain(..) {
            r.abort();
        }
    }

    /// This machine's addresses changed: sockets on the new ones, and an ICE restart offering
    /// them (the viewer answers through the signaling server; DTLS and the channels go on).
    async fn network_changed(&mut self) -> Result<(), SessionError> {
        let ips = self.ips.borrow_and_update().clone();
        let now = Instant::now();
        let mut added = Vec::new();
        for ip in ips {
            if self.sockets.iter().any(|(a, _)| a.ip() == ip) {
                continue;
            }
            match UdpSocket::bind(SocketAddr::new(ip, 0)).await {
                Ok(s) => {
                    let Ok(local) = s.local_addr() else { continue };
                    let sock = Arc::new(s);
                    if let Some(tx) = &self.net_tx {
                        self.readers.push(tokio::spawn(read_socket(local, sock.clone(), tx.clone())));
                    }
                    self.sockets.push((local, sock));
                    added.push(local);
                }
                Err(e) => warn!(%ip, "cannot bind a UDP socket: {e}"),
            }
        }
        let relay_only = self.ctx.nat.borrow().relay_only;
        let offered: &[SocketAddr] = if relay_only { &[] } else { &added };
        let offer = self.session.restart_ice(now, offered)?;
        self.gatherer.gather_from(&added, now);
        info!(new = ?added, "network changed: restarting ICE with the viewer");
        let _ = self.ctx.signal.send(ClientMessage::Offer { peer: Some(self.peer), sdp: offer, auth: None });
        Ok(())
    }

    async fn drive(
        &mut self,
        net_rx: &mut mpsc::Receiver<(SocketAddr, SocketAddr, Vec<u8>)>,
    ) -> Result<&'static str, SessionError> {
        let mut cursor = self.ctx.cursor.clone();
        let mut cursor_alive = true;
        let mut stats = self.ctx.stats.clone();
        let mut stats_alive = true;
        let mut clipboard = self.ctx.host_clipboard.clone();
        let mut clipboard_alive = true;
        let mut stream = self.ctx.pipeline.state();
        let mut ips_alive = true;
        loop {
            if let Some(reason) = self.flush().await {
                return Ok(reason);
            }
            let mut deadline = self.session.poll_timeout();
            if let Some(t) = self.gatherer.timeout() {
                deadline = deadline.min(t);
            }
            let deadline = tokio::time::Instant::from_std(deadline);
            tokio::select! {
                biased;
                cmd = self.commands.recv() => match cmd {
                    Some(ViewerCommand::Candidate(c)) => {
                        let now = Instant::now();
                        if let Some(addr) = self.session.add_remote_candidate(now, &c)? {
                            // The viewer may reach us through our relay from there.
                            self.gatherer.permit(addr.ip(), now);
                        }
                    }
                    Some(ViewerCommand::SetRole { role, may_control }) => self.set_role(role, may_control)?,
                    Some(ViewerCommand::Restart(sdp)) => match self.session.accept_restart(Instant::now(), &sdp) {
                        Ok(answer) => {
                            info!("the viewer restarts ICE (its network changed)");
                            let _ = self.ctx.signal.send(ClientMessage::Answer { peer: Some(self.peer), sdp: answer, auth: None });
                        }
                        Err(e) => warn!("refused the viewer's ICE restart: {e}"),
                    },
                    Some(ViewerCommand::Answer(sdp)) => {
                        if let Err(e) = self.session.accept_answer(Instant::now(), &sdp) {
                            debug!("ignoring the viewer's answer: {e}");
                        }
                    }
                    None => {
                        self.session.close();
                        return Ok("closed by the host");
                    }
                },
                Some((source, local, bytes)) = net_rx.recv() => {
                    let now = Instant::now();
                    match self.gatherer.handle_receive(now, source, local, &bytes) {
                        Received::NotOurs => self.session.handle_receive(now, source, local, &bytes)?,
                        Received::Handled => {}
                        Received::Peer { from, relayed, data } => self.session.handle_receive(now, from, relayed, &data)?,
                    }
                }
                frame = self.frames.recv() => match frame {
                    // Nothing reaches a viewer that has not proved its link.
                    Ok(_) if self.role.is_none() => {}
                    Ok(f) => {
                        self.session.send_video(Instant::now(), &f)?;
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        debug!("viewer fell {n} frames behind; resynchronising on a keyframe");
                        self.session.resync(Instant::now());
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok("the host stopped"),
                },
                packet = next_audio(&mut self.audio) => match packet {
                    Ok(_) if self.role.is_none() => {}
                    Ok(_) if !self.wants_audio => {}
                    Ok(p) => {
                        self.session.send_audio(Instant::now(), &p)?;
                    }
                    // Fell behind: the skipped sound is gone, the next packet plays on time.
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => self.audio = None,
                },
                msg = self.feedback.recv() => match msg {
                    Ok((peer, text)) if peer == self.peer && self.role.is_some_and(|(r, _)| r == ViewerRole::Control) => {
                        // Not open or backed up: a rumble too late is no use anyway.
                        self.session.send_control(Instant::now(), &text)?;
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return Ok("the host stopped"),
                },
                changed = stats.changed(), if stats_alive => match changed {
                    Ok(()) => {
                        let msg = stats.borrow_and_update().clone();
                        if let Some(msg) = msg && self.role.is_some() {
                            // Not open yet, or backed up: the next second brings fresh figures.
                            self.session.send_control(Instant::now(), &msg)?;
                        }
                    }
                    Err(_) => stats_alive = false,
                },
                changed = self.ips.changed(), if ips_alive => match changed {
                    Ok(()) => self.network_changed().await?,
                    Err(_) => ips_alive = false,
                },
                Ok(()) = stream.changed() => {
                    stream.borrow_and_update();
                    self.settings_sent = false;
                    self.send_settings()?;
                    self.send_screen()?;
                }
                changed = clipboard.changed(), if clipboard_alive => match changed {
                    Ok(()) => {
                        clipboard.borrow_and_update();
                        self.send_clipboard()?;
                    }
                    Err(_) => clipboard_alive = false,
                },
                changed = cursor.changed(), if cursor_alive => match changed {
                    Ok(()) => {
                        cursor.borrow_and_update();
                        self.send_cursor()?;
                    }
                    Err(_) => cursor_alive = false,
                },
                () = tokio::time::sleep_until(deadline) => {
                    let now = Instant::now();
                    self.gatherer.handle_timeout(now);
                    self.session.handle_timeout(now)?;
                }
            }
        }
    }

    async fn send_from(&self, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
        let sock =
            self.sockets.iter().find(|(a, _)| *a == from).or(self.sockets.first()).map(|(_, s)| s.clone());
        if let Some(sock) = sock
            && let Err(e) = sock.send_to(bytes, to).await
        {
            debug!("send to {to} failed: {e}");
        }
    }

    /// Notes why the session ends for the viewer's doing, and closes it.
    fn ended_for_abuse(&mut self, reason: &'static str) -> &'static str {
        *self.abuse.lock().unwrap_or_else(|p| p.into_inner()) = Some(reason);
        self.session.close();
        reason
    }

    /// Takes the role the host gives; the first one lets the viewer in.
    fn set_role(&mut self, role: ViewerRole, may_control: bool) -> Result<(), SessionError> {
        let first = self.role.is_none();
        if self.role.is_some_and(|(r, _)| r == ViewerRole::Control) && role != ViewerRole::Control {
            // Keys held by a controller that loses control would stay down.
            let mut sink = self.ctx.input.lock().unwrap_or_else(|p| p.into_inner());
            sink.release(self.peer);
            // Its settings of the stream go with the control.
            self.ctx.pipeline.withdraw(self.peer);
        }
        self.role = Some((role, may_control));
        self.role_sent = false;
        info!(?role, "viewer {}", if first { "proved its link" } else { "changed role" });
        if first && self.session.is_connected() {
            // Frames went unsent while it proved itself: start it on a keyframe.
            self.session.resync(Instant::now());
        }
        self.send_role()?;
        self.send_cursor()?;
        self.send_clipboard()?;
        self.send_settings()?;
        self.send_screen()
    }

    /// Tells the page whether the screen can be captured now, where it does not know yet.
    fn send_screen(&mut self) -> Result<(), SessionError> {
        if self.role.is_none() {
            return Ok(());
        }
        let away = self.ctx.pipeline.state().borrow().away.clone();
        if self.screen_sent.as_ref() == Some(&away) {
            return Ok(());
        }
        if let Ok(text) = serde_json::to_string(&HostMessage::Screen { away: away.clone() })
            && self.session.send_control(Instant::now(), &text)?
        {
            self.screen_sent = Some(away);
        }
        Ok(())
    }

    /// Tells the page the stream's settings and the host's limits, where it lacks them.
    fn send_settings(&mut self) -> Result<(), SessionError> {
        if self.role.is_none() || self.settings_sent {
            return Ok(());
        }
        let state = self.ctx.pipeline.state().borrow().clone();
        let msg = HostMessage::Settings {
            width: state.full.0,
            height: state.full.1,
            max_fps: state.max_fps,
            max_kbps: state.max_bps / 1000,
            asked: state.request.map(|(_, r)| r).unwrap_or_default(),
            audio: self.wants_audio && self.audio.is_some(),
            has_audio: self.audio.is_some(),
        };
        if let Ok(text) = serde_json::to_string(&msg) {
            self.settings_sent = self.session.send_control(Instant::now(), &text)?;
        }
        Ok(())
    }

    /// Gives a controller the host's latest copy where it lacks it and the channel is open.
    fn send_clipboard(&mut self) -> Result<(), SessionError> {
        if !self.role.is_some_and(|(r, _)| r == ViewerRole::Control) {
            return Ok(());
        }
        let msg = self.ctx.host_clipboard.borrow().clone();
        if let Some(msg) = msg
            && !self.sent_clipboard.as_ref().is_some_and(|s| Arc::ptr_eq(s, &msg))
            && self.session.send_control(Instant::now(), &msg)?
        {
            self.sent_clipboard = Some(msg);
        }
        Ok(())
    }

    /// A text message from the page.
    fn on_message(&mut self, msg: ViewerMessage) {
        match msg {
            ViewerMessage::Settings { stream, audio } => {
                if audio != self.wants_audio {
                    info!("the viewer {} sound", if audio { "takes" } else { "turned off" });
                    self.wants_audio = audio;
                }
                // One stream for all: only the controller shapes it.
                if self.role.is_some_and(|(r, _)| r == ViewerRole::Control) {
                    self.ctx.pipeline.request(self.peer, stream);
                }
                // A refused or unchanged request still gets the page the truth.
                self.settings_sent = false;
            }
            ViewerMessage::Playback { decoded, shown, dropped, decode_us, received_kbps } => {
                // What the browser shows, and what its path carried: the stats' word on which
                // limit holds, and the ceiling a queue on this viewer's path leaves, depend on
                // it. A viewer that lies can only lower the rate, as with its loss reports.
                let decode = decode_us.map(|us| Duration::from_micros(u64::from(us)));
                let received = received_kbps.map(|k| u64::from(k) * 1000);
                self.playback =
                    Some((Instant::now(), Playback { decoded, shown, dropped, decode }, received));
            }
            ViewerMessage::Path { queue_ms, received_kbps } => {
                // The queue within a tenth of a second of its start, where the receiver
                // reports take up to a second and a half: a 3 Mbit/s bucket's buffer is full in
                // half a second. A page that lies can only lower the rate.
                let now = Instant::now();
                let queue = Duration::from_millis(u64::from(queue_ms));
                self.session.page_queue(now, queue);
                self.path = Some((now, queue, received_kbps.map(|k| u64::from(k) * 1000)));
            }
            ViewerMessage::Clipboard { text } => {
                if !self.role.is_some_and(|(r, _)| r == ViewerRole::Control) {
                    self.budget.dropped += 1;
                    return;
                }
                let Some(clipboard) = &self.ctx.clipboard else {
                    debug!("the viewer pasted, but the clipboard is not shared");
                    return;
                };
                // Set before the paste keys behind it on the same ordered channel are injected.
                match clipboard.set_text(&text) {
                    Ok(()) => debug!(bytes = text.len(), "the viewer's paste is on the host's clipboard"),
                    Err(e) => warn!("cannot set the host's clipboard: {e}"),
                }
            }
        }
    }

    /// Tells the page its role, once the channel is open.
    fn send_role(&mut self) -> Result<(), SessionError> {
        let Some((role, may_control)) = self.role else { return Ok(()) };
        if self.role_sent {
            return Ok(());
        }
        let msg = HostMessage::Role { role, may_control, peer: self.peer.0 };
        if let Ok(text) = serde_json::to_string(&msg) {
            self.role_sent = self.session.send_control(Instant::now(), &text)?;
        }
        Ok(())
    }

    /// Sends the cursor's shape and position to the page where they differ from what it has
    /// and the channel is open.
    fn send_cursor(&mut self) -> Result<(), SessionError> {
        if self.role.is_none() {
            return Ok(());
        }
        let state = self.ctx.cursor.borrow().clone();
        for (msg, sent) in [(state.shape, &mut self.sent_shape), (state.position, &mut self.sent_position)] {
            if let Some(msg) = msg
                && !sent.as_ref().is_some_and(|s| Arc::ptr_eq(s, &msg))
                && self.session.send_control(Instant::now(), &msg)?
            {
                *sent = Some(msg);
            }
        }
        Ok(())
    }

    /// Sends what the session queued and acts on its events; `Some(reason)` when it ended.
    async fn flush(&mut self) -> Option<&'static str> {
        let now = Instant::now();
        while let Some(t) = self.session.poll_transmit() {
            // From our relayed address: wrapped for the TURN server.
            if self.gatherer.send(now, t.source, t.destination, &t.contents) {
                continue;
            }
            self.send_from(t.source, t.destination, &t.contents).await;
        }
        while let Some((from, to, bytes)) = self.gatherer.poll_transmit() {
            self.send_from(from, to, &bytes).await;
        }
        while let Some(found) = self.gatherer.poll_found() {
            let (addr, base, relayed) = match found {
                Found::Reflexive { addr, base } => (addr, base, false),
                Found::Relayed { addr, local } => (addr, local, true),
            };
            if let Some(candidate) = self.session.add_local_candidate(addr, base, relayed) {
                debug!(%candidate, "trickling a candidate to the viewer");
                let _ = self.ctx.signal.send(ClientMessage::Candidate {
                    peer: Some(self.peer),
                    candidate,
                    mid: None,
                });
            }
        }
        while let Some(e) = self.session.poll_event() {
            match e {
                SessionEvent::Connected => info!("viewer connected"),
                SessionEvent::KeyframeNeeded => self.ctx.pipeline.request_keyframe(codec_of(&self.session)),
                SessionEvent::Input(ev) => {
                    let now = Instant::now();
                    match self.budget.take(now) {
                        Err(reason) => return Some(self.ended_for_abuse(reason)),
                        Ok(false) => continue,
                        Ok(true) => {}
                    }
                    if !within_limits(&ev) {
                        if let Err(reason) = self.budget.bad(now) {
                            return Some(self.ended_for_abuse(reason));
                        }
                        continue;
                    }
                    // Enforced here, whatever the page does: only the controller's input is injected.
                    if self.role.is_some_and(|(r, _)| r == ViewerRole::Control) {
                        let mut sink = self.ctx.input.lock().unwrap_or_else(|p| p.into_inner());
                        sink.handle(self.peer, &ev);
                    } else {
                        self.budget.dropped += 1;
                    }
                }
                SessionEvent::BadInput(err) => {
                    debug!("dropped bad input: {err}");
                    if let Err(reason) = self.budget.bad(Instant::now()) {
                        return Some(self.ended_for_abuse(reason));
                    }
                }
                SessionEvent::Message(msg) => {
                    if let Err(reason) = self.budget.take(Instant::now()) {
                        return Some(self.ended_for_abuse(reason));
                    }
                    self.on_message(msg);
                    if let Err(e) = self.send_settings() {
                        debug!("cannot send the settings: {e}");
                    }
                }
                SessionEvent::BadMessage(err) => {
                    debug!("dropped a bad message: {err}");
                    if let Err(reason) = self.budget.bad(Instant::now()) {
                        return Some(self.ended_for_abuse(reason));
                    }
                }
                SessionEvent::ControlReady => {
                    if let Err(e) = self
                        .send_role()
                        .and_then(|()| self.send_cursor())
                        .and_then(|()| self.send_clipboard())
                        .and_then(|()| self.send_screen())
                    {
                        debug!("cannot send the role or the cursor: {e}");
                    }
                }
                SessionEvent::Disconnected => return Some("the viewer disconnected"),
            }
        }
        if !self.session.is_alive() {
            return Some("the connection timed out");
        }
        let net = self.session.network();
        // A page that stopped telling (a hidden tab) no longer counts.
        let fresh = self.playback.filter(|(at, ..)| at.elapsed() < PLAYBACK_FRESH);
        let (playback, delivered_bps) = (fresh.map(|(_, p, _)| p), fresh.and_then(|(.., r)| r));
        // The page's own measure of the queue, while it sends one, over the round trip's.
        let path = self.path.filter(|(at, ..)| at.elapsed() < PATH_FRESH);
        let queue_delay = path.map_or(net.queue_delay, |(_, q, _)| Some(q));
        let delivered_bps = path.and_then(|(.., r)| r).or(delivered_bps);
        self.report.update(NetworkReport {
            estimate_bps: net.estimate_bps,
            loss: f64::from(net.loss),
            redundant: net.redundant,
            doubted: net.verdict == Verdict::Doubted,
            queue_delay,
            estimate_resets: net.estimate_resets,
            playback,
            delivered_bps,
        });
        None
    }
}

async fn read_socket(
    local: SocketAddr,
    sock: Arc<UdpSocket>,
    tx: mpsc::Sender<(SocketAddr, SocketAddr, Vec<u8>)>,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    let mut errors_in_a_row = 0u32;
    loop {
        match sock.recv_from(&mut buf).await {
            Ok((n, source)) => {
                errors_in_a_row = 0;
                // Latest wins over a full queue: drop rather than grow.
                match tx.try_send((source, local, buf[..n].to_vec())) {
                    Ok(()) | Err(mpsc::error::TrySendError::Full(_)) => {}
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                }
            }
            Err(e) => {
                // ICMP port unreachable and the like surface here on Linux; keep reading, but
                // give up on a socket that only fails.
                debug!(%local, "UDP receive error: {e}");
                errors_in_a_row += 1;
                if errors_in_a_row > 1000 {
                    warn!(%local, "giving up on a UDP socket that keeps failing: {e}");
                    return;
                }
            }
        }
    }
}

/// The next audio packet, or never when there is no sound.
async fn next_audio(
    audio: &mut Option<broadcast::Receiver<AudioFrame>>,
) -> Result<AudioFrame, broadcast::error::RecvError> {
    match audio {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// The codec a session sends, as the encoders name it.
fn codec_of(session: &Session) -> peerdesk_encode::Codec {
    match session.video_codec() {
        peerdesk_session::VideoCodec::H264 => peerdesk_encode::Codec::H264,
        peerdesk_session::VideoCodec::Av1 => peerdesk_encode::Codec::Av1,
    }
}
