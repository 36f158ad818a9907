//! The MLLP TCP listener: accepts connections, decodes frames, parses each message, hands it to
//! an [`MllpHandler`] and writes the ACK the handler's [`Reply`] calls for.
//!
//! Per connection one task reads, decodes with [`MllpDecoder`] and handles the messages **in
//! order**: the next message is not handed over (and no more bytes are read) until the
//! previous one is acknowledged, so a slow handler slows its sender and nothing queues up
//! without bound. **The ACK is written only after the handler's future resolves**: that future
//! is where the caller makes the message durable. What never stops the listener:
//! - bytes outside frames (discarded and counted) and unfinished frames;
//! - a frame that is not an HL7 message: `AR` without MSA-2 ([`ack::build_unparsable`]);
//! - an oversize frame: skipped unbuffered and answered `AR` (with MSA-2 when the frame's
//!   first bytes hold a readable MSH);
//! - a peer that disconnects mid-frame, goes idle past `idle_timeout_s`, or fails a read or
//!   write: that connection ends, the others go on;
//! - a handler that panics: that connection ends without an ACK (the sender will resend),
//!   counted in `handler_panics`.
//!
//! With TLS ([`serve_tls`]) each connection's handshake runs in its own task (bounded by
//! `idle_timeout_s`); a failed handshake is logged, counted in `tls_handshake_failures` and
//! ends only that connection.
//!
//! Shutdown: when the `watch` value becomes `true` (or its sender is dropped) the listener stops
//! accepting; each connection finishes and acknowledges the message it is handling, then
//! closes; [`serve`] returns when all have.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::{JoinError, JoinSet};
use tokio_rustls::TlsAcceptor;
use tracing::{debug, warn};
use wardstream_pipeline::{Clock, SystemClock};

use super::codec::{Decoded, MllpDecoder, encode};
use super::{MllpConfig, MllpError, MllpStats};
use crate::hl7::Message;
use crate::hl7::ack::{self, AckCode, ErrorCode, Reply};

/// Bytes read from a connection at a time.
const READ_BUFFER_BYTES: usize = 16 * 1024;
/// Pause after a failed accept (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// What the listener gives each message to.
pub trait MllpHandler: Send + Sync + 'static {
    /// Handles one parsed message (`raw`: its bytes as received; `peer`: the sender's address)
    /// and says how to acknowledge it.
    ///
    /// Contract: called once per message, in arrival order for each connection; the ACK is
    /// written when the returned future resolves, so return [`Reply::accept`] only once the
    /// message is durable (or applied). `AE`/`AR` tell the sender not to resend it. Messages of
    /// different connections are handled concurrently.
    fn handle(&self, msg: Message, raw: Arc<[u8]>, peer: SocketAddr) -> impl Future<Output = Reply> + Send;
}

/// Binds `config.listen` and serves until shutdown (see [`serve`]).
pub async fn run<H: MllpHandler>(
    config: &MllpConfig,
    handler: Arc<H>,
    stats: Arc<MllpStats>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), MllpError> {
    config.validate()?;
    let listener = TcpListener::bind(&config.listen)
        .await
        .map_err(|source| MllpError::Bind { listen: config.listen.clone(), source })?;
    serve(listener, config, handler, stats, shutdown).await
}

/// Serves MLLP on a bound listener until `shutdown` becomes `true` (or its sender is dropped),
/// then waits for every connection to finish its current message. Errors only for an invalid
/// configuration; nothing a peer does ends it.
pub async fn serve<H: MllpHandler>(
    listener: TcpListener,
    config: &MllpConfig,
    handler: Arc<H>,
    stats: Arc<MllpStats>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), MllpError> {
    serve_with(listener, config, None, handler, stats, shutdown).await
}

/// As [`serve`], over TLS: every accepted connection first completes a TLS handshake with
/// `acceptor` (a failed one is logged and counted, and ends only that connection).
pub async fn serve_tls<H: MllpHandler>(
    listener: TcpListener,
    config: &MllpConfig,
    acceptor: TlsAcceptor,
    handler: Arc<H>,
    stats: Arc<MllpStats>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), MllpError> {
    serve_with(listener, config, Some(acceptor), handler, stats, shutdown).await
}

