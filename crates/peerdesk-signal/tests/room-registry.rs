//! The room registry alone: who may join, where relayed messages go, who is told what.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use peerdesk_proto::{
    ClientMessage, DenyCode, ErrorCode, OfferAuth, PROTOCOL_VERSION, PeerId, Role, RoomId, ServerMessage,
    Token,
};
use peerdesk_signal::{Delivery, Refusal, RoomLimits, Rooms};

fn room(name: &str) -> RoomId {
    RoomId::new(name).expect("valid room name")
}

fn join(rooms: &mut Rooms, peer: PeerId, name: &str, role: Role) -> Result<Vec<Delivery>, Refusal> {
    rooms.handle_message(peer, ClientMessage::Join { v: PROTOCOL_VERSION, room: name.into(), role })
}

fn joined(peer: PeerId, name: &str, role: Role, host_present: bool) -> Delivery {
    Delivery {
        to: peer,
        msg: ServerMessage::Joined {
            v: PROTOCOL_VERSION,
            room: room(name),
            peer,
            role,
            host_present,
            ice_servers: Vec::new(),
            ice_policy: None,
        },
    }
}

#[test]
fn host_first_then_viewer() {
    let mut r = Rooms::new(RoomLimits::default());
    let (h, v) = (r.connect(), r.connect());
    assert_eq!(join(&mut r, h, "a", Role::Host).expect("host joins"), vec![joined(h, "a", Role::Host, true)]);
    assert_eq!(
        join(&mut r, v, "a", Role::Viewer).expect("viewer joins"),
        vec![
            joined(v, "a", Role::Viewer, true),
            Delivery { to: h, msg: ServerMessage::ViewerJoined { peer: v } }
        ]
    );
    assert_eq!(r.members(&room("a")), Some((Some(h), vec![v])));
}

#[test]
fn viewer_first_waits_and_is_told_when_the_host_arrives() {
    let mut r = Rooms::new(RoomLimits::default());
    let (v1, v2, h) = (r.connect(), r.connect(), r.connect());
    assert_eq!(
        join(&mut r, v1, "a", Role::Viewer).expect("joins"),
        vec![joined(v1, "a", Role::Viewer, false)]
    );
    join(&mut r, v2, "a", Role::Viewer).expect("joins");
    let out = join(&mut r, h, "a", Role::Host).expect("host joins");
    assert_eq!(out[0], joined(h, "a", Role::Host, true));
    let told: Vec<_> = out[1..].iter().map(|d| (d.to, d.msg.clone())).collect();
    assert_eq!(
        told,
        vec![(v1, ServerMessage::HostOnline { peer: h }), (v2, ServerMessage::HostOnline { peer: h })]
    );
}

#[test]
fn second_host_is_refused_and_first_stays() {
    let mut r = Rooms::new(RoomLimits::default());
    let (h1, h2) = (r.connect(), r.connect());
    join(&mut r, h1, "a", Role::Host).expect("joins");
    let err = join(&mut r, h2, "a", Role::Host).expect_err("second host refused");
    assert_eq!(err, Refusal::HostExists);
    assert_eq!(err.code(), ErrorCode::HostExists);
    assert_eq!(r.members(&room("a")), Some((Some(h1), vec![])));
    // The refused connection may still join elsewhere.
    join(&mut r, h2, "b", Role::Host).expect("joins another room");
}

#[test]
fn relay_goes_between_viewer_and_host_only() {
    let mut r = Rooms::new(RoomLimits::default());
    let (h, v, other) = (r.connect(), r.connect(), r.connect());
    join(&mut r, h, "a", Role::Host).expect("joins");
    join(&mut r, v, "a", Role::Viewer).expect("joins");
    join(&mut r, other, "b", Role::Viewer).expect("joins");

    let out = r
        .handle_message(v, ClientMessage::Offer { peer: Some(PeerId(999)), sdp: "o".into(), auth: None })
        .expect("viewer offers");
    assert_eq!(
        out,
        vec![Delivery { to: h, msg: ServerMessage::Offer { peer: v, sdp: "o".into(), auth: None } }]
    );

    let out = r
        .handle_message(h, ClientMessage::Answer { peer: Some(v), sdp: "a".into(), auth: None })
        .expect("host answers");
    assert_eq!(
        out,
        vec![Delivery { to: v, msg: ServerMessage::Answer { peer: h, sdp: "a".into(), auth: None } }]
    );

    let out = r
        .handle_message(
            h,
            ClientMessage::Candidate { peer: Some(v), candidate: "c".into(), mid: Some("0".into()) },
        )
        .expect("host trickles");
    assert_eq!(out[0].to, v);

    // The host cannot reach a viewer of another room, nor send without naming one.
    assert_eq!(
        r.handle_message(h, ClientMessage::Answer { peer: Some(other), sdp: "x".into(), auth: None }),
        Err(Refusal::UnknownPeer(other))
    );
    assert_eq!(
        r.handle_message(h, ClientMessage::Answer { peer: None, sdp: "x".into(), auth: None }),
        Err(Refusal::MissingPeer)
    );
    // A viewer in a room without a host has nobody to talk to.
    assert_eq!(
        r.handle_message(other, ClientMessage::Offer { peer: None, sdp: "o".into(), auth: None }),
        Err(Refusal::NoHost)
    );
}

