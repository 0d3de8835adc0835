//! The Redis backplane: one set of rooms shared by several `peerdesk serve` instances.
//!
//! Redis holds who is in which room; pub/sub carries messages between instances. Each instance
//! keeps only its own connections, and what each of them knows (a viewer its host, a host its
//! viewers), learned from the messages it delivers; see [`crate::shared`].
//!
//! - **Instances.** At start an instance takes a number `n` (`INCR pd:instances`, skipping any
//!   number still alive) and holds `pd:inst:{n}` with a TTL, renewed every third of it. Its
//!   peers are numbered `n * ID_SPAN + k`, so anyone can tell a peer's instance from its
//!   number; it subscribes to `pd:chan:{n}`, where others publish messages for its peers.
//! - **Rooms.** `pd:room:{room}:host` holds the host's peer number (a TTL, renewed by the
//!   heartbeat); `pd:room:{room}:viewers` is a sorted set of viewers scored by their expiry.
//!   Joining and leaving are Lua scripts, so two hosts racing for one room cannot both win.
//! - **No ghosts.** A host whose instance died stops counting at once (the scripts check the
//!   holder's instance key) and its key expires within the TTL; instances check the instances
//!   their peers' counterparts live on at every heartbeat, and tell their own peers
//!   `host_offline` / `viewer_left` for the dead ones.
//! - **Lag.** At every heartbeat an instance publishes a ping to itself and times its return:
//!   `peerdesk_backplane_lag_seconds` on `/metrics`.
//!
//! The scripts read instance keys they are not handed as KEYS: fine on one Redis (or a
//! replicated pair), not on Redis Cluster.

use std::sync::Arc;
use std::time::{Duration, Instant};

use peerdesk_proto::{PeerId, Role, RoomId, ServerMessage};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{IntoConnectionInfo, ProtocolVersion, PushInfo, PushKind, Script, Value};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tracing::{debug, warn};

use crate::metrics::Counters;

/// Peer numbers of instance `n` are `n * ID_SPAN + k`: under 2^53 (JavaScript's exact
/// integers) for the first nine million instances.
pub const ID_SPAN: u64 = 1_000_000_000;

/// Messages waiting to be published; past this a message is dropped (and counted).
const PUBLISH_QUEUE: usize = 65_536;

/// Publishes sent to Redis in one pipeline at most.
const PUBLISH_BATCH: usize = 512;

/// Members renewed by one script call at most: Redis runs nothing else while a script runs,
/// so a heartbeat goes in slices short enough not to hold up relays (about a tenth of a ms).
const REFRESH_BATCH: usize = 100;

const JOIN: &str = r"
-- KEYS: host key, viewers key. ARGV: peer, role, ttl ms, max viewers, instance key prefix, id span
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
local function alive(id)
  local inst = math.floor(tonumber(id) / tonumber(ARGV[6]))
  return redis.call('EXISTS', ARGV[5] .. string.format('%d', inst)) == 1
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local host = redis.call('GET', KEYS[1])
if ARGV[2] == 'host' then
  if host and host ~= ARGV[1] and alive(host) then return {'host_exists'} end
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
  local out = {'ok'}
  for _, v in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    if alive(v) then out[#out + 1] = v end
  end
  return out
end
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[4]) then return {'room_full'} end
redis.call('ZADD', KEYS[2], now + ttl, ARGV[1])
redis.call('PEXPIRE', KEYS[2], ttl)
if host and alive(host) then return {'ok', host} end
return {'ok'}
";

const LEAVE: &str = r"
-- KEYS: host key, viewers key. ARGV: peer, role, instance key prefix, id span
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function alive(id)
  local inst = math.floor(tonumber(id) / tonumber(ARGV[4]))
  return redis.call('EXISTS', ARGV[3] .. string.format('%d', inst)) == 1
