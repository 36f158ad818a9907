//! HL7 v2 over MLLP on a serial line (`codec = "pcd01-mllp"`): device gateways and monitors that
//! send IHE PCD-01 ORU^R01 on RS-232 and wait for an ACK on the same line.
//!
//! [`run_mllp_port`] opens the port (reopening it with backoff like the line driver, see
//! [`SerialSource::run`](super::SerialSource::run)), frames what it reads with the MLLP decoder
//! ([`MllpDecoder`]: bytes outside frames are skipped and counted as discarded, a frame longer
//! than `max_frame_bytes` is skipped and answered `AR`), and hands each message to an
//! [`MllpHandler`] — the same contract as the TCP listener: the handler returns `AA` only once
//! the message's readings are durable — then writes the ACK back on the port, one message at a
//! time, in order. A frame that is not HL7 is answered `AR` and counted malformed.
//!
//! The handler is given `0.0.0.0:0` as the peer address (a serial line has none). The port's
//! `max_frame_bytes` left at the line codecs' default (512) means 1 MiB here.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tokio_serial::{SerialPortBuilderExt, SerialStream};
use tracing::{Instrument, debug, info, info_span, warn};
use wardstream_pipeline::{Clock, SystemClock};

use super::source::BACKOFF_MIN;
use super::{Error, PortState, SerialConfig, SerialStats};
use crate::hl7::Message;
use crate::hl7::ack::{self, AckCode, ErrorCode};
use crate::mllp::{Decoded, MllpDecoder, MllpHandler, encode};

/// Runs the port until `shutdown` turns `true` (see the module docs). Fails only on a bad
/// configuration.
pub async fn run_mllp_port<H: MllpHandler>(
    config: SerialConfig,
    handler: Arc<H>,
    stats: Arc<SerialStats>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    let span = info_span!("serial_mllp", port = %config.path);
    run_inner(config, handler, stats, shutdown).instrument(span).await
}

async fn run_inner<H: MllpHandler>(
    config: SerialConfig,
    handler: Arc<H>,
    stats: Arc<SerialStats>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    let builder = config.port_builder()?;
    let backoff_max = config.reconnect_max();
    // The line codecs' default (512 bytes) is far too small for HL7 messages: unless set to
    // something else, an MLLP port takes frames up to the TCP listener's default (1 MiB).
    let max_frame_bytes = if config.max_frame_bytes == super::DEFAULT_MAX_LINE_BYTES {
        crate::mllp::MllpConfig::default().max_frame_bytes
    } else {
        config.max_frame_bytes
    };
    let mut port = Port { handler, stats, max_frame_bytes, next_id: 1 };
    let mut backoff = BACKOFF_MIN;
    let mut opened_before = false;
    loop {
        if *shutdown.borrow_and_update() {
            break;
        }
        port.stats.set_state(PortState::Opening);
        let opened = match tokio::task::spawn_blocking({
            let builder = builder.clone();
            move || builder.open_native_async()
        })
        .await
        {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(e)) => Err(e.to_string()),
            Err(e) => Err(format!("the open task failed: {e}")),
        };
        match opened {
            Ok(stream) => {
                port.stats.set_state(PortState::Connected);
                port.stats.set_retry_in(0);
                if opened_before {
                    port.stats.count_reconnect();
                }
                opened_before = true;
                info!("serial port open (MLLP)");
                match port.serve(stream, &mut shutdown, &mut backoff).await {
                    None => break,
                    Some(why) => {
                        port.stats.set_state(PortState::Disconnected);
                        port.stats.count_disconnect();
                        port.stats.set_last_error(format!("port lost: {why}"));
                        warn!(error = %why, "serial port lost; reopening");
                    }
                }
            }
            Err(error) => {
                port.stats.count_open_failure();
                port.stats.set_last_error(format!("cannot open: {error}"));
                debug!(%error, "cannot open the serial port");
            }
        }
        port.stats.set_state(PortState::Disconnected);
        port.stats.set_retry_in(backoff.as_millis() as u64);
        tokio::select! {
            biased;
            () = shutdown_requested(&mut shutdown) => break,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(backoff_max);
    }
    port.stats.set_state(PortState::Disconnected);
    info!("serial MLLP source stopped");
    Ok(())
}

