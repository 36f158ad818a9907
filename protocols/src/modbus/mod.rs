//! The Modbus driver: polls Modbus TCP and RTU slaves (fridges, incubators, any device with a
//! register map) and turns their registers into `IngestBatch`es for the pipeline.
//!
//! Sans-I/O core, then transport:
//!
//! - [`ModbusConfig`] (`config`, `point`): register maps per device model ([`ModelConfig`],
//!   [`PointConfig`]: metric, [`Function`], address, [`DataType`], [`Order`], scale, offset,
//!   unit, "no value" [`Sentinel`]) and devices ([`DeviceConfig`]: unit id, poll interval,
//!   timeout, retries, [`Transport`] TCP or RTU). serde, unknown fields rejected.
//! - [`plan`]: coalesces adjacent points of one function into [`Block`]s, one request each
//!   (at most 125 registers or 2000 bits).
//! - [`frame`]: builds requests and parses responses with rmodbus, adding the checks it leaves
//!   out (lengths, CRC of exceptions, transaction ids, raw exception codes); a fresh vector for
//!   every parse.
//! - [`decode`]: a point's registers → a value (`raw × scale + offset`), no value, or non-finite.
//! - [`DevicePoller`] (`poller`): one device's requests and the readings (`Source::Modbus`,
//!   device time = poll time, raw = the response frame) or dead letters of each response.
//! - [`run`] (`driver`, `bus`, `link`): one task per connection (a TCP host:port, or a serial
//!   port shared by its slaves), timeouts and retries with backoff, reconnection, delivery
//!   through a [`Feed`](wardstream_pipeline::Feed) (the pipeline's inlet, or the write-ahead log
//!   in front of it; refused batches retried with backoff); [`ModbusStats`] per device.
//!
//! Exception responses become dead letters `invalid_payload` (one per point of the request,
//! detail naming the code, e.g. "Modbus exception 0x02 (illegal data address)"); no-value
//! markers `missing_value`; NaN and infinities `non_finite_value`. Timeouts, bad frames and
//! connection failures carry no data: they are counted in [`ModbusStats`] and logged.
//!
//! ```
//! use wardstream_protocols::modbus::{DevicePoller, ModbusConfig};
//! use wardstream_pipeline::{IngestBatch, RawValue};
//!
//! let config: ModbusConfig = serde_json::from_str(r#"{
//!   "models": [{"name": "fridge", "points": [
//!     {"metric": "temp", "function": "input_registers", "address": 0, "type": "i16", "scale": 0.1, "unit": "Cel"}]}],
//!   "devices": [{"device_id": "fridge-1", "model": "fridge", "transport": {"kind": "tcp", "host": "127.0.0.1"}}]
//! }"#)?;
//! config.validate()?;
//! let mut poller = DevicePoller::new(&config.devices[0], &config.models[0]);
//! let request = poller.request(0)?;
//! assert_eq!(request.frame, [0, 1, 0, 0, 0, 6, 1, 4, 0, 0, 0, 1]); // read input register 0
//! let response = [0, 1, 0, 0, 0, 5, 1, 4, 2, 0x00, 0x2A]; // 42
//! let mut batch = IngestBatch::default();
//! poller.response(&request, &response, 1_000, 1_001, &mut batch)?;
//! assert_eq!((batch.readings[0].name.as_str(), &batch.readings[0].value), ("temp", &RawValue::Number(4.2)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod bus;
mod config;
pub mod decode;
mod driver;
pub mod frame;
mod link;
pub mod plan;
mod point;
mod poller;
mod slot;
mod stats;

use std::time::Duration;

pub use config::{DeviceConfig, ModbusConfig, ModelConfig, Parity, SerialConfig, Transport};
pub use driver::run;
pub(crate) use driver::{shutdown_requested, submit_blocking};
pub use plan::Block;
pub use point::{DataType, Function, Order, PointConfig, Sentinel};
pub use poller::{DevicePoller, Request, ResponseCounts};
pub use stats::{ConnectionState, DeviceStats, DeviceStatsSnapshot, ModbusStats};

/// First retry and reconnection delay; doubled per consecutive failure up to [`BACKOFF_MAX`].
pub const BACKOFF_MIN: Duration = Duration::from_millis(100);
/// Longest retry and reconnection delay.
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Errors of the Modbus driver. Device and connection failures are not among them: the driver
/// counts, logs and retries those.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration setting is invalid.
    #[error("invalid Modbus configuration: {field}: {message}")]
    InvalidConfig {
        /// Where: `devices[1].unit_id`, `models[0].points[3]`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The pipeline shut down while the driver was still delivering to it.
    #[error("the pipeline has shut down; the Modbus driver cannot deliver readings")]
    PipelineClosed,
    /// Shutdown was requested while the write-ahead log kept refusing a batch: those readings
    /// and dead letters were not stored.
    #[error("shut down with {readings} readings and {dead_letters} dead letters undelivered: {error}")]
    Undelivered {
        /// Readings in the batch.
        readings: usize,
        /// Dead letters in the batch.
        dead_letters: usize,
        /// The log's last error.
        error: wardstream_pipeline::FeedError,
    },
    /// A bus task panicked or was cancelled.
    #[error("a Modbus bus task failed: {0}")]
    TaskFailed(String),
}

/// A result with the Modbus driver's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
