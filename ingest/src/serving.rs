//! [`Serving`]: the pipeline's [`BatchStage`], run on every conditioned batch before it is queued
//! for the Parquet store. It attaches each observation to its patient (association snapshot, by
//! observation time) and makes it visible at once — hot store for timelines, device board, live
//! stream. The pipeline runs it on the thread that conditions (the normaliser, with one), so a
//! Parquet flush on the writer thread never delays a live reading.
//!
//! Design: attaching here, once per batch on one thread, means the stored `patient_id` columns
//! and the live stream see the same snapshot for a batch. Readings remain re-attributable: timelines,
//! FHIR and SQL read attribution through the *current* snapshot (see [`crate::timeline`]), so a
//! late transfer corrects them without rewriting files; the stored columns keep the attribution as
//! known when the reading was written (what DuckDB or Spark reading the files alone see).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use tokio::sync::broadcast;
use wardstream_pipeline::association::attach;
use wardstream_pipeline::{BatchStage, HotStore, StoreBatch};

use crate::api::live::LiveBatch;
use crate::associations::Associations;
use crate::device_board::DeviceBoard;
use crate::timeline::TimelineReading;

/// Counts of the attach stage.
#[derive(Debug, Default)]
pub struct AttachStats {
    /// Readings attached to a patient.
    pub attached: AtomicU64,
    /// Readings not attached (unknown device, no association, conflict).
    pub unassociated: AtomicU64,
    /// Of those, readings at a time two patients claimed the device.
    pub conflicts: AtomicU64,
}

/// See the module docs.
pub struct Serving {
    associations: Arc<Associations>,
    hot: Arc<HotStore>,
    board: Arc<DeviceBoard>,
    live: broadcast::Sender<LiveBatch>,
    stats: Arc<AttachStats>,
}

impl Serving {
    /// The stage serving into `hot`, `board` and `live`.
    pub fn new(
        associations: Arc<Associations>,
        hot: Arc<HotStore>,
        board: Arc<DeviceBoard>,
        live: broadcast::Sender<LiveBatch>,
        stats: Arc<AttachStats>,
    ) -> Serving {
        Serving { associations, hot, board, live, stats }
    }

    fn serve(&self, batch: &mut StoreBatch) {
        let snapshot = self.associations.snapshot();
        let counts = attach(&snapshot, &mut batch.observations);
        self.stats.attached.fetch_add(counts.attached, Relaxed);
        self.stats.unassociated.fetch_add(counts.flagged(), Relaxed);
        self.stats.conflicts.fetch_add(counts.conflict, Relaxed);
        self.hot.insert(&batch.observations);
        self.board.record(&batch.observations, &batch.dead_letters);
        if self.live.receiver_count() > 0 && counts.attached > 0 {
            let readings: Vec<TimelineReading> = batch
                .observations
                .iter()
                .filter_map(|o| {
                    let patient = o.patient_id.as_ref()?;
                    let mut r = TimelineReading::from_hot(&o.device_id, &wardstream_pipeline::HotEntry::of(o), patient);
                    r.encounter_id = o.encounter_id.clone();
                    r.ward = o.ward.clone();
                    r.bed = o.bed.clone();
                    Some(r)
                })
                .collect();
            // No subscriber left is not an error: nobody is watching.
            let _ = self.live.send(Arc::from(readings));
        }
    }
}

impl BatchStage for Serving {
    fn apply(&mut self, batch: &mut StoreBatch) {
        self.serve(batch);
    }
}