#[test]
fn the_pairing_messages_are_relayed_as_they_are_and_only_the_viewer_proves() {
    let mut r = Rooms::new(RoomLimits::default());
    let (h, v) = (r.connect(), r.connect());
    join(&mut r, h, "a", Role::Host).expect("joins");
    join(&mut r, v, "a", Role::Viewer).expect("joins");
    let token = |s: &str| Token::new(s).expect("token");
    let auth = OfferAuth { key: token("kid"), nonce: token("vn") };
    let out = r
        .handle_message(v, ClientMessage::Offer { peer: None, sdp: "o".into(), auth: Some(auth.clone()) })
        .expect("viewer offers");
    assert_eq!(out[0].msg, ServerMessage::Offer { peer: v, sdp: "o".into(), auth: Some(auth) });
    let out =
        r.handle_message(v, ClientMessage::Proof { peer: None, mac: token("mac") }).expect("viewer proves");
    assert_eq!(out, vec![Delivery { to: h, msg: ServerMessage::Proof { peer: v, mac: token("mac") } }]);
    assert_eq!(
        r.handle_message(h, ClientMessage::Proof { peer: Some(v), mac: token("mac") }),
        Err(Refusal::ViewersOnly)
    );
    let deny = ClientMessage::Deny { peer: Some(v), code: DenyCode::WrongKey, message: "no".into() };
    let out = r.handle_message(h, deny).expect("host denies");
    assert_eq!(out[0].msg, ServerMessage::Deny { peer: h, code: DenyCode::WrongKey, message: "no".into() });
    let long = ClientMessage::Deny { peer: Some(v), code: DenyCode::Kicked, message: "x".repeat(301) };
    assert_eq!(r.handle_message(h, long), Err(Refusal::DenyTooLong));
    // A proof whose fields are not tokens does not even parse.
    assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"proof","mac":"a b"}"#).is_err());
}

#[test]
fn relay_before_join_and_double_join_are_refused() {
    let mut r = Rooms::new(RoomLimits::default());
    let p = r.connect();
    assert_eq!(
        r.handle_message(p, ClientMessage::Offer { peer: None, sdp: "o".into(), auth: None }),
        Err(Refusal::NotJoined)
    );
    join(&mut r, p, "a", Role::Viewer).expect("joins");
    assert_eq!(join(&mut r, p, "b", Role::Viewer), Err(Refusal::AlreadyJoined));
}

#[test]
fn wrong_protocol_version_is_refused() {
    let mut r = Rooms::new(RoomLimits::default());
    let p = r.connect();
    let err = r
        .handle_message(
            p,
            ClientMessage::Join { v: PROTOCOL_VERSION + 1, room: "a".into(), role: Role::Host },
        )
        .expect_err("refused");
    assert_eq!(err.code(), ErrorCode::UnsupportedVersion);
    assert_eq!(r.room_count(), 0);
}

#[test]
fn leaving_tells_the_other_side_and_empty_rooms_vanish() {
    let mut r = Rooms::new(RoomLimits::default());
    let (h, v) = (r.connect(), r.connect());
    join(&mut r, h, "a", Role::Host).expect("joins");
    join(&mut r, v, "a", Role::Viewer).expect("joins");
    assert_eq!(r.leave(h), vec![Delivery { to: v, msg: ServerMessage::HostOffline }]);
    // The room lives on for the waiting viewer; a new host can take it.
    let h2 = r.connect();
    let out = join(&mut r, h2, "a", Role::Host).expect("new host joins");
    assert_eq!(out[1], Delivery { to: v, msg: ServerMessage::HostOnline { peer: h2 } });
    assert_eq!(r.leave(v), vec![Delivery { to: h2, msg: ServerMessage::ViewerLeft { peer: v } }]);
    assert_eq!(r.leave(h2), vec![]);
    assert_eq!(r.room_count(), 0);
    assert_eq!(r.leave(h2), vec![], "leaving twice is harmless");
}

#[test]
fn limits_on_rooms_and_viewers() {
    let mut r = Rooms::new(RoomLimits { max_rooms: 2, max_viewers_per_room: 2 });
    let ps: Vec<_> = (0..6).map(|_| r.connect()).collect();
    join(&mut r, ps[0], "a", Role::Host).expect("joins");
    join(&mut r, ps[1], "b", Role::Host).expect("joins");
    assert_eq!(join(&mut r, ps[2], "c", Role::Viewer), Err(Refusal::TooManyRooms(2)));
    join(&mut r, ps[2], "a", Role::Viewer).expect("existing room is fine");
    join(&mut r, ps[3], "a", Role::Viewer).expect("joins");
    assert_eq!(join(&mut r, ps[4], "a", Role::Viewer), Err(Refusal::RoomFull(2)));
    assert_eq!(r.room_count(), 2);
    r.leave(ps[3]);
    join(&mut r, ps[4], "a", Role::Viewer).expect("a place came free");
}

#[test]
fn invalid_room_names_are_refused() {
    let mut r = Rooms::new(RoomLimits::default());
    let p = r.connect();
    for bad in ["", "a b", "../etc", &"x".repeat(65)] {
        let err = join(&mut r, p, bad, Role::Viewer).expect_err(bad);
        assert_eq!(err.code(), ErrorCode::InvalidRoom, "{bad:?}");
    }
    assert_eq!(r.room_count(), 0);
    join(&mut r, p, "fine", Role::Viewer).expect("a good name still works");
}
