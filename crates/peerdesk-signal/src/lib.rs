//! The peerdesk signaling server.
//!
//! Owns: the room registry ([`rooms`], pure, no I/O), the WebSocket endpoint that feeds it
//! ([`ws`]), and the embedded web client ([`web`]). It relays SDP and ICE candidates between a
//! room's host and its viewers and never sees media.
//!
//! Also [`serve`]: the accept loop with the connection limits and TLS. It never holds the
//! pairing secrets (they stay in the link's fragment and on the host): what it relays cannot
//! let it watch or control a host (docs/SECURITY.md).
//!
//! With `serve --redis`, rooms are shared by every instance using the same Redis: the
//! [`backplane`] (Redis scripts and pub/sub) and [`shared`] (this instance's peers' view).
//!
//! Does not own: the process's runtime.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
//! let app = peerdesk_signal::app(peerdesk_signal::SignalConfig::default());
//! axum::serve(listener, app).await
//! # }
//! ```

pub mod backplane;
pub mod ice;
pub mod metrics;
pub mod rooms;
pub mod serve;
pub mod shared;
pub mod web;
pub mod ws;
pub mod wsframe;

use std::sync::Arc;
use std::time::Duration;

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
    /// Bytes queued for one slow reader before it is dropped.
    pub outbox_bytes: usize,
    /// Messages a connection may send per second, on average.
    pub messages_per_second: f64,
    /// Messages a connection may send at once above that rate.
    pub message_burst: f64,
    /// Time from the WebSocket opening to its `join`.
    pub join_timeout: Duration,
    /// Time between the server's pings.
    pub ping_interval: Duration,
    /// Silence (not even a pong) after which a connection is closed.
    pub idle_timeout: Duration,
    /// Origins (`https://example.org`) whose pages may connect besides the server's own;
    /// clients that send no Origin (hosts) are always let in.
    pub allowed_origins: Vec<String>,
    /// STUN and TURN servers handed to everyone who joins.
    pub ice: ice::IceSettings,
}

impl Default for SignalConfig {
    fn default() -> Self {
        Self {
            limits: RoomLimits::default(),
            max_message_bytes: peerdesk_proto::MAX_SIGNAL_MESSAGE,
            max_frame_bytes: 1024 * 1024,
            max_consecutive_errors: 32,
            outbox_capacity: 256,
            outbox_bytes: 1024 * 1024,
            messages_per_second: 50.0,
            message_burst: 200.0,
            join_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(20),
            idle_timeout: Duration::from_secs(60),
            allowed_origins: Vec::new(),
            ice: ice::IceSettings::default(),
        }
    }
}

/// Builds the server's routes: `/` (web client), `/ws` (signaling), `/healthz`, `/metrics`.
pub fn app(config: SignalConfig) -> Router {
    routes(Arc::new(ws::Hub::new(config, Arc::default())))
}

/// The routes over a hub.
pub fn routes(hub: Arc<ws::Hub>) -> Router {
    Router::new()
        .route("/ws", get(ws::upgrade))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(ws::metrics))
        .route("/", get(web::index))
        .route("/{file}", get(web::asset))
        .with_state(hub)
}
