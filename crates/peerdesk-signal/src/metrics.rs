//! The server's counters: every limit that refuses or closes something counts it here, and
//! `/metrics` shows them in the Prometheus text format.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// One counter or gauge.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes one away (gauges).
    pub fn dec(&self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }

    /// Adds `n`.
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }

    /// Sets a gauge.
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }

    /// The value now.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Everything counted. Names follow Prometheus conventions (`_total` for counters).
#[derive(Debug, Default)]
pub struct Counters {
    /// TCP connections accepted and being served.
    pub connections_open: Counter,
    /// TCP connections accepted, ever.
    pub connections_total: Counter,
    /// Refused: the address had as many connections as allowed.
    pub refused_per_ip: Counter,
    /// Refused: the server had as many connections as allowed.
    pub refused_total_limit: Counter,
    /// Closed: the TLS handshake failed or took too long.
    pub tls_failed: Counter,
    /// Refused: a WebSocket upgrade from a page of another origin.
    pub refused_origin: Counter,
    /// WebSocket connections open.
    pub websockets_open: Counter,
    /// Messages read from clients.
    pub messages_received: Counter,
    /// Messages delivered to another peer.
    pub messages_relayed: Counter,
    /// Messages answered with an `error`.
    pub messages_refused: Counter,
    /// Messages dropped for going over the per-connection rate.
    pub rate_limited: Counter,
    /// Connections closed for abuse: refused messages in a row, a frame over the size limit.
    pub closed_abuse: Counter,
    /// Connections closed for sending no `join` in time.
    pub closed_join_timeout: Counter,
    /// Connections closed for silence (no frame, not even a pong).
    pub closed_idle: Counter,
    /// Peers dropped for reading too slowly.
    pub closed_slow_reader: Counter,
    /// 1 when rooms are shared through Redis (`serve --redis`): the backplane lines show.
    pub backplane_enabled: Counter,
    /// 1 while Redis answers.
    pub backplane_up: Counter,
    /// The last ping's round trip through Redis pub/sub, in microseconds.
    pub backplane_lag_micros: Counter,
    /// Messages published to other instances.
    pub backplane_published: Counter,
    /// Messages received from other instances.
    pub backplane_received: Counter,
    /// Redis commands that failed, and messages that could not be read.
    pub backplane_errors: Counter,
    /// Messages dropped because Redis fell too far behind.
    pub backplane_dropped: Counter,
}

impl Counters {
    /// The Prometheus text exposition of every counter, with `rooms` as a gauge.
    pub fn render(&self, rooms: usize) -> String {
        let mut out = String::new();
        let mut one = |name: &str, kind: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP peerdesk_{name} {help}\n# TYPE peerdesk_{name} {kind}\npeerdesk_{name} {value}"
            );
        };
        one("connections_open", "gauge", "TCP connections being served.", self.connections_open.get());
        one("connections_total", "counter", "TCP connections accepted.", self.connections_total.get());
        one(
            "refused_per_ip_total",
            "counter",
            "Connections refused: the address was at its limit.",
            self.refused_per_ip.get(),
        );
        one(
            "refused_limit_total",
            "counter",
            "Connections refused: the server was at its limit.",
            self.refused_total_limit.get(),
        );
        one(
            "tls_failed_total",
            "counter",
            "TLS handshakes that failed or took too long.",
            self.tls_failed.get(),
        );
        one(
            "refused_origin_total",
            "counter",
            "WebSocket upgrades refused for their Origin.",
            self.refused_origin.get(),
        );
        one("websockets_open", "gauge", "WebSocket connections open.", self.websockets_open.get());
        one("rooms", "gauge", "Rooms with anyone in them.", rooms as u64);
        one("messages_received_total", "counter", "Signaling messages read.", self.messages_received.get());
        one(
            "messages_relayed_total",
            "counter",
            "Signaling messages delivered to a peer.",
            self.messages_relayed.get(),
        );
        one(
            "messages_refused_total",
            "counter",
            "Signaling messages answered with an error.",
            self.messages_refused.get(),
        );
        one(
            "rate_limited_total",
            "counter",
            "Messages dropped over the per-connection rate.",
            self.rate_limited.get(),
        );
        one("closed_abuse_total", "counter", "Connections closed for abuse.", self.closed_abuse.get());
        one(
            "closed_join_timeout_total",
            "counter",
            "Connections closed without a join in time.",
            self.closed_join_timeout.get(),
        );
        one("closed_idle_total", "counter", "Connections closed after silence.", self.closed_idle.get());
        one(
            "closed_slow_reader_total",
            "counter",
            "Peers dropped for reading too slowly.",
            self.closed_slow_reader.get(),
        );
        if self.backplane_enabled.get() == 1 {
            self.render_backplane(&mut out);
        }
        out
    }

    fn render_backplane(&self, out: &mut String) {
        let mut one = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(
                out,
                "# HELP peerdesk_{name} {help}\n# TYPE peerdesk_{name} {kind}\npeerdesk_{name} {value}"
            );
        };
        one("backplane_up", "gauge", "1 while Redis answers.", self.backplane_up.get().to_string());
        one(
            "backplane_lag_seconds",
            "gauge",
            "Round trip of the last ping through Redis pub/sub.",
            format!("{:.6}", self.backplane_lag_micros.get() as f64 / 1e6),
        );
        one(
            "backplane_published_total",
            "counter",
            "Messages published to other instances.",
            self.backplane_published.get().to_string(),
        );
        one(
            "backplane_received_total",
            "counter",
            "Messages received from other instances.",
            self.backplane_received.get().to_string(),
        );
        one(
            "backplane_errors_total",
            "counter",
            "Redis commands that failed; messages that could not be read.",
            self.backplane_errors.get().to_string(),
        );
        one(
            "backplane_dropped_total",
            "counter",
            "Messages dropped: Redis fell too far behind.",
            self.backplane_dropped.get().to_string(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let c = Counters::default();
        c.refused_per_ip.inc();
        c.refused_per_ip.inc();
        c.connections_open.inc();
        c.connections_open.dec();
        let text = c.render(3);
        assert!(
            text.contains("# TYPE peerdesk_refused_per_ip_total counter\npeerdesk_refused_per_ip_total 2\n"),
            "{text}"
        );
        assert!(text.contains("peerdesk_connections_open 0\n"));
        assert!(text.contains("peerdesk_rooms 3\n"));
        assert!(!text.contains("backplane"), "no backplane lines without one");
        c.backplane_enabled.set(1);
        c.backplane_lag_micros.set(1500);
        assert!(c.render(0).contains("peerdesk_backplane_lag_seconds 0.001500\n"));
    }
}
