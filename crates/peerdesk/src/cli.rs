//! Command-line interface.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Peer-to-peer remote desktop and cloud gaming in the browser.
///
/// A host streams its screen straight to browsers over WebRTC; the signaling server only
/// introduces them. Start with `peerdesk demo` and open the link it prints.
#[derive(Debug, Parser)]
#[command(name = "peerdesk", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the signaling server (it also serves the web client at /).
    Serve(ServeArgs),
    /// Stream this machine to every browser in a room.
    Host(HostArgs),
    /// Run a server and a host with an animated test scene, on this machine.
    ///
    /// Prints `open URL`: open it in a browser, then type or click to see the scene react.
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on; port 0 picks a free port. Use 0.0.0.0:PORT to accept other machines.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Most rooms at once.
    #[arg(long, default_value_t = 10_000, value_name = "N")]
    pub max_rooms: usize,
    /// Most viewers in one room.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub max_viewers: usize,
    /// Share rooms with every other `peerdesk serve` using this Redis, such as
    /// redis://127.0.0.1:6379 (or redis://:PASSWORD@HOST:PORT): run several behind a load
    /// balancer. Without it, this server keeps its rooms to itself.
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,
    /// With --redis: how long a server's rooms outlive it when it dies without a word (it
    /// renews them every third of this); its peers' counterparts are told they left then.
    #[arg(long, default_value = "6s", value_name = "DURATION", value_parser = parse_duration, requires = "redis")]
    pub redis_ttl: std::time::Duration,
    #[command(flatten)]
    pub limits: LimitArgs,
    #[command(flatten)]
    pub tls: TlsArgs,
    #[command(flatten)]
    pub ice: IceArgs,
}

/// NAT traversal: the STUN and TURN servers handed to browsers and hosts.
#[derive(Debug, Args)]
pub struct IceArgs {
    /// A STUN server for finding public addresses, such as stun:stun.example.org:3478; repeatable.
    #[arg(long, value_name = "URL")]
    pub stun: Vec<String>,
    /// A TURN server for relaying when no direct path exists, such as
    /// turn:turn.example.org:3478?transport=udp; repeatable. Needs --turn-secret-file: every
    /// peer gets short-lived credentials of its own (coturn's use-auth-secret), never the secret.
    #[arg(long, value_name = "URL", requires = "turn_secret_file")]
    pub turn: Vec<String>,
    /// A file holding the secret shared with the TURN server (its static-auth-secret).
    #[arg(long, value_name = "FILE")]
    pub turn_secret_file: Option<std::path::PathBuf>,
    /// How long a TURN credential stays good, such as 12h.
    #[arg(long, default_value = "24h", value_name = "DURATION", value_parser = parse_duration)]
    pub turn_ttl: std::time::Duration,
    /// `relay`: peers use TURN relays only (neither side learns the other's addresses; for
    /// privacy, and to test the relay). `all`: any path, direct first.
    #[arg(long, value_enum, default_value_t = IcePolicyArg::All)]
    pub ice_policy: IcePolicyArg,
}

/// Which paths peers may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum IcePolicyArg {
    /// Direct when possible, relayed when not.
    All,
    /// TURN relays only.
    Relay,
}

/// What one client may do before the server refuses or closes it.
#[derive(Debug, Args)]
pub struct LimitArgs {
    /// Most connections at once from one IP address (more get HTTP 429).
    #[arg(long, default_value_t = 64, value_name = "N")]
    pub max_conns_per_ip: usize,
    /// Most connections at once, in all.
    #[arg(long, default_value_t = 20_000, value_name = "N")]
    pub max_connections: usize,
    /// Signaling messages one connection may send per second, on average (a burst of
    /// --message-burst is allowed); more are refused with `rate_limited`.
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub messages_per_second: u32,
    /// Messages one connection may send at once above that rate.
    #[arg(long, default_value_t = 200, value_name = "N")]
    pub message_burst: u32,
    /// Seconds a connection may stay silent (the server pings every third of it) before it is closed.
    #[arg(long, default_value_t = 60, value_name = "SECS")]
    pub idle_timeout: u64,
    /// Seconds for a client to finish the TLS and HTTP handshakes, and then to join a room.
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub handshake_timeout: u64,
    /// Largest signaling message answered, in KiB (larger ones get `message_too_large`).
    #[arg(long, default_value_t = 64, value_name = "KIB")]
    pub max_message_kib: usize,
    /// Largest WebSocket frame read at all, in KiB (a larger one closes the connection).
    #[arg(long, default_value_t = 1024, value_name = "KIB")]
    pub max_frame_kib: usize,
    /// Refused messages in a row after which a connection is closed.
    #[arg(long, default_value_t = 32, value_name = "N")]
    pub max_refusals_in_a_row: u32,
    /// Bytes queued for a client that reads too slowly before it is dropped, in KiB.
    #[arg(long, default_value_t = 1024, value_name = "KIB")]
    pub outbox_kib: usize,
    /// Also accept WebSockets from pages of this origin (such as https://app.example.org);
    /// repeatable. Pages served by this server itself are always accepted.
    #[arg(long, value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,
}

