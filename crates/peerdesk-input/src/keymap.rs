//! Physical keys: `KeyboardEvent.code` (the UI Events spec's names) to Linux evdev key codes
//! (`linux/input-event-codes.h`). X servers using the evdev keycodes (Xorg, Xvfb) number a key
//! `evdev + 8`.

/// Every `KeyboardEvent.code` peerdesk knows, with its evdev code.
pub const KEYS: &[(&str, u16)] = &[
    ("Escape", 1),
    ("Digit1", 2),
    ("Digit2", 3),
    ("Digit3", 4),
    ("Digit4", 5),
    ("Digit5", 6),
    ("Digit6", 7),
    ("Digit7", 8),
    ("Digit8", 9),
    ("Digit9", 10),
    ("Digit0", 11),
    ("Minus", 12),
    ("Equal", 13),
    ("Backspace", 14),
    ("Tab", 15),
    ("KeyQ", 16),
    ("KeyW", 17),
    ("KeyE", 18),
    ("KeyR", 19),
    ("KeyT", 20),
    ("KeyY", 21),
    ("KeyU", 22),
    ("KeyI", 23),
    ("KeyO", 24),
    ("KeyP", 25),
    ("BracketLeft", 26),
    ("BracketRight", 27),
    ("Enter", 28),
    ("ControlLeft", 29),
    ("KeyA", 30),
    ("KeyS", 31),
    ("KeyD", 32),
    ("KeyF", 33),
    ("KeyG", 34),
    ("KeyH", 35),
    ("KeyJ", 36),
    ("KeyK", 37),
    ("KeyL", 38),
    ("Semicolon", 39),
    ("Quote", 40),
    ("Backquote", 41),
    ("ShiftLeft", 42),
    ("Backslash", 43),
    ("KeyZ", 44),
    ("KeyX", 45),
    ("KeyC", 46),
    ("KeyV", 47),
    ("KeyB", 48),
    ("KeyN", 49),
    ("KeyM", 50),
    ("Comma", 51),
    ("Period", 52),
    ("Slash", 53),
    ("ShiftRight", 54),
    ("NumpadMultiply", 55),
    ("AltLeft", 56),
    ("Space", 57),
    ("CapsLock", 58),
    ("F1", 59),
    ("F2", 60),
    ("F3", 61),
    ("F4", 62),
    ("F5", 63),
    ("F6", 64),
    ("F7", 65),
    ("F8", 66),
    ("F9", 67),
    ("F10", 68),
    ("NumLock", 69),
    ("ScrollLock", 70),
    ("Numpad7", 71),
    ("Numpad8", 72),
    ("Numpad9", 73),
    ("NumpadSubtract", 74),
    ("Numpad4", 75),
    ("Numpad5", 76),
    ("Numpad6", 77),
    ("NumpadAdd", 78),
    ("Numpad1", 79),
    ("Numpad2", 80),
    ("Numpad3", 81),
    ("Numpad0", 82),
    ("NumpadDecimal", 83),
    ("Lang5", 85),
    ("IntlBackslash", 86),
    ("F11", 87),
    ("F12", 88),
    ("IntlRo", 89),
    ("Lang3", 90),
    ("Lang4", 91),
    ("Convert", 92),
    ("KanaMode", 93),
    ("NonConvert", 94),
    ("NumpadEnter", 96),
    ("ControlRight", 97),
    ("NumpadDivide", 98),
    ("PrintScreen", 99),
    ("AltRight", 100),
    ("Home", 102),
    ("ArrowUp", 103),
    ("PageUp", 104),
    ("ArrowLeft", 105),
    ("ArrowRight", 106),
    ("End", 107),
    ("ArrowDown", 108),
    ("PageDown", 109),
    ("Insert", 110),
    ("Delete", 111),
    ("AudioVolumeMute", 113),
    ("AudioVolumeDown", 114),
    ("AudioVolumeUp", 115),
    ("Power", 116),
    ("NumpadEqual", 117),
    ("Pause", 119),
    ("NumpadComma", 121),
    ("Lang1", 122),
    ("Lang2", 123),
    ("IntlYen", 124),
    ("MetaLeft", 125),
    ("MetaRight", 126),
    ("ContextMenu", 127),
    ("BrowserStop", 128),
    ("Again", 129),
    ("Props", 130),
    ("Undo", 131),
    ("Select", 132),
    ("Copy", 133),
    ("Open", 134),
    ("Paste", 135),
    ("Find", 136),
    ("Cut", 137),
    ("Help", 138),
    ("LaunchApp2", 140),
    ("Sleep", 142),
    ("WakeUp", 143),
    ("LaunchMail", 155),
    ("BrowserFavorites", 156),
    ("LaunchApp1", 157),
    ("BrowserBack", 158),
    ("BrowserForward", 159),
    ("Eject", 161),
    ("MediaTrackNext", 163),
    ("MediaPlayPause", 164),
    ("MediaTrackPrevious", 165),
    ("MediaStop", 166),
    ("BrowserHome", 172),
    ("BrowserRefresh", 173),
    ("NumpadParenLeft", 179),
    ("NumpadParenRight", 180),
    ("F13", 183),
    ("F14", 184),
    ("F15", 185),
    ("F16", 186),
    ("F17", 187),
    ("F18", 188),
    ("F19", 189),
    ("F20", 190),
    ("F21", 191),
    ("F22", 192),
    ("F23", 193),
    ("F24", 194),
    ("BrowserSearch", 217),
    ("MediaSelect", 226),
];

