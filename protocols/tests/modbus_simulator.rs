//! The Modbus driver against wardstream's own simulated slave (a blood fridge and an incubator
//! on rmodbus's server side) over TCP and over RTU on a `socat` pty pair: moving values decode
//! into the expected ranges and are stored under their catalogue metrics (storage temperature,
//! door, humidity, heater), injected exceptions become dead letters, and a silent slave on a
//! shared RTU bus never stops the other from being polled.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "peers/modbus_harness.rs"]
mod harness;

use std::sync::Arc;

use harness::{Harness, PtyPair};
use wardstream_pipeline::{Observation, Reason};
use wardstream_protocols::modbus::{DeviceConfig, ModbusConfig, ModelConfig, SerialConfig, Transport};
use wardstream_simulators::modbus::{DeviceKind, Faults, SlaveConfig, spawn_slave};

fn models() -> Vec<ModelConfig> {
    [DeviceKind::BloodFridge, DeviceKind::Incubator]
        .into_iter()
        .map(|k| serde_json::from_str(k.register_map_json()).unwrap())
        .collect()
}

fn device(id: &str, model: &str, unit: u8, transport: Transport) -> DeviceConfig {
    DeviceConfig {
        poll_interval_ms: 50,
        timeout_ms: 250,
        retries: 1,
        transport,
        ..DeviceConfig::tcp(id, model, "", 0, unit)
    }
}

