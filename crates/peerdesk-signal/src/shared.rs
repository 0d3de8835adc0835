//! Rooms shared by several instances (`serve --redis`): the [`Hub`]'s side of the
//! [`Backplane`].
//!
//! Redis decides who joins (one host a room, the viewer limit) and who is told when someone
//! joins or leaves. Each instance keeps a [`Session`] for each of its own peers: its room, its
//! role and its counterparts (a viewer's host, a host's viewers), kept up to date by the
//! messages delivered to it. A relay is checked against the sender's session, then goes
//! straight to the recipient's outbox when it is ours, or through Redis to its instance.
//!
//! A heartbeat renews this instance's presence and its peers'; it also finds counterparts on
//! instances that died and tells our peers they left, so a room recovers when its peers
//! reconnect to a live instance.

use std::collections::{BTreeSet, HashSet};
use std::sync::{Arc, Weak};

use peerdesk_proto::{ClientMessage, PROTOCOL_VERSION, PeerId, Role, RoomId, ServerMessage};
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::SignalConfig;
use crate::backplane::{Backplane, Envelope, JoinError, Member};
use crate::metrics::Counters;
use crate::rooms::{Delivery, Refusal, relayed};
use crate::ws::{Hub, HubInner, Push};

/// What one of this instance's peers knows of its room.
#[derive(Debug, Clone)]
pub struct Session {
    room: RoomId,
    role: Role,
    /// A viewer's host.
    host: Option<PeerId>,
    /// A host's viewers.
    viewers: BTreeSet<PeerId>,
}

impl Hub {
    /// A hub whose rooms are shared with other instances through `backplane`; `envelopes` are
    /// the messages other instances send to this one's peers. Starts the heartbeat.
    pub fn shared(
        config: SignalConfig,
        counters: Arc<Counters>,
        backplane: Arc<Backplane>,
        envelopes: mpsc::UnboundedReceiver<Envelope>,
    ) -> Arc<Self> {
        counters.backplane_enabled.set(1);
        let hub = Arc::new_cyclic(|me| Self {
            config,
            counters,
            inner: std::sync::Mutex::new(HubInner::default()),
            backplane: Some(backplane.clone()),
            me: me.clone(),
        });
        tokio::spawn(deliver_envelopes(Arc::downgrade(&hub), envelopes));
        tokio::spawn(heartbeat(Arc::downgrade(&hub), backplane));
        hub
    }

    /// Handles one message of a peer of ours.
    pub(crate) async fn shared_handle(
        &self,
        bp: &Backplane,
        from: PeerId,
        msg: ClientMessage,
    ) -> Result<(), Refusal> {
        let ClientMessage::Join { v, room, role } = msg else {
            let mut inner = self.lock();
            let session = inner.sessions.get(&from);
            let (to, out) = relayed(from, session.map(|s| s.role), msg)?;
            let session = session.ok_or(Refusal::NotJoined)?;
            let target = match session.role {
                Role::Viewer => session.host.ok_or(Refusal::NoHost)?,
                Role::Host => {
                    let to = to.ok_or(Refusal::MissingPeer)?;
                    if !session.viewers.contains(&to) {
                        return Err(Refusal::UnknownPeer(to));
                    }
                    to
                }
            };
            self.route(bp, &mut inner, from, vec![Delivery { to: target, msg: out }]);
            return Ok(());
        };
        if v != PROTOCOL_VERSION {
            return Err(Refusal::UnsupportedVersion(v));
        }
        let room = RoomId::new(&room).map_err(Refusal::InvalidRoom)?;
        {
            let inner = self.lock();
            if inner.sessions.contains_key(&from) {
                return Err(Refusal::AlreadyJoined);
            }
            let max = self.config.limits.max_rooms;
            if !inner.local_rooms.contains_key(&room) && inner.local_rooms.len() >= max {
                return Err(Refusal::TooManyRooms(max));
            }
        }
        let max_viewers = self.config.limits.max_viewers_per_room;
        let (host, viewers) = match role {
            Role::Host => (None, bp.join_host(&room, from).await.map_err(|e| refusal(e, max_viewers))?),
            Role::Viewer => (
                bp.join_viewer(&room, from, max_viewers).await.map_err(|e| refusal(e, max_viewers))?,
                Vec::new(),
            ),
        };
        let mut inner = self.lock();
        if !inner.outboxes.contains_key(&from) {
            // Gone while Redis answered: take it out again.
            drop(inner);
            self.spawn_leave(room, from, role, host, viewers);
            return Ok(());
        }
        let mut deliveries = vec![Delivery {
            to: from,
            msg: ServerMessage::Joined {
                v: PROTOCOL_VERSION,
                room: room.clone(),
                peer: from,
                role,
                host_present: role == Role::Host || host.is_some(),
                ice_servers: Vec::new(),
                ice_policy: None,
            },
        }];
        self.fill_ice(&mut deliveries);
        match role {
            Role::Host => {
                deliveries.extend(
                    viewers
                        .iter()
                        .map(|&v| Delivery { to: v, msg: ServerMessage::HostOnline { peer: from } }),
                );
            }
            Role::Viewer => {
                deliveries.extend(
                    host.map(|h| Delivery { to: h, msg: ServerMessage::ViewerJoined { peer: from } }),
                );
            }
        }
        *inner.local_rooms.entry(room.clone()).or_default() += 1;
        inner.sessions.insert(from, Session { room, role, host, viewers: viewers.into_iter().collect() });
        self.route(bp, &mut inner, from, deliveries);
        Ok(())
    }