/// HTTPS and WSS.
#[derive(Debug, Args)]
pub struct TlsArgs {
    /// Serve HTTPS/WSS with this certificate chain (PEM); needs --tls-key.
    #[arg(long, value_name = "FILE", requires = "tls_key", conflicts_with = "tls_self_signed")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The private key (PEM) of --tls-cert.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Serve HTTPS/WSS with a certificate of our own for a LAN (browsers warn once; compare the
    /// fingerprint printed). It is kept in --state-dir; hosts trust it with
    /// `peerdesk host --server-ca FILE`, the file printed.
    #[arg(long)]
    pub tls_self_signed: bool,
    /// Names and addresses the self-signed certificate is for, besides localhost, 127.0.0.1
    /// and the --listen address; repeatable.
    #[arg(long, value_name = "NAME", requires = "tls_self_signed")]
    pub tls_name: Vec<String>,
    /// Where the self-signed certificate is kept (default: $XDG_STATE_HOME/peerdesk, else
    /// ~/.local/state/peerdesk; on Windows %LOCALAPPDATA%\peerdesk).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<std::path::PathBuf>,
}

impl LimitArgs {
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.max_conns_per_ip == 0 || self.max_connections == 0 {
            anyhow::bail!("--max-conns-per-ip and --max-connections must be at least 1");
        }
        if self.messages_per_second == 0 || self.message_burst == 0 {
            anyhow::bail!("--messages-per-second and --message-burst must be at least 1");
        }
        if !(3..=86_400).contains(&self.idle_timeout) {
            anyhow::bail!("--idle-timeout must be between 3 and 86400 seconds");
        }
        if !(1..=1024).contains(&self.max_message_kib)
            || !(self.max_message_kib..=65_536).contains(&self.max_frame_kib)
        {
            anyhow::bail!(
                "--max-message-kib must be 1 to 1024, and --max-frame-kib at least that and at most 65536"
            );
        }
        if self.max_refusals_in_a_row == 0 || !(64..=1_048_576).contains(&self.outbox_kib) {
            anyhow::bail!("--max-refusals-in-a-row must be at least 1 and --outbox-kib 64 to 1048576");
        }
        if !(1..=600).contains(&self.handshake_timeout) {
            anyhow::bail!("--handshake-timeout must be between 1 and 600 seconds");
        }
        for o in &self.allow_origin {
            if !(o.starts_with("http://") || o.starts_with("https://")) || o.trim_end_matches('/') != o {
                anyhow::bail!(
                    "--allow-origin takes an origin such as https://app.example.org (no path, no trailing slash), got {o:?}"
                );
            }
        }
        Ok(())
    }
}

/// What to stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Source {
    /// The built-in animated test scene (reacts to input).
    Testscene,
    /// An X11 desktop (`--display`, default $DISPLAY), one monitor of it (`--monitor`).
    X11,
    /// A Wayland desktop, through its portals and PipeWire: the desktop asks ("share your
    /// screen", and "allow remote control" unless --screen-only); where its portal can
    /// remember the choice, the token it gives back is kept so later starts need no click.
    Wayland,
    /// This machine's desktop, one monitor of it (`--monitor`): on Linux Wayland when
    /// $WAYLAND_DISPLAY is set, else X11; GDI and SendInput on Windows.
    Desktop,
}

