//! `peerdesk`: the signaling server, the host, and a self-contained demo in one binary.

mod cli;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use peerdesk_host::{AudioChoice, HostConfig, SourceKind};
use peerdesk_proto::RoomId;
use peerdesk_signal::serve::ServeOptions;
use peerdesk_signal::{RoomLimits, SignalConfig};
use std::sync::Arc;
use tokio::net::TcpListener;
use tracing::{info, warn};

use cli::{AudioMode, Cli, Command, HostArgs, PairingArgs, QrMode, ServeArgs, Source, StreamArgs};
use peerdesk_capture::MonitorChoice;

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    let mut filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,str0m=warn,zbus=error"));
    // The STUN and TURN crates log every call at info: quiet unless asked for by name.
    let asked = std::env::var("RUST_LOG").unwrap_or_default();
    for noisy in ["turn_client_proto", "stun_proto", "turn_types", "stun_types"] {
        if !asked.contains(noisy)
            && let Ok(d) = format!("{noisy}=warn").parse()
        {
            filter = filter.add_directive(d);
        }
    }
    // Colours for a person at a terminal only: not in log files, pipes, or a Windows console
    // that would print the escape codes; NO_COLOR turns them off anywhere.
    let colour =
        std::io::IsTerminal::is_terminal(&std::io::stderr()) && std::env::var_os("NO_COLOR").is_none();
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(colour).init();
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Host(args) => host(args).await,
        Command::Demo(args) => demo(args).await,
    }
}

async fn shutdown_signal() {
    if tokio::signal::ctrl_c().await.is_err() {
        // No signal handling available: run until killed.
        std::future::pending::<()>().await;
    }
    info!("shutting down");
}

fn signal_config(args: &ServeArgs) -> SignalConfig {
    let l = &args.limits;
    SignalConfig {
        limits: RoomLimits { max_rooms: args.max_rooms, max_viewers_per_room: args.max_viewers },
        messages_per_second: f64::from(l.messages_per_second),
        message_burst: f64::from(l.message_burst),
        join_timeout: Duration::from_secs(l.handshake_timeout),
        idle_timeout: Duration::from_secs(l.idle_timeout),
        ping_interval: Duration::from_secs((l.idle_timeout / 3).max(1)),
        allowed_origins: l.allow_origin.clone(),
        max_message_bytes: l.max_message_kib * 1024,
        max_frame_bytes: l.max_frame_kib * 1024,
        max_consecutive_errors: l.max_refusals_in_a_row,
        outbox_bytes: l.outbox_kib * 1024,
        ..SignalConfig::default()
    }
}

fn serve_options(args: &ServeArgs, tls: Option<Arc<rustls::ServerConfig>>) -> ServeOptions {
    ServeOptions {
        max_connections: args.limits.max_connections,
        max_connections_per_ip: args.limits.max_conns_per_ip,
        handshake_timeout: Duration::from_secs(args.limits.handshake_timeout),
        tls,
    }
}

/// The server's TLS, if asked for; says what to do with a self-signed certificate.
fn server_tls(args: &ServeArgs, addr: SocketAddr) -> Result<Option<Arc<rustls::ServerConfig>>> {
    let t = &args.tls;
    if let (Some(cert), Some(key)) = (&t.tls_cert, &t.tls_key) {
        let config = peerdesk_signal::serve::tls_from_pem(cert, key)
            .context("cannot use --tls-cert/--tls-key: check that they are the PEM certificate chain and its private key")?;
        return Ok(Some(config));
    }
    if !t.tls_self_signed {
        return Ok(None);
    }
    let mut names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    if !addr.ip().is_unspecified() && !addr.ip().is_loopback() {
        names.push(addr.ip().to_string());
    }
    names.extend(t.tls_name.iter().cloned());
    names.dedup();
    let dir = match &t.state_dir {
        Some(d) => d.clone(),
        None => default_state_dir()?,
    };
    let made = peerdesk_signal::serve::tls_self_signed(&dir, names.clone())
        .context("cannot make the self-signed certificate (pick another place with --state-dir)")?;
    info!(
        "{} self-signed certificate for {}: SHA-256 {} (browsers warn once: compare this fingerprint); hosts trust it with --server-ca {}",
        if made.new { "made a" } else { "using the" },
        names.join(", "),
        made.fingerprint,
        made.cert_path.display()
    );
    Ok(Some(made.config))
}

/// Binds the server's listener; `port 0` picks a free port.
async fn bind(listen: SocketAddr) -> Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(listen).await.with_context(|| {
        format!("cannot listen on {listen}: is another program using it? Pick another with --listen (port 0 picks a free one)")
    })?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// The address to put in links: an unspecified bind address becomes loopback.
