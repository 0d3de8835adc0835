//! Input events from a browser's data channel: decoding never panics, and whatever decodes
//! encodes back to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerdesk_proto::InputEvent;

fuzz_target!(|data: &[u8]| {
    if let Ok(ev) = InputEvent::decode(data) {
        assert_eq!(ev.encode().as_deref(), Ok(data));
    }
});
