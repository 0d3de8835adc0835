//! The `/ws` endpoint: one task per connection reads JSON messages, feeds the [`Rooms`]
//! registry, and hands deliveries to the recipients' outboxes.
//!
//! Every connection has a bounded outbox (messages and bytes) drained by its own writer task; a
//! reader too slow to keep up is dropped rather than letting the server grow. Bad messages get
//! an `error` reply and the connection stays open; abuse closes it: a frame over
//! `max_frame_bytes`, `max_consecutive_errors` refusals in a row (messages over the rate limit
//! count as refusals), no `join` within `join_timeout`, silence for `idle_timeout` (the server
//! pings). A page of another origin is refused at the upgrade.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use peerdesk_proto::{ClientMessage, ErrorCode, PeerId, ServerMessage};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::SignalConfig;
use crate::backplane::Backplane;
use crate::metrics::Counters;
use crate::rooms::{Delivery, Rooms};
use crate::wsframe::{FrameError, Incoming, ReadError, Reader, Writer};

/// Close code for a policy violation (RFC 6455).
const CLOSE_POLICY: u16 = 1008;

enum Outgoing {
    /// A serialized message and its size, counted in the outbox's bytes until written.
    Text(String),
    /// The answer to a client's ping.
    Pong(Vec<u8>),
    Close(&'static str),
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Text(t) => write!(f, "Text({} bytes)", t.len()),
            Self::Pong(p) => write!(f, "Pong({} bytes)", p.len()),
            Self::Close(r) => f.debug_tuple("Close").field(r).finish(),
        }
    }
}

/// One peer's queue: bounded in messages by the channel and in bytes by `queued`.
#[derive(Debug, Clone)]
pub(crate) struct Outbox {
    tx: mpsc::Sender<Outgoing>,
    queued: Arc<AtomicUsize>,
}

impl Outbox {
    /// Queues a message; false when the queue is over either bound (the peer is then dropped).
    pub(crate) fn push(&self, msg: &ServerMessage, max_bytes: usize) -> bool {
        let text = match serde_json::to_string(msg) {
            Ok(t) => t,
            Err(e) => {
                warn!("cannot serialize a message: {e}");
                return true;
            }
        };
        let len = text.len();
        if self.queued.fetch_add(len, Ordering::Relaxed) + len > max_bytes {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            return false;
        }
        if self.tx.try_send(Outgoing::Text(text)).is_err() {
            self.queued.fetch_sub(len, Ordering::Relaxed);
            return false;
        }
        true
    }
}

/// Shared state of all connections: the registry and each peer's outbox, under one lock that
/// is never held across an `.await`; and the counters.
#[derive(Debug)]
pub struct Hub {
    pub(crate) config: SignalConfig,
    pub(crate) counters: Arc<Counters>,
    pub(crate) inner: Mutex<HubInner>,
    /// Rooms shared with other instances through Redis (`serve --redis`); else [`Rooms`].
    pub(crate) backplane: Option<Arc<Backplane>>,
    /// This hub, for tasks it starts.
    pub(crate) me: std::sync::Weak<Hub>,
}

#[derive(Debug, Default)]
pub(crate) struct HubInner {
    /// This instance's rooms, when they are not shared.
    pub(crate) rooms: Rooms,
    pub(crate) outboxes: HashMap<PeerId, Outbox>,
    /// With a backplane: what each of this instance's peers knows of its room.
    pub(crate) sessions: HashMap<PeerId, crate::shared::Session>,
    /// With a backplane: rooms with one of this instance's peers in them, and how many.
    pub(crate) local_rooms: HashMap<peerdesk_proto::RoomId, usize>,
    /// With a backplane: the last local peer number given.
    pub(crate) next_local: u64,
}

