//! The signaling server over real WebSockets on 127.0.0.1:0: join, relay and leave in both
//! orders, a duplicate host, and every kind of bad message.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use peerdesk_signal::{SignalConfig, app};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream, connect_async};

/// Every wait in this file is bounded by this.
const WAIT: Duration = Duration::from_secs(5);

struct Server {
    addr: std::net::SocketAddr,
}

async fn server(config: SignalConfig) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app(config)).await });
    Server { addr }
}

struct Client {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    async fn connect(s: &Server) -> Self {
        let (ws, _) = connect_async(format!("ws://{}/ws", s.addr)).await.expect("ws connect");
        Self { ws }
    }

    async fn send(&mut self, v: Value) {
        self.ws.send(Message::Text(v.to_string().into())).await.expect("send");
    }

    async fn send_raw(&mut self, m: Message) {
        self.ws.send(m).await.expect("send");
    }

    /// The next JSON message from the server.
    async fn recv(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("server answered in time")
                .expect("connection open")
                .expect("frame ok");
            match frame {
                Message::Text(t) => return serde_json::from_str(t.as_str()).expect("server sends JSON"),
                Message::Ping(_) | Message::Pong(_) => continue,
                other => panic!("expected a text frame, got {other:?}"),
            }
        }
    }

    async fn expect_error(&mut self, code: &str) -> Value {
        let m = self.recv().await;
        assert_eq!(m["type"], "error", "{m}");
        assert_eq!(m["code"], code, "{m}");
        assert!(m["message"].as_str().is_some_and(|s| s.len() > 5), "error has words: {m}");
        m
    }

    /// Waits for the server to close the connection; returns the close code.
    async fn expect_closed(&mut self) -> Option<u16> {
        loop {
            match tokio::time::timeout(WAIT, self.ws.next()).await.expect("closed in time") {
                None => return None,
                Some(Err(_)) => return None,
                Some(Ok(Message::Close(frame))) => return frame.map(|f| f.code.into()),
                Some(Ok(_)) => continue,
            }
        }
    }

    async fn join(&mut self, room: &str, role: &str) -> Value {
        self.send(json!({"type": "join", "v": 1, "room": room, "role": role})).await;
        let m = self.recv().await;
        assert_eq!(m["type"], "joined", "{m}");
        m
    }
}

#[tokio::test]
async fn host_first_join_relay_and_leave() {
    let s = server(SignalConfig::default()).await;
    let mut host = Client::connect(&s).await;
    let mut viewer = Client::connect(&s).await;
    let h = host.join("room1", "host").await;
    let v = viewer.join("room1", "viewer").await;
    assert_eq!(v["host_present"], true);
    let (hid, vid) = (h["peer"].clone(), v["peer"].clone());

    assert_eq!(host.recv().await, json!({"type": "viewer_joined", "peer": vid}));

    viewer.send(json!({"type": "offer", "sdp": "v=0 offer"})).await;
    assert_eq!(host.recv().await, json!({"type": "offer", "peer": vid, "sdp": "v=0 offer"}));
    host.send(json!({"type": "answer", "peer": vid, "sdp": "v=0 answer"})).await;
    assert_eq!(viewer.recv().await, json!({"type": "answer", "peer": hid, "sdp": "v=0 answer"}));
    viewer
        .send(
            json!({"type": "candidate", "candidate": "candidate:1 1 udp 1 127.0.0.1 9 typ host", "mid": "0"}),
        )
        .await;
    let c = host.recv().await;
    assert_eq!((c["type"].as_str(), &c["peer"], c["mid"].as_str()), (Some("candidate"), &vid, Some("0")));

    drop(viewer);
    assert_eq!(host.recv().await, json!({"type": "viewer_left", "peer": vid}));
}

