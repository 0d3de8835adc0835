//! The room registry: who is in which room, and where each relayed message goes.
//!
//! Pure state machine: no sockets, no clocks. Each call returns the [`Delivery`]s the caller must
//! send, or a [`Refusal`] to answer the sender with. A room exists while it holds anyone.

use std::collections::{BTreeSet, HashMap};

use peerdesk_proto::auth::MAX_DENY_MESSAGE;
use peerdesk_proto::{
    ClientMessage, ErrorCode, PROTOCOL_VERSION, PeerId, Role, RoomId, RoomIdError, ServerMessage,
};

/// How much the registry holds at most.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoomLimits {
    /// Rooms on this server.
    pub max_rooms: usize,
    /// Viewers in one room.
    pub max_viewers_per_room: usize,
}

impl Default for RoomLimits {
    fn default() -> Self {
        Self { max_rooms: 10_000, max_viewers_per_room: 16 }
    }
}

/// A message to send to one peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Recipient.
    pub to: PeerId,
    /// What to send.
    pub msg: ServerMessage,
}

/// Why the registry refused a request; told to the sender as an `error` message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The client speaks another protocol version.
    #[error(
        "protocol version {0} is not supported; this server speaks version {PROTOCOL_VERSION}: update peerdesk"
    )]
    UnsupportedVersion(u32),
    /// The room name is not acceptable.
    #[error("invalid room name: {0}")]
    InvalidRoom(RoomIdError),
    /// `join` on a connection that already joined.
    #[error("already joined a room; open a new connection to join another")]
    AlreadyJoined,
    /// A relay message before `join`.
    #[error("send a join message first")]
    NotJoined,
    /// The room is at its viewer limit.
    #[error("room is full ({0} viewers); try again later")]
    RoomFull(usize),
    /// The server is at its room limit.
    #[error("server has too many rooms ({0}); try again later")]
    TooManyRooms(usize),
    /// The room already has a host.
    #[error("room already has a host; stop the other host or choose another room")]
    HostExists,
    /// A viewer relayed something while the room has no host.
    #[error("no host in this room yet; wait for host_online")]
    NoHost,
    /// A host addressed a peer that is not a viewer of its room.
    #[error("peer {0} is not a viewer in this room")]
    UnknownPeer(PeerId),
    /// A host relayed without naming the viewer.
    #[error("a host must name the viewer in \"peer\"")]
    MissingPeer,
    /// A host sent a message only viewers send.
    #[error("only a viewer sends this message")]
    ViewersOnly,
    /// A `deny` with a long message.
    #[error("a deny message is at most {MAX_DENY_MESSAGE} bytes")]
    DenyTooLong,
    /// The rooms shared with other instances cannot be reached.
    #[error("{0}; try again in a few seconds")]
    Unavailable(String),
}

impl Refusal {
    /// The machine-readable code sent with the message.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::UnsupportedVersion(_) => ErrorCode::UnsupportedVersion,
            Self::InvalidRoom(_) => ErrorCode::InvalidRoom,
            Self::AlreadyJoined => ErrorCode::AlreadyJoined,
            Self::NotJoined => ErrorCode::NotJoined,
            Self::RoomFull(_) => ErrorCode::RoomFull,
            Self::TooManyRooms(_) => ErrorCode::TooManyRooms,
            Self::HostExists => ErrorCode::HostExists,
            Self::NoHost => ErrorCode::NoHost,
            Self::UnknownPeer(_) => ErrorCode::UnknownPeer,
            Self::MissingPeer | Self::ViewersOnly => ErrorCode::NotAllowed,
            Self::DenyTooLong => ErrorCode::MessageTooLarge,
            Self::Unavailable(_) => ErrorCode::Unavailable,
        }
    }

    /// The error message sent to the refused client.
    pub fn to_message(&self) -> ServerMessage {
        ServerMessage::error(self.code(), self.to_string())
    }
}

#[derive(Debug, Default)]
struct Room {
    host: Option<PeerId>,
    viewers: BTreeSet<PeerId>,
}

impl Room {
    fn is_empty(&self) -> bool {
        self.host.is_none() && self.viewers.is_empty()
    }
}

/// Every room on this server and who is in it.
#[derive(Debug, Default)]
pub struct Rooms {
    limits: RoomLimits,
    next_peer: u64,
    rooms: HashMap<RoomId, Room>,
    members: HashMap<PeerId, (RoomId, Role)>,
}

impl Rooms {
    /// An empty registry.
    pub fn new(limits: RoomLimits) -> Self {
        Self { limits, ..Self::default() }
    }

    /// Numbers a new connection. It is in no room until it joins.
    pub fn connect(&mut self) -> PeerId {
        self.next_peer += 1;
        PeerId(self.next_peer)
    }

    /// How many rooms exist.
    pub fn room_count(&self) -> usize {
        self.rooms.len()
    }

    /// The host and viewers of a room, if it exists.
    pub fn members(&self, room: &RoomId) -> Option<(Option<PeerId>, Vec<PeerId>)> {
        self.rooms.get(room).map(|r| (r.host, r.viewers.iter().copied().collect()))
    }

