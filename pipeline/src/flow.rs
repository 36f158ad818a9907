//! The threaded hot path: drivers → bounded queue → normaliser threads → bounded queue → one
//! writer thread that owns the [`Sink`] (the [`Conditioner`] on the normaliser or the writer).
//!
//! ```text
//! driver ─┐   ┌▶ [queue 0] ─ normaliser 0 ─┐                         writer
//! driver ─┼───┼▶ [queue 1] ─ normaliser 1 ─┼─▶ [StoreBatch queue] ─▶ Conditioner ─▶ Sink
//! driver ─┘   └▶ …  (bounded, by device)   ┘   (bounded)             (dedup, clock skew)
//! ```
//!
//! Design: each normaliser has its own input queue and a batch goes to the one its (first)
//! device hashes to, so all of a device's batches pass through one normaliser, in order, and
//! reach the writer in the order the driver sent them. The conditioner's per-device history
//! (clock skew, de-duplication) depends on that order: with one shared queue, two normalisers
//! could hand a device's batches to the writer swapped, and a backlog check or a duplicate's
//! first copy would be judged on the wrong reading. The cost is load balance: one device's
//! readings never spread over several normalisers (a device sends a few readings a second).
//!
//! Design: batches, not readings, move through the queues (one wake-up per message, per
//! PITFALLS' measurements on 2 cores). Both queues are bounded crossbeam channels: when one is
//! full its producer blocks, so a slow disk slows the normalisers, which slow the drivers, which
//! stop reading from their peers (MQTT stops acking). Nothing is dropped and no buffer grows
//! without bound. Shutdown is by disconnection: when every [`Inlet`] is dropped the normalisers
//! drain and exit, then the writer drains, flushes the sink and exits.
//!
//! Design: de-duplication and clock-skew correction keep per-device history, so the
//! [`Conditioner`] has one owner and needs no lock (see [`crate::conditioning`]). With one
//! normaliser (the default) that owner is the normaliser thread: it sees every batch in the
//! order the drivers sent them, exactly as the writer would, and the writer — the stage that
//! bounds the flat-out rate (Parquet, serving, hot store; see BENCHMARKS.md) — is spared the
//! conditioning. With several normalisers the batches they hand over interleave, so the
//! conditioner runs on the writer thread, once per batch, just before [`Sink::write`].
//!
//! Design: a [`BatchStage`] (the service's: attach to patients, hot store, live stream) runs
//! right after the conditioner, on the same thread, so it sees conditioned batches in order and
//! — with one normaliser — is never held up by the sink: a Parquet flush on the writer thread
//! takes tens of milliseconds every few seconds, which used to delay every live reading that
//! arrived meanwhile (publish → live p99 55.7 ms over 16 minutes at 20,000 readings/s).

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded};

use crate::conditioning::{Conditioner, ConditioningConfig};
use crate::dead_letter::DeadLetter;
use crate::journal::SeqTracker;
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

    /// Takes a batch whose rows come from write-ahead-log records no older than `oldest_seq`.
    /// A sink that reports [`Sink::oldest_buffered_seq`] must remember it per buffered row;
    /// the default ignores it.
    fn write_sequenced(&mut self, batch: StoreBatch, oldest_seq: Option<u64>) -> Result<(), SinkError> {
        let _ = oldest_seq;
        self.write(batch)
    }

    /// The oldest WAL sequence number among rows still buffered (not yet in a durable file), if
    /// any. The default (`None`) is right only for a sink whose `write` is durable on return.
    fn oldest_buffered_seq(&self) -> Option<u64> {
        None
    }
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
    /// Tracks WAL sequence numbers to the sink, when batches come from a WAL.
    pub journal: Option<Arc<SeqTracker>>,
    /// Start-up state of de-duplication: the wall clock now, and the readings already stored
    /// recently (read back from Parquet), so that WAL replay and broker redeliveries after a
    /// crash never store a reading twice.
    pub dedup_seed: Option<DedupSeed>,
}

/// A reading already stored, for [`DedupSeed`]: device, metric, device time, receipt time, value.
pub type StoredKey = (Arc<str>, Arc<crate::catalogue::Metric>, crate::time::Micros, crate::time::Micros, f64);

