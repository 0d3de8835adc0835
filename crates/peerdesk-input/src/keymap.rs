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
}