fn reachable(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        let ip = if addr.is_ipv4() {
            std::net::Ipv4Addr::LOCALHOST.into()
        } else {
            std::net::Ipv6Addr::LOCALHOST.into()
        };
        SocketAddr::new(ip, addr.port())
    } else {
        addr
    }
}

/// The STUN and TURN settings, checked; the TURN secret read from its file.
fn ice_settings(args: &cli::IceArgs) -> Result<peerdesk_signal::ice::IceSettings> {
    for url in &args.stun {
        peerdesk_signal::ice::check_stun(url)?;
    }
    for url in &args.turn {
        peerdesk_signal::ice::check_turn(url)?;
    }
    let turn_secret = match &args.turn_secret_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read --turn-secret-file {}", path.display()))?;
            let secret = text.trim().to_owned();
            if secret.is_empty() {
                bail!("--turn-secret-file {} is empty", path.display());
            }
            Some(secret)
        }
        None => None,
    };
    if args.ice_policy == cli::IcePolicyArg::Relay && args.turn.is_empty() {
        bail!("--ice-policy relay needs a TURN server: add --turn URL and --turn-secret-file FILE");
    }
    Ok(peerdesk_signal::ice::IceSettings {
        stun: args.stun.clone(),
        turn: args.turn.clone(),
        turn_secret,
        turn_ttl: args.turn_ttl,
        relay_only: args.ice_policy == cli::IcePolicyArg::Relay,
    })
}

async fn serve(args: ServeArgs) -> Result<()> {
    args.limits.validate()?;
    let ice = ice_settings(&args.ice)?;
    if !ice.stun.is_empty() || !ice.turn.is_empty() {
        info!(
            "handing out STUN {:?} and TURN {:?}{}",
            ice.stun,
            ice.turn,
            if ice.relay_only { " (relay only)" } else { "" }
        );
    }
    if args.redis_ttl < Duration::from_secs(3) {
        bail!("--redis-ttl must be at least 3s (servers renew their rooms every third of it)");
    }
    let config = SignalConfig { ice, ..signal_config(&args) };
    let redis = args.redis.clone().map(|url| (url, args.redis_ttl));
    let hub = peerdesk_signal::serve::hub(config, redis)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
        .context("cannot share rooms through Redis (start redis-server, or check --redis; without --redis this server keeps its rooms to itself)")?;
    let (listener, addr) = bind(args.listen).await?;
    let tls = server_tls(&args, addr)?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    if !addr.ip().is_loopback() {
        info!("listening on {addr}, reachable from other machines (the default is loopback only)");
        if tls.is_none() {
            warn!(
                "browsers on other machines need https for the pairing handshake: add --tls-self-signed (or --tls-cert and --tls-key)"
            );
        }
    }
    println!("listening {scheme}://{}", reachable(addr));
    info!("signaling server ready; the web client is at {scheme}://{}/", reachable(addr));
    peerdesk_signal::serve::serve(listener, hub, serve_options(&args, tls), shutdown_signal())
        .await
        .context("the server stopped")
}