impl Hub {
    /// A hub with no connections, counting into `counters`.
    pub fn new(config: SignalConfig, counters: Arc<Counters>) -> Self {
        let rooms = Rooms::new(config.limits.clone());
        Self {
            config,
            counters,
            inner: Mutex::new(HubInner { rooms, ..HubInner::default() }),
            backplane: None,
            me: std::sync::Weak::new(),
        }
    }

    /// The counters.
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, HubInner> {
        // A poisoned lock means a panic while holding it; the registry is still consistent
        // because every mutation completes before anything that can panic.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn connect(&self, outbox: Outbox) -> PeerId {
        let mut inner = self.lock();
        let peer = match &self.backplane {
            Some(bp) => {
                inner.next_local += 1;
                PeerId(bp.instance() * crate::backplane::ID_SPAN + inner.next_local)
            }
            None => inner.rooms.connect(),
        };
        inner.outboxes.insert(peer, outbox);
        peer
    }

    fn disconnect(&self, peer: PeerId) {
        let mut inner = self.lock();
        inner.outboxes.remove(&peer);
        if self.backplane.is_some() {
            self.shared_leave(&mut inner, peer);
            return;
        }
        let deliveries = inner.rooms.leave(peer);
        self.deliver(&mut inner, deliveries);
    }

    /// Queues a reply for one peer; false when the peer has no outbox any more (it was
    /// dropped as too slow) or the outbox is full.
    fn reply(&self, peer: PeerId, msg: &ServerMessage) -> bool {
        let inner = self.lock();
        inner.outboxes.get(&peer).is_some_and(|o| o.push(msg, self.config.outbox_bytes))
    }

    /// Answers a client's ping (through the outbox, in order with the messages).
    fn pong(&self, peer: PeerId, data: Vec<u8>) {
        let inner = self.lock();
        if let Some(o) = inner.outboxes.get(&peer) {
            let _ = o.tx.try_send(Outgoing::Pong(data));
        }
    }

    pub(crate) fn close(&self, peer: PeerId, reason: &'static str) {
        let inner = self.lock();
        if let Some(o) = inner.outboxes.get(&peer) {
            let _ = o.tx.try_send(Outgoing::Close(reason));
        }
    }

    /// Handles one message; returns the refusal to tell the sender, if any.
    async fn handle(&self, from: PeerId, msg: ClientMessage) -> Option<ServerMessage> {
        if let Some(bp) = &self.backplane {
            return self.shared_handle(bp, from, msg).await.err().map(|r| r.to_message());
        }
        let mut inner = self.lock();
        match inner.rooms.handle_message(from, msg) {
            Ok(mut deliveries) => {
                self.fill_ice(&mut deliveries);
                self.deliver(&mut inner, deliveries);
                None
            }
            Err(refusal) => Some(refusal.to_message()),
        }
    }

    /// The joiner learns its STUN and TURN servers, TURN credentials made for it.
    pub(crate) fn fill_ice(&self, deliveries: &mut [Delivery]) {
        for d in deliveries {
            if let ServerMessage::Joined { peer, ice_servers, ice_policy, .. } = &mut d.msg {
                *ice_servers = self.config.ice.servers_for(*peer, std::time::SystemTime::now());
                *ice_policy = self.config.ice.policy();
            }
        }
    }

    fn deliver(&self, inner: &mut HubInner, deliveries: Vec<Delivery>) {
        let mut work = deliveries;
        while !work.is_empty() {
            let mut next = Vec::new();
            for d in work {
                match self.push(inner, d.to, &d.msg) {
                    Push::Queued => self.counters.messages_relayed.inc(),
                    Push::NoPeer => {}
                    // The others in its room are told it left, now.
                    Push::Dropped => next.extend(inner.rooms.leave(d.to)),
                }
            }
            work = next;
        }
    }

