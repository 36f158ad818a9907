//! RFC 8428's own examples and vital-sign packs in the RFC's shapes, published with
//! `mosquitto_pub` through a real Mosquitto, land with exact values, units, times and reasons.
//!
//! Expected outcomes are worked out by hand from the RFC text and the documented rules (device
//! id = resolved name up to its last `:` or `/`; catalogue names and aliases; canonical units).

use std::path::Path;
use std::time::Duration;

use wardstream_ingest::Service;
use wardstream_storage::QuerySession;

use crate::support::mosquitto::Mosquitto;
use crate::support::{count, csv_rows, publish_file, publish_lines, service_config, wait_for_count};

const RFC_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../protocols/tests/data/rfc8428");

/// (file, dead letters expected from it)
const RFC_FILES: [(&str, i64); 10] = [
    ("5.1.1-single-datapoint.json", 1),
    ("5.1.2-multiple-datapoints.json", 2),
    ("5.1.2-multiple-datapoints-with-time.json", 7),
    ("5.1.3-multiple-measurements.json", 13),
    ("5.1.4-resolved-data.json", 13),
    ("5.1.5-multiple-data-types.json", 3),
    ("5.1.6-collection-of-resources.json", 4),
    ("5.1.7-lights-on.json", 2),
    ("5.1.7-lights-off.json", 4),
    ("5.1.7-setting-an-actuator.json", 2),
];

#[derive(Debug, PartialEq)]
struct Row {
    device: String,
    metric: String,
    time: i64,
    received_at: i64,
    value: f64,
    unit: String,
    source_name: String,
    source_value: f64,
    source_unit: String,
    status: String,
    source: String,
}

fn parse(line: &str) -> Row {
    let f: Vec<&str> = line.split(',').collect();
    assert_eq!(f.len(), 11, "{line}");
    Row {
        device: f[0].into(),
        metric: f[1].into(),
        time: f[2].parse().unwrap(),
        received_at: f[3].parse().unwrap(),
        value: f[4].parse().unwrap(),
        unit: f[5].into(),
        source_name: f[6].into(),
        source_value: f[7].parse().unwrap(),
        source_unit: f[8].into(),
        status: f[9].into(),
        source: f[10].into(),
    }
}

