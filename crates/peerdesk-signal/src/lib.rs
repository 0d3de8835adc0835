//! The peerdesk signaling server.
//!
//! Owns: the room registry ([`rooms`], pure, no I/O), the WebSocket endpoint that feeds it
//! ([`ws`]), and the embedded web client ([`web`]). It relays SDP and ICE candidates between a
//! room's host and its viewers and never sees media.
//!
//! Does not own: TLS, Redis fan-out, pairing secrets (later issues), nor the process's runtime:
//! the binary builds a [`Router`](axum::Router) with [`app`] and serves it.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let app = peerdesk_signal::app(peerdesk_signal::SignalConfig::default());
//! axum::serve(listener, app).await
//! # }
//! ```

pub mod rooms;
pub mod web;
pub mod ws;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

pub use rooms::{Delivery, Refusal, RoomLimits, Rooms};

/// Settings of the signaling server, validated by the binary.
#[derive(Clone, Debug)]
pub struct SignalConfig {
    /// Limits on rooms and peers.
    pub limits: RoomLimits,
    /// Largest message answered normally; larger ones get an error (64 KiB).
    pub max_message_bytes: usize,
    /// Largest WebSocket frame read at all; larger ones close the connection as abuse.
    pub max_frame_bytes: usize,
    /// Refused messages in a row after which the connection is closed as abuse.
    pub max_consecutive_errors: u32,
    /// Messages queued for one slow reader before it is dropped.
    pub outbox_capacity: usize,
}

impl Default for SignalConfig {
    fn default() -> Self {
        Self {
            limits: RoomLimits::default(),
            max_message_bytes: peerdesk_proto::MAX_SIGNAL_MESSAGE,
            max_frame_bytes: 1024 * 1024,
            max_consecutive_errors: 32,
            outbox_capacity: 256,
        }
    }
}

/// Builds the server's routes: `/` (web client), `/ws` (signaling), `/healthz`.
pub fn app(config: SignalConfig) -> Router {
    let hub = Arc::new(ws::Hub::new(config));
    Router::new()
        .route("/ws", get(ws::upgrade))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/", get(web::index))
        .route("/{file}", get(web::asset))
        .with_state(hub)
}
