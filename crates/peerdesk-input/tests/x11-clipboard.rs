//! The X11 clipboard against a real Xvfb and a real X client (`xclip`): a copy on the display
//! reaches the callback, text we set is what other clients paste, and copies over the limit
//! are skipped, not cut.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use peerdesk_input::platform::open_clipboard;
use peerdesk_testkit::Xvfb;

/// `xclip` copies `text` to the CLIPBOARD of `display` (it stays the owner in the background
/// until another client copies).
fn xclip_copy(display: &str, text: &str) {
    let mut child = Command::new("xclip")
        .args(["-selection", "clipboard", "-i", "-display", display])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("xclip runs (scripts/setup.sh --test installs it)");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    assert!(child.wait().unwrap().success());
}

fn xclip_paste(display: &str, target: &str) -> String {
    let out = Command::new("xclip")
        .args(["-selection", "clipboard", "-o", "-t", target, "-display", display])
        .output()
        .expect("xclip runs");
    assert!(out.status.success(), "xclip -o failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn copies_cross_both_ways() {
    let x = Xvfb::start(320, 240);
    let (tx, rx) = mpsc::channel();
    let clip = open_clipboard(Some(&x.display), 1000, Box::new(move |t| tx.send(t).unwrap())).unwrap();

    // A copy on the host's desktop reaches us, UTF-8 intact.
    xclip_copy(&x.display, "copied on the host: h\u{e9}llo \u{2713}\nsecond line");
    let got = rx.recv_timeout(Duration::from_secs(5)).expect("the copy is seen");
    assert_eq!(got, "copied on the host: h\u{e9}llo \u{2713}\nsecond line");

    // Over the limit: skipped whole, not cut; the next copy still comes through.
    xclip_copy(&x.display, &"x".repeat(1001));
    xclip_copy(&x.display, "small again");
    let got = rx.recv_timeout(Duration::from_secs(5)).expect("the next copy is seen");
    assert_eq!(got, "small again", "the text over the limit never arrives");

    // Text we set is what other clients paste, as UTF-8 and as Latin-1.
    clip.set_text("pasted from the viewer: gr\u{fc}\u{df}e \u{2603}").unwrap();
    assert_eq!(xclip_paste(&x.display, "UTF8_STRING"), "pasted from the viewer: gr\u{fc}\u{df}e \u{2603}");
    let targets = xclip_paste(&x.display, "TARGETS");
    assert!(targets.contains("UTF8_STRING") && targets.contains("STRING"), "{targets}");
    let latin1 = Command::new("xclip")
        .args(["-selection", "clipboard", "-o", "-t", "STRING", "-display", &x.display])
        .output()
        .unwrap()
        .stdout;
    assert_eq!(latin1, b"pasted from the viewer: gr\xfc\xdfe ?");
    // Our own copy is not echoed back to the callback.
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err(), "our own text came back");

    // Someone else copies again: we lose the selection and see the new text.
    xclip_copy(&x.display, "the host copies again");
    assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), "the host copies again");
    assert_eq!(xclip_paste(&x.display, "UTF8_STRING"), "the host copies again");
}
