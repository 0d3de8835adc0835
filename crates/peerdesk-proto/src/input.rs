//! Input events from a viewer to the host, in a compact binary form (one event per data-channel
//! message).
//!
//! Layout: one kind byte, then fixed big-endian fields. Pointer positions are in video
//! coordinates scaled to `0..=65535`, so they do not depend on the stream's resolution.
//!
//! | kind | event | fields |
//! |---|---|---|
//! | 1 | [`InputEvent::PointerMove`] | x u16, y u16 |
//! | 2 | [`InputEvent::PointerRelative`] | dx i16, dy i16 |
//! | 3 | [`InputEvent::Button`] | button u8 (0..=4), down u8 (0/1) |
//! | 4 | [`InputEvent::Wheel`] | dx i16, dy i16 (120 = one notch) |
//! | 5 | [`InputEvent::Key`] | down u8 (0/1), len u8, `KeyboardEvent.code` (ASCII, 1..=32) |
//! | 6 | [`InputEvent::ReleaseAll`] | none |
//! | 7 | [`InputEvent::Text`] | len u8, UTF-8 text (1..=64 bytes, no control characters) |
//! | 8 | [`InputEvent::Gamepad`] | index u8 (0..=3), buttons u32 (bits 0..=16), lt u8, rt u8, lx i16, ly i16, rx i16, ry i16 |
//! | 9 | [`InputEvent::GamepadRemoved`] | index u8 (0..=3) |
//!
//! Motion, wheel and gamepad states travel on the unordered, no-retransmit channel (latest
//! wins: each gamepad event is the pad's whole state); keys, buttons and a pad's removal on the
//! reliable ordered one.

use serde::{Deserialize, Serialize};

/// Largest `KeyboardEvent.code` accepted, in bytes.
pub const MAX_KEY_CODE_LEN: usize = 32;

/// Longest text of a [`InputEvent::Text`], in bytes.
pub const MAX_TEXT_LEN: usize = 64;

/// Gamepads a viewer may use at once (browser indices 0..=3).
pub const MAX_GAMEPADS: u8 = 4;

/// The buttons of the W3C standard gamepad mapping (bits 0..=16 of [`InputEvent::Gamepad`]).
pub const GAMEPAD_BUTTONS: u32 = (1 << 17) - 1;

/// Largest encoded event, in bytes.
pub const MAX_EVENT_LEN: usize = 2 + MAX_TEXT_LEN;

/// Mouse buttons, numbered as `MouseEvent.button`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MouseButton {
    /// 0: the main (usually left) button.
    Left,
    /// 1: the wheel button.
    Middle,
    /// 2: the secondary (usually right) button.
    Right,
    /// 3: browser back.
    Back,
    /// 4: browser forward.
    Forward,
}

impl MouseButton {
    /// The `MouseEvent.button` number.
    pub fn index(self) -> u8 {
        match self {
            Self::Left => 0,
            Self::Middle => 1,
            Self::Right => 2,
            Self::Back => 3,
            Self::Forward => 4,
        }
    }

    /// The button with that `MouseEvent.button` number.
    pub fn from_index(i: u8) -> Option<Self> {
        Some(match i {
            0 => Self::Left,
            1 => Self::Middle,
            2 => Self::Right,
            3 => Self::Back,
            4 => Self::Forward,
            _ => return None,
        })
    }
}

/// One input event from a viewer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum InputEvent {
    /// The pointer is at this point of the video, `0..=65535` on each axis.
    PointerMove {
        /// Horizontal position, 0 = left edge, 65535 = right edge.
        x: u16,
        /// Vertical position, 0 = top edge, 65535 = bottom edge.
        y: u16,
    },
    /// The pointer moved by this many pixels (pointer lock).
    PointerRelative {
        /// Horizontal movement.
        dx: i16,
        /// Vertical movement.
        dy: i16,
    },
    /// A mouse button went down or up.
    Button {
        /// Which button.
        button: MouseButton,
        /// Pressed or released.
        down: bool,
    },
    /// The wheel turned; 120 units are one notch, positive is down/right.
    Wheel {
        /// Horizontal amount.
        dx: i16,
        /// Vertical amount.
        dy: i16,
    },
    /// A key went down or up; `code` is the physical key (`KeyboardEvent.code`).
    Key {
        /// The physical key, such as `KeyA` or `ShiftLeft`.
        code: String,
        /// Pressed or released.
        down: bool,
    },
    /// Release every key and button this viewer holds (focus lost, tab hidden).
    ReleaseAll,
    /// Text to type that has no physical key on the viewer's side (a virtual keyboard, an IME,
    /// a layout the host lacks): the host types it however it can.
    Text {
        /// 1 to 64 bytes of UTF-8, no control characters.
        text: String,
    },
    /// A gamepad's whole state, in the W3C standard mapping.
    Gamepad {
        /// The browser's index of the pad, 0 to 3.
        index: u8,
        /// Bit i set: standard button i is pressed (0 A, 1 B, 2 X, 3 Y, 4 LB, 5 RB, 6 LT,
        /// 7 RT, 8 Back, 9 Start, 10 LS, 11 RS, 12-15 d-pad up, down, left, right, 16 Guide).
        buttons: u32,
        /// Left trigger, 0 (released) to 255 (fully pressed).
        lt: u8,
        /// Right trigger.
        rt: u8,
        /// Left stick, -32768 (left) to 32767 (right).
        lx: i16,
        /// Left stick, -32768 (up) to 32767 (down).
        ly: i16,
        /// Right stick, horizontal.
        rx: i16,
        /// Right stick, vertical (down positive).
        ry: i16,
    },
    /// The pad at this browser index went away (unplugged, or the page stopped using it).
    GamepadRemoved {
        /// The browser's index of the pad, 0 to 3.
        index: u8,
    },
}

