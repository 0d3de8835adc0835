//! An SDP offer relayed from a browser (or a hostile server): reading its DTLS fingerprint for
//! the pairing handshake and answering it never panic.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use peerdesk_session::{Session, SessionConfig};

fuzz_target!(|data: &[u8]| {
    let Ok(sdp) = std::str::from_utf8(data) else { return };
    let _ = peerdesk_proto::auth::sdp_fingerprint(sdp);
    let local = ["127.0.0.1:9".parse().expect("literal address")];
    let _ = Session::accept_offer(sdp, &local, Instant::now(), &SessionConfig::default());
});
