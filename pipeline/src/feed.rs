//! [`Feed`]: how a driver hands its batches to wardstream and learns when they are durable, so
//! that it acknowledges to its sender (MQTT PUBACK, HL7 ACK) only what survives a crash.
//!
//! - [`Feed::Direct`]: straight into the pipeline's [`Inlet`]; nothing is durable before the
//!   Parquet flush. For tests and for deployments that choose speed over durability.
//! - [`Feed::Journaled`]: through a [`Journal`] (the write-ahead log in `wardstream-storage`,
//!   wired in `wardstream-ingest`): `submit` appends the batch to the log and forwards it to the
//!   pipeline tagged with its sequence number; `wait_durable` returns once an fsync covers it.

use std::sync::Arc;

use crate::flow::{IngestBatch, Inlet};

/// Why a batch could not be submitted or made durable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    /// The pipeline has shut down.
    #[error("the pipeline has shut down")]
    Closed,
    /// The log could not write or fsync (disk full, I/O error); the batch is not durable and
    /// must not be acknowledged. Retrying later may succeed.
    #[error("the write-ahead log failed: {0}")]
    Log(String),
}

/// A durable log in front of the pipeline (see the module docs).
pub trait Journal: Send + Sync + 'static {
    /// Appends the batch to the log (not yet fsynced), then forwards it to the pipeline, blocking
    /// while the pipeline's queue is full. Returns the batch's sequence number, or the error and
    /// the batch (for a retry) when the log refused it.
    fn submit(&self, batch: IngestBatch) -> Result<u64, (FeedError, IngestBatch)>;
    /// Blocks until the record `seq` is covered by an fsync, or fails if it never will be.
    fn wait_durable(&self, seq: u64) -> Result<(), FeedError>;
}

/// Where a driver sends batches (see the module docs). Cheap to clone.
#[derive(Clone)]
pub enum Feed {
    /// Straight into the pipeline.
    Direct(Inlet),
    /// Through a durable log.
    Journaled(Arc<dyn Journal>),
}

impl std::fmt::Debug for Feed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Feed::Direct(_) => "Feed::Direct",
            Feed::Journaled(_) => "Feed::Journaled",
        })
    }
}

impl From<Inlet> for Feed {
    fn from(inlet: Inlet) -> Feed {
        Feed::Direct(inlet)
    }
}

impl Feed {
    /// True when batches become durable before the Parquet flush (acks may wait for it).
    pub fn is_durable(&self) -> bool {
        matches!(self, Feed::Journaled(_))
    }

    /// Hands a batch over, blocking while the pipeline is full. Returns the sequence number to
    /// wait for, when journaled. Run it where blocking is allowed (`block_in_place`). On an error
    /// the batch comes back with it.
    pub fn submit(&self, batch: IngestBatch) -> Result<Option<u64>, (FeedError, IngestBatch)> {
        match self {
            Feed::Direct(inlet) => inlet.send(batch).map(|()| None).map_err(|b| (FeedError::Closed, b)),
            Feed::Journaled(journal) => journal.submit(batch).map(Some),
        }
    }

    /// Blocks until `seq` is durable (immediately `Ok` for a direct feed).
    pub fn wait_durable(&self, seq: u64) -> Result<(), FeedError> {
        match self {
            Feed::Direct(_) => Ok(()),
            Feed::Journaled(journal) => journal.wait_durable(seq),
        }
    }
}
