//! HL7 v2 over MLLP (the Minimal Lower Layer Protocol): framing and the TCP listener.
//!
//! - [`codec`]: the sans-I/O frame codec. [`MllpDecoder`] takes bytes in any pieces and gives
//!   whole frames, skipping oversize ones and counting bytes outside frames; [`encode`] frames
//!   a message.
//! - [`MllpConfig`] (`config`): listen address, maximum frame size, idle timeout (serde,
//!   unknown fields rejected).
//! - [`serve`] / [`run`] / [`serve_tls`] (`listener`): the tokio accept loop, one task per connection, each
//!   message parsed ([`Message`](crate::hl7::Message)) and given to an [`MllpHandler`]; the
//!   ACK ([`crate::hl7::ack`]) is written after the handler's future resolves.
//! - [`MllpStats`] (`stats`): counters (connections, frames, ACKs by code, bytes discarded).
//!
//! ```no_run
//! use std::{net::SocketAddr, sync::Arc};
//! use wardstream_protocols::hl7::Message;
//! use wardstream_protocols::mllp::{MllpConfig, MllpHandler, MllpStats, Reply, run};
//!
//! struct Accept;
//! impl MllpHandler for Accept {
//!     async fn handle(&self, _msg: Message, _raw: Arc<[u8]>, _peer: SocketAddr) -> Reply {
//!         Reply::accept() // after making the message durable
//!     }
//! }
//!
//! # async fn example() -> Result<(), wardstream_protocols::mllp::MllpError> {
//! let (stop, shutdown) = tokio::sync::watch::channel(false);
//! let stats = Arc::new(MllpStats::new());
//! let config = MllpConfig::default(); // listen on 0.0.0.0:2575
//! let server = run(&config, Arc::new(Accept), stats, shutdown);
//! # drop(stop);
//! server.await
//! # }
//! ```

pub mod codec;
mod config;
mod listener;
mod stats;

pub use crate::hl7::ack::{AckCode, ErrorCode, Reply};
pub use codec::{Decoded, MllpDecoder, encode};
pub use config::{DEFAULT_LISTEN, MllpConfig};
pub use listener::{MllpHandler, run, serve, serve_tls};
pub use stats::{MllpStats, MllpStatsSnapshot};

/// Errors of the MLLP listener. Nothing a peer sends is among them: those are answered and
/// counted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MllpError {
    /// A configuration setting is invalid.
    #[error("invalid MLLP configuration: {field}: {message}")]
    InvalidConfig {
        /// The setting.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The listen address could not be bound.
    #[error("cannot listen for MLLP on {listen}: {source}")]
    Bind {
        /// The configured address.
        listen: String,
        /// The operating system's error.
        source: std::io::Error,
    },
}