struct Port<H> {
    handler: Arc<H>,
    stats: Arc<SerialStats>,
    max_frame_bytes: usize,
    next_id: u64,
}

impl<H: MllpHandler> Port<H> {
    /// Serves one open port; `None` on shutdown, `Some(why)` when the port was lost.
    async fn serve(
        &mut self,
        mut stream: SerialStream,
        shutdown: &mut watch::Receiver<bool>,
        backoff: &mut std::time::Duration,
    ) -> Option<String> {
        let mut decoder = MllpDecoder::new(self.max_frame_bytes);
        let mut discarded_counted = 0;
        let mut buf = vec![0u8; 4096];
        let lost = loop {
            let read = tokio::select! {
                biased;
                () = shutdown_requested(shutdown) => break None,
                read = stream.read(&mut buf) => read,
            };
            let n = match read {
                Ok(0) => break Some("end of file (unplugged?)".to_owned()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => break Some(e.to_string()),
            };
            *backoff = BACKOFF_MIN;
            self.stats.count_read(n);
            decoder.push(buf.get(..n).unwrap_or_default());
            while let Some(item) = decoder.next() {
                let reply = self.respond(item).await;
                if let Err(e) = stream.write_all(&encode(reply.as_bytes())).await {
                    return Some(format!("writing the ACK: {e}"));
                }
                if let Err(e) = stream.flush().await {
                    return Some(format!("writing the ACK: {e}"));
                }
            }
            let total = decoder.discarded_bytes();
            self.stats.count_discarded(total - discarded_counted);
            discarded_counted = total;
        };
        decoder.finish();
        while decoder.next().is_some() {
            self.stats.count_frames(1, 1, 0, 0, SystemClock.now_micros());
        }
        self.stats.count_discarded(decoder.discarded_bytes() - discarded_counted);
        lost
    }

    /// The ACK of one decoded item.
    async fn respond(&mut self, item: Decoded) -> String {
        let now = SystemClock.now_micros();
        let id = format!("S{now:x}.{}", self.next_id);
        self.next_id += 1;
        let peer = SocketAddr::from(([0, 0, 0, 0], 0));
        match item {
            Decoded::Frame(bytes) => {
                let raw: Arc<[u8]> = Arc::from(bytes);
                match Message::parse(&raw) {
                    Ok(msg) => {
                        let reply = self.handler.handle(msg.clone(), Arc::clone(&raw), peer).await;
                        let malformed = u64::from(reply.code == AckCode::Reject);
                        self.stats.count_frames(1, malformed, 0, 0, now);
                        ack::build(&msg, &reply, &id, now)
                    }
                    Err(error) => {
                        self.stats.count_frames(1, 1, 0, 0, now);
                        warn!(%error, "MLLP frame on the serial line is not an HL7 v2 message; answered AR");
                        ack::build_unparsable(error.error_code(), &error.to_string(), &id, now)
                    }
                }
            }
            Decoded::Oversize { len, .. } => {
                self.stats.count_frames(1, 1, 0, 0, now);
                let text = format!("frame of {len} bytes exceeds the maximum of {}", self.max_frame_bytes);
                ack::build_unparsable(ErrorCode::ApplicationInternal, &text, &id, now)
            }
        }
    }
}

/// Resolves once `shutdown` holds `true` or its sender is gone.
async fn shutdown_requested(shutdown: &mut watch::Receiver<bool>) {
    while !*shutdown.borrow_and_update() {
        if shutdown.changed().await.is_err() {
            return;
        }
    }
}