async fn serve_with<H: MllpHandler>(
    listener: TcpListener,
    config: &MllpConfig,
    tls: Option<TlsAcceptor>,
    handler: Arc<H>,
    stats: Arc<MllpStats>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), MllpError> {
    config.validate()?;
    let settings = Arc::new(Settings {
        max_frame_bytes: config.max_frame_bytes,
        idle: (config.idle_timeout_s > 0).then(|| Duration::from_secs(config.idle_timeout_s)),
        ids: ControlIds::new(),
    });
    let mut tasks = JoinSet::new();
    loop {
        tokio::select! {
            () = stopped(&mut shutdown) => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    stats.connection_opened();
                    let open = Open(Arc::clone(&stats));
                    let conn = Connection {
                        peer,
                        settings: Arc::clone(&settings),
                        handler: Arc::clone(&handler),
                        stats: Arc::clone(&stats),
                    };
                    tasks.spawn(conn.start(stream, tls.clone(), shutdown.clone(), open));
                }
                Err(error) => {
                    stats.io_error();
                    warn!(%error, "MLLP accept failed; retrying");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => reap(joined, &stats),
        }
    }
    drop(listener);
    while let Some(joined) = tasks.join_next().await {
        reap(joined, &stats);
    }
    Ok(())
}

/// Resolves once shutdown is asked for: the value is `true` or the sender is gone.
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

fn reap(joined: Result<(), JoinError>, stats: &MllpStats) {
    if let Err(error) = joined
        && error.is_panic()
    {
        stats.handler_panic();
        warn!(%error, "MLLP connection ended by a panic; its message was not acknowledged");
    }
}

/// Shared by every connection of a listener.
struct Settings {
    max_frame_bytes: usize,
    idle: Option<Duration>,
    ids: ControlIds,
}

/// MSH-10 of the ACKs: `A<start seconds, hex>.<n>` (at most 20 characters, unique per start).
struct ControlIds {
    prefix: String,
    next: AtomicU64,
}

impl ControlIds {
    fn new() -> ControlIds {
        let start = SystemClock.now_micros() / 1_000_000;
        ControlIds { prefix: format!("A{start:x}."), next: AtomicU64::new(1) }
    }

    fn next(&self) -> String {
        format!("{}{}", self.prefix, self.next.fetch_add(1, Relaxed))
    }
}

/// Keeps `connections_open` right however the connection task ends (panics included).
struct Open(Arc<MllpStats>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.connection_closed();
    }
}

struct Connection<H> {
    peer: SocketAddr,
    settings: Arc<Settings>,
    handler: Arc<H>,
    stats: Arc<MllpStats>,
}

impl<H: MllpHandler> Connection<H> {
    /// Runs the connection, after the TLS handshake when `tls` is set.
    async fn start(self, stream: TcpStream, tls: Option<TlsAcceptor>, mut shutdown: watch::Receiver<bool>, open: Open) {
        let Some(acceptor) = tls else {
            return self.run(stream, shutdown, open).await;
        };
        let handshake = async {
            match self.settings.idle {
                Some(idle) => tokio::time::timeout(idle, acceptor.accept(stream)).await.unwrap_or_else(|_| {
                    Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out"))
                }),
                None => acceptor.accept(stream).await,
            }
        };
        let handshake = tokio::select! {
            done = handshake => done,
            () = stopped(&mut shutdown) => return,
        };
        match handshake {
            Ok(stream) => self.run(stream, shutdown, open).await,
            Err(error) => {
                self.stats.tls_handshake_failure();
                warn!(peer = %self.peer, %error, "MLLP TLS handshake failed; connection closed");
            }
        }
    }