#[derive(Debug, Args)]
pub struct StreamArgs {
    /// Stream width in pixels. The test scene is drawn at this size (default 1280); a desktop
    /// streams at its own size unless this (or --height) scales it down, keeping its aspect.
    /// Viewers may ask for smaller, never larger.
    #[arg(long, value_name = "PX")]
    pub width: Option<u32>,
    /// Stream height in pixels (test scene default 720); see --width.
    #[arg(long, value_name = "PX")]
    pub height: Option<u32>,
    /// Frames per second: the most a viewer gets (the viewer in control may ask for fewer in
    /// the page's settings).
    #[arg(long, visible_alias = "max-fps", default_value_t = 60, value_name = "FPS")]
    pub fps: u32,
    /// Video bitrate in kbit/s: the most the host sends (the viewer in control may cap it
    /// lower). It sends less when the network's bandwidth estimate says so, and under heavy
    /// congestion lowers the frame rate, then the size (see --min-bitrate, --fixed-bitrate).
    #[arg(long, visible_alias = "max-bitrate", default_value_t = 6000, value_name = "KBPS")]
    pub bitrate: u32,
    /// The least video bitrate rate control goes down to, in kbit/s.
    #[arg(long, default_value_t = 300, value_name = "KBPS")]
    pub min_bitrate: u32,
    /// Send at --bitrate whatever the network does: no bandwidth estimation, no pacing, no
    /// lower frame rate or size (for a LAN you trust, or to compare).
    #[arg(long)]
    pub fixed_bitrate: bool,
    /// Never send packets twice. By default, while a viewer's path loses 2% of the packets or
    /// more, every packet to it goes out twice, so that a loss rarely stalls the picture for a
    /// round trip (twice the bytes while it lasts; rate control still keeps to the bandwidth).
    /// Off with --fixed-bitrate.
    #[arg(long)]
    pub no_redundancy: bool,
    /// Seconds between the status lines the host logs (fps, bitrate, per-stage times).
    #[arg(long, default_value_t = 10, value_name = "SECS")]
    pub status_every: u64,
    /// Sound: `auto` streams the source's own (the test scene's tones, or what the desktop
    /// plays: the default output's monitor, through PulseAudio or PipeWire); `none` turns it off.
    #[arg(long, value_enum, default_value_t = AudioMode::Auto)]
    pub audio: AudioMode,
    /// Record this sound source instead (a name from --list-sources, such as a microphone or
    /// another output's monitor).
    #[arg(long, value_name = "NAME")]
    pub audio_source: Option<String>,
    /// Opus bitrate in kbit/s.
    #[arg(long, default_value_t = 128, value_name = "KBPS")]
    pub audio_bitrate: u32,
    /// Let the browser hold the picture back (up to 100 ms) to keep it in step with the sound:
    /// for films rather than games, since it adds that latency. By default every frame shows
    /// as soon as it is decoded and the sound plays as soon as it can.
    #[arg(long)]
    pub av_sync: bool,
    /// Video encoder: `auto` tries NVENC, VAAPI, QSV, x264 and openh264 in that order and
    /// uses the first that works on this machine (the log says which, and why it passed the
    /// others over); a name uses that one or stops with why it cannot. GPUs and x264 need a
    /// peerdesk built with `--features ffmpeg`, aom (AV1) `--features av1`. See
    /// --list-encoders.
    #[arg(long, default_value = "auto", value_name = "auto|nvenc|vaapi|qsv|x264|openh264|aom", value_parser = parse_encoder)]
    pub encoder: EncoderArg,
    /// Video codec: `auto` sends H.264, and AV1 to browsers that decode it when a GPU here
    /// encodes AV1; `av1` sends AV1 to every browser that decodes it (in software with libaom
    /// where no GPU does: better pictures at low bitrates for three to six times the CPU of
    /// x264) and H.264 to the others; `h264` sends H.264 only.
    #[arg(long, default_value = "auto", value_name = "auto|h264|av1", value_parser = parse_codec)]
    pub codec: peerdesk_encode::CodecChoice,
    /// The VAAPI device, such as /dev/dri/renderD129 (default: the first GPU render node).
    #[arg(long, value_name = "PATH")]
    pub vaapi_device: Option<std::path::PathBuf>,
    /// Heal a lost packet with a column of intra blocks that sweeps the picture once a second
    /// (x264, NVENC, QSV) instead of a keyframe: no frame is much larger than the others.
    /// Browsers still ask for a keyframe when a frame is lost for good; it is sent.
    #[arg(long)]
    pub intra_refresh: bool,
}