fn host_config(
    server: &str,
    room: &str,
    source: SourceKind,
    stream: &StreamArgs,
    pairing: &PairingArgs,
    loopback: bool,
) -> Result<HostConfig> {
    let room = RoomId::new(room).with_context(|| format!("invalid --room {room:?}"))?;
    let (scheme, rest) = match server.split_once("://") {
        Some((s, r)) => (s, r),
        None => ("http", server),
    };
    let authority = rest.trim_end_matches('/');
    if authority.is_empty() || authority.contains('/') {
        bail!("--server must look like http://HOST:PORT, got {server:?}");
    }
    let (ws, http) = match scheme {
        "http" | "ws" => ("ws", "http"),
        "https" | "wss" => ("wss", "https"),
        other => bail!("--server scheme {other:?} is not supported: use http://HOST:PORT"),
    };
    let server_is_loopback =
        authority.starts_with("127.") || authority.starts_with("localhost") || authority.starts_with("[::1]");
    stream.validate()?;
    let (width, height) = stream.scene_size();
    let max_size = match source {
        SourceKind::TestScene => (None, None),
        SourceKind::X11 { .. } | SourceKind::Windows { .. } | SourceKind::Wayland { .. } => {
            (stream.width, stream.height)
        }
    };
    Ok(HostConfig {
        signal_url: format!("{ws}://{authority}/ws"),
        server_ca: None,
        viewer_url: format!("{http}://{authority}/?room={room}"),
        room,
        source,
        width,
        height,
        max_size,
        fps: stream.fps,
        bitrate_bps: stream.bitrate.saturating_mul(1000),
        min_bitrate_bps: stream.min_bitrate.saturating_mul(1000),
        rate_control: !stream.fixed_bitrate,
        redundancy: !stream.fixed_bitrate && !stream.no_redundancy,
        audio: match (&stream.audio, &stream.audio_source) {
            (AudioMode::Off, _) => AudioChoice::Off,
            (AudioMode::Auto, Some(name)) => AudioChoice::Source(name.clone()),
            (AudioMode::Auto, None) => AudioChoice::Auto,
        },
        audio_bitrate_bps: stream.audio_bitrate.saturating_mul(1000),
        max_playout_delay: if stream.av_sync { Duration::from_millis(100) } else { Duration::ZERO },
        loopback_candidates: loopback || server_is_loopback,
        relay_only: false,
        keyframe_interval: Duration::from_millis(300),
        status_interval: Duration::from_secs(stream.status_every),
        state_dir: if pairing.ephemeral_links { None } else { Some(state_dir(pairing)?) },
        link_ttl: pairing.link_ttl,
        view_link: pairing.view_link,
        qr: match pairing.qr {
            QrMode::Always => true,
            QrMode::Never => false,
            QrMode::Auto => std::io::IsTerminal::is_terminal(&std::io::stderr()),
        },
        record_input: pairing.record_input.clone(),
        clipboard: !pairing.no_clipboard,
        gamepad_dir: pairing.gamepad_dir.clone(),
        encoder: encoder_choice(stream),
    })
}

/// Where the host keeps its links: --state-dir, else the default.
fn state_dir(pairing: &PairingArgs) -> Result<std::path::PathBuf> {
    match &pairing.state_dir {
        Some(dir) => Ok(dir.clone()),
        None => default_state_dir(),
    }
}

/// $XDG_STATE_HOME/peerdesk, else ~/.local/state/peerdesk; on Windows %LOCALAPPDATA%\peerdesk
/// (the user's own, not roaming: readable by that user only, as Windows sets it up).
fn default_state_dir() -> Result<std::path::PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty()).map(std::path::PathBuf::from);
    if cfg!(windows) {
        return match var("LOCALAPPDATA") {
            Some(local) => Ok(local.join("peerdesk")),
            None => bail!(
                "no place to keep state (links, certificates): %LOCALAPPDATA% is not set; set --state-dir DIR"
            ),
        };
    }
    if let Some(state) = var("XDG_STATE_HOME") {
        return Ok(state.join("peerdesk"));
    }
    match var("HOME") {
        Some(home) => Ok(home.join(".local/state/peerdesk")),
        None => bail!("no place to keep state (links, certificates): set --state-dir DIR"),
    }
}

/// The host's console: lines typed on stdin (`help` lists the commands). Ends quietly when
/// stdin does (a host run by a service manager has none).
fn console() -> tokio::sync::mpsc::Receiver<String> {
    use std::io::BufRead;
    const LONGEST: usize = 1024;
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        info!("console: type `help` for the commands (viewers, control, kick, revoke, links)");
    }
    let spawned = std::thread::Builder::new().name("peerdesk-console".into()).spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut line = Vec::new();
        loop {
            line.clear();
            match std::io::Read::take(&mut stdin, LONGEST as u64).read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            if line.len() >= LONGEST && line.last() != Some(&b'\n') {
                // Too long to be a command: skip to the end of the line.
                let mut rest = Vec::new();
                let _ = stdin.read_until(b'\n', &mut rest);
                continue;
            }
            let text = String::from_utf8_lossy(&line).trim().to_owned();
            if tx.blocking_send(text).is_err() {
                return;
            }
        }
    });
    if let Err(e) = spawned {
        tracing::warn!("no console: {e}");
    }
    rx
}

