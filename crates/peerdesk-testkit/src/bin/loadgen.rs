//! loadgen: many simulated hosts and browsers against a signaling server, for bench/load.js.
//!
//! Each pair is a host and a viewer in a room of their own: both join, the viewer offers, the
//! host answers, each trickles four candidates (a full exchange, with SDP-sized messages). Then
//! every viewer sends candidates to its host at an even share of `--rate` for `--seconds`, each
//! carrying its send time; the host notes the relay latency (one clock: same machine). The
//! connections stay open to the end, so the server's memory per idle connection can be read.
//! Prints one JSON line: connected, failed, handshake time, messages, latency percentiles.
//!
//! loadgen --url ws://127.0.0.1:PORT/ws [--viewer-url URL] [--pairs 1000] [--rate 5000]
//!         [--seconds 10] [--room-prefix load] [--sources 127.0.0.1,127.0.0.2] [--hold-secs 0]
//!         [--sdp-bytes 3000]

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{WebSocketStream, client_async};

/// Every wait is bounded by this.
const WAIT: Duration = Duration::from_secs(20);

type Ws = WebSocketStream<TcpStream>;

#[derive(Debug, Clone)]
struct Args {
    url: String,
    viewer_url: String,
    pairs: usize,
    rate: f64,
    seconds: f64,
    prefix: String,
    sources: Vec<IpAddr>,
    hold: f64,
    sdp_bytes: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        url: String::new(),
        viewer_url: String::new(),
        pairs: 1000,
        rate: 5000.0,
        seconds: 10.0,
        prefix: "load".into(),
        sources: vec![IpAddr::from([127, 0, 0, 1])],
        hold: 0.0,
        sdp_bytes: 3000,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => a.url = value()?,
            "--viewer-url" => a.viewer_url = value()?,
            "--pairs" => a.pairs = value()?.parse().map_err(|e| format!("--pairs: {e}"))?,
            "--rate" => a.rate = value()?.parse().map_err(|e| format!("--rate: {e}"))?,
            "--seconds" => a.seconds = value()?.parse().map_err(|e| format!("--seconds: {e}"))?,
            "--room-prefix" => a.prefix = value()?,
            "--sdp-bytes" => a.sdp_bytes = value()?.parse().map_err(|e| format!("--sdp-bytes: {e}"))?,
            "--hold-secs" => a.hold = value()?.parse().map_err(|e| format!("--hold-secs: {e}"))?,
            "--sources" => {
                a.sources = value()?
                    .split(',')
                    .map(|s| s.parse().map_err(|e| format!("--sources: {s}: {e}")))
                    .collect::<Result<_, _>>()?;
            }
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.url.is_empty() {
        return Err("--url ws://HOST:PORT/ws is required".into());
    }
    if a.viewer_url.is_empty() {
        a.viewer_url = a.url.clone();
    }
    if a.pairs == 0
        || a.sources.is_empty()
        || a.rate.is_nan()
        || a.rate <= 0.0
        || a.seconds.is_nan()
        || a.seconds <= 0.0
    {
        return Err("--pairs, --rate, --seconds and --sources must be positive".into());
    }
    Ok(a)
}

fn now_micros() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64)
}

async fn connect(url: &str, source: IpAddr) -> Result<Ws, String> {
    let authority = url.split("//").nth(1).and_then(|r| r.split('/').next()).ok_or("bad url")?;
    let addr: SocketAddr = authority.parse().map_err(|e| format!("{authority}: {e}"))?;
    let sock = TcpSocket::new_v4().map_err(|e| e.to_string())?;
    sock.bind(SocketAddr::new(source, 0)).map_err(|e| e.to_string())?;
    let tcp = tokio::time::timeout(WAIT, sock.connect(addr))
        .await
        .map_err(|_| "connect timed out")?
        .map_err(|e| e.to_string())?;
    let (ws, _) = tokio::time::timeout(WAIT, client_async(url, tcp))
        .await
        .map_err(|_| "handshake timed out".to_string())?
        .map_err(|e| e.to_string())?;
    Ok(ws)
}

