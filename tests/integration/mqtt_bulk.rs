//! 10,000 readings from 50 devices through a real Mosquitto, with malformed payloads mixed in:
//! every valid reading stored exactly once with the right value and time (set equality), every
//! malformed payload a dead letter with its reason, counts exact; then pyarrow and DuckDB read
//! the same files and agree with DataFusion.

use std::collections::BTreeSet;
use std::time::Duration;

use wardstream_ingest::Service;
use wardstream_storage::QuerySession;

use crate::support::mosquitto::Mosquitto;
use crate::support::{count, csv_rows, publish_empty, publish_file, publish_lines, service_config, wait_for_count};

const DEVICES: usize = 50;
const MESSAGES: usize = 20;
const RECORDS: usize = 10;
/// (SenML name, unit, catalogue metric)
const METRICS: [(&str, &str, &str); 5] = [
    ("HR", "beat/min", "heart_rate"),
    ("SpO2", "%", "spo2"),
    ("RESP", "/min", "resp_rate"),
    ("NBPSys", "mm[Hg]", "nibp_sys"),
    ("TEMP", "Cel", "temp"),
];

fn value(metric: usize, d: usize, m: usize, k: usize) -> f64 {
    let i = (d + m + k) as f64;
    match metric {
        0 => 60.0 + i % 40.0,
        1 => 90.0 + i % 10.0,
        2 => 10.0 + i % 20.0,
        3 => 100.0 + i % 40.0,
        _ => 36.5 + (i % 10.0) / 10.0,
    }
}

/// A stored reading as compared here: (device, metric, time µs, value bits).
type Key = (String, String, i64, u64);

