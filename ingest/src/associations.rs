//! [`Associations`]: the service's association store — the durable log of association events
//! (ADT, bedside associations, device placements) and the in-memory hub whose immutable snapshot
//! the hot path and the API read.
//!
//! Order of a change: the hub checks the event (`Rejected` → the caller answers AE / 4xx and
//! nothing is written); the event is appended to the log and fsynced; then the hub applies it and
//! publishes a new snapshot; only then does the caller acknowledge (ADT `AA`, HTTP 201). A crash
//! between the fsync and the apply is harmless: the log is replayed at start.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use wardstream_pipeline::association::{
    Applied, AssociationConfig, AssociationEvent, AssociationHub, AssociationSnapshot, Attach, Rejected,
};
use wardstream_storage::association_log::AssociationLog;

use crate::timeline::DeviceSpan;

/// Why a change was not recorded.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The event contradicts the history or lacks what it needs (answer AE / 400 / 409).
    #[error("{0}")]
    Rejected(#[from] Rejected),
    /// The log could not make it durable (answer AE with "try again" / 503).
    #[error("the association log could not store the change: {0}")]
    Storage(String),
}

/// The association store (see the module docs).
pub struct Associations {
    hub: AssociationHub,
    log: AssociationLog,
    /// Check, log and apply happen for one change at a time, in the same order for everyone.
    order: Mutex<()>,
}

impl std::fmt::Debug for Associations {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Associations").field("version", &self.hub.snapshot().version()).finish_non_exhaustive()
    }
}

impl Associations {
    /// Opens the log in `dir` (creating it), replays every event into a new hub.
    pub fn open(dir: &Path, config: AssociationConfig) -> anyhow::Result<Associations> {
        let (log, replay) =
            AssociationLog::open(dir).with_context(|| format!("opening the association log in {}", dir.display()))?;
        if let Some(torn) = &replay.torn {
            tracing::warn!(offset = torn.offset, bytes = torn.bytes.len(), "association log: torn last line removed");
        }
        for corrupt in &replay.corrupt {
            tracing::error!(?corrupt, "association log: corrupt line skipped");
        }
        let hub = AssociationHub::new(config);
        let summary = hub.replay(replay.events);
        tracing::info!(
            applied = summary.applied,
            redeliveries = summary.redeliveries,
            rejected = summary.rejected.len(),
            "association log replayed"
        );
        Ok(Associations { hub, log, order: Mutex::new(()) })
    }

    /// The current snapshot (an atomic load).
    pub fn snapshot(&self) -> Arc<AssociationSnapshot> {
        self.hub.snapshot()
    }

    /// The hub, for its counters.
    pub fn hub(&self) -> &AssociationHub {
        &self.hub
    }

    /// Records a change durably, then applies it (see the module docs). A redelivery is
    /// acknowledged without writing anything.
    pub fn record(&self, event: AssociationEvent) -> Result<Applied, RecordError> {
        let _one_at_a_time = self.order.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let checked = self.hub.check(&event)?;
        if checked.redelivery {
            return Ok(checked);
        }
        self.log.append(&event).map_err(|e| RecordError::Storage(e.to_string()))?;
        Ok(self.hub.apply(event)?)
    }

    /// The device spans of a patient in the current snapshot, with the bed each went through.
    pub fn spans(&self, patient: &str) -> Vec<DeviceSpan> {
        let snapshot = self.hub.snapshot();
        let patient_id: Arc<str> = Arc::from(patient);
        snapshot
            .patient_intervals(patient)
            .iter()
            .map(|interval| {
                let attachment = match snapshot.attach(&interval.device_id, interval.start) {
                    Attach::Attached(a) => Some(a.clone()),
                    _ => None,
                };
                DeviceSpan {
                    device_id: Arc::clone(&interval.device_id),
                    start: interval.start,
                    end: interval.end.unwrap_or(wardstream_pipeline::Micros::MAX),
                    patient_id: Arc::clone(&patient_id),
                    encounter_id: interval.encounter_id.clone(),
                    ward: attachment.as_ref().and_then(|a| a.ward.clone()),
                    bed: attachment.as_ref().and_then(|a| a.location.clone()),
                }
            })
            .collect()
    }
}
