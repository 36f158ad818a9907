//! Optional TLS for the service's own listeners: the HTTP API (`[http]`) and the MLLP listeners
//! (`[adt]`, `[pcd01]`), each configured with `tls_cert_file` and `tls_key_file` (PEM; the
//! certificate file may hold the chain). rustls with the ring provider, as for MQTT.
//!
//! - [`acceptor`] reads the files once at start-up; an unreadable or invalid file is a start-up
//!   error naming it.
//! - [`TlsListener`] is an [`axum::serve::Listener`]: it accepts TCP connections and runs each
//!   handshake in its own task (bounded by [`HANDSHAKE_TIMEOUT`]), so a slow or broken client
//!   never holds up the others. A failed handshake is logged at WARN (peer address only) and
//!   counted; it never stops the listener.
//!
//! The MLLP listeners use `wardstream_protocols::mllp::serve_tls` with the same acceptor.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use anyhow::{Context, bail};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// Longest a client may take to complete the TLS handshake of the HTTP API.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// The certificate and key of one listener, when TLS is configured for it. `section` names the
/// configuration table in errors (e.g. `http`).
pub fn configured(
    section: &str,
    cert: Option<&Path>,
    key: Option<&Path>,
    alpn: &[&[u8]],
) -> anyhow::Result<Option<TlsAcceptor>> {
    match (cert, key) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => acceptor(cert, key, alpn).map(Some),
        _ => bail!("[{section}] needs both tls_cert_file and tls_key_file for TLS (or neither)"),
    }
}

/// A TLS acceptor from a PEM certificate chain and a PEM private key; `alpn`: the application
/// protocols offered (e.g. `http/1.1`), none for MLLP.
pub fn acceptor(cert: &Path, key: &Path, alpn: &[&[u8]]) -> anyhow::Result<TlsAcceptor> {
    let certs = read_certs(cert)?;
    let key_der = PrivateKeyDer::from_pem_file(key)
        .map_err(|e| anyhow::anyhow!("reading the TLS private key {}: {e}", key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(certs, key_der)
        .with_context(|| format!("TLS certificate {} and key {} do not fit", cert.display(), key.display()))?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn read_certs(path: &Path) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow::anyhow!("reading the TLS certificate {}: {e}", path.display()))?;
    if certs.is_empty() {
        bail!("reading the TLS certificate {}: no certificate in the file", path.display());
    }
    Ok(certs)
}

/// Counters of a TLS listener.
#[derive(Debug, Default)]
pub struct TlsStats {
    /// Handshakes that failed or timed out (each ends only that connection).
    pub handshake_failures: AtomicU64,
}

type Handshake = (std::io::Result<TlsStream<TcpStream>>, SocketAddr);

/// A TCP listener whose connections are served once their TLS handshake completes (see the
/// module docs). Wrap it with `ListenerExt::tap_io` to use `ConnectInfo<SocketAddr>`.
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    pending: JoinSet<Handshake>,
    stats: Arc<TlsStats>,
}

impl TlsListener {
    /// Serves TLS on `tcp` with `acceptor`, counting into `stats`.
    pub fn new(tcp: TcpListener, acceptor: TlsAcceptor, stats: Arc<TlsStats>) -> TlsListener {
        TlsListener { tcp, acceptor, pending: JoinSet::new(), stats }
    }

    fn finished(
        &self,
        joined: Result<Handshake, tokio::task::JoinError>,
    ) -> Option<(TlsStream<TcpStream>, SocketAddr)> {
        match joined {
            Ok((Ok(stream), peer)) => Some((stream, peer)),
            Ok((Err(error), peer)) => {
                self.stats.handshake_failures.fetch_add(1, Relaxed);
                tracing::warn!(%peer, %error, "HTTP API TLS handshake failed; connection closed");
                None
            }
            Err(error) => {
                self.stats.handshake_failures.fetch_add(1, Relaxed);
                tracing::warn!(%error, "HTTP API TLS handshake task failed");
                None
            }
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        // Cancel-safe: TcpListener::accept and JoinSet::join_next lose nothing when dropped.
        loop {
            tokio::select! {
                accepted = self.tcp.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let acceptor = self.acceptor.clone();
                        self.pending.spawn(async move {
                            let done = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream))
                                .await
                                .unwrap_or_else(|_| Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out")));
                            (done, peer)
                        });
                    }
                    Err(error) => {
                        tracing::warn!(%error, "HTTP API accept failed; retrying");
                        tokio::time::sleep(ACCEPT_BACKOFF).await;
                    }
                },
                Some(joined) = self.pending.join_next(), if !self.pending.is_empty() => {
                    if let Some(done) = self.finished(joined) {
                        return done;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_files_is_no_tls_and_half_a_configuration_or_a_missing_file_is_an_error_naming_it() {
        assert!(configured("http", None, None, &[]).unwrap().is_none());
        let cert = Path::new("/nonexistent/wardstream-cert.pem");
        let key = Path::new("/nonexistent/wardstream-key.pem");
        let half = configured("adt", Some(cert), None, &[]).err().unwrap().to_string();
        assert_eq!(half, "[adt] needs both tls_cert_file and tls_key_file for TLS (or neither)");
        let missing = configured("pcd01", Some(cert), Some(key), &[]).err().unwrap().to_string();
        assert!(missing.starts_with("reading the TLS certificate /nonexistent/wardstream-cert.pem: "), "{missing}");
    }
}
