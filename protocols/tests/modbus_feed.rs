//! The Modbus driver delivering through a journaled [`Feed`] (the write-ahead log's place) to a
//! real pipeline, polling wardstream's simulated blood fridge over TCP: batches the log refuses
//! are retried with backoff, counted as `feed_failures` and stored exactly once; shutdown while
//! the log keeps refusing ends the driver with the undelivered counts.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use wardstream_pipeline::{
    Catalogue, DeadLetter, Feed, FeedError, FlowConfig, IngestBatch, Inlet, Journal, Normaliser, Observation, Pipeline,
    Sink, SinkError, StoreBatch, SystemClock,
};
use wardstream_protocols::modbus::{self, DeviceConfig, DeviceStatsSnapshot, ModbusConfig, ModbusStats, Transport};
use wardstream_simulators::modbus::{DeviceKind, SlaveConfig, spawn_slave};

const WAIT: Duration = Duration::from_secs(30);

#[derive(Clone, Default)]
struct MemorySink {
    observations: Arc<Mutex<Vec<Observation>>>,
    dead_letters: Arc<Mutex<Vec<DeadLetter>>>,
}

impl Sink for MemorySink {
    fn write(&mut self, batch: StoreBatch) -> Result<(), SinkError> {
        self.observations.lock().unwrap().extend(batch.observations);
        self.dead_letters.lock().unwrap().extend(batch.dead_letters);
        Ok(())
    }
    fn tick(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
    fn flush(&mut self) -> Result<(), SinkError> {
        Ok(())
    }
}

/// A log that refuses the first `failures` submissions ("disk full"), then forwards each batch
/// to the pipeline as the real log does after appending it.
struct FlakyLog {
    inlet: Inlet,
    failures: Mutex<u32>,
    taken: Arc<AtomicU64>,
}

impl Journal for FlakyLog {
    fn submit(&self, batch: IngestBatch) -> Result<u64, (FeedError, IngestBatch)> {
        let mut failures = self.failures.lock().unwrap();
        if *failures > 0 {
            *failures -= 1;
            return Err((FeedError::Log("disk full".into()), batch));
        }
        self.inlet.send(batch).map_err(|batch| (FeedError::Closed, batch))?;
        Ok(self.taken.fetch_add(1, Ordering::SeqCst) + 1)
    }
    fn wait_durable(&self, _seq: u64) -> Result<(), FeedError> {
        Ok(())
    }
}

/// The simulated slave, a pipeline into memory, and the driver polling the fridge (unit 1)
/// through a [`FlakyLog`] refusing its first `failures` batches. Only the driver holds the log
/// (and so an inlet): the pipeline shuts down once the driver has stopped.
struct Rig {
    _slave: wardstream_simulators::modbus::SlaveHandle,
    pipeline: Pipeline,
    sink: MemorySink,
    taken: Arc<AtomicU64>,
    stats: Arc<ModbusStats>,
    shutdown: watch::Sender<bool>,
    driver: tokio::task::JoinHandle<Result<(), modbus::Error>>,
}

impl Rig {
    async fn start(failures: u32) -> Rig {
        let slave = spawn_slave(SlaveConfig::tcp("127.0.0.1:0")).await.unwrap();
        let port = slave.local_addr().unwrap().port();
        let config = ModbusConfig {
            models: vec![serde_json::from_str(DeviceKind::BloodFridge.register_map_json()).unwrap()],
            devices: vec![DeviceConfig {
                poll_interval_ms: 20,
                timeout_ms: 250,
                transport: Transport::Tcp { host: "127.0.0.1".into(), port },
                ..DeviceConfig::tcp("fridge-1", "blood-fridge", "", 0, 1)
            }],
        };
        let sink = MemorySink::default();
        let flow = FlowConfig { queue_capacity: 4, tick: Duration::from_millis(10), ..FlowConfig::default() };
        let pipeline = Pipeline::start(flow, Normaliser::new(Arc::new(Catalogue::builtin())), sink.clone()).unwrap();
        let taken = Arc::new(AtomicU64::new(0));
        let log = FlakyLog { inlet: pipeline.inlet(), failures: Mutex::new(failures), taken: Arc::clone(&taken) };
        let feed = Feed::Journaled(Arc::new(log));
        let stats = Arc::new(ModbusStats::new());
        let (shutdown, rx) = watch::channel(false);
        let driver = tokio::spawn(modbus::run(config, feed, Arc::new(SystemClock), Arc::clone(&stats), rx));
        Rig { _slave: slave, pipeline, sink, taken, stats, shutdown, driver }
    }

    async fn wait_for(&self, what: &str, cond: impl Fn(&DeviceStatsSnapshot) -> bool) -> DeviceStatsSnapshot {
        let deadline = Instant::now() + WAIT;
        loop {
            let s = self.stats.snapshot().get("fridge-1").copied().unwrap_or_default();
            if cond(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}: {s:?}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the driver, then the pipeline: the driver's result, what was stored, final stats.
    async fn finish(self) -> (Result<(), modbus::Error>, Vec<Observation>, Vec<DeadLetter>, DeviceStatsSnapshot) {
        self.shutdown.send(true).unwrap();
        let result = tokio::time::timeout(WAIT, self.driver).await.expect("the Modbus driver did not stop").unwrap();
        self.pipeline.shutdown().unwrap();
        let observations = std::mem::take(&mut *self.sink.observations.lock().unwrap());
        let dead = std::mem::take(&mut *self.sink.dead_letters.lock().unwrap());
        (result, observations, dead, self.stats.snapshot()["fridge-1"])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_the_log_refuses_are_retried_with_backoff_and_stored_exactly_once() {
    let started = Instant::now();
    let rig = Rig::start(3).await;
    rig.wait_for("ten polls", |s| s.polls >= 10).await;
    // 3 refusals cost 100 + 200 + 400 ms of backoff before the first batch got in.
    assert!(started.elapsed() >= Duration::from_millis(700), "{:?}", started.elapsed());
    let taken = Arc::clone(&rig.taken);
    let (result, observations, dead, stats) = rig.finish().await;
    result.unwrap();

    assert_eq!((stats.feed_failures, stats.exceptions, stats.timeouts, stats.errors), (3, 0, 0, 0));
    // One batch per poll, each taken once, each with the temperature and the door.
    assert_eq!(taken.load(Ordering::SeqCst), stats.polls);
    assert_eq!(stats.readings, 2 * stats.polls);
    assert_eq!(observations.len() as u64, 2 * stats.polls);
    assert!(dead.is_empty(), "{dead:?}");
    for metric in ["temp_storage", "door_open"] {
        let times: Vec<i64> = observations.iter().filter(|o| o.metric.name == metric).map(|o| o.time).collect();
        let distinct: BTreeSet<i64> = times.iter().copied().collect();
        assert_eq!((times.len() as u64, distinct.len() as u64), (stats.polls, stats.polls), "{metric}: one per poll");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_while_the_log_keeps_refusing_ends_the_driver_with_what_was_undelivered() {
    let rig = Rig::start(u32::MAX).await;
    rig.wait_for("two refusals", |s| s.feed_failures >= 2).await;
    let (result, observations, dead, stats) = rig.finish().await;
    assert_eq!(
        result.unwrap_err().to_string(),
        "shut down with 2 readings and 0 dead letters undelivered: the write-ahead log failed: disk full"
    );
    // The bus polled nothing while it retried its first batch.
    assert_eq!((stats.polls, stats.readings), (1, 2));
    assert!(stats.feed_failures >= 3, "the retries and the last attempt at shutdown: {stats:?}");
    assert!(observations.is_empty() && dead.is_empty());
}
