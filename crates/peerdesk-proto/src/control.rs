//! JSON text messages on the reliable `input` data channel, both ways: [`HostMessage`] from the
//! host to the page, [`ViewerMessage`] from the page to the host (the viewer's input events are
//! binary on the same channel, so the two never mix).

use serde::{Deserialize, Serialize};

/// A message from the host to the page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HostMessage {
    /// The pointer's shape changed; the page shows it as its own cursor over the video.
    Cursor {
        /// Changes with every new shape.
        serial: u32,
        /// The cursor is invisible (games hide it): show none.
        hidden: bool,
        /// Width in pixels.
        width: u16,
        /// Height in pixels.
        height: u16,
        /// Hotspot from the left.
        hot_x: u16,
        /// Hotspot from the top.
        hot_y: u16,
        /// Straight RGBA pixels, base64 (standard alphabet, padded); empty when hidden.
        rgba: String,
    },
    /// The host's own figures for the last second, for the page's stats overlay (and the
    /// benchmark, which reads the same numbers). Times in milliseconds.
    Stats {
        /// The encoder in use (`x264`, `openh264`, `nvenc`, `vaapi`, `qsv`).
        #[serde(default)]
        encoder: String,
        /// Frames encoded and sent per second.
        fps: f32,
        /// Video bitrate sent, Mbit/s.
        mbps: f32,
        /// Capture time per frame, average.
        capture_ms: f32,
        /// BGRA to I420 (and scaling) per frame, average.
        convert_ms: f32,
        /// Encoding per frame, average.
        encode_ms: f32,
        /// Capture + convert + encode of one frame, median.
        frame_p50_ms: f32,
        /// The same, 95th percentile.
        frame_p95_ms: f32,
        /// Keyframes sent in that second.
        keyframes: u32,
        /// The largest frame sent in that second, kB (a keyframe, or a burst of new content:
        /// what takes longest to cross the network).
        #[serde(default)]
        largest_frame_kb: f32,
        /// Sound bitrate, kbit/s (0 without sound).
        audio_kbps: f32,
        /// Rate control: the video bitrate asked of the encoder, Mbit/s (the `--bitrate` cap
        /// with rate control off).
        target_mbps: f32,
        /// The frame rate and the fraction of the full size rate control allows.
        target_fps: u32,
        /// Fraction of the full size (1, 0.75 or 0.5).
        scale: f32,
        /// The lowest viewer bandwidth estimate, Mbit/s; null before there is one or with rate
        /// control off.
        estimate_mbps: Option<f32>,
        /// The highest packet loss on the viewers' paths, percent.
        loss_pct: f32,
        /// Whether packets go out twice to a viewer against that loss.
        #[serde(default)]
        redundant: bool,
        /// What holds the stream below what was asked: `none`, `network`, `encoder` (the host's
        /// capture or encoder cannot keep up) or `viewer` (a browser cannot show every frame).
        #[serde(default = "no_limit")]
        limit: String,
        /// Why, in words ("frame rate 40: this host needs 21.3 ms to encode a frame"); also
        /// set with no limit while a drop in the estimate is being checked.
        #[serde(default)]
        why: Option<String>,
        /// How far the round trip is over the least seen, milliseconds (a queue when large).
        #[serde(default)]
        queue_ms: Option<f32>,
        /// Whether the lowest estimate dropped without a queue or loss to show for it (a busy
        /// CPU): the frame rate and size stay.
        #[serde(default)]
        estimate_doubted: bool,
        /// Times an estimator restarted after such a drop, over the viewers.
        #[serde(default)]
        estimate_resets: u32,
    },
    /// Where the host's pointer is, in pixels of the streamed area (before any scaling):
    /// the page draws the cursor there while its own pointer is locked. Outside
    /// `0..width` x `0..height` the pointer is on another monitor of the host.
    CursorPosition {
        /// From the left edge of the streamed area.
        x: i32,
        /// From the top edge.
        y: i32,
        /// Width of the streamed area.
        width: u32,
        /// Height of the streamed area.
        height: u32,
    },
    /// What this viewer may do now: sent once the pairing handshake completes and on every
    /// change (control handed over, the controller left).
    Role {
        /// `control`: keyboard, mouse and pads reach the host; `view`: the host ignores them.
        role: ViewerRole,
        /// Whether this viewer's link allows control (a control-link holder waits for the
        /// controller to leave or the host to hand over).
        may_control: bool,
        /// This viewer's id (the host's console lists it as `p` and this number).
        peer: u64,
    },
    /// The stream's settings in force and the host's limits: sent when the channel opens and
    /// on every change (every viewer sees the same stream; the controller chooses).
    Settings {
        /// The stream's full width (what "native" is), within the host's own bound.
        width: u32,
        /// The stream's full height.
        height: u32,
        /// The host's frame rate: the most a viewer may ask for.
        max_fps: u32,
        /// The host's bitrate, kbit/s: the most a viewer may ask for.
        max_kbps: u32,
        /// What the controller asked for (`null` where it left the host's own).
        asked: StreamRequest,
        /// Whether this viewer gets sound (its own choice, when the host has any).
        audio: bool,
        /// Whether the host streams sound at all.
        has_audio: bool,
    },
    /// A game on the host rumbles the pad this viewer sent as `index`: the page plays it on
    /// that pad (`vibrationActuator`), where the browser can.
    Rumble {
        /// The browser's pad index.
        index: u8,
        /// The heavy motor, 0 to 1.
        strong: f32,
        /// The light motor, 0 to 1.
        weak: f32,
        /// How long, in milliseconds; 0 (with both motors at 0) stops it.
        duration_ms: u16,
    },
    /// The host's clipboard text changed (or this viewer was just given control): the page puts
    /// it on the user's clipboard. Only controllers get it.
    Clipboard {
        /// The text, at most [`MAX_CLIPBOARD_TEXT`] bytes.
        text: String,
    },
    /// Whether the host's screen can be captured now: sent when the channel opens and on every
    /// change. While it cannot (a Windows desktop behind the lock screen or a UAC prompt) the
    /// picture stands still and the page says why; it goes on by itself when the screen is back.
    Screen {
        /// Why the picture stands still, for the page to show; `null` while it streams.
        away: Option<String>,
    },
}

