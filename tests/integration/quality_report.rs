//! `wardstream quality` over a stream with injected defects, sent through a real Mosquitto into
//! the service: valid readings, unknown names, unknown units, a non-numeric value, a payload that
//! is not SenML, implausible values, a device whose clock is 10 minutes behind and one 10
//! minutes ahead (each sending, paced like a real monitor, past the skew corrector's warm-up),
//! and packs published twice. The report must give exact counts per device, per metric and in
//! total; the tables must hold every reading once (rows = unique readings, dead letters exact).
//!
//! The expected counts follow from the service's conditioning settings (the defaults, checked):
//! a device's clock is judged from its `clock_skew_min_readings`-th message on (the earlier ones
//! keep the time the device said), a skew over 2 min is corrected, a time over 30 s ahead of its
//! receipt is `future_time`, and a repeat within 5 min is a `duplicate`.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use wardstream_ingest::Service;
use wardstream_pipeline::time::format_rfc3339;
use wardstream_pipeline::{Clock, SystemClock};
use wardstream_storage::QuerySession;

use crate::support::mosquitto::Mosquitto;
use crate::support::{count, csv_rows, publish_lines, service_config, wait_for_count, wardstream_bin};

const TEN_MINUTES: i64 = 600_000_000;

/// A SenML pack from `device` at `time` (µs): records `(name, unit, value)`, `value` as JSON.
fn pack(device: &str, time: i64, records: &[(&str, Option<&str>, Value)]) -> String {
    let records: Vec<Value> = records
        .iter()
        .enumerate()
        .map(|(i, (name, unit, value))| {
            let mut r = json!({ "n": name });
            if i == 0 {
                r["bn"] = json!(format!("{device}:"));
                r["bt"] = json!(time as f64 / 1e6);
            }
            if let Some(unit) = unit {
                r["u"] = json!(unit);
            }
            r[if value.is_string() { "vs" } else { "v" }] = value.clone();
            r
        })
        .collect();
    Value::Array(records).to_string()
}

fn topic(device: &str) -> String {
    format!("wardstream/ward-q/{device}/vitals")
}

fn now_ms() -> i64 {
    SystemClock.now_micros() / 1000 * 1000
}