fn values<'a>(observations: &'a [Observation], device: &str, metric: &str) -> Vec<&'a Observation> {
    observations.iter().filter(|o| &*o.device_id == device && o.metric.name == metric).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fridge_and_incubator_over_tcp_with_injected_exceptions() {
    let slave = spawn_slave(SlaveConfig::tcp("127.0.0.1:0")).await.unwrap();
    slave.faults(1).unwrap().set(Faults { exception_every: 3, exception_code: 0x04, ..Faults::default() });
    let port = slave.local_addr().unwrap().port();
    let tcp = || Transport::Tcp { host: "127.0.0.1".into(), port };
    let config = ModbusConfig {
        models: models(),
        devices: vec![
            device("fridge-1", "blood-fridge", 1, tcp()),
            device("incubator-1", "incubator", 2, tcp()),
            device("ghost-7", "blood-fridge", 7, tcp()), // no such unit: the slave answers 0x0B
        ],
    };
    let h = Harness::start(config);
    let stats = Arc::clone(&h.stats);
    h.wait_for("fridge-1", "exceptions", |s| s.exceptions >= 2 && s.readings >= 4).await;
    h.wait_for("incubator-1", "readings", |s| s.readings >= 12).await;
    h.wait_for("ghost-7", "exceptions", |s| s.exceptions >= 2).await;
    let (observations, dead) = h.finish().await;
    let stats = stats.snapshot();

    let fridge = values(&observations, "fridge-1", "temp_storage");
    assert!(!fridge.is_empty());
    for o in &fridge {
        assert!((3.7..=4.3).contains(&o.value), "fridge at {} °C", o.value);
        // A storage temperature: 4 °C is plausible (as `temp`, a body temperature, it was not).
        assert_eq!((o.source_unit.as_deref(), o.status().as_str()), (Some("Cel"), "valid"));
    }
    // The door stays closed in the slave's first minute; the test is over long before.
    let door = values(&observations, "fridge-1", "door_open");
    assert!(door.iter().all(|o| o.value == 0.0 && o.status().as_str() == "valid"));
    for (metric, range) in [("temp", 36.8..=37.2), ("temp_skin", 36.4..=36.6), ("humidity_relative", 55.0..=65.0)] {
        let got = values(&observations, "incubator-1", metric);
        assert_eq!(got.len() as u64, stats["incubator-1"].polls, "{metric}: one per poll");
        assert!(got.iter().all(|o| range.contains(&o.value) && o.status().as_str() == "valid"), "{metric}");
    }
    // The incubator's f32 air temperature (word order CDAB) is exactly an f32.
    assert!(values(&observations, "incubator-1", "temp").iter().all(|o| o.value == f64::from(o.value as f32)));

    let heater = values(&observations, "incubator-1", "heater_on");
    assert_eq!(heater.len() as u64, stats["incubator-1"].polls, "heater_on: one per poll");
    assert!(heater.iter().all(|o| (o.value == 0.0 || o.value == 1.0) && o.status().as_str() == "valid"));
    // Humidity is u16 tenths of %: every value is on the 0.1 % grid.
    assert!(values(&observations, "incubator-1", "humidity_relative").iter().all(|o| (o.value * 10.0).fract() == 0.0));

    let count = |device: &str, reason: Reason, name: &str| {
        dead.iter()
            .filter(|d| {
                d.device_id.as_deref() == Some(device) && d.reason == reason && d.source_name.as_deref() == Some(name)
            })
            .count() as u64
    };
    let (fridge_stats, incubator_stats) = (stats["fridge-1"], stats["incubator-1"]);
    assert!(dead.iter().all(|d| d.reason != Reason::UnknownMetric), "every point is a catalogue metric");
    assert_eq!(incubator_stats.dead_letters, 0);
    let fridge_exceptions = count("fridge-1", Reason::InvalidPayload, "temp_storage")
        + count("fridge-1", Reason::InvalidPayload, "door_open");
    assert_eq!(fridge_exceptions, fridge_stats.exceptions);
    assert_eq!(fridge_stats.responses, 2 * fridge_stats.polls, "two blocks per poll");
    // Every 3rd request of unit 1 is refused, so a third of its responses are exceptions.
    assert_eq!(fridge_stats.exceptions, fridge_stats.responses / 3);
    assert_eq!(fridge.len() as u64 + count("fridge-1", Reason::InvalidPayload, "temp_storage"), fridge_stats.polls);
    assert_eq!(door.len() as u64 + count("fridge-1", Reason::InvalidPayload, "door_open"), fridge_stats.polls);
    let refused =
        dead.iter().find(|d| d.device_id.as_deref() == Some("fridge-1") && d.reason == Reason::InvalidPayload).unwrap();
    assert!(refused.detail.starts_with("Modbus exception 0x04 (server device failure)"), "{}", refused.detail);
    let ghost = dead.iter().find(|d| d.device_id.as_deref() == Some("ghost-7")).unwrap();
    assert!(
        ghost.detail.starts_with("Modbus exception 0x0B (gateway target device failed to respond)"),
        "{}",
        ghost.detail
    );
    assert_eq!(stats["ghost-7"].readings, 0);
    for s in stats.values() {
        assert_eq!((s.timeouts, s.errors, s.reconnects), (0, 0, 0), "{s:?}");
    }
    slave.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_slave_on_a_shared_rtu_bus_never_stops_the_other_being_polled() {
    let pty = PtyPair::new();
    let slave = spawn_slave(SlaveConfig::rtu(&pty.a.display().to_string())).await.unwrap();
    let rtu = || Transport::Rtu(SerialConfig::new(&pty.b.display().to_string()));
    let config = ModbusConfig {
        models: models(),
        devices: vec![device("fridge-1", "blood-fridge", 1, rtu()), device("incubator-1", "incubator", 2, rtu())],
    };
    let h = Harness::start(config);
    let stats = Arc::clone(&h.stats);
    h.wait_for("fridge-1", "readings", |s| s.readings >= 4).await;
    h.wait_for("incubator-1", "readings", |s| s.readings >= 4).await;

    slave.faults(2).unwrap().set_silent(true);
    let silent = h.wait_for("incubator-1", "timeouts", |s| s.timeouts >= 4).await;
    let fridge_before = h.device("fridge-1").readings;
    h.wait_for("fridge-1", "polls while unit 2 is silent", |s| s.readings >= fridge_before + 10).await;
    let incubator = h.device("incubator-1");
    assert_eq!(incubator.readings, silent.readings, "nothing read from a silent slave");

    slave.faults(2).unwrap().set_silent(false);
    h.wait_for("incubator-1", "recovery", |s| s.readings > incubator.readings).await;
    let (observations, dead) = h.finish().await;
    let stats = stats.snapshot();
    let fridge = &stats["fridge-1"];
    assert_eq!((fridge.timeouts, fridge.errors, fridge.exceptions), (0, 0, 0), "the fridge never noticed: {fridge:?}");
    assert_eq!(values(&observations, "fridge-1", "temp_storage").len() as u64, fridge.polls);
    assert_eq!(values(&observations, "fridge-1", "door_open").len() as u64, fridge.polls);
    // The incubator's 4 points are read in more than one request a poll: when the slave falls
    // silent (or wakes) between two of them, that poll is read in part and what was read is kept,
    // so the metrics' counts may differ by one for each of the two switches, never more.
    let per_metric: Vec<u64> = ["temp", "humidity_relative", "temp_skin", "heater_on"]
        .iter()
        .map(|metric| values(&observations, "incubator-1", metric).len() as u64)
        .collect();
    assert_eq!(per_metric.iter().sum::<u64>(), stats["incubator-1"].readings, "every reading counted is stored once");
    let (fewest, most) = (per_metric.iter().min().copied(), per_metric.iter().max().copied());
    assert!(most.zip(fewest).is_some_and(|(most, fewest)| most - fewest <= 2), "per metric: {per_metric:?}");
    assert!(fewest.is_some_and(|n| n >= 1), "read before the silence and after: {per_metric:?}");
    assert!(dead.is_empty(), "a silent slave produces no data, hence no dead letters: {dead:?}");
    assert!(observations.iter().all(|o| o.source.as_str() == "modbus"));
    slave.stop();
}
