//! [`SerialSource`]: the driver of one serial port. It opens the port with tokio-serial, runs
//! every read through the port's [`Framer`] and [`FrameDecoder`], hands the resulting batch to
//! the pipeline, and reopens the port with backoff whenever it is lost or missing.

use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_serial::{SerialPortBuilder, SerialPortBuilderExt, SerialStream};
use tracing::{Instrument, debug, error, info, info_span, warn};
use wardstream_pipeline::{Clock, Feed, FeedError, IngestBatch};

use super::codec::{FrameDecoder, FrameOutcome, PortCodec};
use super::framing::Framer;
use super::{Error, PortState, SerialConfig, SerialStats};

/// First pause before reopening a port; doubled per failed attempt up to the configured
/// `reconnect_max_ms`, and back to this once a connection delivers data.
pub const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest pause between attempts to hand over a batch the write-ahead log refused.
pub const FEED_RETRY_MAX: Duration = Duration::from_secs(5);
/// Bytes asked for per read (a Masimo line is about 190 bytes, at 9600 baud ~1 kB a second).
pub const READ_BUFFER_BYTES: usize = 4096;

/// The driver of one serial port. Build it with [`SerialSource::new`], drive it with
/// [`SerialSource::run`] (or use [`run`] / [`spawn`]).
pub struct SerialSource {
    path: String,
    builder: SerialPortBuilder,
    backoff_max: Duration,
    framer: Box<dyn Framer>,
    decoder: Box<dyn FrameDecoder>,
    feed: Feed,
    clock: Arc<dyn Clock>,
    stats: Arc<SerialStats>,
    /// The framer's discarded-bytes total already added to `stats`.
    discarded_counted: u64,
}

impl std::fmt::Debug for SerialSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SerialSource").field("builder", &self.builder).field("framer", &self.framer).finish()
    }
}

/// How a connection ended.
enum Ended {
    Shutdown,
    Lost(String),
}

/// Builds a [`SerialSource`] from `config` and runs it until `shutdown` turns `true` (or its
/// sender is dropped). See [`SerialSource::run`].
pub async fn run(
    config: SerialConfig,
    feed: impl Into<Feed>,
    clock: Arc<dyn Clock>,
    stats: Arc<SerialStats>,
    shutdown: watch::Receiver<bool>,
) -> Result<(), Error> {
    SerialSource::new(&config, feed, clock, stats)?.run(shutdown).await
}

/// Checks `config` now (so a bad setting is reported at start-up) and runs the port's driver
/// as a task on the current Tokio runtime (a multi-threaded one: see [`SerialSource::run`]).
pub fn spawn(
    config: &SerialConfig,
    feed: impl Into<Feed>,
    clock: Arc<dyn Clock>,
    stats: Arc<SerialStats>,
    shutdown: watch::Receiver<bool>,
) -> Result<JoinHandle<Result<(), Error>>, Error> {
    let source = SerialSource::new(config, feed, clock, stats)?;
    Ok(tokio::spawn(source.run(shutdown)))
}

impl SerialSource {
    /// Checks `config` and prepares the driver; nothing is opened yet. Readings go to `feed`
    /// (the pipeline's `Inlet`, or a journaled feed through the write-ahead log), `clock` stamps their `received_at`, `stats` is updated as bytes arrive.
    pub fn new(
        config: &SerialConfig,
        feed: impl Into<Feed>,
        clock: Arc<dyn Clock>,
        stats: Arc<SerialStats>,
    ) -> Result<SerialSource, Error> {
        let builder = config.port_builder()?;
        let PortCodec { framer, decoder } = config.codec.build(config.codec_settings())?;
        Ok(SerialSource {
            path: config.path.clone(),
            builder,
            backoff_max: config.reconnect_max(),
            framer,
            decoder,
            feed: feed.into(),
            clock,
            stats,
            discarded_counted: 0,
        })
    }

