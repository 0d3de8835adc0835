//! The peerdesk host: streams a source to every viewer in its room.
//!
//! Owns the runtime: threads own hardware, tasks own sockets.
//! - [`pipeline`]: a capture thread and an encode thread joined by a latest-wins slot; encoded
//!   frames go to every session (encode once, send to many);
//! - [`viewer`]: one tokio task per viewer driving a sans-IO [`peerdesk_session::Session`]
//!   over its own UDP sockets; a session that fails or panics ends alone;
//! - [`signaling`]: the WebSocket client to `peerdesk serve`, reconnecting with backoff;
//! - [`audio`]: the audio thread (record, stamp, Opus once, broadcast), which never stops the
//!   picture when sound fails;
//! - [`input`]: where decoded input goes ([`InputSink`]), with per-viewer release of held keys.
//!
//! Does not own: the wire formats (peerdesk-proto), WebRTC (peerdesk-session), pixels
//! (peerdesk-capture, peerdesk-encode), nor the CLI (the `peerdesk` binary).

pub mod addrs;
pub mod audio;
pub mod guests;
pub mod input;
pub mod nat;
pub mod pairing;
pub mod pipeline;
pub mod rate;
pub mod signaling;
pub mod viewer;

use std::time::Duration;

use peerdesk_capture::MonitorChoice;
use peerdesk_proto::RoomId;

pub use guests::HostCommand;
pub use input::{InputSink, SceneInputSink};
pub use pipeline::{Pipeline, PipelineStats};
pub use signaling::{HostError, run};

/// What the host streams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceKind {
    /// The built-in animated test scene.
    TestScene,
    /// An X11 display (`None`: `$DISPLAY`), one monitor of it.
    X11 {
        /// The display, such as `:0`.
        display: Option<String>,
        /// Which monitor.
        monitor: MonitorChoice,
    },
    /// The Windows desktop (GDI capture, `SendInput`), one monitor of it.
    Windows {
        /// Which monitor.
        monitor: MonitorChoice,
    },
    /// A Wayland desktop, through its portals and PipeWire (the desktop asks the user; where
    /// its portal can remember the choice, the token it gives back is kept in the state
    /// directory).
    Wayland {
        /// Ask for keyboard and pointer too (the RemoteDesktop portal).
        control: bool,
        /// Which output, where the host picks it (wlroots compositors; elsewhere the desktop's
        /// dialog does).
        monitor: peerdesk_capture::MonitorChoice,
    },
}

/// Which sound the host streams.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AudioChoice {
    /// None.
    Off,
    /// The source's own: the test scene's tones, or the desktop's output (the default sink's
    /// monitor) for a desktop source.
    Auto,
    /// A named source of the sound server (`--audio-source`).
    Source(String),
}

/// Settings of a host, validated by the binary.
#[derive(Clone, Debug)]
pub struct HostConfig {
    /// The signaling server's WebSocket URL (`ws://host:port/ws` or `wss://...`).
    pub signal_url: String,
    /// Certificates (PEM) to trust for a `wss://` server besides the usual public roots: a
    /// server's self-signed certificate (`--server-ca`).
    pub server_ca: Option<std::path::PathBuf>,
    /// The page viewers open (`http://host:port/?room=NAME`).
    pub viewer_url: String,
    /// The room to host.
    pub room: RoomId,
    /// What to stream.
    pub source: SourceKind,
    /// Stream width in pixels (even); the test scene's size (X11 streams at the screen's size).
    pub width: u32,
    /// Stream height in pixels (even).
    pub height: u32,
    /// Largest stream size for a desktop source (`--width/--height`): frames are scaled down to
    /// fit, keeping their aspect. `None` on a side: no bound.
    pub max_size: (Option<u32>, Option<u32>),
    /// Frames per second.
    pub fps: u32,
    /// Video bitrate in bits per second: the most rate control asks for.
    pub bitrate_bps: u32,
    /// The least video bitrate rate control asks for.
    pub min_bitrate_bps: u32,
    /// Whether the viewers' bandwidth estimates steer the video's rate (and str0m paces); off,
    /// the host sends at `bitrate_bps` whatever happens.
    pub rate_control: bool,
    /// Whether packets go out twice to a viewer whose path loses them.
    pub redundancy: bool,
    /// Sound.
    pub audio: AudioChoice,
    /// Opus bitrate in bits per second.
    pub audio_bitrate_bps: u32,
    /// Most the browser may delay the picture to match the sound (`--av-sync`); zero shows
    /// every frame at once.
    pub max_playout_delay: Duration,
    /// Include 127.0.0.1 among the ICE candidates.
    pub loopback_candidates: bool,
    /// Offer only relayed candidates (through the TURN server the signaling server names):
    /// the viewer never learns this machine's addresses. The server's `--ice-policy relay`
    /// asks the same.
    pub relay_only: bool,
    /// Least time between keyframes asked for by one viewer.
    pub keyframe_interval: Duration,
    /// How often to log a status line.
    pub status_interval: Duration,
    /// How long a share link stays good (`--link-ttl`); `None`: until revoked.
    pub link_ttl: Option<Duration>,
    /// Where the share links' secrets are kept between runs (`links-ROOM.json`, owner-only);
    /// `None`: in memory only, new links each run.
    pub state_dir: Option<std::path::PathBuf>,
    /// Also issue a view-only link (`--view-link`).
    pub view_link: bool,
    /// Draw the control link as a QR code on stderr.
    pub qr: bool,
    /// For tests: append every input event injected to this file, one line each.
    pub record_input: Option<std::path::PathBuf>,
    /// Share the desktop's clipboard with the controlling viewer (both ways).
    pub clipboard: bool,
    /// Which video encoder, and how (`--encoder`, `--vaapi-device`, `--intra-refresh`).
    pub encoder: peerdesk_encode::EncoderChoice,
    /// For tests: virtual gamepads write their events to files in this directory instead of
    /// uinput devices.
    pub gamepad_dir: Option<std::path::PathBuf>,
}