end
local out = {}
if ARGV[2] == 'host' then
  if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
  for _, v in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    if alive(v) then out[#out + 1] = v end
  end
  return out
end
redis.call('ZREM', KEYS[2], ARGV[1])
local host = redis.call('GET', KEYS[1])
if host and alive(host) then out[1] = host end
return out
";

const REFRESH: &str = r"
-- ARGV: ttl ms, this instance's key, room key prefix, then role, room, peer for each member.
-- Renews the instance and its members (putting back any that Redis lost); returns the hosts
-- whose room another host holds now.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[1])
redis.call('SET', ARGV[2], '1', 'PX', ttl)
local lost = {}
for i = 4, #ARGV, 3 do
  local role, room, peer = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if role == 'host' then
    local hk = ARGV[3] .. room .. ':host'
    local cur = redis.call('GET', hk)
    if (not cur) or cur == peer then
      redis.call('SET', hk, peer, 'PX', ttl)
    else
      lost[#lost + 1] = peer
    end
  else
    local vk = ARGV[3] .. room .. ':viewers'
    redis.call('ZADD', vk, now + ttl, peer)
    redis.call('PEXPIRE', vk, ttl)
  end
end
return lost
";

const ROOM_PREFIX: &str = "pd:room:";
const INSTANCE_PREFIX: &str = "pd:inst:";

fn channel(instance: u64) -> String {
    format!("pd:chan:{instance}")
}

/// Why the backplane refused a join.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// Another live host holds the room.
    #[error("the room has a host")]
    HostExists,
    /// The room holds as many viewers as allowed.
    #[error("the room is full")]
    RoomFull,
    /// Redis could not be reached or answered nonsense.
    #[error("{0}")]
    Unavailable(String),
}

/// What one instance publishes to another.
#[derive(Debug, Serialize, Deserialize)]
#[serde(untagged)]
enum Wire {
    Deliver { to: PeerId, from: PeerId, msg: ServerMessage },
    Ping { ping: u64 },
}

/// A message for one of this instance's peers, from another instance.
#[derive(Debug)]
pub struct Envelope {
    /// The recipient, one of ours.
    pub to: PeerId,
    /// Who sent it (for `host_offline`: which host went).
    pub from: PeerId,
    /// What to deliver.
    pub msg: ServerMessage,
}

/// A member of a room, for the heartbeat.
#[derive(Debug, Clone)]
pub struct Member {
    /// Its room.
    pub room: RoomId,
    /// Host or viewer.
    pub role: Role,
    /// Its number.
    pub peer: PeerId,
}

/// This instance's link to Redis.
pub struct Backplane {
    instance: u64,
    conn: ConnectionManager,
    publish: mpsc::Sender<String>,
    publish_to: mpsc::Sender<(u64, String)>,
    ttl: Duration,
    started: Instant,
    counters: Arc<Counters>,
    join: Script,
    leave: Script,
    refresh: Script,
}

impl std::fmt::Debug for Backplane {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backplane").field("instance", &self.instance).field("ttl", &self.ttl).finish()
    }
}

/// Where a Redis URL points, without its password (for logs).
pub fn redacted(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
            format!("{scheme}://{host}")
        }
        None => "(not a URL)".to_owned(),
    }
}

