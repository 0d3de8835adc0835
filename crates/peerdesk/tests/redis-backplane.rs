//! `peerdesk serve --redis`: several instances (the real binary) sharing rooms through a real
//! redis-server started here. A host on one instance and viewers on another exchange every
//! kind of message; one host a room and the viewer limit hold across instances; an instance
//! killed without a word leaves no ghost host (its peers' rooms hear it left, another host may
//! take the room); Redis going away gets joins a clear `unavailable`, and when it comes back
//! (empty) the instances put their rooms back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// Every wait in this file is bounded by this.
const WAIT: Duration = Duration::from_secs(15);

/// A child process that is killed when dropped, its stderr kept.
struct Proc {
    child: Child,
    stderr: Arc<Mutex<String>>,
}

impl Proc {
    fn spawn(cmd: &mut Command) -> (Self, BufReader<std::process::ChildStdout>) {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawn");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let stderr = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().expect("stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        (Self { child, stderr }, stdout)
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// redis-server on `port` (0: a free one), no persistence.
fn redis(port: u16) -> (Proc, u16) {
    let port = if port == 0 {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    } else {
        port
    };
    let dir = std::env::temp_dir();
    let (p, mut out) = Proc::spawn(
        Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .current_dir(dir),
    );
    let deadline = Instant::now() + WAIT;
    let mut line = String::new();
    while Instant::now() < deadline {
        line.clear();
        if out.read_line(&mut line).unwrap_or(0) == 0 {
            panic!("redis-server exited: {}", p.log());
        }
        if line.contains("Ready to accept connections") {
            std::thread::spawn(move || {
                let mut sink = String::new();
                while out.read_line(&mut sink).unwrap_or(0) > 0 {
                    sink.clear();
                }
            });
            return (p, port);
        }
    }
    panic!("redis-server not ready in time");
}

/// `peerdesk serve --redis` on a free port.
fn serve(redis_port: u16, extra: &[&str]) -> (Proc, SocketAddr) {
    let url = format!("redis://127.0.0.1:{redis_port}");
    let (p, mut out) = Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_peerdesk"))
            .args(["serve", "--listen", "127.0.0.1:0", "--redis", &url, "--redis-ttl", "3s"])
            .args(extra)
            .env("RUST_LOG", "info"),
    );
    let mut line = String::new();
    out.read_line(&mut line).expect("read stdout");
    let addr = line
        .trim()
        .strip_prefix("listening http://")
        .unwrap_or_else(|| panic!("no listening line: {line:?}\n{}", p.log()))
        .parse()
        .expect("address");
    (p, addr)
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

async fn ws(addr: SocketAddr) -> Ws {
    tokio::time::timeout(WAIT, connect_async(format!("ws://{addr}/ws")))
        .await
        .expect("in time")
        .expect("connect")
        .0
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.expect("send");
}

/// The next message of `kind`, skipping others; within `within`.
async fn expect_within(ws: &mut Ws, kind: &str, within: Duration) -> Value {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = tokio::time::timeout(left, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no {kind} within {within:?}"))
            .expect("open")
            .expect("frame");
        if let Message::Text(t) = frame {
            let v: Value = serde_json::from_str(t.as_str()).expect("json");
            if v["type"] == kind {
                return v;
            }
        }
    }
}

async fn expect(ws: &mut Ws, kind: &str) -> Value {
    expect_within(ws, kind, WAIT).await
}

async fn join(addr: SocketAddr, room: &str, role: &str) -> (Ws, Value) {
    let mut w = ws(addr).await;
    send(&mut w, json!({"type": "join", "v": 1, "room": room, "role": role})).await;
    let first = loop {
        let v = expect_any(&mut w).await;
        if v["type"] == "joined" || v["type"] == "error" {
            break v;
        }
    };
    (w, first)
}

async fn expect_any(ws: &mut Ws) -> Value {
    loop {
        let frame =
            tokio::time::timeout(WAIT, ws.next()).await.expect("in time").expect("open").expect("frame");
        if let Message::Text(t) = frame {
            return serde_json::from_str(t.as_str()).expect("json");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rooms_span_instances_and_outlive_a_dead_one() {
    let (_redis, port) = redis(0);
    let (mut a, a_addr) = serve(port, &["--max-viewers", "3"]);
    let (b, b_addr) = serve(port, &["--max-viewers", "3"]);

    // A host on A, a viewer on B: every kind of message crosses.
    let (mut host, joined) = join(a_addr, "spanned", "host").await;
    assert_eq!(joined["type"], "joined", "{joined}");
    let (mut viewer, joined) = join(b_addr, "spanned", "viewer").await;
    assert_eq!(joined["host_present"], true, "B sees A's host: {joined}");
    let vid = expect(&mut host, "viewer_joined").await["peer"].clone();
    assert_eq!(vid, joined["peer"]);
    send(&mut viewer, json!({"type": "offer", "sdp": "v=0 offer"})).await;
    let offer = expect(&mut host, "offer").await;
    assert_eq!((offer["peer"].clone(), offer["sdp"].as_str()), (vid.clone(), Some("v=0 offer")));
    send(&mut host, json!({"type": "answer", "peer": vid, "sdp": "v=0 answer"})).await;
    assert_eq!(expect(&mut viewer, "answer").await["sdp"], "v=0 answer");
    send(&mut viewer, json!({"type": "candidate", "candidate": "candidate:1 1 udp 1 10.0.0.1 9 typ host"}))
        .await;
    assert_eq!(expect(&mut host, "candidate").await["peer"], vid);
    // A host may only address viewers of its room, wherever they are.
    send(&mut host, json!({"type": "candidate", "peer": 12345, "candidate": "x"})).await;
    assert_eq!(expect(&mut host, "error").await["code"], "unknown_peer");

    // One host a room, across instances.
    let (_second, refused) = join(b_addr, "spanned", "host").await;
    assert_eq!(refused["code"], "host_exists", "{refused}");
    // The viewer limit counts viewers on every instance.
    let (_v2, j2) = join(a_addr, "spanned", "viewer").await;
    let (_v3, j3) = join(a_addr, "spanned", "viewer").await;
    let (_v4, full) = join(b_addr, "spanned", "viewer").await;
    assert_eq!((j2["type"].as_str(), j3["type"].as_str()), (Some("joined"), Some("joined")));
    assert_eq!(full["code"], "room_full", "{full}");

    // Instance A dies without a word: within the TTL and a heartbeat, B tells the viewer its
    // host is gone; the room is free for a host on B (no ghost).
    let t = Instant::now();
    a.kill();
    expect_within(&mut viewer, "host_offline", Duration::from_secs(8)).await;
    let told_after = t.elapsed();
    let (mut host2, joined) = join(b_addr, "spanned", "host").await;
    assert_eq!(joined["type"], "joined", "A's host is no ghost: {joined}");
    let online = expect(&mut viewer, "host_online").await;
    assert_eq!(online["peer"], joined["peer"]);
    // The viewers that were on A are gone from the room (A's viewers expire with it): only the
    // one on B is there, and the new host reaches it.
    send(&mut host2, json!({"type": "candidate", "peer": vid, "candidate": "c"})).await;
    expect(&mut viewer, "candidate").await;
    println!("host_offline {told_after:?} after the instance died");

    // A host that leaves cleanly is gone at once.
    let _ = host2.close(None).await;
    expect_within(&mut viewer, "host_offline", Duration::from_secs(2)).await;
    assert!(!b.log().contains("panicked"), "{}", b.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_joins_are_told_to_wait_and_rooms_come_back_with_it() {
    let (mut r, port) = redis(0);
    let (a, a_addr) = serve(port, &[]);
    let (b, b_addr) = serve(port, &[]);
    let (_host, joined) = join(a_addr, "kept", "host").await;
    assert_eq!(joined["type"], "joined");

    r.kill();
    let (_v, refused) = join(b_addr, "kept", "viewer").await;
    assert_eq!(refused["code"], "unavailable", "{refused}");
    let msg = refused["message"].as_str().unwrap_or_default();
    assert!(msg.contains("try again"), "says what to do: {msg}");

    // Redis is back, empty: the heartbeat puts the host back in its room.
    let (_r2, _) = redis(port);
    let deadline = Instant::now() + WAIT;
    let joined = loop {
        let (_v, j) = join(b_addr, "kept", "viewer").await;
        if j["type"] == "joined" && j["host_present"] == true {
            break j;
        }
        assert!(Instant::now() < deadline, "the room did not come back: {j}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    assert_eq!(joined["role"], "viewer");
    for p in [&a, &b] {
        assert!(!p.log().contains("panicked"), "{}", p.log());
    }
}