async fn send(ws: &mut Ws, v: &Value) -> Result<(), String> {
    ws.send(Message::Text(v.to_string().into())).await.map_err(|e| e.to_string())
}

/// The next JSON message of `kind` (others of no interest are skipped).
async fn expect(ws: &mut Ws, kind: &str) -> Result<Value, String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let frame = tokio::time::timeout(left, ws.next())
            .await
            .map_err(|_| format!("no {kind} in time"))?
            .ok_or_else(|| format!("closed waiting for {kind}"))?
            .map_err(|e| e.to_string())?;
        if let Message::Text(t) = frame {
            let v: Value = serde_json::from_str(t.as_str()).map_err(|e| e.to_string())?;
            if v["type"] == kind {
                return Ok(v);
            }
            if v["type"] == "error" {
                return Err(format!("refused: {v}"));
            }
        }
    }
}

#[derive(Default)]
struct Totals {
    handshakes: AtomicU64,
    sent: AtomicU64,
    received: AtomicU64,
    latencies: Mutex<Vec<u32>>,
}

/// One host and one viewer: join, exchange, then the viewer sends at its share of the rate.
async fn pair(
    i: usize,
    args: Arc<Args>,
    totals: Arc<Totals>,
    go: watch::Receiver<bool>,
    permits: Arc<Semaphore>,
) -> Result<(Ws, Ws), String> {
    let room = format!("{}-{i}", args.prefix);
    let source = args.sources[i % args.sources.len()];
    let (mut host, mut viewer) = {
        let _permit = permits.acquire().await.map_err(|e| e.to_string())?;
        let mut host = connect(&args.url, source).await?;
        send(&mut host, &json!({"type": "join", "v": 1, "room": room, "role": "host"})).await?;
        expect(&mut host, "joined").await?;
        let mut viewer = connect(&args.viewer_url, source).await?;
        send(&mut viewer, &json!({"type": "join", "v": 1, "room": room, "role": "viewer"})).await?;
        let joined = expect(&mut viewer, "joined").await?;
        if joined["host_present"] != true {
            expect(&mut viewer, "host_online").await?;
        }
        let vj = expect(&mut host, "viewer_joined").await?;
        let vid = vj["peer"].clone();
        let sdp = "a".repeat(args.sdp_bytes);
        send(&mut viewer, &json!({"type": "offer", "sdp": sdp})).await?;
        expect(&mut host, "offer").await?;
        send(&mut host, &json!({"type": "answer", "peer": vid, "sdp": sdp})).await?;
        expect(&mut viewer, "answer").await?;
        for k in 0..4 {
            let c = format!("candidate:{k} 1 udp 2122260223 127.0.0.1 {} typ host", 50000 + k);
            send(&mut viewer, &json!({"type": "candidate", "candidate": c, "mid": "0"})).await?;
            send(&mut host, &json!({"type": "candidate", "peer": vid, "candidate": c, "mid": "0"})).await?;
        }
        for _ in 0..4 {
            expect(&mut host, "candidate").await?;
            expect(&mut viewer, "candidate").await?;
        }
        (host, viewer)
    };
    totals.handshakes.fetch_add(1, Ordering::Relaxed);
    let mut go = go;
    while !*go.borrow_and_update() {
        if go.changed().await.is_err() {
            return Ok((host, viewer));
        }
    }
    // An even share of the rate, from a random phase so the pairs do not fire together.
    let interval = Duration::from_secs_f64(args.pairs as f64 / args.rate);
    let phase = Duration::from_secs_f64(interval.as_secs_f64() * ((i * 7919) % 1000) as f64 / 1000.0);
    let end = Instant::now() + Duration::from_secs_f64(args.seconds);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + phase, interval);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if Instant::now() >= end {
                    break;
                }
                let c = format!("candidate:t{} 1 udp 1 127.0.0.1 9 typ host", now_micros());
                send(&mut viewer, &json!({"type": "candidate", "candidate": c})).await?;
                totals.sent.fetch_add(1, Ordering::Relaxed);
            }
            frame = host.next() => match frame {
                Some(Ok(Message::Text(t))) => note(&t, &totals),
                // Pings and the like (tungstenite answers pings by itself).
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(format!("host connection lost: {e}")),
                None => return Err("host connection closed".into()),
            },
        }
    }
    // Collect what is still on its way.
    let drain_end = Instant::now() + Duration::from_secs(2);
    while let Ok(Some(Ok(frame))) =
        tokio::time::timeout(drain_end.saturating_duration_since(Instant::now()), host.next()).await
    {
        if let Message::Text(t) = frame {
            note(&t, &totals);
        }
    }
    Ok((host, viewer))
}

