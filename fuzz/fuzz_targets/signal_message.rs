//! Signaling text from a WebSocket: parsing and feeding the room registry never panics, and
//! the registry stays consistent (a refused message changes nothing observable).
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerdesk_proto::ClientMessage;
use peerdesk_signal::{RoomLimits, Rooms};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let mut rooms = Rooms::new(RoomLimits { max_rooms: 4, max_viewers_per_room: 2 });
    let peers: Vec<_> = (0..3).map(|_| rooms.connect()).collect();
    // Each line is one message from peer (line number mod 3).
    for (i, line) in text.lines().enumerate() {
        if let Ok(msg) = serde_json::from_str::<ClientMessage>(line) {
            let _ = rooms.handle_message(peers[i % 3], msg);
        }
        assert!(rooms.room_count() <= 4);
    }
    for p in peers {
        rooms.leave(p);
    }
    assert_eq!(rooms.room_count(), 0, "every room empties when everyone leaves");
});
