//! The XTest injector against a real Xvfb: it opens where XTEST exists and says clearly when
//! it does not.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use peerdesk_capture::MonitorChoice;
use peerdesk_input::InputError;
use peerdesk_input::platform::open_xtest;
use peerdesk_testkit::Xvfb;

#[test]
fn opens_where_xtest_exists() {
    let x = Xvfb::start(320, 240);
    assert!(open_xtest(Some(&x.display), &MonitorChoice::Primary).is_ok());
}

#[test]
fn a_server_without_xtest_is_reported_as_such() {
    let x = Xvfb::start_with(320, 240, &["-extension", "XTEST"]);
    let err = open_xtest(Some(&x.display), &MonitorChoice::Primary).map(|_| ()).expect_err("no XTEST");
    assert!(matches!(err, InputError::NoXTest), "{err}");
    assert!(err.to_string().contains("lacks the XTEST extension"));
}