    /// Opens the port and delivers what it reads until `shutdown` turns `true` or its sender is
    /// dropped.
    ///
    /// - A port that is missing or cannot be opened is retried 100 ms later, then after
    ///   doubling pauses up to `reconnect_max_ms`; the state is `opening` during an attempt and
    ///   `disconnected` between attempts.
    /// - End of file (`Ok(0)`: an unplugged USB adapter) or a read error (`EIO`: a vanished
    ///   port) is a disconnect: the port is closed (ports open exclusively) and reopened like a
    ///   missing one. The partial line it cut is discarded and counted; complete lines already
    ///   read are delivered, and nothing is read twice.
    /// - Garbage, half lines and over-long lines never stop the driver: the framer resynchronises
    ///   at the next line end, malformed lines become dead letters, discarded bytes are counted.
    /// - Each read's frames go to the feed as one batch before the next read; a full pipeline
    ///   blocks this task (inside `block_in_place` on a multi-threaded runtime, so run it on
    ///   one). The kernel buffers the port meanwhile (4 KiB, about 4 s at 9600 baud). A batch
    ///   the write-ahead log refuses is retried every 100 ms doubling to 5 s. The serial link has
    ///   no acknowledgements, so nothing waits for durability.
    /// - On shutdown it returns `Ok` once every complete frame read has been handed over.
    ///
    /// Errors: [`Error::PipelineClosed`] when the pipeline shut down before the driver;
    /// [`Error::Undelivered`] when shutdown came while the write-ahead log was refusing a batch.
    pub async fn run(self, shutdown: watch::Receiver<bool>) -> Result<(), Error> {
        let span = info_span!("serial_source", port = %self.path);
        self.run_inner(shutdown).instrument(span).await
    }

    async fn run_inner(mut self, mut shutdown: watch::Receiver<bool>) -> Result<(), Error> {
        let mut backoff = BACKOFF_MIN;
        let mut opened_before = false;
        let mut failures_in_a_row = 0u64;
        let result = loop {
            if *shutdown.borrow_and_update() {
                break Ok(());
            }
            self.stats.set_state(PortState::Opening);
            match open(self.builder.clone()).await {
                Ok(stream) => {
                    self.stats.set_state(PortState::Connected);
                    self.stats.set_retry_in(0);
                    if opened_before {
                        self.stats.count_reconnect();
                    }
                    opened_before = true;
                    failures_in_a_row = 0;
                    info!("serial port open");
                    match self.read_until_lost(stream, &mut shutdown, &mut backoff).await {
                        Ok(Ended::Shutdown) => break Ok(()),
                        Ok(Ended::Lost(why)) => {
                            // Counted last, once the state and the discarded bytes are final.
                            self.reset_framer();
                            self.stats.set_state(PortState::Disconnected);
                            self.stats.count_disconnect();
                            self.stats.set_last_error(format!("port lost: {why}"));
                            warn!(error = %why, retry_in_ms = backoff.as_millis() as u64, "serial port lost; reopening");
                        }
                        Err(e) => break Err(e),
                    }
                }
                Err(error) => {
                    self.stats.count_open_failure();
                    self.stats.set_last_error(format!("cannot open: {error}"));
                    failures_in_a_row += 1;
                    if failures_in_a_row == 1 {
                        warn!(%error, "cannot open the serial port; retrying with backoff");
                    } else {
                        debug!(%error, failures_in_a_row, "cannot open the serial port");
                    }
                }
            }
            self.stats.set_state(PortState::Disconnected);
            self.stats.set_retry_in(backoff.as_millis() as u64);
            self.reset_framer();
            tokio::select! {
                biased;
                () = shutdown_requested(&mut shutdown) => break Ok(()),
                () = tokio::time::sleep(backoff) => {}
            }
            backoff = (backoff * 2).min(self.backoff_max);
        };
        self.stats.set_state(PortState::Disconnected);
        self.reset_framer();
        info!("serial source stopped");
        result
    }

