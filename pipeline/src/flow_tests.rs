//! Tests of the hot path ([`Pipeline`](super::Pipeline)): exactly-once delivery, back-pressure,
//! and conditioning (duplicates, clock skew) seen from the sink.

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
    let config = FlowConfig { queue_capacity: 1, workers: 2, tick: Duration::from_millis(5), ..FlowConfig::default() };
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
    let config = FlowConfig { queue_capacity: 1, workers: 1, tick: Duration::from_millis(5), ..FlowConfig::default() };
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

const S: i64 = 1_000_000;
const T0: i64 = 1_774_000_000 * S;

fn raw(device: &str, name: &str, device_time: i64, received_at: i64) -> RawReading {
    RawReading {
        device_id: Arc::from(device),
        name: name.into(),
        value: RawValue::Number(70.0),
        unit: None,
        device_time,
        received_at,
        source: Source::Mqtt,
        origin: Arc::from(format!("wardstream/icu/{device}/senml")),
        raw: Arc::from(&b"[...]"[..]),
        flags: crate::Flags::NONE,
    }
}

#[test]
fn redeliveries_become_duplicate_dead_letters_and_a_slow_clock_is_corrected_in_the_sink() {
    // One normaliser conditions on its own thread; with two the writer does.
    redeliveries_and_a_slow_clock(1);
}

#[test]
fn redeliveries_and_a_slow_clock_are_conditioned_the_same_with_two_normalisers() {
    redeliveries_and_a_slow_clock(2);
}

fn redeliveries_and_a_slow_clock(workers: usize) {
    use crate::{Flag, Reason};
    let sink = MemorySink::default();
    let config = FlowConfig { queue_capacity: 2, workers, tick: Duration::from_millis(5), ..FlowConfig::default() };
    let pipeline = Pipeline::start(config, Normaliser::new(Arc::new(Catalogue::builtin())), sink.clone()).unwrap();
    let inlet = pipeline.inlet();
    let send = |readings: Vec<RawReading>| inlet.send(IngestBatch { readings, dead_letters: vec![] }).unwrap();
    for m in 0..20 {
        let t = T0 + m * S;
        // A monitor whose clock is 5 min behind: two records a message, received 100 ms later.
        let skewed = t - 300 * S;
        send(vec![raw("slow", "HR", skewed, t + S / 10), raw("slow", "SpO2", skewed, t + S / 10)]);
        // A monitor on time whose messages the broker delivers twice (the first one three times).
        if m < 10 {
            for _ in 0..if m == 0 { 3 } else { 2 } {
                send(vec![raw("twice", "HR", t, t + S / 10)]);
            }
        }
    }
    send(vec![raw("twice", "bogus", T0, T0)]);
    drop(inlet);
    let stats = pipeline.stats();
    pipeline.shutdown().unwrap();

    let rows = sink.rows.lock().unwrap();
    let slow: Vec<&Observation> = rows.iter().filter(|o| &*o.device_id == "slow").collect();
    assert_eq!(slow.len(), 40);
    for (i, o) in slow.iter().enumerate() {
        let message = i as i64 / 2;
        assert_eq!(o.device_time, T0 + message * S - 300 * S, "row {i}: device time kept");
        if message < 7 {
            assert_eq!((o.time, o.flags.is_empty()), (o.device_time, true), "row {i}: warm-up");
        } else {
            assert_eq!(o.time, T0 + message * S + S / 10, "row {i}: corrected by the 300.1 s estimate");
            assert_eq!(o.flags, crate::Flags::of(Flag::ClockCorrected));
        }
    }
    let twice: Vec<i64> = rows.iter().filter(|o| &*o.device_id == "twice").map(|o| o.time).collect();
    assert_eq!(twice, (0..10).map(|m| T0 + m * S).collect::<Vec<_>>());
    assert!(rows.iter().filter(|o| &*o.device_id == "twice").all(|o| o.flags.is_empty()));

    let dead = sink.dead.lock().unwrap();
    let reasons = |r: Reason| dead.iter().filter(|d| d.reason == r).count();
    assert_eq!((dead.len(), reasons(Reason::Duplicate), reasons(Reason::UnknownMetric)), (12, 11, 1));
    assert!(dead.iter().filter(|d| d.reason == Reason::Duplicate).all(|d| d.device_id.as_deref() == Some("twice")));

    let snap = stats.snapshot();
    assert_eq!((snap.readings_received, snap.observations, snap.dead_letters), (62, 61, 12));
    assert_eq!((snap.duplicates, snap.clock_corrected, snap.future_time), (11, 26, 0));
    // Nothing else lost: every reading is a row or a dead letter.
    assert_eq!(rows.len() + dead.len(), 62);
}