/// "This machine's desktop" on Linux: Wayland when the session has a Wayland display (and this
/// build can capture it), else X11; says which.
fn desktop_source(args: &cli::HostArgs) -> Result<SourceKind> {
    let wayland = std::env::var_os("WAYLAND_DISPLAY").is_some_and(|v| !v.is_empty());
    let x11 = args.display.is_some() || std::env::var_os("DISPLAY").is_some_and(|v| !v.is_empty());
    if wayland && args.display.is_none() {
        if cfg!(feature = "wayland") {
            tracing::info!("--source desktop: WAYLAND_DISPLAY is set, streaming the Wayland desktop");
            return Ok(SourceKind::Wayland {
                control: !args.screen_only,
                monitor: monitor_choice(args.monitor.as_deref()),
            });
        }
        if !x11 {
            bail!(
                "this is a Wayland session and this build has no Wayland capture: build with --features wayland (scripts/setup.sh --wayland)"
            );
        }
        tracing::warn!(
            "this is a Wayland session and this build has no Wayland capture: streaming X11 ($DISPLAY, XWayland: only X11 windows show); build with --features wayland"
        );
    } else if x11 {
        tracing::info!("--source desktop: streaming the X11 desktop");
    } else {
        bail!(
            "--source desktop finds no desktop: neither WAYLAND_DISPLAY nor DISPLAY is set (run the host inside the desktop session, or pass --display :N)"
        );
    }
    Ok(SourceKind::X11 { display: args.display.clone(), monitor: monitor_choice(args.monitor.as_deref()) })
}

fn monitor_choice(arg: Option<&str>) -> MonitorChoice {
    match arg {
        None => MonitorChoice::Primary,
        Some("all") => MonitorChoice::WholeScreen,
        Some(s) => s.parse().map_or_else(|_| MonitorChoice::Name(s.to_owned()), MonitorChoice::Index),
    }
}

fn encoder_choice(stream: &StreamArgs) -> peerdesk_encode::EncoderChoice {
    peerdesk_encode::EncoderChoice {
        codec: stream.codec,
        backend: stream.encoder.0,
        vaapi_device: stream.vaapi_device.clone(),
        intra_refresh: stream.intra_refresh,
    }
}

fn list_encoders(choice: &peerdesk_encode::EncoderChoice) {
    let list = peerdesk_encode::list(choice);
    for codec in peerdesk_encode::Codec::ALL {
        let of_codec: Vec<_> = list.iter().filter(|(c, ..)| *c == codec).collect();
        let auto = of_codec.iter().find(|(.., r)| r.is_ok()).map(|(_, b, _)| *b);
        match codec {
            peerdesk_encode::Codec::H264 => {
                println!("{codec} encoders, in the order --encoder auto tries them:")
            }
            peerdesk_encode::Codec::Av1 => println!(
                "{codec} encoders, in the order --codec av1 tries them (--codec auto uses a GPU's only):"
            ),
        }
        for (_, backend, result) in of_codec {
            match result {
                Ok(what) => println!(
                    "    {:<9} works: {what}{}",
                    backend.name(),
                    if Some(*backend) == auto { "  <- picked" } else { "" }
                ),
                Err(why) => println!("    {:<9} no: {why}", backend.name()),
            }
        }
    }
    println!(
        "AV1 goes to browsers that decode it with --codec av1 (and under --codec auto when a GPU encodes it); H.264 to every other"
    );
    if !peerdesk_encode::FFMPEG {
        println!(
            "this peerdesk was built without FFmpeg: build it with `cargo build --release --features ffmpeg` for x264 and GPUs"
        );
    }
    if !peerdesk_encode::AV1 {
        println!(
            "this peerdesk was built without libaom: build it with `--features av1` for AV1 in software"
        );
    }
}

/// The Wayland desktop this session runs, for `--list-sources`.
#[cfg(not(windows))]
fn list_wayland() {
    let Some(display) = std::env::var("WAYLAND_DISPLAY").ok().filter(|d| !d.is_empty()) else {
        println!(
            "wayland: not available: WAYLAND_DISPLAY is not set (run the host inside a Wayland session)"
        );
        return;
    };
    #[cfg(feature = "wayland")]
    {
        if !peerdesk_capture::platform::wlr_screencopy_available() {
            println!(
                "wayland {display}   through the desktop's portal: its dialog picks the monitor (--source wayland)"
            );
            return;
        }
        match peerdesk_capture::platform::wlr_outputs() {
            Ok(outputs) => {
                println!(
                    "wayland {display}   a wlroots compositor: wlr-screencopy, no dialog (--source wayland)"
                );
                for (i, o) in outputs.iter().enumerate() {
                    let name = if o.name.is_empty() { format!("output {i}") } else { o.name.clone() };
                    println!(
                        "    monitor {i}: {name}  {}x{}  (--monitor {name} or --monitor {i})",
                        o.size.0, o.size.1
                    );
                }
            }
            Err(e) => println!("wayland {display}: not available: {e}"),
        }
    }
    #[cfg(not(feature = "wayland"))]
    println!("wayland {display}: this build has no Wayland capture (build with --features wayland)");
}