    async fn read_until_lost(
        &mut self,
        mut stream: SerialStream,
        shutdown: &mut watch::Receiver<bool>,
        backoff: &mut Duration,
    ) -> Result<Ended, Error> {
        let mut buf = vec![0u8; READ_BUFFER_BYTES];
        loop {
            let read = tokio::select! {
                biased;
                () = shutdown_requested(shutdown) => return Ok(Ended::Shutdown),
                read = stream.read(&mut buf) => read,
            };
            match read {
                Ok(0) => return Ok(Ended::Lost("end of file (unplugged?)".to_owned())),
                Ok(n) => {
                    *backoff = BACKOFF_MIN;
                    let batch = self.on_bytes(buf.get(..n).unwrap_or_default());
                    deliver(&self.feed, &self.stats, batch, shutdown).await?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Ok(Ended::Lost(e.to_string())),
            }
        }
    }

    /// Frames and decodes the bytes of one read into one batch.
    fn on_bytes(&mut self, bytes: &[u8]) -> IngestBatch {
        self.stats.count_read(bytes.len());
        self.framer.push(bytes);
        let now = self.clock.now_micros();
        let mut batch = IngestBatch::default();
        let (mut frames, mut malformed) = (0, 0);
        while let Some(frame) = self.framer.next_frame() {
            frames += 1;
            if let FrameOutcome::Malformed(why) = self.decoder.decode(&frame, now, &mut batch) {
                malformed += 1;
                debug!(error = %why, bytes = frame.len(), "malformed frame");
            }
        }
        self.count_discarded();
        self.stats.count_frames(frames, malformed, batch.readings.len(), batch.dead_letters.len(), now);
        self.stats.note_devices(batch.readings.iter().map(|r| &*r.device_id));
        batch
    }

    fn reset_framer(&mut self) {
        self.framer.reset();
        self.count_discarded();
    }

    fn count_discarded(&mut self) {
        let total = self.framer.discarded_bytes();
        self.stats.count_discarded(total.saturating_sub(self.discarded_counted));
        self.discarded_counted = total;
    }
}

/// Hands a batch to the feed. A write-ahead-log failure keeps the batch and retries it with
/// backoff (the device cannot resend; the kernel buffers the port meanwhile) until it is
/// taken or shutdown is requested. (A free function: the future must not hold the source,
/// whose framer and decoder are `Send` but not `Sync`.)
async fn deliver(
    feed: &Feed,
    stats: &SerialStats,
    mut batch: IngestBatch,
    shutdown: &mut watch::Receiver<bool>,
) -> Result<(), Error> {
    let mut pause = BACKOFF_MIN;
    loop {
        if batch.is_empty() {
            return Ok(());
        }
        let error = match submit_blocking(feed, batch) {
            Ok(()) => return Ok(()),
            Err((FeedError::Closed, _)) => return Err(Error::PipelineClosed),
            Err((error, back)) => {
                batch = back;
                error
            }
        };
        stats.count_feed_failure();
        error!(%error, readings = batch.readings.len(), retry_in_ms = pause.as_millis() as u64, "cannot hand readings over; retrying");
        tokio::select! {
            biased;
            () = shutdown_requested(shutdown) => return Err(Error::Undelivered { readings: batch.readings.len(), dead_letters: batch.dead_letters.len(), error }),
            () = tokio::time::sleep(pause) => {}
        }
        pause = (pause * 2).min(FEED_RETRY_MAX);
    }
}

/// Opens the port on the blocking pool: opening a serial device is a few system calls that
/// some drivers (USB adapters) can make slow.
async fn open(builder: SerialPortBuilder) -> Result<SerialStream, String> {
    match tokio::task::spawn_blocking(move || builder.open_native_async()).await {
        Ok(Ok(stream)) => Ok(stream),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(format!("the open task failed: {e}")),
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

/// Submits a batch, blocking while the pipeline queue is full: inside `block_in_place` on a
/// multi-threaded runtime so that the runtime's other tasks keep running.
fn submit_blocking(feed: &Feed, batch: IngestBatch) -> Result<(), (FeedError, IngestBatch)> {
    let multi_thread = tokio::runtime::Handle::try_current()
        .is_ok_and(|h| matches!(h.runtime_flavor(), tokio::runtime::RuntimeFlavor::MultiThread));
    let submitted = if multi_thread { tokio::task::block_in_place(|| feed.submit(batch)) } else { feed.submit(batch) };
    submitted.map(|_| ())
}

#[cfg(test)]
#[path = "source_tests.rs"]
mod tests;