fn no_limit() -> String {
    "none".to_owned()
}

/// Longest clipboard text that crosses, in bytes of UTF-8 (both ways). The JSON message around
/// it stays under both sides' SCTP message limit (256 KiB in str0m and in Chromium).
pub const MAX_CLIPBOARD_TEXT: usize = 120 * 1024;

/// Largest text message the host takes from a page, in bytes.
pub const MAX_VIEWER_MESSAGE: usize = 256 * 1024;

/// A message from the page to the host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ViewerMessage {
    /// The user pasted: put this text on the host's clipboard (then the paste keys follow).
    Clipboard {
        /// The text, at most [`MAX_CLIPBOARD_TEXT`] bytes.
        text: String,
    },
    /// The viewer's settings: what it asks of the stream (taken from the controller only) and
    /// whether it wants sound (anyone).
    Settings {
        /// Size, frame rate and bitrate asked for.
        stream: StreamRequest,
        /// Whether to send this viewer sound.
        audio: bool,
    },
    /// What the browser did with the last second's video, once a second: the host tells a
    /// viewer that cannot show every frame from a network or an encoder that cannot send them.
    Playback {
        /// Frames decoded in that second, at most [`MAX_PLAYBACK_FRAMES`].
        decoded: u32,
        /// Frames presented on screen.
        shown: u32,
        /// Frames dropped (late for display, or before decoding).
        dropped: u32,
        /// Decode time per frame, microseconds, at most [`MAX_DECODE_US`]; `null` when unknown.
        decode_us: Option<u32>,
        /// Video received in that second (the browser's own count of payload bytes), kbit/s,
        /// at most [`MAX_RECEIVED_KBPS`]; absent or `null` when unknown. Behind a full queue it
        /// is what the path carries.
        #[serde(default)]
        received_kbps: Option<u32>,
    },
    /// How the path to this viewer is doing now, several times a second: a queue on it shows
    /// here within a tenth of a second, where the receiver reports (one a second) take up to a
    /// second and a half.
    Path {
        /// How much later than their least the frames of the last 100 ms arrived (the least
        /// over the frames in that time of arrival minus capture, against the least over the
        /// last seconds), ms, at most [`MAX_QUEUE_MS`]: a queue on the path, not a hiccup.
        queue_ms: u32,
        /// Video received since the page's previous `path` message, kbit/s, at most
        /// [`MAX_RECEIVED_KBPS`]; `null` when unknown.
        received_kbps: Option<u32>,
    },
}

