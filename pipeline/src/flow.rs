//! The threaded hot path: drivers → bounded queue → normaliser threads → bounded queue → one
//! writer thread that owns the [`Sink`].
//!
//! ```text
//! driver ─┐                       ┌─ normaliser ─┐
//! driver ─┼─▶ [IngestBatch queue] ┼─ normaliser ─┼─▶ [StoreBatch queue] ─▶ writer ─▶ Sink
//! driver ─┘   (bounded)           └─ …           ┘   (bounded)
//! ```
//!
//! Design: batches, not readings, move through the queues (one wake-up per message, per
//! PITFALLS' measurements on 2 cores). Both queues are bounded crossbeam channels: when one is
//! full its producer blocks, so a slow disk slows the normalisers, which slow the drivers, which
//! stop reading from their peers (MQTT stops acking). Nothing is dropped and no buffer grows
//! without bound. Shutdown is by disconnection: when every [`Inlet`] is dropped the normalisers
//! drain and exit, then the writer drains, flushes the sink and exits.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded};

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

/// Sizes of the hot path.
#[derive(Debug, Clone)]
pub struct FlowConfig {
    /// Capacity of each queue, in batches.
    pub queue_capacity: usize,
    /// Normaliser threads.
    pub workers: usize,
    /// How often the writer calls [`Sink::tick`] when idle or busy.
    pub tick: Duration,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig { queue_capacity: 1024, workers: 1, tick: Duration::from_millis(200) }
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
        let writer =
            std::thread::Builder::new().name("writer".into()).spawn(move || writer_loop(&out_rx, sink, tick, &s))?;
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
    mut sink: S,
    tick: Duration,
    stats: &PipelineStats,
) -> Result<(), SinkError> {
    let mut last_tick = Instant::now();
    loop {
        match rx.recv_timeout(tick) {
            Ok(batch) => {
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
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::{Catalogue, RawValue, Source};

    #[derive(Clone, Default)]
    struct MemorySink {
        rows: Arc<Mutex<Vec<Observation>>>,
        dead: Arc<Mutex<Vec<DeadLetter>>>,
        flushed: Arc<Mutex<bool>>,
    }

    impl Sink for MemorySink {
        fn write(&mut self, batch: StoreBatch) -> Result<(), SinkError> {
            self.rows.lock().unwrap().extend(batch.observations);
            self.dead.lock().unwrap().extend(batch.dead_letters);
            Ok(())
        }
        fn tick(&mut self) -> Result<(), SinkError> {
            Ok(())
        }
        fn flush(&mut self) -> Result<(), SinkError> {
            *self.flushed.lock().unwrap() = true;
            Ok(())
        }
    }

    fn reading(i: usize) -> RawReading {
        RawReading {
            device_id: Arc::from(format!("dev-{}", i % 7)),
            name: if i % 10 == 9 { "bogus".into() } else { "HR".into() },
            value: RawValue::Number(i as f64 % 200.0),
            unit: Some("/min".into()),
            device_time: i as i64,
            received_at: i as i64,
            source: Source::Mqtt,
            origin: Arc::from("t"),
            raw: Arc::from(&b""[..]),
            flags: crate::Flags::NONE,
        }
    }

    #[test]
    fn every_reading_comes_out_exactly_once_through_tiny_queues_and_many_producers() {
        let sink = MemorySink::default();
        let config = FlowConfig { queue_capacity: 1, workers: 2, tick: Duration::from_millis(5) };
        let pipeline = Pipeline::start(config, Normaliser::new(Arc::new(Catalogue::builtin())), sink.clone()).unwrap();
        let producers: Vec<_> = (0..4)
            .map(|p| {
                let inlet = pipeline.inlet();
                std::thread::spawn(move || {
                    for b in 0..250 {
                        let readings = (0..4).map(|k| reading(p * 1000 + b * 4 + k)).collect();
                        inlet.send(IngestBatch { readings, dead_letters: vec![] }).unwrap();
                    }
                })
            })
            .collect();
        for p in producers {
            p.join().unwrap();
        }
        let stats = pipeline.stats();
        pipeline.shutdown().unwrap();
        let mut times: Vec<i64> = sink.rows.lock().unwrap().iter().map(|o| o.time).collect();
        times.sort_unstable();
        let expected: Vec<i64> = (0..4000).filter(|i| i % 10 != 9).map(|i| i as i64).collect();
        assert_eq!(times, expected);
        assert_eq!(sink.dead.lock().unwrap().len(), 400);
        assert!(*sink.flushed.lock().unwrap());
        let snap = stats.snapshot();
        assert_eq!((snap.readings_received, snap.observations, snap.dead_letters), (4000, 3600, 400));
    }

    /// A sink that holds the writer until the test lets it go.
    struct GatedSink {
        gate: Receiver<()>,
        inner: MemorySink,
    }

    impl Sink for GatedSink {
        fn write(&mut self, batch: StoreBatch) -> Result<(), SinkError> {
            let _ = self.gate.recv();
            self.inner.write(batch)
        }
        fn tick(&mut self) -> Result<(), SinkError> {
            Ok(())
        }
        fn flush(&mut self) -> Result<(), SinkError> {
            self.inner.flush()
        }
    }

    #[test]
    fn a_stalled_sink_blocks_producers_instead_of_dropping() {
        let (open_tx, gate) = crossbeam_channel::unbounded();
        let inner = MemorySink::default();
        let sink = GatedSink { gate, inner: inner.clone() };
        let config = FlowConfig { queue_capacity: 1, workers: 1, tick: Duration::from_millis(5) };
        let pipeline = Pipeline::start(config, Normaliser::new(Arc::new(Catalogue::builtin())), sink).unwrap();
        let inlet = pipeline.inlet();
        let producer = std::thread::spawn(move || {
            for i in 0..50 {
                inlet.send(IngestBatch { readings: vec![reading(i * 10)], dead_letters: vec![] }).unwrap();
            }
        });
        // With the sink stalled, at most a few batches fit in the queues: the producer must wait.
        let stats = pipeline.stats();
        while stats.snapshot().backpressure_waits == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert!(inner.rows.lock().unwrap().is_empty());
        for _ in 0..50 {
            open_tx.send(()).unwrap();
        }
        producer.join().unwrap();
        pipeline.shutdown().unwrap();
        assert_eq!(inner.rows.lock().unwrap().len(), 50);
    }
}