#[test]
fn each_devices_batches_reach_the_sink_in_the_order_sent_whatever_the_number_of_normalisers() {
    for workers in [1, 2, 3, 4] {
        let sink = MemorySink::default();
        let config = FlowConfig { queue_capacity: 2, workers, tick: Duration::from_millis(5), ..FlowConfig::default() };
        let pipeline = Pipeline::start(config, Normaliser::new(Arc::new(Catalogue::builtin())), sink.clone()).unwrap();
        let inlet = pipeline.inlet();
        // One driver interleaving 12 devices, 300 one-reading messages each, device times rising.
        for m in 0..300_i64 {
            for d in 0..12 {
                let t = T0 + m * S;
                inlet
                    .send(IngestBatch { readings: vec![raw(&format!("dev-{d}"), "HR", t, t)], dead_letters: vec![] })
                    .unwrap();
            }
        }
        drop(inlet);
        pipeline.shutdown().unwrap();
        let rows = sink.rows.lock().unwrap();
        assert_eq!(rows.len(), 3600, "workers={workers}");
        for d in 0..12 {
            let device = format!("dev-{d}");
            let times: Vec<i64> = rows.iter().filter(|o| *o.device_id == *device).map(|o| o.device_time).collect();
            assert_eq!(times, (0..300).map(|m| T0 + m * S).collect::<Vec<_>>(), "workers={workers}, {device}");
        }
    }
}

#[test]
fn the_shard_of_a_device_is_fixed_and_spreads_devices_over_the_normalisers() {
    assert_eq!(shard("dev-1", 1), 0);
    assert_eq!(shard("monitor-7", 4), shard("monitor-7", 4));
    let mut used = [0_usize; 4];
    for d in 0..400 {
        used[shard(&format!("monitor-{d}"), 4)] += 1;
    }
    assert!(used.iter().all(|&n| n > 50), "{used:?}");
}

/// Per batch: the thread a stage ran on and the (device, device time) rows it saw.
type StageLog = Arc<Mutex<Vec<(String, Vec<(String, i64)>)>>>;

/// A stage that records, per batch, the thread it ran on and the rows it saw, and marks the
/// rows it saw (so the sink shows that it ran before the sink and could change the batch).
struct RecordingStage {
    seen: StageLog,
}

impl BatchStage for RecordingStage {
    fn apply(&mut self, batch: &mut StoreBatch) {
        let thread = std::thread::current().name().unwrap_or("?").to_string();
        let rows = batch.observations.iter().map(|o| (o.device_id.to_string(), o.device_time)).collect();
        self.seen.lock().unwrap().push((thread, rows));
        for o in &mut batch.observations {
            o.ward = Some(Arc::from("staged"));
        }
    }
}

/// The stage runs on conditioned batches (duplicates already gone), where the conditioner runs,
/// in each device's order, before the sink; a sink that blocks does not hold it up with one
/// normaliser.
fn stage_runs_after_conditioning(workers: usize, expected_thread: &str) {
    let seen: StageLog = Arc::new(Mutex::new(Vec::new()));
    let (open_tx, gate) = crossbeam_channel::unbounded();
    let inner = MemorySink::default();
    let sink = GatedSink { gate, inner: inner.clone() };
    let config = FlowConfig { queue_capacity: 64, workers, tick: Duration::from_millis(5), ..FlowConfig::default() };
    let stage = RecordingStage { seen: Arc::clone(&seen) };
    let pipeline = Pipeline::start_with_stage(
        config,
        Normaliser::new(Arc::new(Catalogue::builtin())),
        Some(Box::new(stage)),
        sink,
    )
    .unwrap();
    let inlet = pipeline.inlet();
    for m in 0..10 {
        let t = T0 + m * S;
        for device in ["a", "b", "c"] {
            // Every message twice: the second copy is a duplicate the stage must never see.
            for _ in 0..2 {
                inlet.send(IngestBatch { readings: vec![raw(device, "HR", t, t)], dead_letters: vec![] }).unwrap();
            }
        }
    }
    drop(inlet);
    if workers == 1 {
        // The sink is still closed: the normaliser served everything regardless.
        let deadline = Instant::now() + Duration::from_secs(10);
        while seen.lock().unwrap().iter().map(|(_, rows)| rows.len()).sum::<usize>() < 30 {
            assert!(Instant::now() < deadline, "the stage waited for the sink");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(inner.rows.lock().unwrap().is_empty(), "the sink has not written yet");
    }
    for _ in 0..1000 {
        let _ = open_tx.send(());
    }
    pipeline.shutdown().unwrap();

    let seen = seen.lock().unwrap();
    assert!(
        seen.iter().all(|(thread, _)| thread == expected_thread),
        "{:?}",
        seen.iter().map(|s| &s.0).collect::<Vec<_>>()
    );
    let staged: Vec<(String, i64)> = seen.iter().flat_map(|(_, rows)| rows.clone()).collect();
    for device in ["a", "b", "c"] {
        let times: Vec<i64> = staged.iter().filter(|(d, _)| d == device).map(|(_, t)| *t).collect();
        assert_eq!(times, (0..10).map(|m| T0 + m * S).collect::<Vec<_>>(), "{device}: once each, in order");
    }
    let rows = inner.rows.lock().unwrap();
    assert_eq!(rows.len(), 30);
    assert!(rows.iter().all(|o| o.ward.as_deref() == Some("staged")), "the sink got the staged batches");
}

#[test]
fn with_one_normaliser_the_stage_runs_on_it_and_a_blocked_sink_does_not_delay_it() {
    stage_runs_after_conditioning(1, "normalise-0");
}

#[test]
fn with_two_normalisers_the_stage_runs_on_the_writer_after_conditioning() {
    stage_runs_after_conditioning(2, "writer");
}
