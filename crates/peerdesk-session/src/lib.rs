//! The host's side of one viewer's WebRTC connection, sans-IO.
//!
//! Owns: the `str0m::Rtc` for one viewer, the answer to its offer, the video writer (H.264 with
//! playout-delay 0/0 on every frame), the input data channels and their decoding, and the
//! [`KeyframeThrottle`] that turns the viewer's PLI/FIR into at most one keyframe request per
//! interval. With [`BandwidthConfig`] on, str0m estimates the bandwidth from the viewer's
//! transport-wide feedback (TWCC) and paces packets; [`Session::network`] reports the estimate,
//! loss and round trip for the host's rate control, and [`EstimateCheck`] restarts the estimator
//! when it drops without a queue or loss on the path to show for it (a busy CPU, not congestion). While the viewer reports loss, every RTP
//! packet goes out twice ([`Redundancy`]), so a lost packet rarely stalls the picture.
//!
//! Also [`nat`]: the viewer's server-reflexive and relayed candidates (STUN, TURN), sans-IO.
//!
//! Does not own: sockets, threads or clocks. Every entry point takes `now`; the host's runtime
//! moves bytes and time in and out.
//!
//! Drive loop (see [`Session`]):
//! 1. feed one input: [`Session::handle_receive`], [`Session::handle_timeout`],
//!    [`Session::send_video`] or [`Session::add_remote_candidate`];
//! 2. send every [`Session::poll_transmit`], act on every [`Session::poll_event`];
//! 3. wait until [`Session::poll_timeout`] or the next input, then go to 1.

pub mod nat;
mod redundancy;
mod session;
mod throttle;
mod verdict;

pub use redundancy::{Redundancy, is_rtp};
pub use session::{
    AudioFrame, BandwidthConfig, NetworkStats, Session, SessionConfig, SessionCounters, SessionError,
    SessionEvent, Transmit, VideoCodec, VideoFrame,
};
pub use throttle::KeyframeThrottle;
pub use verdict::{EstimateCheck, Verdict};

/// Installs str0m's crypto provider for the process (aws-lc-rs). Idempotent.
pub fn init_crypto() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| str0m::crypto::from_feature_flags().install_process_default());
}
