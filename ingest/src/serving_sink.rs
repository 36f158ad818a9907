//! [`ServingSink`]: the writer thread's last stage before Parquet. It attaches each observation to
//! its patient (association snapshot, by observation time), makes it visible at once — hot store
//! for timelines, device board, live stream — and hands the batch to the Parquet store.
//!
//! Design: attaching here, on the single writer thread, means the stored `patient_id` columns and
//! the live stream see the same snapshot for a batch. Readings remain re-attributable: timelines,
//! FHIR and SQL read attribution through the *current* snapshot (see [`crate::timeline`]), so a
//! late transfer corrects them without rewriting files; the stored columns keep the attribution as
//! known when the reading was written (what DuckDB or Spark reading the files alone see).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use tokio::sync::broadcast;
use wardstream_pipeline::association::attach;
use wardstream_pipeline::{HotStore, Sink, SinkError, StoreBatch};

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
pub struct ServingSink<S> {
    inner: S,
    associations: Arc<Associations>,
    hot: Arc<HotStore>,
    board: Arc<DeviceBoard>,
    live: broadcast::Sender<LiveBatch>,
    stats: Arc<AttachStats>,
}

impl<S: Sink> ServingSink<S> {
    /// Wraps `inner` (the Parquet store).
    pub fn new(
        inner: S,
        associations: Arc<Associations>,
        hot: Arc<HotStore>,
        board: Arc<DeviceBoard>,
        live: broadcast::Sender<LiveBatch>,
        stats: Arc<AttachStats>,
    ) -> ServingSink<S> {
        ServingSink { inner, associations, hot, board, live, stats }
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

impl<S: Sink> Sink for ServingSink<S> {
    fn write(&mut self, mut batch: StoreBatch) -> Result<(), SinkError> {
        self.serve(&mut batch);
        self.inner.write(batch)
    }

    fn write_sequenced(&mut self, mut batch: StoreBatch, oldest_seq: Option<u64>) -> Result<(), SinkError> {
        self.serve(&mut batch);
        self.inner.write_sequenced(batch, oldest_seq)
    }

    fn tick(&mut self) -> Result<(), SinkError> {
        self.inner.tick()
    }

    fn flush(&mut self) -> Result<(), SinkError> {
        self.inner.flush()
    }

    fn oldest_buffered_seq(&self) -> Option<u64> {
        self.inner.oldest_buffered_seq()
    }
}