/// Why a buffer is not a valid input event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InputDecodeError {
    /// The buffer is empty.
    #[error("empty input message")]
    Empty,
    /// The kind byte is not one we know.
    #[error("unknown input event kind {0}")]
    UnknownKind(u8),
    /// The buffer ends before the event does.
    #[error("input event of kind {kind} needs {need} bytes, got {got}")]
    Truncated {
        /// The kind byte.
        kind: u8,
        /// Bytes the event needs.
        need: usize,
        /// Bytes present.
        got: usize,
    },
    /// Bytes follow the event.
    #[error("input event of kind {kind} has {extra} trailing bytes")]
    Trailing {
        /// The kind byte.
        kind: u8,
        /// How many bytes too many.
        extra: usize,
    },
    /// A flag byte is neither 0 nor 1.
    #[error("flag byte must be 0 or 1, got {0}")]
    BadFlag(u8),
    /// A button number outside 0..=4.
    #[error("unknown mouse button {0}")]
    BadButton(u8),
    /// A key code that is empty, too long or not ASCII alphanumeric.
    #[error("key code must be 1 to {MAX_KEY_CODE_LEN} ASCII letters or digits")]
    BadKeyCode,
    /// Text that is empty, too long, not UTF-8 or holds control characters.
    #[error("text must be 1 to {MAX_TEXT_LEN} bytes of UTF-8 without control characters")]
    BadText,
    /// A gamepad index outside 0..=3.
    #[error("gamepad index must be 0 to 3, got {0}")]
    BadPad(u8),
    /// Gamepad button bits beyond the standard mapping's 17.
    #[error("gamepad buttons beyond the standard mapping: {0:#x}")]
    BadButtons(u32),
}

/// Whether `text` is acceptable in a [`InputEvent::Text`].
pub fn is_valid_text(text: &str) -> bool {
    !text.is_empty() && text.len() <= MAX_TEXT_LEN && !text.chars().any(char::is_control)
}

