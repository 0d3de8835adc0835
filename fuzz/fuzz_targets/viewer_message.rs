//! Text messages from a page (clipboard, settings, playback, path): decoding never panics, and whatever
//! decodes is within the limits it promises.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerdesk_proto::ViewerMessage;
use peerdesk_proto::control::{
    MAX_CLIPBOARD_TEXT, MAX_DECODE_US, MAX_PLAYBACK_FRAMES, MAX_QUEUE_MS, MAX_RECEIVED_KBPS,
    MAX_VIEWER_MESSAGE,
};

fuzz_target!(|data: &[u8]| {
    if let Ok(msg) = ViewerMessage::decode(data) {
        assert!(data.len() <= MAX_VIEWER_MESSAGE);
        match msg {
            ViewerMessage::Clipboard { text } => assert!(text.len() <= MAX_CLIPBOARD_TEXT),
            ViewerMessage::Settings { stream, .. } => assert!(stream.check().is_ok()),
            ViewerMessage::Playback { decoded, shown, dropped, decode_us, received_kbps } => {
                assert!([decoded, shown, dropped].iter().all(|&n| n <= MAX_PLAYBACK_FRAMES));
                assert!(decode_us.is_none_or(|d| d <= MAX_DECODE_US));
                assert!(received_kbps.is_none_or(|r| r <= MAX_RECEIVED_KBPS));
            }
            ViewerMessage::Path { queue_ms, received_kbps } => {
                assert!(queue_ms <= MAX_QUEUE_MS);
                assert!(received_kbps.is_none_or(|r| r <= MAX_RECEIVED_KBPS));
            }
        }
    }
});
