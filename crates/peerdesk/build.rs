//! Windows builds with mingw-w64: the C++ runtime of openh264 and the stack protector of the
//! Opus build linked statically, after everything that needs them, so `peerdesk.exe` needs no
//! DLL beside it (only the system's own).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") == "windows" && var("CARGO_CFG_TARGET_ENV") == "gnu" {
        for arg in [
            "-Wl,-Bstatic",
            "-lstdc++",
            "-lssp",
            "-lgcc",
            "-lgcc_eh",
            "-Wl,-Bdynamic",
            "-lmingw32",
            "-lmingwex",
            "-lmsvcrt",
            "-ladvapi32",
            "-lkernel32",
        ] {
            println!("cargo:rustc-link-arg-bins={arg}");
        }
    }
}
