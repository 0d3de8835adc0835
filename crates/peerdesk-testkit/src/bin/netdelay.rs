//! `netdelay --queue N --delay-ms D [--seconds S]`: delays packets in user space, for benchmarks
//! in a network namespace (this machine's kernel has no netem). An iptables rule sends packets
//! to NFQUEUE N (`-j NFQUEUE --queue-num N --queue-bypass`); each is let through D ms after it
//! arrived, in order. Prints `{"type":"ready"}` once bound; stops after S seconds (default 600)
//! or when killed, and the bypass lets packets through unharmed from then on.
//!
//! Not part of peerdesk: a test tool. Its wait between checks (at most 200 µs) adds that much
//! jitter, well under the delays it makes.

#[cfg(target_os = "linux")]
use std::collections::VecDeque;
#[cfg(target_os = "linux")]
use std::time::{Duration, Instant};

#[cfg(target_os = "linux")]
use nfq::{Queue, Verdict};

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("netdelay needs Linux (NFQUEUE)");
    std::process::exit(2);
}

#[cfg(target_os = "linux")]
fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

#[cfg(target_os = "linux")]
fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let number = |name: &str, default: u64| -> u64 {
        arg(&args, name).map_or(default, |v| v.parse().unwrap_or_else(|_| panic!("{name} takes a number")))
    };
    let queue_num = u16::try_from(number("--queue", 0)).unwrap_or(0);
    let delay = Duration::from_millis(number("--delay-ms", 20));
    let stop_at = Instant::now() + Duration::from_secs(number("--seconds", 600));

    let mut queue = Queue::open()?;
    queue.bind(queue_num)?;
    // Headers only (the payload is not looked at); a full queue lets packets pass.
    queue.set_copy_range(queue_num, 0)?;
    queue.set_fail_open(queue_num, true)?;
    queue.set_queue_max_len(queue_num, 20_000)?;
    queue.set_nonblocking(true);
    println!("{{\"type\":\"ready\"}}");

    let mut held = VecDeque::new();
    let mut passed = 0u64;
    while Instant::now() < stop_at {
        loop {
            match queue.recv() {
                Ok(mut msg) => {
                    msg.set_verdict(Verdict::Accept);
                    held.push_back((Instant::now() + delay, msg));
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        let now = Instant::now();
        while held.front().is_some_and(|(due, _)| *due <= now) {
            if let Some((_, msg)) = held.pop_front() {
                queue.verdict(msg)?;
                passed += 1;
            }
        }
        let wait =
            held.front().map_or(Duration::from_micros(200), |(due, _)| due.saturating_duration_since(now));
        std::thread::sleep(wait.min(Duration::from_micros(200)));
    }
    for (_, msg) in held {
        queue.verdict(msg)?;
    }
    eprintln!("netdelay: {passed} packets delayed by {} ms", delay.as_millis());
    Ok(())
}