fn note(text: &str, totals: &Totals) {
    let Ok(v) = serde_json::from_str::<Value>(text) else { return };
    let Some(c) = v["candidate"].as_str() else { return };
    let Some(sent) =
        c.strip_prefix("candidate:t").and_then(|r| r.split(' ').next()).and_then(|t| t.parse::<u64>().ok())
    else {
        return;
    };
    totals.received.fetch_add(1, Ordering::Relaxed);
    let micros = now_micros().saturating_sub(sent).min(u64::from(u32::MAX)) as u32;
    totals.latencies.lock().unwrap_or_else(|p| p.into_inner()).push(micros);
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(a) => Arc::new(a),
        Err(e) => {
            eprintln!("loadgen: {e}");
            std::process::exit(2);
        }
    };
    let totals = Arc::new(Totals::default());
    let (go_tx, go_rx) = watch::channel(false);
    let permits = Arc::new(Semaphore::new(256));
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.pairs)
        .map(|i| tokio::spawn(pair(i, args.clone(), totals.clone(), go_rx.clone(), permits.clone())))
        .collect();
    // Every pair joined and exchanged (or failed), bounded.
    let deadline = Instant::now() + Duration::from_secs(300);
    while Instant::now() < deadline {
        let done = totals.handshakes.load(Ordering::Relaxed)
            + tasks.iter().filter(|t| t.is_finished()).count() as u64;
        if done >= args.pairs as u64 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let handshake_secs = started.elapsed().as_secs_f64();
    let connected = totals.handshakes.load(Ordering::Relaxed);
    // Tell the driver the connections are up and idle (it reads the server's memory now).
    println!("{}", json!({"phase": "connected", "connections": connected * 2, "seconds": handshake_secs}));
    tokio::time::sleep(Duration::from_secs_f64(args.hold)).await;
    let _ = go_tx.send(true);
    let relay_started = Instant::now();
    let mut kept = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Ok(conns)) => kept.push(conns),
            Ok(Err(e)) => failures.push(e),
            Err(e) => failures.push(e.to_string()),
        }
    }
    let relay_secs = relay_started.elapsed().as_secs_f64().min(args.seconds + 2.0);
    let mut lat = std::mem::take(&mut *totals.latencies.lock().unwrap_or_else(|p| p.into_inner()));
    lat.sort_unstable();
    failures.sort();
    failures.dedup();
    println!(
        "{}",
        json!({
            "phase": "done",
            "pairs": args.pairs,
            "connections": connected * 2,
            "failed_pairs": args.pairs as u64 - connected,
            "failures": failures.iter().take(5).collect::<Vec<_>>(),
            "handshake_seconds": handshake_secs,
            "sent": totals.sent.load(Ordering::Relaxed),
            "received": totals.received.load(Ordering::Relaxed),
            "rate_per_second": totals.received.load(Ordering::Relaxed) as f64 / args.seconds,
            "relay_seconds": relay_secs,
            "latency_ms": {"p50": percentile(&lat, 0.5), "p99": percentile(&lat, 0.99), "max": percentile(&lat, 1.0)},
        })
    );
    drop(kept);
}
