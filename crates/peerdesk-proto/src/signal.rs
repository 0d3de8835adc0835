//! Signaling messages: JSON text frames on the WebSocket at `/ws`.
//!
//! Every message is an object with a `"type"` field. A connection's first message is `join`,
//! carrying [`PROTOCOL_VERSION`](crate::PROTOCOL_VERSION). After that the server relays `offer`,
//! `answer` and `candidate` between the room's host and one of its viewers; `peer` names the
//! other side (the viewer omits it: its messages always go to the host). See docs/protocol.md.

use serde::{Deserialize, Serialize};

use crate::auth::{AnswerAuth, DenyCode, OfferAuth, Token};
use crate::ids::{PeerId, RoomId};

/// What a connection is in its room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The machine being streamed; at most one per room.
    Host,
    /// A browser watching (and controlling) the host; any number up to the room limit.
    Viewer,
}

/// A message from a host or a viewer to the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// Enter a room. Must be the first message, and is accepted once.
    Join {
        /// Protocol version the client speaks.
        v: u32,
        /// The room to enter; validated by the server as a [`RoomId`].
        room: String,
        /// Host or viewer.
        role: Role,
    },
    /// An SDP offer (a viewer's, to the host).
    Offer {
        /// Destination; required from a host, ignored from a viewer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<PeerId>,
        /// The session description.
        sdp: String,
        /// The pairing handshake's first step (see [`crate::auth`]); a host refuses an offer
        /// without it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        auth: Option<OfferAuth>,
    },
    /// An SDP answer (the host's, to a viewer).
    Answer {
        /// Destination; required from a host, ignored from a viewer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<PeerId>,
        /// The session description.
        sdp: String,
        /// The host's nonce and proof.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        auth: Option<AnswerAuth>,
    },
    /// The viewer's proof (pairing step 3), to the host.
    Proof {
        /// Destination; ignored from a viewer (only viewers send it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<PeerId>,
        /// HMAC-SHA256 over the viewer's transcript, base64url.
        mac: Token,
    },
    /// One side refuses the other's handshake or ends its session, and says why.
    Deny {
        /// Destination; required from a host, ignored from a viewer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<PeerId>,
        /// Why, for programs.
        code: DenyCode,
        /// Why, for people (at most 300 bytes).
        #[serde(default)]
        message: String,
    },
    /// A trickled ICE candidate.
    Candidate {
        /// Destination; required from a host, ignored from a viewer.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        peer: Option<PeerId>,
        /// The `candidate:...` attribute, as in `RTCIceCandidate.candidate`.
        candidate: String,
        /// The media section it belongs to (`sdpMid`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mid: Option<String>,
    },
}

/// A message from the server to a host or a viewer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// The join succeeded.
    Joined {
        /// The server's protocol version.
        v: u32,
        /// The room entered.
        room: RoomId,
        /// This connection's id.
        peer: PeerId,
        /// The role taken.
        role: Role,
        /// Whether the room has a host now (a viewer without one waits for `host_online`).
        host_present: bool,
        /// STUN and TURN servers to use (TURN with short-lived credentials made for this
        /// connection); empty when the server has none configured.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ice_servers: Vec<IceServer>,
        /// `relay` when peers must use TURN relays only; absent: any candidate.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ice_policy: Option<IcePolicy>,
    },
    /// To viewers: a host is now in the room; send an offer.
    HostOnline {
        /// The host's id.
        peer: PeerId,
    },
    /// To viewers: the host left; wait for `host_online`.
    HostOffline,
    /// To the host: a viewer entered the room.
    ViewerJoined {
        /// The viewer's id.
        peer: PeerId,
    },
    /// To the host: a viewer left; end its session.
    ViewerLeft {
        /// The viewer's id.
        peer: PeerId,
    },
    /// A relayed offer; `peer` is the sender.
    Offer {
        /// Sender.
        peer: PeerId,
        /// The session description.
        sdp: String,
        /// The viewer's key id and nonce.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        auth: Option<OfferAuth>,
    },
    /// A relayed answer; `peer` is the sender.
    Answer {
        /// Sender.
        peer: PeerId,
        /// The session description.
        sdp: String,
        /// The host's nonce and proof.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        auth: Option<AnswerAuth>,
    },
    /// A relayed viewer proof; `peer` is the sender.
    Proof {
        /// Sender.
        peer: PeerId,
        /// The viewer's proof.
        mac: Token,
    },
    /// A relayed refusal; `peer` is the sender.
    Deny {
        /// Sender.
        peer: PeerId,
        /// Why, for programs.
        code: DenyCode,
        /// Why, for people.
        message: String,
    },
    /// A relayed ICE candidate; `peer` is the sender.
    Candidate {
        /// Sender.
        peer: PeerId,
        /// The `candidate:...` attribute.
        candidate: String,
        /// The media section it belongs to.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mid: Option<String>,
    },
    /// Something the client sent was refused; `code` is for programs, `message` for people.
    Error {
        /// Machine-readable reason.
        code: ErrorCode,
        /// What happened and what to do, in words.
        message: String,
    },
}

