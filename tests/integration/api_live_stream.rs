//! `GET /api/v1/patients/{id}/live` over a real socket: two patients, each explicitly associated
//! with a monitor; each patient's stream carries exactly their monitor's readings (values, times,
//! patient), and nothing of the other monitor — whose readings are written first, so
//! any leak would arrive before the patient's own.

use std::net::TcpStream;

use serde_json::{Value, json};

use crate::api_common::{associate, rfc3339, senml, start, wait_readings};
use crate::support::http::{open_stream, read_events};
use crate::support::mosquitto::Mosquitto;
use crate::support::publish_lines;

const SECOND: i64 = 1_000_000;

fn publish(broker: &Mosquitto, device: &str, t0: i64, values: std::ops::Range<i64>) {
    let lines: Vec<String> = values.map(|v| senml(device, t0 + (v % 100) * SECOND, "HR", "/min", v as f64)).collect();
    publish_lines(broker.port(), &format!("wardstream/icu/{device}/vitals"), &format!("pub-{device}"), &lines);
}

/// Reads `values.len()` observation events and checks each is `device`'s reading of that value.
fn expect(stream: &mut TcpStream, patient: &str, device: &str, t0: i64, values: std::ops::Range<i64>) {
    let events = read_events(stream, "observation", (values.end - values.start) as usize);
    let want: Vec<Value> = values
        .map(|v| {
            let t = rfc3339(t0 + (v % 100) * SECOND);
            json!({"patient_id": patient, "device_id": device, "metric": "heart_rate", "value": v as f64,
                   "unit": "/min", "time": t, "device_time": t, "status": "valid", "flags": [], "source": "mqtt",
                   "encounter_id": format!("V-{patient}"), "ward": null, "bed": null, "mdc_code": 147842,
                   "loinc": "8867-4"})
        })
        .collect();
    // With several normaliser workers, one device's readings may be attached out of order:
    // compare in time order.
    let mut events = events;
    events.sort_by(|a, b| a["time"].as_str().cmp(&b["time"].as_str()));
    let got: Vec<Value> = events
        .into_iter()
        .map(|mut e| {
            let received = e.as_object_mut().unwrap().remove("received_at").unwrap();
            assert!(received.as_str().unwrap().ends_with('Z'), "{received}");
            e
        })
        .collect();
    assert_eq!(got, want, "stream of {patient}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_live_stream_carries_exactly_its_patients_readings() {
    let broker = Mosquitto::start();
    let data = tempfile::tempdir().unwrap();
    let service = start(data.path(), Some(&broker), "ws-api-live", false).await;
    let api = service.http_address().unwrap();
    let now = chrono::Utc::now().timestamp_micros();
    for (device, patient) in [("mon-l1", "PL1"), ("mon-l2", "PL2")] {
        associate(
            api,
            &json!({"device_id": device, "patient_id": patient, "encounter_id": format!("V-{patient}"),
                    "start": rfc3339(now - 600 * SECOND)}),
        );
    }
    let mut pl1 = open_stream(api, "/api/v1/patients/PL1/live");
    let mut pl2 = open_stream(api, "/api/v1/patients/PL2/live");
    // Readings in the last minute; the value's last two digits are the second after T0.
    let t0 = (now - 60 * SECOND) / SECOND * SECOND;

    publish(&broker, "mon-l2", t0, 200..205);
    wait_readings(&service, 5).await;
    publish(&broker, "mon-l1", t0, 100..105);
    wait_readings(&service, 10).await;
    expect(&mut pl1, "PL1", "mon-l1", t0, 100..105);
    expect(&mut pl2, "PL2", "mon-l2", t0, 200..205);

    // More of the other monitor, then one of PL1's: PL1's next event is that one.
    publish(&broker, "mon-l2", t0, 205..208);
    wait_readings(&service, 13).await;
    publish(&broker, "mon-l1", t0, 110..111);
    wait_readings(&service, 14).await;
    expect(&mut pl1, "PL1", "mon-l1", t0, 110..111);
    expect(&mut pl2, "PL2", "mon-l2", t0, 205..208);

    // A patient nobody is associated with gets nothing but keep-alives: its stream stays open
    // and silent while both monitors send (checked by reading with a short timeout).
    let mut nobody = open_stream(api, "/api/v1/patients/NOBODY/live");
    publish(&broker, "mon-l1", t0, 120..121);
    publish(&broker, "mon-l2", t0, 220..221);
    wait_readings(&service, 16).await;
    expect(&mut pl1, "PL1", "mon-l1", t0, 120..121);
    nobody.set_read_timeout(Some(std::time::Duration::from_millis(500))).unwrap();
    let mut buffer = [0u8; 256];
    let silent = match std::io::Read::read(&mut nobody, &mut buffer) {
        Err(e) => matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
        Ok(n) => panic!("unexpected bytes on another patient's stream: {:?}", String::from_utf8_lossy(&buffer[..n])),
    };
    assert!(silent);
    drop((pl1, pl2, nobody));
    service.shutdown().await.unwrap();
}
