//! The input codec round-trips every event kind, matches the golden vectors shared with
//! web/protocol.js, and rejects every truncated or corrupt buffer without panicking.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use peerdesk_proto::input::{InputDecodeError, InputEvent, MAX_EVENT_LEN};
use serde::Deserialize;

#[derive(Deserialize)]
struct Vectors {
    valid: Vec<Valid>,
    invalid: Vec<Invalid>,
}

#[derive(Deserialize)]
struct Valid {
    event: InputEvent,
    hex: String,
}

#[derive(Deserialize)]
struct Invalid {
    hex: String,
    error: String,
}

fn vectors() -> Vectors {
    let text = include_str!("../vectors/input.json");
    serde_json::from_str(text).expect("golden vectors parse")
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len().is_multiple_of(2), "odd hex {s}");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit")).collect()
}

fn error_name(e: &InputDecodeError) -> &'static str {
    match e {
        InputDecodeError::Empty => "empty",
        InputDecodeError::UnknownKind(_) => "unknown_kind",
        InputDecodeError::Truncated { .. } => "truncated",
        InputDecodeError::Trailing { .. } => "trailing",
        InputDecodeError::BadFlag(_) => "bad_flag",
        InputDecodeError::BadButton(_) => "bad_button",
        InputDecodeError::BadKeyCode => "bad_key_code",
        InputDecodeError::BadText => "bad_text",
        InputDecodeError::BadPad(_) => "bad_pad",
        InputDecodeError::BadButtons(_) => "bad_buttons",
    }
}

#[test]
fn golden_vectors_encode_and_decode() {
    let v = vectors();
    for case in &v.valid {
        let bytes = unhex(&case.hex);
        assert_eq!(case.event.encode().expect("encodes"), bytes, "encode {:?}", case.event);
        assert_eq!(InputEvent::decode(&bytes).expect("decodes"), case.event, "decode {}", case.hex);
    }
}

#[test]
fn golden_vectors_cover_every_event_kind() {
    let kinds: std::collections::BTreeSet<u8> = vectors().valid.iter().map(|c| unhex(&c.hex)[0]).collect();
    assert_eq!(kinds.into_iter().collect::<Vec<_>>(), vec![1, 2, 3, 4, 5, 6, 7, 8, 9]);
}

#[test]
fn golden_invalid_buffers_are_rejected_with_the_named_error() {
    for case in vectors().invalid {
        let err = InputEvent::decode(&unhex(&case.hex)).expect_err(&case.hex);
        assert_eq!(error_name(&err), case.error, "for {}: {err}", case.hex);
    }
}

#[test]
fn every_truncation_of_every_valid_event_is_rejected() {
    for case in vectors().valid {
        let bytes = unhex(&case.hex);
        for cut in 0..bytes.len() {
            assert!(InputEvent::decode(&bytes[..cut]).is_err(), "{} cut to {cut} bytes decoded", case.hex);
        }
    }
}

#[test]
fn corrupt_bytes_never_panic_and_valid_results_reencode() {
    // Flip every bit of every byte of every vector, and append each possible byte: whatever
    // decodes must encode back to the same bytes (the format has one encoding per event).
    for case in vectors().valid {
        let bytes = unhex(&case.hex);
        let mut variants = Vec::new();
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut b = bytes.clone();
                b[i] ^= 1 << bit;
                variants.push(b);
            }
        }
        for extra in 0..=255u8 {
            let mut b = bytes.clone();
            b.push(extra);
            variants.push(b);
        }
        for b in variants {
            if let Ok(ev) = InputEvent::decode(&b) {
                assert_eq!(ev.encode().expect("decoded events re-encode"), b);
                assert!(b.len() <= MAX_EVENT_LEN);
            }
        }
    }
}

#[test]
fn invalid_key_codes_do_not_encode() {
    for code in ["", "Key A", "Ä", &"K".repeat(33)] {
        let ev = InputEvent::Key { code: code.to_owned(), down: true };
        assert_eq!(ev.encode(), Err(InputDecodeError::BadKeyCode), "{code:?}");
    }
}

#[test]
fn invalid_text_does_not_encode() {
    for text in ["", "a\nb", &"x".repeat(65)] {
        let ev = InputEvent::Text { text: text.to_owned() };
        assert_eq!(ev.encode(), Err(InputDecodeError::BadText), "{text:?}");
    }
    assert!(InputEvent::Text { text: "€".repeat(21) }.encode().is_ok(), "63 bytes is fine");
}

#[test]
fn reliability_follows_the_event_kind() {
    assert!(!InputEvent::PointerMove { x: 1, y: 2 }.needs_reliable());
    assert!(!InputEvent::Wheel { dx: 0, dy: 120 }.needs_reliable());
    assert!(InputEvent::Key { code: "KeyA".into(), down: false }.needs_reliable());
    assert!(InputEvent::ReleaseAll.needs_reliable());
}
