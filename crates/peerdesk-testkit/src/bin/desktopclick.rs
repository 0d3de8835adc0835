//! `desktopclick [--after S] [--hold S] X,Y [X,Y ...]`: clicks at points of a GNOME (mutter)
//! session's screen the way a user would, through mutter's own remote desktop D-Bus API (which
//! asks no one): the tests answer the desktop's "Share your screen" dialog with it. Waits S
//! seconds first (default 2), clicks each point (moving there from the top-left corner) half a
//! second apart, prints `{"type":"clicked"}`, and keeps the session for `--hold` seconds (default
//! 5; it ends with this program's D-Bus connection).
//!
//! Not part of peerdesk: a test tool. Runs inside the session (its D-Bus session bus).

use std::time::Duration;

fn arg(args: &[String], name: &str) -> Option<f64> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok())
}

const DEST: &str = "org.gnome.Mutter.RemoteDesktop";
/// The left button (linux/input-event-codes.h BTN_LEFT).
const BTN_LEFT: i32 = 0x110;

async fn click(points: &[(f64, f64)]) -> zbus::Result<()> {
    let conn = zbus::Connection::session().await?;
    let rd = zbus::Proxy::new(&conn, DEST, "/org/gnome/Mutter/RemoteDesktop", DEST).await?;
    let path: zbus::zvariant::OwnedObjectPath = rd.call("CreateSession", &()).await?;
    let session = zbus::Proxy::new(&conn, DEST, path, "org.gnome.Mutter.RemoteDesktop.Session").await?;
    let _: () = session.call("Start", &()).await?;
    for &(x, y) in points {
        // Absolute motion needs a screen cast stream; relative motion from the corner does not.
        let _: () = session.call("NotifyPointerMotionRelative", &(-100_000.0f64, -100_000.0f64)).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _: () = session.call("NotifyPointerMotionRelative", &(x, y)).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let _: () = session.call("NotifyPointerButton", &(BTN_LEFT, true)).await?;
        let _: () = session.call("NotifyPointerButton", &(BTN_LEFT, false)).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!("{{\"type\":\"clicked\"}}");
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let after = arg(&args, "--after").unwrap_or(2.0);
    let hold = arg(&args, "--hold").unwrap_or(5.0);
    let points: Vec<(f64, f64)> = args
        .iter()
        .filter_map(|a| a.split_once(','))
        .filter_map(|(x, y)| Some((x.parse().ok()?, y.parse().ok()?)))
        .collect();
    if points.is_empty() {
        eprintln!("usage: desktopclick [--after S] [--hold S] X,Y [X,Y ...]");
        std::process::exit(2);
    }
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("desktopclick: {e}");
            std::process::exit(1);
        }
    };
    let result = rt.block_on(async {
        tokio::time::sleep(Duration::from_secs_f64(after)).await;
        click(&points).await?;
        tokio::time::sleep(Duration::from_secs_f64(hold)).await;
        Ok::<_, zbus::Error>(())
    });
    if let Err(e) = result {
        eprintln!("desktopclick: {e}");
        std::process::exit(1);
    }
}
