//! The serial driver: reads bedside devices on RS-232 / USB serial ports with tokio-serial, one
//! task per port, and feeds what they send to the pipeline as `IngestBatch`es.
//!
//! - [`SerialConfig`] (`config`): path, line settings (baud, data bits, parity, stop bits, flow
//!   control), the wire format ([`SerialCodec`]), the fallback device id and the devices' time
//!   zone. Deserialised with serde, unknown fields rejected.
//! - [`Framer`] / [`LineFramer`] (`framing`): sans-I/O framing, bytes in, frames out, discarded
//!   bytes counted; the plug-in point for other framings (MLLP for PCD-01 over serial).
//! - [`FrameDecoder`] (`codec`): one frame to readings and dead letters;
//!   [`SerialCodec::build`] picks the framer and decoder of a port (Masimo ASCII 1:
//!   [`LineFramer`] + [`MasimoDecoder`](crate::masimo::MasimoDecoder)).
//! - [`SerialSource`] / [`run`] / [`spawn`] (`source`): open, read, decode, hand to the
//!   pipeline's [`Feed`](wardstream_pipeline::Feed) (an `Inlet`, or the write-ahead log); reopen
//!   with backoff when the port is lost (`Ok(0)` or an I/O error) or missing.
//! - [`SerialStats`] (`stats`): state (`disconnected` / `opening` / `connected`), bytes, frames,
//!   readings, dead letters, malformed frames, discarded bytes, disconnects, reconnects.
//!
//! ```no_run
//! # async fn start(pipeline: &wardstream_pipeline::Pipeline) -> Result<(), wardstream_protocols::serial::Error> {
//! use std::sync::Arc;
//! use wardstream_pipeline::SystemClock;
//! use wardstream_protocols::serial::{self, SerialConfig, SerialStats};
//!
//! let config: SerialConfig = serde_json::from_str(
//!     r#"{"path":"/dev/serial/by-id/usb-FTDI_bed4","device_id":"bed-4-spo2","time_zone":"Europe/London"}"#,
//! ).unwrap();
//! let stats = Arc::new(SerialStats::new());
//! let (stop, shutdown) = tokio::sync::watch::channel(false);
//! let task = serial::spawn(&config, pipeline.inlet(), Arc::new(SystemClock), Arc::clone(&stats), shutdown)?;
//! // … later:
//! stop.send(true).ok();
//! task.await.ok();
//! # Ok(()) }
//! ```

mod codec;
mod config;
mod framing;
mod mllp_port;
mod source;
mod stats;

pub use codec::{CodecSettings, FrameDecoder, FrameOutcome, PortCodec, SerialCodec};
pub use config::{DEFAULT_TIME_ZONE, FlowControl, Parity, SerialConfig};
pub use framing::{DEFAULT_MAX_LINE_BYTES, Framer, LineFramer};
pub use mllp_port::run_mllp_port;
pub use source::{BACKOFF_MIN, FEED_RETRY_MAX, READ_BUFFER_BYTES, SerialSource, run, spawn};
pub use stats::{PortState, SerialStats, SerialStatsSnapshot};

/// Errors of the serial driver. A missing or lost port is not among them: the driver retries.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration setting is invalid.
    #[error("invalid serial configuration: {field}: {message}")]
    InvalidConfig {
        /// The setting.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The pipeline shut down while the driver was still delivering to it.
    #[error("the pipeline has shut down; the serial source cannot deliver readings")]
    PipelineClosed,
    /// Shutdown was requested while the write-ahead log kept refusing a batch, which is lost.
    #[error("{readings} readings and {dead_letters} dead letters were not delivered: {error}")]
    Undelivered {
        /// Readings in the batch.
        readings: usize,
        /// Dead letters in the batch.
        dead_letters: usize,
        /// The log's last error.
        error: wardstream_pipeline::FeedError,
    },
}

/// A result with the serial driver's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
