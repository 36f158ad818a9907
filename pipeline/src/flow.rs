//! The threaded hot path: drivers → bounded queue → normaliser threads → bounded queue → one
//! writer thread that owns the [`Conditioner`] and the [`Sink`].
//!
//! ```text
//! driver ─┐                       ┌─ normaliser ─┐                         writer
//! driver ─┼─▶ [IngestBatch queue] ┼─ normaliser ─┼─▶ [StoreBatch queue] ─▶ Conditioner ─▶ Sink
//! driver ─┘   (bounded)           └─ …           ┘   (bounded)             (dedup, clock skew)
//! ```
//!
//! Design: batches, not readings, move through the queues (one wake-up per message, per
//! PITFALLS' measurements on 2 cores). Both queues are bounded crossbeam channels: when one is
//! full its producer blocks, so a slow disk slows the normalisers, which slow the drivers, which
//! stop reading from their peers (MQTT stops acking). Nothing is dropped and no buffer grows
//! without bound. Shutdown is by disconnection: when every [`Inlet`] is dropped the normalisers
//! drain and exit, then the writer drains, flushes the sink and exits.
//!
//! Design: de-duplication and clock-skew correction keep per-device history, and normalisers
//! are several, so they run on the writer thread, once per batch, just before [`Sink::write`]:
//! the [`Conditioner`] has one owner and needs no lock (see [`crate::conditioning`]).

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded};

use crate::conditioning::{Conditioner, ConditioningConfig};
use crate::dead_letter::DeadLetter;
use crate::normalise::Normaliser;
use crate::observation::Observation;
use crate::reading::RawReading;
use crate::stats::PipelineStats;

/// What a driver hands to the pipeline: the readings of one message (or a few), and the dead
/// letters the driver itself produced (payloads it could not decode).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct IngestBatch {
    /// Decoded readings.
    pub readings: Vec<RawReading>,
    /// Payload-level rejections.
    pub dead_letters: Vec<DeadLetter>,
}

impl IngestBatch {
    /// True when there is nothing in it.
    pub fn is_empty(&self) -> bool {
        self.readings.is_empty() && self.dead_letters.is_empty()
    }
}

/// What the writer hands to the sink.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct StoreBatch {
    /// Normalised observations.
    pub observations: Vec<Observation>,
    /// Rejections, with reasons.
    pub dead_letters: Vec<DeadLetter>,
}

/// A sink failure: the sink could not write or flush.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SinkError(pub String);

/// Where stored batches go (the Parquet store). Owned by the writer thread alone.
///
/// Contract: a batch passed to [`Sink::write`] belongs to the sink, which keeps it until it is
/// durable; an error return means it is still held and will be retried by a later
/// [`Sink::tick`] or [`Sink::flush`]. When [`Sink::flush`] returns `Ok`, everything written so
/// far is durable and visible to readers.
pub trait Sink: Send + 'static {
    /// Takes a batch (buffering or writing it).
    fn write(&mut self, batch: StoreBatch) -> Result<(), SinkError>;
    /// Called at least every [`FlowConfig::tick`]: write out whatever is due by time.
    fn tick(&mut self) -> Result<(), SinkError>;
    /// Writes out everything buffered.
    fn flush(&mut self) -> Result<(), SinkError>;
}

/// Sizes of the hot path and the writer's conditioning settings.
#[derive(Debug, Clone)]
pub struct FlowConfig {
    /// Capacity of each queue, in batches. Default 1024.
    pub queue_capacity: usize,
    /// Normaliser threads. Default 1.
    pub workers: usize,
    /// How often the writer calls [`Sink::tick`] when idle or busy. Default 200 ms.
    pub tick: Duration,
    /// De-duplication and clock-skew settings (defaults in [`ConditioningConfig`]).
    pub conditioning: ConditioningConfig,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            queue_capacity: 1024,
            workers: 1,
            tick: Duration::from_millis(200),
            conditioning: ConditioningConfig::default(),
        }
    }
}

/// A driver's handle on the pipeline's input queue. Clone one per driver.
#[derive(Debug, Clone)]
pub struct Inlet {
    tx: Sender<IngestBatch>,
    stats: Arc<PipelineStats>,
}