impl Backplane {
    /// Connects to Redis at `url`, takes an instance number and subscribes to its channel.
    /// Messages for this instance's peers arrive on the returned receiver.
    pub async fn connect(
        url: &str,
        ttl: Duration,
        counters: Arc<Counters>,
    ) -> Result<(Arc<Self>, mpsc::UnboundedReceiver<Envelope>), String> {
        let where_ = redacted(url);
        let info = url.into_connection_info().map_err(|e| format!("--redis {where_}: {e}"))?;
        // RESP3: subscriptions and commands share one connection, resubscribed on reconnect.
        let settings = info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(settings))
            .map_err(|e| format!("--redis {where_}: {e}"))?;
        let (push_tx, push_rx) = mpsc::unbounded_channel::<PushInfo>();
        let config = ConnectionManagerConfig::new()
            .set_push_sender(push_tx)
            .set_automatic_resubscription()
            .set_response_timeout(Some(Duration::from_secs(5)))
            .set_connection_timeout(Some(Duration::from_secs(3)))
            .set_max_delay(Duration::from_secs(2));
        let mut conn = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(|e| format!("cannot reach Redis at {where_}: {e}; is redis-server running?"))?;
        let ttl_ms = ttl.as_millis().to_string();
        // A number no live instance holds (after a Redis restart the counter starts over).
        let mut instance = 0;
        for _ in 0..1000 {
            let n: u64 = redis::cmd("INCR")
                .arg("pd:instances")
                .query_async(&mut conn)
                .await
                .map_err(|e| format!("Redis at {where_}: {e}"))?;
            let free: Option<String> = redis::cmd("SET")
                .arg(format!("{INSTANCE_PREFIX}{n}"))
                .arg("1")
                .arg("NX")
                .arg("PX")
                .arg(&ttl_ms)
                .query_async(&mut conn)
                .await
                .map_err(|e| format!("Redis at {where_}: {e}"))?;
            if free.is_some() && n > 0 && n < (1 << 53) / ID_SPAN {
                instance = n;
                break;
            }
        }
        if instance == 0 {
            return Err(format!("Redis at {where_}: no free instance number"));
        }
        conn.subscribe(channel(instance)).await.map_err(|e| format!("Redis at {where_}: subscribe: {e}"))?;
        // Relays go out on a connection of their own, never queued behind a script's answer.
        let relay_conn = client
            .get_connection_manager_with_config(
                ConnectionManagerConfig::new()
                    .set_response_timeout(Some(Duration::from_secs(5)))
                    .set_connection_timeout(Some(Duration::from_secs(3)))
                    .set_max_delay(Duration::from_secs(2)),
            )
            .await
            .map_err(|e| format!("cannot reach Redis at {where_}: {e}"))?;
        let (publish, publish_rx) = mpsc::channel(PUBLISH_QUEUE);
        let (publish_to, publish_to_rx) = mpsc::channel(PUBLISH_QUEUE);
        let (env_tx, env_rx) = mpsc::unbounded_channel();
        let bp = Arc::new(Self {
            instance,
            conn: conn.clone(),
            publish,
            publish_to,
            ttl,
            started: Instant::now(),
            counters: counters.clone(),
            join: Script::new(JOIN),
            leave: Script::new(LEAVE),
            refresh: Script::new(REFRESH),
        });
        counters.backplane_up.set(1);
        tokio::spawn(publisher(relay_conn, publish_rx, publish_to_rx, instance, counters.clone()));
        tokio::spawn(receiver(push_rx, env_tx, Arc::downgrade(&bp)));
        Ok((bp, env_rx))
    }

    /// This instance's number.
    pub fn instance(&self) -> u64 {
        self.instance
    }

    /// How long presence lasts without a heartbeat.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The instance a peer lives on.
    pub fn instance_of(peer: PeerId) -> u64 {
        peer.0 / ID_SPAN
    }

    fn room_keys(room: &RoomId) -> (String, String) {
        (format!("{ROOM_PREFIX}{room}:host"), format!("{ROOM_PREFIX}{room}:viewers"))
    }

    fn failed(&self, what: &str, e: &redis::RedisError) -> String {
        self.counters.backplane_errors.inc();
        self.counters.backplane_up.set(0);
        warn!("Redis backplane: {what}: {e}");
        format!("the server's shared state (Redis) is unreachable: {e}")
    }

    /// Claims `room` for host `peer`; the room's viewers (on any instance).
    pub async fn join_host(&self, room: &RoomId, peer: PeerId) -> Result<Vec<PeerId>, JoinError> {
        self.join_script(room, peer, Role::Host, 0).await
    }

    /// Adds viewer `peer` to `room`; the room's host, if it has one.
    pub async fn join_viewer(
        &self,
        room: &RoomId,
        peer: PeerId,
        max: usize,
    ) -> Result<Option<PeerId>, JoinError> {
        Ok(self.join_script(room, peer, Role::Viewer, max).await?.first().copied())
    }

    async fn join_script(
        &self,
        room: &RoomId,
        peer: PeerId,
        role: Role,
        max: usize,
    ) -> Result<Vec<PeerId>, JoinError> {
        let (hk, vk) = Self::room_keys(room);
        let reply: Vec<String> = self
            .join
            .key(hk)
            .key(vk)
            .arg(peer.0)
            .arg(role_name(role))
            .arg(self.ttl.as_millis() as u64)
            .arg(max)
            .arg(INSTANCE_PREFIX)
            .arg(ID_SPAN)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| JoinError::Unavailable(self.failed("join", &e)))?;
        match reply.first().map(String::as_str) {
            Some("ok") => Ok(peers(&reply[1..])),
            Some("host_exists") => Err(JoinError::HostExists),
            Some("room_full") => Err(JoinError::RoomFull),
            other => Err(JoinError::Unavailable(format!("unexpected answer from Redis: {other:?}"))),
        }
    }

    /// Takes `peer` out of `room`: a host's viewers, or a viewer's host, to tell.
    pub async fn leave(&self, room: &RoomId, peer: PeerId, role: Role) -> Result<Vec<PeerId>, String> {
        let (hk, vk) = Self::room_keys(room);
        let reply: Vec<String> = self
            .leave
            .key(hk)
            .key(vk)
            .arg(peer.0)
            .arg(role_name(role))
            .arg(INSTANCE_PREFIX)
            .arg(ID_SPAN)
            .invoke_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.failed("leave", &e))?;
        Ok(peers(&reply))
    }

    /// Renews this instance and its members; the hosts that lost their room to another host.
    pub async fn refresh(&self, members: &[Member]) -> Result<Vec<PeerId>, String> {
        let mut lost = Vec::new();
        let chunks: Vec<&[Member]> =
            if members.is_empty() { vec![&[]] } else { members.chunks(REFRESH_BATCH).collect() };
        for chunk in chunks {
            let mut call = self.refresh.prepare_invoke();
            call.arg(self.ttl.as_millis() as u64)
                .arg(format!("{INSTANCE_PREFIX}{}", self.instance))
                .arg(ROOM_PREFIX);
            for m in chunk {
                call.arg(role_name(m.role)).arg(m.room.as_str()).arg(m.peer.0);
            }
            let reply: Vec<String> =
                call.invoke_async(&mut self.conn.clone()).await.map_err(|e| self.failed("heartbeat", &e))?;
            lost.extend(peers(&reply));
        }
        self.counters.backplane_up.set(1);
        Ok(lost)
    }

    /// Which of `instances` are no longer alive.
    pub async fn dead(&self, instances: &[u64]) -> Result<Vec<u64>, String> {
        if instances.is_empty() {
            return Ok(Vec::new());
        }
        let keys: Vec<String> = instances.iter().map(|n| format!("{INSTANCE_PREFIX}{n}")).collect();
        let alive: Vec<Option<String>> = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut self.conn.clone())
            .await
            .map_err(|e| self.failed("checking instances", &e))?;
        Ok(instances.iter().zip(alive).filter(|(_, a)| a.is_none()).map(|(n, _)| *n).collect())
    }

    /// Sends `msg` from `from` to `to` on another instance. Never waits: messages go out in
    /// order, in batches; if Redis falls far behind they are dropped and counted.
    pub fn send(&self, to: PeerId, from: PeerId, msg: ServerMessage) {
        let instance = Self::instance_of(to);
        match serde_json::to_string(&Wire::Deliver { to, from, msg }) {
            Ok(text) => {
                if self.publish_to.try_send((instance, text)).is_err() {
                    self.counters.backplane_dropped.inc();
                }
            }
            Err(e) => warn!("cannot serialize a message for the backplane: {e}"),
        }
    }

    /// Publishes a ping to this instance itself; its return is the backplane's lag.
    pub fn ping(&self) {
        let micros = self.started.elapsed().as_micros() as u64;
        if let Ok(text) = serde_json::to_string(&Wire::Ping { ping: micros }) {
            let _ = self.publish.try_send(text);
        }
    }
}