/// The evdev code of a physical key, if peerdesk knows it.
pub fn evdev_code(code: &str) -> Option<u16> {
    KEYS.iter().find(|(name, _)| *name == code).map(|&(_, c)| c)
}

/// The X keycode of a physical key on a server with evdev keycodes.
pub fn x_keycode(code: &str) -> Option<u8> {
    evdev_code(code).and_then(|c| u8::try_from(c + 8).ok())
}

/// A key's PC scan code (set 1, as Windows' `SendInput` takes it with `KEYEVENTF_SCANCODE`):
/// the code, and whether it carries the `0xE0` prefix (`KEYEVENTF_EXTENDEDKEY`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scancode {
    /// The make code without prefix.
    pub code: u16,
    /// Whether it is an extended (`0xE0`) key.
    pub extended: bool,
}

/// The set-1 scan code of a physical key, if it has one `SendInput` can send (Pause, whose
/// code is a sequence, has none). Evdev codes 1 to 83 are the set-1 codes themselves.
pub fn scancode(code: &str) -> Option<Scancode> {
    let evdev = evdev_code(code)?;
    let plain = |code| Some(Scancode { code, extended: false });
    let ext = |code| Some(Scancode { code, extended: true });
    match evdev {
        1..=83 => plain(evdev),
        86 => plain(0x56),
        87 => plain(0x57),
        88 => plain(0x58),
        89 => plain(0x73),
        92 => plain(0x79),
        93 => plain(0x70),
        94 => plain(0x7b),
        117 => plain(0x59),
        121 => plain(0x7e),
        124 => plain(0x7d),
        183..=193 => plain(0x64 + (evdev - 183)),
        194 => plain(0x76),
        96 => ext(0x1c),
        97 => ext(0x1d),
        98 => ext(0x35),
        99 => ext(0x37),
        100 => ext(0x38),
        102 => ext(0x47),
        103 => ext(0x48),
        104 => ext(0x49),
        105 => ext(0x4b),
        106 => ext(0x4d),
        107 => ext(0x4f),
        108 => ext(0x50),
        109 => ext(0x51),
        110 => ext(0x52),
        111 => ext(0x53),
        113 => ext(0x20),
        114 => ext(0x2e),
        115 => ext(0x30),
        116 => ext(0x5e),
        125 => ext(0x5b),
        126 => ext(0x5c),
        127 => ext(0x5d),
        128 => ext(0x68),
        140 => ext(0x21),
        142 => ext(0x5f),
        143 => ext(0x63),
        155 => ext(0x6c),
        156 => ext(0x66),
        157 => ext(0x6b),
        158 => ext(0x6a),
        159 => ext(0x69),
        163 => ext(0x19),
        164 => ext(0x22),
        165 => ext(0x10),
        166 => ext(0x24),
        172 => ext(0x32),
        173 => ext(0x67),
        217 => ext(0x65),
        226 => ext(0x6d),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        let mut names: Vec<_> = KEYS.iter().map(|(n, _)| *n).collect();
        let mut codes: Vec<_> = KEYS.iter().map(|(_, c)| *c).collect();
        names.sort_unstable();
        codes.sort_unstable();
        let n = names.len();
        names.dedup();
        codes.dedup();
        assert_eq!(names.len(), n, "a name appears twice");
        assert_eq!(codes.len(), n, "an evdev code appears twice");
        assert!(KEYS.iter().all(|(name, _)| peerdesk_proto::input::is_valid_key_code(name)));
    }

    #[test]
    fn well_known_keys() {
        assert_eq!(x_keycode("KeyA"), Some(38));
        assert_eq!(x_keycode("Escape"), Some(9));
        assert_eq!(x_keycode("ShiftRight"), Some(62));
        assert_eq!(x_keycode("F24"), Some(202));
        assert_eq!(x_keycode("ArrowUp"), Some(111));
        assert_eq!(x_keycode("NoSuchKey"), None);
    }

    #[test]
    fn scan_codes_for_sendinput() {
        let sc = |c| scancode(c).map(|s| (s.code, s.extended));
        assert_eq!(sc("Escape"), Some((0x01, false)));
        assert_eq!(sc("KeyA"), Some((0x1e, false)));
        assert_eq!(sc("Enter"), Some((0x1c, false)));
        assert_eq!(sc("NumpadEnter"), Some((0x1c, true)));
        assert_eq!(sc("ControlRight"), Some((0x1d, true)));
        assert_eq!(sc("AltRight"), Some((0x38, true)));
        assert_eq!(sc("ArrowLeft"), Some((0x4b, true)));
        assert_eq!(sc("Numpad4"), Some((0x4b, false)), "the keypad's 4 is the same code, not extended");
        assert_eq!(sc("MetaLeft"), Some((0x5b, true)));
        assert_eq!(sc("F11"), Some((0x57, false)));
        assert_eq!(sc("F13"), Some((0x64, false)));
        assert_eq!(sc("F23"), Some((0x6e, false)));
        assert_eq!(sc("F24"), Some((0x76, false)));
        assert_eq!(sc("Pause"), None, "a sequence, not one code");
        // No two keys share a code.
        let mut all: Vec<_> =
            KEYS.iter().filter_map(|(n, _)| scancode(n)).map(|s| (s.code, s.extended)).collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n);
        assert!(n > 130, "most keys have one: {n}");
    }
}