/// `--encoder`: one backend, or `auto`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncoderArg(pub Option<peerdesk_encode::Backend>);

fn parse_encoder(s: &str) -> Result<EncoderArg, String> {
    if s.eq_ignore_ascii_case("auto") {
        return Ok(EncoderArg(None));
    }
    s.parse().map(|b| EncoderArg(Some(b)))
}

fn parse_codec(s: &str) -> Result<peerdesk_encode::CodecChoice, String> {
    s.parse()
}

/// Whether to stream sound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AudioMode {
    /// The source's own sound.
    Auto,
    /// No sound.
    #[value(name = "none")]
    Off,
}

impl StreamArgs {
    /// The test scene's size.
    pub fn scene_size(&self) -> (u32, u32) {
        (self.width.unwrap_or(1280), self.height.unwrap_or(720))
    }

    pub fn validate(&self) -> anyhow::Result<()> {
        for v in [self.width, self.height].into_iter().flatten() {
            if !(16..=7680).contains(&v) {
                anyhow::bail!("--width/--height must be between 16 and 7680");
            }
            if !v.is_multiple_of(2) {
                anyhow::bail!("--width and --height must be even numbers (H.264 4:2:0)");
            }
        }
        if !(1..=240).contains(&self.fps) {
            anyhow::bail!("--fps must be between 1 and 240");
        }
        if !(1..=3600).contains(&self.status_every) {
            anyhow::bail!("--status-every must be between 1 and 3600 seconds");
        }
        if !(100..=500_000).contains(&self.bitrate) {
            anyhow::bail!("--bitrate is in kbit/s and must be between 100 and 500000");
        }
        if !(50..=self.bitrate).contains(&self.min_bitrate) {
            anyhow::bail!(
                "--min-bitrate is in kbit/s and must be between 50 and --bitrate ({})",
                self.bitrate
            );
        }
        if !(6..=510).contains(&self.audio_bitrate) {
            anyhow::bail!("--audio-bitrate is in kbit/s and must be between 6 and 510 (Opus)");
        }
        if self.audio == AudioMode::Off && self.audio_source.is_some() {
            anyhow::bail!("--audio none and --audio-source contradict each other: drop one");
        }
        if let Some(name) = &self.audio_source
            && (name.is_empty() || name.len() > 256 || name.chars().any(char::is_control))
        {
            anyhow::bail!("--audio-source must be a source name as --list-sources prints it");
        }
        Ok(())
    }
}

/// Who may connect: the share links.
#[derive(Debug, Args)]
pub struct PairingArgs {
    /// Also issue a view-only link (printed as `view URL`): its holders watch but their input
    /// never reaches this machine.
    #[arg(long)]
    pub view_link: bool,
    /// How long a link stays good, such as 90s, 30m, 12h or 7d (default: until revoked). New
    /// viewers with an expired link are refused; `links` on the console issues fresh ones.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub link_ttl: Option<std::time::Duration>,
    /// Where the links' secrets are kept, so links survive a restart of the host (default:
    /// $XDG_STATE_HOME/peerdesk, else ~/.local/state/peerdesk, on Windows %LOCALAPPDATA%\peerdesk;
    /// the file is readable by you only).
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<std::path::PathBuf>,
    /// Keep the secrets in memory only: new links every time the host starts.
    #[arg(long, conflicts_with = "state_dir")]
    pub ephemeral_links: bool,
    /// Draw the link as a QR code on stderr (auto: when stderr is a terminal).
    #[arg(long, value_enum, default_value_t = QrMode::Auto)]
    pub qr: QrMode,
    /// Share no clipboard: copies on this machine stay here, and viewers cannot paste into it.
    /// By default the controlling viewer's pastes reach this machine's clipboard and its copies
    /// reach the viewer (view-only viewers get neither).
    #[arg(long)]
    pub no_clipboard: bool,
    /// For tests: write each virtual gamepad's evdev events to DIR/padN.events instead of a
    /// uinput device (and read the games' rumble from the FIFO DIR/ff, if there is one).
    #[arg(long, value_name = "DIR", hide = true)]
    pub gamepad_dir: Option<std::path::PathBuf>,
    /// For tests: append every input event that reaches this machine's input to FILE.
    #[arg(long, value_name = "FILE", hide = true)]
    pub record_input: Option<std::path::PathBuf>,
}

