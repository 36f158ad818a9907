//! The whole association story, end to end through real peers: readings over MQTT (Mosquitto),
//! ADT over MLLP (the ADT feed simulator, an independent client), and every reading's patient
//! checked exactly through the three ways clinicians and analysts see it — the timeline API, the
//! FHIR search, and SQL over `vitals` (in the service and through the `wardstream query` CLI).
//!
//! Three monitors, one per bed (B, C, E), a heart rate every minute for an hour from T0. ADT
//! messages arrive in an order different from their event times:
//!
//! | arrives | message | event time |
//! |---|---|---|
//! | before the readings | A01 P1 → B | T0 |
//! | after the readings | A02 P1 B → C | T0+20 |
//! | | A01 P2 → B | T0+25 |
//! | | A02 P2 B → E | T0+40 |
//! | | A12 P2 (cancel: back to B) | T0+45 |
//! | | A03 P1 (from C) | T0+50 |
//! | | A01 P3 → E (admission after its readings) | T0+10 |
//!
//! Expected: B is P1's before 20, nobody's in [20, 25), P2's from 25; C is P1's in [20, 50);
//! E is P3's from 10 (P2's cancelled transfer never made E a conflict).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::json;
use wardstream_ingest::Service;
use wardstream_ingest::adt_listener::AdtSettings;
use wardstream_ingest::config::DeviceEntry;
use wardstream_simulators::adt_feed::{AdtClient, AdtMessage};

use crate::support::mosquitto::Mosquitto;
use crate::support::{count, http, publish_lines, service_config, wardstream_bin};

const MINUTE: i64 = 60_000_000;
const DEVICES: [(&str, &str); 3] = [("mon-b", "B"), ("mon-c", "C"), ("mon-e", "E")];

fn pack(device: &str, time: i64, hr: f64) -> String {
    json!([{"bn": format!("{device}:"), "bt": time as f64 / 1e6, "n": "HR", "u": "/min", "v": hr}]).to_string()
}

/// The heart rate of `device` at minute `m`: unique per reading, so values identify readings.
fn hr(device_index: usize, m: i64) -> f64 {
    (40 + device_index as i64 * 60 + m) as f64
}

/// Who each reading belongs to, by the story's rules.
fn expected_patient(device: &str, m: i64) -> Option<&'static str> {
    match device {
        "mon-b" if m < 20 => Some("P1"),
        "mon-b" if m >= 25 => Some("P2"),
        "mon-c" if (20..50).contains(&m) => Some("P1"),
        "mon-e" if m >= 10 => Some("P3"),
        _ => None,
    }
}

fn adt(trigger: &str, id: &str, patient: &str, bed: &str, prior: Option<&str>, at: i64) -> AdtMessage {
    let loc = |b: &str| ("ICU".to_owned(), "1".to_owned(), b.to_owned());
    AdtMessage {
        trigger: trigger.into(),
        control_id: id.into(),
        patient_id: patient.into(),
        encounter_id: format!("V-{patient}"),
        location: loc(bed),
        prior: prior.map(loc),
        event_time: DateTime::<Utc>::from_timestamp_micros(at).unwrap(),
    }
}

/// (device, minute) pairs of a patient from a list of JSON readings with `device_id` and `time`.
fn pairs(t0: i64, readings: impl Iterator<Item = (String, String)>) -> BTreeSet<(String, i64)> {
    readings
        .map(|(device, time)| {
            let t = DateTime::parse_from_rfc3339(&time).unwrap().timestamp_micros();
            (device, (t - t0) / MINUTE)
        })
        .collect()
}

fn expected(patient: &str) -> BTreeSet<(String, i64)> {
    DEVICES
        .iter()
        .flat_map(|(d, _)| {
            (0..60).filter(move |m| expected_patient(d, *m) == Some(patient)).map(move |m| (d.to_string(), m))
        })
        .collect()
}

fn timeline(api: SocketAddr, t0: i64, patient: &str) -> BTreeSet<(String, i64)> {
    let from = DateTime::<Utc>::from_timestamp_micros(t0 - MINUTE).unwrap().to_rfc3339();
    let to = DateTime::<Utc>::from_timestamp_micros(t0 + 90 * MINUTE).unwrap().to_rfc3339();
    let path = format!("/api/v1/patients/{patient}/timeline?from={}&to={}", enc(&from), enc(&to));
    let response = http::get(api, &path);
    assert_eq!(response.status, 200, "{}", response.body);
    let body = response.json();
    let observations = body["observations"].as_array().unwrap().clone();
    assert_eq!(body["count"], observations.len());
    for o in &observations {
        assert_eq!(o["patient_id"], patient);
        assert_eq!(o["metric"], "heart_rate");
    }
    pairs(
        t0,
        observations
            .iter()
            .map(|o| (o["device_id"].as_str().unwrap().to_owned(), o["time"].as_str().unwrap().to_owned())),
    )
}

fn fhir(api: SocketAddr, t0: i64, patient: &str) -> BTreeSet<(String, i64)> {
    let path = format!("/fhir/r4/Observation?patient={patient}&code=http://loinc.org%7C8867-4&_count=1000");
    let response = http::get(api, &path);
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.content_type, "application/fhir+json");
    let bundle = response.json();
    assert_eq!((bundle["resourceType"].as_str(), bundle["type"].as_str()), (Some("Bundle"), Some("searchset")));
    let entries = bundle["entry"].as_array().unwrap().clone();
    assert_eq!(bundle["total"], entries.len());
    for e in &entries {
        assert_eq!(e["resource"]["subject"]["reference"], format!("Patient/{patient}"));
    }
    pairs(
        t0,
        entries.iter().map(|e| {
            let r = &e["resource"];
            (
                r["device"]["identifier"]["value"].as_str().unwrap().to_owned(),
                r["effectiveDateTime"].as_str().unwrap().to_owned(),
            )
        }),
    )
}