fn list_sources(display: Option<&str>) -> Result<()> {
    println!("testscene   the built-in animated test scene (--source testscene)");
    #[cfg(windows)]
    match peerdesk_capture::platform::list_monitors() {
        Ok(d) => {
            println!(
                "desktop   {}x{} virtual desktop (--source desktop; --monitor all for all of it)",
                d.width, d.height
            );
            for (i, m) in d.monitors.iter().enumerate() {
                println!(
                    "    monitor {i}: {}  {}x{}{:+}{:+}{}  (--monitor {i})",
                    m.name,
                    m.width,
                    m.height,
                    m.x,
                    m.y,
                    if m.primary { "  primary" } else { "" }
                );
            }
        }
        Err(e) => println!("desktop: not available: {e}"),
    }
    match peerdesk_capture::platform::list_x11(display) {
        Ok(d) => {
            println!("x11 {}   {}x{} (--source x11 --display {})", d.name, d.width, d.height, d.name);
            if d.monitors.is_empty() {
                println!("    no RandR monitors: the whole screen is streamed");
            }
            for (i, m) in d.monitors.iter().enumerate() {
                println!(
                    "    monitor {i}: {}  {}x{}+{}+{}{}  (--monitor {} or --monitor {i})",
                    m.name,
                    m.width,
                    m.height,
                    m.x,
                    m.y,
                    if m.primary { "  primary" } else { "" },
                    m.name
                );
            }
        }
        Err(e) => println!("x11: not available: {e}"),
    }
    #[cfg(not(windows))]
    list_wayland();
    match peerdesk_audio::platform::list_sources() {
        Ok(sources) if sources.is_empty() => println!("sound: the sound server has no sources"),
        Ok(sources) => {
            println!("sound sources (--audio-source NAME; the default records what the desktop plays):");
            for s in sources {
                let tag = if s.default {
                    "  default"
                } else if s.monitor {
                    "  output monitor"
                } else {
                    ""
                };
                println!("    {}  {}{}", s.name, s.description, tag);
            }
        }
        Err(e) => println!("sound: not available: {e}"),
    }
    Ok(())
}

async fn host(args: HostArgs) -> Result<()> {
    if args.list_sources {
        return list_sources(args.display.as_deref());
    }
    if args.list_encoders {
        list_encoders(&encoder_choice(&args.stream));
        return Ok(());
    }
    let room = args.room.as_deref().context("--room is required")?;
    let source = match args.source {
        Source::Testscene => SourceKind::TestScene,
        Source::X11 if cfg!(windows) => bail!("X11 is a Linux desktop: on Windows use --source desktop"),
        Source::X11 => SourceKind::X11 {
            display: args.display.clone(),
            monitor: monitor_choice(args.monitor.as_deref()),
        },
        Source::Wayland if cfg!(windows) => {
            bail!("Wayland is a Linux desktop: on Windows use --source desktop")
        }
        Source::Wayland => SourceKind::Wayland {
            control: !args.screen_only,
            monitor: monitor_choice(args.monitor.as_deref()),
        },
        Source::Desktop if cfg!(windows) => {
            SourceKind::Windows { monitor: monitor_choice(args.monitor.as_deref()) }
        }
        Source::Desktop => desktop_source(&args)?,
    };
    let mut config = host_config(&args.server, room, source, &args.stream, &args.pairing, args.ice_loopback)?;
    config.relay_only = args.ice_policy == cli::IcePolicyArg::Relay;
    config.server_ca = args.server_ca.clone();
    peerdesk_host::run(config, Some(console()), shutdown_signal()).await?;
    Ok(())
}

async fn demo(args: cli::DemoArgs) -> Result<()> {
    let (listener, addr) = bind(args.listen).await?;
    let server = reachable(addr);
    tokio::spawn(async move {
        let forever = std::future::pending();
        let hub =
            std::sync::Arc::new(peerdesk_signal::ws::Hub::new(SignalConfig::default(), Default::default()));
        let served = peerdesk_signal::serve::serve(listener, hub, ServeOptions::default(), forever).await;
        if let Err(e) = served {
            tracing::error!("the demo's signaling server stopped: {e}");
        }
    });
    let mut config = host_config(
        &format!("http://{server}"),
        &args.room,
        SourceKind::TestScene,
        &args.stream,
        &args.pairing,
        true,
    )?;
    if args.pairing.state_dir.is_none() {
        // A demo leaves nothing behind unless asked to.
        config.state_dir = None;
    }
    info!("demo: signaling server and test-scene host on http://{server}");
    peerdesk_host::run(config, Some(console()), shutdown_signal()).await?;
    Ok(())
}
