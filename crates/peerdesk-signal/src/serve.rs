//! The accept loop: limits on connections (per address and in all), timeouts on the TLS and
//! HTTP handshakes (a client that connects and says nothing is closed), and TLS through rustls
//! when configured (a certificate of the user's, or one made for a LAN).
//!
//! A connection's slot is held for as long as its WebSocket lives, so the per-address limit
//! counts open signaling connections, not just HTTP requests.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls::ServerConfig;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tower::Service;
use tracing::{debug, info, warn};

use crate::SignalConfig;
use crate::metrics::Counters;
use crate::ws::Hub;

/// How the listener is served.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// Connections at once, in all.
    pub max_connections: usize,
    /// Connections at once from one IP address.
    pub max_connections_per_ip: usize,
    /// Time for the TLS handshake and for a request's headers.
    pub handshake_timeout: Duration,
    /// TLS, when set.
    pub tls: Option<Arc<ServerConfig>>,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            max_connections: 20_000,
            max_connections_per_ip: 64,
            handshake_timeout: Duration::from_secs(10),
            tls: None,
        }
    }
}

/// Counts connections per address; a [`Slot`] gives its place back when dropped.
#[derive(Debug)]
struct Limiter {
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    max_per_ip: usize,
    max_total: usize,
    counters: Arc<Counters>,
}

/// One admitted connection's place. Travels with the connection's requests, so a WebSocket
/// keeps it until it closes.
#[derive(Debug)]
pub struct Slot {
    ip: IpAddr,
    limiter: Arc<Limiter>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self.limiter.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
        self.limiter.counters.connections_open.dec();
    }
}

/// A connection's slot, as a request extension.
#[derive(Clone, Debug)]
pub struct ConnSlot(pub Arc<Slot>);

impl Limiter {
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut map = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        if self.counters.connections_open.get() as usize >= self.max_total {
            self.counters.refused_total_limit.inc();
            return None;
        }
        let n = map.entry(ip).or_default();
        if *n >= self.max_per_ip {
            self.counters.refused_per_ip.inc();
            return None;
        }
        *n += 1;
        self.counters.connections_open.inc();
        Some(Slot { ip, limiter: self.clone() })
    }
}

/// The hub of a server: its rooms its own, or, with `redis` (`redis://HOST:PORT` and how long
/// presence lasts without a heartbeat), shared with every instance using that Redis.
pub async fn hub(config: SignalConfig, redis: Option<(String, Duration)>) -> Result<Arc<Hub>, String> {
    let counters = Arc::new(Counters::default());
    let Some((url, ttl)) = redis else {
        return Ok(Arc::new(Hub::new(config, counters)));
    };
    let (bp, envelopes) = crate::backplane::Backplane::connect(&url, ttl, counters.clone()).await?;
    info!(
        instance = bp.instance(),
        "rooms shared through Redis at {} (presence lasts {} s without a heartbeat)",
        crate::backplane::redacted(&url),
        ttl.as_secs_f32()
    );
    Ok(Hub::shared(config, counters, bp, envelopes))
}

/// Serves the signaling server on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    hub: Arc<Hub>,
    options: ServeOptions,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let counters = hub.counters().clone();
    let app = crate::routes(hub);
    let limiter = Arc::new(Limiter {
        per_ip: Mutex::new(HashMap::new()),
        max_per_ip: options.max_connections_per_ip,
        max_total: options.max_connections,
        counters: counters.clone(),
    });
    let acceptor = options.tls.clone().map(TlsAcceptor::from);
    tokio::pin!(shutdown);
    loop {
        let (stream, addr) = tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: let some close, then go on.
                    warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        counters.connections_total.inc();
        let Some(slot) = limiter.admit(addr.ip()) else {
            debug!(%addr, "refused a connection over the limits");
            if acceptor.is_none() {
                tokio::spawn(refuse(stream));
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_one(
            stream,
            addr,
            app.clone(),
            acceptor.clone(),
            options.handshake_timeout,
            slot,
            counters.clone(),
        ));
    }
}

/// Tells a plain-HTTP client over the limit so, briefly, and closes.
async fn refuse(mut stream: TcpStream) {
    let answer = b"HTTP/1.1 429 Too Many Requests\r\ncontent-type: text/plain\r\ncontent-length: 40\r\nconnection: close\r\n\r\ntoo many connections from this address\r\n";
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(answer)).await;
}

