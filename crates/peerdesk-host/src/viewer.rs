//! One task per viewer: its own UDP sockets, its sans-IO session, frames in, input out.
//!
//! The task ends when the viewer disconnects, the host closes it, or the session fails; a panic
//! inside it ends that task only (tokio catches it) and the guards release the viewer's input
//! and its place in the pipeline.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use peerdesk_proto::PeerId;
use peerdesk_session::{AudioFrame, Session, SessionConfig, SessionError, SessionEvent, VideoFrame};
use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc, watch};
use tracing::{Instrument, debug, info, info_span, warn};

use crate::input::InputSink;
use crate::pipeline::Pipeline;
use crate::rate::{NetworkReport, ReportSlot};

/// Largest datagram read.
const MAX_DATAGRAM: usize = 2048;
/// Datagrams buffered between the socket readers and the session.
const NET_QUEUE: usize = 1024;

/// What the host shares with every viewer task.
#[derive(Clone)]
pub struct ViewerContext {
    /// The capture and encode pipeline.
    pub pipeline: Arc<Pipeline>,
    /// Where input goes.
    pub input: Arc<Mutex<dyn InputSink>>,
    /// Session settings.
    pub session: SessionConfig,
    /// Local IPs to offer as candidates.
    pub ips: Vec<std::net::IpAddr>,
    /// The current cursor as control messages (JSON), when the source has one.
    pub cursor: watch::Receiver<CursorState>,
    /// The sound, when the host streams some.
    pub audio: Option<Arc<crate::audio::AudioStream>>,
    /// The host's figures of the last second, as a `stats` control message.
    pub stats: watch::Receiver<Option<Arc<str>>>,
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
}

/// The signaling client's handle on a viewer task; dropping it ends the task.
#[derive(Debug)]
pub struct ViewerHandle {
    commands: mpsc::Sender<ViewerCommand>,
}

impl ViewerHandle {
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
    let mut sockets = Vec::new();
    for &ip in &ctx.ips {
        match UdpSocket::bind(SocketAddr::new(ip, 0)).await {
            Ok(s) => sockets.push((s.local_addr()?, Arc::new(s))),
            Err(e) => warn!(%ip, "cannot bind a UDP socket: {e}"),
        }
    }
    if sockets.is_empty() {
        return Err(ViewerError::Socket(std::io::Error::other("no local address could be bound")));
    }
    let addrs: Vec<SocketAddr> = sockets.iter().map(|(a, _)| *a).collect();
    let (session, answer) = Session::accept_offer(offer, &addrs, Instant::now(), &ctx.session)?;
    let (tx, rx) = mpsc::channel(64);
    // Only a page that takes sound makes the host record it.
    let audio = if session.has_audio() { ctx.audio.as_ref().map(|a| a.subscribe()) } else { None };
    let task = ViewerTask {
        peer,
        session,
        sockets,
        frames: ctx.pipeline.subscribe(),
        audio,
        commands: rx,
        ctx: ctx.clone(),
        sent_shape: None,
        sent_position: None,
        report: ctx.pipeline.network().join(),
    };
    tokio::spawn(task.run().instrument(info_span!("viewer", %peer)));
    Ok((answer, ViewerHandle { commands: tx }))
}

struct ViewerTask {
    peer: PeerId,
    session: Session,
    sockets: Vec<(SocketAddr, Arc<UdpSocket>)>,
    frames: broadcast::Receiver<VideoFrame>,
    audio: Option<broadcast::Receiver<AudioFrame>>,
    commands: mpsc::Receiver<ViewerCommand>,
    ctx: ViewerContext,
    /// The cursor messages the page has, to send each change once.
    sent_shape: Option<Arc<str>>,
    sent_position: Option<Arc<str>>,
    /// This viewer's network report for rate control.
    report: ReportSlot,
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
        let _count = self.ctx.pipeline.add_viewer();
        let _input = InputGuard { peer: self.peer, input: self.ctx.input.clone() };
        let (net_tx, mut net_rx) = mpsc::channel(NET_QUEUE);
        let readers: Vec<_> = self
            .sockets
            .iter()
            .map(|(local, sock)| tokio::spawn(read_socket(*local, sock.clone(), net_tx.clone())))
            .collect();
        drop(net_tx);

