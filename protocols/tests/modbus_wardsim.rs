//! End to end: the `wardsim modbus` binary (a blood fridge as unit 1, an incubator as unit 2)
//! polled by the Modbus driver into a real pipeline, over TCP with injected exceptions and a
//! silent unit, and over RTU on a `socat` pty pair. Every stored value is one the simulator's
//! model produces in the run's time window, exactly; every exception is one dead letter.
//!
//! Needs the `wardsim` binary beside this test binary (`cargo build -p wardstream-simulators
//! --bins` first; `scripts/test.sh` builds every binary) or at `$WARDSIM`, and socat.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "peers/modbus_harness.rs"]
mod harness;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use harness::{Harness, PtyPair, WAIT};
use wardstream_pipeline::{Observation, Reason};
use wardstream_protocols::modbus::{DeviceConfig, ModbusConfig, SerialConfig, Transport};
use wardstream_simulators::modbus::DeviceKind;
use wardstream_simulators::modbus::model::{
    fridge_door_open, fridge_temp_tenths, incubator_air_temp, incubator_humidity_tenths, incubator_skin_temp_hundredths,
};

fn wardsim() -> PathBuf {
    if let Some(path) = std::env::var_os("WARDSIM") {
        return path.into();
    }
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("wardsim");
    assert!(
        bin.exists(),
        "{} missing: run `cargo build -p wardstream-simulators --bins` first (scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// A running `wardsim modbus`, killed when dropped.
struct Wardsim {
    child: Child,
    /// What it printed after "listening on ".
    addr: String,
}

impl Wardsim {
    fn start(args: &[&str]) -> Wardsim {
        let mut child = Command::new(wardsim())
            .arg("modbus")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(WAIT).unwrap_or_default();
        let Some(addr) = line.trim_end().strip_prefix("listening on ") else {
            let _ = child.kill();
            panic!("wardsim modbus {args:?} printed {line:?}, not \"listening on ADDR\"");
        };
        Wardsim { addr: addr.to_owned(), child }
    }
}

impl Drop for Wardsim {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(transport: impl Fn() -> Transport, devices: &[(&str, &str, u8)]) -> ModbusConfig {
    ModbusConfig {
        models: [DeviceKind::BloodFridge, DeviceKind::Incubator]
            .into_iter()
            .map(|k| serde_json::from_str(k.register_map_json()).unwrap())
            .collect(),
        devices: devices
            .iter()
            .map(|(id, model, unit)| DeviceConfig {
                poll_interval_ms: 50,
                timeout_ms: 250,
                retries: 1,
                transport: transport(),
                ..DeviceConfig::tcp(id, model, "", 0, *unit)
            })
            .collect(),
    }
}

fn values<'a>(observations: &'a [Observation], device: &str, metric: &str) -> Vec<&'a Observation> {
    observations.iter().filter(|o| &*o.device_id == device && o.metric.name == metric).collect()
}

/// The values of `model` from the slave's start until `seconds` later, sampled each ms.
fn samples(seconds: f64, model: impl Fn(f64) -> f64) -> Vec<f64> {
    let ms = (seconds * 1000.0).ceil() as u64 + 1;
    (0..=ms).map(|t| model(t as f64 / 1000.0)).collect()
}

/// Asserts that `metric` of `device` has `count` observations, each valid and exactly a value
/// `model` takes within the first `seconds` of the slave: one of its samples for a stepped
/// model (tenths, hundredths, bits).
fn assert_model(
    observations: &[Observation],
    device: &str,
    metric: &str,
    count: u64,
    seconds: f64,
    model: impl Fn(f64) -> f64,
) {
    let allowed: BTreeSet<u64> = samples(seconds, model).into_iter().map(f64::to_bits).collect();
    assert_values(observations, device, metric, count, |v| allowed.contains(&v.to_bits()));
}

/// As [`assert_model`] for a continuous model (the incubator's f32 air temperature): each value
/// lies between two consecutive samples.
fn assert_model_continuous(
    observations: &[Observation],
    device: &str,
    metric: &str,
    count: u64,
    seconds: f64,
    model: impl Fn(f64) -> f64,
) {
    let samples = samples(seconds, model);
    let between = |v: f64| samples.windows(2).any(|w| w[0].min(w[1]) <= v && v <= w[0].max(w[1]));
    assert_values(observations, device, metric, count, between);
}

fn assert_values(observations: &[Observation], device: &str, metric: &str, count: u64, ok: impl Fn(f64) -> bool) {
    let got = values(observations, device, metric);
    assert_eq!(got.len() as u64, count, "{device} {metric}: one per poll");
    for o in got {
        assert!(ok(o.value), "{device} {metric} = {} is no value of the model", o.value);
        assert_eq!(o.status().as_str(), "valid", "{device} {metric} = {}", o.value);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wardsim_over_tcp_every_fourth_request_refused_and_the_incubator_silent() {
    let started = Instant::now();
    let sim = Wardsim::start(&["--listen", "127.0.0.1:0", "--exception-every", "4", "--silent-unit", "2"]);
    let port: u16 = sim.addr.rsplit_once(':').unwrap().1.parse().unwrap();
    let tcp = || Transport::Tcp { host: "127.0.0.1".into(), port };
    let h = Harness::start(config(tcp, &[("fridge-1", "blood-fridge", 1), ("incubator-1", "incubator", 2)]));
    let stats = Arc::clone(&h.stats);
    h.wait_for("fridge-1", "readings and exceptions", |s| s.readings >= 8 && s.exceptions >= 3).await;
    h.wait_for("incubator-1", "timeouts", |s| s.timeouts >= 2).await;
    let (observations, dead) = h.finish().await;
    let seconds = started.elapsed().as_secs_f64();
    let stats = stats.snapshot();
    let (fridge, incubator) = (stats["fridge-1"], stats["incubator-1"]);

    // Every 4th request of unit 1 is refused: a quarter of its responses, one dead letter each
    // (each block of the fridge holds one point).
    assert_eq!(fridge.exceptions, fridge.responses / 4);
    assert_eq!((fridge.timeouts, fridge.errors, fridge.dead_letters), (0, 0, fridge.exceptions));
    assert_eq!(dead.len() as u64, fridge.exceptions);
    for d in &dead {
        assert_eq!((d.device_id.as_deref(), d.reason), (Some("fridge-1"), Reason::InvalidPayload));
        assert!(d.detail.starts_with("Modbus exception 0x04 (server device failure)"), "{}", d.detail);
    }
    let refused = |name: &str| dead.iter().filter(|d| d.source_name.as_deref() == Some(name)).count() as u64;
    let temps = fridge.polls - refused("temp_storage");
    assert_model(&observations, "fridge-1", "temp_storage", temps, seconds, |t| {
        f64::from(fridge_temp_tenths(t)) / 10.0
    });
    let doors = fridge.polls - refused("door_open");
    assert_model(&observations, "fridge-1", "door_open", doors, seconds, |t| f64::from(u8::from(fridge_door_open(t))));
    assert_eq!(fridge.readings, temps + doors);

    // The silent unit: timeouts only, nothing stored, nothing dead-lettered.
    assert_eq!((incubator.readings, incubator.responses, incubator.dead_letters), (0, 0, 0));
    assert!(observations.iter().all(|o| &*o.device_id == "fridge-1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wardsim_over_rtu_on_a_pty_every_point_decodes_to_a_model_value() {
    let pty = PtyPair::new();
    let started = Instant::now();
    let sim = Wardsim::start(&["--rtu", &pty.a.display().to_string()]);
    assert_eq!(sim.addr, pty.a.display().to_string());
    let rtu = || Transport::Rtu(SerialConfig::new(&pty.b.display().to_string()));
    let h = Harness::start(config(rtu, &[("fridge-1", "blood-fridge", 1), ("incubator-1", "incubator", 2)]));
    let stats = Arc::clone(&h.stats);
    h.wait_for("fridge-1", "readings", |s| s.readings >= 10).await;
    h.wait_for("incubator-1", "readings", |s| s.readings >= 20).await;
    let (observations, dead) = h.finish().await;
    let seconds = started.elapsed().as_secs_f64();
    let stats = stats.snapshot();
    let (fridge, incubator) = (stats["fridge-1"], stats["incubator-1"]);
    assert!(dead.is_empty(), "{dead:?}");
    for s in [fridge, incubator] {
        assert_eq!((s.exceptions, s.timeouts, s.errors, s.dead_letters, s.feed_failures), (0, 0, 0, 0, 0), "{s:?}");
    }
    assert_eq!((fridge.readings, incubator.readings), (2 * fridge.polls, 4 * incubator.polls));

    let n = fridge.polls;
    assert_model(&observations, "fridge-1", "temp_storage", n, seconds, |t| f64::from(fridge_temp_tenths(t)) / 10.0);
    assert_model(&observations, "fridge-1", "door_open", n, seconds, |t| f64::from(u8::from(fridge_door_open(t))));
    let n = incubator.polls;
    // The air temperature is an f32 (word order CDAB) that moves continuously: exactly an f32,
    // and one the model passes through.
    assert_model_continuous(&observations, "incubator-1", "temp", n, seconds, |t| f64::from(incubator_air_temp(t)));
    assert!(values(&observations, "incubator-1", "temp").iter().all(|o| o.value == f64::from(o.value as f32)));
    let humidity = |t| f64::from(incubator_humidity_tenths(t)) / 10.0;
    assert_model(&observations, "incubator-1", "humidity_relative", n, seconds, humidity);
    let skin = |t| f64::from(incubator_skin_temp_hundredths(t)) / 100.0;
    assert_model(&observations, "incubator-1", "temp_skin", n, seconds, skin);
    assert_model(&observations, "incubator-1", "heater_on", n, seconds, |t| {
        f64::from(u8::from(incubator_air_temp(t) < 37.0))
    });
    assert_eq!(observations.len() as u64, fridge.readings + incubator.readings);
}
