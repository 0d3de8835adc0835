//! openh264's build silently drops its assembly when `nasm` is missing, which makes encoding
//! about 2.5x slower. Refuse to build that way unless asked to.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=PEERDESK_ALLOW_NO_NASM");
    println!("cargo:rustc-check-cfg=cfg(peerdesk_nasm)");
    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    if !matches!(arch.as_str(), "x86_64" | "x86") {
        return;
    }
    let has_nasm = Command::new("nasm").arg("-v").output().is_ok_and(|o| o.status.success());
    if has_nasm {
        println!("cargo:rustc-cfg=peerdesk_nasm");
    } else if std::env::var_os("PEERDESK_ALLOW_NO_NASM").is_some() {
        println!(
            "cargo:warning=nasm not found: openh264 builds without assembly and encodes about 2.5x slower"
        );
    } else {
        panic!(
            "nasm is not installed, so openh264 would build without its assembly (about 2.5x slower).\n\
             Run scripts/setup.sh (or apt-get install nasm), or set PEERDESK_ALLOW_NO_NASM=1 to build anyway."
        );
    }
}
