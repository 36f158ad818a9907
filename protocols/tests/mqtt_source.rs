//! The MQTT source against a real Mosquitto broker, feeding a real `Pipeline` with an in-memory
//! sink. Mosquitto (`mosquitto`, `mosquitto_pub`) must be installed: these tests fail, rather
//! than skip, without it. `MOSQUITTO` / `MOSQUITTO_PUB` override the binaries' paths.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "peers/mosquitto.rs"]
mod mosquitto;

use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mosquitto::{Broker, tool};
use tokio::sync::watch;
use wardstream_pipeline::{
    Catalogue, Clock, DeadLetter, FlowConfig, Micros, Normaliser, Observation, Pipeline, Reason, Sink, SinkError,
    StoreBatch,
};
use wardstream_protocols::mqtt::{self, MqttConfig, MqttStats};

const NOW: Micros = 1_700_000_100_000_000;
const WAIT: Duration = Duration::from_secs(20);

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

struct FixedClock;

impl Clock for FixedClock {
    fn now_micros(&self) -> Micros {
        NOW
    }
}

/// A pipeline with a memory sink and an MQTT source running against `url`.
struct Harness {
    pipeline: Pipeline,
    sink: MemorySink,
    stats: Arc<MqttStats>,
    shutdown: watch::Sender<bool>,
    source: tokio::task::JoinHandle<Result<(), mqtt::Error>>,
}

impl Harness {
    fn start(url: &str) -> Harness {
        let sink = MemorySink::default();
        let flow =
            FlowConfig { queue_capacity: 2, workers: 1, tick: Duration::from_millis(10), ..FlowConfig::default() };
        let pipeline = Pipeline::start(flow, Normaliser::new(Arc::new(Catalogue::builtin())), sink.clone()).unwrap();
        let stats = Arc::new(MqttStats::new());
        let (shutdown, rx) = watch::channel(false);
        let config = MqttConfig::test_config(url);
        let source = tokio::spawn(mqtt::run(config, pipeline.inlet(), Arc::new(FixedClock), Arc::clone(&stats), rx));
        Harness { pipeline, sink, stats, shutdown, source }
    }

    async fn wait_for(&self, what: &str, cond: impl Fn(&wardstream_protocols::mqtt::MqttStatsSnapshot) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !cond(&self.stats.snapshot()) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}: {:?}", self.stats.snapshot());
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the source, then the pipeline; returns what reached the sink.
    async fn finish(self) -> (Vec<Observation>, Vec<DeadLetter>) {
        self.shutdown.send(true).unwrap();
        let stopped = tokio::time::timeout(WAIT, self.source).await.expect("the source did not stop");
        stopped.unwrap().unwrap();
        let pipeline_stats = self.pipeline.stats();
        self.pipeline.shutdown().unwrap();
        let observations = std::mem::take(&mut *self.sink.observations.lock().unwrap());
        let dead = std::mem::take(&mut *self.sink.dead_letters.lock().unwrap());
        let snap = pipeline_stats.snapshot();
        assert_eq!((snap.observations, snap.dead_letters), (observations.len() as u64, dead.len() as u64));
        (observations, dead)
    }
}