/// Publishes `n` packs of `device` one by one, 25 ms apart, each stamped when it is sent by a
/// clock `offset` µs off: a real monitor with a wrong clock (not a backlog replay).
fn publish_paced(
    port: u16,
    device: &str,
    offset: i64,
    n: usize,
    records: impl Fn(usize) -> Vec<(&'static str, Value)>,
) {
    let mut child = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-i", device, "-t", &topic(device), "-l"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for i in 0..n {
        let records: Vec<_> = records(i).into_iter().map(|(name, v)| (name, None, v)).collect();
        writeln!(stdin, "{}", pack(device, now_ms() + offset, &records)).unwrap();
        stdin.flush().unwrap();
        std::thread::sleep(Duration::from_millis(25));
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

/// The expected counts object of one group: flags `[implausible, questionable, clock_corrected,
/// future_time]`, dead letters by reason.
fn counts(stored: u64, valid: u64, flags: [u64; 4], dead: &[(&str, u64)]) -> Value {
    let dead_total: u64 = dead.iter().map(|(_, n)| n).sum();
    let named = |reason: &str| dead.iter().find(|(r, _)| *r == reason).map_or(0, |(_, n)| *n);
    let other: serde_json::Map<String, Value> = dead
        .iter()
        .filter(|(r, _)| !["unknown_metric", "unknown_unit", "duplicate"].contains(r))
        .map(|(r, n)| ((*r).to_owned(), json!(n)))
        .collect();
    let (total, defective) = (stored + dead_total, stored - valid + dead_total);
    let rate = (defective * 20_000 + total) / (2 * total); // ten-thousandths, half up
    json!({
        "total": total, "stored": stored, "dead_letters": dead_total, "valid": valid,
        "implausible": flags[0], "questionable": flags[1], "clock_corrected": flags[2], "future_time": flags[3],
        // No device is registered: every stored reading is also unassociated (not a defect).
        "preliminary": 0, "corrected": 0, "unassociated": stored, "patient_mismatch": 0, "unknown_metric": named("unknown_metric"),
        "unknown_unit": named("unknown_unit"), "duplicate": named("duplicate"), "other_dead_letters": other,
        "defective": defective, "defect_rate": rate as f64 / 10_000.0,
    })
}

fn group(key: &str, name: Option<&str>, counts: Value) -> Value {
    let mut group = json!({ key: name });
    group.as_object_mut().unwrap().extend(counts.as_object().unwrap().clone());
    group
}

fn quality(dir: &str, extra: &[&str]) -> std::process::Output {
    Command::new(wardstream_bin()).args(["quality", "--data", dir]).args(extra).output().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quality_report_counts_every_injected_defect_exactly_per_device_and_per_metric() {
    let broker = Mosquitto::start();
    let data = tempfile::tempdir().unwrap();
    let config = service_config(data.path(), &broker.url(), "ws-quality");
    let p = &config.pipeline;
    assert_eq!((p.clock_skew_threshold_ms, p.future_tolerance_ms, p.dedup_window_ms), (120_000, 30_000, 300_000));
    // Messages a device sends before its clock is judged: these keep the time the device said.
    let w = (p.clock_skew_min_readings - 1) as u64;
    let service = Service::start(&config).await.unwrap();
    service.wait_subscribed(Duration::from_secs(10)).await.unwrap();
    let port = broker.port();
    let t0 = now_ms();
    let (beat, pct, per_min) = (Some("beat/min"), Some("%"), Some("/min"));

    // Valid readings, 1 ms apart (a real clock): 10 packs × (HR, SpO2).
    let ms = |i: i64| t0 + i * 1000;
    let good: Vec<String> =
        (0..10).map(|i| pack("q-good", ms(i), &[("HR", beat, json!(70 + i)), ("SpO2", pct, json!(95))])).collect();
    publish_lines(port, &topic("q-good"), "pub-good", &good);
    // A payload that is not SenML: no name, so no device id (the device id comes from names).
    publish_lines(port, &topic("q-good"), "pub-good-bad", &["not json".to_owned()]);
    // Unknown names beside valid readings.
    let mut names: Vec<String> =
        (0..5).map(|i| pack("q-names", ms(i), &[("HR", beat, json!(72)), ("NotAMetric", None, json!(1))])).collect();
    names.push(pack("q-names", ms(5), &[("RESP", per_min, json!(14)), ("Zzz", None, json!(3))]));
    publish_lines(port, &topic("q-names"), "pub-names", &names);
    // Unknown units (unknown, and of another quantity), a non-numeric value.
    let mut units: Vec<String> = (0..4)
        .map(|i| pack("q-units", ms(i), &[("HR", beat, json!(75)), ("RESP", Some("furlong"), json!(14))]))
        .collect();
    units.push(pack("q-units", ms(4), &[("SpO2", Some("kPa"), json!(97))]));
    units.push(pack("q-units", ms(5), &[("HR", None, json!("high"))]));
    publish_lines(port, &topic("q-units"), "pub-units", &units);
    // Implausible values: stored and flagged.
    let implausible = [(900, 97), (70, 250), (-5, 98)]
        .iter()
        .enumerate()
        .map(|(i, (hr, spo2))| {
            pack("q-implausible", ms(i as i64), &[("HR", beat, json!(hr)), ("SpO2", pct, json!(spo2))])
        })
        .collect::<Vec<_>>();
    publish_lines(port, &topic("q-implausible"), "pub-implausible", &implausible);
    // Clocks 10 minutes behind (20 messages, one HR implausible after the warm-up) and ahead (10).
    tokio::task::spawn_blocking(move || {
        publish_paced(port, "q-slow", -TEN_MINUTES, 20, |i| {
            vec![("HR", json!(if i == 14 { 900 } else { 60 + i })), ("SpO2", json!(97))]
        });
        publish_paced(port, "q-fast", TEN_MINUTES, 10, |i| vec![("HR", json!(80 + i))]);
    })
    .await
    .unwrap();

    let session = QuerySession::open(data.path()).unwrap();
    let (rows, dead) = (86, 13);
    assert_eq!(wait_for_count(&session, "SELECT count(*) FROM vitals", rows, Duration::from_secs(30)).await, rows);
    assert_eq!(
        wait_for_count(&session, "SELECT count(*) FROM dead_letters", dead, Duration::from_secs(30)).await,
        dead
    );
    // Duplicates: packs published again once the first copies are stored.
    let repeats_from = SystemClock.now_micros();
    publish_lines(port, &topic("q-good"), "pub-good-again", &good[..1]);
    publish_lines(port, &topic("q-units"), "pub-units-again", &units[..1]);
    let dead = dead + 4; // 3 duplicates, and the unknown unit of the repeated pack again
    assert_eq!(
        wait_for_count(&session, "SELECT count(*) FROM dead_letters", dead, Duration::from_secs(30)).await,
        dead
    );
    service.shutdown().await.unwrap();

    // Nothing lost, nothing doubled.
    assert_eq!(count(&session, "SELECT count(*) FROM vitals").await, rows);
    assert_eq!(
        count(&session, "SELECT count(*) FROM (SELECT DISTINCT device_id, metric, device_time FROM vitals)").await,
        rows
    );
    let reasons = csv_rows(&session, "SELECT reason, count(*) FROM dead_letters GROUP BY reason ORDER BY reason").await;
    let expected = ["duplicate,3", "invalid_payload,1", "non_numeric_value,1", "unknown_metric,6", "unknown_unit,6"];
    assert_eq!(reasons, expected);

    let dir = data.path().to_str().unwrap();
    let out = quality(dir, &["--format", "json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let dup = ("duplicate", 1);
    let devices = json!([
        group("device_id", Some("q-fast"), counts(10, 0, [0, 0, 10 - w, w], &[])),
        group("device_id", Some("q-good"), counts(20, 20, [0; 4], &[("duplicate", 2)])),
        group("device_id", Some("q-implausible"), counts(6, 3, [3, 0, 0, 0], &[])),
        group("device_id", Some("q-names"), counts(6, 6, [0; 4], &[("unknown_metric", 6)])),
        group("device_id", Some("q-slow"), counts(40, 2 * w, [1, 0, 40 - 2 * w, 0], &[])),
        group(
            "device_id",
            Some("q-units"),
            counts(4, 4, [0; 4], &[dup, ("non_numeric_value", 1), ("unknown_unit", 6)])
        ),
        group("device_id", None, counts(0, 0, [0; 4], &[("invalid_payload", 1)])),
    ]);
    assert_eq!(report["devices"], devices);
    let metrics = json!([
        group("metric", Some("NotAMetric"), counts(0, 0, [0; 4], &[("unknown_metric", 5)])),
        group("metric", Some("Zzz"), counts(0, 0, [0; 4], &[("unknown_metric", 1)])),
        group(
            "metric",
            Some("heart_rate"),
            counts(52, 20 + w, [3, 0, 30 - w - w, w], &[("duplicate", 2), ("non_numeric_value", 1)])
        ),
        group("metric", Some("resp_rate"), counts(1, 1, [0; 4], &[("unknown_unit", 5)])),
        group("metric", Some("spo2"), counts(33, 12 + w, [1, 0, 20 - w, 0], &[dup, ("unknown_unit", 1)])),
        group("metric", None, counts(0, 0, [0; 4], &[("invalid_payload", 1)])),
    ]);
    assert_eq!(report["metrics"], metrics);
    let all = [
        ("duplicate", 3),
        ("invalid_payload", 1),
        ("non_numeric_value", 1),
        ("unknown_metric", 6),
        ("unknown_unit", 6),
    ];
    assert_eq!(report["totals"], counts(86, 33 + 2 * w, [4, 0, 50 - 3 * w, w], &all));
    assert_eq!((&report["totals"]["defective"], &report["totals"]["defect_rate"]), (&json!(56), &json!(0.5437)));
    assert_eq!(report["since"], Value::Null);

    // The table shows the same numbers, and --since filters by arrival.
    let table = String::from_utf8(quality(dir, &[]).stdout).unwrap();
    let slow: Vec<&str> = table.lines().find(|l| l.contains("| q-slow ")).unwrap().split('|').map(str::trim).collect();
    assert_eq!(
        slow[1..19],
        ["q-slow", "40", "40", "14", "1", "0", "26", "0", "0", "0", "40", "0", "0", "0", "0", "0", "26", "0.6500"]
    );
    assert!(table.ends_with("other dead letters: invalid_payload 1, non_numeric_value 1\n"), "{table}");
    let all_since =
        serde_json::from_slice::<Value>(&quality(dir, &["--since", "1h", "--format", "json"]).stdout).unwrap();
    assert_eq!(all_since["totals"], report["totals"]);
    let repeats = quality(dir, &["--since", &format_rfc3339(repeats_from), "--format", "json"]);
    let repeats = serde_json::from_slice::<Value>(&repeats.stdout).unwrap();
    assert_eq!(repeats["totals"], counts(0, 0, [0; 4], &[("duplicate", 3), ("unknown_unit", 1)]));
    let future = format_rfc3339(SystemClock.now_micros() + 3_600_000_000);
    let none =
        serde_json::from_slice::<Value>(&quality(dir, &["--since", &future, "--format", "json"]).stdout).unwrap();
    assert_eq!((&none["totals"]["total"], &none["devices"], &none["metrics"]), (&json!(0), &json!([]), &json!([])));
    let bad = quality(dir, &["--since", "yesterday"]);
    assert!(!bad.status.success() && String::from_utf8_lossy(&bad.stderr).starts_with("error: --since"));
}