/// One STUN or TURN server, shaped like WebRTC's `RTCIceServer`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IceServer {
    /// `stun:HOST:PORT`, `turn:HOST:PORT?transport=udp`, `turns:...`.
    pub urls: Vec<String>,
    /// For TURN: `EXPIRY:PEER` (the TURN REST scheme coturn checks with `use-auth-secret`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// For TURN: base64 of HMAC-SHA1(shared secret, username). Never the secret itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credential: Option<String>,
}

/// Which ICE candidates peers may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IcePolicy {
    /// TURN relays only: neither side learns the other's addresses.
    Relay,
}

/// Why the server refused a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not valid JSON, or not a known message.
    BadMessage,
    /// The client speaks another protocol version.
    UnsupportedVersion,
    /// Over the size limit.
    MessageTooLarge,
    /// A binary WebSocket frame: only text is spoken.
    BinaryNotSupported,
    /// A relay message before `join`.
    NotJoined,
    /// A second `join` on one connection.
    AlreadyJoined,
    /// The room name is not acceptable.
    InvalidRoom,
    /// The room holds as many viewers as allowed.
    RoomFull,
    /// The server holds as many rooms as allowed.
    TooManyRooms,
    /// The room already has a host.
    HostExists,
    /// A viewer sent something but the room has no host.
    NoHost,
    /// The destination peer is not in this room.
    UnknownPeer,
    /// A message a viewer may not send, or one the host must address.
    NotAllowed,
    /// The sender is sending too fast.
    RateLimited,
    /// The server cannot do this now (its shared state, Redis, is unreachable); try again in
    /// a few seconds.
    Unavailable,
}

impl ServerMessage {
    /// An error message.
    pub fn error(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::Error { code, message: message.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_parses_and_rejects_unknown_fields() {
        let m: ClientMessage = serde_json::from_str(r#"{"type":"join","v":1,"room":"demo","role":"viewer"}"#)
            .expect("valid join");
        assert_eq!(m, ClientMessage::Join { v: 1, room: "demo".into(), role: Role::Viewer });
        assert!(
            serde_json::from_str::<ClientMessage>(
                r#"{"type":"join","v":1,"room":"demo","role":"viewer","x":1}"#
            )
            .is_err()
        );
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"nope"}"#).is_err());
    }

    #[test]
    fn server_messages_are_tagged() {
        let s = serde_json::to_string(&ServerMessage::HostOffline).expect("serialize");
        assert_eq!(s, r#"{"type":"host_offline"}"#);
        let s = serde_json::to_string(&ServerMessage::error(ErrorCode::RoomFull, "full")).expect("serialize");
        assert_eq!(s, r#"{"type":"error","code":"room_full","message":"full"}"#);
    }
}