fn big_pack(records: usize) -> Vec<u8> {
    let body: Vec<String> =
        (0..records).map(|i| format!(r#"{{"n":"HR","u":"/min","v":{},"t":-{i}}}"#, 60 + i % 50)).collect();
    format!(r#"[{{"bn":"big:","bt":0}},{}]"#, body.join(",")).into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_and_malformed_packs_arrive_as_exact_observations_and_dead_letters() {
    let broker = Broker::start();
    let h = Harness::start(&broker.url());
    h.wait_for("the subscription", |s| s.subscribed).await;

    let big = big_pack(1000);
    assert!(big.len() > 20 * 1024, "the big pack must exceed rumqttc's 10 KiB default");
    let messages: [(&str, &[u8]); 8] = [
        ("wardstream/icu/bed-1", br#"[{"bn":"urn:dev:mac:0024befffe804ff1:","bt":1.7e9,"n":"HR","u":"/min","v":72},{"n":"SpO2","u":"%","t":1,"v":97}]"#),
        ("wardstream/icu/monitor-7/senml", br#"[{"n":"HR","u":"beat/min","v":80,"t":-2}]"#),
        ("wardstream/icu/bed-1", b"not json"),
        ("wardstream/icu/bed-1", br#"[{"bver":11,"n":"a:HR","v":1}]"#),
        ("wardstream/icu/bed-2", br#"[{"bn":"dev1/","n":"HR","v":60},{"n":"RESP"}]"#),
        ("wardstream/icu/bed-2", br#"[{"n":"dev1/voltage","u":"V","v":1}]"#),
        ("wardstream/icu/bed-3", b"[\xff]"),
        ("wardstream/icu/bed-4", &big),
    ];
    for (topic, payload) in messages {
        broker.publish(topic, payload).await;
    }
    h.wait_for("every message", |s| s.messages_received == 8).await;
    let snap = h.stats.snapshot();
    assert_eq!((snap.readings_decoded, snap.dead_letters, snap.reconnects), (1 + 1 + 1 + 1 + 1 + 1000, 4, 0));
    assert_eq!(snap.bytes_received, messages.iter().map(|(_, p)| p.len() as u64).sum::<u64>());
    assert_eq!(snap.last_message_at, Some(NOW));

    let (observations, dead) = h.finish().await;
    assert_eq!(observations.len(), 2 + 1 + 1 + 1000);
    let hr = observations
        .iter()
        .find(|o| &*o.device_id == "urn:dev:mac:0024befffe804ff1" && o.metric.name == "heart_rate")
        .unwrap();
    assert_eq!((hr.value, hr.time, hr.received_at, &*hr.source_name), (72.0, 1_700_000_000_000_000, NOW, "HR"));
    let spo2 = observations.iter().find(|o| o.metric.name == "spo2").unwrap();
    assert_eq!(
        (spo2.value, spo2.time, &*spo2.device_id),
        (97.0, 1_700_000_001_000_000, "urn:dev:mac:0024befffe804ff1")
    );
    let m7 = observations.iter().find(|o| &*o.device_id == "monitor-7").unwrap();
    assert_eq!((m7.value, m7.time, m7.source_unit.as_deref()), (80.0, NOW - 2_000_000, Some("beat/min")));
    let dev1 = observations.iter().find(|o| &*o.device_id == "dev1").unwrap();
    assert_eq!((dev1.metric.name.as_str(), dev1.value), ("heart_rate", 60.0));
    let big: Vec<&Observation> = observations.iter().filter(|o| &*o.device_id == "big").collect();
    assert_eq!(big.len(), 1000);
    assert_eq!(big.iter().map(|o| o.value).sum::<f64>(), (0..1000).map(|i| 60.0 + (i % 50) as f64).sum::<f64>());
    assert!(big.iter().all(|o| o.time <= NOW && o.time > NOW - 1000 * 1_000_000));

    let mut reasons: Vec<(Reason, &str)> = dead.iter().map(|d| (d.reason, &*d.origin)).collect();
    reasons.sort_by_key(|(r, o)| (r.index(), o.to_string()));
    assert_eq!(
        reasons,
        [
            (Reason::InvalidPayload, "wardstream/icu/bed-1"),
            (Reason::InvalidPayload, "wardstream/icu/bed-3"),
            (Reason::MissingValue, "wardstream/icu/bed-2"),
            (Reason::UnknownMetric, "wardstream/icu/bed-2"),
            (Reason::UnsupportedVersion, "wardstream/icu/bed-1"),
        ]
    );
    let garbage = dead.iter().find(|d| &*d.payload == b"not json").unwrap();
    assert_eq!((garbage.received_at, garbage.detail.as_str()), (NOW, "expected ident at line 1 column 2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readings_arrive_after_the_broker_restarts_on_the_same_port() {
    let mut broker = Broker::start();
    let h = Harness::start(&broker.url());
    h.wait_for("the subscription", |s| s.subscribed).await;
    broker.publish("wardstream/icu/bed-1", br#"[{"bn":"before/","n":"HR","v":70}]"#).await;
    h.wait_for("the first message", |s| s.messages_received == 1).await;

    broker.stop();
    h.wait_for("the disconnection", |s| !s.connected && s.reconnects >= 1).await;
    broker.restart();
    // A restarted broker without persistence has no session: the source must subscribe again.
    h.wait_for("the new subscription", |s| s.connected && s.subscribed).await;
    broker.publish("wardstream/icu/bed-1", br#"[{"bn":"after/","n":"HR","v":71}]"#).await;
    h.wait_for("the second message", |s| s.messages_received == 2).await;

    let (observations, dead) = h.finish().await;
    let got: Vec<(&str, f64)> = observations.iter().map(|o| (&*o.device_id, o.value)).collect();
    assert_eq!(got, [("before", 70.0), ("after", 71.0)]);
    assert!(dead.is_empty(), "{dead:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_broker_is_retried_with_backoff_and_shutdown_still_returns() {
    // A port nobody listens on: every connection attempt is refused at once.
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let h = Harness::start(&format!("mqtt://127.0.0.1:{port}"));
    tokio::time::sleep(Duration::from_millis(1200)).await;
    // Backoff 100 + 200 + 400 ms (+ 800 ms): 3 or 4 attempts in 1.2 s, not thousands.
    let reconnects = h.stats.snapshot().reconnects;
    assert!((1..=5).contains(&reconnects), "{reconnects} reconnects in 1.2 s");
    assert!(!h.stats.snapshot().connected);
    let started = Instant::now();
    let (observations, dead) = h.finish().await;
    assert!(started.elapsed() < Duration::from_secs(2), "shutdown took {:?}", started.elapsed());
    assert!(observations.is_empty() && dead.is_empty());
}

#[test]
fn the_mosquitto_binaries_are_installed() {
    for (name, env) in [("mosquitto", "MOSQUITTO"), ("mosquitto_pub", "MOSQUITTO_PUB")] {
        assert!(Path::new(&tool(name, env)).is_file());
    }
}