fn role_name(role: Role) -> &'static str {
    match role {
        Role::Host => "host",
        Role::Viewer => "viewer",
    }
}

fn peers(ids: &[String]) -> Vec<PeerId> {
    ids.iter().filter_map(|s| s.parse().ok()).map(PeerId).collect()
}

/// Sends queued messages to Redis, many to a round trip, in the order they were queued.
async fn publisher(
    mut conn: ConnectionManager,
    mut own: mpsc::Receiver<String>,
    mut others: mpsc::Receiver<(u64, String)>,
    instance: u64,
    counters: Arc<Counters>,
) {
    let mut batch: Vec<(u64, String)> = Vec::with_capacity(PUBLISH_BATCH);
    let mut pings: Vec<String> = Vec::new();
    loop {
        tokio::select! {
            n = others.recv_many(&mut batch, PUBLISH_BATCH) => if n == 0 { break },
            n = own.recv_many(&mut pings, 8) => if n == 0 { break },
        }
        let mut pipe = redis::pipe();
        for (to, text) in batch.drain(..) {
            pipe.cmd("PUBLISH").arg(channel(to)).arg(text).ignore();
        }
        for text in pings.drain(..) {
            pipe.cmd("PUBLISH").arg(channel(instance)).arg(text).ignore();
        }
        let sent = pipe.cmd_iter().count() as u64;
        match pipe.query_async::<()>(&mut conn).await {
            Ok(()) => counters.backplane_published.add(sent),
            Err(e) => {
                counters.backplane_errors.inc();
                counters.backplane_up.set(0);
                warn!("Redis backplane: {sent} messages lost: {e}");
            }
        }
    }
}

