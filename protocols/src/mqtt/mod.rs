//! The MQTT driver: subscribes to a broker with rumqttc and turns every SenML JSON message
//! into an `IngestBatch` for the pipeline.
//!
//! - [`MqttConfig`] (`config`): broker URL, TLS (`mqtts://`, CA file, client certificate:
//!   `tls`), username and password (read from a file or the environment: `credentials`), client
//!   id, topic filters, QoS, the device-id rule and identity policy, packet and inflight limits.
//!   Deserialised with serde; every field has a default.
//! - [`MqttSource`] / [`run`] (`source`): the connection loop. Reconnects with backoff,
//!   resubscribes when the broker lost the session, decodes each message with
//!   [`pack_to_batch`](crate::senml::pack_to_batch) and sends the batch to the pipeline's
//!   [`Feed`](wardstream_pipeline::Feed), blocking when the pipeline is full.
//! - [`Acker`] (`acker`): with a journaled (durable) feed and QoS 1/2, acknowledges each message
//!   only once its batch is in an fsynced WAL record, in receive order; the poll task writes
//!   each ready ack onto the connection itself before its next read (`ack_write`), so acks never
//!   fall behind reads, even with a broker whose inflight window is unlimited.
//! - [`MqttStats`] (`stats`): counters and connection state for display and metrics, including
//!   TLS and authentication failures and identity mismatches.
//!
//! With a direct feed (no WAL) acknowledgements are automatic: rumqttc acks each message as it
//! reads it, before storage. Use a journaled feed with `clean_session = false` and a stable
//! client id for at-least-once delivery across crashes (the service does).

mod ack_write;
mod acker;
mod config;
mod credentials;
mod failure;
mod source;
mod stats;
mod tls;

pub use ack_write::{ACK_FLUSH_TIMEOUT, AckWriteError};
pub use acker::{Acker, PendingAck, ReadyAck};
pub use config::{
    BrokerUrl, DEFAULT_CLIENT_ID, DEFAULT_PORT, DEFAULT_TLS_PORT, DEFAULT_TOPIC, DEFAULT_URL, MqttConfig,
    REQUEST_CHANNEL_CAPACITY, parse_url,
};
pub use source::{BACKOFF_MAX, BACKOFF_MIN, DISCONNECT_TIMEOUT, MqttSource, run};
pub use stats::{MqttStats, MqttStatsSnapshot};

/// Errors of the MQTT driver. Connection errors are not among them: the driver retries those.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration setting is invalid.
    #[error("invalid MQTT configuration: {field}: {message}")]
    InvalidConfig {
        /// The setting.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The pipeline shut down while the driver was still delivering to it.
    #[error("the pipeline has shut down; the MQTT source cannot deliver readings")]
    PipelineClosed,
}

/// A result with the MQTT driver's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