/// Most frames a second a `playback` message may count (in each field).
pub const MAX_PLAYBACK_FRAMES: u32 = 1000;
/// Longest decode time a `playback` message may give, microseconds.
pub const MAX_DECODE_US: u32 = 10_000_000;
/// Highest video rate a `playback` message may give, kbit/s (10 Gbit/s).
pub const MAX_RECEIVED_KBPS: u32 = 10_000_000;
/// Longest queue a `path` message may give, ms.
pub const MAX_QUEUE_MS: u32 = 60_000;

/// What a viewer asks of the stream; `None` leaves the host's own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamRequest {
    /// Picture height (the width follows the aspect), 144 to 4320; never above the full size.
    pub height: Option<u32>,
    /// Frames per second, 1 to 240; never above the host's.
    pub fps: Option<u32>,
    /// Most video bitrate, kbit/s, 100 to 500000; never above the host's.
    pub max_kbps: Option<u32>,
}

impl StreamRequest {
    /// Whether every field is in its range.
    pub fn check(&self) -> Result<(), ViewerMessageError> {
        let bad = |name: &'static str| Err(ViewerMessageError::BadSettings(name));
        if self.height.is_some_and(|h| !(144..=4320).contains(&h)) {
            return bad("height must be 144 to 4320");
        }
        if self.fps.is_some_and(|f| !(1..=240).contains(&f)) {
            return bad("fps must be 1 to 240");
        }
        if self.max_kbps.is_some_and(|k| !(100..=500_000).contains(&k)) {
            return bad("max_kbps must be 100 to 500000");
        }
        Ok(())
    }
}