impl Inlet {
    /// Enqueues a batch, blocking while the queue is full (back-pressure). Returns the batch
    /// back if the pipeline has shut down. Async drivers call this inside
    /// `tokio::task::block_in_place`.
    pub fn send(&self, batch: IngestBatch) -> Result<(), IngestBatch> {
        match self.tx.try_send(batch) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(batch)) => {
                self.stats.count_backpressure_wait();
                self.tx.send(batch).map_err(|e| e.0)
            }
            Err(TrySendError::Disconnected(batch)) => Err(batch),
        }
    }

    /// Enqueues a batch if there is room now; otherwise returns it.
    pub fn try_send(&self, batch: IngestBatch) -> Result<(), IngestBatch> {
        self.tx.try_send(batch).map_err(|e| e.into_inner())
    }

    /// Batches waiting in the input queue.
    pub fn queued(&self) -> usize {
        self.tx.len()
    }
}

/// The running hot path.
#[derive(Debug)]
pub struct Pipeline {
    inlet: Inlet,
    workers: Vec<JoinHandle<()>>,
    writer: JoinHandle<Result<(), SinkError>>,
    stats: Arc<PipelineStats>,
}

impl Pipeline {
    /// Starts the normaliser threads and the writer thread.
    pub fn start<S: Sink>(config: FlowConfig, normaliser: Normaliser, sink: S) -> std::io::Result<Pipeline> {
        let stats = Arc::new(PipelineStats::default());
        let capacity = config.queue_capacity.max(1);
        let (in_tx, in_rx) = bounded::<IngestBatch>(capacity);
        let (out_tx, out_rx) = bounded::<StoreBatch>(capacity);
        let mut workers = Vec::new();
        for i in 0..config.workers.max(1) {
            let (rx, tx, n, s) = (in_rx.clone(), out_tx.clone(), normaliser.clone(), Arc::clone(&stats));
            let handle = std::thread::Builder::new()
                .name(format!("normalise-{i}"))
                .spawn(move || normalise_loop(&rx, &tx, &n, &s))?;
            workers.push(handle);
        }
        drop(out_tx);
        let s = Arc::clone(&stats);
        let tick = config.tick;
        let conditioner = Conditioner::new(&config.conditioning);
        let writer = std::thread::Builder::new()
            .name("writer".into())
            .spawn(move || writer_loop(&out_rx, conditioner, sink, tick, &s))?;
        Ok(Pipeline { inlet: Inlet { tx: in_tx, stats: Arc::clone(&stats) }, workers, writer, stats })
    }

    /// A new handle for a driver.
    pub fn inlet(&self) -> Inlet {
        self.inlet.clone()
    }

    /// The pipeline's counters.
    pub fn stats(&self) -> Arc<PipelineStats> {
        Arc::clone(&self.stats)
    }

    /// Drains everything enqueued, flushes the sink and stops the threads. Every other
    /// [`Inlet`] must have been dropped (drivers stopped) first, or this waits for them.
    pub fn shutdown(self) -> Result<(), SinkError> {
        drop(self.inlet);
        for w in self.workers {
            if w.join().is_err() {
                return Err(SinkError("a normaliser thread panicked".into()));
            }
        }
        self.writer.join().map_err(|_| SinkError("the writer thread panicked".into()))?
    }
}

fn normalise_loop(rx: &Receiver<IngestBatch>, tx: &Sender<StoreBatch>, n: &Normaliser, stats: &PipelineStats) {
    // Block for one batch, then drain what is already queued into the same output batch.
    while let Ok(first) = rx.recv() {
        let mut out = StoreBatch::default();
        n.normalise_batch(first, &mut out, stats);
        for more in rx.try_iter().take(63) {
            n.normalise_batch(more, &mut out, stats);
        }
        if tx.send(out).is_err() {
            return; // the writer is gone: shutting down after a writer failure
        }
    }
}

fn writer_loop<S: Sink>(
    rx: &Receiver<StoreBatch>,
    mut conditioner: Conditioner,
    mut sink: S,
    tick: Duration,
    stats: &PipelineStats,
) -> Result<(), SinkError> {
    let mut last_tick = Instant::now();
    loop {
        match rx.recv_timeout(tick) {
            Ok(mut batch) => {
                stats.count_conditioned(&conditioner.condition(&mut batch));
                stats.count_batch_stored();
                if let Err(e) = sink.write(batch) {
                    stats.count_sink_error();
                    tracing::error!(error = %e, "sink write failed; data kept for retry");
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        if last_tick.elapsed() >= tick {
            last_tick = Instant::now();
            if let Err(e) = sink.tick() {
                stats.count_sink_error();
                tracing::error!(error = %e, "sink flush failed; data kept for retry");
            }
        }
    }
    sink.flush()
}

#[cfg(test)]
#[path = "flow_tests.rs"]
mod tests;