/// See [`FlowConfig::dedup_seed`].
#[derive(Debug, Clone, Default)]
pub struct DedupSeed {
    /// The wall clock at start-up (µs).
    pub now: crate::time::Micros,
    /// Stored readings.
    pub stored: Vec<StoredKey>,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            queue_capacity: 1024,
            workers: 1,
            tick: Duration::from_millis(200),
            conditioning: ConditioningConfig::default(),
            journal: None,
            dedup_seed: None,
        }
    }
}

/// A driver's handle on the pipeline's input queues (one per normaliser; a batch goes to its
/// device's). Clone one per driver.
#[derive(Debug, Clone)]
pub struct Inlet {
    txs: Arc<[Sender<Envelope>]>,
    stats: Arc<PipelineStats>,
}

impl Inlet {
    /// Enqueues a batch, blocking while the queue is full (back-pressure). Returns the batch
    /// back if the pipeline has shut down. Async drivers call this inside
    /// `tokio::task::block_in_place`.
    pub fn send(&self, batch: IngestBatch) -> Result<(), IngestBatch> {
        self.send_sequenced(None, batch)
    }

    /// As [`Inlet::send`], for a batch read from WAL record `seq` (registered with the
    /// pipeline's [`SeqTracker`] by the caller).
    pub fn send_sequenced(&self, seq: Option<u64>, batch: IngestBatch) -> Result<(), IngestBatch> {
        let tx = self.queue_for(&batch);
        match tx.try_send(Envelope { seq, batch }) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(envelope)) => {
                self.stats.count_backpressure_wait();
                tx.send(envelope).map_err(|e| e.0.batch)
            }
            Err(TrySendError::Disconnected(envelope)) => Err(envelope.batch),
        }
    }

    /// Enqueues a batch if there is room now; otherwise returns it.
    pub fn try_send(&self, batch: IngestBatch) -> Result<(), IngestBatch> {
        self.queue_for(&batch).try_send(Envelope { seq: None, batch }).map_err(|e| e.into_inner().batch)
    }

    /// Batches waiting in the input queues.
    pub fn queued(&self) -> usize {
        self.txs.iter().map(Sender::len).sum()
    }

    /// The queue of the normaliser that owns the batch's (first) device; a batch without
    /// readings (dead letters only) goes to the first queue.
    fn queue_for(&self, batch: &IngestBatch) -> &Sender<Envelope> {
        let index = match (batch.readings.first(), self.txs.len()) {
            (Some(reading), n) if n > 1 => shard(&reading.device_id, n),
            _ => 0,
        };
        &self.txs[index]
    }
}

/// The normaliser (of `n`) that a device's batches go to: a fixed hash (FNV-1a), the same in
/// every run.
fn shard(device_id: &str, n: usize) -> usize {
    let hash =
        device_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3));
    (hash % n as u64) as usize
}

