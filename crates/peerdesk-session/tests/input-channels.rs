//! Input from a real str0m viewer over the two data channels reaches the host decoded; bad
//! bytes are counted and dropped, and the session goes on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use harness::Pair;
use peerdesk_proto::input::MouseButton;
use peerdesk_proto::{InputDecodeError, InputEvent};
use peerdesk_session::SessionEvent;

#[test]
fn every_event_kind_arrives_and_bad_bytes_do_not_stop_the_session() {
    let mut pair = Pair::new();
    pair.connect();
    pair.take_host_events();

    let events = [
        InputEvent::PointerMove { x: 100, y: 65535 },
        InputEvent::PointerRelative { dx: -5, dy: 7 },
        InputEvent::Wheel { dx: 0, dy: -120 },
    ];
    let reliable = [
        InputEvent::Button { button: MouseButton::Right, down: true },
        InputEvent::Key { code: "KeyA".into(), down: true },
        InputEvent::Key { code: "KeyA".into(), down: false },
        InputEvent::ReleaseAll,
    ];
    let (motion, input) = (pair.viewer.motion, pair.viewer.input);
    for e in &events {
        pair.viewer_writes(motion, &e.encode().expect("encodes"));
    }
    pair.viewer_writes(input, &[5, 1, 200, b'K']);
    pair.viewer_writes(input, &[0xff; 1000]);
    for e in &reliable {
        pair.viewer_writes(input, &e.encode().expect("encodes"));
    }
    pair.advance(std::time::Duration::from_millis(200));

    let got = pair.take_host_events();
    let inputs: Vec<_> = got
        .iter()
        .filter_map(|e| if let SessionEvent::Input(i) = e { Some(i.clone()) } else { None })
        .collect();
    let expected: Vec<_> = events.iter().chain(reliable.iter()).cloned().collect();
    assert_eq!(inputs, expected);
    let bad: Vec<_> = got
        .iter()
        .filter_map(|e| if let SessionEvent::BadInput(b) = e { Some(b.clone()) } else { None })
        .collect();
    assert_eq!(bad.len(), 2, "{got:?}");
    assert!(matches!(bad[0], InputDecodeError::Truncated { .. }));
    assert_eq!(pair.host.counters().input_events, 7);
    assert_eq!(pair.host.counters().bad_input, 2);
    assert!(pair.host.is_alive());
}