    /// A peer of ours closed (or was dropped): out of its room, here and in Redis, and the
    /// others told.
    pub(crate) fn shared_leave(&self, inner: &mut HubInner, peer: PeerId) {
        let Some(s) = inner.sessions.remove(&peer) else { return };
        if let Some(n) = inner.local_rooms.get_mut(&s.room) {
            *n -= 1;
            if *n == 0 {
                inner.local_rooms.remove(&s.room);
            }
        }
        self.spawn_leave(s.room, peer, s.role, s.host, s.viewers.into_iter().collect());
    }

    fn spawn_leave(
        &self,
        room: RoomId,
        peer: PeerId,
        role: Role,
        host: Option<PeerId>,
        viewers: Vec<PeerId>,
    ) {
        let hub = self.me.clone();
        tokio::spawn(async move {
            let Some(bp) = hub.upgrade().and_then(|h| h.backplane.clone()) else { return };
            // Whom Redis knows of, and whom this instance knew of (if Redis is away).
            let mut others: BTreeSet<PeerId> =
                bp.leave(&room, peer, role).await.unwrap_or_default().into_iter().collect();
            others.extend(host);
            others.extend(viewers);
            let Some(hub) = hub.upgrade() else { return };
            let msg = |to: PeerId| match role {
                Role::Host => Delivery { to, msg: ServerMessage::HostOffline },
                Role::Viewer => Delivery { to, msg: ServerMessage::ViewerLeft { peer } },
            };
            let deliveries = others.into_iter().filter(|&p| p != peer).map(msg).collect();
            let mut inner = hub.lock();
            hub.route(&bp, &mut inner, peer, deliveries);
        });
    }

    /// Sends each delivery: to our own peers directly, to others through Redis.
    pub(crate) fn route(
        &self,
        bp: &Backplane,
        inner: &mut HubInner,
        from: PeerId,
        deliveries: Vec<Delivery>,
    ) {
        let us = bp.instance();
        for d in deliveries {
            if Backplane::instance_of(d.to) == us {
                self.deliver_local(inner, from, d.to, d.msg);
            } else {
                // Counted as relayed by the instance that delivers it.
                bp.send(d.to, from, d.msg);
            }
        }
    }