/// Work done on every conditioned batch before it is queued for the sink, on the thread that
/// conditions (see the module docs). It may change the batch (attach fills patient columns).
pub trait BatchStage: Send + 'static {
    /// Processes one conditioned batch.
    fn apply(&mut self, batch: &mut StoreBatch);
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
        Pipeline::start_with_stage(config, normaliser, None, sink)
    }

    /// Starts the normaliser threads and the writer thread, with `stage` run on every
    /// conditioned batch where the conditioner runs (see the module docs).
    pub fn start_with_stage<S: Sink>(
        config: FlowConfig,
        normaliser: Normaliser,
        stage: Option<Box<dyn BatchStage>>,
        sink: S,
    ) -> std::io::Result<Pipeline> {
        let stats = Arc::new(PipelineStats::default());
        let capacity = config.queue_capacity.max(1);
        let (out_tx, out_rx) = bounded::<(StoreBatch, Vec<u64>)>(capacity);
        let mut conditioner = Conditioner::new(&config.conditioning);
        if let Some(seed) = config.dedup_seed {
            let dedup = conditioner.dedup_mut();
            dedup.start_clock(seed.now);
            for (device, metric, device_time, received_at, value) in seed.stored {
                dedup.remember(device, metric, device_time, received_at, value);
            }
        }
        // One normaliser: it conditions (see the module docs); several: the writer does.
        let n_workers = config.workers.max(1);
        let (mut on_normaliser, on_writer) =
            if n_workers == 1 { (Some((conditioner, stage)), None) } else { (None, Some((conditioner, stage))) };
        let mut workers = Vec::new();
        let mut inlets = Vec::new();
        for i in 0..n_workers {
            let (in_tx, in_rx) = bounded::<Envelope>(capacity);
            inlets.push(in_tx);
            let (rx, tx, n, s) = (in_rx, out_tx.clone(), normaliser.clone(), Arc::clone(&stats));
            let (mut conditioner, mut stage) = on_normaliser.take().map_or((None, None), |(c, st)| (Some(c), st));
            let handle = std::thread::Builder::new()
                .name(format!("normalise-{i}"))
                .spawn(move || normalise_loop(&rx, &tx, &n, &s, conditioner.as_mut(), stage.as_deref_mut()))?;
            workers.push(handle);
        }
        drop(out_tx);
        let s = Arc::clone(&stats);
        let tick = config.tick;
        let (mut conditioner, mut stage) = on_writer.map_or((None, None), |(c, st)| (Some(c), st));
        let journal = config.journal.clone();
        let writer = std::thread::Builder::new().name("writer".into()).spawn(move || {
            writer_loop(&out_rx, conditioner.as_mut(), stage.as_deref_mut(), sink, tick, &s, journal.as_deref())
        })?;
        Ok(Pipeline { inlet: Inlet { txs: inlets.into(), stats: Arc::clone(&stats) }, workers, writer, stats })
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

fn normalise_loop(
    rx: &Receiver<Envelope>,
    tx: &Sender<(StoreBatch, Vec<u64>)>,
    n: &Normaliser,
    stats: &PipelineStats,
    mut conditioner: Option<&mut Conditioner>,
    mut stage: Option<&mut dyn BatchStage>,
) {
    // Block for one batch, then drain what is already queued into the same output batch.
    while let Ok(first) = rx.recv() {
        let mut out = StoreBatch::default();
        let mut seqs = Vec::new();
        seqs.extend(first.seq);
        n.normalise_batch(first.batch, &mut out, stats);
        for more in rx.try_iter().take(63) {
            seqs.extend(more.seq);
            n.normalise_batch(more.batch, &mut out, stats);
        }
        if let Some(conditioner) = conditioner.as_deref_mut() {
            stats.count_conditioned(&conditioner.condition(&mut out));
        }
        if let Some(stage) = stage.as_deref_mut() {
            stage.apply(&mut out);
        }
        if tx.send((out, seqs)).is_err() {
            return; // the writer is gone: shutting down after a writer failure
        }
    }
}

fn writer_loop<S: Sink>(
    rx: &Receiver<(StoreBatch, Vec<u64>)>,
    mut conditioner: Option<&mut Conditioner>,
    mut stage: Option<&mut dyn BatchStage>,
    mut sink: S,
    tick: Duration,
    stats: &PipelineStats,
    journal: Option<&SeqTracker>,
) -> Result<(), SinkError> {
    let mut last_tick = Instant::now();
    loop {
        match rx.recv_timeout(tick) {
            Ok((mut batch, seqs)) => {
                if let Some(conditioner) = conditioner.as_deref_mut() {
                    stats.count_conditioned(&conditioner.condition(&mut batch));
                }
                if let Some(stage) = stage.as_deref_mut() {
                    stage.apply(&mut batch);
                }
                stats.count_batch_stored();
                if let Err(e) = sink.write_sequenced(batch, seqs.iter().min().copied()) {
                    stats.count_sink_error();
                    tracing::error!(error = %e, "sink write failed; data kept for retry");
                }
                if let Some(journal) = journal {
                    journal.handed_to_sink(&seqs);
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
            if let Some(journal) = journal {
                journal.update(sink.oldest_buffered_seq());
            }
        }
    }
    let flushed = sink.flush();
    if let (Some(journal), Ok(())) = (journal, &flushed) {
        journal.update(sink.oldest_buffered_seq());
    }
    flushed
}

/// What the input queue carries: a batch and the WAL record it came from, if any.
#[derive(Debug)]
struct Envelope {
    seq: Option<u64>,
    batch: IngestBatch,
}

#[cfg(test)]
#[path = "flow_tests.rs"]
mod tests;