    /// Queues `msg` for our peer `to`; a peer whose outbox is full reads too slowly and is
    /// dropped (its writer task sees the channel closed and ends the connection). The caller
    /// tells its room.
    pub(crate) fn push(&self, inner: &mut HubInner, to: PeerId, msg: &ServerMessage) -> Push {
        let Some(outbox) = inner.outboxes.get(&to) else { return Push::NoPeer };
        if outbox.push(msg, self.config.outbox_bytes) {
            return Push::Queued;
        }
        warn!(peer = %to, "peer reads too slowly; dropping it");
        self.counters.closed_slow_reader.inc();
        inner.outboxes.remove(&to);
        Push::Dropped
    }

    fn rooms(&self) -> usize {
        let inner = self.lock();
        if self.backplane.is_some() { inner.local_rooms.len() } else { inner.rooms.room_count() }
    }
}

/// What became of a message for one of our peers.
pub(crate) enum Push {
    /// In its outbox.
    Queued,
    /// Not connected here (any more).
    NoPeer,
    /// Its outbox was full: it is dropped as too slow a reader.
    Dropped,
}

/// `GET /metrics`: the counters in the Prometheus text format.
pub async fn metrics(State(hub): State<Arc<Hub>>) -> Response {
    let body = hub.counters.render(hub.rooms());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response()
}

/// Whether a WebSocket upgrade may go ahead: no Origin (not a browser page: a host, a tool),
/// the server's own origin (same host and port as the request's Host), or a listed one.
pub fn origin_allowed(headers: &HeaderMap, allowed: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    if allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
        return true;
    }
    let authority = origin.split_once("://").map_or("", |(_, rest)| rest);
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    !authority.is_empty() && authority.eq_ignore_ascii_case(host)
}

/// `GET /ws`: upgrades to a WebSocket (our own framing: [`crate::wsframe`]).
pub async fn upgrade(
    State(hub): State<Arc<Hub>>,
    slot: Option<axum::Extension<crate::serve::ConnSlot>>,
    mut req: axum::extract::Request,
) -> Response {
    let headers = req.headers();
    if !origin_allowed(headers, &hub.config.allowed_origins) {
        hub.counters.refused_origin.inc();
        debug!("refused a WebSocket from another origin");
        return (
            StatusCode::FORBIDDEN,
            "this server does not accept pages of another origin (see peerdesk serve --allow-origin)\n",
        )
            .into_response();
    }
    let has = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    };
    let key = headers.get(header::SEC_WEBSOCKET_KEY).and_then(|k| k.to_str().ok()).map(str::to_owned);
    let version_ok = headers.get(header::SEC_WEBSOCKET_VERSION).is_some_and(|v| v.as_bytes() == b"13");
    let (Some(key), true, true, true) =
        (key, has(header::CONNECTION, "upgrade"), has(header::UPGRADE, "websocket"), version_ok)
    else {
        return (
            StatusCode::BAD_REQUEST,
            [(header::SEC_WEBSOCKET_VERSION, "13")],
            "/ws speaks WebSocket (version 13): connect with a WebSocket client\n",
        )
            .into_response();
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        // The connection's place under the server's limits lasts as long as the WebSocket.
        let _slot = slot;
        match on_upgrade.await {
            Ok(upgraded) => run(hub, hyper_util::rt::TokioIo::new(upgraded)).await,
            Err(e) => debug!("the WebSocket upgrade failed: {e}"),
        }
    });
    (
        StatusCode::SWITCHING_PROTOCOLS,
        [
            (header::UPGRADE, "websocket".to_owned()),
            (header::CONNECTION, "Upgrade".to_owned()),
            (header::SEC_WEBSOCKET_ACCEPT, crate::wsframe::accept_key(&key)),
        ],
    )
        .into_response()
}

/// A token bucket: `rate` a second, up to `burst`.
#[derive(Debug)]
struct Bucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    at: Instant,
}

impl Bucket {
    fn new(rate: f64, burst: f64, now: Instant) -> Self {
        Self { tokens: burst, rate, burst, at: now }
    }

