//! The `/ws` endpoint: one task per connection reads JSON messages, feeds the [`Rooms`]
//! registry, and hands deliveries to the recipients' outboxes.
//!
//! Every connection has a bounded outbox drained by its own writer task; a reader too slow to
//! keep up is dropped rather than letting the server grow. Bad messages get an `error` reply and
//! the connection stays open; only abuse (a frame over `max_frame_bytes`, or
//! `max_consecutive_errors` refusals in a row) closes it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use peerdesk_proto::{ClientMessage, ErrorCode, PeerId, ServerMessage};
use tokio::sync::mpsc;
use tracing::{Instrument, debug, info, info_span, warn};

use crate::SignalConfig;
use crate::rooms::{Delivery, Rooms};

/// Close code for a policy violation (RFC 6455).
const CLOSE_POLICY: u16 = 1008;

enum Outgoing {
    Msg(ServerMessage),
    Close(&'static str),
}

/// Shared state of all connections: the registry and each peer's outbox, under one lock that
/// is never held across an `.await`.
#[derive(Debug)]
pub struct Hub {
    config: SignalConfig,
    inner: Mutex<HubInner>,
}

#[derive(Debug)]
struct HubInner {
    rooms: Rooms,
    outboxes: HashMap<PeerId, mpsc::Sender<Outgoing>>,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Msg(m) => f.debug_tuple("Msg").field(m).finish(),
            Self::Close(r) => f.debug_tuple("Close").field(r).finish(),
        }
    }
}

impl Hub {
    /// A hub with no connections.
    pub fn new(config: SignalConfig) -> Self {
        let rooms = Rooms::new(config.limits.clone());
        Self { config, inner: Mutex::new(HubInner { rooms, outboxes: HashMap::new() }) }
    }

    fn lock(&self) -> MutexGuard<'_, HubInner> {
        // A poisoned lock means a panic while holding it; the registry is still consistent
        // because every mutation completes before anything that can panic.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn connect(&self, outbox: mpsc::Sender<Outgoing>) -> PeerId {
        let mut inner = self.lock();
        let peer = inner.rooms.connect();
        inner.outboxes.insert(peer, outbox);
        peer
    }

    fn disconnect(&self, peer: PeerId) {
        let mut inner = self.lock();
        inner.outboxes.remove(&peer);
        let deliveries = inner.rooms.leave(peer);
        deliver(&mut inner, deliveries);
    }

    /// Queues a message for one peer; false when the peer has no outbox any more (it was
    /// dropped as too slow) or the outbox is full.
    fn send_to(&self, peer: PeerId, out: Outgoing) -> bool {
        let inner = self.lock();
        inner.outboxes.get(&peer).is_some_and(|tx| tx.try_send(out).is_ok())
    }

    /// Handles one message; returns the refusal to tell the sender, if any.
    fn handle(&self, from: PeerId, msg: ClientMessage) -> Option<ServerMessage> {
        let mut inner = self.lock();
        match inner.rooms.handle_message(from, msg) {
            Ok(deliveries) => {
                deliver(&mut inner, deliveries);
                None
            }
            Err(refusal) => Some(refusal.to_message()),
        }
    }
}

fn deliver(inner: &mut HubInner, deliveries: Vec<Delivery>) {
    for d in deliveries {
        let Some(tx) = inner.outboxes.get(&d.to) else {
            continue;
        };
        if let Err(mpsc::error::TrySendError::Full(_)) = tx.try_send(Outgoing::Msg(d.msg)) {
            warn!(peer = %d.to, "peer reads too slowly; dropping it");
            // The writer task sees the channel closed and ends the connection.
            inner.outboxes.remove(&d.to);
        }
    }
}

/// `GET /ws`: upgrades to a WebSocket.
pub async fn upgrade(State(hub): State<Arc<Hub>>, ws: WebSocketUpgrade) -> Response {
    let max = hub.config.max_frame_bytes;
    ws.max_message_size(max).max_frame_size(max).on_upgrade(move |socket| run(hub, socket))
}

async fn run(hub: Arc<Hub>, socket: WebSocket) {
    // The hub holds the only sender: when it drops a slow peer's outbox, the writer below
    // drains what is queued and closes the socket.
    let (tx, mut rx) = mpsc::channel(hub.config.outbox_capacity);
    let peer = hub.connect(tx);
    let span = info_span!("signal", %peer);
    async move {
        debug!("connected");
        let (mut sink, mut stream) = socket.split();
        let writer = tokio::spawn(async move {
            while let Some(out) = rx.recv().await {
                let frame = match out {
                    Outgoing::Msg(m) => match serde_json::to_string(&m) {
                        Ok(text) => Message::Text(text.into()),
                        Err(e) => {
                            warn!("cannot serialize {m:?}: {e}");
                            continue;
                        }
                    },
                    Outgoing::Close(reason) => {
                        let _ = sink
                            .send(Message::Close(Some(CloseFrame {
                                code: CLOSE_POLICY,
                                reason: Utf8Bytes::from_static(reason),
                            })))
                            .await;
                        break;
                    }
                };
                if sink.send(frame).await.is_err() {
                    break;
                }
            }
            let _ = sink.close().await;
        });

        let mut errors_in_a_row = 0u32;
        while let Some(frame) = stream.next().await {
            let reply = match frame {
                Ok(Message::Text(text)) => handle_text(&hub, peer, text.as_str()),
                Ok(Message::Binary(_)) => Some(ServerMessage::error(
                    ErrorCode::BinaryNotSupported,
                    "binary frames are not supported; send JSON text",
                )),
                Ok(Message::Close(_)) => break,
                Ok(Message::Ping(_) | Message::Pong(_)) => None,
                Err(e) => {
                    info!("connection dropped: {e}");
                    break;
                }
            };
            match reply {
                None => errors_in_a_row = 0,
                Some(err) => {
                    errors_in_a_row += 1;
                    debug!("refused: {err:?}");
                    if !hub.send_to(peer, Outgoing::Msg(err)) {
                        break;
                    }
                    if errors_in_a_row >= hub.config.max_consecutive_errors {
                        warn!("closing after {errors_in_a_row} refused messages in a row");
                        hub.send_to(peer, Outgoing::Close("too many bad messages"));
                        break;
                    }
                }
            }
        }
        hub.disconnect(peer);
        let _ = writer.await;
        debug!("disconnected");
    }
    .instrument(span)
    .await
}

fn handle_text(hub: &Hub, peer: PeerId, text: &str) -> Option<ServerMessage> {
    let max = hub.config.max_message_bytes;
    if text.len() > max {
        return Some(ServerMessage::error(
            ErrorCode::MessageTooLarge,
            format!("message of {} bytes is over the limit of {max} bytes", text.len()),
        ));
    }
    match serde_json::from_str::<ClientMessage>(text) {
        Ok(msg) => hub.handle(peer, msg),
        Err(e) => Some(ServerMessage::error(ErrorCode::BadMessage, format!("not a valid message: {e}"))),
    }
}
