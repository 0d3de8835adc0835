//! `peerdesk serve` (the real binary, on 127.0.0.1) under floods: a thousand connections from
//! one address, thousands of messages a second on one connection, a 10 MB frame, a client that
//! never reads. Through each, a well-behaved client from another loopback address (127.0.0.2)
//! still joins in under a second, the server's memory stays bounded, it counts what it refused
//! and nothing panics.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{WebSocketStream, client_async};

/// Every wait in this file is bounded by this.
const WAIT: Duration = Duration::from_secs(10);
/// What a well-behaved client's join may take while the server is flooded.
const JOIN_BUDGET: Duration = Duration::from_secs(1);
/// How much the server may grow through a flood.
const GROWTH_BUDGET_KIB: u64 = 96 * 1024;

struct Server {
    child: Child,
    addr: SocketAddr,
    stderr: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Server {
    fn start(extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_peerdesk"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start peerdesk serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("read stdout");
        let addr =
            line.trim().strip_prefix("listening http://").expect("listening line").parse().expect("address");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
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
        Self { child, addr, stderr }
    }

    fn rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// The server is alive and logged no panic.
    fn assert_healthy(&mut self) {
        assert!(self.child.try_wait().expect("wait").is_none(), "the server died");
        let log = self.stderr.lock().unwrap().clone();
        assert!(!log.contains("panicked"), "the server panicked:\n{log}");
    }

    /// `/metrics`, fetched from 127.0.0.9 (an address of its own, under no flood's limit).
    async fn metric(&self, name: &str) -> u64 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut s = connect_from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9)), self.addr).await;
        let request = format!("GET /metrics HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n\r\n", self.addr);
        s.write_all(request.as_bytes()).await.unwrap();
        let mut body = String::new();
        tokio::time::timeout(WAIT, s.read_to_string(&mut body)).await.expect("metrics in time").unwrap();
        body.lines()
            .find_map(|l| l.strip_prefix(&format!("peerdesk_{name} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no metric {name} in:\n{body}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn connect_from(from: IpAddr, to: SocketAddr) -> TcpStream {
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::new(from, 0)).unwrap();
    tokio::time::timeout(WAIT, sock.connect(to)).await.expect("connect in time").expect("connect")
}

type Ws = WebSocketStream<TcpStream>;

async fn ws_from(from: IpAddr, to: SocketAddr) -> Result<Ws, String> {
    let tcp = connect_from(from, to).await;
    match tokio::time::timeout(WAIT, client_async(format!("ws://{to}/ws"), tcp)).await {
        Ok(Ok((ws, _))) => Ok(ws),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("handshake timed out".into()),
    }
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.expect("send");
}

async fn recv(ws: &mut Ws) -> Value {
    loop {
        let frame =
            tokio::time::timeout(WAIT, ws.next()).await.expect("in time").expect("open").expect("frame");
        if let Message::Text(t) = frame {
            return serde_json::from_str(t.as_str()).expect("json");
        }
    }
}

async fn join(ws: &mut Ws, room: &str, role: &str) -> Value {
    send(ws, json!({"type": "join", "v": 1, "room": room, "role": role})).await;
    recv(ws).await
}

/// A well-behaved viewer from 127.0.0.2: connect, join, answered. How long it took.
async fn good_join(addr: SocketAddr, room: &str) -> Duration {
    let t = Instant::now();
    let mut ws =
        ws_from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), addr).await.expect("the good client connects");
    let joined = join(&mut ws, room, "viewer").await;
    assert_eq!(joined["type"], "joined", "{joined}");
    let took = t.elapsed();
    let _ = ws.close(None).await;
    took
}