/// Whether `code` is an acceptable `KeyboardEvent.code`.
pub fn is_valid_key_code(code: &str) -> bool {
    !code.is_empty() && code.len() <= MAX_KEY_CODE_LEN && code.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl InputEvent {
    /// Whether this event belongs on the reliable, ordered channel (a lost key-up is a stuck key).
    pub fn needs_reliable(&self) -> bool {
        matches!(
            self,
            Self::Button { .. }
                | Self::Key { .. }
                | Self::ReleaseAll
                | Self::Text { .. }
                | Self::GamepadRemoved { .. }
        )
    }

    /// Encodes the event. Fails only for a [`InputEvent::Key`] whose code is not valid.
    pub fn encode(&self) -> Result<Vec<u8>, InputDecodeError> {
        let mut out = Vec::with_capacity(8);
        match self {
            Self::PointerMove { x, y } => {
                out.push(1);
                out.extend_from_slice(&x.to_be_bytes());
                out.extend_from_slice(&y.to_be_bytes());
            }
            Self::PointerRelative { dx, dy } => {
                out.push(2);
                out.extend_from_slice(&dx.to_be_bytes());
                out.extend_from_slice(&dy.to_be_bytes());
            }
            Self::Button { button, down } => {
                out.extend_from_slice(&[3, button.index(), u8::from(*down)]);
            }
            Self::Wheel { dx, dy } => {
                out.push(4);
                out.extend_from_slice(&dx.to_be_bytes());
                out.extend_from_slice(&dy.to_be_bytes());
            }
            Self::Key { code, down } => {
                if !is_valid_key_code(code) {
                    return Err(InputDecodeError::BadKeyCode);
                }
                // Cannot truncate: is_valid_key_code bounds the length by MAX_KEY_CODE_LEN.
                let len = code.len() as u8;
                out.extend_from_slice(&[5, u8::from(*down), len]);
                out.extend_from_slice(code.as_bytes());
            }
            Self::ReleaseAll => out.push(6),
            Self::Text { text } => {
                if !is_valid_text(text) {
                    return Err(InputDecodeError::BadText);
                }
                // Cannot truncate: is_valid_text bounds the length by MAX_TEXT_LEN.
                out.extend_from_slice(&[7, text.len() as u8]);
                out.extend_from_slice(text.as_bytes());
            }
            Self::Gamepad { index, buttons, lt, rt, lx, ly, rx, ry } => {
                check_pad(*index)?;
                if buttons & !GAMEPAD_BUTTONS != 0 {
                    return Err(InputDecodeError::BadButtons(*buttons));
                }
                out.extend_from_slice(&[8, *index]);
                out.extend_from_slice(&buttons.to_be_bytes());
                out.extend_from_slice(&[*lt, *rt]);
                for axis in [lx, ly, rx, ry] {
                    out.extend_from_slice(&axis.to_be_bytes());
                }
            }
            Self::GamepadRemoved { index } => {
                check_pad(*index)?;
                out.extend_from_slice(&[9, *index]);
            }
        }
        Ok(out)
    }

    /// Decodes one event from untrusted bytes.
    pub fn decode(buf: &[u8]) -> Result<Self, InputDecodeError> {
        let (&kind, body) = buf.split_first().ok_or(InputDecodeError::Empty)?;
        let fixed = |need: usize| -> Result<&[u8], InputDecodeError> { exact(kind, body, need) };
        Ok(match kind {
            1 => {
                let b = fixed(4)?;
                Self::PointerMove { x: u16::from_be_bytes([b[0], b[1]]), y: u16::from_be_bytes([b[2], b[3]]) }
            }
            2 => {
                let b = fixed(4)?;
                Self::PointerRelative {
                    dx: i16::from_be_bytes([b[0], b[1]]),
                    dy: i16::from_be_bytes([b[2], b[3]]),
                }
            }
            3 => {
                let b = fixed(2)?;
                Self::Button {
                    button: MouseButton::from_index(b[0]).ok_or(InputDecodeError::BadButton(b[0]))?,
                    down: flag(b[1])?,
                }
            }
            4 => {
                let b = fixed(4)?;
                Self::Wheel { dx: i16::from_be_bytes([b[0], b[1]]), dy: i16::from_be_bytes([b[2], b[3]]) }
            }
            5 => {
                if body.len() < 2 {
                    return Err(InputDecodeError::Truncated { kind, need: 2, got: body.len() });
                }
                let down = flag(body[0])?;
                let len = usize::from(body[1]);
                let code = exact(kind, &body[2..], len)?;
                let code = std::str::from_utf8(code).map_err(|_| InputDecodeError::BadKeyCode)?;
                if !is_valid_key_code(code) {
                    return Err(InputDecodeError::BadKeyCode);
                }
                Self::Key { code: code.to_owned(), down }
            }
            6 => {
                fixed(0)?;
                Self::ReleaseAll
            }
            7 => {
                let (&len, rest) =
                    body.split_first().ok_or(InputDecodeError::Truncated { kind, need: 1, got: 0 })?;
                let bytes = exact(kind, rest, usize::from(len))?;
                let text = std::str::from_utf8(bytes).map_err(|_| InputDecodeError::BadText)?;
                if !is_valid_text(text) {
                    return Err(InputDecodeError::BadText);
                }
                Self::Text { text: text.to_owned() }
            }
            8 => {
                let b = fixed(15)?;
                let index = check_pad(b[0])?;
                let buttons = u32::from_be_bytes([b[1], b[2], b[3], b[4]]);
                if buttons & !GAMEPAD_BUTTONS != 0 {
                    return Err(InputDecodeError::BadButtons(buttons));
                }
                let axis = |i: usize| i16::from_be_bytes([b[7 + 2 * i], b[8 + 2 * i]]);
                Self::Gamepad {
                    index,
                    buttons,
                    lt: b[5],
                    rt: b[6],
                    lx: axis(0),
                    ly: axis(1),
                    rx: axis(2),
                    ry: axis(3),
                }
            }
            9 => {
                let b = fixed(1)?;
                Self::GamepadRemoved { index: check_pad(b[0])? }
            }
            other => return Err(InputDecodeError::UnknownKind(other)),
        })
    }
}

fn exact(kind: u8, body: &[u8], need: usize) -> Result<&[u8], InputDecodeError> {
    match body.len().cmp(&need) {
        std::cmp::Ordering::Less => Err(InputDecodeError::Truncated { kind, need, got: body.len() }),
        std::cmp::Ordering::Greater => Err(InputDecodeError::Trailing { kind, extra: body.len() - need }),
        std::cmp::Ordering::Equal => Ok(body),
    }
}

fn check_pad(index: u8) -> Result<u8, InputDecodeError> {
    if index < MAX_GAMEPADS { Ok(index) } else { Err(InputDecodeError::BadPad(index)) }
}

fn flag(b: u8) -> Result<bool, InputDecodeError> {
    match b {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(InputDecodeError::BadFlag(other)),
    }
}
