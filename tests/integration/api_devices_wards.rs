//! `GET /api/v1/devices` and `GET /api/v1/wards/{ward}` after a small story: `mon-d1` placed at
//! `WD^1^A` where patient `PD1` is (explicit bed association, encounter `E-D1`), `mon-d2` placed
//! at `WD^1^B` and silent, and `mon-stray`, never registered, sending readings anyway.
//!
//! `mon-d1` sends heart rate and SpO2 at T0, T0+5 s and T0+10 s (the newest sent first, so the ward
//! page's "latest" is by time, not by arrival) and one record of an unknown metric (a dead
//! letter); `mon-stray` sends four heart rates.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::api_common::{associate, place, rfc3339, senml, start, wait_readings};
use crate::support::http;
use crate::support::mosquitto::Mosquitto;
use crate::support::publish_lines;

const SECOND: i64 = 1_000_000;

fn devices(api: SocketAddr) -> Value {
    let r = http::get(api, "/api/v1/devices");
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn devices_and_the_ward_page_show_beds_patients_states_counts_and_latest_vitals() {
    let broker = Mosquitto::start();
    let data = tempfile::tempdir().unwrap();
    let service = start(data.path(), Some(&broker), "ws-api-devices", false).await;
    let api = service.http_address().unwrap();
    let started = chrono::Utc::now().timestamp_micros();
    let from = started - 600 * SECOND;
    place(api, "mon-d1", ("WD", "1", "A"), from);
    place(api, "mon-d2", ("WD", "1", "B"), from);
    let bed = json!({"ward": "WD", "room": "1", "bed": "A"});
    associate(api, &json!({"bed": bed, "patient_id": "PD1", "encounter_id": "E-D1", "start": rfc3339(from)}));

    let t0 = (started - 60 * SECOND) / SECOND * SECOND;
    let mut lines = Vec::new();
    for k in [2, 0, 1] {
        let t = t0 + k * 5 * SECOND;
        lines.push(senml("mon-d1", t, "HR", "/min", 70.0 + k as f64));
        lines.push(senml("mon-d1", t, "SpO2", "%", 97.0 + k as f64));
    }
    lines.push(senml("mon-d1", t0, "NOT_A_METRIC", "/min", 1.0));
    publish_lines(broker.port(), "wardstream/wd/mon-d1/vitals", "pub-d1", &lines);
    let stray: Vec<String> =
        (0..4).map(|k| senml("mon-stray", t0 + k * SECOND, "HR", "/min", 80.0 + k as f64)).collect();
    publish_lines(broker.port(), "wardstream/wd/mon-stray/vitals", "pub-stray", &stray);
    wait_readings(&service, 10).await;
    // The dead letter is counted when its batch is written.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut body = devices(api);
    while body["devices"][0]["dead_letters"] != 1 {
        assert!(Instant::now() < deadline, "dead letter not counted: {body}");
        tokio::time::sleep(Duration::from_millis(50)).await;
        body = devices(api);
    }
    let answered = chrono::Utc::now().timestamp_micros();

    let mut list = body["devices"].as_array().unwrap().clone();
    for d in &mut list {
        let d = d.as_object_mut().unwrap();
        // The driver's state (its counters and times) is checked in `driver_state.rs`.
        let driver = d.remove("driver").unwrap();
        assert_eq!(driver.get("kind").and_then(Value::as_str), (d["state"] != "never_seen").then_some("mqtt"));
        let (first, last) = (d.remove("first_seen").unwrap(), d.remove("last_seen").unwrap());
        if d["state"] == "never_seen" {
            assert_eq!((first, last), (Value::Null, Value::Null));
            continue;
        }
        let micros = |v: &Value| chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap().timestamp_micros();
        let (first, last) = (micros(&first), micros(&last));
        assert!(started <= first && first <= last && last <= answered, "{d:?}");
    }
    let device =
        |id: &str, registered: bool, bed: Option<&str>, patient: Option<&str>, state: &str, counts: [u64; 3]| {
            json!({"device_id": id, "registered": registered, "ward": bed.map(|_| "WD"),
               "bed": bed.map(|b| format!("WD^1^{b}")), "patient_id": patient, "conflict": false, "state": state,
               "source": (state != "never_seen").then_some("mqtt"), "readings": counts[0],
               "unassociated_readings": counts[1], "dead_letters": counts[2]})
        };
    assert_eq!(
        list,
        [
            device("mon-d1", true, Some("A"), Some("PD1"), "online", [6, 0, 1]),
            device("mon-d2", true, Some("B"), None, "never_seen", [0, 0, 0]),
            device("mon-stray", false, None, None, "online", [4, 4, 0]),
        ]
    );

    let r = http::get(api, "/api/v1/wards/WD");
    assert_eq!(r.status, 200, "{}", r.body);
    let ward = r.json();
    assert_eq!(ward["ward"], "WD");
    let newest = rfc3339(t0 + 10 * SECOND);
    let beds = json!([
        {"bed": "WD^1^A", "room": "1", "bed_label": "A", "patient_id": "PD1", "encounter_id": "E-D1",
         "conflict_patients": [], "devices": [{"device_id": "mon-d1", "latest": [
            {"metric": "heart_rate", "value": 72.0, "unit": "/min", "time": newest, "status": "valid"},
            {"metric": "spo2", "value": 99.0, "unit": "%", "time": newest, "status": "valid"}]}]},
        {"bed": "WD^1^B", "room": "1", "bed_label": "B", "patient_id": null, "encounter_id": null,
         "conflict_patients": [], "devices": [{"device_id": "mon-d2", "latest": []}]}
    ]);
    assert_eq!(ward["beds"], beds, "{ward}");

    let r = http::get(api, "/api/v1/wards/NO-SUCH-WARD");
    assert_eq!((r.status, &r.json()["beds"]), (200, &json!([])), "{}", r.body);
    service.shutdown().await.unwrap();
}