fn enc(text: &str) -> String {
    text.replace('+', "%2B").replace(':', "%3A")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_reading_lands_on_the_patient_in_its_bed_at_its_time_in_timeline_fhir_and_sql() {
    let broker = Mosquitto::start();
    let data = tempfile::tempdir().unwrap();
    let mut config = service_config(data.path(), &broker.url(), "ws-story");
    config.adt = Some(AdtSettings { listen: "127.0.0.1:0".into(), ..AdtSettings::default() });
    config.devices = DEVICES
        .iter()
        .map(|(d, bed)| DeviceEntry {
            device_id: d.to_string(),
            ward: "ICU".into(),
            room: "1".into(),
            bed: bed.to_string(),
        })
        .collect();
    // Two hours ago, on a whole minute: inside the 24 h retroactive window.
    let t0 = (Utc::now().timestamp_micros() - 120 * MINUTE) / MINUTE * MINUTE;
    let service = Service::start(&config).await.unwrap();
    service.wait_subscribed(Duration::from_secs(10)).await.unwrap();
    let api = service.http_address().unwrap();
    let mut feed = AdtClient::connect(&service.adt_address().unwrap().to_string()).await.unwrap();
    let mut send = async |m: AdtMessage| {
        let ack = feed.send(&m).await.unwrap();
        assert_eq!((ack.code.as_str(), ack.control_id.as_str()), ("AA", m.control_id.as_str()), "{}", ack.text);
    };
    // Devices are placed from the service's start (now); place them from before T0 as well.
    for (device, bed) in DEVICES {
        let from = DateTime::<Utc>::from_timestamp_micros(t0 - 60 * MINUTE).unwrap().to_rfc3339();
        let r = http::put(
            api,
            &format!("/api/v1/devices/{device}"),
            &json!({"ward": "ICU", "room": "1", "bed": bed, "from": from}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
    }

    send(adt("A01", "S-1", "P1", "B", None, t0)).await;
    for (i, (device, _)) in DEVICES.iter().enumerate() {
        let lines: Vec<String> = (0..60).map(|m| pack(device, t0 + m * MINUTE, hr(i, m))).collect();
        publish_lines(broker.port(), &format!("wardstream/icu/{device}/vitals"), &format!("pub-{device}"), &lines);
    }
    send(adt("A02", "S-2", "P1", "C", Some("B"), t0 + 20 * MINUTE)).await;
    send(adt("A01", "S-3", "P2", "B", None, t0 + 25 * MINUTE)).await;
    send(adt("A02", "S-4", "P2", "E", Some("B"), t0 + 40 * MINUTE)).await;
    send(adt("A12", "S-5", "P2", "B", Some("E"), t0 + 45 * MINUTE)).await;
    send(adt("A03", "S-6", "P1", "C", None, t0 + 50 * MINUTE)).await;
    send(adt("A01", "S-7", "P3", "E", None, t0 + 10 * MINUTE)).await;
    // A redelivered message is acknowledged again and changes nothing.
    send(adt("A01", "S-7", "P3", "E", None, t0 + 10 * MINUTE)).await;

    // Every reading stored (180), none lost.
    let session = service.state().session.clone();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while count(&session, "SELECT count(*) FROM vitals").await < 180 {
        assert!(std::time::Instant::now() < deadline, "readings not stored in time");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(count(&session, "SELECT count(*) FROM vitals").await, 180);

    for patient in ["P1", "P2", "P3"] {
        let want = expected(patient);
        assert_eq!(timeline(api, t0, patient), want, "timeline of {patient}");
        assert_eq!(fhir(api, t0, patient), want, "FHIR search of {patient}");
        let sql = format!("SELECT device_id, CAST(time AS VARCHAR) FROM vitals WHERE patient_id = '{patient}'");
        let mut rows = BTreeSet::new();
        for batch in session.sql(&sql).await.unwrap() {
            let devices = wardstream_ingest::columns::strings(batch.column(0)).unwrap();
            let times = wardstream_ingest::columns::strings(batch.column(1)).unwrap();
            for i in 0..batch.num_rows() {
                let t = times.value(i).replace(' ', "T");
                let t = if t.ends_with('Z') || t.contains('+') { t } else { format!("{t}Z") };
                rows.insert((devices.value(i).to_owned(), t));
            }
        }
        assert_eq!(pairs(t0, rows.into_iter()), want, "SQL of {patient}");
    }
    // Readings nobody was associated with: exactly the rest.
    let nobody: usize =
        DEVICES.iter().map(|(d, _)| (0..60).filter(|m| expected_patient(d, *m).is_none()).count()).sum();
    assert_eq!(count(&session, "SELECT count(*) FROM vitals WHERE patient_id IS NULL").await, nobody as i64);
    assert_eq!(nobody, 5 + 20 + 10 + 10);

    service.shutdown().await.unwrap();

    // The CLI, a separate process reading the files and the association log, agrees.
    let out = std::process::Command::new(wardstream_bin())
        .args(["query", "--data", data.path().to_str().unwrap(), "--format", "csv"])
        .arg("SELECT patient_id, count(*) AS n FROM vitals GROUP BY patient_id ORDER BY patient_id")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let csv = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    let want: Vec<String> = ["P1", "P2", "P3"].iter().map(|p| format!("{p},{}", expected(p).len())).collect();
    assert_eq!(lines[1..4], want.iter().map(String::as_str).collect::<Vec<_>>()[..], "{csv}");
    assert_eq!(lines[4], format!(",{nobody}"), "{csv}");
}