    fn take(&mut self, now: Instant) -> bool {
        let dt = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

async fn run<S>(hub: Arc<Hub>, socket: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + 'static,
{
    // The hub holds the only sender: when it drops a slow peer's outbox, the writer below
    // drains what is queued and closes the socket.
    let (tx, mut rx) = mpsc::channel(hub.config.outbox_capacity);
    let queued = Arc::new(AtomicUsize::new(0));
    let peer = hub.connect(Outbox { tx, queued: queued.clone() });
    let counters = hub.counters.clone();
    counters.websockets_open.inc();
    let span = info_span!("signal", %peer);
    async move {
        debug!("connected");
        let (read_half, write_half) = tokio::io::split(socket);
        let max = hub.config.max_frame_bytes;
        let mut stream = Reader::new(read_half, max, max);
        let mut sink = Writer::new(write_half);
        let ping_every = hub.config.ping_interval;
        let mut writer = tokio::spawn(async move {
            let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
            loop {
                let sent = tokio::select! {
                    out = rx.recv() => match out {
                        Some(Outgoing::Text(text)) => {
                            queued.fetch_sub(text.len(), Ordering::Relaxed);
                            sink.text(&text).await
                        }
                        Some(Outgoing::Pong(data)) => sink.pong(&data).await,
                        Some(Outgoing::Close(reason)) => {
                            let _ = sink.close(CLOSE_POLICY, reason).await;
                            return;
                        }
                        None => break,
                    },
                    _ = ping.tick() => sink.ping().await,
                };
                if sent.is_err() {
                    return;
                }
            }
            let _ = sink.close(crate::wsframe::CLOSE_NORMAL, "").await;
        });

        let config = &hub.config;
        let mut bucket = Bucket::new(config.messages_per_second, config.message_burst, Instant::now());
        let mut errors_in_a_row = 0u32;
        let mut joined = false;
        let opened = Instant::now();
        let mut last_rate_reply: Option<Instant> = None;
        loop {
            let wait = if joined {
                config.idle_timeout
            } else {
                config.join_timeout.saturating_sub(opened.elapsed())
            };
            let next = tokio::select! {
                // Cancelling a read mid-frame is fine: every way out of here closes.
                next = tokio::time::timeout(wait, stream.next()) => next,
                // The writer ended: the peer was dropped as too slow, or the socket failed.
                _ = &mut writer => break,
            };
            let frame = match next {
                Ok(frame) => frame,
                Err(_) if joined => {
                    info!("closing a silent connection (no frame for {} s)", config.idle_timeout.as_secs());
                    counters.closed_idle.inc();
                    hub.close(peer, "idle");
                    break;
                }
                Err(_) => {
                    debug!("closing: no join within {} s", config.join_timeout.as_secs());
                    counters.closed_join_timeout.inc();
                    hub.close(peer, "send join first");
                    break;
                }
            };
            let reply = match frame {
                Ok(Incoming::Text(text)) => {
                    counters.messages_received.inc();
                    let now = Instant::now();
                    if !bucket.take(now) {
                        counters.rate_limited.inc();
                        errors_in_a_row += 1;
                        // One reply a second at most: a flood gets no flood back.
                        let quiet = last_rate_reply
                            .is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(1));
                        if !quiet {
                            last_rate_reply = Some(now);
                            hub.reply(
                                peer,
                                &ServerMessage::error(ErrorCode::RateLimited, "sending too fast; slow down"),
                            );
                        }
                        if errors_in_a_row >= config.max_consecutive_errors {
                            warn!("closing a connection that keeps sending over the rate limit");
                            counters.closed_abuse.inc();
                            hub.close(peer, "too many messages");
                            break;
                        }
                        continue;
                    }
                    let (reply, join_ok) = handle_text(&hub, peer, text.as_str()).await;
                    joined |= join_ok;
                    reply
                }
                Ok(Incoming::Binary(_)) => Some(ServerMessage::error(
                    ErrorCode::BinaryNotSupported,
                    "binary frames are not supported; send JSON text",
                )),
                Ok(Incoming::Close(_)) => break,
                Ok(Incoming::Ping(data)) => {
                    hub.pong(peer, data);
                    None
                }
                Ok(Incoming::Pong) => None,
                Err(ReadError::Io(e)) => {
                    debug!("connection dropped: {e}");
                    break;
                }
                Err(ReadError::Frame(e)) => {
                    // A frame or message over the limit, or broken framing: abuse.
                    info!("closing a connection that broke the WebSocket rules: {e}");
                    counters.closed_abuse.inc();
                    hub.close(
                        peer,
                        if matches!(e, FrameError::TooBig(_) | FrameError::MessageTooBig) {
                            "frame too large"
                        } else {
                            "protocol error"
                        },
                    );
                    break;
                }
            };
            match reply {
                None => errors_in_a_row = 0,
                Some(err) => {
                    errors_in_a_row += 1;
                    counters.messages_refused.inc();
                    debug!("refused: {err:?}");
                    if !hub.reply(peer, &err) {
                        break;
                    }
                    if errors_in_a_row >= config.max_consecutive_errors {
                        warn!("closing after {errors_in_a_row} refused messages in a row");
                        counters.closed_abuse.inc();
                        hub.close(peer, "too many bad messages");
                        break;
                    }
                }
            }
        }
        hub.disconnect(peer);
        if !writer.is_finished() {
            let _ = writer.await;
        }
        counters.websockets_open.dec();
        debug!("disconnected");
    }
    .instrument(span)
    .await
}

/// The refusal to send back, if any, and whether the message was an accepted `join`.
async fn handle_text(hub: &Hub, peer: PeerId, text: &str) -> (Option<ServerMessage>, bool) {
    let max = hub.config.max_message_bytes;
    if text.len() > max {
        return (
            Some(ServerMessage::error(
                ErrorCode::MessageTooLarge,
                format!("message of {} bytes is over the limit of {max} bytes", text.len()),
            )),
            false,
        );
    }
    match serde_json::from_str::<ClientMessage>(text) {
        Ok(msg) => {
            let is_join = matches!(msg, ClientMessage::Join { .. });
            let reply = hub.handle(peer, msg).await;
            let ok = is_join && reply.is_none();
            (reply, ok)
        }
        Err(e) => {
            (Some(ServerMessage::error(ErrorCode::BadMessage, format!("not a valid message: {e}"))), false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().expect("header value"));
        }
        h
    }

    #[test]
    fn only_the_servers_own_pages_and_listed_origins_may_connect() {
        let none: &[String] = &[];
        assert!(origin_allowed(&headers(&[("host", "127.0.0.1:8080")]), none), "no Origin: a host");
        assert!(origin_allowed(
            &headers(&[("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:8080")]),
            none
        ));
        assert!(!origin_allowed(
            &headers(&[("host", "127.0.0.1:8080"), ("origin", "http://evil.example")]),
            none
        ));
        assert!(!origin_allowed(&headers(&[("host", "127.0.0.1:8080"), ("origin", "null")]), none));
        let listed = vec!["https://app.example".to_owned()];
        assert!(origin_allowed(
            &headers(&[("host", "127.0.0.1:8080"), ("origin", "https://app.example")]),
            &listed
        ));
    }

    #[test]
    fn the_bucket_allows_a_burst_then_the_rate() {
        let t0 = Instant::now();
        let mut b = Bucket::new(10.0, 5.0, t0);
        assert_eq!((0..8).filter(|_| b.take(t0)).count(), 5);
        assert!(b.take(t0 + Duration::from_millis(100)));
        assert!(!b.take(t0 + Duration::from_millis(100)));
        assert_eq!(
            (0..20).filter(|_| b.take(t0 + Duration::from_secs(10))).count(),
            5,
            "never more than the burst"
        );
    }
}