async fn serve_one(
    stream: TcpStream,
    addr: SocketAddr,
    app: Router,
    acceptor: Option<TlsAcceptor>,
    timeout: Duration,
    slot: Slot,
    counters: Arc<Counters>,
) {
    let slot = ConnSlot(Arc::new(slot));
    match acceptor {
        None => http(TokioIo::new(stream), app, timeout, slot).await,
        Some(acceptor) => match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => http(TokioIo::new(tls), app, timeout, slot).await,
            Ok(Err(e)) => {
                counters.tls_failed.inc();
                debug!(%addr, "TLS handshake failed: {e}");
            }
            Err(_) => {
                counters.tls_failed.inc();
                debug!(%addr, "TLS handshake timed out");
            }
        },
    }
}

async fn http<I>(io: I, app: Router, timeout: Duration, slot: ConnSlot)
where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(slot.clone());
        let mut app = app.clone();
        async move { app.call(req).await }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(timeout)
        .serve_connection(io, service)
        .with_upgrades();
    if let Err(e) = conn.await {
        debug!("connection ended: {e}");
    }
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A PEM file could not be read.
    #[error("{path}: {what}")]
    Pem {
        /// The file.
        path: String,
        /// What was wrong.
        what: String,
    },
    /// rustls refused the certificate or key.
    #[error("the certificate and key do not make a TLS configuration: {0}")]
    Config(#[from] rustls::Error),
    /// A certificate could not be made.
    #[error("cannot make a certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

fn config(
    certs: Vec<rustls_pki_types::CertificateDer<'static>>,
    key: rustls_pki_types::PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// TLS from a certificate chain and a private key in PEM files.
pub fn tls_from_pem(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    use rustls_pki_types::pem::PemObject;
    let pem_err = |path: &Path, e: rustls_pki_types::pem::Error| TlsError::Pem {
        path: path.display().to_string(),
        what: e.to_string(),
    };
    let certs = rustls_pki_types::CertificateDer::pem_file_iter(cert)
        .map_err(|e| pem_err(cert, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(cert, e))?;
    if certs.is_empty() {
        return Err(TlsError::Pem { path: cert.display().to_string(), what: "no certificate in it".into() });
    }
    let key_der = rustls_pki_types::PrivateKeyDer::from_pem_file(key).map_err(|e| pem_err(key, e))?;
    config(certs, key_der)
}

/// A certificate of the server's own, for a LAN.
#[derive(Debug)]
pub struct SelfSigned {
    /// The TLS configuration.
    pub config: Arc<ServerConfig>,
    /// The certificate (PEM), for hosts to trust (`peerdesk host --server-ca`).
    pub cert_path: std::path::PathBuf,
    /// Its SHA-256 fingerprint, for people to compare with what the browser shows.
    pub fingerprint: String,
    /// Whether it was made now (else it was kept from before).
    pub new: bool,
}

/// The self-signed certificate kept in `dir` (`server-cert.pem`, `server-key.pem` readable
/// by the owner only, `server-cert.names`), made anew when missing or when `names` changed, so
/// browsers that accepted it once keep accepting it.
pub fn tls_self_signed(dir: &Path, names: Vec<String>) -> Result<SelfSigned, TlsError> {
    let io = |path: &Path, e: std::io::Error| TlsError::Pem {
        path: path.display().to_string(),
        what: e.to_string(),
    };
    let cert_path = dir.join("server-cert.pem");
    let key_path = dir.join("server-key.pem");
    let names_path = dir.join("server-cert.names");
    let wanted = names.join("\n");
    let kept = std::fs::read_to_string(&names_path).is_ok_and(|n| n == wanted)
        && cert_path.exists()
        && key_path.exists();
    if !kept {
        let made = rcgen::generate_simple_self_signed(names)?;
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        write_private(&key_path, made.signing_key.serialize_pem().as_bytes())
            .map_err(|e| io(&key_path, e))?;
        std::fs::write(&cert_path, made.cert.pem()).map_err(|e| io(&cert_path, e))?;
        std::fs::write(&names_path, &wanted).map_err(|e| io(&names_path, e))?;
    }
    let config = tls_from_pem(&cert_path, &key_path)?;
    use rustls_pki_types::pem::PemObject;
    let der = rustls_pki_types::CertificateDer::from_pem_file(&cert_path)
        .map_err(|e| TlsError::Pem { path: cert_path.display().to_string(), what: e.to_string() })?;
    Ok(SelfSigned { config, fingerprint: sha256_hex(&der), cert_path, new: !kept })
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(bytes)
}

/// SHA-256 of `bytes` as colon-separated upper-case hex.
fn sha256_hex(bytes: &[u8]) -> String {
    let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    hash.as_ref().iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}