/// When to draw the QR code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum QrMode {
    /// When stderr is a terminal.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// `90s`, `30m`, `12h`, `7d` (or plain seconds).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let (num, unit) = s.find(|c: char| !c.is_ascii_digit()).map_or((s, ""), |i| s.split_at(i));
    let n: u64 = num.parse().map_err(|_| format!("{s:?} is not a duration such as 90s, 30m, 12h or 7d"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n.saturating_mul(60),
        "h" => n.saturating_mul(3600),
        "d" => n.saturating_mul(86_400),
        _ => return Err(format!("{s:?} is not a duration such as 90s, 30m, 12h or 7d")),
    };
    if secs == 0 || secs > 366 * 86_400 {
        return Err("a link lives between 1 second and a year".into());
    }
    Ok(std::time::Duration::from_secs(secs))
}

#[derive(Debug, Args)]
pub struct HostArgs {
    /// The signaling server, as http://HOST:PORT or https://HOST:PORT.
    #[arg(long, default_value = "http://127.0.0.1:8080", value_name = "URL")]
    pub server: String,
    /// Trust this certificate (PEM) for an https server, besides the public authorities: the
    /// file `peerdesk serve --tls-self-signed` prints.
    #[arg(long, value_name = "FILE")]
    pub server_ca: Option<std::path::PathBuf>,
    /// The room to host. The host prints the link to open (with its access key after `#`).
    #[arg(long, value_name = "NAME", required_unless_present_any = ["list_sources", "list_encoders"])]
    pub room: Option<String>,
    /// What to stream.
    #[arg(long, value_enum, default_value_t = Source::Testscene)]
    pub source: Source,
    /// The X display to stream with --source x11 (default: $DISPLAY).
    #[arg(long, value_name = ":N")]
    pub display: Option<String>,
    /// Which monitor to stream with --source x11: a name (DP-1) or a number from
    /// --list-sources; `all` for the whole screen. Default: the primary monitor.
    #[arg(long, value_name = "NAME|INDEX")]
    pub monitor: Option<String>,
    /// With --source wayland: ask the desktop for its screen alone, not its keyboard and
    /// pointer (viewers watch only). A portal that cannot remember remote control
    /// (xdg-desktop-portal before 1.18) remembers a screen share: no dialog after the first.
    #[arg(long)]
    pub screen_only: bool,
    /// List the displays and monitors that can be streamed, then exit.
    #[arg(long)]
    pub list_sources: bool,
    /// List the video encoders and whether each works on this machine (each is opened and
    /// given a test frame), then exit.
    #[arg(long)]
    pub list_encoders: bool,
    #[command(flatten)]
    pub stream: StreamArgs,
    #[command(flatten)]
    pub pairing: PairingArgs,
    /// Offer 127.0.0.1 as an ICE candidate (automatic when the server is on loopback).
    #[arg(long)]
    pub ice_loopback: bool,
    /// `relay`: offer viewers only an address on the TURN server the signaling server names
    /// (they never learn this machine's addresses; for privacy, and to test the relay).
    /// `all`: this machine's addresses, its public address through STUN, and the relay.
    #[arg(long, value_enum, default_value_t = IcePolicyArg::All)]
    pub ice_policy: IcePolicyArg,
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Address to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Room name in the printed link.
    #[arg(long, default_value = "demo", value_name = "NAME")]
    pub room: String,
    #[command(flatten)]
    pub stream: StreamArgs,
    #[command(flatten)]
    pub pairing: PairingArgs,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_duration("90s"), Ok(std::time::Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(std::time::Duration::from_secs(1800)));
        assert_eq!(parse_duration("2h"), Ok(std::time::Duration::from_secs(7200)));
        assert_eq!(parse_duration("7d"), Ok(std::time::Duration::from_secs(604_800)));
        assert_eq!(parse_duration("5"), Ok(std::time::Duration::from_secs(5)));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("1y").is_err());
        assert!(parse_duration("m").is_err());
        assert!(parse_duration("").is_err());
    }
}
