//! X11 capture against a real Xvfb of the test's own: the captured frame shows what an X
//! client painted, where it painted it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use peerdesk_capture::platform::X11Capturer;
use peerdesk_capture::{Capturer, Frame, MonitorChoice};
use peerdesk_testkit::{Xvfb, near, paint};

const BG: [u8; 3] = [20, 20, 20];
const FIELDS: [peerdesk_testkit::Field; 3] =
    [(10, 20, 100, 50, [230, 40, 40]), (300, 200, 64, 64, [40, 220, 60]), (600, 400, 40, 30, [50, 80, 240])];

fn rgb(f: &Frame, x: u32, y: u32) -> [u8; 3] {
    let p = f.pixel(x, y).expect("inside the frame");
    [p[2], p[1], p[0]]
}

fn next(c: &mut X11Capturer) -> Frame {
    for _ in 0..50 {
        if let Some(f) = c.next_frame(Instant::now() + Duration::from_millis(100)).expect("capture") {
            return f;
        }
    }
    panic!("no frame within 5 s");
}

#[test]
fn captures_what_a_client_painted_where_it_painted_it() {
    let x = Xvfb::start(800, 600);
    let (conn, screen) = x.connect();
    paint(&conn, screen, BG, &FIELDS);
    let mut c = X11Capturer::open(Some(&x.display), MonitorChoice::Primary).expect("opens");
    assert_eq!(c.size(), (800, 600));
    assert!(c.uses_shm() && c.uses_damage(), "Xvfb has MIT-SHM and DAMAGE, so both are used");
    let f = next(&mut c);
    assert_eq!((f.width, f.height), (800, 600));
    for &(fx, fy, w, h, colour) in &FIELDS {
        let (fx, fy) = (fx as u32, fy as u32);
        let (cx, cy) = (fx + u32::from(w) / 2, fy + u32::from(h) / 2);
        assert!(near(rgb(&f, cx, cy), colour, 0), "centre of {colour:?}: {:?}", rgb(&f, cx, cy));
        // Exact edges: the first pixel inside, the one before it outside.
        assert!(near(rgb(&f, fx, fy), colour, 0));
        assert!(near(rgb(&f, fx - 1, fy), BG, 0));
    }
}

#[test]
fn a_change_is_captured_at_once_and_an_idle_screen_is_not_recaptured() {
    let x = Xvfb::start(640, 480);
    let (conn, screen) = x.connect();
    let win = paint(&conn, screen, BG, &[]);
    let mut c = X11Capturer::open(Some(&x.display), MonitorChoice::Primary).expect("opens");
    c.set_min_interval(Duration::from_millis(5));
    next(&mut c);
    // Nothing changes: no frame within 300 ms (the idle repeat is 1 s away).
    let quiet = c.next_frame(Instant::now() + Duration::from_millis(300)).expect("capture");
    assert!(quiet.is_none(), "an unchanged screen is not captured again");
    for (i, colour) in [[200, 10, 10], [10, 200, 10], [10, 10, 200]].into_iter().enumerate() {
        peerdesk_testkit::draw(&conn, win, &[(100, 100, 50, 50, colour)]);
        let t0 = Instant::now();
        let f = c
            .next_frame(Instant::now() + Duration::from_millis(500))
            .expect("capture")
            .unwrap_or_else(|| panic!("change {i} was not captured within 500 ms"));
        assert!(near(rgb(&f, 125, 125), colour, 0), "change {i}: {:?}", rgb(&f, 125, 125));
        assert!(t0.elapsed() < Duration::from_millis(500));
    }
}

#[test]
fn without_mit_shm_the_slower_get_image_still_captures_right() {
    let x = Xvfb::start_with(640, 480, &["-extension", "MIT-SHM"]);
    let (conn, screen) = x.connect();
    paint(&conn, screen, BG, &FIELDS);
    let mut c = X11Capturer::open(Some(&x.display), MonitorChoice::Primary).expect("opens");
    assert!(!c.uses_shm(), "no MIT-SHM on this server");
    let f = next(&mut c);
    let (fx, fy, w, h, colour) = FIELDS[1];
    assert!(near(rgb(&f, fx as u32 + u32::from(w) / 2, fy as u32 + u32::from(h) / 2), colour, 0));
}

#[test]
fn no_display_and_a_bad_display_are_clear_errors() {
    let err = X11Capturer::open(Some(":9876"), MonitorChoice::Primary).expect_err("no such display");
    assert!(err.to_string().contains("cannot open X display :9876"), "{err}");
    let x = Xvfb::start(320, 240);
    let err =
        X11Capturer::open(Some(&x.display), MonitorChoice::Name("DP-7".into())).expect_err("no such monitor");
    assert!(err.to_string().contains("no monitor DP-7"), "{err}");
}