        match self.drive(&mut net_rx).await {
            Ok(reason) => info!("viewer session ended: {reason}"),
            Err(e) => warn!("viewer session failed: {e}"),
        }
        for r in readers {
            r.abort();
        }
    }

    async fn drive(
        &mut self,
        net_rx: &mut mpsc::Receiver<(SocketAddr, SocketAddr, Vec<u8>)>,
    ) -> Result<&'static str, SessionError> {
        let mut cursor = self.ctx.cursor.clone();
        let mut cursor_alive = true;
        let mut stats = self.ctx.stats.clone();
        let mut stats_alive = true;
        loop {
            if let Some(reason) = self.flush().await {
                return Ok(reason);
            }
            let deadline = tokio::time::Instant::from_std(self.session.poll_timeout());
            tokio::select! {
                biased;
                cmd = self.commands.recv() => match cmd {
                    Some(ViewerCommand::Candidate(c)) => self.session.add_remote_candidate(Instant::now(), &c)?,
                    None => {
                        self.session.close();
                        return Ok("closed by the host");
                    }
                },
                Some((source, local, bytes)) = net_rx.recv() => {
                    self.session.handle_receive(Instant::now(), source, local, &bytes)?;
                }
                frame = self.frames.recv() => match frame {
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
                    Ok(p) => {
                        self.session.send_audio(Instant::now(), &p)?;
                    }
                    // Fell behind: the skipped sound is gone, the next packet plays on time.
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => self.audio = None,
                },
                changed = stats.changed(), if stats_alive => match changed {
                    Ok(()) => {
                        let msg = stats.borrow_and_update().clone();
                        if let Some(msg) = msg {
                            // Not open yet, or backed up: the next second brings fresh figures.
                            self.session.send_control(Instant::now(), &msg)?;
                        }
                    }
                    Err(_) => stats_alive = false,
                },
                changed = cursor.changed(), if cursor_alive => match changed {
                    Ok(()) => {
                        cursor.borrow_and_update();
                        self.send_cursor()?;
                    }
                    Err(_) => cursor_alive = false,
                },
                () = tokio::time::sleep_until(deadline) => {
                    self.session.handle_timeout(Instant::now())?;
                }
            }
        }
    }

    /// Sends the cursor's shape and position to the page where they differ from what it has
    /// and the channel is open.
    fn send_cursor(&mut self) -> Result<(), SessionError> {
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
        while let Some(t) = self.session.poll_transmit() {
            let sock = self
                .sockets
                .iter()
                .find(|(a, _)| *a == t.source)
                .or(self.sockets.first())
                .map(|(_, s)| s.clone());
            if let Some(sock) = sock
                && let Err(e) = sock.send_to(&t.contents, t.destination).await
            {
                debug!("send to {} failed: {e}", t.destination);
            }
        }
        while let Some(e) = self.session.poll_event() {
            match e {
                SessionEvent::Connected => info!("viewer connected"),
                SessionEvent::KeyframeNeeded => self.ctx.pipeline.request_keyframe(),
                SessionEvent::Input(ev) => {
                    let mut sink = self.ctx.input.lock().unwrap_or_else(|p| p.into_inner());
                    sink.handle(self.peer, &ev);
                }
                SessionEvent::BadInput(err) => debug!("dropped bad input: {err}"),
                SessionEvent::ControlReady => {
                    if let Err(e) = self.send_cursor() {
                        debug!("cannot send the cursor: {e}");
                    }
                }
                SessionEvent::Disconnected => return Some("the viewer disconnected"),
            }
        }
        if !self.session.is_alive() {
            return Some("the connection timed out");
        }
        let net = self.session.network();
        self.report.update(NetworkReport { estimate_bps: net.estimate_bps, loss: f64::from(net.loss) });
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