/// Whether the server ends the connection (a close frame or EOF) within `WAIT`, reading and
/// dropping whatever else comes.
async fn closed_by_server<S, E>(ws: &mut S) -> bool
where
    S: futures_util::Stream<Item = Result<Message, E>> + Unpin,
{
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline {
        if let Ok(None | Some(Err(_) | Ok(Message::Close(_)))) =
            tokio::time::timeout(Duration::from_millis(200), ws.next()).await
        {
            return true;
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_connections_from_one_address_are_mostly_refused_and_others_still_join() {
    let mut server = Server::start(&[]);
    let base = server.rss_kib();
    let addr = server.addr;
    let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let attempts: Vec<_> = (0..1000).map(|_| tokio::spawn(ws_from(local, addr))).collect();
    let mut open = Vec::new();
    let mut refused = 0;
    for a in attempts {
        match a.await.expect("task") {
            Ok(ws) => open.push(ws),
            Err(e) => {
                assert!(e.contains("429"), "refused with something else: {e}");
                refused += 1;
            }
        }
    }
    println!("1000 connections from 127.0.0.1: {} open, {refused} refused with 429", open.len());
    assert_eq!(open.len(), 64, "the default --max-conns-per-ip");
    let took = good_join(addr, "calm").await;
    println!("a join from 127.0.0.2 meanwhile took {took:?}");
    assert!(took < JOIN_BUDGET, "{took:?}");
    assert_eq!(server.metric("refused_per_ip_total").await, 936);
    let grown = server.rss_kib().saturating_sub(base);
    println!("server memory grew by {grown} KiB");
    assert!(grown < GROWTH_BUDGET_KIB);
    // Their places come back when they close.
    drop(open);
    let mut again = None;
    for _ in 0..50 {
        if let Ok(ws) = ws_from(local, addr).await {
            again = Some(ws);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(again.is_some(), "127.0.0.1 may connect again once its connections closed");
    server.assert_healthy();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_messages_a_second_get_the_connection_closed_and_others_still_join() {
    let mut server = Server::start(&[]);
    let base = server.rss_kib();
    let addr = server.addr;
    // A host that reads what is relayed to it, so the flood is of messages the server accepts.
    let mut host = ws_from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)), addr).await.expect("host connects");
    assert_eq!(join(&mut host, "busy", "host").await["type"], "joined");
    let reading = tokio::spawn(async move { while let Some(Ok(_)) = host.next().await {} });
    let mut flooder = ws_from(IpAddr::V4(Ipv4Addr::LOCALHOST), addr).await.expect("connect");
    assert_eq!(join(&mut flooder, "busy", "viewer").await["type"], "joined");
    let (mut sink, mut stream) = flooder.split();
    let blast = tokio::spawn(async move {
        let msg =
            json!({"type": "candidate", "candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host"}).to_string();
        let t = Instant::now();
        let mut sent = 0u32;
        while sent < 20_000 {
            if sink.send(Message::Text(msg.clone().into())).await.is_err() {
                break;
            }
            sent += 1;
        }
        (sent, t.elapsed())
    });
    let took = good_join(addr, "calm").await;
    let (sent, secs) = blast.await.expect("blast");
    println!("sent {sent} messages in {secs:?}; a join from 127.0.0.2 meanwhile took {took:?}");
    assert!(took < JOIN_BUDGET, "{took:?}");
    let closed = closed_by_server(&mut stream).await;
    assert!(closed, "the server closes a connection that floods it");
    assert!(server.metric("rate_limited_total").await > 0);
    assert!(server.metric("closed_abuse_total").await >= 1);
    assert!(server.rss_kib().saturating_sub(base) < GROWTH_BUDGET_KIB);
    reading.abort();
    server.assert_healthy();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ten_megabyte_frame_closes_that_connection_only() {
    let mut server = Server::start(&[]);
    let base = server.rss_kib();
    let addr = server.addr;
    let mut big = ws_from(IpAddr::V4(Ipv4Addr::LOCALHOST), addr).await.expect("connect");
    assert_eq!(join(&mut big, "big", "viewer").await["type"], "joined");
    let payload = format!("{{\"type\":\"candidate\",\"candidate\":\"{}\"}}", "x".repeat(10 * 1024 * 1024));
    // The server may close while this is still being written.
    let _ = big.send(Message::Text(payload.into())).await;
    assert!(closed_by_server(&mut big).await, "a 10 MB frame ends the connection");
    let took = good_join(addr, "calm").await;
    assert!(took < JOIN_BUDGET, "{took:?}");
    assert!(server.metric("closed_abuse_total").await >= 1);
    let grown = server.rss_kib().saturating_sub(base);
    println!("after a 10 MB frame: a join took {took:?}, memory grew by {grown} KiB");
    assert!(grown < GROWTH_BUDGET_KIB);
    server.assert_healthy();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_that_never_reads_is_dropped_and_memory_stays_bounded() {
    // A generous rate, so the host below can push far more than the kernel buffers hold.
    let mut server = Server::start(&["--messages-per-second", "5000", "--message-burst", "5000"]);
    let base = server.rss_kib();
    let addr = server.addr;
    let mut host = ws_from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3)), addr).await.expect("host connects");
    assert_eq!(join(&mut host, "slow", "host").await["type"], "joined");
    let mut sleeper = ws_from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 4)), addr).await.expect("viewer connects");
    let joined = join(&mut sleeper, "slow", "viewer").await;
    let viewer = joined["peer"].as_u64().expect("peer id");
    assert_eq!(recv(&mut host).await["type"], "viewer_joined");
    // From here the viewer reads nothing. 60 KB messages to it, 3,000 of them (180 MB).
    let candidate = format!("candidate:{}", "y".repeat(60 * 1024));
    let (mut hsink, mut hstream) = host.split();
    let pushing = tokio::spawn(async move {
        for _ in 0..3000 {
            let m = json!({"type": "candidate", "peer": viewer, "candidate": candidate});
            if hsink.send(Message::Text(m.to_string().into())).await.is_err() {
                break;
            }
        }
        hsink
    });
    let took = good_join(addr, "calm").await;
    let mut hsink =
        tokio::time::timeout(Duration::from_secs(60), pushing).await.expect("pushed in time").expect("task");
    println!("a join while the host pushed 180 MB at a viewer that never reads took {took:?}");
    assert!(took < JOIN_BUDGET, "{took:?}");
    assert_eq!(server.metric("closed_slow_reader_total").await, 1);
    let grown = server.rss_kib().saturating_sub(base);
    println!("server memory grew by {grown} KiB");
    assert!(grown < GROWTH_BUDGET_KIB);
    // The host is told the viewer is gone: its next message is refused.
    let _ = hsink
        .send(Message::Text(
            json!({"type": "candidate", "peer": viewer, "candidate": "candidate:x"}).to_string().into(),
        ))
        .await;
    let mut told = false;
    let deadline = Instant::now() + WAIT;
    while Instant::now() < deadline && !told {
        if let Ok(Some(Ok(Message::Text(t)))) =
            tokio::time::timeout(Duration::from_millis(500), hstream.next()).await
        {
            let v: Value = serde_json::from_str(t.as_str()).expect("json");
            told = v["type"] == "viewer_left" || v["code"] == "unknown_peer";
        }
    }
    assert!(told, "the host learns that the viewer is gone");
    drop(sleeper);
    server.assert_healthy();
}