    /// Handles one message from `from`.
    pub fn handle_message(&mut self, from: PeerId, msg: ClientMessage) -> Result<Vec<Delivery>, Refusal> {
        match msg {
            ClientMessage::Join { v, room, role } => {
                if v != PROTOCOL_VERSION {
                    return Err(Refusal::UnsupportedVersion(v));
                }
                let room = RoomId::new(&room).map_err(Refusal::InvalidRoom)?;
                self.join(from, room, role)
            }
            other => {
                let role = self.members.get(&from).map(|(_, r)| *r);
                let (to, msg) = relayed(from, role, other)?;
                self.relay(from, to, msg)
            }
        }
    }

    fn join(&mut self, peer: PeerId, room_id: RoomId, role: Role) -> Result<Vec<Delivery>, Refusal> {
        if self.members.contains_key(&peer) {
            return Err(Refusal::AlreadyJoined);
        }
        if !self.rooms.contains_key(&room_id) && self.rooms.len() >= self.limits.max_rooms {
            return Err(Refusal::TooManyRooms(self.limits.max_rooms));
        }
        let max_viewers = self.limits.max_viewers_per_room;
        let room = self.rooms.entry(room_id.clone()).or_default();
        let mut out = Vec::new();
        match role {
            Role::Host => {
                if room.host.is_some() {
                    drop_if_empty(&mut self.rooms, &room_id);
                    return Err(Refusal::HostExists);
                }
                room.host = Some(peer);
                for &v in &room.viewers {
                    out.push(Delivery { to: v, msg: ServerMessage::HostOnline { peer } });
                }
            }
            Role::Viewer => {
                if room.viewers.len() >= max_viewers {
                    drop_if_empty(&mut self.rooms, &room_id);
                    return Err(Refusal::RoomFull(max_viewers));
                }
                room.viewers.insert(peer);
                if let Some(host) = room.host {
                    out.push(Delivery { to: host, msg: ServerMessage::ViewerJoined { peer } });
                }
            }
        }
        let host_present = room.host.is_some();
        out.insert(
            0,
            Delivery {
                to: peer,
                msg: ServerMessage::Joined {
                    v: PROTOCOL_VERSION,
                    room: room_id.clone(),
                    peer,
                    role,
                    host_present,
                    ice_servers: Vec::new(),
                    ice_policy: None,
                },
            },
        );
        self.members.insert(peer, (room_id, role));
        Ok(out)
    }

    /// Removes a connection that closed; tells the others in its room.
    pub fn leave(&mut self, peer: PeerId) -> Vec<Delivery> {
        let Some((room_id, role)) = self.members.remove(&peer) else {
            return Vec::new();
        };
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return Vec::new();
        };
        let out = match role {
            Role::Host => {
                room.host = None;
                room.viewers.iter().map(|&v| Delivery { to: v, msg: ServerMessage::HostOffline }).collect()
            }
            Role::Viewer => {
                room.viewers.remove(&peer);
                room.host
                    .map(|h| Delivery { to: h, msg: ServerMessage::ViewerLeft { peer } })
                    .into_iter()
                    .collect()
            }
        };
        drop_if_empty(&mut self.rooms, &room_id);
        out
    }

    fn relay(&self, from: PeerId, to: Option<PeerId>, msg: ServerMessage) -> Result<Vec<Delivery>, Refusal> {
        let (room_id, role) = self.members.get(&from).ok_or(Refusal::NotJoined)?;
        let room = self.rooms.get(room_id).ok_or(Refusal::NotJoined)?;
        let target = match role {
            Role::Viewer => room.host.ok_or(Refusal::NoHost)?,
            Role::Host => {
                let to = to.ok_or(Refusal::MissingPeer)?;
                if !room.viewers.contains(&to) {
                    return Err(Refusal::UnknownPeer(to));
                }
                to
            }
        };
        Ok(vec![Delivery { to: target, msg }])
    }
}

/// A message to relay, taken apart: the peer it names (a host must name a viewer; a viewer's
/// go to its host) and what the recipient gets, from `from`. `role` is the sender's, if it
/// joined. Not for `join`.
pub(crate) fn relayed(
    from: PeerId,
    role: Option<Role>,
    msg: ClientMessage,
) -> Result<(Option<PeerId>, ServerMessage), Refusal> {
    let p = from;
    Ok(match msg {
        ClientMessage::Join { .. } => return Err(Refusal::AlreadyJoined),
        ClientMessage::Offer { peer, sdp, auth } => (peer, ServerMessage::Offer { peer: p, sdp, auth }),
        ClientMessage::Answer { peer, sdp, auth } => (peer, ServerMessage::Answer { peer: p, sdp, auth }),
        ClientMessage::Proof { peer, mac } => {
            if role == Some(Role::Host) {
                return Err(Refusal::ViewersOnly);
            }
            (peer, ServerMessage::Proof { peer: p, mac })
        }
        ClientMessage::Deny { peer, code, message } => {
            if message.len() > MAX_DENY_MESSAGE {
                return Err(Refusal::DenyTooLong);
            }
            (peer, ServerMessage::Deny { peer: p, code, message })
        }
        ClientMessage::Candidate { peer, candidate, mid } => {
            (peer, ServerMessage::Candidate { peer: p, candidate, mid })
        }
    })
}

fn drop_if_empty(rooms: &mut HashMap<RoomId, Room>, id: &RoomId) {
    if rooms.get(id).is_some_and(Room::is_empty) {
        rooms.remove(id);
    }
}