    async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        self,
        mut stream: S,
        mut shutdown: watch::Receiver<bool>,
        _open: Open,
    ) {
        let peer = self.peer;
        let mut decoder = MllpDecoder::new(self.settings.max_frame_bytes);
        let mut buf = vec![0u8; READ_BUFFER_BYTES];
        let mut discarded = 0;
        loop {
            while let Some(item) = decoder.next() {
                let ack = match item {
                    Decoded::Frame(bytes) => self.respond(bytes).await,
                    Decoded::Oversize { len, head } => self.oversize(len, &head),
                };
                let written = match stream.write_all(&encode(ack.as_bytes())).await {
                    Ok(()) => stream.flush().await,
                    Err(error) => Err(error),
                };
                if let Err(error) = written {
                    self.stats.io_error();
                    debug!(%peer, %error, "MLLP write failed; closing the connection");
                    return;
                }
                if *shutdown.borrow() {
                    return;
                }
            }
            let read = tokio::select! {
                read = read_within(&mut stream, &mut buf, self.settings.idle) => read,
                () = stopped(&mut shutdown) => return,
            };
            match read {
                Some(Ok(0)) => {
                    if decoder.finish() > 0 {
                        debug!(%peer, "MLLP peer disconnected in the middle of a frame");
                    }
                    while decoder.next().is_some() {
                        self.stats.oversize();
                    }
                    self.count_discarded(&decoder, &mut discarded);
                    return;
                }
                Some(Ok(n)) => {
                    self.stats.received(n);
                    decoder.push(buf.get(..n).unwrap_or_default());
                    self.count_discarded(&decoder, &mut discarded);
                }
                Some(Err(error)) => {
                    self.stats.io_error();
                    debug!(%peer, %error, "MLLP read failed; closing the connection");
                    return;
                }
                None => {
                    self.stats.idle_timeout();
                    debug!(%peer, "MLLP connection idle past idle_timeout_s; closing it");
                    return;
                }
            }
        }
    }

    /// Parses a frame, lets the handler decide, and builds the ACK.
    async fn respond(&self, bytes: Vec<u8>) -> String {
        self.stats.frame();
        let raw: Arc<[u8]> = Arc::from(bytes);
        match Message::parse(&raw) {
            Ok(msg) => {
                let reply = self.handler.handle(msg.clone(), Arc::clone(&raw), self.peer).await;
                self.stats.ack(reply.code);
                ack::build(&msg, &reply, &self.settings.ids.next(), SystemClock.now_micros())
            }
            Err(error) => {
                self.stats.parse_error();
                self.stats.ack(AckCode::Reject);
                warn!(peer = %self.peer, %error, "MLLP frame is not an HL7 v2 message; answered AR");
                ack::build_unparsable(
                    error.error_code(),
                    &error.to_string(),
                    &self.settings.ids.next(),
                    SystemClock.now_micros(),
                )
            }
        }
    }

    /// The `AR` for a frame over the maximum, answering its MSH-10 when its head is readable.
    fn oversize(&self, len: usize, head: &[u8]) -> String {
        self.stats.oversize();
        self.stats.ack(AckCode::Reject);
        let max = self.settings.max_frame_bytes;
        warn!(peer = %self.peer, len, max, "MLLP frame over max_frame_bytes skipped; answered AR");
        let reply = Reply::reject(
            ErrorCode::ApplicationInternal,
            format!("message of {len} bytes exceeds the maximum of {max} bytes (max_frame_bytes)"),
        );
        let (id, now) = (self.settings.ids.next(), SystemClock.now_micros());
        match Message::parse(head) {
            Ok(msg) => ack::build(&msg, &reply, &id, now),
            Err(_) => ack::build_unparsable(ErrorCode::ApplicationInternal, &reply.text, &id, now),
        }
    }

    fn count_discarded(&self, decoder: &MllpDecoder, seen: &mut u64) {
        let total = decoder.discarded_bytes();
        if total > *seen {
            self.stats.discarded(total - *seen);
            *seen = total;
        }
    }
}

/// One read, or `None` when `idle` passes first.
async fn read_within<S: AsyncRead + Unpin>(
    stream: &mut S,
    buf: &mut [u8],
    idle: Option<Duration>,
) -> Option<std::io::Result<usize>> {
    match idle {
        Some(idle) => tokio::time::timeout(idle, stream.read(buf)).await.ok(),
        None => Some(stream.read(buf).await),
    }
}