/// Why a text message from the page was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ViewerMessageError {
    /// Over [`MAX_VIEWER_MESSAGE`].
    #[error("viewer message of {0} bytes is over the limit")]
    TooLarge(usize),
    /// Not JSON, or not a message we know.
    #[error("malformed viewer message: {0}")]
    Malformed(String),
    /// Clipboard text over [`MAX_CLIPBOARD_TEXT`].
    #[error("clipboard text of {0} bytes is over the limit of {MAX_CLIPBOARD_TEXT}")]
    ClipboardTooLarge(usize),
    /// Settings out of range.
    #[error("bad settings: {0}")]
    BadSettings(&'static str),
    /// Playback figures out of range.
    #[error("bad playback figures: {0}")]
    BadPlayback(&'static str),
    /// Path figures out of range.
    #[error("bad path figures: {0}")]
    BadPath(&'static str),
}

impl ViewerMessage {
    /// Decodes and checks untrusted bytes from a page.
    pub fn decode(bytes: &[u8]) -> Result<Self, ViewerMessageError> {
        if bytes.len() > MAX_VIEWER_MESSAGE {
            return Err(ViewerMessageError::TooLarge(bytes.len()));
        }
        let msg: Self =
            serde_json::from_slice(bytes).map_err(|e| ViewerMessageError::Malformed(e.to_string()))?;
        match &msg {
            Self::Clipboard { text } if text.len() > MAX_CLIPBOARD_TEXT => {
                Err(ViewerMessageError::ClipboardTooLarge(text.len()))
            }
            Self::Settings { stream, .. } => stream.check().map(|()| msg),
            Self::Playback { decoded, shown, dropped, decode_us, received_kbps } => {
                if [decoded, shown, dropped].iter().any(|&&n| n > MAX_PLAYBACK_FRAMES) {
                    return Err(ViewerMessageError::BadPlayback("frame counts must be 0 to 1000"));
                }
                if decode_us.is_some_and(|d| d > MAX_DECODE_US) {
                    return Err(ViewerMessageError::BadPlayback("decode_us must be 0 to 10000000"));
                }
                if received_kbps.is_some_and(|r| r > MAX_RECEIVED_KBPS) {
                    return Err(ViewerMessageError::BadPlayback("received_kbps must be 0 to 10000000"));
                }
                Ok(msg)
            }
            Self::Path { queue_ms, received_kbps } => {
                if *queue_ms > MAX_QUEUE_MS {
                    return Err(ViewerMessageError::BadPath("queue_ms must be 0 to 60000"));
                }
                if received_kbps.is_some_and(|r| r > MAX_RECEIVED_KBPS) {
                    return Err(ViewerMessageError::BadPath("received_kbps must be 0 to 10000000"));
                }
                Ok(msg)
            }
            Self::Clipboard { .. } => Ok(msg),
        }
    }
}

/// A viewer's role in the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ViewerRole {
    /// Its input reaches the host.
    Control,
    /// Watches only; the host drops its input.
    View,
}

/// Base64 (RFC 4648, standard alphabet, with padding).
pub fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_the_documented_json_shape() {
        let pos = HostMessage::CursorPosition { x: -3, y: 7, width: 1920, height: 1080 };
        let json = serde_json::to_string(&pos).unwrap();
        assert_eq!(json, r#"{"type":"cursor_position","x":-3,"y":7,"width":1920,"height":1080}"#);
        assert_eq!(serde_json::from_str::<HostMessage>(&json).unwrap(), pos);
        let role = HostMessage::Role { role: ViewerRole::View, may_control: true, peer: 3 };
        let json = serde_json::to_string(&role).unwrap();
        assert_eq!(json, r#"{"type":"role","role":"view","may_control":true,"peer":3}"#);
    }

    #[test]
    fn viewer_messages_are_checked() {
        let ok = ViewerMessage::decode(br#"{"type":"clipboard","text":"h\u00e9llo"}"#).unwrap();
        assert_eq!(ok, ViewerMessage::Clipboard { text: "h\u{e9}llo".into() });
        assert!(matches!(ViewerMessage::decode(b"{}"), Err(ViewerMessageError::Malformed(_))));
        assert!(matches!(
            ViewerMessage::decode(br#"{"type":"clipboard","text":"a","x":1}"#),
            Err(ViewerMessageError::Malformed(_))
        ));
        let big = format!(r#"{{"type":"clipboard","text":"{}"}}"#, "a".repeat(MAX_CLIPBOARD_TEXT + 1));
        assert_eq!(
            ViewerMessage::decode(big.as_bytes()),
            Err(ViewerMessageError::ClipboardTooLarge(MAX_CLIPBOARD_TEXT + 1))
        );
        let settings = ViewerMessage::decode(
            br#"{"type":"settings","stream":{"height":720,"fps":30,"max_kbps":null},"audio":false}"#,
        )
        .unwrap();
        assert_eq!(
            settings,
            ViewerMessage::Settings {
                stream: StreamRequest { height: Some(720), fps: Some(30), max_kbps: None },
                audio: false
            }
        );
        for bad in [
            r#"{"type":"settings","stream":{"height":100,"fps":null,"max_kbps":null},"audio":true}"#,
            r#"{"type":"settings","stream":{"height":null,"fps":0,"max_kbps":null},"audio":true}"#,
            r#"{"type":"settings","stream":{"height":null,"fps":null,"max_kbps":99},"audio":true}"#,
        ] {
            assert!(
                matches!(ViewerMessage::decode(bad.as_bytes()), Err(ViewerMessageError::BadSettings(_))),
                "{bad}"
            );
        }
        for (json, want) in [
            (
                r#"{"type":"playback","decoded":60,"shown":52,"dropped":3,"decode_us":9100}"#,
                ViewerMessage::Playback {
                    decoded: 60,
                    shown: 52,
                    dropped: 3,
                    decode_us: Some(9100),
                    received_kbps: None,
                },
            ),
            (
                r#"{"type":"playback","decoded":60,"shown":60,"dropped":0,"decode_us":null,"received_kbps":2870}"#,
                ViewerMessage::Playback {
                    decoded: 60,
                    shown: 60,
                    dropped: 0,
                    decode_us: None,
                    received_kbps: Some(2870),
                },
            ),
        ] {
            assert_eq!(ViewerMessage::decode(json.as_bytes()).unwrap(), want, "{json}");
        }
        for bad in [
            r#"{"type":"playback","decoded":1001,"shown":0,"dropped":0,"decode_us":null}"#,
            r#"{"type":"playback","decoded":1,"shown":0,"dropped":0,"decode_us":10000001}"#,
            r#"{"type":"playback","decoded":1,"shown":0,"dropped":0,"decode_us":null,"received_kbps":10000001}"#,
        ] {
            assert!(
                matches!(ViewerMessage::decode(bad.as_bytes()), Err(ViewerMessageError::BadPlayback(_))),
                "{bad}"
            );
        }
        for (json, want) in [
            (
                r#"{"type":"path","queue_ms":0,"received_kbps":null}"#,
                ViewerMessage::Path { queue_ms: 0, received_kbps: None },
            ),
            (
                r#"{"type":"path","queue_ms":60000,"received_kbps":2950}"#,
                ViewerMessage::Path { queue_ms: 60_000, received_kbps: Some(2950) },
            ),
        ] {
            assert_eq!(ViewerMessage::decode(json.as_bytes()).unwrap(), want, "{json}");
        }
        for bad in [
            r#"{"type":"path","queue_ms":60001,"received_kbps":null}"#,
            r#"{"type":"path","queue_ms":5,"received_kbps":10000001}"#,
        ] {
            assert!(
                matches!(ViewerMessage::decode(bad.as_bytes()), Err(ViewerMessageError::BadPath(_))),
                "{bad}"
            );
        }
        for malformed in [
            r#"{"type":"path","queue_ms":-1,"received_kbps":null}"#,
            r#"{"type":"path","received_kbps":100}"#,
            r#"{"type":"playback","decoded":-1,"shown":0,"dropped":0,"decode_us":null}"#,
            r#"{"type":"playback","decoded":1.5,"shown":0,"dropped":0,"decode_us":null}"#,
            r#"{"type":"playback","decoded":1,"shown":0}"#,
        ] {
            assert!(matches!(
                ViewerMessage::decode(malformed.as_bytes()),
                Err(ViewerMessageError::Malformed(_))
            ));
        }
        let huge = vec![b' '; MAX_VIEWER_MESSAGE + 1];
        assert_eq!(ViewerMessage::decode(&huge), Err(ViewerMessageError::TooLarge(MAX_VIEWER_MESSAGE + 1)));
        let back = serde_json::to_string(&HostMessage::Clipboard { text: "x\ny".into() }).unwrap();
        assert_eq!(back, r#"{"type":"clipboard","text":"x\ny"}"#);
    }

    #[test]
    fn screen_says_why_the_picture_stands_still_or_null() {
        let away = HostMessage::Screen { away: Some("locked".into()) };
        assert_eq!(serde_json::to_string(&away).unwrap(), r#"{"type":"screen","away":"locked"}"#);
        let back = HostMessage::Screen { away: None };
        assert_eq!(serde_json::to_string(&back).unwrap(), r#"{"type":"screen","away":null}"#);
    }

    #[test]
    fn stats_are_flat_json_numbers() {
        let m = HostMessage::Stats {
            encoder: "x264".into(),
            fps: 60.0,
            mbps: 4.5,
            capture_ms: 1.5,
            convert_ms: 0.5,
            encode_ms: 6.0,
            frame_p50_ms: 8.0,
            frame_p95_ms: 11.5,
            keyframes: 0,
            largest_frame_kb: 21.5,
            audio_kbps: 128.0,
            target_mbps: 4.8,
            target_fps: 60,
            scale: 1.0,
            estimate_mbps: None,
            loss_pct: 0.0,
            redundant: false,
            limit: "encoder".into(),
            why: Some("frame rate 40: this host needs 21.3 ms to encode a frame".into()),
            queue_ms: Some(1.0),
            estimate_doubted: false,
            estimate_resets: 0,
        };
        let v: serde_json::Value = serde_json::to_value(&m).unwrap();
        assert_eq!(v["type"], "stats");
        assert_eq!(v["limit"], "encoder");
        assert_eq!(v["encoder"], "x264");
        assert_eq!(v["encode_ms"], 6.0);
        assert_eq!(v["keyframes"], 0);
        assert_eq!(v["estimate_mbps"], serde_json::Value::Null);
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
    }
}