/// The packs of device `d`, and the readings they hold. Times are realistic: message `m` is
/// stamped `start − 60 s + m s`, its records 50 ms apart, so every device clock looks right
/// (well inside the clock-skew threshold, never in the future) and every key is unique.
fn device_packs(d: usize, start_secs: i64) -> (Vec<String>, Vec<Key>) {
    let device = format!("urn:dev:bulk:dev-{d:02}");
    let mut packs = Vec::new();
    let mut expected = Vec::new();
    for m in 0..MESSAGES {
        let bt = start_secs - 60 + m as i64;
        let records: Vec<String> = (0..RECORDS)
            .map(|k| {
                let (name, unit, metric) = METRICS[k % METRICS.len()];
                let v = value(k % METRICS.len(), d, m, k);
                let t = k as f64 * 0.05;
                expected.push((device.clone(), metric.to_string(), bt * 1_000_000 + k as i64 * 50_000, v.to_bits()));
                let base = if k == 0 { format!(r#""bn":"{device}:","bt":{bt},"#) } else { String::new() };
                format!(r#"{{{base}"n":"{name}","u":"{unit}","t":{t},"v":{v}}}"#)
            })
            .collect();
        packs.push(format!("[{}]", records.join(",")));
    }
    (packs, expected)
}

/// Seven malformed payloads, one of each kind, with the dead-letter reasons they must produce.
fn malformed() -> Vec<(String, &'static str)> {
    vec![
        ("not json".into(), "invalid_payload"),
        (r#"{"n":"urn:dev:bad:x:HR","v":1}"#.into(), "invalid_payload"),
        (r#"[{"n":"urn:dev:bad:x:HR","v":"12"}]"#.into(), "invalid_payload"),
        (r#"[{"n":"urn:dev:bad:x:HR"}]"#.into(), "missing_value"),
        (r#"[{"bn":"urn:dev:bad:x:","bver":11,"n":"HR","v":1}]"#.into(), "unsupported_version"),
        (r#"[{"n":"urn:dev:bad:x:HR","u":"furlong","v":1}]"#.into(), "unknown_unit"),
        (r#"[{"n":"urn:dev:bad:x:Glucose","v":5}]"#.into(), "unknown_metric"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_readings_from_fifty_devices_with_malformed_payloads_are_stored_exactly_once() {
    let broker = Mosquitto::start();
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(&service_config(data.path(), &broker.url(), "ws-bulk")).await.unwrap();
    service.wait_subscribed(Duration::from_secs(10)).await.unwrap();

    let start_secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let mut expected = BTreeSet::new();
    let mut expected_dead = std::collections::BTreeMap::<&str, i64>::new();
    for d in 0..DEVICES {
        let (mut lines, readings) = device_packs(d, start_secs);
        expected.extend(readings);
        if d % 5 == 0 {
            // Malformed payloads in the middle of a device's stream.
            for (i, (payload, reason)) in malformed().into_iter().enumerate() {
                lines.insert(2 + 2 * i, payload);
                *expected_dead.entry(reason).or_default() += 1;
            }
        }
        publish_lines(broker.port(), &format!("wardstream/ward-b/dev-{d:02}/vitals"), &format!("pub-{d}"), &lines);
    }
    // Bytes that are not UTF-8, and an empty payload.
    let garbage = data.path().join("garbage.bin");
    std::fs::write(&garbage, [0xff, 0xfe, 0x00, 0x5b, 0x7b, 0x80]).unwrap();
    publish_file(broker.port(), "wardstream/ward-b/dev-99/vitals", &garbage);
    publish_empty(broker.port(), "wardstream/ward-b/dev-99/vitals");
    *expected_dead.entry("invalid_payload").or_default() += 2;
    assert_eq!(expected.len(), DEVICES * MESSAGES * RECORDS);
    let total_dead: i64 = expected_dead.values().sum();
    assert_eq!(total_dead, 72);

    let session = QuerySession::open(data.path()).unwrap();
    let stored = wait_for_count(&session, "SELECT count(*) FROM vitals", 10_000, Duration::from_secs(60)).await;
    assert_eq!(stored, 10_000);
    assert_eq!(
        wait_for_count(&session, "SELECT count(*) FROM dead_letters", total_dead, Duration::from_secs(30)).await,
        total_dead
    );
    let stats = service.shutdown().await.unwrap();
    assert_eq!(stats.pipeline.readings_received, 10_000 + 2 * 10 /* unknown unit + unknown metric records */);

    // Exactly the published set: every reading once, with its value to the bit.
    let rows = csv_rows(&session, "SELECT device_id, metric, CAST(time AS BIGINT), value FROM vitals").await;
    let stored: Vec<Key> = rows
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            (f[0].to_string(), f[1].to_string(), f[2].parse().unwrap(), f[3].parse::<f64>().unwrap().to_bits())
        })
        .collect();
    assert_eq!(stored.len(), 10_000, "no duplicates");
    let stored_set: BTreeSet<_> = stored.into_iter().collect();
    assert_eq!(stored_set, expected);
    assert_eq!(
        count(&session, "SELECT count(*) FROM vitals WHERE status <> 'unassociated' OR source <> 'mqtt'").await,
        0
    );

    let reasons = csv_rows(&session, "SELECT reason, count(*) FROM dead_letters GROUP BY reason ORDER BY reason").await;
    let expected_reasons: Vec<String> = expected_dead.iter().map(|(r, n)| format!("{r},{n}")).collect();
    assert_eq!(reasons, expected_reasons);
    assert_eq!(
        count(&session, "SELECT count(*) FROM dead_letters WHERE detail = '' OR origin NOT LIKE 'wardstream/ward-b/%'")
            .await,
        0
    );
    assert_eq!(
        count(
            &session,
            "SELECT count(*) FROM dead_letters WHERE payload = X'fffe005b7b80' AND reason = 'invalid_payload'"
        )
        .await,
        1
    );

    // Independent readers see the same rows and sums.
    let sum_rows = csv_rows(&session, "SELECT count(*), sum(value) FROM vitals").await;
    let (df_rows, df_sum) = sum_rows[0].split_once(',').unwrap();
    let (df_rows, df_sum): (i64, f64) = (df_rows.parse().unwrap(), df_sum.parse().unwrap());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/integration/read_parquet.py");
    let out = std::process::Command::new("python3").arg(script).arg(data.path()).output().unwrap();
    assert!(
        out.status.success(),
        "pyarrow/duckdb reader failed (scripts/test.sh installs them): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["pyarrow_rows"].as_i64(), Some(df_rows));
    assert_eq!(report["duckdb_rows"].as_i64(), Some(df_rows));
    assert_eq!(report["duckdb_devices"].as_i64(), Some(DEVICES as i64));
    for reader in ["pyarrow_sum", "duckdb_sum"] {
        let sum = report[reader].as_f64().unwrap();
        assert!((sum - df_sum).abs() < 1e-9 * df_sum, "{reader} {sum} != DataFusion {df_sum}");
    }
    let types = &report["pyarrow_types"];
    assert_eq!(types["time"], "timestamp[us, tz=UTC]");
    assert_eq!(types["value"], "double");
    assert_eq!(types["mdc_code"], "int32");
}