#[tokio::test]
async fn browser_first_waits_for_the_host_and_sees_it_leave() {
    let s = server(SignalConfig::default()).await;
    let mut viewer = Client::connect(&s).await;
    let v = viewer.join("r", "viewer").await;
    assert_eq!(v["host_present"], false);
    // Offering with no host is refused, and the viewer keeps waiting.
    viewer.send(json!({"type": "offer", "sdp": "x"})).await;
    viewer.expect_error("no_host").await;

    let mut host = Client::connect(&s).await;
    let h = host.join("r", "host").await;
    assert_eq!(viewer.recv().await, json!({"type": "host_online", "peer": h["peer"]}));
    drop(host);
    assert_eq!(viewer.recv().await, json!({"type": "host_offline"}));

    // A restarted host takes the room again.
    let mut host2 = Client::connect(&s).await;
    let h2 = host2.join("r", "host").await;
    assert_eq!(viewer.recv().await, json!({"type": "host_online", "peer": h2["peer"]}));
}

#[tokio::test]
async fn duplicate_host_is_refused_and_may_join_elsewhere() {
    let s = server(SignalConfig::default()).await;
    let mut h1 = Client::connect(&s).await;
    h1.join("r", "host").await;
    let mut h2 = Client::connect(&s).await;
    h2.send(json!({"type": "join", "v": 1, "room": "r", "role": "host"})).await;
    h2.expect_error("host_exists").await;
    h2.join("other", "host").await;
    // The first host is undisturbed.
    let mut v = Client::connect(&s).await;
    v.join("r", "viewer").await;
    assert_eq!(h1.recv().await["type"], "viewer_joined");
}

#[tokio::test]
async fn bad_messages_get_clear_errors_and_the_connection_lives_on() {
    let s = server(SignalConfig::default()).await;
    let mut c = Client::connect(&s).await;

    c.send_raw(Message::Text("{not json".into())).await;
    c.expect_error("bad_message").await;
    c.send(json!({"type": "teleport"})).await;
    c.expect_error("bad_message").await;
    c.send(json!({"type": "join", "v": 1, "room": "r"})).await;
    c.expect_error("bad_message").await;
    c.send(json!({"type": "join", "v": 7, "room": "r", "role": "viewer"})).await;
    c.expect_error("unsupported_version").await;
    c.send(json!({"type": "join", "v": 1, "room": "no spaces/../", "role": "viewer"})).await;
    c.expect_error("invalid_room").await;
    c.send(json!({"type": "offer", "sdp": "x"})).await;
    c.expect_error("not_joined").await;
    c.send_raw(Message::Binary(vec![1, 2, 3].into())).await;
    c.expect_error("binary_not_supported").await;
    let big = json!({"type": "offer", "sdp": "a".repeat(70 * 1024)});
    c.send(big).await;
    let e = c.expect_error("message_too_large").await;
    assert!(e["message"].as_str().is_some_and(|m| m.contains("65536")), "{e}");

    // After all that, the same connection joins and relays normally.
    let mut host = Client::connect(&s).await;
    let h = host.join("r", "host").await;
    c.join("r", "viewer").await;
    c.send(json!({"type": "join", "v": 1, "room": "r", "role": "viewer"})).await;
    c.expect_error("already_joined").await;
    assert_eq!(host.recv().await["type"], "viewer_joined");
    // A host addressing a peer of another room (or none) is refused.
    host.send(json!({"type": "answer", "peer": 424242, "sdp": "x"})).await;
    host.expect_error("unknown_peer").await;
    host.send(json!({"type": "answer", "sdp": "x"})).await;
    host.expect_error("not_allowed").await;
    c.send(json!({"type": "offer", "sdp": "still works"})).await;
    assert_eq!(host.recv().await["sdp"], "still works");
    let _ = h;
}

#[tokio::test]
async fn a_flood_of_bad_messages_closes_the_connection() {
    let config = SignalConfig { max_consecutive_errors: 5, ..SignalConfig::default() };
    let s = server(config).await;
    let mut c = Client::connect(&s).await;
    for _ in 0..5 {
        c.send_raw(Message::Text("garbage".into())).await;
    }
    for _ in 0..5 {
        c.expect_error("bad_message").await;
    }
    assert_eq!(c.expect_closed().await, Some(1008));
}

#[tokio::test]
async fn a_frame_over_the_hard_limit_closes_only_that_connection() {
    let s = server(SignalConfig::default()).await;
    let mut bystander = Client::connect(&s).await;
    bystander.join("calm", "host").await;
    let mut c = Client::connect(&s).await;
    c.send_raw(Message::Text("x".repeat(2 * 1024 * 1024).into())).await;
    c.expect_closed().await;
    // The server still serves others.
    let mut v = Client::connect(&s).await;
    v.join("calm", "viewer").await;
    assert_eq!(bystander.recv().await["type"], "viewer_joined");
}

