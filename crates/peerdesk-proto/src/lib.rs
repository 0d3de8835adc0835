//! Wire types shared by the peerdesk host, the signaling server and the web client.
//!
//! This crate owns every byte layout that crosses a process boundary:
//! - [`auth`]: the pairing handshake's fields, transcript and fingerprint rule;
//! - [`signal`]: the JSON messages on the signaling WebSocket (versioned by [`PROTOCOL_VERSION`]);
//! - [`input`]: the compact binary input events on the WebRTC data channels;
//! - [`control`]: JSON messages between the host and the page on the reliable data channel;
//! - [`ids`]: validated identifiers (`RoomId`, `PeerId`).
//!
//! It owns no I/O. Every decoder here takes untrusted bytes and returns a typed error, never
//! panics (fuzzed in `fuzz/`). `web/protocol.js` mirrors these codecs and is tested against the
//! same golden vectors (`vectors/`).

pub mod auth;
pub mod control;
pub mod ids;
pub mod input;
pub mod signal;

pub use auth::{AnswerAuth, DenyCode, OfferAuth, Token};
pub use control::{HostMessage, StreamRequest, ViewerMessage, ViewerMessageError, ViewerRole};
pub use ids::{PeerId, RoomId, RoomIdError};
pub use input::{InputDecodeError, InputEvent};
pub use signal::{ClientMessage, ErrorCode, IcePolicy, IceServer, Role, ServerMessage};

/// Version of the signaling protocol; a peer announcing another version is refused.
pub const PROTOCOL_VERSION: u32 = 1;

/// Largest signaling message the server accepts, in bytes.
pub const MAX_SIGNAL_MESSAGE: usize = 64 * 1024;