    /// Hands a message to one of our peers, noting what it tells the peer about its room.
    fn deliver_local(&self, inner: &mut HubInner, from: PeerId, to: PeerId, msg: ServerMessage) {
        if let Some(s) = inner.sessions.get_mut(&to) {
            match &msg {
                ServerMessage::HostOnline { peer } => s.host = Some(*peer),
                ServerMessage::HostOffline => {
                    // A host that went after another took its place says nothing.
                    if s.host != Some(from) {
                        return;
                    }
                    s.host = None;
                }
                ServerMessage::ViewerJoined { peer } => {
                    s.viewers.insert(*peer);
                }
                // One we never knew of (or already told of) says nothing.
                ServerMessage::ViewerLeft { peer } if !s.viewers.remove(peer) => return,
                _ => {}
            }
        } else if !matches!(msg, ServerMessage::Joined { .. }) {
            // Not (or no longer) in a room here: it left, and its room is being told.
            return;
        }
        match self.push(inner, to, &msg) {
            Push::Queued if !matches!(msg, ServerMessage::Joined { .. }) => {
                self.counters.messages_relayed.inc()
            }
            Push::Queued | Push::NoPeer => {}
            Push::Dropped => self.shared_leave(inner, to),
        }
    }
}

fn refusal(e: JoinError, max_viewers: usize) -> Refusal {
    match e {
        JoinError::HostExists => Refusal::HostExists,
        JoinError::RoomFull => Refusal::RoomFull(max_viewers),
        JoinError::Unavailable(why) => Refusal::Unavailable(why),
    }
}

/// Delivers what other instances send to our peers.
async fn deliver_envelopes(hub: Weak<Hub>, mut envelopes: mpsc::UnboundedReceiver<Envelope>) {
    while let Some(e) = envelopes.recv().await {
        let Some(hub) = hub.upgrade() else { break };
        let mut inner = hub.lock();
        hub.deliver_local(&mut inner, e.from, e.to, e.msg);
    }
}

/// Every third of the TTL: renew our presence, drop hosts that lost their room, tell our peers
/// about counterparts whose instance died, and time a ping through Redis.
async fn heartbeat(hub: Weak<Hub>, bp: Arc<Backplane>) {
    let every = bp.ttl() / 3;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut was_up = true;
    loop {
        tick.tick().await;
        let Some(hub) = hub.upgrade() else { break };
        bp.ping();
        let (members, remote): (Vec<Member>, Vec<u64>) = {
            let inner = hub.lock();
            let members = inner
                .sessions
                .iter()
                .map(|(&peer, s)| Member { room: s.room.clone(), role: s.role, peer })
                .collect();
            let mut remote: HashSet<u64> = HashSet::new();
            for s in inner.sessions.values() {
                remote.extend(s.host.iter().chain(s.viewers.iter()).map(|&p| Backplane::instance_of(p)));
            }
            remote.remove(&bp.instance());
            (members, remote.into_iter().collect())
        };
        match bp.refresh(&members).await {
            Ok(lost) => {
                if !was_up {
                    info!("Redis backplane: reachable again");
                }
                was_up = true;
                for peer in lost {
                    warn!(%peer, "another host holds this host's room now; closing it");
                    hub.close(peer, "another host took the room");
                }
            }
            Err(_) => {
                was_up = false;
                continue;
            }
        }
        let Ok(dead) = bp.dead(&remote).await else { continue };
        if dead.is_empty() {
            continue;
        }
        info!(instances = ?dead, "signaling instances gone; telling their peers' rooms");
        let dead: HashSet<u64> = dead.into_iter().collect();
        let gone = |p: &PeerId| dead.contains(&Backplane::instance_of(*p));
        let mut inner = hub.lock();
        let mut work = Vec::new();
        for (&peer, s) in &inner.sessions {
            if let Some(h) = s.host.filter(gone) {
                work.push((peer, h, ServerMessage::HostOffline));
            }
            for &v in s.viewers.iter().filter(|v| gone(v)) {
                work.push((peer, v, ServerMessage::ViewerLeft { peer: v }));
            }
        }
        for (to, from, msg) in work {
            hub.deliver_local(&mut inner, from, to, msg);
        }
    }
}