/// Turns what Redis pushes into envelopes for this instance's peers.
async fn receiver(
    mut push: mpsc::UnboundedReceiver<PushInfo>,
    out: mpsc::UnboundedSender<Envelope>,
    bp: std::sync::Weak<Backplane>,
) {
    while let Some(info) = push.recv().await {
        let Some(bp) = bp.upgrade() else { break };
        match info.kind {
            PushKind::Message => {}
            PushKind::Disconnection => {
                bp.counters.backplane_up.set(0);
                warn!("Redis backplane: connection lost; reconnecting");
                continue;
            }
            _ => continue,
        }
        let Some(Value::BulkString(bytes)) = info.data.get(1) else { continue };
        bp.counters.backplane_received.inc();
        match serde_json::from_slice::<Wire>(bytes) {
            Ok(Wire::Deliver { to, from, msg }) => {
                if out.send(Envelope { to, from, msg }).is_err() {
                    break;
                }
            }
            Ok(Wire::Ping { ping }) => {
                let lag = (bp.started.elapsed().as_micros() as u64).saturating_sub(ping);
                bp.counters.backplane_lag_micros.set(lag);
                bp.counters.backplane_up.set(1);
            }
            Err(e) => {
                bp.counters.backplane_errors.inc();
                debug!("a backplane message that is not ours: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password_in_logs() {
        assert_eq!(redacted("redis://:hunter2@10.0.0.5:6379/0"), "redis://10.0.0.5:6379/0");
        assert_eq!(redacted("redis://user:pw@h:1"), "redis://h:1");
        assert_eq!(redacted("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(redacted("hunter2"), "(not a URL)");
    }

    #[test]
    fn peer_numbers_tell_their_instance_and_stay_exact_in_javascript() {
        let p = PeerId(7 * ID_SPAN + 42);
        assert_eq!(Backplane::instance_of(p), 7);
        const { assert!(((1u64 << 53) / ID_SPAN) > 9_000_000) };
    }

    #[test]
    fn the_wire_format_tells_messages_from_pings() {
        let text = serde_json::to_string(&Wire::Deliver {
            to: PeerId(1),
            from: PeerId(2),
            msg: ServerMessage::HostOffline,
        })
        .expect("serializes");
        assert!(matches!(serde_json::from_str::<Wire>(&text), Ok(Wire::Deliver { to: PeerId(1), .. })));
        assert!(matches!(serde_json::from_str::<Wire>(r#"{"ping":5}"#), Ok(Wire::Ping { ping: 5 })));
        assert!(serde_json::from_str::<Wire>(r#"{"to":1}"#).is_err());
    }
}