const SELECT: &str = "SELECT device_id, metric, CAST(time AS BIGINT) AS t, CAST(received_at AS BIGINT) AS r, value, unit, \
     source_name, source_value, source_unit, status, source FROM vitals";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc8428_examples_and_vital_packs_land_with_exact_values_units_times_and_reasons() {
    let broker = Mosquitto::start();
    let data = tempfile::tempdir().unwrap();
    let service = Service::start(&service_config(data.path(), &broker.url(), "ws-rfc")).await.unwrap();
    service.wait_subscribed(Duration::from_secs(10)).await.unwrap();

    for (file, _) in RFC_FILES {
        let stem = file.trim_end_matches(".json");
        publish_file(broker.port(), &format!("wardstream/rfc/{stem}/senml"), &Path::new(RFC_DIR).join(file));
    }
    let dev = "urn:dev:mac:0024befffe804ff1:";
    let packs = [
        format!(
            r#"[{{"bn":"{dev}","bt":1.7e9,"bu":"beat/min","bver":10,"n":"HR","v":72}},{{"n":"HR","t":-5,"v":70}},{{"n":"SpO2","u":"%","t":-5,"v":97}}]"#
        ),
        format!(
            r#"[{{"bn":"{dev}","bt":1700000010.25,"bv":100,"n":"NBPSys","u":"mm[Hg]","v":20}},{{"n":"NBPDias","u":"mm[Hg]","v":-25}}]"#
        ),
        format!(
            r#"[{{"bn":"{dev}","bt":1700000020,"n":"NBPMean","u":"kPa","v":12}},{{"n":"TEMP","u":"[degF]","v":98.6}},{{"n":"RESP","u":"1/min","v":14}}]"#
        ),
        format!(r#"[{{"bn":"{dev}","n":"HR","t":-2,"v":65}}]"#),
    ];
    publish_lines(broker.port(), "wardstream/icu-2/bedside-1/vitals", "pub-packs", &packs);
    publish_lines(
        broker.port(),
        "wardstream/icu-2/bedside-9/vitals",
        "pub-topic",
        &[r#"[{"n":"HR","v":80}]"#.to_string()],
    );

    let session = QuerySession::open(data.path()).unwrap();
    let expected_dead: i64 = RFC_FILES.iter().map(|(_, n)| n).sum();
    assert_eq!(expected_dead, 51);
    assert_eq!(wait_for_count(&session, "SELECT count(*) FROM vitals", 12, Duration::from_secs(30)).await, 12);
    assert_eq!(wait_for_count(&session, "SELECT count(*) FROM dead_letters", 51, Duration::from_secs(30)).await, 51);
    service.shutdown().await.unwrap();

    // Dead letters: exact reasons, each with its topic and the whole payload.
    let reasons = csv_rows(&session, "SELECT reason, count(*) FROM dead_letters GROUP BY reason ORDER BY reason").await;
    assert_eq!(reasons, ["non_numeric_value,3", "unknown_metric,48"]);
    for (file, n) in RFC_FILES {
        let stem = file.trim_end_matches(".json");
        let sql = format!(
            "SELECT count(*) FROM dead_letters WHERE origin = 'wardstream/rfc/{stem}/senml' AND source = 'mqtt' \
             AND length(payload) = {}",
            std::fs::metadata(Path::new(RFC_DIR).join(file)).unwrap().len()
        );
        assert_eq!(count(&session, &sql).await, n, "{file}");
    }
    let names = csv_rows(
        &session,
        "SELECT device_id, source_name FROM dead_letters WHERE origin LIKE '%5.1.6%' ORDER BY device_id, source_name",
    )
    .await;
    assert_eq!(
        names,
        ["2001:db8::1,humidity", "2001:db8::1,temperature", "2001:db8::2,humidity", "2001:db8::2,temperature"]
    );
    let kinds = csv_rows(
        &session,
        "SELECT source_name FROM dead_letters WHERE reason = 'non_numeric_value' ORDER BY source_name",
    )
    .await;
    assert_eq!(kinds, ["label", "nfv-reader", "open"]);

    // Vitals: exact metric, unit, time, value, and what the device originally said.
    let rows: Vec<Row> =
        csv_rows(&session, &format!("{SELECT} ORDER BY device_id, t, metric")).await.iter().map(|l| parse(l)).collect();
    assert_eq!(rows.len(), 12);
    let d = "urn:dev:mac:0024befffe804ff1";
    let at = |s: i64| s * 1_000_000;
    let fixed = [
        (d, "heart_rate", at(1_699_999_995), 70.0, "/min", "HR", 70.0, "beat/min", "unassociated"),
        (d, "spo2", at(1_699_999_995), 97.0, "%", "SpO2", 97.0, "%", "unassociated"),
        (d, "heart_rate", at(1_700_000_000), 72.0, "/min", "HR", 72.0, "beat/min", "unassociated"),
        (d, "nibp_dia", 1_700_000_010_250_000, 75.0, "mm[Hg]", "NBPDias", 75.0, "mm[Hg]", "unassociated"),
        (d, "nibp_sys", 1_700_000_010_250_000, 120.0, "mm[Hg]", "NBPSys", 120.0, "mm[Hg]", "unassociated"),
        (d, "nibp_mean", at(1_700_000_020), 90.007_389_101_478_75, "mm[Hg]", "NBPMean", 12.0, "kPa", "unassociated"),
        (d, "resp_rate", at(1_700_000_020), 14.0, "/min", "RESP", 14.0, "1/min", "unassociated"),
        (d, "temp", at(1_700_000_020), 37.0, "Cel", "TEMP", 98.6, "[degF]", "unassociated"),
    ];
    let absolute: Vec<&Row> = rows.iter().filter(|r| r.device == d && r.time < at(1_750_000_000)).collect();
    assert_eq!(absolute.len(), fixed.len());
    for (row, (device, metric, time, value, unit, name, source_value, source_unit, status)) in
        absolute.iter().zip(fixed)
    {
        assert_eq!((row.device.as_str(), row.metric.as_str(), row.time), (device, metric, time), "{row:?}");
        assert!((row.value - value).abs() < 1e-6, "{row:?} value, expected {value}");
        assert_eq!(
            (row.unit.as_str(), row.source_name.as_str(), row.source_value),
            (unit, name, source_value),
            "{row:?}"
        );
        assert_eq!((row.source_unit.as_str(), row.status.as_str(), row.source.as_str()), (source_unit, status, "mqtt"));
    }
    // Relative time: 2 s before the moment of receipt.
    let relative: Vec<&Row> = rows.iter().filter(|r| r.device == d && r.time >= at(1_750_000_000)).collect();
    assert_eq!(relative.len(), 1);
    assert_eq!((relative[0].metric.as_str(), relative[0].value), ("heart_rate", 65.0));
    assert_eq!(relative[0].time, relative[0].received_at - 2_000_000);
    // No separator in the name: the device comes from the topic; no time: the moment of receipt.
    let from_topic: Vec<&Row> = rows.iter().filter(|r| r.device == "bedside-9").collect();
    assert_eq!(from_topic.len(), 1);
    assert_eq!(
        (from_topic[0].metric.as_str(), from_topic[0].value, from_topic[0].source_unit.as_str()),
        ("heart_rate", 80.0, "")
    );
    assert_eq!(from_topic[0].time, from_topic[0].received_at);
    // RFC 5.1.5 and 5.1.7 carry "temp" in Cel: a catalogue metric, 23.1 °C is below the
    // plausible 25 °C, so it is stored and flagged, never dropped.
    let temps: Vec<&Row> = rows.iter().filter(|r| r.device == "urn:dev:ow:10e2073a01080063").collect();
    assert_eq!(temps.len(), 2);
    for t in temps {
        assert_eq!(
            (t.metric.as_str(), t.value, t.unit.as_str(), t.status.as_str()),
            ("temp", 23.1, "Cel", "implausible")
        );
        assert_eq!(t.time, t.received_at);
    }
}