#[tokio::test]
async fn serves_the_web_client_and_health() {
    let s = server(SignalConfig::default()).await;
    let get = |path: &'static str| {
        let addr = s.addr;
        async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            let mut t = TcpStream::connect(addr).await.expect("connect");
            t.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes()).await.expect("write");
            let mut out = String::new();
            tokio::time::timeout(WAIT, t.read_to_string(&mut out)).await.expect("in time").expect("read");
            out
        }
    };
    let index = get("/?room=x").await;
    assert!(index.starts_with("HTTP/1.0 200"), "{index}");
    assert!(index.contains("text/html") && index.contains("main.js"));
    let js = get("/protocol.js").await;
    assert!(js.contains("text/javascript") && js.contains("encodeInput"));
    assert!(get("/healthz").await.ends_with("ok\n"));
    assert!(get("/../Cargo.toml").await.starts_with("HTTP/1.0 404"));
    assert!(get("/nope.js").await.starts_with("HTTP/1.0 404"));
}

#[tokio::test]
async fn a_connection_that_never_joins_is_closed() {
    let config = SignalConfig { join_timeout: Duration::from_millis(300), ..SignalConfig::default() };
    let s = server(config).await;
    let mut c = Client::connect(&s).await;
    let t = std::time::Instant::now();
    assert_eq!(c.expect_closed().await, Some(1008));
    assert!(t.elapsed() >= Duration::from_millis(250), "not before its time: {:?}", t.elapsed());
    // One that joins in time stays.
    let mut ok = Client::connect(&s).await;
    ok.join("r", "viewer").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    ok.send(json!({"type": "offer", "sdp": "x"})).await;
    ok.expect_error("no_host").await;
}

#[tokio::test]
async fn a_silent_connection_is_closed_and_one_that_answers_pings_is_not() {
    let config = SignalConfig {
        ping_interval: Duration::from_millis(100),
        idle_timeout: Duration::from_millis(400),
        ..SignalConfig::default()
    };
    let s = server(config).await;
    // Reads (so tungstenite answers the pings) but sends nothing of its own.
    let mut awake = Client::connect(&s).await;
    awake.join("r", "host").await;
    // Joins, then neither reads nor sends: its pongs never go out.
    let mut asleep = Client::connect(&s).await;
    asleep.join("s", "host").await;
    let deadline = std::time::Instant::now() + Duration::from_millis(1200);
    while std::time::Instant::now() < deadline {
        if let Ok(Some(Ok(m))) = tokio::time::timeout(Duration::from_millis(50), awake.ws.next()).await {
            assert!(matches!(m, Message::Ping(_)), "only pings come: {m:?}");
        }
    }
    // Closed (its pongs to the queued pings may meet the closed socket before the close frame
    // is read, so the code is not always seen).
    let code = asleep.expect_closed().await;
    assert!(matches!(code, None | Some(1008)), "{code:?}");
    let mut v = Client::connect(&s).await;
    v.join("r", "viewer").await;
    assert_eq!(awake.recv().await["type"], "viewer_joined", "the one answering pings is still in");
}

#[tokio::test]
async fn a_page_of_another_origin_is_refused_and_one_of_this_server_is_not() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let s = server(SignalConfig::default()).await;
    let request = |origin: &str| {
        let mut r = format!("ws://{}/ws", s.addr).into_client_request().expect("request");
        r.headers_mut().insert("origin", origin.parse().expect("header"));
        r
    };
    let refused = connect_async(request("https://evil.example")).await.expect_err("refused");
    assert!(refused.to_string().contains("403"), "{refused}");
    let (mut ws, _) = connect_async(request(&format!("http://{}", s.addr))).await.expect("own origin");
    ws.send(Message::Text(json!({"type": "join", "v": 1, "room": "o", "role": "viewer"}).to_string().into()))
        .await
        .expect("send");
    let joined = tokio::time::timeout(WAIT, ws.next()).await.expect("in time").expect("open").expect("frame");
    assert!(joined.to_text().expect("text").contains("joined"));
}
